"""`backend: spark` gives what DuckDB gives: the same functions, the same SQL results, and on
the sample the same tables, clusters and EIDs (pytest -m spark; needs linkage[spark] and
Java 17)."""

from __future__ import annotations

import os
import random
import shutil

import duckdb
import pytest

from conftest import SAMPLE_CONFIG, cli
from linkage import Project
from linkage.config import SparkConfig
from linkage.crosswalk.labels import KEY_ENV
from linkage.errors import StoreBusyError
from linkage.store import DuckDBStore, Step, Store, connect, open_store

pytest.importorskip("pyspark", reason="the spark extra is not installed")
if shutil.which("java") is None:
    pytest.skip("Spark needs Java 17", allow_module_level=True)
pytestmark = pytest.mark.spark

from linkage.store.snapshots import LOCK  # noqa: E402
from linkage.store.spark import SparkStore, spark_session  # noqa: E402
from linkage.store.spark_tables import MAX_PARTS  # noqa: E402

SETTINGS = SparkConfig(master="local[2]", driver_memory="2g", shuffle_partitions=4)
TABLES = ("store_meta", "delivery", "source_record", "source_reject", "person", "pair_score",
          "enterprise_id", "crosswalk", "crosswalk_event", "manual_decision")


@pytest.fixture(scope="module")
def spark():
    return spark_session(SETTINGS)


@pytest.fixture
def spark_store(spark, tmp_path):
    with SparkStore.open(tmp_path / "store", SETTINGS, create=True) as store:
        yield store


def rows(store: Store, sql: str, params=None) -> list[tuple]:
    return sorted(store.run_step("t", Step("t", sql, params)), key=repr)


# --- functions: the sample alone did not show the Jaro-Winkler difference; 100k did -------
def test_jaro_winkler_and_damerau_levenshtein_equal_duckdbs(linked_store, spark_store):
    with duckdb.connect(str(linked_store), read_only=True) as con:
        names = [r[0] for r in con.execute(
            "SELECT DISTINCT n FROM (SELECT first_name AS n FROM person UNION ALL "
            "SELECT last_name FROM person UNION ALL SELECT street FROM person) "
            "WHERE n IS NOT NULL ORDER BY n").fetchall()]
    rng = random.Random(7)
    pairs = [(rng.choice(names), rng.choice(names)) for _ in range(3000)]
    pairs += [(a, a[:-1] + "X") for a in names[:500]] + [("", "A"), ("A", "")]
    digits = [("".join(rng.choices("0123456789", k=9)), "".join(rng.choices("0123456789", k=9)))
              for _ in range(500)]
    digits += [(a, a[1] + a[0] + a[2:]) for a, _ in digits[:200]]  # transpositions
    sql = ("SELECT a, b, jaro_winkler_similarity(a, b) FROM pairs UNION ALL "
           "SELECT a, b, damerau_levenshtein(a, b) FROM digit_pairs")
    results = []
    for store in (DuckDBStore(connect(), ":memory:"), spark_store):
        for name, values in (("pairs", pairs), ("digit_pairs", digits)):
            import pyarrow as pa
            store.register(name, pa.table({"a": [a for a, _ in values],
                                           "b": [b for _, b in values]}))
        results.append({(a, b): round(float(v), 12) for a, b, v in store.run_step(
            "t", Step("functions", sql))})
    duck, spark = results
    assert len(duck) > 3000
    assert duck == spark


