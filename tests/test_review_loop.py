"""The review loop closes: decided pairs leave the review file, re-importing a decision
records nothing new, a changed one replaces it, and a revoked one stops being in force
while the audit trail keeps every row."""

from __future__ import annotations

import csv
import json

import duckdb
import pytest

from conftest import cli
from linkage.errors import LinkageError
from linkage.link.labels import REVIEWER_LABELS, load_labels
from linkage.review import Decision, decisions_in_force, record_decisions, revoke_decision
from linkage.store import SCHEMA_VERSION, migrate, open_store, schema_version
from linkage.store.schema import TABLES
from test_crosswalk_cli import run_json
from test_decisions import CHAIN, eid_of, load_run


@pytest.fixture
def store(tmp_path):
    with open_store(tmp_path / "store.duckdb", create=True) as store:
        yield store


def decision(a: str, b: str, word: str, reason: str = "seen") -> Decision:
    return Decision(f"src:{a}", f"src:{b}", word, "tester", reason)


def rows(store) -> int:
    return store.con.execute("SELECT count(*) FROM manual_decision").fetchall()[0][0]


def test_the_same_decision_again_in_either_order_is_not_a_new_decision(store):
    load_run(store, 1, ["a", "b", "c"], [])
    first = record_decisions(store, [decision("a", "b", "cannot_link"),
                                     decision("b", "c", "must_link")])
    assert (first.new, first.changed, first.unchanged) == (2, 0, 0)
    again = record_decisions(store, [decision("b", "a", "cannot_link", "other words"),
                                     decision("b", "c", "must_link")])
    assert (again.new, again.changed, again.unchanged) == (0, 0, 2)
    assert again.decision_ids == first.decision_ids and rows(store) == 2
    changed = record_decisions(store, [decision("a", "b", "must_link")])
    assert (changed.new, changed.changed, changed.unchanged) == (0, 1, 0)
    assert rows(store) == 3
    assert {(d["record_a"], d["decision"]) for d in decisions_in_force(store)} == {
        ("src:a", "must_link"), ("src:b", "must_link")}


def test_one_batch_deciding_a_pair_two_ways_is_refused(store):
    load_run(store, 1, ["a", "b"], [])
    with pytest.raises(LinkageError, match="disagree on one pair"):
        record_decisions(store, [decision("a", "b", "must_link"),
                                 decision("b", "a", "cannot_link")])
    assert rows(store) == 0
    once = record_decisions(store, [decision("a", "b", "must_link"),
                                    decision("b", "a", "must_link")])
    assert (once.new, rows(store)) == (1, 1)


def test_a_revoked_cannot_link_no_longer_splits_the_chain_and_leaves_its_trail(store):
    load_run(store, 1, *CHAIN)
    record_decisions(store, [decision("a", "d", "cannot_link")])
    load_run(store, 2, *CHAIN)
    assert eid_of(store, "a") != eid_of(store, "d")
    revoke_decision(store, "src:d", "src:a", "tester", "wrong pair")
    assert decisions_in_force(store) == []
    decisions, _ = load_run(store, 3, *CHAIN)
    assert decisions.decisions_in_force == 0
    assert eid_of(store, "a") == eid_of(store, "d")
    trail = store.con.execute("SELECT decision, applied_run FROM manual_decision "
                              "ORDER BY decision_id").fetchall()
    assert trail == [("cannot_link", 2), ("revoked", 3)]
    assert not store.con.execute("SELECT count(*) FROM crosswalk_event WHERE run_id = 3 "
                                 "AND decision_id IS NOT NULL").fetchall()[0][0]
    with pytest.raises(LinkageError, match="no decision in force"):
        revoke_decision(store, "src:a", "src:d", "tester", "again")
    # Deciding the pair afresh after a revoke is a new decision.
    assert record_decisions(store, [decision("a", "d", "cannot_link")]).new == 1


def test_revoked_pairs_are_not_reviewer_labels(store):
    load_run(store, 1, ["a", "b", "c"], [])
    record_decisions(store, [decision("a", "b", "cannot_link"), decision("a", "c", "must_link")])
    revoke_decision(store, "src:a", "src:b", "tester", "unsure")
    load_labels(store, REVIEWER_LABELS)
    assert store.con.execute("SELECT record_key_l, record_key_r, is_match FROM label_pair"
                             ).fetchall() == [("src:a", "src:c", 1)]


