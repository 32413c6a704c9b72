"""Clusters publish people, not chains: cannot-link evidence, sparse and oversized clusters,
the threshold sweep and the model card's held-back accuracy. The constraint tests are written
against the Store interface and run on DuckDB and (pytest -m spark) on Spark."""

from __future__ import annotations

import csv
import datetime as dt
import json

import pyarrow as pa
import pytest

from conftest import SAMPLE_CONFIG, SAMPLE_DATA, cli, query
from linkage.config import LinkingConfig
from linkage.link.cluster_quality import shape_clusters
from linkage.link.constraints import decisions_in_force, enforce_constraints
from linkage.project import Project
from linkage.review import Decision, record_decisions
from linkage.store import Step, open_store

THRESHOLD = 0.9


@pytest.fixture
def store(engine_store):
    return engine_store


def load(store, records: dict[str, dict], edges: list[tuple[str, str, float]]) -> None:
    """Person rows (record -> fields) and scored pairs; one cluster per connected
    component at THRESHOLD, as Splink gives before the constraints."""
    keys = list(records)
    people = pa.table({
        "record_key": pa.array(keys, pa.string()),
        "source_system": pa.array([records[k].get("source", "src") for k in keys], pa.string()),
        "dob": pa.array([records[k].get("dob") for k in keys], pa.date32()),
        "ssn": pa.array([records[k].get("ssn") for k in keys], pa.string()),
        "name_suffix": pa.array([records[k].get("suffix") for k in keys], pa.string()),
        "household_id": pa.array([records[k].get("household") for k in keys], pa.string())})
    pairs = pa.table({
        "record_key_l": pa.array([left for left, _, _ in edges], pa.string()),
        "record_key_r": pa.array([right for _, right, _ in edges], pa.string()),
        "match_probability": pa.array([p for _, _, p in edges], pa.float64())})
    with store.registered("test_person", people), store.registered("test_pair", pairs):
        store.run_steps("test", [
            Step("clear_person", "DELETE FROM person"),
            Step("clear_pairs", "DELETE FROM pair_score"),
            Step("person", "INSERT INTO person (record_key, source_system, source_record_id, "
                 "run_id, is_deleted, dob, ssn, name_suffix, household_id) SELECT record_key, "
                 "source_system, record_key, 1, false, dob, ssn, name_suffix, household_id "
                 "FROM test_person"),
            Step("pairs", "INSERT INTO pair_score SELECT 1, record_key_l, record_key_r, 0, "
                 "match_probability FROM test_pair"),
            # Every test loads one chain: a single component.
            Step("clustering", "CREATE OR REPLACE TEMP TABLE cluster_membership AS "
                 "SELECT record_key, $anchor AS cluster_id FROM test_person",
                 {"anchor": min(records)}),
        ])


def clusters(store) -> set[frozenset[str]]:
    rows = query(store, "SELECT cluster_id, record_key FROM cluster_membership")
    found: dict[str, set[str]] = {}
    for cluster_id, record_key in rows:
        found.setdefault(cluster_id, set()).add(record_key)
    return {frozenset(members) for members in found.values()}


DOB = dt.date(1980, 5, 17)


@pytest.mark.parametrize("evidence, splits", [
    ({"ssn": ("123456789", "987654321")}, True),
    ({"ssn": ("123456789", "123456798")}, False),  # one transposition: a typo
    ({"dob": (DOB, dt.date(2005, 8, 2))}, True),  # father and son
    ({"dob": (DOB, dt.date(2005, 5, 17))}, False),  # the year wrong, the birthday right
    ({"dob": (dt.date(1980, 1, 1), dt.date(2005, 1, 1))}, True),  # January 1: imputed
    ({"dob": (DOB, dt.date(1980, 5, 18))}, False),  # one digit off
    ({"dob": (DOB, dt.date(1980, 1, 1))}, False),  # imputed to January 1
    ({"dob": (DOB, dt.date(1990, 5, 17))}, False),  # one digit off in the year
    ({"suffix": ("JR", "SR")}, True),
    ({"suffix": ("JR", None)}, False),
])
def test_evidence_that_two_records_differ_splits_the_chain_at_its_weakest_link(
        store, evidence, splits):
    # a -- b -- c: a and c carry the evidence; the chain must break at b -- c (weaker).
    field, (a_value, c_value) = next(iter(evidence.items()))
    records = {"a": {field: a_value}, "b": {}, "c": {field: c_value}}
    load(store, records, [("a", "b", 0.99), ("b", "c", 0.95)])
    counts = enforce_constraints(store, decisions_in_force(store), THRESHOLD)
    if splits:
        assert counts.evidence_conflicts == 1 and counts.clusters_rebuilt == 1
        assert clusters(store) == {frozenset("ab"), frozenset("c")}
    else:
        assert counts.evidence_conflicts == 0
        assert clusters(store) == {frozenset("abc")}


