"""The store on Spark: the same stages, the same SQL, run by a SparkSession.

`SparkStore` offers what the stages use of `Store` and runs their DuckDB-dialect SQL on
Spark: each statement is parsed once by sqlglot, rewritten where the engines differ
(`linkage.store.spark_sql`), and executed by kind, since Spark cannot update a table:

- CREATE MACRO             kept, and inlined into later statements;
- CREATE TEMP TABLE AS     a DataFrame, materialised (checkpointed), as a temp view;
- CREATE TABLE (columns)   an empty DataFrame of that schema;
- INSERT                   only the new rows materialised, added to the table as a part
                           of its own (`linkage.store.spark_tables`);
- DELETE / UPDATE          when they touch a row: a new DataFrame (filter / left join),
                           materialised in the table's place; else nothing;
- anything else            run, and its rows collected.

The store's tables live in Parquet (`linkage.store.snapshots`): they are read at open, and
the tables a run changed are written as new snapshots when its transaction commits, each
snapshot keeping the files of the previous one its table still holds and adding the parts
written since. Until then nothing on disk changes, so a failed run leaves the store as it
was.

Only imported for `backend: spark`; it needs the `linkage[spark]` extra and Java 17.
"""

from __future__ import annotations

import logging
import os
import sys
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
from sqlglot import exp

from linkage import progress
from linkage.errors import ConfigError, LinkageError, StoreError, database_message
from linkage.outputs import hold_private_umask, release_private_umask
from linkage.store.connection import connect
from linkage.store.core import DuckDBStore, spreadsheet_safe
from linkage.store.engine import Step, Store
from linkage.store.schema import SCHEMA_VERSION, TABLES
from linkage.store.snapshots import Manifest, Snapshots
from linkage.store.spark_sql import JARO_WINKLER, Macros, Rewriter, parse
from linkage.store.spark_tables import SparkTables
from linkage.store.splink_engines import SparkSplink

if TYPE_CHECKING:
    import pandas as pd

    from linkage.config import SparkConfig

# pyspark 4.3 warns that it does not fully support pandas 3; linkage's use of it (Arrow
# tables, one pandas UDF over two string columns) is covered by the parity tests.
warnings.filterwarnings("ignore", message="PySpark does not yet fully support pandas")

try:
    from pyspark.errors import PySparkException
    from pyspark.sql import DataFrame, SparkSession
    from pyspark.sql import functions as F
    from py4j.protocol import Py4JError
except ImportError as error:  # pragma: no cover - depends on the install
    raise LinkageError("backend 'spark' needs the spark extra: pip install 'linkage[spark]' "
                       "(and Java 17)") from error

log = logging.getLogger(__name__)
# py4j logs every command it sends at DEBUG, SQL text with its bound values among them.
logging.getLogger("py4j").setLevel(logging.WARNING)

SPARK_ERRORS = (PySparkException, Py4JError)

LOG_CONFIG = Path(__file__).with_name("spark-log4j2.properties")

# Store tables a run may change; each commit writes a new snapshot of the ones it changed.
STORE_TABLES = tuple(TABLES)

# Keys the DuckDB schema enforces with PRIMARY KEY / UNIQUE; Spark cannot, so a commit
# checks them (table, key columns, condition on the rows counted).
KEYS = (
    ("person", "record_key", None),
    ("enterprise_id", "enterprise_id", None),
    ("enterprise_id", "seq", None),
    ("crosswalk", "source_system, source_record_id", "valid_to_run IS NULL"),
    ("manual_decision", "decision_id", None),
    ("delivery", "delivery_id", None),
    ("run", "run_id", None),
)


