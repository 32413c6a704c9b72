"""Splink beside each engine's store, side by side: the `SplinkEngine` of linkage.store.engine.

- `DuckDBSplink`: each Linker in a private in-memory DuckDB connection (`splink_linker`), its
  inputs read from the store as Arrow, its results handed back to the store as Arrow.
  Splink materialises many intermediate tables; keeping them out of the store keeps the
  store's transaction small. One DuckDBAPI per Linker: Splink caches term-frequency tables
  on the API object.
- `SparkSplink`: Splink's SparkAPI on the store's SparkSession; it reads the store's tables
  as DataFrames, and its results become store tables without leaving Spark.

Stages get theirs from `store.splink_engine()` and never name an engine.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import duckdb
import pyarrow as pa

from linkage.store.connection import connect
from linkage.store.engine import Step

if TYPE_CHECKING:
    from splink import DuckDBAPI, Linker, SettingsCreator

    from linkage.store.core import DuckDBStore
    from linkage.store.spark import SparkStore

# The name of a Linker's input table (the active person records).
PERSON_INPUT = "person_input"


@contextmanager
def splink_linker(persons: pa.Table, settings: SettingsCreator | dict) -> Iterator[Linker]:
    """A Linker over `persons`; its connection is closed on exit (no leaked spill files)."""
    from splink import DuckDBAPI, Linker

    connection = connect()
    try:
        db_api = DuckDBAPI(connection)
        frame = db_api.register(persons, dataset_display_name=PERSON_INPUT)
        yield Linker(frame, settings, log_level=None)
    finally:
        connection.close()


class DuckDBSplink:
    """Splink beside a DuckDB store."""

    def __init__(self, store: DuckDBStore) -> None:
        self.store = store
        self.api: DuckDBAPI | None = None
        self._kept: dict[str, pa.Table] = {}

    @contextmanager
    def linker(self, settings: SettingsCreator | dict, sql: str) -> Iterator[Linker]:
        persons = self.store.run_arrow("link", Step("linker_input", sql))
        with splink_linker(persons, settings) as linker:
            self.api = linker._db_api
            yield linker

    def register(self, sql: str, name: str) -> Any:
        return self.api.register(self.store.run_arrow("link", Step(f"input_{name}", sql)),
                                 dataset_display_name=name)

    def count(self, frame: Any) -> int:
        return frame.as_duckdbpyrelation().aggregate("count(*)").fetchall()[0][0]

    def keep(self, name: str, frames: Sequence[Any], columns: str) -> int:
        table = pa.concat_tables([frame.as_duckdbpyrelation().select(columns).to_arrow_table()
                                  for frame in frames])
        self._kept[name] = table
        self.store.register(name, table)
        return table.num_rows

    def release(self, name: str) -> None:
        try:
            self.store.unregister(name)
        except duckdb.TransactionException:
            pass  # a failed step aborted the run's transaction: its error is the one to see
        self._kept.pop(name, None)


class SparkSplink:
    """Splink beside a Spark store (needs the spark extra, as the store does)."""

    def __init__(self, store: SparkStore) -> None:
        self.store = store
        self.api = None

    @contextmanager
    def linker(self, settings: dict, sql: str) -> Iterator[Any]:
        from splink import Linker, SparkAPI

        from linkage.store.spark_sql import model_for_spark

        spark = self.store.spark
        spark.catalog.dropTempView(PERSON_INPUT)  # a name left by an earlier job
        self.api = SparkAPI(spark_session=spark,
                            num_partitions_on_repartition=self.store.settings.shuffle_partitions)
        frame = self.api.register(self.store.dataframe(sql), dataset_display_name=PERSON_INPUT)
        try:
            yield Linker(frame, model_for_spark(settings), log_level=None)
        finally:
            spark.catalog.dropTempView(PERSON_INPUT)

    def register(self, sql: str, name: str) -> Any:
        self.store.spark.catalog.dropTempView(name)
        return self.api.register(self.store.dataframe(sql), dataset_display_name=name)

    def count(self, frame: Any) -> int:
        return frame.as_spark_dataframe().count()

    def keep(self, name: str, frames: Sequence[Any], columns: str) -> int:
        """Materialised while Splink's tables still exist."""
        union = " UNION ALL ".join(f"SELECT {columns} FROM {frame.physical_name}"
                                   for frame in frames)
        self.store.run_step("link", Step(f"keep_{name}",
                                         f"CREATE OR REPLACE TEMP TABLE {name} AS {union}"))
        return self.store.spark.table(name).count()

    def release(self, name: str) -> None:
        self.store.unregister(name)