def test_a_deduplicated_source_never_has_two_records_in_one_cluster(store):
    records = {"a": {"source": "mpi"}, "b": {"source": "clinic"}, "c": {"source": "mpi"}}
    load(store, records, [("a", "b", 0.95), ("b", "c", 0.99)])
    assert enforce_constraints(store, decisions_in_force(store), THRESHOLD).evidence_conflicts == 0  # not configured
    assert clusters(store) == {frozenset("abc")}
    enforce_constraints(store, decisions_in_force(store), THRESHOLD, deduplicated_sources=["mpi"])
    assert clusters(store) == {frozenset("a"), frozenset("bc")}


def test_two_members_of_one_household_in_one_source_are_two_people(store):
    # Twins of one sex in one CalSAWS case: a case lists each member once. The same
    # household id in another source, or another household, says nothing.
    records = {"a": {"source": "calsaws", "household": "19-1234567"},
               "b": {"source": "ehr_csv", "household": "19-1234567"},
               "c": {"source": "calsaws", "household": "19-1234567"},
               "d": {"source": "calsaws", "household": "19-7654321"}}
    load(store, records, [("a", "b", 0.99), ("b", "c", 0.95), ("c", "d", 0.97)])
    counts = enforce_constraints(store, decisions_in_force(store), THRESHOLD)
    assert counts.evidence_conflicts == 1
    assert clusters(store) == {frozenset("ab"), frozenset("cd")}


def test_a_reviewers_must_link_overrides_the_evidence_on_that_pair(store):
    records = {"a": {"suffix": "JR"}, "b": {"suffix": "SR"}}
    load(store, records, [("a", "b", 0.99)])
    record_decisions(store, [Decision("a", "b", "must_link", "tester", "same man, typo")])
    counts = enforce_constraints(store, decisions_in_force(store), THRESHOLD)
    assert counts.evidence_conflicts == 0 and clusters(store) == {frozenset("ab")}


