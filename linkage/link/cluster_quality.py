"""Cluster shape: the size distribution, and clusters too big or too loosely held together
to be one person.

A person's records are few (one or two per source) and agree with each other, so nearly
every pair inside a true cluster scores as a match. A cluster far larger than that, or one
whose records are held together by a thin chain of matched pairs (low density: matched
pairs / possible pairs), is more likely several people. Such clusters are re-formed at
stricter thresholds; any still suspicious are flagged for review.
"""

from __future__ import annotations

from dataclasses import dataclass

from linkage.config import LinkingConfig
from linkage.link.constraints import Components, DecisionsInForce, add_to_membership
from linkage.store import Step, Store, relations

STAGE = "link"

# Buckets for the size distribution a run reports.
SIZE_BUCKETS = (("1", 1, 1), ("2", 2, 2), ("3", 3, 3), ("4", 4, 4), ("5-9", 5, 9),
                ("10-49", 10, 49), ("50+", 50, None))

# How many times a suspicious cluster is re-formed, each time with (1 - threshold) ten
# times smaller: 0.99 -> 0.999 -> 0.9999.
SPLIT_ROUNDS = 2


def density_sql(membership: str, min_records: int) -> str:
    """cluster_id, records and density (pairs at $threshold / possible pairs) of the clusters
    of `membership` (record_key, cluster_id) with at least `min_records` records.

    `membership` is a table name or subquery chosen by the caller from fixed text, never
    user input; `min_records` comes from code.
    """
    return f"""
WITH member AS (SELECT record_key, cluster_id FROM {membership}),
size AS (
    SELECT cluster_id, count(*) AS records FROM member
    GROUP BY cluster_id HAVING count(*) >= {int(min_records)}
), edge AS (
    SELECT ml.cluster_id, count(*) AS edges
    FROM pair_score AS s
    JOIN member AS ml ON ml.record_key = s.record_key_l
    JOIN member AS mr ON mr.record_key = s.record_key_r AND mr.cluster_id = ml.cluster_id
    WHERE s.match_probability >= $threshold
    GROUP BY ml.cluster_id
)
SELECT cluster_id, records, coalesce(edges, 0) / (records * (records - 1) / 2) AS density
FROM size LEFT JOIN edge USING (cluster_id)"""


def suspicious_sql(membership: str) -> str:
    """Clusters of `membership` (record_key, cluster_id) that are oversized or sparse."""
    return f"""
SELECT cluster_id, records, round(density, 4) AS density,
    CASE WHEN records > $max_size THEN 'oversized' ELSE 'low_density' END AS reason
FROM ({density_sql(membership, 3)})
WHERE records > $max_size OR density < $min_density"""


# The active crosswalk as a membership (record_key, cluster_id = EID), for suspicious_sql.
ACTIVE_MEMBERSHIP = f"({relations.ACTIVE_MEMBERSHIP})"


def flagged_sql() -> str:
    """Active EIDs whose records are still oversized or sparse after the run re-formed them:
    enterprise_id, records, density (matched pairs / possible pairs), reason."""
    return ("SELECT cluster_id AS enterprise_id, records, density, reason FROM ("
            + suspicious_sql(ACTIVE_MEMBERSHIP) + ")")


def flagged_params(linking: LinkingConfig) -> dict:
    return _params(linking, linking.match_threshold)


def _params(linking: LinkingConfig, threshold: float) -> dict:
    return {"threshold": threshold, "max_size": linking.max_cluster_size,
            "min_density": linking.min_cluster_density}


@dataclass(frozen=True)
class ClusterShape:
    sizes: dict[str, int]  # size bucket -> clusters
    split: int  # suspicious clusters re-formed at a stricter threshold
    flagged: int  # clusters still suspicious, left for review


def shape_clusters(store: Store, linking: LinkingConfig,
                   decisions: DecisionsInForce) -> ClusterShape:
    """Re-form suspicious clusters in `cluster_membership` at stricter thresholds, then
    report sizes and how many clusters remain suspicious.

    Density is always judged on pairs at the match threshold, so a cluster that is not
    suspicious is never touched; only suspicious ones are re-formed, each round stricter."""
    judged_at, threshold, split = _params(linking, linking.match_threshold), \
        linking.match_threshold, 0
    find = Step("suspicious", "CREATE OR REPLACE TEMP TABLE suspicious AS "
                + suspicious_sql("cluster_membership"), judged_at)
    for _ in range(SPLIT_ROUNDS):
        store.run_step(STAGE, find)
        suspicious = store.scalar(STAGE, "count_suspicious", "SELECT count(*) FROM suspicious")
        if not suspicious:
            break
        split += suspicious
        threshold = 1 - (1 - threshold) / 10
        _reform(store, threshold, decisions)
    store.run_step(STAGE, find)
    flagged = store.scalar(STAGE, "count_flagged", "SELECT count(*) FROM suspicious")
    rows = store.run_step(STAGE, Step("cluster_sizes", """
SELECT records, count(*) FROM (SELECT count(*) AS records FROM cluster_membership
GROUP BY cluster_id) GROUP BY records"""))
    sizes = {name: sum(count for records, count in rows
                       if records >= low and (high is None or records <= high))
             for name, low, high in SIZE_BUCKETS}
    return ClusterShape(sizes, split, flagged)


def _reform(store: Store, threshold: float, decisions: DecisionsInForce) -> None:
    """Connected components of the suspicious clusters' records over pairs at `threshold`
    and reviewers' must-links (of `decisions`). Pieces of a cluster keep its cannot-links
    apart."""
    store.run_step(STAGE, Step("suspicious_record", """
CREATE OR REPLACE TEMP TABLE suspicious_record AS
SELECT record_key, cluster_id FROM cluster_membership
WHERE cluster_id IN (SELECT cluster_id FROM suspicious)"""))
    records = [row[0] for row in store.run_step(STAGE, Step(
        "suspicious_records", "SELECT record_key FROM suspicious_record ORDER BY 1"))]
    edges = store.run_batches(STAGE, Step("suspicious_edges", f"""
SELECT s.record_key_l, s.record_key_r FROM pair_score AS s
JOIN suspicious_record AS l ON l.record_key = s.record_key_l
JOIN suspicious_record AS r ON r.record_key = s.record_key_r AND r.cluster_id = l.cluster_id
WHERE s.match_probability >= $threshold
UNION ALL
SELECT d.key_l, d.key_r FROM {decisions.table} AS d
JOIN suspicious_record AS l ON l.record_key = d.key_l
JOIN suspicious_record AS r ON r.record_key = d.key_r AND r.cluster_id = l.cluster_id
WHERE d.decision = 'must_link'""", {"threshold": threshold}))
    components = Components(records)
    for batch in edges:
        for left, right in batch:
            components.join(left, right)
    store.run_step(STAGE, Step("drop_suspicious", "DELETE FROM cluster_membership WHERE "
                               "record_key IN (SELECT record_key FROM suspicious_record)"))
    add_to_membership(store, components)
