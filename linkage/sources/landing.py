"""Land configured sources into the store: check files first, then stream rows in.

`check_sources` changes nothing: it finds each source's files, hashes them and reads their
headers, so a missing file or column stops the run before the store changes.
`land_sources` streams each delivery through DuckDB into `source_record`, sends unusable
rows to `source_reject` with a reason, records the delivery, and counts both:
rows read = rows landed + rows rejected. A delivery whose files and settings are the same
as the source's last one is recognised and not landed (or counted) again.

A bad value (an impossible date, a placeholder SSN) is no reason to reject a record: it
lands, standardization nulls the value and records its quality, and `record_warnings`
writes the counts per field and reason onto the delivery.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field

import duckdb

from linkage.config import SourceConfig
from linkage.errors import SourceError
from linkage.sources import files as source_files
from linkage.sources.changes import ChangedRecords, changed_records
from linkage.sources.readers import csv_reader, ndjson_lines_reader, parquet_reader
from linkage.sources.reading import read_file
from linkage.sources.shapes import HMIS_VERSIONS, KINDS, SHAPES, Shape, person_shape
from linkage.store import connect, LANDED_COLUMNS, Step, Store
from linkage.store.relations import record_key

STAGE = "land"
# Bump when landing rules change, so an unchanged file is landed again under new rules.
# 3: a date that cannot be read no longer rejects its record.
# 4: CalSAWS record keys escape their separator.
# 5: an over-long value no longer rejects its record (only an over-long key does); FHIR
#    names given only as text, maiden names as aliases, the SSN by its OID; CalSAWS county
#    and person numbers typed as numbers get their leading zeros back.
# 6: FHIR values written as one where FHIR says a list (a `given` string, a `name` or
#    `address` object), DSTU2's `family` list, identifiers told by their type's text; a
#    file holding one FHIR Bundle lands its Patients.
LANDING_VERSION = "6"
MAX_FIELD_LENGTH = 1000
# Person evidence; a record key (an MRN) alone cannot be linked to anyone.
_IDENTIFYING = ("first_name", "last_name", "dob", "ssn", "cin")


@dataclass(frozen=True)
class FileRead:
    """One file of a delivery and the reader relations its shape selects from."""

    file: source_files.SourceFile
    readers: dict[str, str]
    params: dict[str, str]
    # The layout's optional columns the file lacks: their fields land empty.
    absent: tuple[str, ...] = ()


@dataclass(frozen=True)
class Delivery:
    """One source's files for this run, checked and ready to land."""

    source: SourceConfig
    shape: Shape
    reads: list[FileRead]
    content_hash: str
    # Every file the content hash covers (an HMIS export's three), as hashed.
    hashed: tuple[source_files.SourceFile, ...] = ()

    @property
    def files(self) -> list[source_files.SourceFile]:
        return [read.file for read in self.reads]


@dataclass
class LandingCount:
    source_system: str
    delivery_id: int = 0
    unchanged: bool = False
    rows_read: int = 0
    rows_landed: int = 0
    rows_rejected: int = 0
    rejects: dict[str, int] = field(default_factory=dict)
    # Landed values that could not be used, by field and reason: {"dob": {"invalid": 2}}.
    warnings: dict[str, dict[str, int]] = field(default_factory=dict)
    # full: the delivery replaced the source's records; delta: it added and updated some.
    snapshot: str = "full"
    # Records of the source (not deleted) before this delivery landed.
    records_before: int = 0
    # Delta only: landed rows identical to the record already held (a delta that repeats
    # most of its source may be a full snapshot, whose missing records a delta never removes).
    rows_unchanged: int = 0


def check_sources(sources: list[SourceConfig]) -> list[Delivery]:
    """Resolve, hash and check every source's files; raise SourceError on the first problem."""
    con = connect()
    try:
        return [_check_source(con, source) for source in sources]
    finally:
        con.close()


