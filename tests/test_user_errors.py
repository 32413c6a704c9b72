"""Hostile and faulty inputs a user can give are one-line errors with exit 2 or 3, found
before anything changes: never exit 70 (a bug), never a store half-written."""

from __future__ import annotations

import copy
import hashlib
import json
from pathlib import Path

import duckdb
import pytest

from conftest import ROOT, cli
from linkage.errors import ModelError, StoreError
from linkage.link.splink_session import load_calibration, load_model
from linkage.store import Step, open_store

MODEL = ROOT / "models" / "default.json"


def _model_with(tmp_path: Path, change) -> Path:
    model = copy.deepcopy(json.loads(MODEL.read_text()))
    changed = change(model)
    path = tmp_path / "model.json"
    path.write_text(changed if isinstance(changed, str) else json.dumps(model))
    return path


def _level(model, comparison=0, level=2):
    return model["comparisons"][comparison]["comparison_levels"][level]


BAD_MODELS = {
    "empty": lambda m: "",
    "garbage": lambda m: "\x00not json{",
    "another_shape": lambda m: json.dumps({"version": 3, "settings": {}}),
    "no_levels": lambda m: m["comparisons"][0].update(comparison_levels=[]),
    "bad_sql": lambda m: _level(m).update(sql_condition="first_name_l = = first_name_r"),
    "unknown_column": lambda m: _level(m).update(sql_condition="nickname_l = nickname_r"),
    "negative_m": lambda m: _level(m).update(m_probability=-0.1),
    "u_above_one": lambda m: _level(m).update(u_probability=1.5),
    "text_probability": lambda m: _level(m).update(m_probability="high"),
    "bad_blocking_rule": lambda m: m["blocking_rules_to_generate_predictions"][0].update(
        blocking_rule="l.no_such = r.no_such"),
    "bad_tf_column": lambda m: _level(m, level=1).update(tf_adjustment_column="no_such"),
    "zero_prior": lambda m: m.update(probability_two_random_records_match=0),
}


@pytest.mark.parametrize("fault", sorted(BAD_MODELS))
def test_a_faulty_model_is_refused_on_load_naming_the_file(tmp_path, fault):
    path = _model_with(tmp_path, BAD_MODELS[fault])
    with pytest.raises(ModelError) as raised:
        load_model(path)
    assert str(raised.value).startswith(f"{path}: ") and "\n" not in str(raised.value)


def test_the_default_model_passes_its_checks():
    assert load_model(MODEL)["comparisons"]


def test_a_faulty_model_stops_the_run_before_the_store_is_created(sample_copy, capfd):
    model = _model_with(sample_copy.parent, BAD_MODELS["unknown_column"])
    sample_copy.write_text(sample_copy.read_text().replace(
        str(ROOT / "models" / "default.json"), str(model)))
    assert cli("-q", "run", "--config", sample_copy) == 2
    assert not (sample_copy.parent / "store.duckdb").exists()
    assert "nickname_l" in capfd.readouterr().err  # the model's column, not a record value


def test_a_calibration_block_with_a_negative_slope_is_a_model_error(tmp_path):
    path = _model_with(tmp_path, lambda m: m.update(
        linkage_calibration={"slope": -1.0, "intercept": 0.0, "labels": 10}))
    with pytest.raises(ModelError, match=str(path)):
        load_calibration(path)


def test_a_model_path_that_is_a_folder_is_a_model_error(tmp_path):
    with pytest.raises(ModelError, match="is a folder"):
        load_model(tmp_path)


# --- the store ----------------------------------------------------------------------------
class _CommitFails:
    """A connection whose COMMIT fails as on a read-only folder or a full disk."""

    def __init__(self, connection):
        self.connection = connection

    def execute(self, sql, *args):
        if sql == "COMMIT":
            raise duckdb.IOException("IO Error: Cannot open file: Read-only file system")
        return self.connection.execute(sql, *args)

    def close(self):
        self.connection.close()


