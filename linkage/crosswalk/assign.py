"""Assign enterprise IDs to this run's clusters so that IDs follow people (DESIGN §7.3).

Every rule is set-based and deterministic:
- an existing EID's *heir* is the new cluster holding most of its records (ties: the
  smaller cluster id);
- a cluster keeps, of the EIDs it is heir to, the one it shares most records with
  (ties: the older EID); the others it is heir to are retired with `merged_into` it;
- a cluster that keeps no EID gets a new one: a `split` when its records had an EID
  before, `created` otherwise; its label comes from its own records only
  (`linkage.crosswalk.labels`), so a delivery labels a cluster as a full run would;
- an EID none of whose records remain active is deactivated (no merged_into);
- a record removed upstream that comes back is a *returning* record: a cluster that keeps
  no active EID takes back the deactivated EID its returning records last had (the EID
  goes to the cluster holding most of them; a cluster claiming several takes the one it
  holds most records of, ties: the older EID), so an EID left empty returns with its people.
Each record whose EID changes gets one event: record_added, record_restored (related: the
EID it had when it left), record_moved or record_removed.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from linkage.crosswalk.labels import label_new_eids
from linkage.link.clustering import Clustering
from linkage.store import Step, Store
from linkage.store.relations import ACTIVE_CROSSWALK, record_key

STAGE = "crosswalk"


@dataclass(frozen=True)
class CrosswalkCounts:
    eids_active: int
    eids_created: int  # new EIDs, split ones included
    eids_kept: int
    eids_retired: int  # merged or deactivated
    records_added: int  # records new to the crosswalk
    records_moved: int
    records_removed: int
    eids_split: int = 0
    eids_merged: int = 0
    eids_deactivated: int = 0
    eids_reactivated: int = 0
    records_restored: int = 0  # records back after a removal
    records_before: int = 0  # active crosswalk records before this run
    # Record changes by source_system: {"calsaws": {"added": 3, "removed": 1}}.
    by_source: dict[str, dict[str, int]] = field(default_factory=dict)

    @property
    def records_changed(self) -> int:
        """Records that held an EID before this run and now hold another or none."""
        return self.records_moved + self.records_removed


def _membership(clustering: Clustering) -> Step:
    """previous_eid: the record's active EID; last_eid: for a record without one, the EID it
    had when it was last removed (NULL for a record new to the crosswalk)."""
    return Step("membership", f"""
CREATE OR REPLACE TEMP TABLE membership AS
SELECT p.source_system, p.source_record_id, m.cluster_id, cw.enterprise_id AS previous_eid,
    gone.enterprise_id AS last_eid
FROM {clustering.table} AS m
JOIN person AS p USING (record_key)
LEFT JOIN ({ACTIVE_CROSSWALK}) AS cw
    ON cw.source_system = p.source_system AND cw.source_record_id = p.source_record_id
LEFT JOIN (
    SELECT source_system, source_record_id, arg_max(enterprise_id, valid_to_run) AS enterprise_id
    FROM crosswalk WHERE valid_to_run IS NOT NULL
    GROUP BY source_system, source_record_id
) AS gone
    ON cw.enterprise_id IS NULL
    AND gone.source_system = p.source_system AND gone.source_record_id = p.source_record_id""")


_STEPS = [
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
    # Clusters that keep no active EID take back the EID their returning records last had,
    # when it holds no records now: deactivated earlier, or losing its last ones in this run.
    Step("revived", """
CREATE OR REPLACE TEMP TABLE revived AS
WITH claim AS (
    SELECT m.cluster_id, m.last_eid AS enterprise_id, e.seq,
        e.retired_run IS NOT NULL AS was_retired, count(*) AS shared
    FROM membership AS m JOIN enterprise_id AS e ON e.enterprise_id = m.last_eid
    WHERE m.previous_eid IS NULL AND e.merged_into IS NULL
        AND (e.retired_run IS NOT NULL OR e.enterprise_id NOT IN (SELECT previous_eid FROM heir))
        AND m.cluster_id NOT IN (SELECT cluster_id FROM kept)
    GROUP BY m.cluster_id, m.last_eid, e.seq, e.retired_run
), claim_heir AS (
    SELECT * FROM claim
    QUALIFY row_number() OVER (PARTITION BY enterprise_id ORDER BY shared DESC, cluster_id) = 1
)
SELECT cluster_id, enterprise_id, was_retired FROM claim_heir
QUALIFY row_number() OVER (PARTITION BY cluster_id ORDER BY shared DESC, seq) = 1"""),
    Step("eid_orphan", f"""
CREATE OR REPLACE TEMP TABLE eid_orphan AS
SELECT cluster_id, min({record_key()}) AS founding_key FROM membership
WHERE cluster_id NOT IN (SELECT cluster_id FROM kept)
    AND cluster_id NOT IN (SELECT cluster_id FROM revived)
GROUP BY cluster_id"""),
]

# After `label_new_eids`: the new EIDs, numbered in the order of their founding keys (an
# order of creation that "older EID wins ties" reads; labels do not depend on it).
_AFTER_LABELS = [
    Step("new_eid", """
