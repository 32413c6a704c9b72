"""The model's comparisons as SQL over record pairs, and its weights as arrays.

Person search scores a query against its candidates with them, and a full run reads the
levels of the pairs Splink scored (agreement.py) with the same SQL.

Splink's trained model is data: per comparison, levels in order, each an SQL condition on
the pair's `<column>_l` / `<column>_r` values with its m and u probabilities, and for some
an exact-match term-frequency adjustment. This module reads that data: the levels become
one CASE per comparison (the only part that needs SQL: string similarities), and each
pair's weights are looked up by level for all candidates at once (`weigh`), computing what
Splink's predict SQL computes, in Splink's terms. A search needs neither Splink's SQL
generation (it costs more than the scoring) nor Splink itself (a CLI search starts without
it); tests/test_search_scoring.py holds the weights to Splink's `compare_records`.

Per comparison: the level (comparison vector value: -1 for the null level, then counting
down to 0 in the model's order), its weight log2(m/u) (m and u floored at 1e-300, null
level 0), and for a level with `tf_adjustment_column` the adjustment
w * (log2(u of the exact-match level) - log2(max(tf_l, tf_r, tf_minimum_u_value))).
The match weight is log2 of the prior odds plus the comparisons' weights.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

import numpy as np

from linkage.errors import ModelError

_M_U_FLOOR = 1e-300  # Splink's M_U_CLAMP_MIN
_INPUT = re.compile(r'"?([A-Za-z_][A-Za-z0-9_]*?)_[lr]\b"?')
_EXACT = re.compile(r'^"?([A-Za-z_][A-Za-z0-9_]*)_l"? = "?\1_r"?$')


@dataclass(frozen=True)
class Level:
    value: int  # Splink's comparison vector value
    label: str
    condition: str  # SQL over <column>_l and <column>_r; "ELSE" for the last level
    weight: float
    tf_column: str | None = None
    tf_weight: float = 0.0
    tf_log2_u: float = 0.0
    tf_minimum_u: float = 0.0


@dataclass(frozen=True)
class Comparison:
    """One comparison of the model: its levels and the person columns they read."""

    name: str
    levels: tuple[Level, ...]
    inputs: tuple[str, ...]

    @property
    def labels(self) -> dict[int, str]:
        return {level.value: level.label for level in self.levels}


_NOT_OBSERVED = "level not observed in training dataset"  # Splink's text for it


def _defaults(levels: int, value: int) -> tuple[float, float]:
    """Splink's default m and u for a level its training left without one: m 0.95 at the
    top level and the rest shared, u such that the weights run evenly from -5 to 3, and 10
    at the top level."""
    m = [0.05 / (levels - 1)] * (levels - 1) + [0.95]
    weights = [-5.0] if levels == 2 else [-5 + i * 8 / (levels - 2) for i in range(levels - 1)]
    weights.append(10.0)
    return m[value], m[value] / 2 ** weights[value]


def _probability(level: dict[str, Any], name: str, default: float) -> float:
    value = level.get(name)
    if value == _NOT_OBSERVED:
        return 1e-6
    if value is None:
        return default
    if not isinstance(value, (int, float)):
        raise ModelError(f"model: a comparison level's {name} is not a number")
    return float(value)


def _weight(level: dict[str, Any], levels: int, value: int) -> float:
    """log2(m/u), as Splink weighs a level (0 for the null level)."""
    if level.get("is_null_level"):
        return 0.0
    default_m, default_u = _defaults(levels, value)
    m = _probability(level, "m_probability", default_m)
    u = _probability(level, "u_probability", default_u)
    return math.log2(max(m, _M_U_FLOOR) / max(u, _M_U_FLOOR))


def _exact_u(levels: list[dict[str, Any]], column: str) -> float:
    """The u probability of the comparison's exact-match level on `column` (Splink's
    term-frequency baseline)."""
    for level in levels:
        match = _EXACT.match(level.get("sql_condition", "").strip())
        if match and match.group(1).lower() == column.lower():
            return float(level["u_probability"])
    raise ModelError(f"model: no exact-match level on {column} for its term frequencies")


def comparisons(model: dict[str, Any]) -> list[Comparison]:
    """The model's comparisons, read from its settings."""
    found = []
    for comparison in model["comparisons"]:
        raw = comparison["comparison_levels"]
        counted = sum(1 for level in raw if not level.get("is_null_level"))
        levels, value, inputs = [], counted - 1, []
        for level in raw:
            condition = level["sql_condition"]
            for column in _INPUT.findall(condition):
                if column not in inputs:
                    inputs.append(column)
            tf_column = level.get("tf_adjustment_column")
            tf_weight = float(level.get("tf_adjustment_weight", 1.0)) if tf_column else 0.0
            levels.append(Level(
                value=-1 if level.get("is_null_level") else value,
                label=level.get("label_for_charts", condition), condition=condition,
                weight=_weight(level, counted, value),
                tf_column=tf_column if tf_column and tf_weight and condition != "ELSE" else None,
                tf_weight=tf_weight,
                tf_log2_u=math.log2(_exact_u(raw, tf_column)) if tf_column else 0.0,
                tf_minimum_u=float(level.get("tf_minimum_u_value", 0.0))))
            if not level.get("is_null_level"):
                value -= 1
        found.append(Comparison(comparison["output_column_name"], tuple(levels),
                                tuple(inputs)))
    return found


def gamma_sql(comparison: Comparison) -> str:
    """The comparison's level for a pair, as Splink's comparison vector value."""
    whens = [f"WHEN ({level.condition}) THEN {level.value}" for level in comparison.levels
             if level.condition.strip().upper() != "ELSE"]
    otherwise = next((level.value for level in comparison.levels
                      if level.condition.strip().upper() == "ELSE"), None)
    return ("CASE " + " ".join(whens)
            + (f" ELSE {otherwise}" if otherwise is not None else "") + " END")


def prior_weight(model: dict[str, Any]) -> float:
    """log2 of the prior odds that two records are one person."""
    prior = float(model["probability_two_random_records_match"])
    return math.log2(prior / (1 - prior))


def weigh(comparison: Comparison, gammas: np.ndarray,
          term_frequencies: dict[str, float | None]) -> np.ndarray:
    """The comparison's weight for each pair at its level (`gammas`), the term-frequency
    adjustment included: the query's share of records holding its value (the candidates
    bring none: Splink takes the larger of the two, so the query's)."""
    weights = np.zeros(len(gammas), dtype=np.float64)
    for level in comparison.levels:
        weight = level.weight
        frequency = term_frequencies.get(level.tf_column) if level.tf_column else None
        if frequency is not None:
            weight += level.tf_weight * (level.tf_log2_u
                                         - math.log2(max(frequency, level.tf_minimum_u)))
        weights[gammas == level.value] = weight
    return weights
