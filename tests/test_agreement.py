"""A full run learns how often one person's records agree (names, birth date, contact) from
its own pairs (linkage.link.agreement); deliveries, search and explain score with what it
learnt."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import pytest

from conftest import ROOT, cli
from linkage.link.agreement import (GROUPS, PSEUDO_MATCHES, in_force_if_close,
                                    informing_rules, learn, with_agreement)
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


NAMES, CONTACT = GROUPS


def _scored(store, pairs: dict[tuple, int], key: str) -> None:
    """A scored table of pairs from rule `key`: so many of each (weight, gamma_first_name,
    gamma_last_name[, gamma_dob, gamma_contact]); a level not given is the null level (-1)."""
    store.con.execute("CREATE OR REPLACE TEMP TABLE levels (match_weight DOUBLE, match_key "
                      "VARCHAR, gamma_first_name INTEGER, gamma_last_name INTEGER, "
                      "gamma_dob INTEGER, gamma_contact INTEGER)")
    for levels, count in pairs.items():
        weight, first, last, dob, contact = (*levels, -1, -1)[:5]
        store.con.execute("INSERT INTO levels SELECT $w, $k, $f, $l, $d, $c FROM range($n)",
                          {"w": weight, "k": key, "f": first, "l": last, "d": dob,
                           "c": contact, "n": count})


def test_only_rules_that_select_by_the_person_and_not_by_name_inform_it():
    rules = [rule["blocking_rule"] if isinstance(rule, dict) else rule
             for rule in MODEL["blocking_rules_to_generate_predictions"]]
    free = [rules[int(key)] for key in informing_rules(MODEL, NAMES)]
    assert free and all("name" not in rule and "surname" not in rule for rule in free)
    # An SSN or a birth date selects a person; a phone or a street alone, a household.
    assert any('"ssn"' in rule for rule in free)
    assert not any('"phone"' in rule or rule == 'l."street" = r."street"' for rule in free)


def test_names_that_disagree_among_sure_matches_raise_the_else_level(tmp_path):
    exact, other = len(_levels(MODEL, "first_name")) - 1, 0
    key = informing_rules(MODEL, NAMES)[0]
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
        assert "5" not in informing_rules(MODEL, NAMES)
        assert not {"first_name", "last_name"} & set(learn(store, "levels", MODEL, 0.0))


def test_a_few_pairs_keep_the_models_m_and_no_else_level_falls_below_its_floor(tmp_path):
    exact = len(_levels(MODEL, "first_name")) - 1
    key = informing_rules(MODEL, NAMES)[0]
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
        _scored(store, {(40.0, 0, 0): 1000}, informing_rules(own, NAMES)[0])
        learnt = learn(store, "levels", own, 0.0)
    assert set(learnt) == {"last_name"} and _learnt_m(learnt, "last_name", ELSE) > 0.3


def test_learnt_m_apply_only_to_the_levels_they_were_learnt_for():
    m0 = _levels(MODEL, "first_name")[-1]["m_probability"]
    learnt = {"first_name": [[ELSE, m0, 0.2]]}
    applied = with_agreement(MODEL, learnt)
    assert _levels(applied, "first_name")[-1]["m_probability"] == 0.2
    assert _levels(MODEL, "first_name")[-1]["m_probability"] != 0.2  # the model is not changed
    # Another model (its m differs from the one learnt from) keeps its own.
    assert with_agreement(MODEL, {"first_name": [[ELSE, 0.5, 0.2]]}) == MODEL
    assert with_agreement(MODEL, {"first_name": [["no such level", m0, 0.2]]}) == MODEL
    assert with_agreement(MODEL, None) is MODEL


def test_a_full_run_keeps_the_m_in_force_while_what_it_learns_is_close(sample_copy, capsys):
    capsys.readouterr()
    assert cli("-q", "run", "--config", sample_copy, "--json") == 0
    first = json.loads(capsys.readouterr().out)["link"]["agreement"]
    moved = {name: [[label, m0, m * (1.1 if label == ELSE else 1.0)]
                    for label, m0, m in rows] for name, rows in first.items()}
    assert in_force_if_close(moved, first) is first
    assert in_force_if_close({**moved, "first_name": [[ELSE, 0.011, 0.5]]}, first) != first


def test_a_run_records_what_it_learnt_and_a_delivery_scores_with_it(sample_copy, tmp_path,
                                                                     capsys):
    capsys.readouterr()
    assert cli("-q", "run", "--config", sample_copy, "--json") == 0
    link = json.loads(capsys.readouterr().out)["link"]
    assert set(link["agreement"]) == {"first_name", "last_name", "contact"}
    delivery = tmp_path / "delivery.csv"
    source = Path(str(sample_copy)).parent / "sample_data" / "ehr" / "patients.csv"
    lines = source.read_text(encoding="utf-8").splitlines()
    delivery.write_text("\n".join(lines[:3]) + "\n", encoding="utf-8")
    assert cli("-q", "run", "--config", sample_copy, "--delivery", f"ehr_csv={delivery}",
               "--json") == 0
    assert json.loads(capsys.readouterr().out)["link"]["agreement"] == \
        link["agreement"]
    with open_store(tmp_path / "store.duckdb", read_only=True) as store:
        scored = population_model(store, MODEL)
    assert [level["m_probability"] for level in _levels(scored, "last_name")] == \
        pytest.approx([m for _, _, m in link["agreement"]["last_name"]])


def test_each_group_learns_from_rules_that_did_not_select_its_pairs_by_it():
    rules = [rule["blocking_rule"] if isinstance(rule, dict) else rule
             for rule in MODEL["blocking_rules_to_generate_predictions"]]
    contact = [rules[int(key)] for key in informing_rules(MODEL, CONTACT)]
    assert contact and not any(word in rule for rule in contact
                               for word in ('"phone"', '"street"', '"zip5"', '"email"'))
    # A phonetic key is no phone: rules on a name's sound still inform contact.
    assert any("first_name_phonetic" in rule for rule in contact)


def test_a_population_that_spells_streets_several_ways_raises_the_near_street_level(tmp_path):
    near_street, other = 2, 0
    key = informing_rules(MODEL, CONTACT)[0]
    with open_store(tmp_path / "s.duckdb", create=True) as store:
        # 2,000 sure matches (same SSN): 1,400 spell their street a little differently.
        _scored(store, {(40.0, 7, 7, 7, near_street): 1400, (40.0, 7, 7, 7, other): 600},
                key)
        learnt = learn(store, "levels", MODEL, 0.0)
    near = _learnt_m(learnt, "contact", "Jaro-Winkler distance of street >= 0.9")
    assert near > 0.25  # from 0.0006: a street a letter off is now strong evidence
    # ...and the "else" level keeps its floor: people move.
    assert _learnt_m(learnt, "contact", ELSE) == pytest.approx(0.5)
    assert "dob" not in learnt


def _word(rng, syllables: int) -> str:
    return "".join(rng.choice(["BA", "KO", "RU", "MI", "TE", "SA", "LO", "NI", "DU", "FE",
                               "GA", "PO", "ZI", "HU", "VE", "JO"]) for _ in range(syllables))


def test_pairs_the_model_scored_below_the_floor_are_scored_again_under_what_was_learnt(
        tmp_path, capsys):
    """A system that replaces both names and misspells the street: the model scores such a
    pair far below the floor it keeps pairs at, so only scoring again under the m learnt from
    the SSN-sharing pairs can link the 100 people whose records share no SSN."""
    import random

    rng = random.Random(7)
    rows = ["id,first,last,dob,ssn,street"]
    for person in range(400):
        first, last, word = _word(rng, 3), _word(rng, 4), _word(rng, 3)
        dob = f"{1940 + person % 60}-{1 + person % 12:02d}-{1 + person // 60 % 28:02d}"
        ssn = f"{200 + person:03d}-{10 + person % 80:02d}-{1000 + person:04d}"
        misspelt = word[0] + word[2] + word[1] + word[3:]
        rows.append(f"a{person},{first},{last},{dob},{ssn},{person + 1} {word} ST")
        rows.append(f"b{person},{_word(rng, 3)},{_word(rng, 4)},{dob},"
                    f"{ssn if person < 300 else ''},{person + 1} {misspelt} ST")
    (tmp_path / "people.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    config = tmp_path / "run.yaml"
    config.write_text(f"store: s.duckdb\nmodel: {ROOT / 'models' / 'default.json'}\nsources:\n"
                      "  - {name: wic, kind: person, path: people.csv, key: [id], columns: "
                      "{first: first_name, last: last_name, dob: dob, ssn: ssn, "
                      "street: street}}\nlinking: {match_threshold: 0.9}\n", encoding="utf-8")
    capsys.readouterr()
    assert cli("-q", "run", "--config", config, "--json") == 0
    link = json.loads(capsys.readouterr().out)["link"]
    assert _learnt_m(link["agreement"], "first_name", ELSE) > 0.2
    assert cli("-q", "crosswalk", "export", "--config", config,
               "--out", tmp_path / "crosswalk.csv") == 0
    with open(tmp_path / "crosswalk.csv", encoding="utf-8") as exported:
        eid = {row["source_record_id"]: row["enterprise_id"] for row in csv.DictReader(exported)}
    together = [eid[f"a{person}"] == eid[f"b{person}"] for person in range(400)]
    assert all(together[:300])
    assert sum(together[300:]) >= 95
    # The run's summary says what this population taught the model.
    capsys.readouterr()
    assert cli("--progress", "none", "run", "--config", config) == 0
    shown = capsys.readouterr().out
    assert "learnt from this population" in shown
    assert 'first_name "All other comparisons" m 0.011 ->' in shown
