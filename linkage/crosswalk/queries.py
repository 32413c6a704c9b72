"""Read the crosswalk: resolve EIDs ever issued to the active ones, an EID's history, the
changes since a run (for downstream systems), and the runs themselves.

Every read is set-based: resolving a million EIDs is one recursive query over
enterprise_id.merged_into, not a query per EID.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pandas as pd

from linkage.errors import LinkageError
from linkage.store import Step, Store

STAGE = "crosswalk"
MAX_MERGE_DEPTH = 10000  # merged_into never cycles; this only bounds a corrupt store


def resolution_cte(origins: str) -> str:
    """`WITH RECURSIVE ... resolution(enterprise_id, resolved_enterprise_id, active)` for
    every EID the query `origins` (SQL from code, one column `enterprise_id`) names and the
    store ever issued: the EID its merges ended in, and whether that one is active."""
    return f"""
WITH RECURSIVE origin AS (SELECT DISTINCT enterprise_id FROM ({origins}) AS o),
chain(origin, enterprise_id, depth) AS (
    SELECT e.enterprise_id, e.enterprise_id, 0
    FROM enterprise_id AS e JOIN origin AS o ON o.enterprise_id = e.enterprise_id
    UNION ALL
    SELECT c.origin, e.merged_into, c.depth + 1
    FROM chain AS c JOIN enterprise_id AS e ON e.enterprise_id = c.enterprise_id
    WHERE e.merged_into IS NOT NULL AND c.depth < {MAX_MERGE_DEPTH}
),
resolution AS (
    SELECT c.origin AS enterprise_id, c.enterprise_id AS resolved_enterprise_id,
        e.retired_run IS NULL AS active
    FROM chain AS c JOIN enterprise_id AS e ON e.enterprise_id = c.enterprise_id
    QUALIFY row_number() OVER (PARTITION BY c.origin ORDER BY c.depth DESC) = 1
)"""


# The status of an EID itself: active, merged (retired into another), deactivated (all
# its records removed), or unknown (never issued here).
_STATUS = """CASE WHEN e.enterprise_id IS NULL THEN 'unknown'
        WHEN e.retired_run IS NULL THEN 'active'
        WHEN e.merged_into IS NOT NULL THEN 'merged'
        ELSE 'deactivated' END"""


def resolve_enterprise_ids(store: Store, enterprise_ids: list[str]) -> pd.DataFrame:
    """One row per given EID, in the given order: enterprise_id, resolved_enterprise_id
    (null if never issued), active (whether the resolved EID is active) and status
    (active | merged | deactivated | unknown)."""
    import pyarrow as pa

    with store.registered("resolve_input", pa.table({
            "position": pa.array(range(len(enterprise_ids)), pa.int64()),
            "enterprise_id": pa.array(enterprise_ids, pa.string())})):
        return store.run_frame(STAGE, Step("resolve", resolution_cte(
            "SELECT enterprise_id FROM resolve_input") + f"""
SELECT i.enterprise_id, r.resolved_enterprise_id, coalesce(r.active, false) AS active,
    {_STATUS} AS status
FROM resolve_input AS i
LEFT JOIN resolution AS r ON r.enterprise_id = i.enterprise_id
LEFT JOIN enterprise_id AS e ON e.enterprise_id = i.enterprise_id
ORDER BY i.position"""))


def resolve_enterprise_id(store: Store, enterprise_id: str) -> tuple[str, bool] | None:
    """The EID that `enterprise_id` ended up in (following merges) and whether it is active;
    None when no such EID was ever issued."""
    row = resolve_enterprise_ids(store, [enterprise_id]).iloc[0]
    return None if row["status"] == "unknown" else (row["resolved_enterprise_id"],
                                                    bool(row["active"]))


def _json_ready(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows with their times as ISO text."""
    return [{name: value.isoformat(sep=" ") if isinstance(value, dt.datetime) else value
             for name, value in record.items()} for record in records]


def history(store: Store, enterprise_id: str) -> dict | None:
    """An EID's lineage: when it was created and retired, and every event that names it,
    each with its run's time and, from this EID's side, `from_enterprise_id` (a record
    moved in from it; split from it; it merged into this one) and `to_enterprise_id` (a
    record moved out to it; it split off from this one; this one merged into it)."""
    rows = store.run_step(STAGE, Step("eid", """
SELECT created_run, retired_run, merged_into FROM enterprise_id WHERE enterprise_id = $eid""",
                                      {"eid": enterprise_id}))
    if not rows:
        return None
    created, retired, merged_into = rows[0]
    events = store.run_records(STAGE, Step("history", """
SELECT ev.run_id, r.finished_at AS run_finished_at, ev.event_type, ev.enterprise_id,
    ev.related_enterprise_id, ev.source_system, ev.source_record_id, ev.decision_id,
    -- record_moved and split name the EID the record or the split came from as related;
    -- merged names the EID it went into; manual decisions, the other record's EID.
    -- record_restored names the EID the record had when it left as related.
    CASE WHEN ev.event_type IN ('record_moved', 'split', 'record_restored')
             AND ev.enterprise_id = $eid THEN ev.related_enterprise_id
         WHEN ev.event_type = 'merged' AND ev.related_enterprise_id = $eid
             THEN ev.enterprise_id END AS from_enterprise_id,
    CASE WHEN ev.event_type IN ('record_moved', 'split', 'record_restored')
             AND ev.related_enterprise_id = $eid THEN ev.enterprise_id
         WHEN ev.event_type = 'merged' AND ev.enterprise_id = $eid
             THEN ev.related_enterprise_id END AS to_enterprise_id
FROM crosswalk_event AS ev LEFT JOIN run AS r USING (run_id)
WHERE ev.enterprise_id = $eid OR ev.related_enterprise_id = $eid
ORDER BY ev.run_id, ev.source_record_id IS NOT NULL, ev.event_type, ev.source_system,
    ev.source_record_id""", {"eid": enterprise_id}))
    return {"enterprise_id": enterprise_id, "created_run": created, "retired_run": retired,
            "merged_into": merged_into, "events": _json_ready(events)}


