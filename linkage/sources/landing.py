"""Land configured sources into the store: check files first, then stream rows in.

`check_sources` touches nothing: it finds each source's files and reads their headers, so
a missing file or column stops the run before the store changes. `land_sources` streams
every delivery through DuckDB into `source_record`, sends unusable rows to
`source_reject` with a reason, and counts both: rows read = rows landed + rows rejected.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from linkage.config import SourceConfig
from linkage.errors import SourceError, StoreError
from linkage.sources.shapes import SHAPES, HMIS_FY2024_GENDER, Shape, csv_reader, fhir_reader
from linkage.store import LANDED_COLUMNS, Step, Store

STAGE = "land"


@dataclass(frozen=True)
class Delivery:
    """One source's files for this run, checked and ready to land."""

    source: SourceConfig
    shape: Shape
    files: dict[str, Path]
    readers: dict[str, str]

    @property
    def params(self) -> dict[str, str]:
        return {_parameter(name): str(path) for name, path in self.files.items()}

    @property
    def lineage_file(self) -> str:
        return str(self.files.get("", self.files.get("Client.csv")))


@dataclass
class LandingCount:
    source_system: str
    rows_read: int = 0
    rows_landed: int = 0
    rows_rejected: int = 0
    rejects: dict[str, int] = field(default_factory=dict)


def check_sources(sources: list[SourceConfig]) -> list[Delivery]:
    """Resolve and check every source's files; raise SourceError on the first problem."""
    con = duckdb.connect()
    try:
        return [_check_source(con, source) for source in sources]
    finally:
        con.close()


def _parameter(file_name: str) -> str:
    return "file_" + ("".join(ch for ch in file_name.lower() if ch.isalnum()) or "main")


def _check_source(con: duckdb.DuckDBPyConnection, source: SourceConfig) -> Delivery:
    kind = source.kind.value
    if kind == "hmis":
        if not source.path.is_dir():
            raise SourceError(f"{source.path}: source '{source.name}' (hmis) expects a folder "
                              "holding a HUD HMIS CSV export (Client.csv, Enrollment.csv, Export.csv)")
        header = _read_header(con, source.path / "Client.csv", source.name)
        if "Sex" in header:
            kind = "hmis_fy2026"
        elif set(HMIS_FY2024_GENDER) <= header:
            kind = "hmis_fy2024"
        else:
            raise SourceError(
                f"{source.path / 'Client.csv'}: cannot tell the HMIS CSV version: expected the "
                "FY2024 gender columns (Woman, Man, …) or the FY2026 column 'Sex'"
            )
    elif not source.path.is_file():
        raise SourceError(f"{source.path}: file not found for source '{source.name}' ({kind})")
    shape = SHAPES[kind]

    files = {name: (source.path / name if name else source.path) for name in shape.files}
    readers = {}
    for name, path in files.items():
        if kind == "ehr_fhir":
            readers[name] = fhir_reader(_parameter(name))
            _check_readable(path, source.name)
            continue
        header = _read_header(con, path, source.name)
        renamed = {source.columns.get(column, column) for column in header}
        for column in shape.required.get(name, ()):
            if column not in renamed:
                raise SourceError(
                    f"{path}: missing required column '{column}' for source "
                    f"'{source.name}' ({shape.kind}); the file has {len(header)} columns"
                )
        renames = {old: new for old, new in source.columns.items() if old in header}
        readers[name] = csv_reader(_parameter(name), renames)
    return Delivery(source, shape, files, readers)


def _check_readable(path: Path, source_name: str) -> None:
    if not path.is_file():
        raise SourceError(f"{path}: file not found for source '{source_name}'")
    try:
        with path.open("rb") as handle:
            handle.read(1)
    except OSError as error:
        raise SourceError(f"{path}: cannot read file ({error.strerror})") from None