CASES = {
    "list index, negative, by column, 0 and out of range": (
        "SELECT id, w[1], w[-1], w[n], w[0], w[9] FROM lists", None),
    "slices": ("SELECT id, w[2:], w[:-2], w[n:n + 1], w[2:-1] FROM lists", None),
    "ordered list keeps order and NULLs": (
        "SELECT id, list(v ORDER BY k) FROM items GROUP BY id", None),
    "list_transform's index is 1-based": (
        "SELECT id, list_transform(w, lambda x, i: x || i::VARCHAR) FROM lists", None),
    "list_position, array_length": (
        "SELECT id, list_position(w, 'B'), array_length(w) FROM lists", None),
    "unnest beside generate_subscripts": (
        "SELECT id, unnest(w) AS word, generate_subscripts(w, 1) AS pos FROM lists", None),
    "unnests side by side, the shorter padded": (
        "SELECT id, unnest(w) AS word, unnest(w[2:]) AS next_word FROM lists", None),
    "unnests of bound lists, one of them NULL": (
        "SELECT unnest($forms::VARCHAR[]) AS form, unnest($suffixes::VARCHAR[]) AS suffix, "
        "unnest($none::VARCHAR[]) AS nothing",
        {"forms": ["JR", "JUNIOR", "SR"], "suffixes": ["JR", "JR"], "none": None}),
    "regexp_full_match, strip_accents": (
        "SELECT t, regexp_full_match(t, '[A-Z]+'), strip_accents(t) FROM texts", None),
    "try_strptime": (
        "SELECT t, try_strptime(t, ['%m/%d/%Y', '%Y%m%d', '%Y-%m-%d', '%d %B %Y', '%d %b %Y'])"
        "::DATE FROM texts", None),
    "split_part": ("SELECT t, split_part(t, '/', 1), split_part(t, '/', 3), "
                   "split_part(t, ' ', 2) FROM texts", None),
    "bound parameters": ("SELECT t FROM texts WHERE t = $t OR t IN (SELECT unnest($more))",
                         {"t": "ABC", "more": ["19800315", "nope"]}),
}

SETUP = [
    "CREATE OR REPLACE TEMP TABLE lists AS SELECT * FROM (VALUES (1, ['A', 'B', 'C', 'D'], 2), "
    "(2, ['B'], 1), (3, []::VARCHAR[], 1)) AS t(id, w, n)",
    "CREATE OR REPLACE TEMP TABLE items AS SELECT * FROM (VALUES (1, 2, 'b'), (1, 1, 'a'), "
    "(1, 3, NULL), (2, 1, 'z')) AS t(id, k, v)",
    "CREATE OR REPLACE TEMP TABLE texts AS SELECT * FROM (VALUES ('ABC'), ('Ábc'), "
    "('NGUYỄN'), ('3/5/1980'), ('19800315'), ('1980-03-15'), ('13/45/1980'), ('15 MARCH 1980'), "
    "('15 MAR 1980'), ('15 SEPTEMBER 1980'), (NULL)) AS t(t)",
]


@pytest.mark.parametrize("case", list(CASES))
def test_sql_constructs_mean_the_same_on_spark(spark_store, case):
    sql, params = CASES[case]
    duck = DuckDBStore(connect(), ":memory:")
    for store in (duck, spark_store):
        store.run_steps("t", [Step("setup", s) for s in SETUP])
    assert rows(spark_store, sql, params) == rows(duck, sql, params)


def test_dates_of_birth_read_as_on_duckdb(spark_store):
    """Every date shape and configured format of tests/test_dates.py, read on both engines."""
    from linkage.standardize.dates import dob_value_sql
    from test_dates import FORMAT_READINGS, READINGS

    cases = [(raw, "") for raw, *_ in READINGS] + [(raw, fmt) for fmt, raw, *_ in FORMAT_READINGS]
    params = {}
    for i, (raw, fmt) in enumerate(cases):
        params[f"raw_{i}"], params[f"format_{i}"] = raw, fmt
    values = ", ".join(f"($raw_{i}, $format_{i})" for i in range(len(cases)))
    setup = Step("raw_dates", "CREATE OR REPLACE TEMP TABLE raw_dates AS SELECT * FROM "
                 f"(VALUES {values}) AS t(raw, date_format)", params)
    sql, dob_params = dob_value_sql("SELECT raw, date_format FROM raw_dates",
                                    sorted({fmt for _, fmt in cases} - {""}))
    duck = DuckDBStore(connect(), ":memory:")
    for store in (duck, spark_store):
        store.run_steps("t", [setup, Step("dob_value", sql, dob_params)])
    read = "SELECT raw, date_format, dob, dob_year, problem FROM dob_value"
    assert len(rows(duck, read)) == len(cases) - 1  # the blank one is not read
    assert rows(spark_store, read) == rows(duck, read)


def test_name_suffix_forms_map_one_to_one_as_on_duckdb(spark_store):
    """Each written form of a suffix names one suffix: the table that a Spark cross product
    of its two lists once made n * n rows long, which multiplied persons and their pairs."""
    from linkage.standardize.names import install_name_suffixes
    from linkage.standardize.rules import NAME_SUFFIXES

    duck = DuckDBStore(connect(), ":memory:")
    for store in (duck, spark_store):
        install_name_suffixes(store)
    read = "SELECT form, suffix FROM name_suffix"
    assert rows(spark_store, read) == rows(duck, read) == sorted(NAME_SUFFIXES.items(), key=repr)