# --- the session --------------------------------------------------------------------
def spark_session(settings: SparkConfig) -> SparkSession:
    """The active SparkSession (spark-submit, Databricks, a notebook), or a new one built from
    the config's `spark:` block. Either way, set up for Splink and linkage's functions."""
    spark = SparkSession.getActiveSession()
    if spark is None:
        # Python workers run this interpreter, so they import the same linkage.
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
        os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
        if settings.master.startswith("local"):
            os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
        from splink.backends.spark import similarity_jar_location

        builder = (SparkSession.builder.master(settings.master).appName("linkage")
                   .config("spark.driver.memory", settings.driver_memory)
                   .config("spark.sql.shuffle.partitions", str(settings.shuffle_partitions))
                   .config("spark.default.parallelism", str(settings.shuffle_partitions))
                   .config("spark.jars", similarity_jar_location())
                   .config("spark.driver.extraJavaOptions",
                           f"-Dlog4j2.configurationFile=file:{LOG_CONFIG}")
                   .config("spark.ui.enabled", "false")
                   .config("spark.ui.showConsoleProgress", "false"))
        for key, value in settings.conf.items():
            builder = builder.config(key, value)
        previous_umask = os.umask(0o077)  # the JVM inherits it: store files owner-only
        try:
            spark = builder.getOrCreate()
        except (*SPARK_ERRORS, RuntimeError, OSError) as error:
            raise ConfigError(f"cannot start Spark ({database_message(error)}); backend 'spark' "
                              "needs Java 17 (JAVA_HOME or java on the PATH)") from None
        finally:
            os.umask(previous_umask)
        spark.sparkContext.setLogLevel("ERROR")
    # Store timestamps are wall-clock (DuckDB TIMESTAMP), the same whatever the cluster's zone.
    spark.conf.set("spark.sql.session.timeZone", "UTC")
    spark.conf.set("spark.sql.timestampType", "TIMESTAMP_NTZ")
    # A table is a union of its parts (`linkage.store.spark_tables`); joined with a table
    # derived from itself (UPDATE enterprise_id ... FROM retired), Spark 4.3's inference of
    # constraints through the union fails ("key not found"). It only adds inferred filters.
    spark.conf.set("spark.sql.constraintPropagation.enabled", "false")
    register_functions(spark)
    return spark


def _jaro_winkler(left, right):
    import jellyfish
    import pandas as pd

    return pd.Series([jellyfish.jaro_winkler_similarity(a, b)
                      if isinstance(a, str) and isinstance(b, str) else None
                      for a, b in zip(left, right)], dtype="float64")


def register_functions(spark: SparkSession) -> None:
    """Functions linkage's SQL and models call that Spark lacks or computes differently.

    `linkage_jaro_winkler` is jellyfish's Jaro-Winkler, which equals DuckDB's on every pair
    measured; Spark's built-in and Splink's JAR differ from it on about a third of name
    pairs. Splink's JAR supplies damerau_levenshtein (equal to DuckDB's); a SparkAPI
    registers it."""
    from pyspark.sql.functions import pandas_udf
    from splink import SparkAPI

    spark.udf.register(JARO_WINKLER, pandas_udf(_jaro_winkler, "double"))
    SparkAPI(spark_session=spark)


