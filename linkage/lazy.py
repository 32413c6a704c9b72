"""Packages whose names load on first use (PEP 562): a stage's package can name what it
offers without importing the heavy modules behind every name."""

from __future__ import annotations

import sys
from collections.abc import Callable
from importlib import import_module


def lazy_names(package: str, homes: dict[str, str]) -> Callable[[str], object]:
    """The package's `__getattr__`: `homes` maps each name to the submodule defining it;
    the first use imports that module and binds the name on the package."""
    def __getattr__(name: str) -> object:
        if name not in homes:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(import_module(f"{package}.{homes[name]}"), name)
        setattr(sys.modules[package], name, value)
        return value
    return __getattr__