def _check_source(con: duckdb.DuckDBPyConnection, source: SourceConfig) -> Delivery:
    paths = source_files.resolve_files(source)
    encoding = source_files.source_encoding(source, paths)
    if encoding != source.encoding:  # read as what the files are (reading.py reads this)
        source = source.model_copy(update={"encoding": encoding})
    # UTF-16 files are transcoded to UTF-8 as they are read (linkage.sources.reading).
    reader_encoding = "utf-8" if encoding == "utf-16" else encoding
    kind = KINDS[source.kind.value]
    if kind.name == "person":
        shape = person_shape(tuple(source.key or ()), source.columns, source.constants)
    else:
        shape = SHAPES[kind.shapes[0]]
    if shape.reader == "hmis":
        client, enrollment, export = (source_files.fingerprint(path) for path in paths)
        header, delimiter = source_files.read_header(con, client, encoding)
        hmis_names = [name for year, columns in HMIS_VERSIONS.items()
                      for name in (*columns, *SHAPES[f"hmis_fy{year}"].required["Client.csv"])]
        client_renames = source_files.matching_renames(header, hmis_names, {})
        named = {client_renames.get(column, column) for column in header}
        year = next((year for year, columns in HMIS_VERSIONS.items()
                     if set(columns) <= named), None)
        if year is None:
            raise SourceError(
                f"{client.path}: cannot tell the HMIS CSV version: expected the FY2026 column "
                "'Sex', the FY2024 gender columns (Woman, Man, …), the FY2022 ones (Female, "
                "Male, …) or the FY2020 column 'Gender'")
        shape = SHAPES[f"hmis_fy{year}"]
        readers, params = {}, {}
        for name, file in (("Client.csv", client), ("Enrollment.csv", enrollment),
                           ("Export.csv", export)):
            file_header, file_delimiter = ((header, delimiter) if file is client
                                           else source_files.read_header(con, file, encoding))
            renames = source_files.matching_renames(file_header, shape.required[name], {})
            source_files.check_columns(file, file_header, shape.required[name], renames, source,
                                       "hmis")
            parameter = "file" if file is client else f"file_{name.split('.')[0].lower()}"
            readers[name] = csv_reader(file_header, reader_encoding, renames, (), parameter,
                                       file_delimiter)
            params[parameter] = str(file.path)
        reads = [FileRead(client, readers, params)]
        hashed = [client, enrollment, export]
    else:
        # A built-in layout's `columns` rename file columns to its own; a person source's
        # columns are its shape, read under the file's names.
        configured = {} if kind.name == "person" else source.columns
        reads, hashed = [], []
        for path in paths:
            file = source_files.fingerprint(path)
            hashed.append(file)
            absent: tuple[str, ...] = ()
            if shape.reader == "ndjson":
                # NDJSON has no header: an empty file is a delivery of no patients.
                if file.bytes == 0:
                    continue
                reader = ndjson_lines_reader(reader_encoding)
            else:
                header, delimiter = source_files.read_header(con, file, encoding)
                renames = source_files.matching_renames(
                    header, (*shape.required[""], *shape.optional),
                    {old: new for old, new in configured.items() if old in header})
                source_files.check_columns(file, header, shape.required[""], renames,
                                           source, shape.kind)
                present = {renames.get(column, column) for column in header}
                absent = tuple(column for column in shape.optional if column not in present)
                # A flat file's rows are numbered as they are inserted (one pass, every thread).
                if file.is_parquet:
                    numbers = source_files.number_columns(con, file)
                    digits = {column: shape.digits[renames.get(column, column)]
                              for column in header if column in numbers
                              and renames.get(column, column) in shape.digits}
                    reader = parquet_reader(header, renames, shape.optional, digits,
                                            numbered=False)
                else:
                    reader = csv_reader(header, reader_encoding, renames, shape.optional,
                                        delimiter=delimiter, numbered=False)
            reads.append(FileRead(file, {"": reader}, {"file": str(file.path)}, absent))
    settings = {"kind": shape.kind, "columns": source.columns, "encoding": encoding,
                "date_format": source.date_format, "version": LANDING_VERSION}
    if kind.name == "person":  # the built-in kinds' hashes stay as they were
        settings.update(key=source.key, constants=source.constants)
    settings = json.dumps(settings, sort_keys=True)
    content = hashlib.sha256(settings.encode())
    for file in hashed:
        content.update(f"{file.path.name}:{file.sha256}".encode())
    return Delivery(source, shape, reads, content.hexdigest(), tuple(hashed))


