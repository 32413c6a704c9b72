"""The walking skeleton end to end on sample_data: every command, and what must hold."""

from __future__ import annotations

import csv
import json
import re
import subprocess
import sys
import textwrap

import duckdb
import pytest

from conftest import ROOT, SAMPLE_CONFIG, SAMPLE_DATA, cli
from linkage import Project


def crosswalk_rows(store) -> list[tuple]:
    with duckdb.connect(str(store), read_only=True) as con:
        return con.execute("SELECT source_system, source_record_id, enterprise_id, valid_from_run, "
                           "valid_to_run FROM crosswalk ORDER BY ALL").fetchall()


def test_rerun_on_same_inputs_keeps_every_eid_and_creates_none(sample_copy, capsys):
    assert cli("-q", "run", "--config", sample_copy, "--json") == 0
    first = json.loads(capsys.readouterr().out)
    store = sample_copy.parent / "store.duckdb"
    before = crosswalk_rows(store)
    assert cli("-q", "run", "--config", sample_copy, "--json") == 0
    second = json.loads(capsys.readouterr().out)
    assert crosswalk_rows(store) == before
    assert first["crosswalk"]["eids_created"] == second["crosswalk"]["eids_kept"] > 0
    changes = {key: value for key, value in second["crosswalk"].items()
               if key not in ("eids_active", "eids_kept", "records_before")}
    assert changes == {
        "eids_created": 0, "eids_retired": 0, "eids_split": 0, "eids_merged": 0,
        "eids_deactivated": 0, "eids_reactivated": 0, "records_added": 0,
        "records_restored": 0, "records_moved": 0, "records_removed": 0, "by_source": {}}
    assert second["crosswalk"]["records_before"] == len(before)
    with duckdb.connect(str(store), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM crosswalk_event WHERE run_id = 2").fetchall() == [(0,)]


def test_every_landed_record_has_one_active_eid(linked_store):
    rows = crosswalk_rows(linked_store)
    active = [(system, record) for system, record, _, _, valid_to in rows if valid_to is None]
    assert len(active) == len(set(active))
    with open(SAMPLE_DATA / "truth.csv", newline="") as handle:
        truth = {(row["source_system"], row["source_record_id"]) for row in csv.DictReader(handle)}
    assert set(active) == truth


def test_sample_cluster_f1_is_at_least_095(linked_store, capsys):
    assert cli("evaluate", "--config", SAMPLE_CONFIG, "--store", linked_store,
               "--truth", SAMPLE_DATA / "truth.csv", "--json") == 0
    metrics = json.loads(capsys.readouterr().out)
    assert metrics["records"] > 4000
    assert metrics["f1"] >= 0.95, metrics
    assert metrics["bcubed_f1"] >= 0.95, metrics


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_crosswalk_export_has_one_row_per_active_record(linked_store, tmp_path, suffix):
    out = tmp_path / f"crosswalk{suffix}"
    assert cli("crosswalk", "export", "--config", SAMPLE_CONFIG, "--store", linked_store,
               "--out", out) == 0
    reader = "read_csv" if suffix == ".csv" else "read_parquet"
    with duckdb.connect() as con:
        exported = con.execute(f"SELECT * FROM {reader}(?)", [str(out)])
        columns = [column[0] for column in exported.description]
        rows = exported.fetchall()
    assert columns[:3] == ["enterprise_id", "source_system", "source_record_id"]
    active = [row for row in crosswalk_rows(linked_store) if row[4] is None]
    assert len(rows) == len(active)
    assert out.stat().st_mode & 0o077 == 0


def test_export_refuses_an_unknown_format(linked_store, tmp_path, capsys):
    assert cli("crosswalk", "export", "--config", SAMPLE_CONFIG, "--store", linked_store,
               "--out", tmp_path / "x.xlsx") == 1
    assert "use a .csv or .parquet" in capsys.readouterr().err


def test_eids_are_opaque(linked_store):
    for system, record, eid, _, _ in crosswalk_rows(linked_store):
        assert re.fullmatch(r"E[0-9A-F]{16}", eid)
        assert record not in eid


def run_and_capture(config, capfd) -> tuple[int, str]:
    code = cli("run", "--config", config)
    captured = capfd.readouterr()
    return code, captured.out + captured.err


def test_run_output_has_counts_but_no_personal_data(sample_copy, capfd):
    code, output = run_and_capture(sample_copy, capfd)
    assert code == 0
    assert "enterprise IDs" in output and "pairs scored" in output and "seconds" in output
    with open(SAMPLE_DATA / "calsaws" / "persons.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    words = set(re.findall(r"[A-Za-z]{3,}", output.upper()))
    surnames = {row["last_name"].upper() for row in rows}
    assert not words & surnames, words & surnames
    assert not re.search(r"\d{4}-\d{2}-\d{2}|\d{3}-\d{2}-\d{4}|\b\d{9}\b", output)


def store_state(store) -> list:
    with duckdb.connect(str(store), read_only=True) as con:
        return [con.execute(f"SELECT * FROM {table} ORDER BY ALL").fetchall()
                for table in ("run", "source_record", "person", "crosswalk", "enterprise_id")]


@pytest.mark.parametrize("damage, expected", [
    (lambda data: (data / "calsaws" / "persons.csv").unlink(),
     r"calsaws/persons.csv: file not found"),
    (lambda data: (data / "hmis" / "Enrollment.csv").unlink(),
     r"hmis/Enrollment.csv: file not found"),
    (lambda data: (data / "ehr" / "patients.csv").write_text(
        (data / "ehr" / "patients.csv").read_text().replace("mrn", "record", 1)),
     r"ehr/patients.csv: missing required column 'mrn'"),
    (lambda data: (data / "hmis" / "Client.csv").write_text(
        (data / "hmis" / "Client.csv").read_text().replace("PersonalID", "ClientID", 1)),
     r"hmis/Client.csv: missing required column 'PersonalID'"),
    (lambda data: (data / "ehr" / "patients.ndjson").write_text(
        (data / "ehr" / "patients.ndjson").read_text() + '{"resourceType": "Observation"}\n'),
     r"ehr/patients.ndjson: line \d+ is an Observation resource; expected NDJSON"),
    (lambda data: (data / "ehr" / "patients.ndjson").write_text(
        '{"resourceType": "Bundle", "type": "collection", "entry": '
        '[{"resource": {"resourceType": "Observation"}}]}\n'),
     r"ehr/patients.ndjson: a FHIR Bundle without Patient entries; expected NDJSON"),
])
def test_bad_input_stops_the_run_before_the_store_changes(sample_copy, capfd, damage, expected):
    code, _ = run_and_capture(sample_copy, capfd)
    assert code == 0
    store = sample_copy.parent / "store.duckdb"
    before = store_state(store)
    damage(sample_copy.parent / "sample_data")
    code, output = run_and_capture(sample_copy, capfd)
    assert code == 2
    error_lines = [line for line in output.splitlines() if line.startswith("error:")]
    assert len(error_lines) == 1 and re.search(expected, error_lines[0]), output
    assert "Traceback" not in output
    assert store_state(store) == before


def test_a_failure_inside_the_run_leaves_the_previous_crosswalk_intact(sample_copy, monkeypatch):
    project = Project.open(sample_copy)
    project.run()
    store = sample_copy.parent / "store.duckdb"
    before = store_state(store)

    def crash(*args, **kwargs):
        raise RuntimeError("simulated crash in the crosswalk stage")

    monkeypatch.setattr("linkage.project.assign_enterprise_ids", crash)
    with pytest.raises(RuntimeError):
        project.run()
    assert store_state(store) == before


def test_record_deleted_upstream_becomes_inactive_with_its_history_kept(sample_copy):
    Project.open(sample_copy).run()
    client = sample_copy.parent / "sample_data" / "hmis" / "Client.csv"
    lines = client.read_text().splitlines(keepends=True)
    header = lines[0].rstrip("\n").split(",")
    row = lines[1].rstrip("\n").split(",")
    row[header.index("DateDeleted")] = "2025-08-01 00:00:00"
    lines[1] = ",".join(row) + "\n"
    client.write_text("".join(lines))
    summary = Project.open(sample_copy).run()
    assert summary.crosswalk.records_removed == 1
    with duckdb.connect(str(sample_copy.parent / "store.duckdb"), read_only=True) as con:
        history = con.execute("SELECT valid_from_run, valid_to_run FROM crosswalk "
                              "WHERE source_system = 'hmis' AND source_record_id = ?",
                              [row[0]]).fetchall()
        event = con.execute("SELECT event_type FROM crosswalk_event WHERE run_id = 2 "
                            "AND source_record_id = ?", [row[0]]).fetchall()
    assert history == [(1, 2)]
    assert event == [("record_removed",)]


def test_a_second_run_on_a_busy_store_fails_fast(sample_copy, capfd):
    assert cli("-q", "run", "--config", sample_copy) == 0
    store = sample_copy.parent / "store.duckdb"
    holder = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import duckdb, sys, time
        con = duckdb.connect({str(store)!r})
        print("holding", flush=True)
        time.sleep(60)
    """)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "holding"
        code, output = run_and_capture(sample_copy, capfd)
    finally:
        holder.kill()
        holder.wait()
    assert code == 4
    assert "in use by another linkage process" in output


def test_synth_same_seed_gives_identical_files(tmp_path, capsys):
    for name in ("a", "b"):
        assert cli("synth", "--people", "200", "--seed", "5", "--out", tmp_path / name) == 0
    files = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*") if p.is_file())
    assert files
    for path in files:
        assert (tmp_path / "a" / path).read_bytes() == (tmp_path / "b" / path).read_bytes()


def test_sample_data_is_the_synth_output_for_its_documented_seed(tmp_path):
    assert cli("synth", "--people", "3000", "--seed", "1", "--out", tmp_path) == 0
    for path in SAMPLE_DATA.rglob("*"):
        if path.is_file():
            assert (tmp_path / path.relative_to(SAMPLE_DATA)).read_bytes() == path.read_bytes(), path


def test_train_writes_a_model_and_card_the_run_can_use(tmp_path, capsys):
    data = tmp_path / "population"
    assert cli("synth", "--people", "1500", "--seed", "11", "--out", data) == 0
    config = tmp_path / "train.yaml"
    config.write_text((ROOT / "configs" / "train.yaml").read_text()
                      .replace("../build/train_population", str(data))
                      .replace("../out/train.duckdb", str(tmp_path / "store.duckdb"))
                      .replace("../models/default.json", str(tmp_path / "model.json"))
                      .replace("max_pairs_u: 5000000", "max_pairs_u: 200000"))
    assert cli("-q", "train", "--config", config, "--out", tmp_path / "model.json") == 0
    card = json.loads((tmp_path / "model.card.json").read_text())
    assert card["trained_on"]["records"] > 1500
    assert card["training"]["seed"] == 42 and card["settings_fingerprint"]
    # Measured on a population the model never saw, linked end to end.
    held_back = card["held_back_accuracy"]
    assert held_back["seed"] != 11 and held_back["true_persons"] == 3000
    assert held_back["f1"] > 0.8 and held_back["bcubed_f1"] > 0.8
    assert cli("-q", "run", "--config", config) == 0
    assert cli("evaluate", "--config", config, "--truth", data / "truth.csv", "--json") == 0
    assert json.loads(capsys.readouterr().out.splitlines()[-1])["f1"] > 0.8


@pytest.mark.parametrize("command", [
    [], ["run"], ["train"], ["synth"], ["evaluate"], ["crosswalk"], ["crosswalk", "export"],
    ["standardize"], ["rejects"], ["resolve"], ["history"], ["link"], ["unlink"], ["review"],
    ["review", "export"], ["review", "import"], ["migrate"], ["explain"]])
def test_every_command_has_help(command, capsys):
    assert cli(*command, "--help") == 0
    assert "Usage:" in capsys.readouterr().out


def test_missing_model_is_a_clear_error(sample_copy, capfd):
    sample_copy.write_text(sample_copy.read_text().replace("default.json", "absent.json"))
    code, output = run_and_capture(sample_copy, capfd)
    assert code == 2 and "absent.json: model file not found" in output


def test_commands_reading_the_store_say_when_there_is_none(tmp_path, capsys):
    assert cli("crosswalk", "export", "--config", SAMPLE_CONFIG, "--store",
               tmp_path / "none.duckdb", "--out", tmp_path / "x.csv") == 3
    assert "store not found" in capsys.readouterr().err


def test_engine_connections_draw_no_progress_bar_on_stdout(tmp_path):
    # stdout carries the summary and --json; DuckDB's bar for long queries would corrupt it.
    from linkage.store import open_store

    with open_store(tmp_path / "s.duckdb", create=True) as store:
        assert store.con.execute(
            "SELECT current_setting('enable_progress_bar')").fetchall() == [(False,)]


def test_standardize_writes_the_canonical_table_without_touching_the_store(sample_copy, tmp_path,
                                                                           capfd):
    out = tmp_path / "person.parquet"
    assert cli("standardize", "--config", sample_copy, "--out", out) == 0
    output = "".join(capfd.readouterr())
    with duckdb.connect() as con:
        rows = con.execute("SELECT count(*), count(DISTINCT record_key) FROM read_parquet(?)",
                           [str(out)]).fetchall()[0]
    with open(SAMPLE_DATA / "truth.csv") as handle:
        records = sum(1 for _ in handle) - 1
    assert rows == (records, records)
    assert out.stat().st_mode & 0o077 == 0
    assert not (sample_copy.parent / "store.duckdb").exists()
    assert f"wrote {records} standardized records" in output
