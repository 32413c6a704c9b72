"""Link a delivery into the existing population without re-linking everything.

Only records landed or deleted in this run (its ChangedRecords) are scored: against every
other active record with `predict_between` and among themselves with `predict_within`,
both with term frequencies computed from the whole active population, so a new value is
weighed as a full run would weigh it; stored pairs among the other records that those
frequencies could have moved across the match threshold are scored again
(frequencies.py). Only the clusters those records touch are rebuilt; every other cluster
keeps its records (named, as Splink names clusters, by its smallest record key), so the
EID rules see the clusters a full run would produce.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from linkage import progress
from linkage.config import LinkingConfig
from linkage.link.constraints import Components, add_to_membership
from linkage.link.calibration import Calibration
from linkage.link.agreement import recorded as recorded_agreement
from linkage.link.prior import PRIOR_FLOOR, PRIOR_KEY, last_run_link
from linkage.link.clustering import Clustering
from linkage.link.frequencies import STALE, drop_stale_pairs, stale_records
from linkage.link.score import Linked, finish_clusters, keep_pairs
from linkage.link.splink_session import persons_sql, tf_columns
from linkage.link.wide_blocking import rules_in_force, with_rules
from linkage.sources import ChangedRecords
from linkage.store import Step, Store
from linkage.store.relations import ACTIVE_MEMBER

STAGE = "link"


def link_incremental(store: Store, changed: ChangedRecords, model: dict,
                     linking: LinkingConfig, run_id: int,
                     deduplicated_sources: Sequence[str] = (),
                     calibration: Calibration | None = None) -> Linked:
    """Score the `changed` records, update `pair_score`, and re-form the clusters they touch
    into the run's Clustering. Blocks with the wider rules the last full run could afford
    (wide_blocking.py), so the delivery finds the pairs a full run would."""
    wide = rules_in_force(store)
    model = with_rules(model, wide)
    records = store.scalar(STAGE, "count_active",
                           "SELECT count(*) FROM person WHERE NOT is_deleted")
    changed_active = store.scalar(STAGE, "count_changed", f"""
SELECT count(*) FROM person WHERE NOT is_deleted
    AND record_key IN ({changed.keys()})""")
    others = records - changed_active
    store.run_step(STAGE, Step("drop_changed_pairs", f"""
DELETE FROM pair_score WHERE record_key_l IN ({changed.keys()})
    OR record_key_r IN ({changed.keys()})"""))
    kept = stale = 0
    # A calibration may raise a probability: scoring down to the floor keeps the pairs it
    # might raise past the predict threshold.
    floor = min(PRIOR_FLOOR, linking.predict_threshold) if calibration else \
        linking.predict_threshold
    if changed_active:
        splink = store.splink_engine()
        with splink.linker(model, persons_sql()) as linker:
            for column in tf_columns(model):
                linker.table_management.compute_tf_table(column)
            changed_frame = splink.register(persons_sql(
                f"AND record_key IN ({changed.keys()})"), "changed_records")
            with progress.step("score_changed_within"):
                results = [linker.inference.predict_within(
                    changed_frame, threshold_match_probability=floor,
                    warning_mode="never")]
            if others:
                others_frame = splink.register_rest(persons_sql(
                    f"AND record_key NOT IN ({changed.keys()})"),
                    "other_records", excluded="changed_records")
                with progress.step("score_changed_against_others"):
                    results.append(linker.inference.predict_between(
                        changed_frame, others_frame,
                        threshold_match_probability=floor,
                        warning_mode="never"))
            # Pairs among the other records that the delivery's term frequencies may
            # have moved across the match threshold (frequencies.py).
            stale = others and stale_records(store, changed, tf_columns(model),
                                             linking.match_threshold, calibration)
            if stale:
                stale_frame = splink.register(persons_sql(
                    f"AND record_key IN (SELECT record_key FROM {STALE})"), "stale_records")
                with progress.step("rescore_moved_pairs"):
                    results.append(linker.inference.predict_within(
                        stale_frame, threshold_match_probability=floor,
                        warning_mode="never"))
            splink.keep("new_pairs", results,
                        "least(record_key_l, record_key_r) AS record_key_l, "
                        "greatest(record_key_l, record_key_r) AS record_key_r, match_weight")
        if stale:
            drop_stale_pairs(store)
        before = store.scalar(STAGE, "count_pairs", "SELECT count(*) FROM pair_score")
        try:
            keep_pairs(store, "new_pairs", run_id, linking, calibration=calibration)
        finally:
            splink.release("new_pairs")
        kept = store.scalar(STAGE, "count_pairs", "SELECT count(*) FROM pair_score") - before
    compared = kept  # (Splink does not report blocked-but-below-threshold pairs)
    _rebuild_touched_clusters(store, changed, linking.match_threshold, rescored=bool(stale))
    if stale:
        store.run_step(STAGE, Step("drop_stale", f"DROP TABLE {STALE}"))
    counts = finish_clusters(store, linking, deduplicated_sources, records, compared, kept)
    # The prior and agreement the last full run estimated, kept for the next delivery.
    learnt = recorded_agreement(last_run_link(store))
    return Linked(dataclasses.replace(counts, prior=float(model[PRIOR_KEY]), wide_rules=wide,
                                      agreement=learnt if isinstance(learnt, dict) else {}),
                  Clustering())


def _rebuild_touched_clusters(store: Store, changed: ChangedRecords, threshold: float,
                              rescored: bool = False) -> None:
    """cluster_membership for every active record: untouched clusters as they are, touched
    ones re-formed from their matched pairs. With `rescored`, the records whose pairs were
    scored again (table STALE) touch their clusters too."""
    store.run_steps(STAGE, [
        Step("current_cluster", f"""
