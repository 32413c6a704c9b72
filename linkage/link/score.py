"""Score record pairs with the trained model and cluster them into people."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

from linkage import progress
from linkage.config import LinkingConfig
from linkage.link.cluster_quality import ClusterShape, shape_clusters
from linkage.link.constraints import Components, add_to_membership, enforce_constraints
from linkage.link.splink_session import persons_sql
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
    evidence_conflicts: int = 0  # pairs in one cluster whose records say they differ
    clusters_rebuilt: int = 0  # clusters re-formed to honour a constraint
    decision_conflicts: int = 0  # must-links that contradict cannot-links, left unmet
    clusters_split: int = 0  # oversized or sparse clusters re-formed at a stricter threshold
    clusters_flagged: int = 0  # clusters still oversized or sparse, left for review
    cluster_sizes: dict[str, int] = field(default_factory=dict)  # size bucket -> clusters


def link(store: Store, model: dict, linking: LinkingConfig, run_id: int,
         deduplicated_sources: Sequence[str] = ()) -> LinkCounts:
    """Score active persons, keep pairs in `pair_score`, and leave `cluster_membership`
    (record_key, cluster_id) for the crosswalk stage."""
    records = store.scalar(STAGE, "count_active",
                           "SELECT count(*) FROM person WHERE NOT is_deleted")
    if records == 0:
        store.run_steps(STAGE, [
            Step("clear_pairs", "DELETE FROM pair_score"),
            Step("no_clusters", "CREATE OR REPLACE TEMP TABLE cluster_membership "
                                "(record_key VARCHAR, cluster_id VARCHAR)"),
        ])
        return LinkCounts(0, 0, 0, 0, 0)

    splink = store.splink_engine()
    with splink.linker(model, persons_sql()) as linker:
        # Materialised once and cached by Splink, so predict reuses it: the count is free.
        with progress.step("block"):
            blocked = linker.inference.compute_blocked_pairs_for_predict()
            pairs_compared = splink.count(blocked)
        with progress.step("score_pairs"):
            predictions = linker.inference.predict(
                threshold_match_probability=linking.predict_threshold, warning_mode="never")
        with progress.step("connected_components"):
            clusters = linker.clustering.cluster_pairwise_predictions_at_threshold(
                predictions, threshold_match_probability=linking.match_threshold)
            pairs_kept = splink.keep("scored_pairs", [predictions],
                                     "record_key_l, record_key_r, match_weight, match_probability")
            splink.keep("scored_clusters", [clusters], "record_key, cluster_id")

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
        splink.release("scored_pairs")
        splink.release("scored_clusters")
    return finish_clusters(store, linking, deduplicated_sources, records, pairs_compared,
                           pairs_kept)


def cluster_scored_pairs(store: Store, linking: LinkingConfig,
                         deduplicated_sources: Sequence[str] = ()) -> ClusterShape:
    """Cluster the active records again from the stored pair scores at
    `linking.match_threshold`, under the same constraints as a run, into
    `cluster_membership`. Changes only temporary tables, so it works read-only."""
    records = store.con.sql("SELECT record_key FROM person WHERE NOT is_deleted "
                            "ORDER BY record_key").fetchall()
    components = Components([row[0] for row in records])
    for left, right in store.run_step(STAGE, Step("matched_pairs", """
SELECT record_key_l, record_key_r FROM pair_score WHERE match_probability >= $t
ORDER BY match_probability DESC""", {"t": linking.match_threshold})):
        components.join(left, right)
    store.run_step(STAGE, Step("recluster", "CREATE OR REPLACE TEMP TABLE cluster_membership "
                                            "(record_key VARCHAR, cluster_id VARCHAR)"))
    add_to_membership(store, components)
    enforce_constraints(store, linking.match_threshold, deduplicated_sources)
    return shape_clusters(store, linking)


def finish_clusters(store: Store, linking: LinkingConfig, deduplicated_sources: Sequence[str],
                    records: int, compared: int, kept: int) -> LinkCounts:
    """Split clusters that break a constraint and count what the stage did."""
    constraints = enforce_constraints(store, linking.match_threshold, deduplicated_sources)
    shape = shape_clusters(store, linking)
    matched = store.scalar(STAGE, "count_matched",
                           "SELECT count(*) FROM pair_score WHERE match_probability >= $t",
                           {"t": linking.match_threshold})
    clusters = store.scalar(STAGE, "count_clusters",
                            "SELECT count(DISTINCT cluster_id) FROM cluster_membership")
    return LinkCounts(records, compared, kept, matched, clusters,
                      constraints.decisions_in_force, constraints.evidence_conflicts,
                      constraints.clusters_rebuilt, constraints.decision_conflicts,
                      shape.split, shape.flagged, shape.sizes)
