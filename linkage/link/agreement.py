"""How often one person's records agree, learnt from the population linked.

The model's m probabilities say how one person's two records compare: on a first and a last
name (exact, a nickname, a slip, or not at all), on a birth date, on a street or a phone.
That is a property of the systems that wrote the records more than of people. One county
system's intake copies names from an ID; another's records are typed from a phone call,
misspelt and replaced at once (Febrl's duplicates disagree on both names several times as
often as the model's training records did, and spell one street several ways). A model
fixed at its training population's rates splits the second system's people, however well
the rest of their records agree.

So a full run learns these m from its own pairs, by expectation maximisation over one
group of comparisons' m at a time (u, the other comparisons and the prior stay as they
are), on the pairs of the prediction rules that did not select them by those comparisons'
values: a pair is in them for what it is, not for agreeing there, so how it compares there
is not chosen by the blocking.

- names, from rules that name no name and select by an SSN, a CIN or a birth date (a phone,
  a street or an e-mail address alone is a household's: its pairs are mostly family
  members with other first names, and EM reads some of them as one person);
- contact (street, phone, ZIP), from rules that name none of them nor an e-mail address.

(Not the birth date: its rarer levels, a partial date in one record, carry u from the
training population; learnt from SSN pairs, their m rose twentyfold on a population with
many partial dates, and namesakes born in one year merged: benchmarks/RESULTS.md.)

Each round, a pair is a match with the probability its weight gives under the current m,
and each level's m is the expected matches at that level over the expected matches. The
model's m count as `PSEUDO_MATCHES` matches of their own (a Dirichlet prior), so a
population with few such pairs keeps the model's m; no "else" level falls below the floor
the model keeps it at (model.ELSE_M_FLOOR), and no level weighs less than its comparison's
"else" level. Levels the model holds at no m stay as they
are. A group learns with the weights the groups before it learnt.

The run records the m it learnt (`agreement` in its summary); deliveries, person search and
explanations score with them, as with the population's prior (prior.py). A full run keeps
the m in force while what it learns is within KEEP_BITS of them.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

import numpy as np

from linkage.link.comparison_levels import comparisons, gamma_sql
from linkage.link.model_file import prediction_rules
from linkage.store import Step, Store

STAGE = "link"


@dataclass(frozen=True)
class Group:
    """Comparisons learnt together, from the pairs of the rules that read no person column
    starting with one of `named_by` and, unless `selected_by` is empty, read one starting
    with one of `selected_by` (`informing_rules`)."""

    comparisons: tuple[str, ...]
    named_by: tuple[str, ...]
    selected_by: tuple[str, ...] = ()


GROUPS = (
    Group(("first_name", "last_name"), named_by=("first_name", "last_name", "surname"),
          selected_by=("ssn", "cin", "dob")),
    Group(("contact",), named_by=("phone", "street", "zip", "email")),
)
COMPARISONS = tuple(name for group in GROUPS for name in group.comparisons)
PSEUDO_MATCHES = 500.0
_ROUNDS = 50
_TOLERANCE = 1e-4  # largest change of an m between rounds, in bits
SUMMARY_KEY = "agreement"
EARLIER_SUMMARY_KEY = "name_agreement"  # what runs recorded before contact was learnt
LEVELS_TABLE = "agreement_levels"
# A full run keeps the m in force (its last full run's) while what it learns is within this
# many bits of them at every level: a day's records move the rarer levels' m by a tenth or
# two of a bit, and re-weighing every pair for that would re-cut clusters at the threshold
# that a delivery, scored with the m in force, left as they were.
KEEP_BITS = 0.25


def recorded(link: dict[str, Any]) -> Any:
    """The m a run's link summary recorded (under the key runs of an earlier version used,
    when that is what it holds).

    >>> recorded({"name_agreement": {"first_name": []}}), recorded({})
    ({'first_name': []}, None)
    """
    return link.get(SUMMARY_KEY, link.get(EARLIER_SUMMARY_KEY))


def learnt_comparisons(model: dict[str, Any]) -> list[str]:
    """COMPARISONS the model has (a model of one's own may name them otherwise, or lack one)."""
    names = {comparison.get("output_column_name") for comparison in model["comparisons"]}
    return [name for name in COMPARISONS if name in names]


def _columns(rule: str) -> set[str]:
    """The person columns a blocking rule's SQL reads (l.x, r."x").

    >>> sorted(_columns('(l."dob" = r."dob") AND (LIST_EXTRACT(l.surname_parts, 1) = 1)'))
    ['dob', 'surname_parts']
    """
    return set(re.findall(r'\b[lr]\."?([A-Za-z_][A-Za-z0-9_]*)"?', rule))


def informing_rules(model: dict[str, Any], group: Group) -> list[str]:
    """Splink match keys (rule positions) of the prediction rules that inform `group`: its
    rules name no column `group.named_by` starts, and one `group.selected_by` starts.

    >>> rules = {"blocking_rules_to_generate_predictions": [
    ...     {"blocking_rule": 'l."ssn" = r."ssn"'}, "l.dob = r.dob AND l.first_name = r.last_name",
    ...     "l.street = r.street", "l.dob = r.dob", "l.first_name_phonetic = r.first_name_phonetic"]}
    >>> informing_rules(rules, GROUPS[0]), informing_rules(rules, GROUPS[1])
    (['0', '3'], ['0', '1', '3', '4'])
    """
    chosen = []
    for index, rule in enumerate(prediction_rules(model)):
        columns = _columns(rule)
        if any(column.startswith(group.named_by) for column in columns):
            continue
        if group.selected_by and not any(column.startswith(group.selected_by)
                                         for column in columns):
            continue
        chosen.append(str(index))
    return chosen


def compare_levels(store: Store, scored: str, model: dict[str, Any]) -> str:
    """Temporary table LEVELS_TABLE: the pairs of table `scored` (a name from code:
    record_key_l, record_key_r, match_weight, match_key) with their level of each learnt
    comparison (Splink's comparison vector value, gamma_<comparison>): the model's levels
    as SQL (comparison_levels.py, as person search reads them), since Splink's predict
    output does not carry them."""
    names = learnt_comparisons(model)
    found = [comparison for comparison in comparisons(model) if comparison.name in names]
    columns = sorted({column for comparison in found for column in comparison.inputs})
    sides = ", ".join(f"l.{column} AS {column}_l, r.{column} AS {column}_r"
                      for column in columns)
    levels = ", ".join(f"{gamma_sql(comparison)} AS gamma_{comparison.name}"
                       for comparison in found)
    store.run_step(STAGE, Step("agreement_levels", f"""
CREATE OR REPLACE TEMP TABLE {LEVELS_TABLE} AS
SELECT record_key_l, record_key_r, match_weight, match_key, {levels}
FROM (SELECT s.*, {sides} FROM {scored} AS s
      JOIN person AS l ON l.record_key = s.record_key_l
      JOIN person AS r ON r.record_key = s.record_key_r)"""))
    return LEVELS_TABLE


def _levels(model: dict[str, Any], name: str) -> list[tuple[int, dict[str, Any]]]:
    """The comparison's levels but its null level, with Splink's comparison vector value
    (counting down to 0, the "else" level)."""
    comparison = next(c for c in model["comparisons"] if c["output_column_name"] == name)
    levels = [level for level in comparison["comparison_levels"] if not level.get("is_null_level")]
    return [(len(levels) - 1 - index, level) for index, level in enumerate(levels)]


def _label(level: dict[str, Any]) -> str:
    """How a run's summary names a level: its chart label, else its condition."""
    return str(level.get("label_for_charts", level.get("sql_condition")))


def _m(level: dict[str, Any]) -> float | None:
    value = level.get("m_probability")
    return float(value) if isinstance(value, (int, float)) and value > 0 else None


def learn(store: Store, scored: str, model: dict[str, Any], shift: float
          ) -> dict[str, list[list[Any]]]:
    """Per learnt comparison, [label, model m, learnt m] of each level whose m was learnt,
    from table `scored` (a name from code: match_weight under the model's prior plus
    `shift`, match_key and gamma_<comparison>), group by group (GROUPS). A comparison no
    pair informs is not in it."""
    present = set(learnt_comparisons(model))
    learnt: dict[str, list[list[Any]]] = {}
    for group in GROUPS:
        names = [name for name in group.comparisons if name in present]
        keys = informing_rules(model, group)
        if names and keys:
            learnt |= _learn_group(store, scored, model, shift, names, keys, learnt)
    return learnt


def _learn_group(store: Store, scored: str, model: dict[str, Any], shift: float,
                 names: list[str], rules: list[str], earlier: dict[str, list[list[Any]]]
                 ) -> dict[str, list[list[Any]]]:
    """EM over the m of comparisons `names` on the pairs of `rules` (match keys), the
    weights holding what the `earlier` groups learnt."""
    from linkage.link.model import ELSE_M_FLOOR  # (Splink's comparison library: not at import)

    gammas = ", ".join(f"gamma_{name}" for name in names)
    keys = {f"key_{index}": key for index, key in enumerate(rules)}
    table = store.run_arrow(STAGE, Step("informing_pairs", f"""
SELECT match_weight + $shift + {weight_change_sql(earlier, model)} AS weight, {gammas}
FROM {scored}
WHERE match_key IN ({', '.join(f'${name}' for name in keys)})""", {"shift": shift, **keys}))
    if table.num_rows == 0:
        return {}
    weight = table.column("weight").to_numpy()
    gamma = {name: table.column(f"gamma_{name}").fill_null(-1).to_numpy().astype(np.int64)
             for name in names}
    names = [name for name in names if (gamma[name] >= 0).any()]  # (else: all null levels)
    if not names:
        return {}
    start, learnable, u = {}, {}, {}
    for name in names:
        levels = _levels(model, name)
        size = max(value for value, _ in levels) + 1
        m0, u0 = np.zeros(size), np.zeros(size)
        mask = np.zeros(size, dtype=bool)
        for value, level in levels:
            if (m := _m(level)) is not None:
                m0[value], mask[value] = m, True
            if isinstance(level.get("u_probability"), (int, float)):
                u0[value] = float(level["u_probability"])
        start[name], learnable[name], u[name] = m0, mask, u0
    m = {name: start[name].copy() for name in names}
    for _ in range(_ROUNDS):
        shift_bits = np.zeros(len(weight))
        for name in names:
            ratio = np.zeros(len(m[name]))
            mask = learnable[name]
            ratio[mask] = np.log2(m[name][mask] / start[name][mask])
            known = gamma[name] >= 0
            shift_bits[known] += ratio[gamma[name][known]]
        probability = 1 / (1 + np.exp2(-(weight + shift_bits)))
        change = 0.0
        for name in names:
            updated = _update(gamma[name], probability, start[name], learnable[name],
                              u[name], ELSE_M_FLOOR.get(name))
            mask = learnable[name]
            change = max(change, float(np.abs(np.log2(updated[mask] / m[name][mask])).max()))
            m[name] = updated
        if change <= _TOLERANCE:
            break
    return {name: [[_label(level), float(start[name][value]), float(f"{m[name][value]:.6g}")]
                   for value, level in _levels(model, name) if learnable[name][value]]
            for name in names}


def _update(gamma: np.ndarray, probability: np.ndarray, start: np.ndarray,
            learnable: np.ndarray, u: np.ndarray, floor: float | None) -> np.ndarray:
    """One round's m of a comparison: expected matches by level, with the model's m as
    PSEUDO_MATCHES matches, over the mass its learnable levels hold. The "else" level
    (value 0) keeps `floor` at least, and no level weighs less than it: agreeing on part
    of a value is never worse evidence than disagreeing (EM would take a level no match of
    this population reached to nothing)."""
    known = gamma >= 0
    counts = np.bincount(gamma[known], weights=probability[known], minlength=len(start))
    counts[~learnable] = 0.0
    mass = start[learnable].sum()
    m = start.copy()
    m[learnable] = mass * (counts[learnable] + PSEUDO_MATCHES * start[learnable] / mass) / (
        counts[learnable].sum() + PSEUDO_MATCHES)
    for _ in range(len(m)):
        least = np.zeros(len(m))
        least[0] = max(floor or 0.0, 0.0)
        if learnable[0] and u[0] > 0:
            least[1:] = np.maximum(least[0], m[0]) * u[1:] / u[0]
        low = learnable & (m < least * (1 - 1e-12))
        if not low.any():
            break
        m[low] = least[low]
        rest = learnable & ~low
        m[rest] *= (mass - m[low].sum()) / m[rest].sum()
    return m


def in_force_if_close(learnt: dict[str, list[list[Any]]], in_force: Any
                      ) -> dict[str, list[list[Any]]]:
    """`in_force` (the m the last full run learnt) where `learnt` has the same levels of the
    same model and differs from it by at most KEEP_BITS at each; else `learnt`.

    >>> learnt = {"first_name": [["else", 0.011, 0.05]]}
    >>> in_force_if_close(learnt, {"first_name": [["else", 0.011, 0.045]]})
    {'first_name': [['else', 0.011, 0.045]]}
    >>> in_force_if_close(learnt, {"first_name": [["else", 0.011, 0.03]]}) == learnt
    True
    """
    if not isinstance(in_force, dict) or set(in_force) != set(learnt):
        return learnt
    for name, rows in learnt.items():
        kept = in_force[name]
        if not isinstance(kept, list) or len(kept) != len(rows):
            return learnt
        for (label, m0, m), row in zip(rows, kept, strict=True):
            if not (isinstance(row, list) and len(row) == 3 and row[0] == label
                    and isinstance(row[1], (int, float)) and math.isclose(row[1], m0)
                    and isinstance(row[2], (int, float)) and row[2] > 0
                    and abs(math.log2(m / row[2])) <= KEEP_BITS):
                return learnt
    return in_force


def weight_change_sql(learnt: dict[str, list[list[Any]]], model: dict[str, Any]) -> str:
    """SQL of what the learnt m add to a pair's match weight, from its gamma_<comparison>
    columns (numbers from code, never input)."""
    terms = []
    for name, rows in learnt.items():
        by_label = {label: (m0, m) for label, m0, m in rows}
        cases = [f"WHEN {value} THEN {math.log2(by_label[label][1] / by_label[label][0])!r}"
                 for value, level in _levels(model, name)
                 if (label := _label(level)) in by_label]
        if cases:
            terms.append(f"CASE gamma_{name} {' '.join(cases)} ELSE 0 END")
    return " + ".join(terms) if terms else "0"


def largest_gain(learnt: dict[str, list[list[Any]]]) -> float:
    """The most, in bits, the learnt m can raise a pair's match weight above the model's:
    each comparison's largest rise, summed.

    >>> largest_gain({"a": [["x", 0.5, 0.25], ["y", 0.01, 0.04]], "b": [["z", 0.2, 0.1]]})
    2.0
    """
    return sum(max([0.0, *(math.log2(m / m0) for _, m0, m in rows if m0 > 0 and m > 0)])
               for rows in learnt.values())


def moved_levels(learnt: dict[str, list[list[Any]]], bits: float = 1.0) -> list[str]:
    """The levels whose learnt m moved their weight by at least `bits` from the model's, as
    a run's summary shows them, the largest moves first.

    >>> moved_levels({"first_name": [["All other comparisons", 0.011, 0.245],
    ...                              ["Exact match on first_name", 0.898, 0.55]]})
    ['first_name "All other comparisons" m 0.011 -> 0.245 (+4.5 bits)']
    """
    moves = [(math.log2(m / m0), name, label, m0, m) for name, rows in learnt.items()
             for label, m0, m in rows if m0 > 0 and m > 0]
    return [f'{name} "{label}" m {m0:.3g} -> {m:.3g} ({change:+.1f} bits)'
            for change, name, label, m0, m in sorted(moves, key=lambda move: -abs(move[0]))
            if abs(change) >= bits]


def with_agreement(model: dict[str, Any], learnt: dict[str, Any] | None) -> dict[str, Any]:
    """The model with the m a run learnt for its levels, where the level is the one
    the run learnt it for (same label, same model m); unchanged otherwise."""
    if not isinstance(learnt, dict) or not learnt:
        return model
    comparisons = []
    for comparison in model["comparisons"]:
        rows = learnt.get(comparison["output_column_name"])
        if not isinstance(rows, list):
            comparisons.append(comparison)
            continue
        by_label = {row[0]: row[1:] for row in rows
                    if isinstance(row, list) and len(row) == 3}
        levels = []
        for level in comparison["comparison_levels"]:
            found = by_label.get(_label(level))
            if found and _m(level) is not None and math.isclose(_m(level), found[0]) \
                    and isinstance(found[1], (int, float)) and 0 < found[1] < 1:
                level = {**level, "m_probability": float(found[1])}
            levels.append(level)
        comparisons.append({**comparison, "comparison_levels": levels})
    return {**model, "comparisons": comparisons}
