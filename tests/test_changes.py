"""What downstream systems read: the change feed since a run, the run list, EIDs resolved in
bulk, and an EID's history told from its own side."""

from __future__ import annotations

import csv
import json

import pandas as pd
import pytest

from conftest import cli
from linkage.crosswalk import changes, history, resolve_enterprise_ids, runs
from linkage.errors import LinkageError
from linkage.project import Project
from linkage.store import open_store
from test_crosswalk_cli import active, run_json, two_eids
from test_decisions import eid_of, load_run


@pytest.fixture
def store(tmp_path):
    with open_store(tmp_path / "store.duckdb", create=True) as store:
        yield store


def record_run(store, run_id: int, summary: dict | None = None) -> None:
    store.con.execute("INSERT INTO run VALUES (?, TIMESTAMP '2030-01-01 00:00:00' + "
                      "to_minutes(?), TIMESTAMP '2030-01-01 00:05:00' + to_minutes(?), "
                      "'cfg', 'model.json', 'fp', ?)",
                      [run_id, run_id * 10, run_id * 10, json.dumps(summary or {})])


def test_successors_follow_merges_to_the_active_eid_and_are_null_when_deactivated(store):
    load_run(store, 1, ["a", "b", "c", "d"], [])
    record_run(store, 1)
    first = {r: eid_of(store, r) for r in "abcd"}
    load_run(store, 2, ["a", "b", "c"], [("a", "b", 0.99)])  # d removed upstream
    record_run(store, 2)
    load_run(store, 3, ["a", "b", "c"], [("a", "b", 0.99), ("b", "c", 0.99)])
    record_run(store, 3)
    survivor = eid_of(store, "a")
    assert eid_of(store, "c") == survivor

    feed = changes(store, 1)
    assert set(feed["run_id"]) == {2, 3}
    by_event = feed.groupby("event")
    merged = by_event.get_group("merged")
    assert set(merged["successor"]) == {survivor}  # a chain of merges ends in the survivor
    deactivated = by_event.get_group("deactivated")
    assert list(deactivated["enterprise_id"]) == [first["d"]]
    assert deactivated["successor"].isna().all()
    removed = by_event.get_group("record_removed")
    assert list(removed["source_record_id"]) == ["d"] and removed["successor"].isna().all()
    assert (feed["run_finished_at"] == pd.Timestamp("2030-01-01 00:25:00"))[
        feed["run_id"] == 2].all()
    everything = changes(store, 0)
    assert len(everything[everything["event"] == "created"]) == 4
    assert changes(store, 3).empty
    with pytest.raises(LinkageError, match="run 7 is not in the store"):
        changes(store, 7)


def test_resolving_many_eids_gives_each_its_status_in_the_order_given(store):
    load_run(store, 1, ["a", "b", "c"], [])
    first = {r: eid_of(store, r) for r in "abc"}
    load_run(store, 2, ["a", "b"], [("a", "b", 0.99)])
    kept = eid_of(store, "a")
    merged = first["b"] if kept == first["a"] else first["a"]
    asked = ["E-nope", first["c"], merged, kept, kept]
    resolved = resolve_enterprise_ids(store, asked)
    assert list(resolved["enterprise_id"]) == asked
    assert list(resolved["status"]) == ["unknown", "deactivated", "merged", "active", "active"]
    assert list(resolved["resolved_enterprise_id"][2:]) == [kept, kept, kept]
    assert list(resolved["active"]) == [False, False, True, True, True]


def test_history_says_where_records_came_from_and_went_to(store):
    load_run(store, 1, ["a", "b", "c"], [("a", "b", 0.99), ("b", "c", 0.99)])
    record_run(store, 1)
    whole = eid_of(store, "a")
    load_run(store, 2, ["a", "b", "c"], [("a", "b", 0.99)])  # c splits off
    record_run(store, 2)
    split_eid = eid_of(store, "c")
    new_side = history(store, split_eid)["events"]
    split = next(e for e in new_side if e["event_type"] == "split")
    assert split["from_enterprise_id"] == whole and split["to_enterprise_id"] is None
    moved_in = next(e for e in new_side if e["event_type"] == "record_moved")
    assert (moved_in["from_enterprise_id"], moved_in["to_enterprise_id"]) == (whole, None)
    assert moved_in["run_finished_at"] == "2030-01-01 00:25:00"
    old_side = history(store, whole)["events"]
    moved_out = next(e for e in old_side if e["event_type"] == "record_moved")
    assert (moved_out["from_enterprise_id"], moved_out["to_enterprise_id"]) == (None, split_eid)
    assert next(e for e in old_side if e["event_type"] == "split")["to_enterprise_id"] == \
        split_eid