def test_a_version_3_store_migrates_keeping_its_decisions_and_accepts_revokes(tmp_path):
    path = tmp_path / "v3.duckdb"
    with open_store(path, create=True) as store:
        load_run(store, 1, ["a", "b"], [])
        old_table = TABLES["manual_decision"].replace(", 'revoked'", "")
        store.con.execute("DROP TABLE manual_decision")
        store.con.execute(old_table)
        store.con.execute("INSERT INTO manual_decision VALUES (1, now(), 'src:a', 'src:b', "
                          "'must_link', 'tester', 'old', 1)")
        store.con.execute("UPDATE store_meta SET value = '3' WHERE key = 'schema_version'")
        with pytest.raises(duckdb.ConstraintException):
            store.con.execute("INSERT INTO manual_decision VALUES (2, now(), 'src:a', 'src:b', "
                              "'revoked', 'tester', 'old', NULL)")
    with open_store(path, migrating=True) as store:
        assert migrate(store) == list(range(4, SCHEMA_VERSION + 1))
        assert schema_version(store) == SCHEMA_VERSION
        assert [d["reason"] for d in decisions_in_force(store)] == ["old"]
        revoke_decision(store, "src:a", "src:b", "tester", "undo")
        assert decisions_in_force(store) == []


def test_review_export_import_list_and_revoke_from_the_command_line(sample_copy, capsys,
                                                                   tmp_path):
    text = sample_copy.read_text().replace("match_threshold: auto",
                                           "match_threshold: auto\n  review_low: 0.5")
    sample_copy.write_text(text)
    run_json(sample_copy, capsys)
    review = tmp_path / "review.csv"
    assert cli("review", "export", "--config", sample_copy, "--out", review) == 0
    with review.open(newline="") as handle:
        exported = list(csv.DictReader(handle))
    assert len(exported) >= 3, "the sample has pairs in the review band"
    for row, word in zip(exported[:3], ("cannot_link", "must_link", "cannot_link")):
        row["decision"], row["reason"] = word, "checked"
    with review.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(exported[0]))
        writer.writeheader()
        writer.writerows(exported)
    capsys.readouterr()
    assert cli("review", "import", "--config", sample_copy, review) == 0
    assert "recorded 3 new, 0 changed, 0 unchanged" in capsys.readouterr().out
    assert cli("review", "import", "--config", sample_copy, review) == 0
    assert "recorded 0 new, 0 changed, 3 unchanged" in capsys.readouterr().out
    first = (exported[0]["record_key_l"], exported[0]["record_key_r"])

    run_json(sample_copy, capsys)
    again = tmp_path / "again.csv"
    assert cli("review", "export", "--config", sample_copy, "--out", again) == 0
    with again.open(newline="") as handle:
        left = {(r["record_key_l"], r["record_key_r"]) for r in csv.DictReader(handle)}
    assert first not in left, "a decided pair is not exported again"
    assert cli("review", "export", "--config", sample_copy, "--out", again,
               "--include-decided") == 0
    with again.open(newline="") as handle:
        shown = {(r["record_key_l"], r["record_key_r"]): r["decision"]
                 for r in csv.DictReader(handle)}
    assert shown[first] == "cannot_link"

    capsys.readouterr()
    assert cli("review", "list", "--config", sample_copy, "--json") == 0
    listed = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(listed) == 3 and all(row["applied_run"] == 2 for row in listed)
    assert {"record_a", "record_b", "decision", "reviewer", "reason", "decided_at"} <= \
        set(listed[0])
    # link/unlink take the same path: the decision in force again is no new row.
    assert cli("unlink", "--config", sample_copy, first[1], first[0], "--reason", "again") == 0
    assert "unchanged" in capsys.readouterr().out
    assert cli("review", "revoke", "--config", sample_copy, first[1], first[0],
               "--reason", "second look") == 0
    assert "revoked" in capsys.readouterr().out
    assert cli("review", "list", "--config", sample_copy, "--json") == 0
    assert len(capsys.readouterr().out.splitlines()) == 2
    assert cli("review", "revoke", "--config", sample_copy, first[0], first[1]) == 1
    assert "no decision in force" in capsys.readouterr().err
