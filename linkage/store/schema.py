"""The store's tables. One DuckDB file holds every stage's output, runs and the crosswalk.

SCHEMA_VERSION goes up by one with each change to these tables, and
linkage/store/migrations.py holds the steps that bring a store from each older version to
the next; `linkage migrate` runs them.
"""

from __future__ import annotations

from dataclasses import dataclass

SCHEMA_VERSION = 5

# Versions whose Parquet tables (a Spark store) are the current version's. Version 5 added
# a column to `person`, so an older Parquet store is refused (no Parquet migrations).
PARQUET_COMPATIBLE = (5,)
assert SCHEMA_VERSION in PARQUET_COMPATIBLE

# The columns every source kind maps onto when it lands (all VARCHAR, raw as delivered).
LANDED_COLUMNS = (
    "first_name", "middle_name", "last_name", "name_suffix", "name_quality",
    "dob", "dob_quality", "ssn", "ssn_quality", "sex",
    "cin", "mrn", "mrn_authority",
    "street", "unit", "city", "state", "zip",
    "mail_street", "mail_unit", "mail_city", "mail_state", "mail_zip",
    "phone", "email", "household_id", "entry_date", "alias_names",
)

# The landed columns a `person` source may fill from its columns or constants: all but
# HMIS's data-quality codes and enrollment date and FHIR's list of former names.
# `full_name` is a whole name in one column ("LOPEZ, ANA M"), split into the name fields.
PERSON_FIELDS = tuple(column for column in LANDED_COLUMNS if column not in (
    "name_quality", "dob_quality", "ssn_quality", "entry_date", "alias_names")) + ("full_name",)

_LANDED_COLUMN_DDL = ",\n    ".join(f"{column} VARCHAR" for column in LANDED_COLUMNS)

# The canonical person table's columns (DESIGN §4), in the order stages list them: the
# table's DDL, standardize's INSERT and PERSON_COLUMNS are all built from this one list.
# `added` is the schema version that added a column: the DDL puts later columns last, where
# ALTER TABLE put them in existing stores, so a new store's table is laid out as theirs.
@dataclass(frozen=True)
class PersonColumn:
    name: str
    type: str
    added: int = 1


PERSON = (
    PersonColumn("record_key", "VARCHAR PRIMARY KEY"),
    PersonColumn("source_system", "VARCHAR NOT NULL"),
    PersonColumn("source_record_id", "VARCHAR NOT NULL"),
    PersonColumn("run_id", "INTEGER NOT NULL"),
    PersonColumn("is_deleted", "BOOLEAN NOT NULL"),
    PersonColumn("first_name", "VARCHAR"),
    PersonColumn("middle_name", "VARCHAR"),
    PersonColumn("last_name", "VARCHAR"),
    PersonColumn("name_suffix", "VARCHAR"),
    PersonColumn("surname_parts", "VARCHAR[]"),
    PersonColumn("first_name_canonical", "VARCHAR"),
    # The given name and every name it is a nickname of.
    PersonColumn("first_name_forms", "VARCHAR[]", added=5),
    PersonColumn("first_name_phonetic", "VARCHAR"),
    PersonColumn("last_name_phonetic", "VARCHAR"),
    PersonColumn("name_quality", "VARCHAR"),
    PersonColumn("dob", "DATE"),
    PersonColumn("dob_quality", "VARCHAR"),
    # The year of a full or partial (year, year-month) date of birth.
    PersonColumn("dob_year", "INTEGER", added=3),
    PersonColumn("ssn", "VARCHAR"),
    PersonColumn("ssn_last4", "VARCHAR"),
    PersonColumn("ssn_quality", "VARCHAR"),
    PersonColumn("sex", "VARCHAR"),
    PersonColumn("cin", "VARCHAR"),
    PersonColumn("mrn", "VARCHAR"),
    PersonColumn("mrn_authority", "VARCHAR"),
    PersonColumn("street", "VARCHAR"),
    PersonColumn("unit", "VARCHAR"),
    PersonColumn("city", "VARCHAR"),
    PersonColumn("state", "VARCHAR"),
    PersonColumn("zip5", "VARCHAR"),
    PersonColumn("address_kind", "VARCHAR"),
    PersonColumn("phone", "VARCHAR"),
    PersonColumn("email", "VARCHAR"),
    PersonColumn("household_id", "VARCHAR"),
    PersonColumn("name_tokens", "VARCHAR[]"),
    PersonColumn("family_name_first", "BOOLEAN"),
)

PERSON_COLUMNS = tuple(column.name for column in PERSON)

_PERSON_DDL = "\nCREATE TABLE IF NOT EXISTS person (\n    " + ",\n    ".join(
    f"{column.name} {column.type}" for column in sorted(PERSON, key=lambda c: c.added)) + "\n)"


def _source_record_ddl(raw_storage: str = "") -> str:
    return f"""
CREATE TABLE IF NOT EXISTS source_record (
    run_id INTEGER NOT NULL,
    source_system VARCHAR NOT NULL,
    source_kind VARCHAR NOT NULL,
    source_file VARCHAR NOT NULL,
    source_row BIGINT NOT NULL,
    source_record_id VARCHAR NOT NULL,
    is_deleted BOOLEAN NOT NULL,
    {_LANDED_COLUMN_DDL},
    raw JSON NOT NULL{raw_storage},
    delivery_id INTEGER,
    source_file_hash VARCHAR
    -- (source_system, source_record_id) is unique by construction: landing rejects
    -- duplicates. No index: maintaining one cost more than the landing itself.
)"""


