"""Reviewer decisions in clustering: a must-link pair always shares a cluster, a
cannot-link pair never does, until a newer decision on the pair replaces it.

Only clusters that break a decision are rebuilt. Their records are re-clustered by
adding edges strongest first — must-links, then scored pairs at or above the match
threshold — and skipping any edge that would join a cannot-link pair (a constrained
Kruskal). With no decisions the result is the connected components Splink gives.
"""

from __future__ import annotations

from dataclasses import dataclass

from linkage.store import Step, Store

STAGE = "link"

_IN_FORCE = """
CREATE OR REPLACE TEMP TABLE decision_in_force AS
SELECT decision_id, least(record_key_a, record_key_b) AS key_l,
    greatest(record_key_a, record_key_b) AS key_r, decision
FROM manual_decision
QUALIFY row_number() OVER (PARTITION BY least(record_key_a, record_key_b),
    greatest(record_key_a, record_key_b) ORDER BY decision_id DESC) = 1"""

_BROKEN = """
CREATE OR REPLACE TEMP TABLE broken_cluster AS
SELECT DISTINCT cluster_id FROM (
    SELECT unnest([ml.cluster_id, mr.cluster_id]) AS cluster_id
    FROM decision_in_force AS d
    JOIN cluster_membership AS ml ON ml.record_key = d.key_l
    JOIN cluster_membership AS mr ON mr.record_key = d.key_r
    WHERE (d.decision = 'must_link' AND ml.cluster_id <> mr.cluster_id)
       OR (d.decision = 'cannot_link' AND ml.cluster_id = mr.cluster_id)
)"""


@dataclass(frozen=True)
class DecisionCounts:
    in_force: int
    clusters_rebuilt: int
    conflicts: int  # must-links left unmet because they contradict cannot-links


class _Components:
    """Union-find whose components refuse to join across a cannot-link pair."""

    def __init__(self, records: list[str], cannot: dict[str, set[str]]) -> None:
        self.parent = {record: record for record in records}
        self.members = {record: {record} for record in records}
        self.cannot = cannot

    def find(self, record: str) -> str:
        while self.parent[record] != record:
            self.parent[record] = self.parent[self.parent[record]]
            record = self.parent[record]
        return record

    def join(self, a: str, b: str) -> bool:
        root_a, root_b = self.find(a), self.find(b)
        if root_a == root_b:
            return True
        small, large = sorted((root_a, root_b), key=lambda root: len(self.members[root]))
        if any(self.cannot.get(record, set()) & self.members[large]
               for record in self.members[small]):
            return False
        self.parent[small] = large
        self.members[large] |= self.members.pop(small)
        return True


def enforce_decisions(store: Store, match_threshold: float) -> DecisionCounts:
    """Rewrite `cluster_membership` so every decision in force holds."""
    store.run_steps(STAGE, [Step("decisions_in_force", _IN_FORCE), Step("broken", _BROKEN)])
    in_force = store.scalar(STAGE, "count_decisions", "SELECT count(*) FROM decision_in_force")
    records = [row[0] for row in store.run_step(STAGE, Step("broken_records", """
SELECT record_key FROM cluster_membership
WHERE cluster_id IN (SELECT cluster_id FROM broken_cluster) ORDER BY record_key"""))]
    rebuilt = store.scalar(STAGE, "count_broken", "SELECT count(*) FROM broken_cluster")
    if not records:
        return DecisionCounts(in_force, 0, 0)

    store.run_step(STAGE, Step("broken_record_table", """
CREATE OR REPLACE TEMP TABLE broken_record AS
SELECT record_key FROM cluster_membership
WHERE cluster_id IN (SELECT cluster_id FROM broken_cluster)"""))
    decisions = store.run_step(STAGE, Step("broken_decisions", """
SELECT key_l, key_r, decision FROM decision_in_force
WHERE key_l IN (SELECT record_key FROM broken_record)
  AND key_r IN (SELECT record_key FROM broken_record)
ORDER BY decision_id DESC"""))
    edges = store.run_step(STAGE, Step("broken_edges", """
SELECT least(record_key_l, record_key_r), greatest(record_key_l, record_key_r)
FROM pair_score
WHERE match_probability >= $threshold
  AND record_key_l IN (SELECT record_key FROM broken_record)
  AND record_key_r IN (SELECT record_key FROM broken_record)
ORDER BY match_probability DESC, 1, 2""", {"threshold": match_threshold}))

    cannot: dict[str, set[str]] = {}
    for left, right, decision in decisions:
        if decision == "cannot_link":
            cannot.setdefault(left, set()).add(right)
            cannot.setdefault(right, set()).add(left)
    components = _Components(records, cannot)
    conflicts = sum(not components.join(left, right)
                    for left, right, decision in decisions if decision == "must_link")
    cannot_pairs = {(left, right) for left, right, decision in decisions
                    if decision == "cannot_link"}
    for left, right in edges:
        if (left, right) not in cannot_pairs:
            components.join(left, right)

    # Name each rebuilt cluster by its smallest record key, as Splink names clusters.
    assignment = {}
    for record in records:
        assignment.setdefault(components.find(record), []).append(record)
    rows = [(record, min(members)) for members in assignment.values() for record in members]
    store.run_steps(STAGE, [
        Step("drop_broken", "DELETE FROM cluster_membership WHERE record_key IN "
                            "(SELECT record_key FROM broken_record)"),
        Step("drop_broken_table", "DROP TABLE broken_record"),
    ])
    store.con.executemany("INSERT INTO cluster_membership VALUES (?, ?)", rows)
    return DecisionCounts(in_force, rebuilt, conflicts)
