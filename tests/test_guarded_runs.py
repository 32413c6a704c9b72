"""Production runs on the sample: guarded and dry runs, returning records, full and delta
sources, and deletions that match nothing."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import duckdb
import pytest

from conftest import ROOT, SAMPLE_CONFIG, SAMPLE_DATA, cli
from linkage.errors import MassChangeError
from linkage.project import Project


def sample_config(folder: Path) -> Path:
    """A config over `folder`/sample_data with its store at `folder`/store.duckdb."""
    config = folder / "run.yaml"
    config.write_text(SAMPLE_CONFIG.read_text()
                      .replace("../sample_data", str(folder / "sample_data"))
                      .replace("../models", str(ROOT / "models"))
                      .replace("../out/sample.duckdb", str(folder / "store.duckdb")))
    return config


@pytest.fixture(scope="module")
def first_run(tmp_path_factory) -> Path:
    """A copy of the sample and its store after one run over it, made once per module."""
    folder = tmp_path_factory.mktemp("guarded")
    shutil.copytree(SAMPLE_DATA, folder / "sample_data")
    assert cli("-q", "run", "--config", sample_config(folder)) == 0
    return folder


@pytest.fixture
def linked(first_run, tmp_path) -> Path:
    """A private copy of the sample and of its store after one run: the config's path."""
    shutil.copytree(first_run / "sample_data", tmp_path / "sample_data")
    shutil.copy(first_run / "store.duckdb", tmp_path / "store.duckdb")
    return sample_config(tmp_path)


def with_source_setting(config: Path, source: str, setting: str) -> None:
    """Add `setting` (YAML `key: value`) to one source of the config."""
    marker = f"  - name: {source}\n"
    assert marker in config.read_text()
    config.write_text(config.read_text().replace(marker, f"{marker}    {setting}\n"))


def active(config: Path) -> dict[tuple[str, str], str]:
    with duckdb.connect(str(config.parent / "store.duckdb"), read_only=True) as con:
        return {(s, r): e for s, r, e in con.execute(
            "SELECT source_system, source_record_id, enterprise_id FROM crosswalk "
            "WHERE valid_to_run IS NULL").fetchall()}


def runs(config: Path) -> int:
    with duckdb.connect(str(config.parent / "store.duckdb"), read_only=True) as con:
        return con.execute("SELECT count(*) FROM run").fetchone()[0]


def rows(path: Path) -> tuple[list[str], list[list[str]]]:
    with path.open(newline="") as handle:
        reader = csv.reader(handle)
        return next(reader), list(reader)


