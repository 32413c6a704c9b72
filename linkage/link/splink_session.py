"""The model file and the store's active person records, as Splink reads them.

How a Linker runs beside each engine's store is linkage.store.splink_engines
(`store.splink_engine()`); `splink_linker` and PERSON_INPUT are re-exported from there.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pyarrow as pa

from linkage.errors import ModelError
from linkage.link.calibration import CALIBRATION_KEY, Calibration
from linkage.link.calibration import from_model as calibration_from_model
from linkage.link.model import MODEL_COLUMNS
from linkage.link.model_check import check_model
from linkage.store import Step, Store
from linkage.store.splink_engines import PERSON_INPUT, splink_linker

__all__ = ["PERSON_INPUT", "active_persons", "load_calibration", "load_model",
           "model_fingerprint", "persons_sql", "splink_linker", "tf_columns"]


def persons_sql(where: str = "") -> str:
    """The model's columns of active person records (`where` adds a condition)."""
    return (f"SELECT {', '.join(MODEL_COLUMNS)} FROM person WHERE NOT is_deleted {where} "
            "ORDER BY record_key")


def active_persons(store: Store, stage: str) -> pa.Table:
    store.run_step(stage, Step("count_active", "SELECT count(*) FROM person WHERE NOT is_deleted"))
    return store.run_arrow(stage, Step("active_persons", persons_sql()))


def load_model(path: Path) -> dict[str, Any]:
    """Read a Splink model file, with a clear error when it is missing or not a model that
    scores (linkage.link.model_check). The settings Splink reads, without linkage's
    calibration (`load_calibration`)."""
    model = _read_model(path)
    model.pop(CALIBRATION_KEY, None)
    try:
        check_model(model)
    except ModelError as error:
        raise ModelError(f"{path}: {error}") from None
    return model


def load_calibration(path: Path) -> Calibration | None:
    """The calibration of match probabilities a model file carries, if any."""
    try:
        return calibration_from_model(_read_model(path))
    except ModelError as error:
        raise ModelError(f"{path}: {error}") from None


def _read_model(path: Path) -> dict[str, Any]:
    path = Path(path)
    if path.is_dir():
        raise ModelError(f"{path}: is a folder; the model is a JSON file (models/NAME.json)")
    try:
        model = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ModelError(f"{path}: model file not found (train one with `linkage train`)") from None
    except (OSError, UnicodeDecodeError, ValueError, RecursionError) as error:
        raise ModelError(f"{path}: not a readable Splink model ({error.__class__.__name__})") from None
    if not isinstance(model, dict) or "comparisons" not in model:
        raise ModelError(f"{path}: not a Splink model (no 'comparisons' key)")
    return model


def tf_columns(model: dict[str, Any]) -> list[str]:
    """The columns the model adjusts by term frequency, in the order it names them."""
    columns: list[str] = []
    for comparison in model["comparisons"]:
        for level in comparison["comparison_levels"]:
            column = level.get("tf_adjustment_column")
            if column and column not in columns:
                columns.append(column)
    return columns


def model_fingerprint(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16]
