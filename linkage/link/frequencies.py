"""The stored pairs a delivery's term frequencies move across the match threshold.

A full run weighs an exact name or street by how common it is in the whole population. A
delivery scores its own records with the frequencies of the population it joins, but the
pairs among the records it did not touch keep the weights they were given under the
frequencies before it: a name the delivery made commoner weighs a little less in a full
run. Most such pairs are far from any threshold and cluster the same either way; a pair
whose weight could have moved across the match threshold is scored again, so the delivery
forms the clusters a full run would.

How far a pair can have moved is bounded by the values it agrees on: for each column the
model adjusts by frequency, the change (in bits) of that value's frequency between the
population before the delivery and after it.
"""

from __future__ import annotations

import math

from linkage.link.calibration import Calibration
from linkage.sources import ChangedRecords
from linkage.store import Step, Store

STAGE = "link"
# A pair is scored again when its weight is within its bound plus this margin of the
# match threshold's weight (bits).
MARGIN_BITS = 0.01
STALE = "stale_record"


def _moved(column: str, changed: ChangedRecords) -> str:
    """Each value of `column` (a model column, validated by model_check) with how far its
    frequency moved, in bits: before = the records active before this run (those it did
    not change, and those it deleted), after = the active records now."""
    return f"""
CREATE OR REPLACE TEMP TABLE moved_{column} AS
WITH after AS (
    SELECT {column} AS value, count(*) AS n FROM person
    WHERE NOT is_deleted AND {column} IS NOT NULL GROUP BY ALL
), before AS (
    SELECT {column} AS value, count(*) AS n FROM person
    WHERE {column} IS NOT NULL AND (
        (NOT is_deleted AND record_key NOT IN ({changed.keys()}))
        OR (is_deleted AND record_key IN ({changed.keys()})))
    GROUP BY ALL
)
SELECT value, abs(log2((a.n / (SELECT sum(n) FROM after)) / (b.n / (SELECT sum(n) FROM before))))
    AS bits
FROM after AS a JOIN before AS b USING (value)"""


def stale_records(store: Store, changed: ChangedRecords, columns: list[str],
                  match_threshold: float, calibration: Calibration | None) -> int:
    """Fill table STALE with the records of stored pairs (neither record changed) whose
    weight the moved frequencies of `columns` could have carried across `match_threshold`;
    return how many. With a calibration (whose threshold weight differs by source pair),
    every pair whose bound exceeds the margin is stale."""
    steps = [Step(f"moved_{column}", _moved(column, changed)) for column in columns]
    store.run_steps(STAGE, steps)
    joins = "\n".join(
        f"LEFT JOIN moved_{c} AS m_{c} ON l.{c} = r.{c} AND m_{c}.value = l.{c}" for c in columns)
    bound = " + ".join(f"coalesce(m_{c}.bits, 0)" for c in columns) or "0"
    near = ("bound > $margin" if calibration else
            "abs(match_weight - $threshold_weight) <= bound + $margin")
    store.run_step(STAGE, Step("stale_records", f"""
CREATE OR REPLACE TEMP TABLE {STALE} AS
WITH bounded AS (
    SELECT s.record_key_l, s.record_key_r, s.match_weight, {bound} AS bound
    FROM pair_score AS s
    JOIN person AS l ON l.record_key = s.record_key_l
    JOIN person AS r ON r.record_key = s.record_key_r
    {joins}
    WHERE s.record_key_l NOT IN ({changed.keys()}) AND s.record_key_r NOT IN ({changed.keys()})
), stale AS (
    SELECT record_key_l, record_key_r FROM bounded WHERE bound > 0 AND {near}
)
SELECT record_key_l AS record_key FROM stale UNION SELECT record_key_r FROM stale""", {
        "margin": MARGIN_BITS,
        "threshold_weight": math.log2(match_threshold / (1 - match_threshold))}))
    store.run_steps(STAGE, [Step(f"drop_moved_{c}", f"DROP TABLE moved_{c}") for c in columns])
    stale = store.scalar(STAGE, "count_stale", f"SELECT count(*) FROM {STALE}")
    if not stale:
        store.run_step(STAGE, Step("drop_stale", f"DROP TABLE {STALE}"))
    return stale


def drop_stale_pairs(store: Store) -> None:
    """Remove the stored pairs among STALE records (the caller scores them again)."""
    store.run_step(STAGE, Step("drop_stale_pairs", f"""
DELETE FROM pair_score WHERE record_key_l IN (SELECT record_key FROM {STALE})
    AND record_key_r IN (SELECT record_key FROM {STALE})"""))
