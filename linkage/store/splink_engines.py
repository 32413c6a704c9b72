"""Splink beside each engine's store, side by side: the `SplinkEngine` of linkage.store.engine.

- `DuckDBSplink`: each Linker in a private in-memory DuckDB database (`splink_linker`) with
  most of the run's memory limit, lent by the store while the Linker is open
  (linkage.store.resources), and its own spill folder; its inputs stream in from the store and
  its results stream back into temporary store tables, Arrow batches at a time, so neither
  persons nor pairs are ever whole in Python (a database spills, an Arrow table cannot).
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

from linkage.errors import StoreError
from linkage.store.connection import connect
from linkage.store.engine import Step
from linkage.store.resources import SCORING_SHARE, EngineLimits, engine_limits

if TYPE_CHECKING:
    from splink import DuckDBAPI, Linker, SettingsCreator

    from linkage.store.core import DuckDBStore
    from linkage.store.spark import SparkStore

# The name of a Linker's input table (the active person records).
PERSON_INPUT = "person_input"
# Rows per Arrow batch when rows move between the store and Splink's database.
BATCH_ROWS = 100_000


@contextmanager
def splink_database(limits: EngineLimits | None = None) -> Iterator[duckdb.DuckDBPyConnection]:
    """An in-memory DuckDB database for Splink under `limits` (default: the defaults),
    spilling into a folder of its own; closed, and its folder removed, on exit."""
    limits = limits or engine_limits()
    spill = limits.spill_folder()
    try:
        connection = connect(config=limits.duckdb_config(spill))
    except BaseException:
        limits.remove_spill_folder(spill, whole=True)
        raise
    try:
        yield connection
    finally:
        connection.close()
        limits.remove_spill_folder(spill, whole=True)


@contextmanager
def splink_linker(persons: pa.Table | str, settings: SettingsCreator | dict,
                  connection: duckdb.DuckDBPyConnection | None = None) -> Iterator[Linker]:
    """A Linker over `persons` (an Arrow table, or the name of a table in `connection`);
    without `connection`, in a database of its own, closed on exit (no leaked spill files)."""
    from splink import DuckDBAPI, Linker

    if connection is None:
        with splink_database() as own:
            with splink_linker(persons, settings, own) as linker:
                yield linker
        return
    db_api = DuckDBAPI(connection)
    frame = db_api.register(persons, dataset_display_name=PERSON_INPUT)
    yield Linker(frame, settings, log_level=None)


def copy_rows(reader: pa.RecordBatchReader, connection: duckdb.DuckDBPyConnection,
              table: str, *, temporary: bool = False, append: bool = False) -> None:
    """Stream `reader`'s batches into `table` (a name from code) of `connection`: created,
    or with `append` added to."""
    connection.register("incoming_rows", reader)
    try:
        if append:
            connection.execute(f"INSERT INTO {table} SELECT * FROM incoming_rows")
        else:
            connection.execute(f"CREATE OR REPLACE {'TEMP ' if temporary else ''}TABLE {table} "
                               "AS SELECT * FROM incoming_rows")
    finally:
        connection.unregister("incoming_rows")


class DuckDBSplink:
    """Splink beside a DuckDB store."""

    def __init__(self, store: DuckDBStore) -> None:
        self.store = store
        self.api: DuckDBAPI | None = None
        self._connection: duckdb.DuckDBPyConnection | None = None
        self._inputs = 0
        self._physical: dict[str, str] = {}  # registered name -> table in Splink's database

    @contextmanager
    def linker(self, settings: SettingsCreator | dict, sql: str) -> Iterator[Linker]:
        """A Linker in its own database, holding SCORING_SHARE of the run's memory limit
        (lent by the store) while it is open."""
        limits = self.store.limits.share(SCORING_SHARE)
        with self.store.lending_memory(limits.memory_limit_bytes), \
                splink_database(limits) as connection:
            self._connection = connection
            try:
                self._copy_in(sql, "person_rows")
                with splink_linker("person_rows", settings, connection) as linker:
                    self.api = linker._db_api
                    yield linker
            finally:
                self._connection = None

    def register(self, sql: str, name: str) -> Any:
        self._inputs += 1
        physical = f"input_rows_{self._inputs}"
        self._copy_in(sql, physical)
        self._physical[name] = physical
        return self.api.register(physical, dataset_display_name=name)

    def register_rest(self, sql: str, name: str, excluded: str) -> Any:
        """The linker's input rows but those registered as `excluded` (which `sql` selects
        from the store): a view over the rows already copied in, not a second copy of a
        million of them."""
        self._inputs += 1
        physical = f"input_rows_{self._inputs}"
        with self.store._timed("link", Step(f"input_{physical}", "")):
            self._connection.execute(f"""
CREATE OR REPLACE VIEW {physical} AS SELECT * FROM person_rows
WHERE record_key NOT IN (SELECT record_key FROM {self._physical[excluded]})""")
        self._physical[name] = physical
        return self.api.register(physical, dataset_display_name=name)

    def _copy_in(self, sql: str, table: str) -> None:
        """The rows of the store query `sql` as `table` of Splink's database."""
        with self.store._timed("link", Step(f"input_{table}", sql)):
            reader = self.store.con.sql(sql).to_arrow_reader(BATCH_ROWS)
            copy_rows(reader, self._connection, table)

    def count(self, frame: Any) -> int:
        return frame.as_duckdbpyrelation().aggregate("count(*)").fetchall()[0][0]

    def count_by(self, frame: Any, column: str) -> dict[str, int]:
        rows = frame.as_duckdbpyrelation().aggregate(f"{column}, count(*)", column).fetchall()
        return {str(key): count for key, count in rows}

    def keep(self, name: str, frames: Sequence[Any], columns: str) -> int:
        """Streamed into a temporary store table, which spills like any other."""
        for index, frame in enumerate(frames):
            with self.store._timed("link", Step(f"keep_{name}", columns)):
                reader = frame.as_duckdbpyrelation().select(columns).to_arrow_reader(BATCH_ROWS)
                copy_rows(reader, self.store.con, name, temporary=True, append=index > 0)
        return self.store.scalar("link", f"count_{name}", f"SELECT count(*) FROM {name}")

    def release(self, name: str) -> None:
        try:
            self.store.run_step("link", Step(f"drop_{name}", f"DROP TABLE IF EXISTS {name}"))
        except StoreError as error:
            if not isinstance(error.__cause__, duckdb.TransactionException):
                raise
            # a failed step aborted the run's transaction: its error is the one to see


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

    def register_rest(self, sql: str, name: str, excluded: str) -> Any:
        """The rows `sql` selects: the linker's input rows but those registered as
        `excluded`."""
        return self.register(sql, name)

    def count(self, frame: Any) -> int:
        return frame.as_spark_dataframe().count()

    def count_by(self, frame: Any, column: str) -> dict[str, int]:
        rows = frame.as_spark_dataframe().groupBy(column).count().collect()
        return {str(row[0]): int(row[1]) for row in rows}

    def keep(self, name: str, frames: Sequence[Any], columns: str) -> int:
        """Materialised while Splink's tables still exist."""
        union = " UNION ALL ".join(f"SELECT {columns} FROM {frame.physical_name}"
                                   for frame in frames)
        self.store.run_step("link", Step(f"keep_{name}",
                                         f"CREATE OR REPLACE TEMP TABLE {name} AS {union}"))
        return self.store.spark.table(name).count()

    def release(self, name: str) -> None:
        self.store.unregister(name)
