"""Deletions delivered as a list of record keys (source_system, source_record_id).

A deleted record stays in the store, marked inactive, with its history; the incremental
stages see it in the run's ChangedRecords.
"""

from __future__ import annotations

from pathlib import Path

import duckdb

from linkage.errors import SourceError
from linkage.sources.changes import ChangedRecords
from linkage.store import connect, Step, Store
from linkage.store.relations import record_key

STAGE = "land"
COLUMNS = ("source_system", "source_record_id")


def apply_deletions(store: Store, path: Path, run_id: int,
                    changed: ChangedRecords) -> dict[str, int]:
    """Mark the listed records deleted and add them to `changed`; return the counts of keys
    listed, records marked deleted, keys of records deleted before, and keys matching no
    record of the store."""
    if not path.is_file():
        raise SourceError(f"{path}: deletions file not found")
    try:
        with connect() as con:
            header = [row[0] for row in con.execute(
                "SELECT column_name FROM (DESCRIBE SELECT * FROM read_csv($p, header = true, "
                "all_varchar = true))", {"p": str(path)}).fetchall()]
    except duckdb.Error as error:
        raise SourceError(f"{path}: cannot read as CSV ({error.__class__.__name__})") from None
    for column in COLUMNS:
        if column not in header:
            raise SourceError(f"{path}: missing required column '{column}' in the deletions file")
    store.run_steps(STAGE, [
        Step("read_deletions", """
CREATE OR REPLACE TEMP TABLE deletion AS
SELECT DISTINCT trim(source_system) AS source_system, trim(source_record_id) AS source_record_id
FROM read_csv($path, header = true, all_varchar = true)""", {"path": str(path)}),
    ])
    listed = store.scalar(STAGE, "count_listed", "SELECT count(*) FROM deletion")
    marked = store.scalar(STAGE, "count_deletable", """
SELECT count(*) FROM source_record AS r JOIN deletion AS d USING (source_system, source_record_id)
WHERE NOT r.is_deleted""")
    unknown = store.scalar(STAGE, "count_unknown", """
SELECT count(*) FROM deletion AS d WHERE NOT EXISTS (SELECT 1 FROM source_record AS r
    WHERE r.source_system = d.source_system AND r.source_record_id = d.source_record_id)""")
    store.run_steps(STAGE, [
        Step("note_deleted", f"""
INSERT INTO {changed.table}
SELECT {record_key("r.source_system", "r.source_record_id")}
FROM source_record AS r JOIN deletion AS d USING (source_system, source_record_id)
WHERE NOT r.is_deleted"""),
        Step("mark_deleted", """
UPDATE source_record SET is_deleted = true, run_id = $run_id
FROM deletion AS d
WHERE source_record.source_system = d.source_system
    AND source_record.source_record_id = d.source_record_id AND NOT source_record.is_deleted""",
             {"run_id": run_id}),
        Step("drop_deletions", "DROP TABLE deletion"),
    ])
    return {"listed": listed, "deleted": marked, "deleted_before": listed - marked - unknown,
            "unknown": unknown}
