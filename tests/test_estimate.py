"""Accuracy without labels, the population's prior, `match_threshold: auto`, the bounds a
trained model is held to, and calibration on labelled pairs."""

from __future__ import annotations

import csv
import json
import math
import random

import pytest

from conftest import ROOT, SAMPLE_CONFIG, SAMPLE_DATA, cli
from linkage import Project
from linkage.errors import ModelError
from linkage.link.calibration import CALIBRATION_KEY
from linkage.link.estimate import AUTO_THRESHOLDS, TIE
from linkage.link.model import DISAGREEMENT_LEVELS, ELSE_M_CAP, ELSE_M_FLOOR
from linkage.link.prior import PRIOR_KEY
from linkage.link.splink_session import load_calibration, load_model

TRUTH = SAMPLE_DATA / "truth.csv"


def test_estimated_f1_is_within_two_points_of_the_measured_f1(linked_store):
    project = Project.open(SAMPLE_CONFIG, store=linked_store)
    measured = project.evaluate(TRUTH)
    estimated, sweep = project.estimate((0.5, 0.9, 0.99))
    assert abs(estimated.f1 - measured.f1) <= 0.02
    assert abs(estimated.bcubed_f1 - measured.bcubed_f1) <= 0.02
    assert estimated.predicted_pairs == measured.predicted_pairs
    assert estimated.enterprise_ids == measured.enterprise_ids
    assert abs(estimated.true_persons - measured.true_persons) / measured.true_persons < 0.02
    truth_sweep = project.threshold_sweep(TRUTH, (0.5, 0.9, 0.99))
    for (_, row), (_, measured_row) in zip(sweep.iterrows(), truth_sweep.iterrows()):
        assert abs(row["f1"] - measured_row["f1"]) <= 0.02
        assert row["enterprise_ids"] == measured_row["enterprise_ids"]


def test_auto_threshold_is_chosen_by_estimated_f1_and_recorded(linked_store):
    project = Project.open(SAMPLE_CONFIG, store=linked_store)
    assert project.config.linking.match_threshold == "auto"
    with project.store(read_only=True) as store:
        summary = json.loads(store.con.sql(
            "SELECT summary FROM run ORDER BY run_id DESC LIMIT 1").fetchall()[0][0])
    link = summary["link"]
    estimates = {float(t): f1 for t, f1 in link["threshold_estimates"].items()}
    assert set(estimates) == set(AUTO_THRESHOLDS)
    best = max(estimates.values())
    assert link["match_threshold"] == max(t for t, f1 in estimates.items() if f1 >= best - TIE)
    assert project.match_threshold() == link["match_threshold"]


def test_evaluate_without_truth_prints_the_same_object_marked_estimated(linked_store, capsys):
    assert cli("evaluate", "--config", SAMPLE_CONFIG, "--store", linked_store,
               "--thresholds", "0.9,0.99", "--json") == 0
    estimated = json.loads(capsys.readouterr().out)
    assert cli("evaluate", "--config", SAMPLE_CONFIG, "--store", linked_store,
               "--truth", TRUTH, "--thresholds", "0.9,0.99", "--json") == 0
    measured = json.loads(capsys.readouterr().out)
    assert estimated["estimated"] is True and measured["estimated"] is False
    assert set(estimated) == set(measured)
    assert [row["match_threshold"] for row in estimated["sweep"]] == [0.9, 0.99]
    assert abs(estimated["f1"] - measured["f1"]) <= 0.02
    assert cli("evaluate", "--config", SAMPLE_CONFIG, "--store", linked_store,
               "--thresholds", "none") == 0
    assert "expected by the model" in capsys.readouterr().out


def test_a_run_scores_with_its_own_populations_prior(linked_store):
    model = load_model(ROOT / "models" / "default.json")
    project = Project.open(SAMPLE_CONFIG, store=linked_store)
    with project.store(read_only=True) as store:
        link = json.loads(store.con.sql(
            "SELECT summary FROM run ORDER BY run_id DESC LIMIT 1").fetchall()[0][0])["link"]
        records = store.con.sql("SELECT count(*) FROM person").fetchall()[0][0]
        expected = store.con.sql("SELECT sum(match_probability) FROM pair_score").fetchall()[0][0]
    # The sample is smaller than the training population, so its prior is larger; and the
    # prior is about the expected matches over all pairs (the pseudo-pairs pull it back).
    assert link["prior"] > model[PRIOR_KEY]
    assert link["prior"] == pytest.approx(expected / (records * (records - 1) / 2), rel=0.5)


