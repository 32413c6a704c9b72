"""Match probabilities calibrated on labelled pairs, where a county has some.

A Fellegi-Sunter model treats its comparisons as independent; they are not (a household
shares a surname, an address and a phone), so its probabilities are overconfident. A few
hundred pairs a reviewer decided, or a benchmark's truth, are enough to correct that:
a logistic regression of "same person" on the pair's match weight (Platt scaling, by
scikit-learn), and one per pair of source systems where that pair has enough labels of
both kinds. It is monotone in the match weight, so it never reorders a source pair's
pairs; it changes what a probability means, and so which pairs pass a threshold.

The calibration is kept in the model file under `linkage_calibration` (Splink reads the
rest) and used wherever the model scores: runs and deliveries, explanations and search.

>>> fitted = fit([-10.0, -5.0, 0.0, 5.0, 10.0, 15.0] * 20, [0, 0, 0, 1, 1, 1] * 20,
...              [("a", "b")] * 120)
>>> round(fitted.probability(20.0, "a", "b"), 3), round(fitted.probability(-20.0, "b", "a"), 3)
(1.0, 0.0)
>>> fitted.labels, sorted(fitted.by_source_pair)
(120, [('a', 'b')])
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from linkage.errors import ModelError

CALIBRATION_KEY = "linkage_calibration"
# A source pair gets its own calibration with at least this many labels of each kind.
MIN_LABELS_PER_CLASS = 20


@dataclass(frozen=True)
class Calibration:
    """p = 1 / (1 + exp(-(slope * match_weight + intercept))), per source pair or overall."""

    slope: float
    intercept: float
    labels: int
    by_source_pair: dict[tuple[str, str], tuple[float, float]] = field(default_factory=dict)

    def coefficients(self, source_l: str, source_r: str) -> tuple[float, float]:
        pair = tuple(sorted((source_l, source_r)))
        return self.by_source_pair.get(pair, (self.slope, self.intercept))

    def probability(self, match_weight: float, source_l: str, source_r: str) -> float:
        slope, intercept = self.coefficients(source_l, source_r)
        return 1 / (1 + math.exp(-max(min(slope * match_weight + intercept, 700), -700)))

    def probability_sql(self, weight: str, key_l: str, key_r: str) -> tuple[str, dict]:
        """SQL of the calibrated probability of `weight` for records `key_l`, `key_r` (column
        expressions from code), and its parameters: every coefficient is bound."""
        params: dict[str, Any] = {"cal_slope": self.slope, "cal_intercept": self.intercept}
        sources = (f"least(split_part({key_l}, ':', 1), split_part({key_r}, ':', 1))",
                   f"greatest(split_part({key_l}, ':', 1), split_part({key_r}, ':', 1))")
        slope, intercept = [], []
        for i, ((left, right), (a, b)) in enumerate(sorted(self.by_source_pair.items())):
            params.update({f"cal_l_{i}": left, f"cal_r_{i}": right,
                           f"cal_slope_{i}": a, f"cal_intercept_{i}": b})
            when = f"WHEN {sources[0]} = $cal_l_{i} AND {sources[1]} = $cal_r_{i}"
            slope.append(f"{when} THEN $cal_slope_{i}")
            intercept.append(f"{when} THEN $cal_intercept_{i}")
        if slope:
            slope = ["CASE", *slope, "ELSE $cal_slope END"]
            intercept = ["CASE", *intercept, "ELSE $cal_intercept END"]
        else:
            slope, intercept = ["$cal_slope"], ["$cal_intercept"]
        z = f"(({' '.join(slope)}) * ({weight}) + ({' '.join(intercept)}))"
        return f"1 / (1 + exp(-greatest(least({z}, 700), -700)))", params

    def as_dict(self) -> dict[str, Any]:
        return {"method": "logistic regression on match weight", "slope": self.slope,
                "intercept": self.intercept, "labels": self.labels,
                "by_source_pair": [{"sources": list(pair), "slope": a, "intercept": b}
                                   for pair, (a, b) in sorted(self.by_source_pair.items())]}


def fit(weights: Sequence[float], labels: Sequence[int],
        source_pairs: Sequence[tuple[str, str]],
        population: Sequence[float] = ()) -> Calibration:
    """Fit on labelled pairs: their match weights, 1 for one person and 0 for two, and each
    pair's two source systems. With `population` (the match weights of the scored pairs),
    the model's own probabilities weigh in as much as the labels do (`model_pseudo_labels`)."""
    from sklearn.linear_model import LogisticRegression

    if len(set(labels)) < 2:
        raise ModelError("calibration needs labelled pairs of both kinds (same person and "
                         "different people)")

    def logistic(xs: Sequence[float], ys: Sequence[int],
                 ws: Sequence[float]) -> tuple[float, float]:
        model = LogisticRegression(C=1e4, max_iter=1000)
        model.fit([[x] for x in xs], list(ys), sample_weight=list(ws))
        return float(model.coef_[0][0]), float(model.intercept_[0])

    def with_model(xs: list[float], ys: list[int]) -> tuple[float, float]:
        pseudo = model_pseudo_labels(population, len(ys)) if population else ([], [], [])
        return logistic([*xs, *pseudo[0]], [*ys, *pseudo[1]], [1.0] * len(ys) + pseudo[2])

    slope, intercept = with_model(list(weights), list(labels))
    grouped: dict[tuple[str, str], list[tuple[float, int]]] = {}
    for weight, label, pair in zip(weights, labels, source_pairs):
        grouped.setdefault(tuple(sorted(pair)), []).append((weight, label))
    by_pair = {}
    for pair, rows in grouped.items():
        positives = sum(label for _, label in rows)
        if min(positives, len(rows) - positives) >= MIN_LABELS_PER_CLASS:
            by_pair[pair] = with_model([w for w, _ in rows], [y for _, y in rows])
    return Calibration(slope, intercept, len(labels), by_pair)


