"""A Splink linker over the store's active person records, in its own DuckDB connection.

Splink materialises many intermediate tables; keeping them in a private in-memory
connection keeps them out of the store and lets the store's transaction stay small.
One DuckDBAPI per Linker: Splink caches term-frequency tables on the API object.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pyarrow as pa
from splink import DuckDBAPI, Linker, SettingsCreator

from linkage.errors import ModelError
from linkage.link.model import MODEL_COLUMNS
from linkage.store import connect, Step, Store

PERSON_INPUT = "person_input"


def active_persons(store: Store, stage: str) -> pa.Table:
    columns = ", ".join(MODEL_COLUMNS)
    store.run_step(stage, Step("count_active", "SELECT count(*) FROM person WHERE NOT is_deleted"))
    return store.con.sql(
        f"SELECT {columns} FROM person WHERE NOT is_deleted ORDER BY record_key"
    ).to_arrow_table()


def load_model(path: Path) -> dict[str, Any]:
    """Read a Splink model file, with a clear error when it is missing or not a model."""
    try:
        model = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ModelError(f"{path}: model file not found (train one with `linkage train`)") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
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


@contextmanager
def splink_linker(persons: pa.Table, settings: SettingsCreator | dict) -> Iterator[Linker]:
    """A Linker over `persons`; its connection is closed on exit (no leaked spill files)."""
    connection = connect()
    try:
        db_api = DuckDBAPI(connection)
        frame = db_api.register(persons, dataset_display_name=PERSON_INPUT)
        yield Linker(frame, settings, log_level=None)
    finally:
        connection.close()