def test_a_handful_of_records_keeps_the_models_prior(tmp_path):
    from linkage.link.prior import estimate_prior
    from linkage.store import open_store

    with open_store(tmp_path / "s.duckdb", create=True) as store:
        store.con.execute("CREATE TEMP TABLE scored AS SELECT 30.0 AS match_weight")
        assert estimate_prior(store, "scored", 10, 1e-5) == pytest.approx(1e-5, rel=0.2)
        # A large population with few matches per pair gets a smaller prior than the model's.
        assert estimate_prior(store, "scored", 1_000_000, 1e-5) < 1e-5


def test_the_shipped_model_holds_its_parameter_bounds():
    model = load_model(ROOT / "models" / "default.json")
    for comparison in model["comparisons"]:
        name = comparison["output_column_name"]
        levels = [level for level in comparison["comparison_levels"]
                  if not level.get("is_null_level") and "m_probability" in level]
        factors = [level["m_probability"] / level["u_probability"] for level in levels]
        assert max(factors) <= factors[0] * (1 + 1e-6), f"{name}: a level outweighs exact"
        assert min(factors) >= factors[-1] * (1 - 1e-6), f"{name}: a level below else"
        for level, factor in zip(levels[1:-1], factors[1:-1]):
            if (name, level.get("label_for_charts")) not in DISAGREEMENT_LEVELS:
                # A ZIP in common (another street) is no evidence against a match.
                assert factor >= 1 - 1e-6, f"{name}: {level.get('label_for_charts')} agrees"
        m_else = levels[-1]["m_probability"]
        assert m_else >= ELSE_M_FLOOR.get(name, 0) * 0.95, name
        assert m_else <= ELSE_M_CAP.get(name, 1) * 1.05, name
    email = next(c for c in model["comparisons"] if c["output_column_name"] == "email")
    email_else = email["comparison_levels"][-1]
    assert math.log2(email_else["m_probability"] / email_else["u_probability"]) > -5


def _truth_labels(store_path, out, pairs=200, seed=3):
    """Labels as a reviewer would give them: pairs from the uncertain band and around it."""
    import duckdb

    persons = {}
    with open(TRUTH, newline="") as handle:
        for row in csv.DictReader(handle):
            persons[f"{row['source_system']}:{row['source_record_id']}"] = row["person_id"]
    con = duckdb.connect(str(store_path), read_only=True)
    scored = con.sql("SELECT record_key_l, record_key_r FROM pair_score "
                     "ORDER BY match_probability, record_key_l, record_key_r").fetchall()
    con.close()
    chosen = random.Random(seed).sample(scored, min(pairs, len(scored)))
    with open(out, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["record_a", "record_b", "match"])
        for left, right in chosen:
            writer.writerow([left, right, int(persons[left] == persons[right])])
    return out


def test_calibration_on_labelled_pairs_is_kept_in_the_model_and_used_by_runs(
        sample_copy, tmp_path, capsys):
    assert cli("--quiet", "run", "--config", sample_copy) == 0
    capsys.readouterr()
    store = tmp_path / "store.duckdb"
    labels = _truth_labels(store, tmp_path / "labels.csv")
    calibrated = tmp_path / "calibrated.json"
    assert cli("calibrate", "--config", sample_copy, "--labels", labels,
               "--out", calibrated, "--json") == 0
    found = json.loads(capsys.readouterr().out)
    assert found["labels"] == 200 and found["brier_after"] <= found["brier_before"]
    assert load_calibration(calibrated).slope > 0
    assert CALIBRATION_KEY not in load_model(calibrated)  # Splink never sees it
    card = json.loads(calibrated.with_suffix(".card.json").read_text())
    assert card["calibration"]["labels"] == 200

    config = sample_copy.read_text().replace(str(ROOT / "models" / "default.json"),
                                             str(calibrated))
    config = config.replace(str(store), str(tmp_path / "calibrated.duckdb"))
    (tmp_path / "calibrated.yaml").write_text(config)
    assert cli("--quiet", "run", "--config", tmp_path / "calibrated.yaml") == 0
    project = Project.open(tmp_path / "calibrated.yaml")
    with project.store(read_only=True) as linked:
        pairs = linked.con.sql("SELECT record_key_l, record_key_r, match_weight, "
                               "match_probability FROM pair_score LIMIT 50").fetchall()
    calibration = load_calibration(calibrated)
    for left, right, weight, probability in pairs:
        assert probability == pytest.approx(calibration.probability(
            weight, left.split(":")[0], right.split(":")[0]), abs=1e-9)
    assert project.evaluate(TRUTH).f1 > 0.97