def land_sources(store: Store, deliveries: list[Delivery], run_id: int,
                 changed: ChangedRecords | None = None) -> list[LandingCount]:
    """Land each delivery unless it is unchanged. A full delivery replaces the source's
    records; a delta one (every delivery of an incremental run, which passes its
    `changed` records, else a source configured with `snapshot: delta`) adds and replaces
    only its own records, and lists them in `changed` for the incremental stages."""
    modes = [changed is not None or delivery.source.snapshot == "delta"
             for delivery in deliveries]
    if any(modes) and changed is None:
        changed = changed_records(store)
    return [_land(store, delivery, run_id, changed if is_delta else None)
            for delivery, is_delta in zip(deliveries, modes, strict=True)]


def _land(store: Store, delivery: Delivery, run_id: int,
          changed: ChangedRecords | None = None) -> LandingCount:
    delta = changed is not None
    name = delivery.source.name
    count = LandingCount(name, delivery_id=store.scalar(
        STAGE, "next_delivery", "SELECT coalesce(max(delivery_id), 0) + 1 FROM delivery"),
        snapshot="delta" if delta else "full")
    count.records_before = store.scalar(STAGE, "count_held", """
SELECT count(*) FROM source_record WHERE source_system = $source AND NOT is_deleted""",
                                        {"source": name})
    # A full delivery is unchanged when it is the source's last full one again: the deltas
    # landed since then stay (a stale day-0 file does not undo later deliveries).
    previous = store.scalar(STAGE, "previous_delivery", """
SELECT content_hash FROM delivery WHERE source_system = $source
    AND ($delta OR coalesce(snapshot, 'full') = 'full')
ORDER BY delivery_id DESC LIMIT 1""", {"source": name, "delta": delta})
    if previous == delivery.content_hash:
        count.unchanged = True
        _record_delivery(store, delivery, count, run_id)
        return count

    with store.reading_files("landing_read", _landing_table_sql()) as reader:
        windows_1252 = sum(read_file(reader, delivery, read) for read in delivery.reads)
        source_files.check_unchanged(delivery.hashed)
        _classify(reader)
        count.warnings = _null_overlong_values(reader)
        for field_name, rows in _absent_columns(reader, delivery).items():
            count.warnings.setdefault(field_name, {})["column_absent"] = rows
        if windows_1252:
            count.warnings["text"] = {"windows_1252_lines": windows_1252}
    lineage = {"run_id": run_id, "source_system": name, "kind": delivery.shape.kind,
               "delivery_id": count.delivery_id}
    landed_columns = ", ".join(LANDED_COLUMNS)
    if delta:
        count.rows_unchanged = store.scalar(STAGE, "count_repeated", """
SELECT count(*) FROM landing_read AS l JOIN source_record AS r USING (source_record_id)
WHERE l.reject_reason IS NULL AND r.source_system = $source AND NOT r.is_deleted
    AND NOT l.is_deleted AND CAST(l.raw AS VARCHAR) = CAST(r.raw AS VARCHAR)""",
                                            {"source": name})
        replace = [
            Step("note_changed", f"""
INSERT INTO {changed.table} SELECT DISTINCT {record_key("$source_system")}
FROM landing_read WHERE reject_reason IS NULL""", {"source_system": name}),
            Step("replace_records", """
DELETE FROM source_record WHERE source_system = $source_system AND source_record_id IN (
    SELECT source_record_id FROM landing_read WHERE reject_reason IS NULL)""",
                 {"source_system": name}),
        ]
    else:
        replace = [Step("replace_snapshot",
                        "DELETE FROM source_record WHERE source_system = $source_system",
                        {"source_system": name})]
    store.run_steps(STAGE, [
        *replace,
        Step("insert_records", f"""
INSERT INTO source_record (run_id, source_system, source_kind, source_file, source_row,
    source_record_id, is_deleted, {landed_columns}, raw, delivery_id, source_file_hash)
SELECT $run_id, $source_system, $kind, source_file, source_row, source_record_id, is_deleted,
    {landed_columns}, raw, $delivery_id, source_file_hash
FROM landing_read WHERE reject_reason IS NULL""", lineage),
        Step("insert_rejects", """
INSERT INTO source_reject (run_id, delivery_id, source_system, source_file, source_file_hash,
    source_row, reason, raw)
SELECT $run_id, $delivery_id, $source_system, source_file, source_file_hash, source_row,
    reject_reason, raw
FROM landing_read WHERE reject_reason IS NOT NULL""",
             {key: lineage[key] for key in ("run_id", "source_system", "delivery_id")}),
    ])
    for reason, rows in store.run_step(STAGE, Step("count", """
SELECT coalesce(reject_reason, ''), count(*) FROM landing_read GROUP BY ALL ORDER BY 1""")):
        count.rows_read += rows
        if reason:
            count.rows_rejected += rows
            count.rejects[reason] = rows
        else:
            count.rows_landed = rows
    store.run_step(STAGE, Step("drop_read", "DROP TABLE landing_read"))
    _record_delivery(store, delivery, count, run_id)
    return count