TABLES = {
    "store_meta": """
CREATE TABLE IF NOT EXISTS store_meta (
    key VARCHAR PRIMARY KEY,
    value VARCHAR NOT NULL
)""",
    "run": """
CREATE TABLE IF NOT EXISTS run (
    run_id INTEGER PRIMARY KEY,
    started_at TIMESTAMP NOT NULL,
    finished_at TIMESTAMP NOT NULL,
    config_fingerprint VARCHAR NOT NULL,
    model_file VARCHAR NOT NULL,
    model_fingerprint VARCHAR NOT NULL,
    summary JSON NOT NULL
)""",
    # One landing of one source's files: what was read, its content hash, and the counts.
    "delivery": """
CREATE TABLE IF NOT EXISTS delivery (
    delivery_id INTEGER PRIMARY KEY,
    run_id INTEGER NOT NULL,
    source_system VARCHAR NOT NULL,
    source_kind VARCHAR NOT NULL,
    content_hash VARCHAR NOT NULL,
    files JSON NOT NULL,
    status VARCHAR NOT NULL,
    rows_read BIGINT NOT NULL,
    rows_landed BIGINT NOT NULL,
    rows_rejected BIGINT NOT NULL,
    rejects JSON NOT NULL,
    -- Values landed but unusable, by field and reason ({"dob": {"invalid": 3}}), counted
    -- when the run standardizes the delivery; null in deliveries before schema version 3.
    warnings JSON,
    -- full (the files were the whole source) or delta (they added and updated records);
    -- null in deliveries before schema version 4, which were full unless incremental.
    snapshot VARCHAR
)""",
    # Landed rows of the latest delivery of each source: raw values, lineage, shape columns.
    "source_record": _source_record_ddl(),
    "source_reject": """
CREATE TABLE IF NOT EXISTS source_reject (
    run_id INTEGER NOT NULL,
    delivery_id INTEGER NOT NULL,
    source_system VARCHAR NOT NULL,
    source_file VARCHAR NOT NULL,
    source_file_hash VARCHAR NOT NULL,
    source_row BIGINT NOT NULL,
    reason VARCHAR NOT NULL,
    raw JSON NOT NULL
)""",
    # The canonical person table (DESIGN §4): one row per source record, normalized.
    "person": _PERSON_DDL,
    # Scored pairs of the latest run at or above the config's predict threshold.
    "pair_score": """
CREATE TABLE IF NOT EXISTS pair_score (
    run_id INTEGER NOT NULL,
    record_key_l VARCHAR NOT NULL,
    record_key_r VARCHAR NOT NULL,
    match_weight DOUBLE NOT NULL,
    match_probability DOUBLE NOT NULL
)""",
    "enterprise_id": """
CREATE TABLE IF NOT EXISTS enterprise_id (
    enterprise_id VARCHAR PRIMARY KEY,
    seq BIGINT NOT NULL UNIQUE,
    created_run INTEGER NOT NULL,
    retired_run INTEGER,
    merged_into VARCHAR
)""",
    # Every (source record -> EID) assignment with the runs it was valid for.
    "crosswalk": """
CREATE TABLE IF NOT EXISTS crosswalk (
    source_system VARCHAR NOT NULL,
    source_record_id VARCHAR NOT NULL,
    enterprise_id VARCHAR NOT NULL,
    valid_from_run INTEGER NOT NULL,
    valid_to_run INTEGER
)""",
    "crosswalk_event": """
CREATE TABLE IF NOT EXISTS crosswalk_event (
    run_id INTEGER NOT NULL,
    event_type VARCHAR NOT NULL,
    enterprise_id VARCHAR NOT NULL,
    related_enterprise_id VARCHAR,
    source_system VARCHAR,
    source_record_id VARCHAR,
    decision_id INTEGER
)""",
    # Reviewer decisions on record pairs, whichever order the pair was given in: the newest
    # on a pair is in force, unless it is a `revoked` row (the audit trail stays).
    "manual_decision": """
CREATE TABLE IF NOT EXISTS manual_decision (
    decision_id INTEGER PRIMARY KEY,
    decided_at TIMESTAMP NOT NULL,
    record_key_a VARCHAR NOT NULL,
    record_key_b VARCHAR NOT NULL,
    decision VARCHAR NOT NULL CHECK (decision IN ('must_link', 'cannot_link', 'revoked')),
    reviewer VARCHAR NOT NULL,
    reason VARCHAR NOT NULL,
    applied_run INTEGER
)""",
}

# The same tables in a DuckDB file store, where a column may say how it is stored. `raw` (the
# delivered row as JSON, a few hundred bytes a row, read only for rejects and lineage) is
# compressed with zstd: DuckDB's default string compressions made writing it cost more than
# the rest of landing, and the file twice as large. Stores created before keep the default;
# the data is the same either way, so this is no schema version.
DUCKDB_TABLES = {**TABLES,
                 "source_record": _source_record_ddl(" USING COMPRESSION zstd")}

# The reviewer decision in force on each pair of records (key_l < key_r): the newest on the
# pair, unless that one revoked it. Every reader of manual_decision goes through this. (No
# QUALIFY: Spark runs it too, and explicit columns keep the rewrite unambiguous.)
DECISIONS_IN_FORCE = """
SELECT decision_id, key_l, key_r, record_key_a, record_key_b, decision, reviewer, reason,
    decided_at, applied_run
FROM (
    SELECT decision_id, least(record_key_a, record_key_b) AS key_l,
        greatest(record_key_a, record_key_b) AS key_r, record_key_a, record_key_b, decision,
        reviewer, reason, decided_at, applied_run,
        row_number() OVER (PARTITION BY least(record_key_a, record_key_b),
            greatest(record_key_a, record_key_b) ORDER BY decision_id DESC) AS newest
    FROM manual_decision
) AS ranked
WHERE newest = 1 AND decision <> 'revoked'"""
