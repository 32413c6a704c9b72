"""The analysts' charts on the linked sample: each holds the data it claims (counts that
match the store and the run), renders with its libraries inline, and shows no personal
values unless asked; the cluster studio is written owner-only."""

from __future__ import annotations

import json
import re
import shutil
import stat

import duckdb
import pandas as pd
import pytest

from conftest import ROOT, SAMPLE_CONFIG
from linkage import Project
from linkage.charts import Chart, heatmap, line_chart
from linkage.errors import LinkageError
from linkage.link import load_model

TRUTH = ROOT / "sample_data" / "truth.csv"
MODEL = ROOT / "models" / "default.json"
EXTERNAL_SCRIPT = re.compile(r"<script[^>]*\bsrc\s*=\s*[\"']?(https?:)?//", re.IGNORECASE)


def query(store, sql: str, params=None) -> list[tuple]:
    with duckdb.connect(str(store), read_only=True) as con:
        return con.execute(sql, params).fetchall()


def assert_offline(html: str) -> None:
    assert "vegaEmbed(" in html and len(html) > 100_000  # the libraries are inlined
    assert "cdn.jsdelivr" not in html and not EXTERNAL_SCRIPT.search(html)


@pytest.fixture(scope="module")
def project(linked_store) -> Project:
    return Project.open(SAMPLE_CONFIG, linked_store)


def test_line_chart_holds_the_frame_and_saves_an_offline_owner_only_page(tmp_path):
    frame = pd.DataFrame({"match_threshold": [0.9, 0.99, 0.999], "f1": [0.95, 0.98, 0.97],
                          "bcubed_f1": [0.97, 0.99, 0.98]})
    chart = line_chart(frame, x="match_threshold", y=["f1", "bcubed_f1"], log_x=True,
                       title="F1")
    assert len(chart.rows) == 6
    assert {row["metric"] for row in chart.rows} == {"f1", "bcubed_f1"}
    assert chart.spec["encoding"]["x"]["scale"] == {"type": "log"}
    assert_offline(chart._repr_html_())

    page = chart.save(tmp_path / "charts" / "f1.html")
    html = page.read_text(encoding="utf-8")
    assert html.startswith("<!DOCTYPE html>") and '"f1"' in html
    assert_offline(html)
    assert stat.S_IMODE(page.stat().st_mode) == 0o600


def test_chart_spec_is_plain_json_whatever_the_frame_holds():
    frame = pd.DataFrame({"day": pd.to_datetime(["2026-01-01", "2026-01-02"]),
                          "pairs": [3, None]})
    chart = line_chart(frame, x="day", y="pairs")
    assert chart.spec["encoding"]["x"]["type"] == "temporal"
    assert chart.rows[1]["pairs"] is None
    assert Chart(json.loads(json.dumps(chart.spec))).spec == chart.spec
    grid = heatmap(pd.DataFrame({"a": ["x"], "b": ["y"], "w": [1.5]}), x="a", y="b", color="w")
    assert grid.rows == [{"a": "x", "b": "y", "w": 1.5}]


def test_threshold_selection_chart_spans_thresholds_and_counts_every_true_pair(project):
    chart = project.accuracy_chart(TRUTH)
    rows = chart.rows
    assert chart.title == "Match Threshold Selection Tool" and len(rows) > 50
    weights = [row["truth_threshold"] for row in rows]
    assert max(weights) - min(weights) > 20  # match weights from far below to far above 0
    probabilities = [row["match_probability"] for row in rows]
    assert min(probabilities) < 0.01 and max(probabilities) > 0.99
    assert all(0 <= row["f1"] <= 1 for row in rows)
    # Positives are every pair of records the truth file says are one person.
    assert {row["p"] for row in rows} == {project.evaluate(TRUTH).true_pairs}
    assert_offline(chart.html())


def test_precision_recall_chart_and_a_bad_request_are_told_apart(project):
    chart = project.accuracy_chart(TRUTH, kind="precision_recall")
    assert chart.title == "Precision-recall curve"
    assert all({"precision", "recall"} <= set(row) for row in chart.rows)
    with pytest.raises(LinkageError, match="choose one of threshold_selection"):
        project.accuracy_chart(TRUTH, kind="pie")
    with pytest.raises(LinkageError, match="one of the two"):
        project.accuracy_chart(TRUTH, labels="reviewer")
    with pytest.raises(LinkageError, match="no reviewer decisions"):
        project.accuracy_chart(labels="reviewer")


def test_reviewer_labels_count_must_links_as_matches_and_cannot_links_as_not(linked_store,
                                                                              tmp_path):
    store = tmp_path / "store.duckdb"
    shutil.copy(linked_store, store)
    project = Project.open(SAMPLE_CONFIG, store)
    (strong_a, strong_b), (weak_a, weak_b), (other_a, other_b) = query(store, """
SELECT record_key_l, record_key_r FROM pair_score
ORDER BY match_probability DESC, record_key_l, record_key_r""")[:1] + query(store, """
SELECT record_key_l, record_key_r FROM pair_score
ORDER BY match_probability, record_key_l, record_key_r LIMIT 2""")
    project.decide(strong_a, strong_b, "must_link", "same person", "tester")
    project.decide(weak_a, weak_b, "must_link", "first thought", "tester")
    project.decide(weak_b, weak_a, "cannot_link", "on second look", "tester")  # replaces it
    project.decide(other_a, other_b, "cannot_link", "twins", "tester")
    rows = project.accuracy_chart(labels="reviewer", kind="roc").rows
    assert {(row["p"], row["n"]) for row in rows} == {(1, 2)}