# Width, in bits of match weight, of the bins the model's own probabilities are counted in.
WEIGHT_BIN = 2.0


def model_pseudo_labels(population: Sequence[float], total: float
                        ) -> tuple[list[float], list[int], list[float]]:
    """The model's own probabilities as soft labels: for each bin of the population's
    scored pairs, a "match" and a "non-match" at the bin's mean weight, weighted by the
    model's probability there and by the bin's share of `total`.

    Reviewers label the uncertain band far more often than its share of pairs, so labels
    alone say nothing of high and low weights, and a regression fitted to them alone
    carries the band's match rate everywhere. With these beside the labels, the fit follows
    the labels where there are labels and the model where there are none.

    >>> weights, labels, samples = model_pseudo_labels([10.0] * 3 + [-10.0], total=4)
    >>> labels, [round(s, 3) for s in samples]
    ([1, 0, 1, 0], [0.001, 0.999, 2.997, 0.003])
    """
    bins: dict[int, list[float]] = {}
    for weight in population:
        bins.setdefault(math.floor(weight / WEIGHT_BIN), []).append(weight)
    weights, labels, samples = [], [], []
    for members in (bins[key] for key in sorted(bins)):
        centre = sum(members) / len(members)
        share = total * len(members) / len(population)
        probability = 1 / (1 + 2 ** -centre)
        weights += [centre, centre]
        labels += [1, 0]
        samples += [share * probability, share * (1 - probability)]
    return weights, labels, samples


def from_model(model: dict[str, Any]) -> Calibration | None:
    """The calibration a model file carries, if any (validated: numbers, and a slope > 0 so
    a higher weight never means a lower probability)."""
    found = model.get(CALIBRATION_KEY)
    if found is None:
        return None
    try:
        pairs = {tuple(sorted(entry["sources"])): (float(entry["slope"]), float(entry["intercept"]))
                 for entry in found.get("by_source_pair", [])}
        calibration = Calibration(float(found["slope"]), float(found["intercept"]),
                                  int(found.get("labels", 0)), pairs)
    except (AttributeError, KeyError, TypeError, ValueError):
        raise ModelError(f"'{CALIBRATION_KEY}' in the model file is not a calibration "
                         "(slope, intercept, by_source_pair)") from None
    coefficients = [(calibration.slope, calibration.intercept), *pairs.values()]
    if any(not (math.isfinite(a) and math.isfinite(b)) or a <= 0 for a, b in coefficients):
        raise ModelError(f"'{CALIBRATION_KEY}' in the model file has a slope that is not a "
                         "positive number")
    return calibration