def test_names_in_every_script_are_cleaned_as_on_duckdb(spark_store):
    """Latin names folded to A-Z, other scripts kept (Java's and RE2's Unicode classes and
    upper case agree on them)."""
    from linkage.standardize.names import build_name_values, install_name_rules

    names = ["José García-López", "O'Brien Jr.", "Иван", "Пётр", "Ελένη", "李小龍", "محمد",
             "Nguyễn Thị", "がくせい", "देवनागरी", "한국", "Иван Petrov", "😀😀", "Ana\u0000",
             "ǅemal", "ß", "\u001bAN\u0000A\u0007", "Lo\u200bpez", "\u202eЛо\u00adпез", None]
    params = {f"n_{i}": name for i, name in enumerate(names)}
    setup = Step("raw_names", "CREATE OR REPLACE TEMP TABLE raw_names AS SELECT * FROM "
                 f"(VALUES {', '.join(f'($n_{i})' for i in range(len(names)))}) AS t(raw)", params)
    duck = DuckDBStore(connect(), ":memory:")
    for store in (duck, spark_store):
        install_name_rules(store)
        store.run_step("t", setup)
        build_name_values(store, "SELECT raw FROM raw_names")
    read = "SELECT raw, name, parts FROM name_value"
    assert ("Пётр", "ПЕТР", ["ПЕТР"]) in rows(duck, read)
    assert rows(spark_store, read) == rows(duck, read)


def test_macros_and_updates_run_as_in_duckdb(spark_store):
    steps = [
        "CREATE OR REPLACE TEMP MACRO twice(x) AS x || x",
        "CREATE OR REPLACE TEMP TABLE a AS SELECT * FROM (VALUES (1, 'p'), (2, 'q'), (3, 'r')) "
        "AS t(id, v)",
        "CREATE OR REPLACE TEMP TABLE b AS SELECT * FROM (VALUES (2, 'Q')) AS t(id, v)",
        "UPDATE a SET v = twice(b.v) FROM b WHERE a.id = b.id",
        "UPDATE a SET v = upper(v) WHERE id = 3",
        "DELETE FROM a WHERE id = 1",
        "INSERT INTO a (v, id) SELECT 's', 4",
    ]
    duck = DuckDBStore(connect(), ":memory:")
    for store in (duck, spark_store):
        store.run_steps("t", [Step(f"s{i}", s) for i, s in enumerate(steps)])
    assert rows(spark_store, "SELECT * FROM a") == rows(duck, "SELECT * FROM a") \
        == [(2, "QQ"), (3, "R"), (4, "s")]


def committed_files(store: SparkStore, table: str) -> dict[str, int]:
    """The files of `table`'s committed snapshot, by name, with their inode."""
    files = store.files.table_files(store.files.manifest(), table)
    return {f.rsplit("/", 1)[-1]: os.stat(f).st_ino for f in files}


def test_a_commit_writes_only_what_changed_and_keeps_the_files_a_table_still_holds(spark_store):
    store = spark_store
    read = "SELECT key, value FROM store_meta WHERE key <> 'schema_version'"
    with store.transaction():
        store.run_step("t", Step("first", "INSERT INTO store_meta VALUES ('a', '1')"))
    first = committed_files(store, "store_meta")

    # More parts than are kept apart: each insert adds its rows, the commit adds their files.
    with store.transaction():
        for i in range(MAX_PARTS + 2):
            store.run_step("t", Step("more", "INSERT INTO store_meta VALUES (?, ?)",
                                     [f"k{i}", str(i)]))
    second = committed_files(store, "store_meta")
    assert {n: second[n] for n in first} == first  # the same files, linked
    assert len(second) > len(first)
    expected = sorted([("a", "1")] + [(f"k{i}", str(i)) for i in range(MAX_PARTS + 2)])
    assert rows(store, read) == expected
    with duckdb.connect() as con:  # as any reader of the store sees it
        assert sorted(con.execute(
            "SELECT key, value FROM read_parquet(?) WHERE key <> 'schema_version'",
            [store.files.table_files(store.files.manifest(), "store_meta")]).fetchall()) \
            == expected

    # A DELETE or UPDATE that touches no row changes nothing, not even the snapshot.
    snapshot = store.files.manifest().tables["store_meta"]
    with store.transaction():
        store.run_step("t", Step("none", "DELETE FROM store_meta WHERE key = 'absent'"))
        store.run_step("t", Step("none", "UPDATE store_meta SET value = 'x' WHERE key = 'absent'"))
        assert "store_meta" not in store.changed
    assert store.files.manifest().tables["store_meta"] == snapshot

    # One that does rewrites the table.
    with store.transaction():
        store.run_step("t", Step("some", "DELETE FROM store_meta WHERE key = 'a'"))
    assert not set(committed_files(store, "store_meta").values()) & set(second.values())
    assert rows(store, read) == expected[1:]


