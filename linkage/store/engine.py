"""The store's written interface: everything a stage may ask of the engine under it.

Stages take a `Store` and use these methods only; none reaches a raw connection. Two
engines implement it: `linkage.store.core.DuckDBStore` (one DuckDB file, the default) and
`linkage.store.spark.SparkStore` (Parquet snapshots on a SparkSession). SQL is written once
in DuckDB's dialect; the Spark store translates it (linkage.store.spark_sql). Splink runs
beside either through the engine's `SplinkEngine` (linkage.store.splink_engines).

Every statement runs as a named `Step` of a stage: the engine logs its timing, reports it
as progress, and turns a database failure into a StoreError naming the stage and the step,
its message scrubbed of quoted values (`linkage.errors.database_message`).
"""

from __future__ import annotations

import logging
import time
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol

import pyarrow as pa

from linkage import progress
from linkage.errors import StoreError, database_message

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Step:
    """A named SQL step: what it builds, the SQL, and its bound parameters."""

    name: str
    sql: str
    params: Sequence[Any] | Mapping[str, Any] | None = None


class Store(ABC):
    """An open store on one engine. Use `linkage.store.open_store` (DuckDB) or
    `SparkStore.open` to get one; close it (or use `with`) when done."""

    path: str
    # The engine's own exception types, which `_timed` turns into StoreErrors.
    engine_errors: tuple[type[BaseException], ...] = ()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- statements ----------------------------------------------------------------------
    @abstractmethod
    def run_step(self, stage: str, step: Step) -> list[tuple]:
        """Run one step (one or more statements) and return the last one's rows."""

    @abstractmethod
    def run_arrow(self, stage: str, step: Step) -> pa.Table:
        """Run one query and return its rows as an Arrow table, typed (lists, dates) as the
        store holds them."""

    @abstractmethod
    def run_frame(self, stage: str, step: Step) -> pd.DataFrame:
        """Run one query and return its rows as a pandas frame (an analyst's result)."""

    @abstractmethod
    def run_records(self, stage: str, step: Step) -> list[dict[str, Any]]:
        """Run one query and return its rows as dicts by column name."""

    @abstractmethod
    def write_file(self, stage: str, step: Step, path: Path,
                   kind: Literal["csv", "parquet"]) -> None:
        """Write the rows of one query to the file `path` (CSV with a header, or Parquet)."""

    def run_batches(self, stage: str, step: Step, rows: int = 100_000) -> Iterator[list[tuple]]:
        """Run one query and yield its rows in order, at most `rows` at a time, so a large
        result is never whole in Python. Consume it fully before the next statement. This
        default yields them all at once; an engine that can stream overrides it."""
        yield self.run_step(stage, step)

    def run_steps(self, stage: str, steps: Sequence[Step]) -> None:
        for step in steps:
            self.run_step(stage, step)

    def scalar(self, stage: str, name: str, sql: str, params: Any = None) -> Any:
        rows = self.run_step(stage, Step(name, sql, params))
        return rows[0][0] if rows else None

    @abstractmethod
    def columns(self, table: str) -> list[str]:
        """The column names of a table, in order."""

    # -- handing data to SQL ----------------------------------------------------------------
    @abstractmethod
    def register(self, name: str, table: pa.Table) -> None:
        """Make the Arrow `table` readable in SQL as `name` (until `unregister`)."""

    @abstractmethod
    def unregister(self, name: str) -> None:
        """Forget a table given to `register`."""

    @contextmanager
    def unoptimized(self) -> Iterator[None]:
        """Statements inside the block are planned without the engine's optimizer, where it
        has one to turn off (a query of one row through many rules)."""
        yield

    @contextmanager
    def registered(self, name: str, table: pa.Table) -> Iterator[None]:
        """The Arrow `table` readable in SQL as `name` inside the block only."""
        self.register(name, table)
        try:
            yield
        finally:
            self.unregister(name)

    @abstractmethod
    def reading_files(self, table: str, create_sql: str) -> AbstractContextManager[Store]:
        """Where source files are read into `table` (created by `create_sql`): a store on
        which DuckDB's file readers run, whose `table` ends up in this store."""

    # -- the store's lifetime -----------------------------------------------------------------
    @abstractmethod
    def transaction(self, commit: bool = True) -> AbstractContextManager[None]:
        """All or nothing: a failure (or a killed process) leaves the store as it was. With
        `commit=False` (a dry run) the work is rolled back even when it succeeds."""

    @abstractmethod
    def close(self) -> None: ...

    @abstractmethod
    def splink_engine(self) -> SplinkEngine:
        """How Splink runs beside this store."""

    @contextmanager
    def _timed(self, stage: str, step: Step) -> Iterator[None]:
        started = time.perf_counter()
        try:
            with progress.step(step.name):
                yield
        except self.engine_errors as error:
            raise StoreError(
                f"stage '{stage}', step '{step.name}' failed: {database_message(error)}",
                detail=database_message(error),
            ) from error
        log.debug("%s.%s took %.3fs", stage, step.name, time.perf_counter() - started)


class SplinkEngine(Protocol):
    """Splink beside a store: a Linker over the rows of a query, further Splink tables from
    queries, and Splink results handed back to the store as tables. One per engine, in
    linkage.store.splink_engines."""

    def linker(self, settings: Any, sql: str) -> AbstractContextManager[Any]:
        """A Splink Linker over the rows of `sql` (the store's dialect)."""

    def register(self, sql: str, name: str) -> Any:
        """The rows of `sql` as a Splink table named `name`, beside the Linker's input."""

    def register_rest(self, sql: str, name: str, excluded: str) -> Any:
        """The Linker's input rows but those of the table registered as `excluded` (the
        rows `sql` selects), as a Splink table named `name`."""

    def count(self, frame: Any) -> int:
        """The rows of a Splink result."""

    def count_by(self, frame: Any, column: str) -> dict[str, int]:
        """The rows of a Splink result by the value of its `column` (a name from code)."""

    def keep(self, name: str, frames: Sequence[Any], columns: str) -> int:
        """Splink results (their `columns`, a select list) as store table `name`, until
        `release`; returns its rows."""

    def release(self, name: str) -> None:
        """Forget a table made by `keep`."""