# --- the store ------------------------------------------------------------------------
class SparkStore(Store):
    """A Parquet store, opened for one job on a SparkSession."""

    engine_errors = SPARK_ERRORS

    def __init__(self, spark: SparkSession, files: Snapshots, settings: SparkConfig) -> None:
        self.spark = spark
        self.path = str(files.root)
        self.settings = settings
        self.files = files
        self.macros: Macros = {}
        self.changed: set[str] = set()
        self._views: set[str] = set()
        self._reliable = not str(spark.sparkContext.master).startswith("local")
        self.tables = SparkTables(spark, self._compute)
        self._manifest: Manifest | None = None
        self.work: Path | None = None

    # -- opening and closing --------------------------------------------------------------
    @classmethod
    def open(cls, path: str | Path, settings: SparkConfig, *, create: bool = False) -> SparkStore:
        """Lock the store (with `create`, create it when new) and load its committed tables."""
        files = Snapshots(path)
        if not create and not files.exists():
            raise StoreError(f"{path}: store not found (run `linkage run` first)")
        # Parquet written on the driver, the manifest, the lock: owner-only while it is open.
        hold_private_umask()
        try:
            files.acquire()  # before the JVM starts: a busy store is refused at once
        except BaseException:
            release_private_umask()
            raise
        try:
            store = cls(spark_session(settings), files, settings)
        except BaseException:
            files.release()
            release_private_umask()
            raise
        store._private = True
        try:
            store._load()
        except BaseException:
            store.close()
            raise
        return store

    def _load(self) -> None:
        self.work = self.files.work_dir()
        self.spark.sparkContext.setCheckpointDir(str(self.work / "checkpoints"))
        if self.files.exists():
            manifest = self.files.committed()
            self.files.remove_unreferenced(manifest)  # what a crashed run left
        else:
            manifest = Manifest(SCHEMA_VERSION)
        self._manifest = manifest
        for name, ddl in TABLES.items():
            parts = self.files.table_files(manifest, name)
            if parts:
                self._view(name, self.tables.read(name, parts))
            else:
                self.run_step("store", Step(f"create_{name}", ddl))
                if name not in manifest.tables:
                    self.changed.add(name)
        if "store_meta" in self.changed:
            self.run_step("store", Step("set_version", "INSERT INTO store_meta VALUES "
                                        "('schema_version', ?)", [str(SCHEMA_VERSION)]))

    def close(self) -> None:
        """Drop this job's tables and Splink's from the session (it may serve more jobs: a
        notebook, a test run) and release the store."""
        splink_views = {t.name for t in self.spark.catalog.listTables()
                        if t.isTemporary and t.name.startswith("__splink__")}
        for view in self._views | splink_views:
            self.spark.catalog.dropTempView(view)
        self._views.clear()
        try:
            self.spark.catalog.clearCache()
        finally:
            self.files.release()
            if getattr(self, "_private", False):
                self._private = False
                release_private_umask()

    @contextmanager
    def transaction(self, commit: bool = True) -> Iterator[None]:
        """All or nothing: the changed tables become new snapshots only when the block ends
        without error (and `commit`: a dry run writes none), and the manifest naming them
        is replaced in one step."""
        yield
        if commit:
            self._commit()

    def _commit(self) -> None:
        with progress.step("commit"):
            self._check_keys()
            tables = dict(self._manifest.tables)
            for name in sorted(self.changed):
                snapshot = self.files.new_snapshot_id()
                self.tables.write(name, self.files.table_path(name, snapshot))
                tables[name] = snapshot
            manifest = Manifest(SCHEMA_VERSION, tables)
            self.files.commit(manifest)
            self._manifest = manifest
            for name in self.changed:
                self._view(name, self.tables.committed(name, self.files.table_files(manifest,
                                                                                    name)))
            self.changed.clear()

    def _check_keys(self) -> None:
        for table, key, where in KEYS:
            if table not in self.changed:
                continue
            query = exp.select("1").from_(table).group_by(*key.split(", ")).having("count(*) > 1")
            if where:
                query = query.where(where)
            if self.spark.sql(query.sql(dialect="spark")).limit(1).count():
                raise StoreError(f"{self.path}: not committed: two rows of '{table}' share "
                                 f"the key ({key})")

    # -- the Store interface --------------------------------------------------------------
    def run_step(self, stage: str, step: Step) -> list[tuple]:
        with self._timed(stage, step):
            rows: list[tuple] = []
            for statement in parse(step.sql):
                rows = self._execute(statement, step.params)
            return rows

    def run_arrow(self, stage: str, step: Step) -> pa.Table:
        with self._timed(stage, step):
            return self.dataframe(step.sql, step.params).toArrow()

    def run_frame(self, stage: str, step: Step) -> pd.DataFrame:
        return self.run_arrow(stage, step).to_pandas()

    def run_records(self, stage: str, step: Step) -> list[dict[str, Any]]:
        with self._timed(stage, step):
            return [row.asDict() for row in self.dataframe(step.sql, step.params).collect()]

    def write_file(self, stage: str, step: Step, path: Path, kind: str) -> None:
        """The rows collected on the driver and written by DuckDB's writers, so a file reads
        the same whichever engine wrote it."""
        rows = self.run_arrow(stage, step)
        with connect() as con:
            relation = con.from_arrow(rows)
            if kind == "csv":
                spreadsheet_safe(relation).write_csv(str(path), header=True)
            else:
                relation.write_parquet(str(path))

    def columns(self, table: str) -> list[str]:
        return list(self.spark.table(table).columns)

    def register(self, name: str, table: pa.Table) -> None:
        from pyspark.sql.pandas.types import from_arrow_schema

        schema = from_arrow_schema(table.schema)
        df = self.spark.createDataFrame(table, schema=schema) if table.num_rows \
            else self.spark.createDataFrame([], schema=schema)
        self.tables.drop(name)
        self._view(name, df)

    def unregister(self, name: str) -> None:
        self.spark.catalog.dropTempView(name)
        self._views.discard(name)
        self.tables.drop(name)

    @contextmanager
    def reading_files(self, table: str, create_sql: str) -> Iterator[Store]:
        """File readers are DuckDB's (CSV rejects with line numbers, NDJSON line by line):
        they fill `table` in a scratch DuckDB store on the driver, whose rows are handed to
        Spark through a Parquet file in the job's work folder."""
        self.run_step("land", Step(f"create_{table}", create_sql))
        scratch = DuckDBStore(connect(), ":memory:")
        try:
            scratch.run_step("land", Step(f"create_{table}", create_sql))
            yield scratch
            folder = self.work / f"{table}_{time.monotonic_ns()}.parquet"
            relation = scratch.con.table(table)
            # JSON columns travel as text (Spark has no JSON type).
            relation.project(", ".join(
                f"CAST({c} AS VARCHAR) AS {c}" if str(kind) == "JSON" else c
                for c, kind in zip(relation.columns, relation.types))).write_parquet(str(folder))
        finally:
            scratch.close()
        self._append(table, self.spark.read.parquet(str(folder)))

    def splink_engine(self) -> SparkSplink:
        return SparkSplink(self)

    def dataframe(self, sql: str, params: Any = None) -> DataFrame:
        statements = parse(sql)
        if len(statements) != 1:
            raise StoreError("expected one SQL statement")
        return self.spark.sql(self._spark_sql(statements[0], params))

    # -- translation and execution ----------------------------------------------------------
    def _spark_sql(self, statement: exp.Expression, params: Any) -> str:
        tree = Rewriter(self.macros, params).rewrite(statement.copy())
        return self._read_csv(tree).sql(dialect="spark")

    def _read_csv(self, tree: exp.Expression) -> exp.Expression:
        """read_csv(path, header = true, all_varchar = true) (the small lookup and truth
        files) -> read on the driver by DuckDB, handed to Spark as a temp view."""
        for node in list(tree.find_all(exp.ReadCSV)):
            path = node.this.name
            with connect() as con:
                table = con.sql("SELECT * FROM read_csv($path, header = true, "
                                "all_varchar = true)", params={"path": path}).to_arrow_table()
            view = f"__csv_{len(self._views)}_{time.monotonic_ns()}"
            self.register(view, table)
            target = node.parent if isinstance(node.parent, exp.Table) else node
            replacement = exp.to_table(view)
            if isinstance(target, exp.Table) and target.alias:
                replacement.set("alias", target.args["alias"])
            target.replace(replacement)
        return tree

    def _view(self, name: str, df: DataFrame) -> None:
        df.createOrReplaceTempView(name)
        self._views.add(name)

    def _compute(self, df: DataFrame) -> DataFrame:
        """`df` computed once (Spark's temp views are lazy, and a `row_number()` could
        number rows differently on a second read)."""
        return df.checkpoint(eager=True) if self._reliable else df.localCheckpoint(eager=True)

    def _materialise(self, name: str, df: DataFrame) -> None:
        """Compute `df` once and keep it as table `name`, in place of what it held."""
        self._view(name, self.tables.replace(name, self._compute(df)))
        if name in STORE_TABLES:
            self.changed.add(name)

    def _touches(self, query: exp.Select, params: Any) -> bool:
        """Whether `query` (the rows a DELETE or UPDATE would change) has a row: a read,
        where rebuilding the table would compute it and, in a store table, write it again."""
        return bool(self.spark.sql(self._spark_sql(query.limit(1), params)).count())

    def _execute(self, statement: exp.Expression, params: Any) -> list[tuple]:
        for kind, run in STATEMENTS.items():
            if isinstance(statement, kind):
                return run(self, statement, params) or []
        return [tuple(row) for row in self.spark.sql(self._spark_sql(statement, params)).collect()]

    def _drop(self, statement: exp.Drop, params: Any) -> None:
        for table in statement.args.get("tables") or [statement.this]:
            self.spark.catalog.dropTempView(table.name)
            self._views.discard(table.name)
            self.tables.drop(table.name)

    def _delete(self, statement: exp.Delete, params: Any) -> None:
        name = statement.this.name
        where = statement.args.get("where")
        condition = exp.func("coalesce", where.this, exp.false()) if where else exp.true()
        if not self._touches(exp.select("1").from_(name).where(condition.copy()), params):
            return
        if where is None:
            self._materialise(name, self.spark.table(name).limit(0))
        else:
            keep = exp.select("*").from_(name).where(exp.not_(condition))
            self._materialise(name, self.spark.sql(self._spark_sql(keep, params)))

    def _create(self, statement: exp.Create, params: Any) -> list[tuple]:
        kind = (statement.args.get("kind") or "").upper()
        if kind == "MACRO":
            udf = statement.this
            self.macros[udf.this.name.lower()] = ([i.name for i in udf.expressions],
                                                 statement.expression)
            return []
        target = statement.this
        name = target.this.name if isinstance(target, exp.Schema) else target.name
        if statement.args.get("exists") and self.spark.catalog.tableExists(name):
            return []
        if statement.expression is not None:
            df = self.spark.sql(self._spark_sql(statement.expression, params))
            if kind == "VIEW":
                self.tables.drop(name)
                self._view(name, df)
            else:
                self._materialise(name, df)
            return []
        columns = [c for c in target.expressions if isinstance(c, exp.ColumnDef)]
        ddl = ", ".join(f"`{c.name}` {_spark_type(c.args['kind'])}" for c in columns)
        self._view(name, self.tables.empty(name, self.spark.createDataFrame([], schema=ddl)))
        if name in STORE_TABLES:
            self.changed.add(name)
        return []

    def _insert(self, statement: exp.Insert, params: Any) -> None:
        target = statement.this
        name = target.this.name if isinstance(target, exp.Schema) else target.name
        new = self.spark.sql(self._spark_sql(statement.expression, params))
        columns = ([c.name for c in target.expressions] if isinstance(target, exp.Schema)
                   else self.spark.table(name).columns)
        self._append(name, new.toDF(*columns))

    def _append(self, name: str, rows: DataFrame) -> None:
        """Table `name` with `rows` added: their columns by name, cast to the table's types,
        NULL where they have none. Only the new rows are computed."""
        existing = self.spark.table(name)
        if name not in self.tables:  # a view registered from rows: computed once, as a table
            self.tables.replace(name, self._compute(existing))
        aligned = rows.select(*[
            (F.col(f"`{c}`") if c in rows.columns else F.lit(None))
            .cast(existing.schema[c].dataType).alias(c) for c in existing.columns])
        self._view(name, self.tables.append(name, self._compute(aligned)))
        if name in STORE_TABLES:
            self.changed.add(name)

    def _update(self, statement: exp.Update, params: Any) -> None:
        """UPDATE t SET c = e [FROM s] WHERE p -> a SELECT with CASE over t [LEFT JOIN s ON p]."""
        name = statement.this.name
        columns = self.spark.table(name).columns
        where = statement.args.get("where")
        condition = where.this if where else exp.true()
        source = statement.args.get("from_") or statement.args.get("from")
        sets = {e.this.name: e.expression for e in statement.expressions}
        touched = exp.select("1").from_(name)
        touched = (touched.where(exp.func("coalesce", condition.copy(), exp.false()))
                   if source is None else touched.join(source.this.copy(), on=condition.copy()))
        if not self._touches(touched, params):
            return
        if source is None:
            query = exp.select(*[
                exp.alias_(exp.If(this=exp.func("coalesce", condition.copy(), exp.false()),
                                  true=sets[c].copy(), false=exp.column(c)), c)
                if c in sets else exp.column(c) for c in columns]).from_(name)
        else:
            src = source.this.copy()
            alias = src.alias_or_name
            bare = src.copy()
            bare.set("alias", None)
            flagged = exp.select("*", exp.alias_(exp.true(), "__hit")).from_(bare)
            query = exp.select(*[
                exp.alias_(exp.If(this=exp.func("coalesce", exp.column("__hit", alias), exp.false()),
                                  true=sets[c].copy(), false=exp.column(c, name)), c)
                if c in sets else exp.column(c, name) for c in columns]).from_(name).join(
                exp.Subquery(this=flagged, alias=exp.TableAlias(this=exp.to_identifier(alias))),
                on=condition.copy(), join_type="left")
        self._materialise(name, self.spark.sql(self._spark_sql(query, params)))


# How each kind of statement runs, Spark having no tables to change in place; any other
# statement is a query, and its rows are returned.
STATEMENTS = {
    exp.Create: SparkStore._create,
    exp.Drop: SparkStore._drop,
    exp.Insert: SparkStore._insert,
    exp.Delete: SparkStore._delete,
    exp.Update: SparkStore._update,
}


def _spark_type(kind: exp.DataType) -> str:
    text = kind.sql(dialect="spark")
    return {"JSON": "STRING", "TIMESTAMP": "TIMESTAMP_NTZ"}.get(text.upper(), text)
