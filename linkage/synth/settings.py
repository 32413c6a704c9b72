"""The generator's settings file: noise rates, coverage and delivery change rates.

`noise_defaults.yaml` beside this module holds every default with the reason for it. A
profile (`profiles/NAME.yaml`) has the same sections and is laid over the defaults; a user
file with the same sections is laid over both and overrides the keys it names.

>>> config = load_synth_config(None)
>>> config.noise["hmis"]["partial_ssn"], config.coverage["second_calsaws_case"]
(0.12, 0.1)
>>> import tempfile, pathlib
>>> path = pathlib.Path(tempfile.mkdtemp()) / "harder.yaml"
>>> _ = path.write_text("noise:\\n  name_typo: {hmis: 0.2}\\ndeliveries: {deleted: 0.01}\\n")
>>> config = load_synth_config(path)
>>> config.noise["hmis"]["name_typo"], config.noise["calsaws"]["name_typo"]
(0.2, 0.03)
>>> config.deliveries["deleted"]
0.01
>>> drift = load_synth_config(None, profile="drift")
>>> drift.profile, drift.noise["ehr_csv"]["impossible_dob"] > 0
('drift', True)
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from linkage.config import load_yaml

DEFAULTS_PATH = Path(__file__).with_name("noise_defaults.yaml")
PROFILES_DIR = Path(__file__).with_name("profiles")
DEFAULT_PROFILE = "default"  # noise_defaults.yaml alone
SECTIONS = ("noise", "coverage", "deliveries")


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        data = load_yaml(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as error:
        raise ValueError(f"{path}: cannot read the synth settings ({error})") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a mapping with sections {', '.join(SECTIONS)}")
    return data


DEFAULTS: dict[str, Any] = _read_yaml(DEFAULTS_PATH)


@dataclass(frozen=True)
class SynthConfig:
    """Resolved settings: noise as source system -> noise type -> rate; the others flat."""

    noise: dict[str, dict[str, float]]
    coverage: dict[str, float]
    deliveries: dict[str, float]
    profile: str = DEFAULT_PROFILE


def _rate(where: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
        raise ValueError(f"{where} must be a number between 0 and 1, got {value!r}")
    return float(value)


def _layer(where: str, base: dict[str, Any], override: Mapping[str, Any]) -> None:
    if not isinstance(override, Mapping):
        raise ValueError(f"{where} must be a mapping")
    for key, value in override.items():
        if key not in base:
            raise ValueError(f"unknown key {where}.{key}; expected one of {', '.join(base)}")
        if isinstance(base[key], dict):
            _layer(f"{where}.{key}", base[key], value)
        else:
            base[key] = _rate(f"{where}.{key}", value)


def profile_names() -> tuple[str, ...]:
    """The profiles `--profile` accepts: `default` and each profiles/NAME.yaml."""
    return (DEFAULT_PROFILE, *sorted(path.stem for path in PROFILES_DIR.glob("*.yaml")))


def profile_overrides(name: str) -> dict[str, Any]:
    """The overlay of profile `name` (empty for the default profile)."""
    if name == DEFAULT_PROFILE:
        return {}
    if name not in profile_names():
        raise ValueError(f"unknown synth profile {name!r}; expected one of "
                         f"{', '.join(profile_names())}")
    return _read_yaml(PROFILES_DIR / f"{name}.yaml")


def _merge(origin: str, merged: dict[str, Any], overrides: Mapping[str, Any]) -> None:
    for section, values in overrides.items():
        if section not in SECTIONS:
            raise ValueError(f"{origin}: unknown section {section!r}; expected one of "
                             f"{', '.join(SECTIONS)}")
        _layer(f"{origin}: {section}", merged[section], values or {})


def resolve(overrides: Mapping[str, Any] | None = None, origin: str = "settings",
            profile: str = DEFAULT_PROFILE) -> SynthConfig:
    """The defaults, then profile `profile`, then `overrides` (same shape as the YAML file)."""
    merged = copy.deepcopy(DEFAULTS)
    _merge(str(PROFILES_DIR / f"{profile}.yaml"), merged, profile_overrides(profile))
    _merge(origin, merged, overrides or {})
    by_source: dict[str, dict[str, float]] = {}
    for noise_name, rates in merged["noise"].items():
        for source, rate in rates.items():
            by_source.setdefault(source, {})[noise_name] = _rate(f"noise.{noise_name}", rate)
    return SynthConfig(by_source, merged["coverage"], merged["deliveries"], profile)


def load_synth_config(path: str | Path | None, profile: str = DEFAULT_PROFILE) -> SynthConfig:
    """Defaults, then the profile, then the YAML file at `path` (None: no user file)."""
    if path is None:
        return resolve(profile=profile)
    path = Path(path)
    return resolve(_read_yaml(path), origin=str(path), profile=profile)
