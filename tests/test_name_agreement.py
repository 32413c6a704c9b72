"""A full run learns how often one person's records agree on their names from its own
pairs (linkage.link.name_agreement); deliveries, search and explain score with what it
learnt."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from conftest import ROOT, cli
from linkage.link.name_agreement import (PSEUDO_MATCHES, in_force_if_close, learn,
                                         name_free_rules, with_name_agreement)
from linkage.link.prior import population_model
from linkage.link.splink_session import load_model
from linkage.store import open_store

MODEL = load_model(ROOT / "models" / "default.json")
ELSE = "All other comparisons"


def _levels(model: dict, name: str) -> list[dict]:
    comparison = next(c for c in model["comparisons"] if c["output_column_name"] == name)
    return [level for level in comparison["comparison_levels"] if not level.get("is_null_level")]


def _learnt_m(learnt: dict, name: str, label: str) -> float:
    return next(m for found, _, m in learnt[name] if found == label)


def _scored(store, pairs: dict[tuple[float, int, int], int], key: str) -> None:
    """A scored table of pairs from rule `key`: so many of each (weight, gamma_first_name,
    gamma_last_name)."""
    store.con.execute("CREATE OR REPLACE TEMP TABLE levels (match_weight DOUBLE, match_key "
                      "VARCHAR, gamma_first_name INTEGER, gamma_last_name INTEGER)")
    for (weight, first, last), count in pairs.items():
        store.con.execute("INSERT INTO levels SELECT $w, $k, $f, $l FROM range($n)",
                          {"w": weight, "k": key, "f": first, "l": last, "n": count})


def test_only_rules_that_select_by_the_person_and_not_by_name_inform_it():
    rules = [rule["blocking_rule"] if isinstance(rule, dict) else rule
             for rule in MODEL["blocking_rules_to_generate_predictions"]]
    free = [rules[int(key)] for key in name_free_rules(MODEL)]
    assert free and all("name" not in rule and "surname" not in rule for rule in free)
    # An SSN or a birth date selects a person; a phone or a street alone, a household.
    assert any('"ssn"' in rule for rule in free)
    assert not any('"phone"' in rule or rule == 'l."street" = r."street"' for rule in free)


def test_names_that_disagree_among_sure_matches_raise_the_else_level(tmp_path):
    exact, other = len(_levels(MODEL, "first_name")) - 1, 0
    key = name_free_rules(MODEL)[0]
    with open_store(tmp_path / "s.duckdb", create=True) as store:
        # 3,000 sure matches (same SSN and birth date), a third with both names replaced.
        _scored(store, {(40.0, other, other): 1000, (40.0, exact, exact): 2000}, key)
        learnt = learn(store, "levels", MODEL, 0.0)
        first, last = _learnt_m(learnt, "first_name", ELSE), _learnt_m(learnt, "last_name", ELSE)
        assert first == pytest.approx((1000 + PSEUDO_MATCHES * 0.011) / (3000 + PSEUDO_MATCHES),
                                      rel=0.05)
        assert last > 0.25
        # Rows of a rule that selects by name teach nothing.
        _scored(store, {(40.0, other, other): 1000}, "5")
        assert "5" not in name_free_rules(MODEL)
        assert learn(store, "levels", MODEL, 0.0) == {}


def test_a_few_pairs_keep_the_models_m_and_no_else_level_falls_below_its_floor(tmp_path):
    exact = len(_levels(MODEL, "first_name")) - 1
    key = name_free_rules(MODEL)[0]
    with open_store(tmp_path / "s.duckdb", create=True) as store:
        _scored(store, {(40.0, 0, 0): 5}, key)
        learnt = learn(store, "levels", MODEL, 0.0)
        assert _learnt_m(learnt, "first_name", ELSE) == pytest.approx(0.011, abs=0.01)
        # Every name agreeing: the else levels stay at the floor the model keeps them at.
        _scored(store, {(40.0, exact, exact): 100_000}, key)
        learnt = learn(store, "levels", MODEL, 0.0)
        assert _learnt_m(learnt, "first_name", ELSE) == pytest.approx(0.01)
        assert _learnt_m(learnt, "last_name", ELSE) == pytest.approx(0.08)
        # A level no match reached weighs no less than the else level: agreeing on part of
        # a name is never worse evidence than disagreeing.
        for name in ("first_name", "last_name"):
            u = {level.get("label_for_charts"): level["u_probability"]
                 for level in _levels(MODEL, name)}
            weights = {label: math.log2(m / u[label]) for label, _, m in learnt[name]}
            assert min(weights.values()) >= weights[ELSE] - 1e-4  # (m kept to 6 digits)
        # The learnt m of a comparison still sum to what the model's did.
        total = sum(m for _, _, m in learnt["first_name"])
        assert total == pytest.approx(sum(m0 for _, m0, _ in learnt["first_name"]), abs=1e-4)


def test_a_model_without_a_name_comparison_learns_the_other(tmp_path):
    own = {**MODEL, "comparisons": [c for c in MODEL["comparisons"]
                                    if c["output_column_name"] != "first_name"]}
    with open_store(tmp_path / "s.duckdb", create=True) as store:
        _scored(store, {(40.0, 0, 0): 1000}, name_free_rules(own)[0])
        learnt = learn(store, "levels", own, 0.0)
    assert set(learnt) == {"last_name"} and _learnt_m(learnt, "last_name", ELSE) > 0.3


def test_learnt_m_apply_only_to_the_levels_they_were_learnt_for():
    m0 = _levels(MODEL, "first_name")[-1]["m_probability"]
    learnt = {"first_name": [[ELSE, m0, 0.2]]}
    applied = with_name_agreement(MODEL, learnt)
    assert _levels(applied, "first_name")[-1]["m_probability"] == 0.2
    assert _levels(MODEL, "first_name")[-1]["m_probability"] != 0.2  # the model is not changed
    # Another model (its m differs from the one learnt from) keeps its own.
    assert with_name_agreement(MODEL, {"first_name": [[ELSE, 0.5, 0.2]]}) == MODEL
    assert with_name_agreement(MODEL, {"first_name": [["no such level", m0, 0.2]]}) == MODEL
    assert with_name_agreement(MODEL, None) is MODEL


def test_a_full_run_keeps_the_m_in_force_while_what_it_learns_is_close(sample_copy, capsys):
    capsys.readouterr()
    assert cli("-q", "run", "--config", sample_copy, "--json") == 0
    first = json.loads(capsys.readouterr().out)["link"]["name_agreement"]
    moved = {name: [[label, m0, m * (1.1 if label == ELSE else 1.0)]
                    for label, m0, m in rows] for name, rows in first.items()}
    assert in_force_if_close(moved, first) is first
    assert in_force_if_close({**moved, "first_name": [[ELSE, 0.011, 0.5]]}, first) != first


def test_a_run_records_what_it_learnt_and_a_delivery_scores_with_it(sample_copy, tmp_path,
                                                                     capsys):
    capsys.readouterr()
    assert cli("-q", "run", "--config", sample_copy, "--json") == 0
    link = json.loads(capsys.readouterr().out)["link"]
    assert set(link["name_agreement"]) == {"first_name", "last_name"}
    delivery = tmp_path / "delivery.csv"
    source = Path(str(sample_copy)).parent / "sample_data" / "ehr" / "patients.csv"
    lines = source.read_text(encoding="utf-8").splitlines()
    delivery.write_text("\n".join(lines[:3]) + "\n", encoding="utf-8")
    assert cli("-q", "run", "--config", sample_copy, "--delivery", f"ehr_csv={delivery}",
               "--json") == 0
    assert json.loads(capsys.readouterr().out)["link"]["name_agreement"] == \
        link["name_agreement"]
    with open_store(tmp_path / "store.duckdb", read_only=True) as store:
        scored = population_model(store, MODEL)
    assert [level["m_probability"] for level in _levels(scored, "last_name")] == \
        pytest.approx([m for _, _, m in link["name_agreement"]["last_name"]])
