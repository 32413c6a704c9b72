"""The crosswalk's commands on the sample: history, resolve, as-of exports, review files,
manual decisions, and migrating an older store."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import duckdb
import pytest

from conftest import cli
from linkage.crosswalk.labels import KEY_ENV
from linkage.errors import LinkageError
from linkage.project import Project


def run_json(config, capsys) -> dict:
    capsys.readouterr()
    assert cli("-q", "run", "--config", config, "--json") == 0
    return json.loads(capsys.readouterr().out)


def active(store) -> dict[tuple[str, str], str]:
    with duckdb.connect(str(store), read_only=True) as con:
        return {(s, r): e for s, r, e in con.execute(
            "SELECT source_system, source_record_id, enterprise_id FROM crosswalk "
            "WHERE valid_to_run IS NULL").fetchall()}


def two_eids(store) -> tuple[tuple[str, str], tuple[str, str]]:
    """Two records of two different EIDs (the first two EIDs issued)."""
    crosswalk = active(store)
    by_eid: dict[str, tuple[str, str]] = {}
    for key, eid in sorted(crosswalk.items(), key=lambda item: item[1]):
        by_eid.setdefault(eid, key)
    first, second = list(by_eid.values())[:2]
    return first, second


def test_link_then_unlink_merge_and_split_with_events_history_and_resolve(sample_copy, capsys):
    store = sample_copy.parent / "store.duckdb"
    run_json(sample_copy, capsys)
    a, b = two_eids(store)
    eid_a, eid_b = active(store)[a], active(store)[b]
    key_a, key_b = ":".join(a), ":".join(b)
    assert cli("link", "--config", sample_copy, key_a, key_b, "--reason", "same person",
               "--reviewer", "analyst") == 0
    summary = run_json(sample_copy, capsys)
    assert summary["crosswalk"]["eids_retired"] == 1
    survivor = active(store)[a]
    assert active(store)[b] == survivor and survivor in (eid_a, eid_b)
    retired = eid_b if survivor == eid_a else eid_a
    capsys.readouterr()
    assert cli("resolve", "--config", sample_copy, retired) == 0
    assert capsys.readouterr().out.strip() == survivor
    assert cli("history", "--config", sample_copy, retired, "--json") == 0
    lineage = json.loads(capsys.readouterr().out)
    assert lineage["merged_into"] == survivor and lineage["retired_run"] == 2
    assert "merged" in {event["event_type"] for event in lineage["events"]}
    assert cli("history", "--config", sample_copy, survivor, "--json") == 0
    kept = json.loads(capsys.readouterr().out)
    assert {"manual_link", "record_moved"} <= {e["event_type"] for e in kept["events"]}

    assert cli("unlink", "--config", sample_copy, key_a, key_b, "--reason", "twins") == 0
    run_json(sample_copy, capsys)
    assert active(store)[a] != active(store)[b]
    assert cli("history", "--config", sample_copy, survivor) == 0
    text = capsys.readouterr().out
    assert re.search(r"run 3 \([-0-9: .]+\): manual_unlink", text) and "created in run 1" in text


def test_export_as_of_gives_the_crosswalk_of_a_past_run(sample_copy, capsys, tmp_path):
    store = sample_copy.parent / "store.duckdb"
    run_json(sample_copy, capsys)
    first = active(store)
    a, b = two_eids(store)
    assert cli("link", "--config", sample_copy, ":".join(a), ":".join(b), "--reason", "x") == 0
    run_json(sample_copy, capsys)
    out = tmp_path / "as_of_1.csv"
    assert cli("crosswalk", "export", "--config", sample_copy, "--as-of", "1", "--out", out) == 0
    with out.open(newline="") as handle:
        exported = {(r["source_system"], r["source_record_id"]): r["enterprise_id"]
                    for r in csv.DictReader(handle)}
    assert exported == first != active(store)
    assert cli("crosswalk", "export", "--config", sample_copy, "--as-of", "9",
               "--out", out) == 1
    # The same from the API, as frames: as of run 1, and now.
    project = Project.open(sample_copy)
    as_frame = project.crosswalk(as_of=1)
    assert dict(zip(zip(as_frame.source_system, as_frame.source_record_id),
                    as_frame.enterprise_id)) == first
    now = project.crosswalk()
    assert dict(zip(zip(now.source_system, now.source_record_id), now.enterprise_id)) == \
        active(store)
    with pytest.raises(LinkageError, match="run 9 is not in the store"):
        project.crosswalk(as_of=9)


def test_no_command_shows_the_key_eid_labels_are_made_under(sample_copy, capsys, caplog,
                                                             tmp_path, monkeypatch):
    monkeypatch.delenv(KEY_ENV, raising=False)
    store = sample_copy.parent / "store.duckdb"
    capsys.readouterr()
    assert cli("--debug", "run", "--config", sample_copy, "--json") == 0
    shown = [capsys.readouterr()]
    with duckdb.connect(str(store), read_only=True) as con:
        (key,), = con.execute("SELECT value FROM store_meta WHERE key = 'eid_key'").fetchall()
    eid = next(iter(active(store).values()))
    files = [tmp_path / "crosswalk.csv", tmp_path / "crosswalk.parquet", tmp_path / "changes.csv"]
    for command in (["runs"], ["runs", "--json"], ["crosswalk", "export", "--out", files[0]],
                    ["crosswalk", "export", "--out", files[1]],
                    ["crosswalk", "changes", "--since", "0", "--json"],
                    ["crosswalk", "changes", "--since", "0", "--out", files[2]],
                    ["history", eid, "--json"], ["resolve", eid]):
        assert cli(*command, "--config", sample_copy) == 0, command
        shown.append(capsys.readouterr())
    text = "".join(out + err for out, err in shown) + caplog.text
    written = b"".join(file.read_bytes() for file in files)
    assert eid in text and eid.encode() in written
    for form in (key.lower(), key.upper()):
        assert form not in text and form.encode() not in written
    assert bytes.fromhex(key) not in written


def test_review_export_and_import_round_trip(sample_copy, capsys, tmp_path):
    store = sample_copy.parent / "store.duckdb"
    text = sample_copy.read_text().replace("match_threshold: auto",
                                           "match_threshold: auto\n  review_low: 0.5")
    sample_copy.write_text(text)
    run_json(sample_copy, capsys)
    review = tmp_path / "review.csv"
    assert cli("review", "export", "--config", sample_copy, "--out", review) == 0
    assert cli("review", "export", "--config", sample_copy, "--out", tmp_path / "r.html") == 0
    assert "<table>" in (tmp_path / "r.html").read_text()
    assert review.stat().st_mode & 0o077 == 0
    with review.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert rows, "the sample has pairs in the review band"
    assert all(0.5 <= float(row["match_probability"]) < 0.99 for row in rows)
    rows[0]["decision"], rows[0]["reason"] = "cannot_link", "different DOB on ID card"
    with review.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    capsys.readouterr()
    assert cli("review", "import", "--config", sample_copy, review, "--reviewer", "rev") == 0
    assert "recorded 1 new, 0 changed, 0 unchanged" in capsys.readouterr().out
    run_json(sample_copy, capsys)
    left = tuple(rows[0]["record_key_l"].split(":", 1))
    right = tuple(rows[0]["record_key_r"].split(":", 1))
    assert active(store)[left] != active(store)[right]


def test_an_older_store_is_refused_then_migrated_keeping_every_eid(sample_copy, capsys):
    store = sample_copy.parent / "store.duckdb"
    run_json(sample_copy, capsys)
    before = active(store)
    old = sample_copy.parent / "old.duckdb"
    schema_v1 = (Path(__file__).parent / "data" / "schema_v1.sql").read_text()
    with duckdb.connect(str(old)) as con:
        con.execute(schema_v1)
        con.execute(f"ATTACH '{store}' AS current (READ_ONLY)")
        for table in ("run", "enterprise_id", "crosswalk"):
            con.execute(f"INSERT INTO {table} SELECT * FROM current.{table}")
        con.execute("INSERT INTO crosswalk_event SELECT * EXCLUDE (decision_id) "
                    "FROM current.crosswalk_event")
    capsys.readouterr()
    assert cli("-q", "run", "--config", sample_copy, "--store", old) == 3
    assert "run `linkage migrate" in capsys.readouterr().err
    assert cli("migrate", "--config", sample_copy, "--store", old) == 0
    assert "migrated store to schema version 2" in capsys.readouterr().out
    assert cli("-q", "run", "--config", sample_copy, "--store", old, "--json") == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["crosswalk"]["eids_created"] == 0 and summary["crosswalk"]["eids_retired"] == 0
    assert active(old) == before
    assert cli("migrate", "--config", sample_copy, "--store", old) == 0
    assert "store is up to date" in capsys.readouterr().out


def test_a_version_4_store_gains_the_nickname_forms_of_its_kept_records(sample_copy, capsys):
    store = sample_copy.parent / "store.duckdb"
    run_json(sample_copy, capsys)
    with duckdb.connect(str(store)) as con:
        con.execute("ALTER TABLE person DROP COLUMN first_name_forms")
        con.execute("UPDATE store_meta SET value = '4' WHERE key = 'schema_version'")
    capsys.readouterr()
    assert cli("migrate", "--config", sample_copy) == 0
    with duckdb.connect(str(store), read_only=True) as con:
        # Until the next full run, a kept record compares by its name and canonical form.
        missing, = con.execute("SELECT count(*) FROM person WHERE first_name IS NOT NULL AND "
                               "NOT list_contains(first_name_forms, first_name)").fetchone()
        canonical, = con.execute("SELECT count(*) FROM person WHERE first_name_canonical <> "
                                 "first_name AND list_contains(first_name_forms, "
                                 "first_name_canonical)").fetchone()
    assert missing == 0 and canonical > 0


def test_a_feed_written_as_csv_shows_formulas_as_text(tmp_path):
    # A record id that a spreadsheet would run (=HYPERLINK, +, -, @) gets an apostrophe
    # first in CSV; Parquet and other cells keep their values.
    import pandas as pd

    from linkage.export.frames import write_frame

    frame = pd.DataFrame({"source_record_id": ['=HYPERLINK("http://x","y")', "@SUM(1)", "A-1", None],
                          "run_id": [1, -2, 3, 4]})
    write_frame(frame, tmp_path / "feed.csv")
    write_frame(frame, tmp_path / "feed.parquet")
    with open(tmp_path / "feed.csv", newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))[1:]
    assert rows == [["'=HYPERLINK(\"http://x\",\"y\")", "1"], ["'@SUM(1)", "-2"], ["A-1", "3"],
                    ["", "4"]]
    assert pd.read_parquet(tmp_path / "feed.parquet").equals(frame)
