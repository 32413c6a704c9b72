"""Numbered migrations: MIGRATIONS[v] brings a store from schema version v to v + 1.

Crosswalk tables (runs, EIDs, crosswalk rows, events) are altered in place: they are the
history and must survive. Tables every run rebuilds from the source files (landed
records, the person table, scored pairs) are recreated empty; the next run lands the
sources again.
"""

from __future__ import annotations

from linkage.store.schema import DUCKDB_TABLES, SCHEMA_VERSION, TABLES

_REBUILT_EACH_RUN = ("source_record", "person", "pair_score")

MIGRATIONS: dict[int, list[tuple[str, str]]] = {
    # 1 -> 2: deliveries with content hashes, more landed columns, reviewer decisions.
    1: [
        *[(f"drop_{table}", f"DROP TABLE IF EXISTS {table}") for table in _REBUILT_EACH_RUN],
        *[(f"create_{table}", DUCKDB_TABLES[table]) for table in _REBUILT_EACH_RUN],
        ("create_delivery", TABLES["delivery"]),
        ("create_manual_decision", TABLES["manual_decision"]),
        ("reject_delivery", "ALTER TABLE source_reject ADD COLUMN IF NOT EXISTS delivery_id INTEGER"),
        ("reject_file_hash",
         "ALTER TABLE source_reject ADD COLUMN IF NOT EXISTS source_file_hash VARCHAR"),
        ("event_decision", "ALTER TABLE crosswalk_event ADD COLUMN IF NOT EXISTS decision_id INTEGER"),
    ],
    # 2 -> 3: the year of a date of birth; value warnings per delivery. The person table
    # keeps its rows (an incremental run reads them) and gains the year of each full date;
    # the next full run fills in the years of partial dates.
    2: [
        ("person_dob_year", "ALTER TABLE person ADD COLUMN IF NOT EXISTS dob_year INTEGER"),
        ("fill_dob_year", "UPDATE person SET dob_year = year(dob) WHERE dob IS NOT NULL"),
        ("delivery_warnings", "ALTER TABLE delivery ADD COLUMN IF NOT EXISTS warnings JSON"),
    ],
    # 3 -> 4: whether a delivery was a full snapshot of its source or a delta; a reviewer
    # can revoke a pair's decision (a `revoked` row): DuckDB cannot alter a CHECK
    # constraint, so that table is recreated with its rows.
    3: [
        ("delivery_snapshot", "ALTER TABLE delivery ADD COLUMN IF NOT EXISTS snapshot VARCHAR"),
        ("rename_manual_decision", "ALTER TABLE manual_decision RENAME TO manual_decision_v3"),
        ("create_manual_decision", TABLES["manual_decision"]),
        ("copy_manual_decision", "INSERT INTO manual_decision SELECT * FROM manual_decision_v3"),
        ("drop_manual_decision_v3", "DROP TABLE manual_decision_v3"),
    ],
    # 4 -> 5: a given name's nickname forms. Until the next full run standardizes them
    # again, kept rows hold the name and its one canonical form, as they compared before.
    4: [
        ("person_first_name_forms",
         "ALTER TABLE person ADD COLUMN IF NOT EXISTS first_name_forms VARCHAR[]"),
        ("fill_first_name_forms", "UPDATE person SET first_name_forms = CASE "
         "WHEN first_name_canonical IS NULL THEN [first_name] "
         "ELSE list_distinct([first_name, first_name_canonical]) END "
         "WHERE first_name IS NOT NULL"),
    ],
}

assert sorted(MIGRATIONS) == list(range(1, SCHEMA_VERSION)), "a migration per older version"
