"""Memory bounded by design: the engine's limits come from the config (or the machine), every
DuckDB database of a run gets them, and a run that cannot fit stops with a clear error."""

from __future__ import annotations

import json
import re

import duckdb
import pytest
from conftest import ROOT, cli

from linkage.config import EngineConfig, load_config
from linkage.errors import ConfigError, OutOfMemoryError, ran_out_of_memory
from linkage.link import load_model
from linkage.link.splink_session import persons_sql
from linkage.store import Step, open_store
from linkage.store.resources import engine_limits, machine_memory

MODEL = ROOT / "models" / "default.json"


def _settings(con: duckdb.DuckDBPyConnection) -> tuple:
    return con.sql("SELECT current_setting('memory_limit'), current_setting('temp_directory'), "
                   "current_setting('threads'), current_setting('max_temp_directory_size')"
                   ).fetchall()[0]


def _with_engine(config, engine: str) -> None:
    config.write_text(config.read_text() + f"engine: {engine}\n")


# -- the config ------------------------------------------------------------------------------

def test_engine_settings_default_to_a_share_of_the_machine(sample_copy):
    engine = load_config(sample_copy).engine
    assert engine == EngineConfig()
    limits = engine_limits(engine, sample_copy.parent / "store.duckdb")
    assert limits.memory_limit_bytes == int(machine_memory() * 0.6)
    assert limits.temp_root == sample_copy.parent / "store.duckdb.tmp"
    assert limits.threads is None and limits.max_temp_directory_size is None


def test_engine_settings_are_read_and_the_temp_directory_is_relative_to_the_config(sample_copy):
    _with_engine(sample_copy, "{memory_limit: 16GB, temp_directory: spill, threads: 2, "
                              "max_temp_directory_size: 100GiB}")
    engine = load_config(sample_copy).engine
    assert engine.temp_directory == sample_copy.parent / "spill"
    limits = engine_limits(engine, "/elsewhere/store.duckdb")
    assert limits.memory_limit_bytes == 16 * 10**9
    assert limits.temp_root == sample_copy.parent / "spill"


@pytest.mark.parametrize("engine, words", [
    ("{memory_limit: lots}", "engine.memory_limit"),
    ("{memory_limit: 0%}", "engine.memory_limit"),
    ("{memory_limit: 120%}", "engine.memory_limit"),
    ("{memory_limit: 0GB}", "engine.memory_limit"),
    ("{threads: 0}", "engine.threads"),
    ("{max_temp_directory_size: huge}", "engine.max_temp_directory_size"),
    ("{temp_directory: ''}", "engine.temp_directory"),
    ("{memory_limt: 4GB}", "unknown key 'engine.memory_limt'"),
])
def test_a_bad_engine_setting_is_refused_naming_the_key(sample_copy, engine, words):
    _with_engine(sample_copy, engine)
    with pytest.raises(ConfigError, match=re.escape(words)):
        load_config(sample_copy)


# -- the settings reach every database -------------------------------------------------------

def test_the_store_gets_the_configured_limits_and_spills_beside_itself(tmp_path):
    engine = EngineConfig(memory_limit="256MiB", threads=1, max_temp_directory_size="1GiB")
    store = open_store(tmp_path / "store.duckdb", create=True, engine=engine)
    try:
        memory, temp, threads, max_temp = _settings(store.con)
        assert (memory, threads, max_temp) == ("256.0 MiB", 1, "1.0 GiB")
        assert temp.startswith(str(tmp_path / "store.duckdb.tmp"))
    finally:
        store.close()
    assert not (tmp_path / "store.duckdb.tmp").exists()  # the spill folder went with it


def test_the_store_lends_splinks_database_most_of_the_run_memory_while_it_scores(
        tmp_path, linked_store):
    engine = EngineConfig(memory_limit="400MB", threads=1, temp_directory=tmp_path / "spill")
    with open_store(linked_store, read_only=True, engine=engine) as store:
        with store.splink_engine().linker(load_model(MODEL), persons_sql()) as linker:
            memory, temp, threads, _ = _settings(linker._db_api._con)
            store_memory, store_temp = _settings(store.con)[:2]
            records = linker._db_api._con.sql("SELECT count(*) FROM person_rows").fetchall()
        assert (memory, threads, store_memory) == ("286.1 MiB", 1, "95.3 MiB")  # 300MB, 100MB
        assert _settings(store.con)[0] == "381.4 MiB"  # all of it back: 400MB
        assert temp.startswith(str(tmp_path / "spill")) and temp != store_temp
        assert records[0][0] == store.scalar("test", "active", "SELECT count(*) FROM person "
                                             "WHERE NOT is_deleted")
    assert not (tmp_path / "spill").exists()


def test_a_long_result_comes_in_batches_in_order(tmp_path):
    with open_store(tmp_path / "store.duckdb", create=True) as store:
        batches = list(store.run_batches("test", Step("numbers", "SELECT range FROM range(25) "
                                                      "ORDER BY range DESC"), rows=10))
    assert [len(batch) for batch in batches] == [10, 10, 5]
    assert [row[0] for batch in batches for row in batch] == list(range(24, -1, -1))


# -- a run that cannot fit ---------------------------------------------------------------------

def test_a_run_that_cannot_fit_stops_with_a_clear_error_and_commits_nothing(sample_copy,
                                                                           capfd):
    assert cli("-q", "run", "--config", sample_copy) == 0
    store = sample_copy.parent / "store.duckdb"
    with open_store(store, read_only=True) as before:
        crosswalk = before.run_step("test", Step("cw", "SELECT * FROM crosswalk ORDER BY ALL"))
    capfd.readouterr()
    # Another delivery of the same sources, with no room: DuckDB really runs out (no spill
    # space at all), whichever stage gets there first.
    _with_engine(sample_copy, "{memory_limit: 30MB, max_temp_directory_size: 0KB, threads: 1}")
    assert cli("-q", "run", "--json", "--config", sample_copy) == OutOfMemoryError.exit_code
    out, err = capfd.readouterr()
    assert re.search(r"stage '(land|standardize|link|crosswalk)' ran out of memory", err)
    assert "its memory limit of 29 MiB" in err
    for advice in ("engine.memory_limit", "engine.temp_directory", "backend: spark"):
        assert advice in err
    assert json.loads(out)["error"]["kind"] == "OutOfMemoryError"
    with open_store(store, read_only=True) as after:
        assert after.scalar("test", "runs", "SELECT count(*) FROM run") == 1
        assert after.run_step("test", Step("cw", "SELECT * FROM crosswalk ORDER BY ALL")) \
            == crosswalk
    assert not (sample_copy.parent / "store.duckdb.tmp").exists()


def test_out_of_memory_is_found_behind_the_errors_that_wrap_it():
    try:
        try:
            raise duckdb.OutOfMemoryException("Out of Memory Error: failed to pin block")
        except duckdb.Error as error:
            raise RuntimeError("stage 'link', step 'x' failed") from error
    except RuntimeError as wrapped:
        assert ran_out_of_memory(wrapped)
    assert ran_out_of_memory(MemoryError())
    assert not ran_out_of_memory(duckdb.IOException("disk"))
