"""Train the model: prior from near-certain rules, u by seeded random sampling, m by EM
on capped samples of blocked pairs. Writes the Splink model and a model card beside it.

With `max_records` set and more records landed, training reads a sample of that many
(`training_sample`): each estimate already works on a sample of pairs, so the rest of a
million records costs standardizing and blocking that the estimates barely see."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
from pathlib import Path
from typing import Any

import pyarrow as pa
import splink
from splink.internals.exceptions import EMTrainingException

from linkage import progress
from linkage.config import TrainingConfig
from linkage.errors import LinkageError
from linkage.link.model import (DETERMINISTIC_RULES, DISAGREEMENT_LEVELS, ELSE_M_CAP,
                                ELSE_M_FLOOR, TRAINING_BLOCKING, UNSEEN_LEVEL_BAYES_FACTOR,
                                settings)
from linkage.link.calibration import CALIBRATION_KEY, fit
from linkage.link.labels import score_labels
from linkage.link.prior import population_model
from linkage.link.splink_session import load_model, splink_linker
from linkage.outputs import write_text
from linkage.sources import ChangedRecords
from linkage.store import Step, Store
from linkage.store.relations import record_key

log = logging.getLogger(__name__)

STAGE = "train"

# Share of true matches the deterministic rules are believed to find (for the prior).
DETERMINISTIC_RECALL = 0.7
# Blocked pairs each EM rule reads at most (Splink samples records by a hash of their id to
# keep under it). Above the pairs of `make model`'s population (47k, 121k and 7k by rule at
# 34k records), so its model is unchanged; at a million records EM on 2M pairs took minutes
# and gave no better a model (benchmarks/RESULTS.md, training at 1M).
EM_MAX_PAIRS = 250_000
SIGNIFICANT_DIGITS = 10


def training_sample(store: Store, max_records: int | None, seed: int) -> ChangedRecords | None:
    """The landed records training reads when there are more than `max_records`: the first
    `max_records` in the order of an MD5 of the seed and the record key, so the same records
    and seed give the same sample in any landing order, and each record is as likely as any
    other to be in it (pairs of one person keep their share of pairs). None when all fit.

    Standardizing only the sample gives each of its records the row a full standardize
    gives it (rules work record by record, as an incremental delivery's do)."""
    if max_records is None:
        return None
    landed = store.scalar(STAGE, "count_landed",
                          "SELECT count(*) FROM source_record WHERE NOT is_deleted")
    if landed <= max_records:
        return None
    sample = ChangedRecords(table="training_record")
    store.run_step(STAGE, Step(sample.table, f"""
CREATE OR REPLACE TEMP TABLE {sample.table} AS
SELECT record_key FROM (
    SELECT {record_key()} AS record_key FROM source_record WHERE NOT is_deleted)
ORDER BY md5(CAST($seed AS VARCHAR) || ':' || record_key), record_key
LIMIT $max_records""", {"seed": seed, "max_records": max_records}))
    log.info("training on a sample of %d of %d landed records", max_records, landed)
    return sample


def card_path(model_path: Path) -> Path:
    return model_path.with_suffix(".card.json")


def data_fingerprint(persons: pa.Table) -> str:
    """A digest of the training records, so a card names exactly what trained it."""
    digest = hashlib.sha256()
    for batch in persons.sort_by("record_key").to_batches(max_chunksize=65_536):
        sink = pa.BufferOutputStream()
        with pa.ipc.new_stream(sink, batch.schema) as writer:
            writer.write_batch(batch)
        digest.update(sink.getvalue().to_pybytes())
    return digest.hexdigest()[:16]


def train(persons: pa.Table, training: TrainingConfig, out: Path,
          trained_on: dict[str, Any]) -> dict[str, Any]:
    """Estimate the model on `persons` (all landed records, or `training_sample`'s) and write
    it to `out`; return the model card."""
    with splink_linker(persons, settings(training.em_max_iterations)) as linker:
        with progress.step("estimate_prior"):
            linker.training.estimate_probability_two_random_records_match(
                list(DETERMINISTIC_RULES), recall=DETERMINISTIC_RECALL)
        with progress.step("estimate_u"):
            linker.training.estimate_u_using_random_sampling(
                max_pairs=training.max_pairs_u, seed=training.seed)
        skipped = []
        for number, rule in enumerate(TRAINING_BLOCKING, start=1):
            with progress.step(f"estimate_m_em_{number}_of_{len(TRAINING_BLOCKING)}"):
                try:
                    linker.training.estimate_parameters_using_expectation_maximisation(
                        rule, max_pairs=EM_MAX_PAIRS)
                except EMTrainingException:
                    # No pairs agree on the rule's field (an extract without SSNs): the
                    # other rounds estimate what this one would have.
                    skipped.append(rule.get_blocking_rule("duckdb").blocking_rule_sql)
                    log.warning("training rule %d of %d found no record pairs; skipped",
                                number, len(TRAINING_BLOCKING))
        if len(skipped) == len(TRAINING_BLOCKING):
            raise LinkageError("train: no two records agree on a date of birth, a name or "
                               "an SSN, so there is nothing to estimate the model from")
        model = linker.misc.save_model_to_json(None)
    bounded = bound_parameters(model)

    # Splink gives each linker a random uid, and DuckDB's parallel sums differ in the last
    # bits from run to run; fix the one and round the other so the same data and seed give
    # the same model file byte for byte.
    model["linker_uid"] = f"linkage-{training.seed}"
    for comparison in model["comparisons"]:
        for level in comparison["comparison_levels"]:
            for key in ("m_probability", "u_probability"):
                if isinstance(level.get(key), float):
                    level[key] = float(f"{level[key]:.{SIGNIFICANT_DIGITS}g}")
    text = json.dumps(model, indent=2, sort_keys=True) + "\n"
    settings_fingerprint = hashlib.sha256(
        json.dumps(settings(training.em_max_iterations).get_settings("duckdb").as_dict(),
                   sort_keys=True, default=str).encode()).hexdigest()[:16]
    card = {
        "model_file": out.name,
        "trained_at": dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat(),
        "splink_version": splink.__version__,
        "trained_on": {**trained_on, "records": persons.num_rows,
                       "data_fingerprint": data_fingerprint(persons)},
        "training": {"seed": training.seed, "max_pairs_u": training.max_pairs_u,
                     "em_max_iterations": training.em_max_iterations,
                     "em_max_pairs": EM_MAX_PAIRS, "max_records": training.max_records,
                     "em_blocking_rules": [rule.get_blocking_rule("duckdb").blocking_rule_sql
                                           for rule in TRAINING_BLOCKING],
                     "em_blocking_rules_without_pairs": skipped,
                     "deterministic_recall": DETERMINISTIC_RECALL},
        "settings_fingerprint": settings_fingerprint,
        "model_fingerprint": hashlib.sha256(text.encode()).hexdigest()[:16],
        "probability_two_random_records_match": model["probability_two_random_records_match"],
        "parameter_bounds": bounded,
    }
    _write_atomically(out, text)
    write_card(out, card)
    return card


def bound_parameters(model: dict[str, Any]) -> list[dict[str, Any]]:
    """Hold a trained model (Splink JSON, changed in place) to what EM cannot learn from
    synthetic records; return what changed, for the model card.

    0. A level the training data never showed gets `UNSEEN_LEVEL_BAYES_FACTOR`'s factor.
    1. An "else" level's m is raised to `ELSE_M_FLOOR` (no soft disagreement vetoes a match)
       or lowered to `ELSE_M_CAP` (a hard conflict stays strong); the comparison's other
       levels share the difference in proportion, so its m still sums to one.
    2. No level weighs more than its comparison's first (exact) level: a near-miss level is
       rare among random pairs, so its u rests on few sampled pairs; where its Bayes factor
       came out above the exact level's, its u is raised to match it.
    3. No level weighs less than its comparison's "else" level: partial agreement is never
       worse evidence than none. A level the training data never showed among matches (m
       near zero) would otherwise veto; its m is raised to the else level's Bayes factor.
       A level that agrees on part of the field (all between the exact and the else level
       but `DISAGREEMENT_LEVELS`) weighs at least nothing: its u is lowered to its m.

    >>> model = {"comparisons": [{"output_column_name": "email", "comparison_levels": [
    ...     {"is_null_level": True},
    ...     {"m_probability": 0.9, "u_probability": 0.001},
    ...     {"m_probability": 0.1, "u_probability": 0.00001},
    ...     {"m_probability": 1e-11, "u_probability": 0.999}]}]}
    >>> [change["level"] for change in bound_parameters(model)]
    [3, 2]
    >>> levels = model["comparisons"][0]["comparison_levels"]
    >>> round(levels[3]["m_probability"], 3), round(levels[1]["m_probability"], 3)
    (0.5, 0.45)
    >>> levels[2]["m_probability"] / levels[2]["u_probability"] <= 0.45 / 0.001
    True
    """
    changes: list[dict[str, Any]] = []
    for comparison in model["comparisons"]:
        name = comparison["output_column_name"]
        for index, level in enumerate(comparison["comparison_levels"]):
            factor = UNSEEN_LEVEL_BAYES_FACTOR.get((name, level.get("label_for_charts")))
            if factor and not (isinstance(level.get("m_probability"), (int, float))
                               and isinstance(level.get("u_probability"), (int, float))):
                # A small share of pairs, so the level takes next to nothing from the others.
                level["m_probability"], level["u_probability"] = 0.001 * factor / 70, 0.001 / 70
                changes.append({"comparison": name, "level": index, "bayes_factor": factor})
        levels = [(index, level) for index, level in enumerate(comparison["comparison_levels"])
                  if not level.get("is_null_level")
                  and isinstance(level.get("m_probability"), (int, float))
                  and isinstance(level.get("u_probability"), (int, float))]
        if len(levels) < 2:
            continue
        else_index, else_level = levels[-1]
        m_else = else_level["m_probability"]
        bounded = min(max(m_else, ELSE_M_FLOOR.get(name, 0.0)), ELSE_M_CAP.get(name, 1.0))
        if bounded != m_else:
            others = sum(level["m_probability"] for _, level in levels[:-1])
            scale = (1 - bounded) / others if others else 0.0
            for _, level in levels[:-1]:
                level["m_probability"] *= scale
            else_level["m_probability"] = bounded
            changes.append({"comparison": name, "level": else_index, "m_probability":
                            [_rounded(m_else), _rounded(bounded)]})
        else_factor = else_level["m_probability"] / else_level["u_probability"]
        for index, level in levels[1:-1]:
            if level["m_probability"] / level["u_probability"] < else_factor:
                raised = level["u_probability"] * else_factor
                changes.append({"comparison": name, "level": index, "m_probability":
                                [_rounded(level["m_probability"]), _rounded(raised)]})
                level["m_probability"] = raised
        total = sum(level["m_probability"] for _, level in levels)
        for _, level in levels:
            level["m_probability"] /= total
        for index, level in levels[1:-1]:
            agrees = (name, level.get("label_for_charts")) not in DISAGREEMENT_LEVELS
            if agrees and level["m_probability"] < level["u_probability"]:
                lowered = level["m_probability"]
                changes.append({"comparison": name, "level": index, "u_probability":
                                [_rounded(level["u_probability"]), _rounded(lowered)]})
                level["u_probability"] = lowered
        exact = levels[0][1]
        exact_factor = exact["m_probability"] / exact["u_probability"]
        for index, level in levels[1:]:
            if level["m_probability"] / level["u_probability"] > exact_factor:
                raised = level["m_probability"] / exact_factor
                changes.append({"comparison": name, "level": index, "u_probability":
                                [_rounded(level["u_probability"]), _rounded(raised)]})
                level["u_probability"] = raised
    return changes


def _rounded(value: float) -> float:
    return float(f"{value:.{SIGNIFICANT_DIGITS}g}")


def calibrate_model(store: Store, model_path: Path, out: Path) -> dict[str, Any]:
    """Calibrate the model at `model_path` on the store's labelled pairs (`label_pair`,
    linkage.link.labels), scored as the store's last run scored; write the model with its
    calibration to `out` (the card beside it says so) and return what was fitted."""
    model = population_model(store, load_model(model_path))
    with progress.step("score_labelled_pairs"):
        scored = score_labels(store, model)
    population = [row[0] for row in store.run_step("calibrate", Step(
        "scored_weights", "SELECT match_weight FROM pair_score"))]
    calibration = fit(scored.weights, scored.labels, scored.source_pairs, population)
    document = json.loads(model_path.read_text(encoding="utf-8"))
    document[CALIBRATION_KEY] = calibration.as_dict()
    text = json.dumps(document, indent=2, sort_keys=True) + "\n"
    before = [1 / (1 + 2 ** -weight) for weight in scored.weights]
    after = [calibration.probability(weight, *pair)
             for weight, pair in zip(scored.weights, scored.source_pairs)]
    summary = {**calibration.as_dict(), "matches": sum(scored.labels),
               "left_out_not_in_store": scored.unknown_records,
               "brier_before": _brier(before, scored.labels),
               "brier_after": _brier(after, scored.labels)}
    card_file = card_path(model_path)
    card = json.loads(card_file.read_text(encoding="utf-8")) if card_file.is_file() else {}
    _write_atomically(out, text)
    write_card(out, {**card, "model_file": out.name, "calibration": summary,
                     "model_fingerprint": hashlib.sha256(text.encode()).hexdigest()[:16]})
    return summary


def _brier(probabilities: list[float], labels: list[int]) -> float:
    """Mean squared error of the probabilities against the labels (lower is better)."""
    return round(sum((p - y) ** 2 for p, y in zip(probabilities, labels)) / len(labels), 6)


def write_card(model_path: Path, card: dict[str, Any]) -> None:
    _write_atomically(card_path(model_path), json.dumps(card, indent=2) + "\n")


def _write_atomically(path: Path, content: str) -> None:
    write_text(path, content, "model file")
