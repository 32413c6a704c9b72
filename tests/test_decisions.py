"""Reviewer decisions hold in clustering, and the crosswalk invariants hold under any
sequence of clusterings and decisions (property-based)."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from linkage.crosswalk import assign_enterprise_ids, resolve_enterprise_id
from linkage.link import Clustering
from linkage.errors import LinkageError
from linkage.link.constraints import decisions_in_force, enforce_constraints
from linkage.review import Decision, record_decisions
from linkage.store import open_store

THRESHOLD = 0.9


def load_run(store, run_id: int, records: list[str], edges: list[tuple[str, str, float]]):
    """Person rows for `records`, scored pairs `edges`, clusters = connected components at
    THRESHOLD (what Splink computes), then decisions and EIDs as a real run does."""
    store.con.execute("DELETE FROM person")
    store.con.execute("DELETE FROM pair_score")
    for record in records:
        store.con.execute("INSERT INTO person (record_key, source_system, source_record_id, "
                          "run_id, is_deleted) VALUES (?, 'src', ?, ?, false)",
                          [f"src:{record}", record, run_id])
    for left, right, probability in edges:
        store.con.execute("INSERT INTO pair_score VALUES (?, ?, ?, 0, ?)",
                          [run_id, f"src:{left}", f"src:{right}", probability])
    parent = {record: record for record in records}

    def find(record):
        while parent[record] != record:
            record = parent[record]
        return record

    for left, right, probability in edges:
        if probability >= THRESHOLD:
            a, b = sorted((find(left), find(right)))
            parent[b] = a
    store.con.execute("CREATE OR REPLACE TEMP TABLE cluster_membership "
                      "(record_key VARCHAR, cluster_id VARCHAR)")
    for record in records:
        members = sorted(r for r in records if find(r) == find(record))
        store.con.execute("INSERT INTO cluster_membership VALUES (?, ?)",
                          [f"src:{record}", f"src:{members[0]}"])
    decisions = enforce_constraints(store, decisions_in_force(store), THRESHOLD)
    counts = assign_enterprise_ids(store, Clustering(), run_id)
    return decisions, counts


def eid_of(store, record: str) -> str:
    return store.con.execute("SELECT enterprise_id FROM crosswalk WHERE valid_to_run IS NULL "
                             "AND source_record_id = ?", [record]).fetchall()[0][0]


def decide(store, a: str, b: str, decision: str) -> None:
    record_decisions(store, [Decision(f"src:{a}", f"src:{b}", decision, "tester", "test")])


@pytest.fixture
def store(tmp_path):
    with open_store(tmp_path / "store.duckdb", create=True) as store:
        yield store


CHAIN = (["a", "b", "c", "d"], [("a", "b", 0.99), ("b", "c", 0.95), ("c", "d", 0.999)])


def test_cannot_link_splits_a_chain_at_its_weakest_link(store):
    load_run(store, 1, *CHAIN)
    assert len({eid_of(store, r) for r in "abcd"}) == 1
    decide(store, "a", "d", "cannot_link")
    decisions, _ = load_run(store, 2, *CHAIN)
    assert decisions.clusters_rebuilt == 1
    assert eid_of(store, "a") == eid_of(store, "b") != eid_of(store, "c") == eid_of(store, "d")


def test_must_link_joins_records_the_model_kept_apart(store):
    records, edges = ["a", "b", "c"], [("a", "b", 0.99), ("b", "c", 0.2)]
    load_run(store, 1, records, edges)
    assert eid_of(store, "a") != eid_of(store, "c")
    decide(store, "c", "a", "must_link")
    load_run(store, 2, records, edges)
    assert eid_of(store, "a") == eid_of(store, "b") == eid_of(store, "c")
    events = store.con.execute("SELECT event_type, decision_id FROM crosswalk_event "
                               "WHERE run_id = 2 AND decision_id IS NOT NULL").fetchall()
    assert events == [("manual_link", 1)]


def test_decisions_hold_in_every_later_run_until_replaced(store):
    load_run(store, 1, *CHAIN)
    decide(store, "b", "c", "cannot_link")
    for run_id in (2, 3, 4):
        load_run(store, run_id, *CHAIN)
        assert eid_of(store, "b") != eid_of(store, "c")
    decide(store, "b", "c", "must_link")
    load_run(store, 5, *CHAIN)
    assert eid_of(store, "b") == eid_of(store, "c")


def test_must_link_contradicting_a_cannot_link_is_counted_not_applied(store):
    records = ["a", "b", "c"]
    load_run(store, 1, records, [])
    decide(store, "a", "c", "cannot_link")
    decide(store, "a", "b", "must_link")
    decide(store, "b", "c", "must_link")
    decisions, _ = load_run(store, 2, records, [])
    assert decisions.decision_conflicts == 1
    assert eid_of(store, "a") != eid_of(store, "c")


def test_decisions_name_known_records_and_carry_a_reason(store):
    load_run(store, 1, ["a", "b"], [])
    with pytest.raises(LinkageError, match="record src:zz is not in the store"):
        decide(store, "a", "zz", "must_link")
    with pytest.raises(LinkageError, match="needs a reviewer and a reason"):
        record_decisions(store, [Decision("src:a", "src:b", "must_link", "tester", " ")])
    with pytest.raises(LinkageError, match="two different records"):
        decide(store, "a", "a", "must_link")


RECORDS = [f"r{i}" for i in range(8)]
PAIRS = list(itertools.combinations(RECORDS, 2))
runs = st.lists(st.tuples(
    st.lists(st.sampled_from(RECORDS), min_size=1, unique=True),  # records present this run
    st.lists(st.tuples(st.sampled_from(PAIRS), st.sampled_from([0.5, 0.95, 0.99])),
             max_size=12),
    st.lists(st.tuples(st.sampled_from(PAIRS), st.sampled_from(["must_link", "cannot_link"])),
             max_size=3),
), min_size=1, max_size=5)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(sequence=runs)
def test_crosswalk_invariants_hold_after_any_sequence_of_runs_and_decisions(tmp_path_factory,
                                                                            sequence):
    with open_store(tmp_path_factory.mktemp("prop") / "s.duckdb", create=True) as store:
        for run_id, (present, scored, decisions) in enumerate(sequence, start=1):
            for (a, b), decision in decisions:
                known = {row[0] for row in store.con.execute(
                    "SELECT source_record_id FROM person").fetchall()}
                if a in known and b in known:
                    decide(store, a, b, decision)
            edges = [(a, b, p) for (a, b), p in scored if a in present and b in present]
            before = dict(store.con.execute(
                "SELECT source_record_id, enterprise_id FROM crosswalk "
                "WHERE valid_to_run IS NULL").fetchall())
            load_run(store, run_id, present, edges)
            check_invariants(store, run_id, present, before)


def check_invariants(store, run_id: int, present: list[str], before: dict[str, str]) -> None:
    active = store.con.execute("""
        SELECT cw.source_record_id, count(*), bool_and(e.retired_run IS NULL)
        FROM crosswalk cw JOIN enterprise_id e USING (enterprise_id)
        WHERE cw.valid_to_run IS NULL GROUP BY 1""").fetchall()
    # 1. every active record has exactly one EID, and it is active
    assert sorted(r for r, _, _ in active) == sorted(present)
    assert all(n == 1 and ok for _, n, ok in active)
    # 3. every retired EID resolves to an active one (or to an EID left with no records)
    for (eid,) in store.con.execute("SELECT enterprise_id FROM enterprise_id "
                                    "WHERE merged_into IS NOT NULL").fetchall():
        resolved, is_active = resolve_enterprise_id(store, eid)
        assert is_active or not store.con.execute(
            "SELECT count(*) FROM crosswalk WHERE valid_to_run IS NULL AND enterprise_id = ?",
            [resolved]).fetchall()[0][0]
    # 4. each record whose EID changed has exactly one record event in this run
    now = dict(store.con.execute("SELECT source_record_id, enterprise_id FROM crosswalk "
                                 "WHERE valid_to_run IS NULL").fetchall())
    changed = {r for r in set(before) | set(now) if before.get(r) != now.get(r)}
    events = store.con.execute("""
        SELECT source_record_id, count(*) FROM crosswalk_event
        WHERE run_id = ? AND event_type LIKE 'record_%' GROUP BY 1""", [run_id]).fetchall()
    assert {r for r, _ in events} == changed and all(n == 1 for _, n in events)
    # 5. decisions in force hold
    for a, b, decision in store.con.execute("""
        SELECT record_key_a, record_key_b, decision FROM manual_decision
        QUALIFY row_number() OVER (PARTITION BY least(record_key_a, record_key_b),
            greatest(record_key_a, record_key_b) ORDER BY decision_id DESC) = 1""").fetchall():
        a, b = a.split(":")[1], b.split(":")[1]
        if a in now and b in now and decision == "cannot_link":
            assert now[a] != now[b]
    # 6. history: the crosswalk as of an earlier run is a function of the rows kept
    for earlier in range(1, run_id):
        rows = store.con.execute("""
            SELECT source_record_id, count(*) FROM crosswalk
            WHERE valid_from_run <= ? AND (valid_to_run IS NULL OR valid_to_run > ?)
            GROUP BY 1""", [earlier, earlier]).fetchall()
        assert all(n == 1 for _, n in rows)