def write(path: Path, header: list[str], body: list[list[str]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(body)


def calsaws_key(row: list[str]) -> str:
    return "-".join(row[:3])


def test_header_only_extract_is_refused_with_nothing_retired(linked, capfd):
    before = active(linked)
    persons = linked.parent / "sample_data" / "calsaws" / "persons.csv"
    header, _ = rows(persons)
    write(persons, header, [])
    assert cli("-q", "run", "--config", linked) == 5
    err = capfd.readouterr().err
    assert "mass change" in err and "calsaws" in err and "--allow-mass-change" in err
    assert active(linked) == before and runs(linked) == 1


def test_mass_change_allowed_knowingly_is_recorded_in_the_run(linked, capsys):
    persons = linked.parent / "sample_data" / "calsaws" / "persons.csv"
    header, body = rows(persons)
    write(persons, header, [])
    capsys.readouterr()
    assert cli("-q", "run", "--config", linked, "--allow-mass-change", "--json") == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["guard"]["allow_mass_change"] is True
    assert summary["guard"]["mass_changes"] and summary["crosswalk"]["records_removed"] == len(body)
    with duckdb.connect(str(linked.parent / "store.duckdb"), read_only=True) as con:
        recorded = json.loads(con.execute("SELECT summary FROM run WHERE run_id = 2").fetchone()[0])
    assert recorded["guard"]["allow_mass_change"] is True


def test_a_change_over_the_configured_share_is_refused(linked):
    text = linked.read_text()
    linked.write_text(text + "crosswalk:\n  max_change_share: 0.002\n")
    persons = linked.parent / "sample_data" / "calsaws" / "persons.csv"
    header, body = rows(persons)
    write(persons, header, body[20:])  # 20 of 5,058 records: 0.4%
    with pytest.raises(MassChangeError, match="remove 20 and move"):
        Project.open(linked).run()
    assert runs(linked) == 1


def test_dry_run_reports_the_diff_and_changes_nothing(linked, capsys):
    store = linked.parent / "store.duckdb"
    before = store.read_bytes()
    persons = linked.parent / "sample_data" / "calsaws" / "persons.csv"
    header, body = rows(persons)
    write(persons, header, body[20:])
    capsys.readouterr()
    assert cli("-q", "run", "--config", linked, "--dry-run", "--json") == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["dry_run"] is True and summary["run_id"] == 2
    assert summary["crosswalk"]["records_removed"] == 20
    assert summary["crosswalk"]["by_source"]["calsaws"] == {"removed": 20}
    assert store.read_bytes() == before
    assert cli("-q", "run", "--config", linked, "--dry-run") == 0
    out = capsys.readouterr().out
    assert out.startswith("dry run: nothing was committed") and "calsaws removed 20" in out


def test_dry_run_of_a_mass_change_says_a_real_run_would_be_refused(linked, capsys):
    persons = linked.parent / "sample_data" / "calsaws" / "persons.csv"
    header, _ = rows(persons)
    write(persons, header, [])
    capsys.readouterr()
    assert cli("-q", "run", "--config", linked, "--dry-run") == 0
    assert "a real run would be refused as a mass change" in capsys.readouterr().out
    assert runs(linked) == 1


def test_dry_run_before_the_first_run_creates_no_store(sample_copy, capsys):
    assert cli("-q", "run", "--config", sample_copy, "--dry-run") == 0
    assert "records: added 5058" in capsys.readouterr().out
    assert not (sample_copy.parent / "store.duckdb").exists()


def test_twenty_records_removed_and_restored_regain_their_eids(linked):
    before = active(linked)
    persons = linked.parent / "sample_data" / "calsaws" / "persons.csv"
    original = persons.read_bytes()
    header, body = rows(persons)
    removed = {("calsaws", calsaws_key(row)) for row in body[:20]}
    write(persons, header, body[20:])
    summary = Project.open(linked).run()
    assert summary.crosswalk.records_removed == 20 and not removed & set(active(linked))
    feed = Project.open(linked).changes(since=1)
    gone = feed[feed["event"] == "record_removed"]
    assert set(zip(gone["source_system"], gone["source_record_id"])) == removed
    assert all(gone["enterprise_id"] == [before[key] for key in zip(
        gone["source_system"], gone["source_record_id"])])
    persons.write_bytes(original)
    summary = Project.open(linked).run()
    assert summary.crosswalk.records_restored == 20 and summary.crosswalk.records_added == 0
    assert summary.crosswalk.eids_created == 0
    assert active(linked) == before
    with duckdb.connect(str(linked.parent / "store.duckdb"), read_only=True) as con:
        restored = con.execute("""
            SELECT source_record_id, enterprise_id, related_enterprise_id FROM crosswalk_event
            WHERE run_id = 3 AND event_type = 'record_restored'""").fetchall()
    assert {("calsaws", record) for record, _, _ in restored} == removed
    assert all(eid == old == before[("calsaws", record)] for record, eid, old in restored)


def test_a_full_run_after_deliveries_keeps_what_they_added(linked, tmp_path):
    patients = linked.parent / "sample_data" / "ehr" / "patients.csv"
    header, body = rows(patients)
    new = [list(row) for row in body[:3]]
    for number, row in enumerate(new):
        row[header.index("mrn")] = f"NEW{number:04d}"
    write(tmp_path / "delivery" / "patients.csv", header, new)
    assert cli("-q", "run", "--config", linked, "--delivery",
               f"ehr_csv={tmp_path / 'delivery' / 'patients.csv'}") == 0
    added = {("ehr_csv", row[header.index("mrn")]) for row in new}
    assert added <= set(active(linked))
    # The day-0 files are the source's last full snapshot still: nothing to land again.
    summary = Project.open(linked).run()
    assert all(source.unchanged for source in summary.sources)
    assert summary.crosswalk.records_removed == 0 and added <= set(active(linked))


def test_a_delta_source_in_a_full_run_adds_and_updates_but_removes_nothing(linked):
    with_source_setting(linked, "ehr_csv", "snapshot: delta")
    patients = linked.parent / "sample_data" / "ehr" / "patients.csv"
    header, body = rows(patients)
    kept = {("ehr_csv", row[header.index("mrn")]) for row in body}
    extra = list(body[0])
    extra[header.index("mrn")] = "NEW0001"
    write(patients, header, [extra])  # today's file holds one new patient only
    summary = Project.open(linked).run()
    ehr = next(source for source in summary.sources if source.source_system == "ehr_csv")
    assert ehr.snapshot == "delta" and ehr.rows_landed == 1
    assert summary.crosswalk.records_removed == 0
    assert kept | {("ehr_csv", "NEW0001")} <= set(active(linked))


def test_a_full_source_changed_after_deliveries_is_the_whole_source_again(linked, tmp_path):
    patients = linked.parent / "sample_data" / "ehr" / "patients.csv"
    header, body = rows(patients)
    extra = list(body[0])
    extra[header.index("mrn")] = "NEW0001"
    write(tmp_path / "delivery.csv", header, [extra])
    assert cli("-q", "run", "--config", linked, "--delivery",
               f"ehr_csv={tmp_path / 'delivery.csv'}") == 0
    write(patients, header, body[1:])  # a new full snapshot: one patient gone
    summary = Project.open(linked).run()
    assert summary.crosswalk.by_source["ehr_csv"] == {"removed": 2}
    assert ("ehr_csv", "NEW0001") not in active(linked)


def test_deletion_keys_that_match_nothing_are_counted_and_reported(linked, tmp_path, capsys):
    _, body = rows(linked.parent / "sample_data" / "calsaws" / "persons.csv")
    deleted = tmp_path / "deleted.csv"
    write(deleted, ["source_system", "source_record_id"],
          [["calsaws", calsaws_key(body[0])], ["calsaws", "99-0000000-00"],
           ["nosuch", "1"]])
    capsys.readouterr()
    assert cli("-q", "run", "--config", linked, "--deleted", deleted) == 0
    out = capsys.readouterr().out
    assert "deletions: 3 keys listed; 1 records deleted, 0 deleted before, 2 matching no record" \
        in out


def test_a_full_snapshot_passed_as_a_delivery_is_called_out(linked, tmp_path, capsys):
    patients = linked.parent / "sample_data" / "ehr" / "patients.csv"
    header, body = rows(patients)
    write(tmp_path / "snapshot.csv", header, body[5:])
    capsys.readouterr()
    assert cli("-q", "run", "--config", linked, "--delivery",
               f"ehr_csv={tmp_path / 'snapshot.csv'}") == 0
    out = capsys.readouterr().out
    assert f"{len(body) - 5} of its rows repeat records held unchanged" in out
    assert "records missing from them are not removed" in out
