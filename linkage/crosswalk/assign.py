"""Assign enterprise IDs to this run's clusters so that IDs follow people (DESIGN §7.3).

Every rule is set-based and deterministic:
- an existing EID's *heir* is the new cluster holding most of its records (ties: the
  smaller cluster id);
- a cluster keeps, of the EIDs it is heir to, the one it shares most records with
  (ties: the older EID); the others it is heir to are retired with `merged_into` it;
- a cluster that keeps no EID gets a new one: a `split` when its records had an EID
  before, `created` otherwise;
- an EID none of whose records remain active is deactivated (no merged_into).
Each record whose EID changes gets one event: record_added, record_moved or record_removed.
"""

from __future__ import annotations

from dataclasses import dataclass

from linkage.store import Step, Store

STAGE = "crosswalk"
EID_PREFIX = "E"
EID_DIGITS = 10


@dataclass(frozen=True)
class CrosswalkCounts:
    eids_active: int
    eids_created: int
    eids_kept: int
    eids_retired: int
    records_added: int
    records_moved: int
    records_removed: int


_STEPS = [
    Step("membership", """
CREATE OR REPLACE TEMP TABLE membership AS
SELECT p.source_system, p.source_record_id, m.cluster_id, cw.enterprise_id AS previous_eid
FROM cluster_membership AS m
JOIN person AS p USING (record_key)
LEFT JOIN crosswalk AS cw
    ON cw.valid_to_run IS NULL
    AND cw.source_system = p.source_system AND cw.source_record_id = p.source_record_id"""),
    Step("overlap", """
CREATE OR REPLACE TEMP TABLE overlap AS
SELECT m.cluster_id, m.previous_eid, e.seq, count(*) AS shared
FROM membership AS m JOIN enterprise_id AS e ON e.enterprise_id = m.previous_eid
GROUP BY ALL"""),
    Step("heir", """
CREATE OR REPLACE TEMP TABLE heir AS
SELECT previous_eid, cluster_id, seq, shared FROM overlap
QUALIFY row_number() OVER (PARTITION BY previous_eid ORDER BY shared DESC, cluster_id) = 1"""),
    Step("kept", """
CREATE OR REPLACE TEMP TABLE kept AS
SELECT cluster_id, previous_eid AS enterprise_id FROM heir
QUALIFY row_number() OVER (PARTITION BY cluster_id ORDER BY shared DESC, seq) = 1"""),
    Step("new_eid", """
CREATE OR REPLACE TEMP TABLE new_eid AS
WITH orphan AS (
    SELECT DISTINCT cluster_id FROM membership
    WHERE cluster_id NOT IN (SELECT cluster_id FROM kept)
), numbered AS (
    SELECT cluster_id,
        (SELECT coalesce(max(seq), 0) FROM enterprise_id)
            + row_number() OVER (ORDER BY cluster_id) AS seq
    FROM orphan
)
SELECT n.cluster_id, n.seq, $prefix || lpad(CAST(n.seq AS VARCHAR), $digits, '0') AS enterprise_id,
    (SELECT o.previous_eid FROM overlap AS o WHERE o.cluster_id = n.cluster_id
     ORDER BY o.shared DESC, o.seq LIMIT 1) AS split_from
FROM numbered AS n"""),
    Step("assignment", """
CREATE OR REPLACE TEMP TABLE assignment AS
SELECT m.source_system, m.source_record_id, m.previous_eid,
    coalesce(k.enterprise_id, n.enterprise_id) AS enterprise_id
FROM membership AS m
LEFT JOIN kept AS k USING (cluster_id)
LEFT JOIN new_eid AS n USING (cluster_id)"""),
    # Active EIDs that keep no cluster: merged into their heir's EID, or left with no records.
    Step("retired", """
CREATE OR REPLACE TEMP TABLE retired AS
SELECT e.enterprise_id, k.enterprise_id AS merged_into
FROM enterprise_id AS e
LEFT JOIN heir AS h ON h.previous_eid = e.enterprise_id
LEFT JOIN kept AS k ON k.cluster_id = h.cluster_id
WHERE e.retired_run IS NULL
    AND e.enterprise_id NOT IN (SELECT enterprise_id FROM kept)"""),
    Step("record_change", """
CREATE OR REPLACE TEMP TABLE record_change AS
SELECT source_system, source_record_id, previous_eid, enterprise_id,
    CASE WHEN previous_eid IS NULL THEN 'record_added' ELSE 'record_moved' END AS event_type
FROM assignment WHERE previous_eid IS DISTINCT FROM enterprise_id
UNION ALL
SELECT cw.source_system, cw.source_record_id, cw.enterprise_id, NULL, 'record_removed'
FROM crosswalk AS cw
WHERE cw.valid_to_run IS NULL AND NOT EXISTS (
    SELECT 1 FROM assignment AS a
    WHERE a.source_system = cw.source_system AND a.source_record_id = cw.source_record_id)"""),
]