def _landing_table_sql() -> str:
    columns = ",\n    ".join(f"{column} VARCHAR" for column in LANDED_COLUMNS)
    return f"""
CREATE OR REPLACE TEMP TABLE landing_read (
    source_file VARCHAR, source_file_hash VARCHAR, source_row BIGINT, parse_problem VARCHAR,
    source_record_id VARCHAR, is_deleted BOOLEAN,
    {columns},
    raw JSON, reject_reason VARCHAR
)"""


def _absent_columns(reader: Store, delivery: Delivery) -> dict[str, int]:
    """Per optional column of the layout, the rows read from files that lack it."""
    rows: dict[str, int] = {}
    for read in delivery.reads:
        if read.absent:
            read_rows = reader.scalar(STAGE, "rows_of_file", """
SELECT count(*) FROM landing_read WHERE source_file = $path""", {"path": str(read.file.path)})
            for column in read.absent:
                rows[column] = rows.get(column, 0) + int(read_rows)
    return {column: count for column, count in rows.items() if count}


def _null_overlong_values(reader: Store) -> dict[str, dict[str, int]]:
    """Null every value longer than MAX_FIELD_LENGTH of the rows that land, in place (after
    `_classify`, which treats such a value as absent), and count them by
    field as {"first_name": {"too_long": 2}}. A value that long is no one's name or address
    (a runaway quote, a pasted note): the record still lands on its other fields, and its
    raw row keeps what the file held."""
    too_long = {column: f"length({column}) > {MAX_FIELD_LENGTH}" for column in LANDED_COLUMNS}
    counts = reader.run_step(STAGE, Step("count_overlong", "SELECT " + ", ".join(
        f"count(*) FILTER (WHERE {rule})" for rule in too_long.values())
        + " FROM landing_read WHERE reject_reason IS NULL"))[0]
    overlong = {column: rows for column, rows in zip(too_long, counts, strict=True) if rows}
    if overlong:
        reader.run_step(STAGE, Step("null_overlong", "UPDATE landing_read SET " + ", ".join(
            f"{column} = CASE WHEN {too_long[column]} THEN NULL ELSE {column} END"
            for column in overlong) + " WHERE reject_reason IS NULL AND ("
            + " OR ".join(too_long[c] for c in overlong) + ")"))
    return {column: {"too_long": rows} for column, rows in overlong.items()}