def test_match_weights_and_m_u_charts_show_every_level_of_the_model(project):
    model = load_model(MODEL)
    levels = {(comparison["output_column_name"], level["label_for_charts"])
              for comparison in model["comparisons"]
              for level in comparison["comparison_levels"] if not level.get("is_null_level")}
    weights = project.match_weights_chart()
    shown = {(row["comparison_name"], row["label_for_charts"]) for row in weights.rows}
    assert shown - {("probability_two_random_records_match", "")} == levels
    m_u = project.m_u_chart()
    assert {(row["comparison_name"], row["label_for_charts"]) for row in m_u.rows} == levels
    assert all(0 <= row["m_probability"] <= 1 for row in m_u.rows)
    assert_offline(weights.html())


def test_blocking_counts_add_up_to_the_pairs_the_run_scored(project, linked_store):
    counts = project.blocking_counts()
    (summary,), = query(linked_store, "SELECT summary FROM run ORDER BY run_id DESC LIMIT 1")
    link = json.loads(summary)["link"]
    # The model's rules, then the wider ones the sample's 5,000 records afford.
    rules = load_model(MODEL)["blocking_rules_to_generate_predictions"]
    assert link["wide_rules"] == ["l.dob = r.dob"]
    assert len(counts) == len(rules) + len(link["wide_rules"])
    assert list(counts["rule"])[-1] == "l.dob = r.dob"
    assert list(counts["cumulative_pairs"]) == list(counts["pairs_added"].cumsum())
    assert counts["cumulative_pairs"].iloc[-1] == link["pairs_scored"]

    chart = project.blocking_chart()
    assert [row["marginal_comparison_count"] for row in chart.rows] == list(counts["pairs_added"])


def test_pair_waterfall_chart_shows_values_only_when_asked(project, linked_store):
    (record_a, record_b), = query(linked_store, "SELECT record_key_l, record_key_r FROM pair_score "
                                                "ORDER BY match_probability DESC, 1, 2 LIMIT 1")
    first_name, = query(linked_store, "SELECT first_name FROM person WHERE record_key = ?",
                        [record_a])[0]
    explained = project.explain_pair(record_a, record_b)
    chart = explained.chart()
    names = [row["column_name"] for row in chart.rows]
    assert names[0] == "Prior" and names[-1] == "Final score" and "first_name" in names
    assert {row["value_l"] for row in chart.rows} == {""}
    assert first_name not in chart.html()
    assert "chart_spec" not in explained.as_dict()
    assert_offline(chart.html())

    shown = project.explain_pair(record_a, record_b, show_values=True).chart()
    assert first_name in {row["value_l"] for row in shown.rows}


def test_cluster_chart_is_a_member_grid_of_the_eids_matched_pairs(project):
    eid = project.least_dense_clusters(1)["enterprise_id"][0]
    explained = project.explain_cluster(eid)
    chart = explained.chart()
    assert len(chart.rows) == 2 * len(explained.edges) > 0
    assert chart.spec["encoding"]["x"]["scale"]["domain"] == list(explained.members["record_key"])
    assert {row["record_a"] for row in chart.rows} <= set(explained.members["record_key"])


def test_cluster_studio_shows_the_least_dense_eids_when_none_is_flagged(project, linked_store,
                                                                        tmp_path):
    assert project.flagged_clusters().empty  # the sample has none
    chosen = project.least_dense_clusters(3)
    assert list(chosen["density"]) == sorted(chosen["density"]) and len(chosen) == 3
    out = project.cluster_studio(tmp_path / "review" / "studio.html", limit=3)
    html = out.read_text(encoding="utf-8")
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    # Splink inlines its libraries (Observable's bundled stdlib merely names a CDN default).
    assert "vegaEmbed" in html and not EXTERNAL_SCRIPT.search(html)
    for eid in chosen["enterprise_id"]:
        assert eid in html
        members = query(linked_store, """
SELECT p.record_key FROM crosswalk AS cw JOIN person AS p USING (source_system, source_record_id)
WHERE cw.valid_to_run IS NULL AND cw.enterprise_id = ?""", [eid])
        assert all(key in html for (key,) in members)


def test_cluster_studio_of_named_eids_refuses_an_unknown_one(project, tmp_path):
    eid = project.least_dense_clusters(1)["enterprise_id"][0]
    out = project.cluster_studio(tmp_path / "one.html", [eid, eid])
    assert eid in out.read_text(encoding="utf-8")
    with pytest.raises(LinkageError, match="E9999999999: no such enterprise ID"):
        project.cluster_studio(tmp_path / "none.html", ["E9999999999"])
    assert not (tmp_path / "none.html").exists()