# --- the sample, end to end ------------------------------------------------------------------
def table_rows(store_path, table: str) -> list[tuple]:
    with open_store(store_path, read_only=True) as store:
        columns = [c for c in store.columns(table) if c not in ("started_at", "finished_at",
                                                               "decided_at")]
        selected = ", ".join(f"round({c}, 9)" if c in ("match_weight", "match_probability")
                             else c for c in columns)
        return sorted(store.con.sql(f"SELECT {selected} FROM {table}").fetchall(), key=repr)


def test_the_sample_links_to_the_same_tables_clusters_and_eids(spark, tmp_path, capsys,
                                                               monkeypatch):
    # Two stores give one cluster one label only under one key (store_meta then holds none).
    monkeypatch.setenv(KEY_ENV, "5e" * 32)
    duck, spark_path = tmp_path / "sample.duckdb", tmp_path / "sample.parquet"
    assert cli("-q", "run", "--config", SAMPLE_CONFIG, "--store", duck) == 0
    assert cli("-q", "run", "--config", SAMPLE_CONFIG, "--store", duck, "--backend",
               "spark") == 0  # .duckdb -> a .parquet folder beside it
    assert (spark_path / "_manifest.json").is_file() and not (spark_path / LOCK).exists()
    for table in TABLES:
        assert table_rows(spark_path, table) == table_rows(duck, table), table

    # Invariant 2: the same inputs again change nothing.
    assert cli("-q", "run", "--config", SAMPLE_CONFIG, "--store", spark_path, "--backend",
               "spark", "--json") == 0
    with open_store(spark_path, read_only=True) as store:
        assert store.scalar("t", "events", "SELECT count(*) FROM crosswalk_event "
                                           "WHERE run_id = 2") == 0
        assert store.scalar("t", "runs", "SELECT count(*) FROM run") == 2

    # Invariant 7: a run that fails after changing tables in Spark commits none of it.
    manifest = (spark_path / "_manifest.json").read_text()
    snapshots = sorted(p.relative_to(spark_path) for p in spark_path.glob("*/*"))

    def fail(*args, **kwargs):
        raise RuntimeError("killed after landing")

    import linkage.project
    original, linkage.project.standardize = linkage.project.standardize, fail
    try:
        with pytest.raises(RuntimeError):
            Project.open(SAMPLE_CONFIG, store=spark_path, backend="spark").run()
    finally:
        linkage.project.standardize = original
    assert (spark_path / "_manifest.json").read_text() == manifest
    assert sorted(p.relative_to(spark_path) for p in spark_path.glob("*/*")) == snapshots
    assert not (spark_path / LOCK).exists() and not (spark_path / "_work").exists()

    # Reading commands work on the Parquet store as they do on DuckDB's.
    for store, out in ((duck, tmp_path / "duck.csv"), (spark_path, tmp_path / "spark.csv")):
        assert cli("-q", "crosswalk", "export", "--config", SAMPLE_CONFIG, "--store", store,
                   "--out", out) == 0
    assert (tmp_path / "spark.csv").read_text() == (tmp_path / "duck.csv").read_text()


def test_a_locked_store_is_refused(spark, tmp_path, capsys):
    store = tmp_path / "store.parquet"
    store.mkdir()
    (store / LOCK).write_text(f"{__import__('socket').gethostname()} {__import__('os').getpid()}\n")
    with pytest.raises(StoreBusyError):
        SparkStore.open(store, SETTINGS, create=True)
    assert cli("run", "--config", SAMPLE_CONFIG, "--store", store, "--backend", "spark") == 4
