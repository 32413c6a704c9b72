"""The prior of the population being linked: the probability that two of its records,
drawn at random, are one person.

A model file carries the prior of the records it was trained on. That number is not a
property of the model: among N records with a few records per person there are about N
true pairs in N²/2 pairs, so the prior falls as the population grows and rises as each
person has more records. Scoring 100,000 records with the prior of 34,000 made every match
probability about three times too confident, and a county's extract is neither size.

So every full run estimates its own prior from the pairs it scores, by expectation
maximisation over the prior alone (m and u stay the model's): the prior is the expected
number of matches over the number of record pairs, each scored pair a match with the
probability that prior gives it. Pairs the blocking rules never produce count as
non-matches. For a small population that estimate is noisy, so it is shrunk towards the
model's prior as if the model had brought `PRIOR_PSEUDO_PAIRS` pairs of its own (a Beta
prior): a handful of records keeps the model's prior, a county's extract its own.

The run records the prior it used; incremental deliveries, explanations and person search
score with that prior, so a pair's probability is the same wherever it is shown.
"""

from __future__ import annotations

import json
import math
from typing import Any

from linkage.store import Step, Store

STAGE = "link"
PRIOR_KEY = "probability_two_random_records_match"

# Pairs scored down to this probability (under the model's own prior) inform the estimate;
# below it a pair adds next to nothing to the expected number of matches.
PRIOR_FLOOR = 0.01
PRIOR_PSEUDO_PAIRS = 1_000_000
_ROUNDS = 100
_TOLERANCE = 1e-4  # relative change of the prior between rounds


def logit2(probability: float) -> float:
    return math.log2(probability / (1 - probability))


def estimate_prior(store: Store, scored: str, records: int, model_prior: float) -> float:
    """The population's prior from the match weights in table `scored` (a name from code),
    scored with `model_prior`, over `records` active records.

    Each round, a pair's weight under a prior p is its Bayes factor (weight minus the
    model prior's log-odds) plus p's log-odds; the new p is the expected matches over
    all pairs, with the model's prior as pseudo-pairs.
    """
    pairs = records * (records - 1) / 2
    if pairs <= 0:
        return model_prior
    prior = model_prior
    for _ in range(_ROUNDS):
        shift = logit2(prior) - logit2(model_prior)
        expected = store.scalar(STAGE, "expected_matches", f"""
SELECT coalesce(sum(1 / (1 + pow(2, -(match_weight + $shift)))), 0) FROM {scored}""",
                                {"shift": shift})
        updated = (float(expected) + model_prior * PRIOR_PSEUDO_PAIRS) / (
            pairs + PRIOR_PSEUDO_PAIRS)
        updated = min(max(updated, 1e-12), 0.5)
        if abs(updated - prior) <= _TOLERANCE * prior:
            return updated
        prior = updated
    return prior


# A full run keeps the prior in force (its last full run's) while its own estimate is
# within this many bits of log-odds of it: a day's delivery moves the estimate by a few
# hundredths of a bit, which moves every pair by as much and re-cuts the clusters whose
# pairs sit at the threshold (a delivery, scored with the prior in force, left them as they
# were). A population that grew or shrank by a tenth moves it by more.
PRIOR_KEEP_BITS = 0.1


def in_force_if_close(prior: float, in_force: float | None) -> float:
    """`in_force` where `prior` is within PRIOR_KEEP_BITS of log-odds of it, else `prior`.

    >>> in_force_if_close(1.02e-5, 1e-5), in_force_if_close(1.2e-5, 1e-5)
    (1e-05, 1.2e-05)
    """
    if in_force is None or abs(logit2(prior) - logit2(in_force)) > PRIOR_KEEP_BITS:
        return prior
    return in_force


def weight_shift(prior: float, model_prior: float) -> float:
    """What to add to a match weight scored under `model_prior` to score it under `prior`."""
    return logit2(prior) - logit2(model_prior)


def last_run_link(store: Store) -> dict[str, Any]:
    """The link counts the latest run recorded (empty when there is no run yet)."""
    rows = store.run_step(STAGE, Step("last_run_link", """
SELECT summary FROM run ORDER BY run_id DESC LIMIT 1"""))
    if not rows or rows[0][0] is None:
        return {}
    summary = rows[0][0]
    if isinstance(summary, str):
        summary = json.loads(summary)
    link = summary.get("link") if isinstance(summary, dict) else None
    return link if isinstance(link, dict) else {}


def last_run_prior(store: Store) -> float | None:
    """The prior the latest run scored with, or None (no run yet, or an older store)."""
    value = last_run_link(store).get("prior")
    return float(value) if isinstance(value, (int, float)) and 0 < value < 1 else None


def with_prior(model: dict[str, Any], prior: float | None) -> dict[str, Any]:
    """The model scoring with `prior` (unchanged when None)."""
    return model if prior is None else {**model, PRIOR_KEY: prior}


def population_model(store: Store, model: dict[str, Any]) -> dict[str, Any]:
    """The model as the store's latest run scored with it: its population's prior and the
    agreement it learnt (agreement.py)."""
    from linkage.link.agreement import recorded, with_agreement

    return with_agreement(with_prior(model, last_run_prior(store)),
                          recorded(last_run_link(store)))
