"""Standardize: landed source records -> the canonical person table (DESIGN §4, §5).

The names below load on first use: person search reads the name and date rules alone,
without the address parser and the landing code the whole table needs.
"""

from __future__ import annotations

from importlib import import_module

_HOMES = {"PERSON_COLUMNS": "person", "install": "lookups", "standardize": "person",
          "value_warnings": "quality", "write_standardized": "export"}
__all__ = sorted(_HOMES)


def __getattr__(name: str):
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(f"{__name__}.{_HOMES[name]}"), name)
    globals()[name] = value
    return value
