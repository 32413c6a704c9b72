"""Wider blocking where a population is small enough to afford it.

The model's prediction rules (model.PREDICT_BLOCKING) keep pairs per record near flat as a
population grows: none joins on a birth date or a street alone, whose blocks
grow with the population. In a small population (a county program's few thousand records,
a benchmark's) those blocks are small, and the pairs only they find are the records whose
names are both misspelt or replaced (at one birth date or one street address): the records
a one-off extract from another system holds most of.

So a full run counts, for each rule of WIDE_RULES, the pairs it would produce (sum of
n(n-1)/2 over its blocks), and adds the rules that stay within WIDE_PAIRS_PER_RECORD pairs
per active record. At a million records none does. A delivery blocks with the rules the
last full run used (recorded in its summary as `wide_rules`), so it agrees with a full run.
"""

from __future__ import annotations

from typing import Any

from linkage.link.prior import last_run_link
from linkage.store import Step, Store

STAGE = "link"

# Each rule as its SQL, by the person columns it joins on (names from code).
# (A full name alone was tried too: it found nothing more on Febrl, and on the sample it
# joined namesakes whose birth dates differ.)
WIDE_RULES = {
    "l.dob = r.dob": ("dob",),
    "l.street = r.street": ("street",),
}
# A rule is added while its pairs stay within this many per active record (benchmarks/
# RESULTS.md: Febrl's 5,000 and 10,000 records take both, the sample's 5,000 and the
# independent population's 60,000 the birth date, 100,000 county-shaped records neither).
WIDE_PAIRS_PER_RECORD = 2.5


def affordable_rules(store: Store, records: int) -> list[str]:
    """The WIDE_RULES whose pairs among the active persons stay within the budget."""
    if records <= 0:
        return []
    chosen = []
    for rule, columns in WIDE_RULES.items():
        present = " AND ".join(f"{column} IS NOT NULL" for column in columns)
        pairs = store.scalar(STAGE, "wide_rule_pairs", f"""
SELECT coalesce(sum(n * (n - 1) / 2), 0) FROM (
    SELECT count(*) AS n FROM person WHERE NOT is_deleted AND {present}
    GROUP BY {", ".join(columns)})""")
        if float(pairs) <= WIDE_PAIRS_PER_RECORD * records:
            chosen.append(rule)
    return chosen


def rules_in_force(store: Store) -> list[str]:
    """The wide rules the store's latest run blocked with."""
    recorded = last_run_link(store).get("wide_rules")
    return [rule for rule in WIDE_RULES if isinstance(recorded, list) and rule in recorded]


def with_rules(model: dict[str, Any], rules: list[str]) -> dict[str, Any]:
    """The model blocking with `rules` after its own prediction rules."""
    if not rules:
        return model
    own = list(model.get("blocking_rules_to_generate_predictions", []))
    return {**model, "blocking_rules_to_generate_predictions": [
        *own, *({"blocking_rule": rule, "sql_dialect": "duckdb"} for rule in rules)]}