def _classify(reader: Store) -> None:
    """Give every row of `landing_read` that cannot land its reject reason, in place (first
    matching rule wins); the rows left with none land.

    One pass over the rows read: the rules are evaluated once and only the rejected rows are
    written, so the inserts and counts that follow read a column instead of the rules.
    Runs where the files were read (linkage.store's `reading_files`).
    """
    no_identifying = " AND ".join(f"(coalesce(trim({c}), '') = '' OR length({c}) > {MAX_FIELD_LENGTH})"
                                  for c in _IDENTIFYING)
    reader.run_steps(STAGE, [
        # Only ids seen more than once need their contents compared.
        Step("repeated_ids", """
CREATE OR REPLACE TEMP TABLE repeated_id AS
WITH repeated AS (
    SELECT source_record_id FROM landing_read
    WHERE reject_reason IS NULL AND parse_problem IS NULL
    GROUP BY source_record_id HAVING count(*) > 1
)
SELECT source_record_id, count(DISTINCT md5(CAST(raw AS VARCHAR))) AS contents,
    min((source_file, source_row)) AS first_row
FROM landing_read JOIN repeated USING (source_record_id)
WHERE reject_reason IS NULL AND parse_problem IS NULL
GROUP BY source_record_id"""),
        Step("classify", f"""
UPDATE landing_read SET reject_reason = rejected.reason
FROM (
    SELECT l.rowid AS row_id, CASE
        WHEN l.parse_problem IS NOT NULL THEN l.parse_problem
        WHEN coalesce(trim(l.source_record_id), '') = '' THEN 'missing_record_id'
        WHEN length(l.source_record_id) > {MAX_FIELD_LENGTH} THEN 'field_too_long'
        WHEN r.contents > 1 THEN 'duplicate_record_id'
        WHEN r.contents = 1 AND (l.source_file, l.source_row) <> r.first_row THEN 'duplicate_row'
        WHEN {no_identifying} THEN 'no_identifying_fields'
    END AS reason
    FROM landing_read AS l LEFT JOIN repeated_id AS r USING (source_record_id)
    WHERE l.reject_reason IS NULL
) AS rejected
WHERE landing_read.rowid = rejected.row_id AND rejected.reason IS NOT NULL"""),
        Step("drop_repeated", "DROP TABLE repeated_id"),
    ])


def _record_delivery(store: Store, delivery: Delivery, count: LandingCount, run_id: int) -> None:
    files = [{"path": str(f.path), "sha256": f.sha256, "bytes": f.bytes} for f in delivery.files]
    store.run_step(STAGE, Step("record_delivery", """
INSERT INTO delivery VALUES ($delivery_id, $run_id, $source, $kind, $hash, $files, $status,
    $read, $landed, $rejected, $rejects, '{}', $snapshot)""", {
        "delivery_id": count.delivery_id, "run_id": run_id, "source": count.source_system,
        "kind": delivery.shape.kind, "hash": delivery.content_hash, "files": json.dumps(files),
        "status": "unchanged" if count.unchanged else "landed", "read": count.rows_read,
        "landed": count.rows_landed, "rejected": count.rows_rejected,
        "rejects": json.dumps(count.rejects, sort_keys=True), "snapshot": count.snapshot}))


def record_warnings(store: Store, counts: list[LandingCount],
                    warnings: dict[int, dict[str, dict[str, int]]]) -> None:
    """Put each landed delivery's value warnings (by delivery id, as standardization counted
    them) on its LandingCount and its `delivery` row. Counts only, never a value."""
    for count in counts:
        if count.unchanged:
            continue
        for field_name, reasons in warnings.get(count.delivery_id, {}).items():
            count.warnings.setdefault(field_name, {}).update(reasons)
        store.run_step(STAGE, Step("record_warnings", """
UPDATE delivery SET warnings = $warnings WHERE delivery_id = $delivery_id""", {
            "warnings": json.dumps(count.warnings, sort_keys=True),
            "delivery_id": count.delivery_id}))
