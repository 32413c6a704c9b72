"""Read the crosswalk: resolve any EID ever issued to the active one."""

from __future__ import annotations

from linkage.store import Store

_RESOLVE = """
WITH RECURSIVE chain(enterprise_id, depth) AS (
    SELECT enterprise_id, 0 FROM enterprise_id WHERE enterprise_id = $eid
    UNION ALL
    SELECT e.merged_into, c.depth + 1
    FROM chain AS c JOIN enterprise_id AS e ON e.enterprise_id = c.enterprise_id
    WHERE e.merged_into IS NOT NULL AND c.depth < 10000
)
SELECT c.enterprise_id, e.retired_run IS NULL AS active
FROM chain AS c JOIN enterprise_id AS e USING (enterprise_id)
ORDER BY c.depth DESC LIMIT 1"""


def resolve_enterprise_id(store: Store, enterprise_id: str) -> tuple[str, bool] | None:
    """The EID that `enterprise_id` ended up in (following merges) and whether it is active;
    None when no such EID was ever issued."""
    rows = store.con.execute(_RESOLVE, {"eid": enterprise_id}).fetchall()
    return (rows[0][0], bool(rows[0][1])) if rows else None


def history(store: Store, enterprise_id: str) -> dict | None:
    """An EID's lineage: when it was created and retired, and every event that names it."""
    rows = store.con.execute("""
SELECT created_run, retired_run, merged_into FROM enterprise_id WHERE enterprise_id = $eid""",
                             {"eid": enterprise_id}).fetchall()
    if not rows:
        return None
    created, retired, merged_into = rows[0]
    events = store.con.execute("""
SELECT run_id, event_type, enterprise_id, related_enterprise_id, source_system,
    source_record_id, decision_id
FROM crosswalk_event WHERE enterprise_id = $eid OR related_enterprise_id = $eid
ORDER BY run_id, event_type, source_system, source_record_id""", {"eid": enterprise_id}).fetchall()
    names = ("run_id", "event_type", "enterprise_id", "related_enterprise_id", "source_system",
             "source_record_id", "decision_id")
    return {"enterprise_id": enterprise_id, "created_run": created, "retired_run": retired,
            "merged_into": merged_into,
            "events": [dict(zip(names, event, strict=True)) for event in events]}