CREATE OR REPLACE TEMP TABLE current_cluster AS
SELECT record_key, enterprise_id FROM ({ACTIVE_MEMBER}) AS m"""),
        # Touched: clusters holding a changed record, or matched to one now.
        Step("touched_record", f"""
CREATE OR REPLACE TEMP TABLE touched_record AS
WITH seed AS (
    {changed.keys()}
    {f"UNION SELECT record_key FROM {STALE}" if rescored else ""}
    UNION SELECT record_key_l FROM pair_score WHERE match_probability >= $t AND
        (record_key_r IN ({changed.keys()}))
    UNION SELECT record_key_r FROM pair_score WHERE match_probability >= $t AND
        (record_key_l IN ({changed.keys()}))
)
SELECT p.record_key FROM person AS p
WHERE NOT p.is_deleted AND (p.record_key IN (SELECT record_key FROM seed)
    OR p.record_key IN (SELECT c.record_key FROM current_cluster AS c WHERE c.enterprise_id IN (
        SELECT enterprise_id FROM current_cluster WHERE record_key IN (SELECT record_key FROM seed))))""",
             {"t": threshold}),
        Step("untouched_membership", """
CREATE OR REPLACE TEMP TABLE cluster_membership AS
SELECT c.record_key, min(c.record_key) OVER (PARTITION BY c.enterprise_id) AS cluster_id
FROM current_cluster AS c JOIN person AS p USING (record_key)
WHERE NOT p.is_deleted AND c.record_key NOT IN (SELECT record_key FROM touched_record)"""),
    ])
    records = [row[0] for row in store.run_step(STAGE, Step(
        "touched_records", "SELECT record_key FROM touched_record ORDER BY record_key"))]
    edges = store.run_batches(STAGE, Step("touched_edges", """
SELECT record_key_l, record_key_r FROM pair_score
WHERE match_probability >= $t AND record_key_l IN (SELECT record_key FROM touched_record)
    AND record_key_r IN (SELECT record_key FROM touched_record)""", {"t": threshold}))
    components = Components(records)
    for batch in edges:
        for left, right in batch:
            components.join(left, right)
    add_to_membership(store, components)
    store.run_steps(STAGE, [Step("drop_current", "DROP TABLE current_cluster"),
                            Step("drop_touched", "DROP TABLE touched_record")])
