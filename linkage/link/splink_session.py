"""A Splink linker over the store's active person records, in its own DuckDB connection.

Splink materialises many intermediate tables; keeping them in a private in-memory
connection keeps them out of the store and lets the store's transaction stay small.
One DuckDBAPI per Linker: Splink caches term-frequency tables on the API object.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
from splink import DuckDBAPI, Linker, SettingsCreator

from linkage.errors import ModelError
from linkage.link.calibration import CALIBRATION_KEY, Calibration
from linkage.link.calibration import from_model as calibration_from_model
from linkage.link.model import MODEL_COLUMNS
from linkage.link.model_check import check_model
from linkage.store import connect, Step, Store

PERSON_INPUT = "person_input"


def persons_sql(where: str = "") -> str:
    """The model's columns of active person records (`where` adds a condition)."""
    return (f"SELECT {', '.join(MODEL_COLUMNS)} FROM person WHERE NOT is_deleted {where} "
            "ORDER BY record_key")


def active_persons(store: Store, stage: str) -> pa.Table:
    store.run_step(stage, Step("count_active", "SELECT count(*) FROM person WHERE NOT is_deleted"))
    return store.con.sql(persons_sql()).to_arrow_table()


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


class DuckDBSplink:
    """Splink beside a DuckDB store: each Linker in its own connection (splink_linker), its
    inputs read from the store as Arrow, its results handed back to the store as Arrow.
    `linkage.store.spark.SparkSplink` is the same for a Spark store."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.api: DuckDBAPI | None = None
        self._kept: dict[str, pa.Table] = {}

    @contextmanager
    def linker(self, settings: SettingsCreator | dict, sql: str) -> Iterator[Linker]:
        with splink_linker(self.store.con.sql(sql).to_arrow_table(), settings) as linker:
            self.api = linker._db_api
            yield linker

    def register(self, sql: str, name: str) -> Any:
        """The rows of `sql` as a Splink table named `name`, beside the Linker's input."""
        return self.api.register(self.store.con.sql(sql).to_arrow_table(),
                                 dataset_display_name=name)

    def count(self, frame: Any) -> int:
        return frame.as_duckdbpyrelation().aggregate("count(*)").fetchall()[0][0]

    def keep(self, name: str, frames: Sequence[Any], columns: str) -> int:
        """Splink results (their `columns`, a select list) as table `name` of the store,
        until `release`."""
        table = pa.concat_tables([frame.as_duckdbpyrelation().select(columns).to_arrow_table()
                                  for frame in frames])
        self._kept[name] = table
        self.store.con.register(name, table)
        return table.num_rows

    def release(self, name: str) -> None:
        try:
            self.store.con.unregister(name)
        except duckdb.TransactionException:
            pass  # a failed step aborted the run's transaction: its error is the one to see

        self._kept.pop(name, None)
