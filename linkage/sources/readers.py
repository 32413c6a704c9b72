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
               optional: tuple[str, ...], parameter: str = "file") -> str:
    """Every column as text, named as the shape names them, plus `__source_row`; the file's
    path is bound as `$parameter`."""
    columns = ", ".join(f"{_string_literal(name)}: 'VARCHAR'" for name in header)
    return _with_shape_names(
        f"""read_csv(${parameter}, header = true, columns = {{{columns}}}, delim = ',', quote = '"',
        escape = '"', encoding = '{encoding}', auto_detect = false, ignore_errors = true,
        store_rejects = true, rejects_table = '{CSV_REJECTS}', rejects_scan = '{CSV_SCANS}',
        max_line_size = 10000000)""",
        header, renames, optional)


def parquet_reader(header: list[str], renames: dict[str, str], optional: tuple[str, ...]) -> str:
    return _with_shape_names("read_parquet($file)", header, renames, optional, cast=True)


def ndjson_lines_reader(encoding: str) -> str:
    return (f"(SELECT line AS __line, row_number() OVER () AS __source_row FROM read_csv($file, "
            f"columns = {{'line': 'VARCHAR'}}, header = false, delim = chr(1), quote = '', "
            f"escape = '', auto_detect = false, encoding = '{encoding}', "
            f"max_line_size = 100000000, ignore_errors = true, store_rejects = true, "
            f"rejects_table = '{CSV_REJECTS}', rejects_scan = '{CSV_SCANS}'))")


def _with_shape_names(scan: str, header: list[str], renames: dict[str, str],
                      optional: tuple[str, ...], cast: bool = False) -> str:
    shape_names = [renames.get(name, name) for name in header]
    selected = ", ".join(
        f"{'CAST(' if cast else ''}{quote_identifier(name)}{' AS VARCHAR)' if cast else ''}"
        f" AS {quote_identifier(shape)}"
        for name, shape in zip(header, shape_names, strict=True))
    missing = ", ".join(f"CAST(NULL AS VARCHAR) AS {quote_identifier(name)}"
                        for name in optional if name not in shape_names)
    return (f"(SELECT {selected}{', ' + missing if missing else ''}, "
            f"row_number() OVER () AS __source_row FROM {scan})")
