"""Streaming reader relations for one source file, built in code, paths bound as `$file`.

CSV rows the parser cannot use (too many or too few columns, bad quoting) are kept by
DuckDB in the `csv_reject` table with their line number, so they become rejects, not
silent losses (linkage.sources.reading finds a row that swallowed others). NDJSON is read
line by line as text so a broken line (bad JSON, bad bytes) can be rejected with its line
number instead of failing the whole file.
"""

from __future__ import annotations

from linkage.store import quote_identifier

CSV_REJECTS = "csv_reject"
CSV_SCANS = "csv_scan"


def _string_literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def csv_reader(header: list[str], encoding: str, renames: dict[str, str],
               optional: tuple[str, ...], parameter: str = "file", delimiter: str = ",",
               numbered: bool = True) -> str:
    """Every column as text, named as the shape names them, plus `__raw` and (when
    `numbered`) `__source_row`; the file's path is bound as `$parameter`; `delimiter` is the
    comma or one of linkage.sources.files.OTHER_DELIMITERS."""
    if delimiter not in (",", ";", "|", "\t"):
        raise ValueError("unsupported CSV delimiter")
    columns = ", ".join(f"{_string_literal(name)}: 'VARCHAR'" for name in header)
    return _with_shape_names(
        f"""read_csv(${parameter}, header = true, columns = {{{columns}}}, delim = {_string_literal(delimiter)}, quote = '"',
        escape = '"', encoding = '{encoding}', auto_detect = false, ignore_errors = true,
        store_rejects = true, rejects_table = '{CSV_REJECTS}', rejects_scan = '{CSV_SCANS}',
        max_line_size = 10000000)""",
        header, renames, optional, numbered=numbered)


def parquet_reader(header: list[str], renames: dict[str, str], optional: tuple[str, ...],
                   digits: dict[str, int] | None = None, numbered: bool = True) -> str:
    """`digits`: the file's number-typed columns of a fixed number of digits (an SSN typed
    as an integer), read with their leading zeros back."""
    return _with_shape_names("read_parquet($file)", header, renames, optional, cast=True,
                             digits=digits or {}, numbered=numbered)


def ndjson_lines_reader(encoding: str) -> str:
    return (f"(SELECT line AS __line, row_number() OVER () AS __source_row FROM read_csv($file, "
            f"columns = {{'line': 'VARCHAR'}}, header = false, delim = chr(1), quote = '', "
            f"escape = '', auto_detect = false, encoding = '{encoding}', "
            f"max_line_size = 100000000, ignore_errors = true, store_rejects = true, "
            f"rejects_table = '{CSV_REJECTS}', rejects_scan = '{CSV_SCANS}'))")


# A JSON file's text, less the byte order mark some Windows tools write first.
BUNDLE_TEXT = "SELECT ltrim(content, chr(65279)) AS content FROM read_text($file)"


def fhir_bundle_reader() -> str:
    """A FHIR Bundle file (one JSON document, as a FHIR search or a C-CDA converter writes
    it), as `ndjson_lines_reader` gives lines: each entry's resource as one line, numbered
    by its entry. Entries of other resource types (an OperationOutcome, an included
    Practitioner) are not records and are left out; an entry without a resource is a line
    that is no resource (one `malformed_json` reject)."""
    entries = """from_json(json(content) -> 'entry', '[{"resource":"JSON"}]')"""
    return (f"(SELECT CAST(coalesce(e.entry.resource, 'null') AS VARCHAR) AS __line, "
            f"e.entry.number AS __source_row FROM (SELECT unnest(list_transform({entries}, "
            f"lambda entry, number: {{'resource': entry.resource, 'number': number}})) AS entry "
            f"FROM ({BUNDLE_TEXT})) AS e "
            f"WHERE coalesce(e.entry.resource ->> 'resourceType', 'Patient') = 'Patient')")


def fhir_resource_reader() -> str:
    """A file holding one FHIR Patient as one JSON document (a FHIR read, `GET Patient/123`,
    saved pretty-printed), as `ndjson_lines_reader` gives lines: one line, number 1."""
    return f"(SELECT CAST(json(content) AS VARCHAR) AS __line, 1 AS __source_row FROM ({BUNDLE_TEXT}))"


def _with_shape_names(scan: str, header: list[str], renames: dict[str, str],
                      optional: tuple[str, ...], cast: bool = False,
                      digits: dict[str, int] | None = None, numbered: bool = True) -> str:
    """The file's columns under their shape names, plus `__raw` (the row as delivered, a JSON
    object of every column, optional ones absent from the file as null) and, when `numbered`,
    `__source_row`.

    Numbering rows with `row_number() OVER ()` holds the whole read (parsing, `__raw`, the
    insert) to one thread. An unnumbered reader's rows are numbered after they are inserted,
    by their place in the table (linkage.sources.reading), so the read runs on every thread.

    `__raw` is built here from the column list rather than by turning the whole row into
    JSON and removing the row number again: that round trip was about a third of the read."""
    shape_names = [renames.get(name, name) for name in header]
    digits = digits or {}
    values = [f"lpad(CAST(TRY_CAST({quote_identifier(name)} AS HUGEINT) AS VARCHAR), "
              f"{int(digits[name])}, '0')" if name in digits
              else f"CAST({quote_identifier(name)} AS VARCHAR)" if cast else quote_identifier(name)
              for name in header]
    named = list(zip(shape_names, values, strict=True))
    named += [(name, "CAST(NULL AS VARCHAR)") for name in optional if name not in shape_names]
    selected = ", ".join(f"{value} AS {quote_identifier(name)}" for name, value in named)
    raw = ", ".join(f"{_string_literal(name)}: {value}" for name, value in named)
    number = ", row_number() OVER () AS __source_row" if numbered else ""
    return f"(SELECT {selected}, to_json({{{raw}}}) AS __raw{number} FROM {scan})"