def test_run_summaries_are_read_defensively(store):
    record_run(store, 1, {"sources": [{"rows_landed": 5, "rows_rejected": 1},
                                      {"rows_landed": 2, "rows_rejected": 0}],
                          "link": {"pairs_scored": 40, "pairs_kept": 3},
                          "crosswalk": {"eids_created": 4, "records_added": 7}})
    record_run(store, 2, {"kind": "delivery", "sources": "odd", "mass_change_allowed": True,
                          "crosswalk": {"eids_created": "many", "eids_retired": 1}})
    listed = runs(store)
    first, second = listed.iloc[0], listed.iloc[1]
    assert (first["kind"], first["records_landed"], first["records_rejected"],
            first["eids_created"], first["records_added"]) == ("full", 7, 1, 4, 7)
    assert pd.isna(first["records_moved"])
    assert second["kind"] == "delivery" and second["eids_retired"] == 1
    assert pd.isna(second["eids_created"]) and pd.isna(second["records_landed"])


def test_change_feed_runs_resolve_and_history_from_the_command_line(sample_copy, capsys,
                                                                    tmp_path):
    store = sample_copy.parent / "store.duckdb"
    run_json(sample_copy, capsys)
    a, b = two_eids(store)
    before = active(store)
    assert cli("link", "--config", sample_copy, ":".join(a), ":".join(b), "--reason", "x") == 0
    run_json(sample_copy, capsys)
    survivor = active(store)[a]
    retired = before[b] if survivor == before[a] else before[a]

    capsys.readouterr()
    assert cli("crosswalk", "changes", "--config", sample_copy, "--since", "1", "--json") == 0
    feed = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert {row["run_id"] for row in feed} == {2}
    assert {row["event"] for row in feed} >= {"merged", "record_moved", "manual_link"}
    merged = next(row for row in feed if row["event"] == "merged")
    assert (merged["enterprise_id"], merged["successor"]) == (retired, survivor)
    assert all(row["source_record_id"] for row in feed if row["event"] == "record_moved")
    for name in ("feed.csv", "feed.parquet"):
        out = tmp_path / name
        assert cli("crosswalk", "changes", "--config", sample_copy, "--since", "0",
                   "--out", out) == 0
        assert out.stat().st_mode & 0o777 == 0o600
        written = pd.read_csv(out) if name.endswith(".csv") else pd.read_parquet(out)
        assert len(written) == len(Project.open(sample_copy).changes(0)) > len(feed)
    capsys.readouterr()
    assert cli("crosswalk", "changes", "--config", sample_copy, "--since", "9") == 1
    assert "run 9 is not in the store" in capsys.readouterr().err
    assert cli("crosswalk", "changes", "--config", sample_copy, "--since", "2") == 0
    assert "no changes after run 2" in capsys.readouterr().out

    assert cli("runs", "--config", sample_copy, "--json") == 0
    listed = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [row["run_id"] for row in listed] == [1, 2]
    assert listed[0]["kind"] == "full" and listed[0]["eids_created"] == len(set(before.values()))
    assert listed[1]["eids_retired"] == 1 and listed[1]["finished_at"]

    eids = tmp_path / "eids.csv"
    eids.write_text(f"enterprise_id,note\n{survivor},x\n{retired},y\nE9999999999,z\n")
    out = tmp_path / "resolved.csv"
    assert cli("resolve", "--config", sample_copy, "--in", eids, "--out", out) == 0
    assert out.stat().st_mode & 0o777 == 0o600
    with out.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [(r["enterprise_id"], r["resolved_enterprise_id"], r["status"]) for r in rows] == [
        (survivor, survivor, "active"), (retired, survivor, "merged"),
        ("E9999999999", "", "unknown")]
    plain = tmp_path / "eids.txt"
    plain.write_text(f"{retired}\n\n{survivor}\n")
    capsys.readouterr()
    assert cli("resolve", "--config", sample_copy, "--in", plain, "--json") == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [line["resolved_enterprise_id"] for line in lines] == [survivor, survivor]
    assert cli("resolve", "--config", sample_copy, retired) == 0
    assert capsys.readouterr().out.strip() == survivor

    assert cli("history", "--config", sample_copy, retired) == 0
    assert f"merged into {survivor}" in capsys.readouterr().out
    assert cli("history", "--config", sample_copy, survivor) == 0
    text = capsys.readouterr().out
    assert f"absorbed {retired}" in text and f"from {retired} to {survivor}" in text