CREATE OR REPLACE TEMP TABLE new_eid AS
SELECT l.cluster_id, l.enterprise_id,
    (SELECT coalesce(max(seq), 0) FROM enterprise_id)
        + row_number() OVER (ORDER BY l.founding_key) AS seq,
    (SELECT o.previous_eid FROM overlap AS o WHERE o.cluster_id = l.cluster_id
     ORDER BY o.shared DESC, o.seq LIMIT 1) AS split_from
FROM eid_label AS l"""),
    Step("assignment", """
CREATE OR REPLACE TEMP TABLE assignment AS
SELECT m.source_system, m.source_record_id, m.previous_eid, m.last_eid,
    coalesce(k.enterprise_id, v.enterprise_id, n.enterprise_id) AS enterprise_id
FROM membership AS m
LEFT JOIN kept AS k USING (cluster_id)
LEFT JOIN revived AS v USING (cluster_id)
LEFT JOIN new_eid AS n USING (cluster_id)"""),
    # Active EIDs that keep no cluster: merged into their heir's EID, or left with no records.
    Step("retired", """
CREATE OR REPLACE TEMP TABLE retired AS
SELECT e.enterprise_id, k.enterprise_id AS merged_into
FROM enterprise_id AS e
LEFT JOIN heir AS h ON h.previous_eid = e.enterprise_id
LEFT JOIN kept AS k ON k.cluster_id = h.cluster_id
WHERE e.retired_run IS NULL
    AND e.enterprise_id NOT IN (SELECT enterprise_id FROM kept)
    AND e.enterprise_id NOT IN (SELECT enterprise_id FROM revived)"""),
    Step("record_change", """
CREATE OR REPLACE TEMP TABLE record_change AS
SELECT source_system, source_record_id, previous_eid, enterprise_id, CASE
        WHEN previous_eid IS NOT NULL THEN 'record_moved'
        WHEN last_eid IS NOT NULL THEN 'record_restored'
        ELSE 'record_added' END AS event_type,
    coalesce(previous_eid, last_eid) AS related_eid
FROM assignment WHERE previous_eid IS DISTINCT FROM enterprise_id
UNION ALL
SELECT cw.source_system, cw.source_record_id, cw.enterprise_id, NULL, 'record_removed', NULL
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
FROM retired
UNION ALL
SELECT $run_id, 'reactivated', enterprise_id, NULL, NULL, NULL, NULL
FROM revived WHERE was_retired"""),
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
SELECT $run_id, event_type, coalesce(enterprise_id, previous_eid), related_eid,
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
    Step("reactivate_eids", """
UPDATE enterprise_id SET retired_run = NULL, merged_into = NULL
FROM revived AS v WHERE enterprise_id.enterprise_id = v.enterprise_id AND v.was_retired"""),
]


def assign_enterprise_ids(store: Store, clustering: Clustering, run_id: int) -> CrosswalkCounts:
    """Turn the link stage's `clustering` into crosswalk changes, events and EID records."""
    store.run_step(STAGE, _membership(clustering))
    store.run_steps(STAGE, _STEPS)
    label_new_eids(store)
    store.run_steps(STAGE, _AFTER_LABELS)
    counts = _count(store)
    for step in _APPLY:
        store.run_step(STAGE, Step(step.name, step.sql,
                                   {"run_id": run_id} if "$run_id" in step.sql else None))
    store.run_steps(STAGE, [Step(f"drop_{name}", f"DROP TABLE {name}") for name in (
        "membership", "overlap", "heir", "kept", "revived", "eid_orphan", "eid_label", "new_eid",
        "assignment", "retired", "record_change", clustering.table)])
    return counts


def _count(store: Store) -> CrosswalkCounts:
    (created, split, kept, reactivated, merged, deactivated, before), = store.run_step(
        STAGE, Step("count", """
SELECT
    (SELECT count(*) FROM new_eid),
    (SELECT count(*) FROM new_eid WHERE split_from IS NOT NULL),
    (SELECT count(*) FROM kept) + (SELECT count(*) FROM revived WHERE NOT was_retired),
    (SELECT count(*) FROM revived WHERE was_retired),
    (SELECT count(*) FROM retired WHERE merged_into IS NOT NULL),
    (SELECT count(*) FROM retired WHERE merged_into IS NULL),
    (SELECT count(*) FROM crosswalk WHERE valid_to_run IS NULL)"""))
    by_source: dict[str, dict[str, int]] = {}
    for source, event, records in store.run_step(STAGE, Step("count_by_source", """
SELECT source_system, event_type, count(*) FROM record_change
GROUP BY source_system, event_type ORDER BY source_system, event_type""")):
        by_source.setdefault(source, {})[event.removeprefix("record_")] = records
    totals = {event: sum(changes.get(event, 0) for changes in by_source.values())
              for event in ("added", "restored", "moved", "removed")}
    return CrosswalkCounts(
        eids_active=created + kept + reactivated, eids_created=created, eids_kept=kept,
        eids_retired=merged + deactivated, records_added=totals["added"],
        records_moved=totals["moved"], records_removed=totals["removed"], eids_split=split,
        eids_merged=merged, eids_deactivated=deactivated, eids_reactivated=reactivated,
        records_restored=totals["restored"], records_before=before, by_source=by_source)