def chain(n: int) -> tuple[dict[str, dict], list[tuple[str, str, float]]]:
    """n records joined in a line, each link matched at 0.995, the middle one at 0.991."""
    records = {f"r{i:02d}": {} for i in range(n)}
    keys = sorted(records)
    edges = [(keys[i], keys[i + 1], 0.991 if i == n // 2 - 1 else 0.995) for i in range(n - 1)]
    return records, edges


def test_a_sparse_chain_is_re_formed_at_a_stricter_threshold(store):
    linking = LinkingConfig(match_threshold=THRESHOLD, min_cluster_density=0.6)
    records, edges = chain(6)  # 5 matched pairs of 15: density 0.33
    load(store, records, edges)
    decisions = decisions_in_force(store)
    enforce_constraints(store, decisions, THRESHOLD)
    shape = shape_clusters(store, linking, decisions)
    # At 0.99 the whole chain holds (still sparse: split again); at 0.999 nothing does.
    assert shape.split == 2 and shape.flagged == 0
    assert shape.sizes["1"] == 6 and len(clusters(store)) == 6


def test_an_oversized_dense_cluster_that_no_threshold_splits_is_flagged(store):
    linking = LinkingConfig(match_threshold=THRESHOLD, max_cluster_size=3)
    records = {key: {} for key in "abcd"}
    edges = [(x, y, 0.99999) for x in "abcd" for y in "abcd" if x < y]
    load(store, records, edges)
    decisions = decisions_in_force(store)
    enforce_constraints(store, decisions, THRESHOLD)
    shape = shape_clusters(store, linking, decisions)
    assert shape.flagged == 1 and shape.sizes["4"] == 1


def test_the_sweep_at_the_runs_threshold_reproduces_the_runs_clusters(linked_store):
    project = Project.open(SAMPLE_CONFIG, store=linked_store)
    published = project.evaluate(SAMPLE_DATA / "truth.csv")
    sweep = project.threshold_sweep(SAMPLE_DATA / "truth.csv",
                                    (0.5, project.match_threshold(), 0.9999))
    at_run = sweep.iloc[1]
    assert at_run["f1"] == pytest.approx(published.f1)
    assert at_run["enterprise_ids"] == published.enterprise_ids
    # Stricter thresholds publish more, smaller clusters.
    assert list(sweep["enterprise_ids"]) == sorted(sweep["enterprise_ids"])
    assert sweep.iloc[0]["recall"] >= at_run["recall"] >= sweep.iloc[2]["recall"]


def test_evaluate_prints_a_threshold_table_and_json(linked_store, capsys):
    truth = SAMPLE_DATA / "truth.csv"
    assert cli("evaluate", "--config", SAMPLE_CONFIG, "--store", linked_store,
               "--truth", truth, "--thresholds", "0.9,0.999") == 0
    out = capsys.readouterr().out
    assert "at other match thresholds" in out and "0.9990" in out
    assert cli("evaluate", "--config", SAMPLE_CONFIG, "--store", linked_store,
               "--truth", truth, "--thresholds", "0.9", "--json") == 0
    report = json.loads(capsys.readouterr().out)
    assert [row["match_threshold"] for row in report["sweep"]] == [0.9]
    assert cli("evaluate", "--config", SAMPLE_CONFIG, "--store", linked_store,
               "--truth", truth, "--thresholds", "1.5") == 64  # a bad option value: usage


def test_the_run_reports_cluster_sizes_and_evidence(linked_store):
    with open_store(linked_store, read_only=True) as store:
        summary = json.loads(store.con.execute(
            "SELECT summary FROM run ORDER BY run_id DESC LIMIT 1").fetchall()[0][0])
    link = summary["link"]
    assert sum(link["cluster_sizes"].values()) == link["clusters"]
    assert link["evidence_conflicts"] > 0  # the sample has fathers and sons at one address


def test_flagged_clusters_are_listed_and_their_pairs_go_to_review(sample_copy, tmp_path):
    text = sample_copy.read_text().replace(
        "match_threshold: auto", "match_threshold: auto\n  max_cluster_size: 3")
    sample_copy.write_text(text)
    project = Project.open(sample_copy)
    summary = project.run()
    flagged = project.flagged_clusters()
    # Clusters of four or more that no stricter threshold breaks stay flagged, one EID each.
    assert summary.link.clusters_flagged == len(flagged) > 0
    assert (flagged["records"] > 3).all() and set(flagged["reason"]) == {"oversized"}
    out = tmp_path / "review.csv"
    rows = project.export_review(out)
    with out.open(newline="") as handle:
        exported = list(csv.DictReader(handle))
    assert len(exported) == rows
    in_flagged = [row for row in exported if row["review_reason"] == "flagged_cluster_oversized"]
    # Every flagged EID is held together by matched pairs, and they are all in the file.
    assert {row["enterprise_id_l"] for row in in_flagged} == set(flagged["enterprise_id"])
    assert all(row["enterprise_id_l"] == row["enterprise_id_r"] for row in in_flagged)
    uncertain = [row for row in exported if row["review_reason"] == "uncertain"]
    low, high = project.config.linking.review_low, project.config.linking.review_high
    assert all(low <= float(row["match_probability"]) < high for row in uncertain)
