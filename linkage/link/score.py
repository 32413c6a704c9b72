"""Score record pairs with the trained model and cluster them into people."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from linkage.config import LinkingConfig
from linkage.link.decisions import enforce_decisions
from linkage.link.splink_session import active_persons, splink_linker
from linkage.store import Step, Store

STAGE = "link"
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LinkCounts:
    records: int
    pairs_scored: int  # every pair the blocking rules produced and the model compared
    pairs_kept: int  # pairs at or above the predict threshold, kept in pair_score
    pairs_matched: int  # pairs at or above the match threshold
    clusters: int
    decisions_in_force: int = 0  # reviewer must-link / cannot-link decisions
    clusters_rebuilt: int = 0  # clusters re-formed to honour a decision
    decision_conflicts: int = 0  # must-links that contradict cannot-links, left unmet


def link(store: Store, model: dict, linking: LinkingConfig, run_id: int) -> LinkCounts:
    """Score active persons, keep pairs in `pair_score`, and leave `cluster_membership`
    (record_key, cluster_id) for the crosswalk stage."""
    persons = active_persons(store, STAGE)
    if persons.num_rows == 0:
        store.run_steps(STAGE, [
            Step("clear_pairs", "DELETE FROM pair_score"),
            Step("no_clusters", "CREATE OR REPLACE TEMP TABLE cluster_membership "
                                "(record_key VARCHAR, cluster_id VARCHAR)"),
        ])
        return LinkCounts(0, 0, 0, 0, 0)

    with splink_linker(persons, model) as linker:
        # Materialised once and cached by Splink, so predict reuses it: the count is free.
        blocked = linker.inference.compute_blocked_pairs_for_predict()
        pairs_compared = blocked.as_duckdbpyrelation().aggregate("count(*)").fetchall()[0][0]
        predictions = linker.inference.predict(
            threshold_match_probability=linking.predict_threshold, warning_mode="never")
        clusters = linker.clustering.cluster_pairwise_predictions_at_threshold(
            predictions, threshold_match_probability=linking.match_threshold)
        pairs = predictions.as_duckdbpyrelation().select(
            "record_key_l, record_key_r, match_weight, match_probability").to_arrow_table()
        membership = clusters.as_duckdbpyrelation().select(
            "record_key, cluster_id").to_arrow_table()

    store.con.register("scored_pairs", pairs)
    store.con.register("scored_clusters", membership)
    try:
        store.run_steps(STAGE, [
            Step("clear_pairs", "DELETE FROM pair_score"),
            Step("insert_pairs", """
INSERT INTO pair_score
SELECT $run_id, record_key_l, record_key_r, match_weight, match_probability
FROM scored_pairs""", {"run_id": run_id}),
            # Clusters are named by their smallest record key, whatever Splink calls them,
            # so a full run and an incremental one name the same cluster the same way.
            Step("cluster_membership", """
CREATE OR REPLACE TEMP TABLE cluster_membership AS
SELECT record_key, min(record_key) OVER (PARTITION BY cluster_id) AS cluster_id
FROM scored_clusters"""),
        ])
    finally:
        store.con.unregister("scored_pairs")
        store.con.unregister("scored_clusters")
    return finish_clusters(store, linking, persons.num_rows, pairs_compared, pairs.num_rows)


def finish_clusters(store: Store, linking: LinkingConfig, records: int, compared: int,
                    kept: int) -> LinkCounts:
    """Apply reviewer decisions to `cluster_membership` and count what the stage did."""
    decisions = enforce_decisions(store, linking.match_threshold)
    matched = store.scalar(STAGE, "count_matched",
                           "SELECT count(*) FROM pair_score WHERE match_probability >= $t",
                           {"t": linking.match_threshold})
    clusters = store.scalar(STAGE, "count_clusters",
                            "SELECT count(DISTINCT cluster_id) FROM cluster_membership")
    return LinkCounts(records, compared, kept, matched, clusters,
                      decisions.in_force, decisions.clusters_rebuilt, decisions.conflicts)