def test_a_model_with_a_broken_calibration_is_refused(tmp_path):
    model = json.loads((ROOT / "models" / "default.json").read_text())
    model[CALIBRATION_KEY] = {"slope": -1.0, "intercept": 0.0}
    path = tmp_path / "broken.json"
    path.write_text(json.dumps(model))
    with pytest.raises(ModelError, match="slope"):
        load_calibration(path)


def test_labels_with_an_unknown_match_value_are_refused(sample_copy, tmp_path, capsys):
    assert cli("--quiet", "run", "--config", sample_copy) == 0
    labels = tmp_path / "labels.csv"
    labels.write_text("record_a,record_b,match\na:1,b:2,perhaps\n")
    assert cli("calibrate", "--config", sample_copy, "--labels", labels,
               "--out", tmp_path / "m.json") == 2
    assert "perhaps" not in capsys.readouterr().err


def test_auto_estimated_on_a_sample_of_clusters_agrees_with_the_whole(sample_copy, monkeypatch):
    """Above AUTO_SAMPLE_RECORDS, `auto` estimates each threshold on whole clusters drawn to
    that size: its estimates stay near the whole population's."""
    from linkage.link import score

    def estimates(store_name: str) -> dict[str, float]:
        store = sample_copy.with_name(store_name)
        assert cli("--quiet", "run", "--config", sample_copy, "--store", store) == 0
        with Project.open(sample_copy, store=store).store(read_only=True) as opened:
            summary = json.loads(opened.con.sql(
                "SELECT summary FROM run ORDER BY run_id DESC LIMIT 1").fetchall()[0][0])
        return summary["link"]["threshold_estimates"]

    whole = estimates("whole.duckdb")
    monkeypatch.setattr(score, "AUTO_SAMPLE_RECORDS", 500)
    sampled = estimates("sampled.duckdb")
    assert set(sampled) == set(whole)
    for threshold, f1 in whole.items():
        assert sampled[threshold] == pytest.approx(f1, abs=0.01)


def test_matches_no_rule_blocked_are_estimated_from_what_each_family_found_alone(tmp_path):
    """Capture-recapture over the two rule families: 40 matches found by both, 20 by the
    birth-date rule alone and 10 by the SSN rule alone leave about 20 * 10 / 40 = 5 that
    neither found; a pair the evidence rules out (p 0) counts for nothing."""
    from linkage.link.estimate import unblocked_matches
    from linkage.store import open_store

    kinds = {"both": (40, "1980-01-01", "1980-01-01", "524719043", "524719043"),
             "birth date alone": (20, "1980-01-01", "1980-01-01", "524719043", "524710000"),
             "ssn alone": (10, "1980-01-01", "1981-01-01", "524719043", "524719043"),
             "ruled out": (30, "1980-01-01", "1981-01-01", "524719043", "524719043")}
    with open_store(tmp_path / "s.duckdb", create=True) as store:
        store.con.execute("CREATE TEMP TABLE pair_evidence "
                          "(record_key_l VARCHAR, record_key_r VARCHAR, p DOUBLE)")
        for kind, (pairs, dob_l, dob_r, ssn_l, ssn_r) in kinds.items():
            for i in range(pairs):
                keys = f"{kind}:{i}:l", f"{kind}:{i}:r"
                for key, dob, ssn in zip(keys, (dob_l, dob_r), (ssn_l, ssn_r), strict=True):
                    store.con.execute(
                        "INSERT INTO person (record_key, source_system, source_record_id, "
                        "run_id, is_deleted, dob, ssn) VALUES ($k, 's', $k, 1, false, "
                        "$dob::DATE, $ssn)", {"k": key, "dob": dob, "ssn": ssn})
                store.con.execute("INSERT INTO pair_evidence VALUES ($l, $r, $p)",
                                  {"l": keys[0], "r": keys[1],
                                   "p": 0.0 if kind == "ruled out" else 1.0})
        rules = ['(l."dob" = r."dob")', 'l."ssn" = r."ssn"']
        assert unblocked_matches(store, rules) == pytest.approx(5.0)
        # One family alone cannot tell what it missed.
        assert unblocked_matches(store, rules[:1]) == 0.0
