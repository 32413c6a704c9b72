"""The store on DuckDB: one file, one place where SQL runs (the `Store` interface of
linkage.store.engine).

Every statement goes through `run_step` (or its siblings), which knows the stage and the
table it builds, logs its timing, and turns a database failure into a StoreError that says
both. Values always travel as bound parameters; identifiers come from code, never from input.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import duckdb
import pyarrow as pa

from linkage.errors import StoreBusyError, StoreError, database_message
from linkage.outputs import (hold_private_umask, make_private_folder, private_umask, reason,
                             release_private_umask)
from linkage.store.connection import connect
from linkage.store.engine import Step, Store
from linkage.store.resources import EngineLimits, engine_limits
from linkage.store.schema import DUCKDB_TABLES, SCHEMA_VERSION, TABLES
from linkage.store.snapshots import Snapshots, is_snapshot_store
from linkage.store.splink_engines import DuckDBSplink

if TYPE_CHECKING:
    import pandas as pd

    from linkage.config import EngineConfig


class DuckDBStore(Store):
    """A store in one DuckDB file (or in memory). Use `open_store` to get one."""

    engine_errors: tuple[type[BaseException], ...] = (duckdb.Error,)

    def __init__(self, connection: duckdb.DuckDBPyConnection, path: str,
                 limits: EngineLimits | None = None, spill: Path | None = None) -> None:
        # The DuckDB connection, for this module, the engine adapters and tests; stages use
        # the Store methods.
        self.con = connection
        self.path = path
        # What this database (and Splink's beside it) may take of the machine, and the
        # folder it spills into (removed on close).
        self.limits = limits or engine_limits(store=None if path == ":memory:" else path)
        self._spill = spill
        # The store's files (its WAL, spill files) come and go while it is open: all of them
        # owner-only, so umask 077 is held until `close`.
        hold_private_umask()
        self._private = True

    def close(self) -> None:
        try:
            self.con.close()
        finally:
            if self._spill is not None:
                self.limits.remove_spill_folder(self._spill, whole=self.path == ":memory:")
                self._spill = None
            if getattr(self, "_private", False):
                self._private = False
                release_private_umask()

    @contextmanager
    def lending_memory(self, lent: int) -> Iterator[None]:
        """The store's memory limit lowered by `lent` bytes inside the block (for another
        database of the run: linkage.store.resources.SCORING_SHARE), its own after. What
        the store cannot hold meanwhile it spills."""
        full = self.limits.memory_limit_bytes
        self.con.execute("SET memory_limit = $limit", {"limit": f"{max(full - lent, 1)}B"})
        try:
            yield
        finally:
            try:
                self.con.execute("SET memory_limit = $limit", {"limit": f"{full}B"})
            except duckdb.Error:
                pass  # a failed step aborted the transaction; the run stops and closes us

    @contextmanager
    def unoptimized(self) -> Iterator[None]:
        """Statements inside the block are planned without DuckDB's optimizer: for a query
        of one row through many rules, where planning is most of the time."""
        self.con.execute("PRAGMA disable_optimizer")
        try:
            yield
        finally:
            self.con.execute("PRAGMA enable_optimizer")

    def run_step(self, stage: str, step: Step) -> list[tuple]:
        """Run one step and return its rows (drained, so the connection is free again)."""
        with self._timed(stage, step):
            return self.con.execute(step.sql, step.params).fetchall()

    def run_batches(self, stage: str, step: Step, rows: int = 100_000) -> Iterator[list[tuple]]:
        with self._timed(stage, step):
            cursor = self.con.execute(step.sql, step.params)
            while batch := cursor.fetchmany(rows):
                yield batch

    def run_arrow(self, stage: str, step: Step) -> pa.Table:
        with self._timed(stage, step):
            return self.con.sql(step.sql, params=step.params).to_arrow_table()

    def run_frame(self, stage: str, step: Step) -> pd.DataFrame:
        with self._timed(stage, step):
            return self.con.sql(step.sql, params=step.params).df()

    def run_records(self, stage: str, step: Step) -> list[dict[str, Any]]:
        with self._timed(stage, step):
            cursor = self.con.execute(step.sql, step.params)
            names = [column[0] for column in cursor.description]
            return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]

    def write_file(self, stage: str, step: Step, path: Path,
                   kind: Literal["csv", "parquet"]) -> None:
        with self._timed(stage, step):
            relation = self.con.sql(step.sql, params=step.params)
            if kind == "csv":
                spreadsheet_safe(relation).write_csv(str(path), header=True)
            else:
                relation.write_parquet(str(path))

    def columns(self, table: str) -> list[str]:
        """The column names of a table, in order."""
        return [row[0] for row in self.run_step("store", Step("columns", """