_APPLY = [
    Step("event_eids", """
INSERT INTO crosswalk_event
SELECT $run_id, CASE WHEN split_from IS NULL THEN 'created' ELSE 'split' END,
    enterprise_id, split_from, NULL, NULL, NULL
FROM new_eid
UNION ALL
SELECT $run_id, CASE WHEN merged_into IS NULL THEN 'deactivated' ELSE 'merged' END,
    enterprise_id, merged_into, NULL, NULL, NULL
FROM retired"""),
    # Reviewer decisions that take effect in this run, with the EIDs they produced.
    Step("event_decisions", """
INSERT INTO crosswalk_event
SELECT $run_id, CASE d.decision WHEN 'must_link' THEN 'manual_link' ELSE 'manual_unlink' END,
    a.enterprise_id, b.enterprise_id, pa.source_system, pa.source_record_id, d.decision_id
FROM manual_decision AS d
JOIN person AS pa ON pa.record_key = d.record_key_a
JOIN person AS pb ON pb.record_key = d.record_key_b
JOIN assignment AS a
    ON a.source_system = pa.source_system AND a.source_record_id = pa.source_record_id
JOIN assignment AS b
    ON b.source_system = pb.source_system AND b.source_record_id = pb.source_record_id
WHERE d.applied_run IS NULL AND d.decision IN ('must_link', 'cannot_link')"""),
    Step("mark_decisions", """
UPDATE manual_decision SET applied_run = $run_id WHERE applied_run IS NULL"""),
    Step("event_records", """
INSERT INTO crosswalk_event
SELECT $run_id, event_type, coalesce(enterprise_id, previous_eid),
    CASE WHEN event_type = 'record_moved' THEN previous_eid END,
    source_system, source_record_id, NULL
FROM record_change"""),
    Step("close_rows", """
UPDATE crosswalk SET valid_to_run = $run_id
FROM record_change AS c
WHERE crosswalk.valid_to_run IS NULL AND c.previous_eid IS NOT NULL
    AND crosswalk.source_system = c.source_system
    AND crosswalk.source_record_id = c.source_record_id"""),
    Step("open_rows", """
INSERT INTO crosswalk
SELECT source_system, source_record_id, enterprise_id, $run_id, NULL
FROM record_change WHERE enterprise_id IS NOT NULL"""),
    Step("insert_eids", """
INSERT INTO enterprise_id
SELECT enterprise_id, seq, $run_id, NULL, NULL FROM new_eid"""),
    Step("retire_eids", """
UPDATE enterprise_id SET retired_run = $run_id, merged_into = r.merged_into
FROM retired AS r WHERE enterprise_id.enterprise_id = r.enterprise_id"""),
]


def assign_enterprise_ids(store: Store, run_id: int) -> CrosswalkCounts:
    """Turn `cluster_membership` into crosswalk changes, events and EID records."""
    for step in _STEPS:
        params = {"prefix": EID_PREFIX, "digits": EID_DIGITS} if step.name == "new_eid" else None
        store.run_step(STAGE, Step(step.name, step.sql, params))
    counts = store.run_step(STAGE, Step("count", """
SELECT
    (SELECT count(*) FROM new_eid),
    (SELECT count(*) FROM kept),
    (SELECT count(*) FROM retired),
    (SELECT count(*) FILTER (event_type = 'record_added') FROM record_change),
    (SELECT count(*) FILTER (event_type = 'record_moved') FROM record_change),
    (SELECT count(*) FILTER (event_type = 'record_removed') FROM record_change)"""))[0]
    for step in _APPLY:
        store.run_step(STAGE, Step(step.name, step.sql, {"run_id": run_id}))
    store.run_steps(STAGE, [Step(f"drop_{name}", f"DROP TABLE {name}") for name in (
        "membership", "overlap", "heir", "kept", "new_eid", "assignment", "retired",
        "record_change", "cluster_membership")])
    created, kept, retired, added, moved, removed = counts
    return CrosswalkCounts(created + kept, created, kept, retired, added, moved, removed)
