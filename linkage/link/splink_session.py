"""The model file and the store's active person records, as Splink reads them.

How a Linker runs beside each engine's store is linkage.store.splink_engines
(`store.splink_engine()`); `splink_linker` and PERSON_INPUT are re-exported from there.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa

from linkage.errors import ModelError
from linkage.link.calibration import CALIBRATION_KEY, Calibration
from linkage.link.calibration import from_model as calibration_from_model
from linkage.link.model_file import MODEL_COLUMNS, model_fingerprint, tf_columns
from linkage.link.model_file import read_model as _read_model
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