def test_a_failed_commit_is_a_store_error_and_changes_nothing(tmp_path):
    path = tmp_path / "store.duckdb"
    open_store(path, create=True).close()
    store = open_store(path)
    store.con = _CommitFails(store.con)
    with pytest.raises(StoreError, match="cannot commit"):
        with store.transaction():
            store.con.execute("INSERT INTO store_meta VALUES ('probe', 'x')")
    store.close()
    with open_store(path, read_only=True) as reopened:
        assert not reopened.scalar("t", "probe", "SELECT count(*) FROM store_meta "
                                   "WHERE key = 'probe'")


def test_a_store_path_under_a_regular_file_is_a_store_error(tmp_path, sample_copy, capfd):
    (tmp_path / "a_file").write_text("x")
    assert cli("-q", "run", "--config", sample_copy,
               "--store", tmp_path / "a_file" / "store.duckdb") == 3
    assert len(capfd.readouterr().err.strip().splitlines()) == 1


def test_a_store_that_is_a_folder_is_a_store_error(tmp_path, sample_copy):
    (tmp_path / "folder.duckdb").mkdir()
    assert cli("-q", "run", "--config", sample_copy, "--store", tmp_path / "folder.duckdb") == 3


def test_a_parquet_store_given_to_a_duckdb_run_is_a_store_error(tmp_path, sample_copy):
    parquet = tmp_path / "store.parquet"
    parquet.mkdir()
    (parquet / "_manifest.json").write_text("{}")
    assert cli("-q", "run", "--config", sample_copy, "--store", parquet) in (2, 3)


def test_another_programs_database_is_refused_untouched(tmp_path):
    path = tmp_path / "crm.duckdb"
    with duckdb.connect(str(path)) as con:
        con.execute("CREATE TABLE customer (id INTEGER)")
    before = hashlib.sha256(path.read_bytes()).hexdigest()
    with pytest.raises(StoreError, match="not a linkage store"):
        open_store(path, create=True)
    assert hashlib.sha256(path.read_bytes()).hexdigest() == before


def test_a_file_that_is_not_duckdb_is_refused_untouched(tmp_path, sample_copy, capfd):
    path = tmp_path / "notes.duckdb"
    path.write_text("meeting notes " * 500)
    assert cli("-q", "run", "--config", sample_copy, "--store", path) == 3
    assert path.read_text() == "meeting notes " * 500
    assert "not a linkage store" in capfd.readouterr().err


def test_an_empty_duckdb_database_becomes_a_store(tmp_path):
    path = tmp_path / "new.duckdb"
    duckdb.connect(str(path)).close()
    with open_store(path, create=True) as store:
        assert store.scalar("t", "v", "SELECT value FROM store_meta")


@pytest.mark.parametrize("folder", ["clockwork", "lockwood", "locks"])
def test_a_path_containing_lock_is_not_a_busy_store(tmp_path, folder):
    path = tmp_path / folder / "store.duckdb"
    path.parent.mkdir()
    path.write_text("not a database")
    with pytest.raises(StoreError) as raised:
        open_store(path, create=True)
    assert raised.value.exit_code == 3


# --- the config ---------------------------------------------------------------------------
@pytest.mark.parametrize("linking, keys", [
    ("{review_low: 0.9, review_high: 0.8}", "review_low must be less than review_high"),
    ("{predict_threshold: 0.8, match_threshold: 0.6}", "match_threshold must be at least"),
    ("{predict_threshold: 0.7, review_low: 0.6}", "review_low must be at least"),
])
def test_inconsistent_thresholds_are_refused_naming_the_keys(sample_copy, capfd, linking, keys):
    text = sample_copy.read_text()
    sample_copy.write_text(text[:text.index("linking:")] + f"linking: {linking}\n")
    assert cli("-q", "run", "--config", sample_copy) == 2
    assert keys in capfd.readouterr().err