def _read_header(con: duckdb.DuckDBPyConnection, path: Path, source_name: str) -> set[str]:
    _check_readable(path, source_name)
    try:
        rows = con.execute(
            "SELECT column_name FROM (DESCRIBE SELECT * FROM read_csv($path, header = true, "
            "all_varchar = true, encoding = 'utf-8'))",
            {"path": str(path)},
        ).fetchall()
    except duckdb.Error as error:
        raise SourceError(f"{path}: cannot read as CSV ({error.__class__.__name__})") from None
    return {row[0] for row in rows}


def land_sources(store: Store, deliveries: list[Delivery], run_id: int) -> list[LandingCount]:
    """Replace each source's landed snapshot with this delivery; return the counts."""
    return [_land(store, delivery, run_id) for delivery in deliveries]


_IDENTIFYING = ("first_name", "last_name", "dob", "ssn", "cin", "mrn")


def _land(store: Store, delivery: Delivery, run_id: int) -> LandingCount:
    name = delivery.source.name
    sql = f"CREATE OR REPLACE TEMP TABLE landing AS {delivery.shape.select(delivery.readers)}"
    # Some files of a delivery are checked but not read (HMIS Export.csv).
    params = {key: value for key, value in delivery.params.items() if f"${key}" in sql}
    try:
        store.run_step(STAGE, Step(f"read_{name}", sql, params))
    except StoreError as error:
        raise SourceError(
            f"{delivery.lineage_file}: cannot read source '{name}' ({error.detail}); "
            "expected UTF-8 CSV (or NDJSON for FHIR) in the source's shape"
        ) from error
    if delivery.shape.kind == "ehr_fhir":
        line = store.scalar(STAGE, "check_fhir", (
            "SELECT min(source_row) FROM landing "
            "WHERE (raw ->> 'resourceType') IS DISTINCT FROM 'Patient'"))
        if line is not None:
            raise SourceError(
                f"{delivery.lineage_file}: line {line} is not a FHIR Patient resource "
                "(expected one Patient per line, NDJSON)")

    no_identifying = " AND ".join(f"coalesce(trim({column}), '') = ''" for column in _IDENTIFYING)
    landed_columns = ", ".join(LANDED_COLUMNS)
    lineage = {"run_id": run_id, "source_system": name, "kind": delivery.shape.kind,
               "file": delivery.lineage_file}
    store.run_steps(STAGE, [
        Step("classify", f"""
CREATE OR REPLACE TEMP TABLE landing_checked AS
SELECT *, CASE
    WHEN coalesce(trim(source_record_id), '') = '' THEN 'missing_record_id'
    WHEN row_number() OVER (PARTITION BY source_record_id ORDER BY source_row) > 1
        THEN 'duplicate_record_id'
    WHEN {no_identifying} THEN 'no_identifying_fields'
END AS reject_reason
FROM landing"""),
        Step("replace_snapshot", "DELETE FROM source_record WHERE source_system = $source_system",
             {"source_system": name}),
        Step("insert_records", f"""
INSERT INTO source_record
SELECT $run_id, $source_system, $kind, $file, source_row, source_record_id, is_deleted,
    {landed_columns}, raw
FROM landing_checked WHERE reject_reason IS NULL""", lineage),
        Step("insert_rejects", """
INSERT INTO source_reject
SELECT $run_id, $source_system, $file, source_row, reject_reason, raw
FROM landing_checked WHERE reject_reason IS NOT NULL""",
             {key: lineage[key] for key in ("run_id", "source_system", "file")}),
    ])
    count = LandingCount(name)
    for reason, rows in store.run_step(STAGE, Step("count", """
SELECT coalesce(reject_reason, ''), count(*) FROM landing_checked GROUP BY ALL ORDER BY 1""")):
        count.rows_read += rows
        if reason:
            count.rows_rejected += rows
            count.rejects[reason] = rows
        else:
            count.rows_landed = rows
    store.run_steps(STAGE, [Step("drop_landing", "DROP TABLE landing"),
                            Step("drop_checked", "DROP TABLE landing_checked")])
    return count