def check_run(store: Store, run_id: int, *, zero_ok: bool = False) -> None:
    """A run the store does not hold (0 allowed when `zero_ok`) is a user error."""
    if zero_ok and run_id == 0:
        return
    if not store.scalar(STAGE, "find_run", "SELECT count(*) FROM run WHERE run_id = $r",
                        {"r": run_id}):
        raise LinkageError(f"run {run_id} is not in the store (see `linkage runs`"
                           + (", or 0 for every change)" if zero_ok else ")"))


CHANGE_COLUMNS = ("run_id", "run_finished_at", "event", "enterprise_id", "successor",
                  "related_enterprise_id", "source_system", "source_record_id")


def changes(store: Store, since: int) -> pd.DataFrame:
    """Every crosswalk event after run `since` (0: all), oldest first: run_id,
    run_finished_at, event, enterprise_id, successor (the active EID that enterprise_id
    resolves to now, following merges; null when it ended deactivated),
    related_enterprise_id, and source_system / source_record_id for record events."""
    check_run(store, since, zero_ok=True)
    return store.run_frame(STAGE, Step("changes", resolution_cte(
        "SELECT enterprise_id FROM crosswalk_event WHERE run_id > $since") + """
SELECT ev.run_id, r.finished_at AS run_finished_at, ev.event_type AS event, ev.enterprise_id,
    CASE WHEN res.active THEN res.resolved_enterprise_id END AS successor,
    ev.related_enterprise_id, ev.source_system, ev.source_record_id
FROM crosswalk_event AS ev
LEFT JOIN run AS r USING (run_id)
LEFT JOIN resolution AS res ON res.enterprise_id = ev.enterprise_id
WHERE ev.run_id > $since
ORDER BY ev.run_id, ev.enterprise_id, ev.source_record_id IS NOT NULL, ev.event_type,
    ev.source_system, ev.source_record_id""", {"since": since}))


# Run summary keys shown by `runs` (path in the summary JSON -> column); a key a run's
# summary lacks (older runs, or runs of another version) is shown as null.
_RUN_COUNTS = {
    "records_landed": ("sources", "rows_landed"),
    "records_rejected": ("sources", "rows_rejected"),
    "eids_created": ("crosswalk", "eids_created"),
    "eids_retired": ("crosswalk", "eids_retired"),
    "records_added": ("crosswalk", "records_added"),
    "records_restored": ("crosswalk", "records_restored"),
    "records_moved": ("crosswalk", "records_moved"),
    "records_removed": ("crosswalk", "records_removed"),
}
RUN_COLUMNS = ("run_id", "started_at", "finished_at", "kind", *_RUN_COUNTS,
               "mass_change_allowed", "model_file")


def _count(summary: dict, section: str, key: str) -> int | None:
    part = summary.get(section)
    if isinstance(part, list):  # per source: the sum of those that report it
        values = [item.get(key) for item in part if isinstance(item, dict)]
        numbers = [value for value in values if isinstance(value, int)]
        return sum(numbers) if numbers or not values else None
    value = part.get(key) if isinstance(part, dict) else None
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _kind(summary: dict) -> str:
    """full, or delivery (an incremental run): as the summary records it, else inferred.
    A delivery scores only the delivered records and keeps every pair it scores (Splink
    does not report the others), and a deletions-only delivery lands no source; a full
    run lands every source and scores every blocked pair, most below the threshold."""
    kind = summary.get("kind")
    if isinstance(kind, str) and kind:
        return kind
    incremental = summary.get("incremental")
    if isinstance(incremental, bool):
        return "delivery" if incremental else "full"
    link = summary.get("link") if isinstance(summary.get("link"), dict) else {}
    scored, kept = link.get("pairs_scored"), link.get("pairs_kept")
    if not summary.get("sources") or (isinstance(scored, int) and scored > 0 and scored == kept):
        return "delivery"
    return "full"


def _mass_change_allowed(summary: dict) -> bool:
    """Whether --allow-mass-change let through a change the guard would have refused."""
    guard = summary.get("guard")
    return isinstance(guard, dict) and bool(guard.get("allow_mass_change")) \
        and bool(guard.get("mass_changes"))


def runs(store: Store) -> pd.DataFrame:
    """One row per run, oldest first (see RUN_COLUMNS): its times, kind and counts from
    its summary. The summaries are read defensively: a missing key is a null."""
    rows = store.run_step(STAGE, Step("runs", """
SELECT run_id, started_at, finished_at, model_file, CAST(summary AS VARCHAR) FROM run
ORDER BY run_id"""))
    records = []
    for run_id, started, finished, model_file, text in rows:
        try:
            summary = json.loads(text)
        except (TypeError, ValueError):
            summary = {}
        summary = summary if isinstance(summary, dict) else {}
        records.append({"run_id": run_id, "started_at": started, "finished_at": finished,
                        "kind": _kind(summary),
                        **{column: _count(summary, *path) for column, path in _RUN_COUNTS.items()},
                        "mass_change_allowed": _mass_change_allowed(summary),
                        "model_file": model_file})
    frame = pd.DataFrame(records, columns=list(RUN_COLUMNS))
    for column in _RUN_COUNTS:
        frame[column] = frame[column].astype("Int64")
    return frame