def test_a_repeated_config_key_is_refused_with_its_line(sample_copy, capfd):
    text = sample_copy.read_text()
    sample_copy.write_text(text + "backend: duckdb\nbackend: duckdb\n")
    assert cli("-q", "run", "--config", sample_copy) == 2
    err = capfd.readouterr().err
    assert "'backend' given twice" in err and f"line {len(text.splitlines()) + 2}" in err


def test_a_repeated_key_in_a_noise_config_is_refused(tmp_path, capfd):
    noise = tmp_path / "noise.yaml"
    noise.write_text("noise: {}\nnoise: {}\n")
    assert cli("synth", "--people", "5", "--out", tmp_path / "out",
               "--noise-config", noise) == 2
    assert "given twice" in capfd.readouterr().err


def test_a_config_that_is_a_folder_is_a_config_error(tmp_path):
    assert cli("-q", "run", "--config", tmp_path) == 2


@pytest.mark.parametrize("key", ["store", "model"])
def test_an_empty_store_or_model_path_is_a_config_error(sample_copy, capfd, key):
    lines = [f'{key}: ""' if line.startswith(f"{key}:") else line
             for line in sample_copy.read_text().splitlines()]
    sample_copy.write_text("\n".join(lines) + "\n")
    assert cli("-q", "run", "--config", sample_copy) == 2
    assert f"'{key}'" in capfd.readouterr().err


# --- output paths -------------------------------------------------------------------------
def _impossible_outputs(tmp_path: Path, name: str) -> list[Path]:
    (tmp_path / "a_file").write_text("x")
    (tmp_path / f"folder{name}").mkdir()
    return [tmp_path / "a_file" / name, tmp_path / f"folder{name}"]


@pytest.mark.parametrize("command", [
    ("crosswalk", "export", ".csv"), ("review", "export", ".html"),
    ("review", "export", ".csv")])
def test_an_export_to_an_impossible_path_is_one_line(linked_store, tmp_path, capfd, command):
    for out in _impossible_outputs(tmp_path, "out" + command[2]):
        assert cli(*command[:2], "--config", ROOT / "configs" / "sample.yaml",
                   "--store", linked_store, "--out", out) == 2
        assert len(capfd.readouterr().err.strip().splitlines()) == 1


def test_standardize_to_an_impossible_path_is_one_line(sample_copy, tmp_path, capfd):
    for out in _impossible_outputs(tmp_path, "people.csv"):
        assert cli("-q", "standardize", "--config", sample_copy, "--out", out) == 2
        assert len(capfd.readouterr().err.strip().splitlines()) == 1


def test_explain_html_to_an_impossible_path_is_one_line(linked_store, tmp_path, capfd):
    config = ROOT / "configs" / "sample.yaml"
    with open_store(linked_store, read_only=True) as store:
        pair = store.run_step("t", Step("pair", "SELECT record_key_l, record_key_r FROM "
                                        "pair_score ORDER BY 1, 2 LIMIT 1"))[0]
    out = _impossible_outputs(tmp_path, "pair.html")[0]
    assert cli("explain", "--config", config, "--store", linked_store, *pair,
               "--html", out) == 2
    assert len(capfd.readouterr().err.strip().splitlines()) == 1


def test_explain_html_into_a_folder_is_an_output_error_not_a_usage_error(linked_store,
                                                                         tmp_path):
    with open_store(linked_store, read_only=True) as store:
        pair = store.run_step("t", Step("pair", "SELECT record_key_l, record_key_r FROM "
                                        "pair_score ORDER BY 1, 2 LIMIT 1"))[0]
    assert cli("explain", "--config", ROOT / "configs" / "sample.yaml", "--store", linked_store,
               *pair, "--html", tmp_path) == 2


@pytest.mark.parametrize("where", ["missing.yaml", "."])
def test_a_missing_or_folder_noise_config_is_a_config_error(tmp_path, where):
    assert cli("synth", "--people", "5", "--out", tmp_path / "out",
               "--noise-config", tmp_path / where) == 2