SELECT column_name FROM information_schema.columns WHERE table_name = $t
ORDER BY ordinal_position""", {"t": table}))]

    def register(self, name: str, table: pa.Table) -> None:
        self.con.register(name, table)

    def unregister(self, name: str) -> None:
        self.con.unregister(name)

    @contextmanager
    def reading_files(self, table: str, create_sql: str) -> Iterator[Store]:
        """On DuckDB, source files are read by the store itself."""
        self.run_step("land", Step(f"create_{table}", create_sql))
        yield self

    def splink_engine(self) -> DuckDBSplink:
        return DuckDBSplink(self)

    @contextmanager
    def transaction(self, commit: bool = True) -> Iterator[None]:
        """All or nothing: a failure (or a killed process) leaves the store as it was.
        With `commit=False` (a dry run) the work is rolled back even when it succeeds."""
        self.con.execute("BEGIN TRANSACTION")
        try:
            yield
        except BaseException:
            self.con.execute("ROLLBACK")
            raise
        try:
            self.con.execute("COMMIT" if commit else "ROLLBACK")
        except self.engine_errors as error:
            # e.g. a read-only folder or a full disk: nothing of the transaction is kept.
            try:
                self.con.execute("ROLLBACK")
            except self.engine_errors:
                pass  # DuckDB has already rolled back a commit that failed
            raise StoreError(f"{self.path}: cannot commit to the store, nothing was changed: "
                             f"{database_message(error)}", detail=database_message(error)) from None


def open_store(path: str | Path, *, create: bool = False, read_only: bool = False,
               migrating: bool = False, engine: EngineConfig | None = None) -> Store:
    """Open (or, with `create`, create) the store file and check its schema version.

    `":memory:"` gives a scratch store that lives as long as the connection (training).
    Only a new file, or a DuckDB database with no tables, becomes a store: another
    program's database is refused untouched. The database gets `engine`'s memory limit,
    temp directory and threads (linkage.store.resources; the defaults when None); a store
    opened read-only spills under the system's temporary folder unless `engine` names one.
    """
    in_memory = str(path) == ":memory:"
    path = Path(path)
    if not in_memory and is_snapshot_store(path):
        return _open_snapshot_store(path, read_only=read_only)
    if not in_memory:
        _check_store_path(path, create=create)
    limits = engine_limits(engine, None if in_memory or read_only else path)
    spill = limits.spill_folder(None if in_memory else _spill_name(path))
    with private_umask():  # store readable by the owner only (and, while open, its WAL)
        try:
            connection = _connect_store(path, read_only, limits, spill)
        except BaseException:
            limits.remove_spill_folder(spill, whole=in_memory)
            raise
        store = DuckDBStore(connection, str(path), limits, spill)
    try:
        if not in_memory and not read_only:
            _make_owner_only(path)
        _check_schema(store, read_only=read_only, migrating=migrating)
    except BaseException:
        store.close()
        raise
    return store


def _spill_name(path: Path) -> str:
    """The store's spill folder name: its file name and a digest of where it is, so two
    stores of one name never share a folder."""
    digest = hashlib.sha256(str(path.resolve()).encode("utf-8")).hexdigest()[:8]
    return f"{path.name}-{digest}"


def _connect_store(path: Path, read_only: bool, limits: EngineLimits,
                   spill: Path) -> duckdb.DuckDBPyConnection:
    """The store's connection, its failures in words (a lock another process holds, a file
    that is not a DuckDB database)."""
    try:
        return connect(str(path), read_only=read_only, config=limits.duckdb_config(spill))
    except duckdb.IOException as error:
        if _is_lock_conflict(error, path):
            raise StoreBusyError(
                f"{path}: the store is in use by another linkage process; "
                "wait for it to finish (runs on one store cannot interleave)"
            ) from None
        if "not a valid DuckDB database" in str(error).replace(str(path), ""):
            raise StoreError(f"{path}: not a linkage store (not a DuckDB database); "
                             "give a new file name for a new store") from None
        raise StoreError(f"{path}: cannot open store: {database_message(error)}") from None
    except duckdb.Error as error:
        raise StoreError(f"{path}: not a linkage store: {database_message(error)}") from None


def _check_store_path(path: Path, *, create: bool) -> None:
    """A store path that can never be a store file is one line, before DuckDB sees it."""
    if path.is_dir():
        raise StoreError(f"{path}: is a folder, not a store file (a DuckDB store is one file; "
                         "a folder is a store only for `backend: spark`)")
    if not path.exists() and not create:
        raise StoreError(f"{path}: store not found (run `linkage run` first)")
    if create and not path.exists():
        try:
            make_private_folder(path.parent)
        except OSError as error:
            raise StoreError(f"{path}: cannot create the store's folder "
                             f"({reason(error)})") from None


def _make_owner_only(path: Path) -> None:
    """A store created by an older linkage (or copied with cp) may be readable by others."""
    for file in (path, path.with_name(path.name + ".wal")):
        try:
            if file.exists() and file.stat().st_mode & 0o077:
                file.chmod(0o600)
        except OSError:
            pass  # not the owner: the store still opens; its mode is the owner's to set


def _is_lock_conflict(error: duckdb.IOException, path: Path) -> bool:
    """DuckDB's words for a lock another process holds ("Could not set lock on file …:
    Conflicting lock is held in …"), looked for outside the quoted path: a path that
    merely contains "lock" (clockwork/, /home/lockwood) is not a conflict."""
    text = str(error).replace(str(path), "").replace(str(path.resolve()), "")
    return "Could not set lock on file" in text and "Conflicting lock is held" in text


def _open_snapshot_store(path: Path, *, read_only: bool) -> Store:
    """A Parquet store (written by Spark runs) opened read-only in DuckDB: each table a view
    over its committed snapshot, so every reading command works on it unchanged."""
    if not read_only:
        raise StoreError(f"{path}: a Parquet store is written by `backend: spark` runs only; "
                         "use --backend spark (or `backend: spark` in the config)")
    files = Snapshots(path)
    manifest = files.committed()
    connection = connect()
    store = DuckDBStore(connection, str(path))
    try:
        for name, ddl in TABLES.items():
            parts = files.table_files(manifest, name)
            if parts:
                connection.read_parquet(parts).create_view(name)
            else:
                store.run_step("store", Step(f"create_{name}", ddl))
    except BaseException:
        store.close()
        raise
    return store


def _check_schema(store: Store, *, read_only: bool, migrating: bool) -> None:
    has_meta = store.scalar(
        "store", "find_meta",
        "SELECT count(*) FROM information_schema.tables WHERE table_name = 'store_meta'",
    )
    if not has_meta:
        if read_only:
            raise StoreError(f"{store.path}: not a linkage store (no store_meta table)")
        tables = store.scalar("store", "count_tables",
                              "SELECT count(*) FROM duckdb_tables() WHERE database_name = "
                              "current_database()")
        views = store.scalar("store", "count_views",
                             "SELECT count(*) FROM duckdb_views() WHERE NOT internal AND "
                             "database_name = current_database()")
        if tables or views:
            raise StoreError(f"{store.path}: not a linkage store (a DuckDB database with "
                             f"{tables + views} tables or views of its own and no store_meta); "
                             "refused untouched: give a new file name for a new store")
        with store.transaction():
            for name, ddl in DUCKDB_TABLES.items():
                store.run_step("store", Step(f"create_{name}", ddl))
            store.run_step("store", Step(
                "set_version", "INSERT INTO store_meta VALUES ('schema_version', ?)",
                [str(SCHEMA_VERSION)],
            ))
        return
    version = schema_version(store)
    if version < SCHEMA_VERSION and not migrating:
        raise StoreError(
            f"{store.path}: store schema version {version} is older than this linkage's "
            f"{SCHEMA_VERSION}; run `linkage migrate --config …` to upgrade it")
    if version > SCHEMA_VERSION:
        raise StoreError(
            f"{store.path}: store schema version {version} is newer than this linkage's "
            f"{SCHEMA_VERSION}; upgrade linkage to open it")


def schema_version(store: Store) -> int:
    return int(store.scalar("store", "read_version",
                            "SELECT value FROM store_meta WHERE key = 'schema_version'"))


def migrate(store: Store) -> list[int]:
    """Bring the store to SCHEMA_VERSION, one version per transaction; return the steps."""
    from linkage.store.migrations import MIGRATIONS

    done = []
    while (version := schema_version(store)) < SCHEMA_VERSION:
        with store.transaction():
            for name, sql in MIGRATIONS[version]:
                store.run_step("migrate", Step(f"v{version}_{name}", sql))
            store.run_step("migrate", Step(
                "set_version", "UPDATE store_meta SET value = ? WHERE key = 'schema_version'",
                [str(version + 1)]))
        done.append(version + 1)
    return done


# A cell a spreadsheet runs as a formula: one starting with =, +, -, @, a tab or a carriage
# return (CSV injection: =HYPERLINK(...) in a name or a record id).
FORMULA_START = "^[=+@\\t\\r-]"


def spreadsheet_safe(relation: duckdb.DuckDBPyRelation) -> duckdb.DuckDBPyRelation:
    """`relation` with each text cell that a spreadsheet would run as a formula written with
    an apostrophe first, as OWASP advises for CSV files people open: Excel and LibreOffice
    then show it as the text it is. Other cells are as they are."""
    columns = [quote_identifier(name) for name in relation.columns]
    return relation.project(", ".join(
        f"CASE WHEN regexp_matches({column}, '{FORMULA_START}') THEN '''' || {column} "
        f"ELSE {column} END AS {column}" if str(dtype) == "VARCHAR" else column
        for column, dtype in zip(columns, relation.dtypes, strict=True)))


def quote_identifier(name: str) -> str:
    """Quote a column or table name that came from a file header or a config."""
    return '"' + name.replace('"', '""') + '"'

