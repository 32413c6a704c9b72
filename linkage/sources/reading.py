"""Read one checked source file into `landing_read`: its rows, and the rows its parser could
not use as rejects with their line.

DuckDB's CSV reader keeps the rows it cannot parse in `csv_reject` with their line. One fault
can hide other rows: an unterminated quote, after which the parser reads on to the next quote
(or the end of the file) and reports everything in between as one bad row. Such a row is
found by its error and by its text spanning lines; the file is then cut around it: the rows
before it are read again as they were, its first physical line becomes one
`unterminated_quote` reject, and the rest of the file is read as if it started on the next
line (and cut again if it holds another such row). When the cut cannot be made with
certainty the file is refused, naming the line: rows are never silently lost.

NDJSON is read line by line; a line that is not text in the configured encoding is one
`invalid_encoding` reject and the other lines keep their numbers. A CSV file of a UTF-8
source with lines that are not UTF-8 is read again from a copy with those lines read as
Windows-1252; one whose lines end both in CRLF and in LF, from a copy with LF line ends.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from linkage.errors import SourceError, StoreError
from linkage.sources.files import SourceFile
from linkage.sources.pieces import (cut_at_row, line_at, mixes_line_ends, opens_json_document,
                                    transcode_utf16, unix_line_ends, windows_1252_lines)
from linkage.sources.readers import (BUNDLE_TEXT, CSV_REJECTS, CSV_SCANS, fhir_bundle_reader,
                                     fhir_resource_reader)
from linkage.store import LANDED_COLUMNS, Step, Store

if TYPE_CHECKING:
    from linkage.sources.landing import Delivery, FileRead

STAGE = "land"
# Each cut reads the rest of the file again; a file with more bad quotes than this is refused.
MAX_CUTS = 20
# DuckDB keeps at most this many characters of a rejected row's text.
_KEPT_TEXT = 10000
_UNCLOSED = "a quoted field is not closed (an unterminated quote)"
_ENCODING_HINT = "set the source's `encoding` (utf-8, latin-1, utf-16)"


def read_file(store: Store, delivery: Delivery, read: FileRead) -> int:
    """Append one file's rows (and the rows its parser rejected) to `landing_read`; the
    number of lines of a UTF-8 CSV source that were not UTF-8 and were read as
    Windows-1252 (a stray byte must not cost the file)."""
    select = delivery.shape.select(read.readers)
    # A delivery may hold files that are checked but not read (HMIS Export.csv).
    params = {key: value for key, value in read.params.items() if f"${key}" in select}
    with tempfile.TemporaryDirectory(prefix="linkage-land-") as scratch:
        if delivery.source.encoding == "utf-16":
            # Read as UTF-8 from here on (the readers were built for it): DuckDB reads
            # little-endian UTF-16 only, and a cut needs ASCII-compatible bytes.
            params = {key: str(transcode_utf16(Path(path), Path(scratch) / f"{key}.csv"))
                      for key, path in params.items()}
        params.update(delivery.shape.values)
        if delivery.shape.reader == "ndjson":
            documents = {"Bundle": delivery.shape.select({"": fhir_bundle_reader()}),
                         "Patient": delivery.shape.select({"": fhir_resource_reader()})}
            _Reading(store, read.file, delivery.source.name, select, params).ndjson(
                documents, among_others=len(delivery.reads) > 1)
            return 0
        text_encoding = "latin-1" if delivery.source.encoding == "latin-1" else "utf-8"
        # DuckDB's CSV reader takes one kind of line end per file: a file whose lines end
        # both in CRLF and in LF (extracts joined together, a line edited by hand) is read
        # from a copy whose line ends are all LF; lines keep their numbers.
        params = {key: str(unix_line_ends(Path(value), Path(scratch) / f"lf_{key}.csv"))
                  if key in read.params and not read.file.is_parquet
                  and mixes_line_ends(Path(value)) else value
                  for key, value in params.items()}
        reading = _Reading(store, read.file, delivery.source.name, select, params)
        try:
            reading.csv(Path(scratch), text_encoding)
        except _NotText:
            if delivery.source.encoding != "utf-8":
                raise
            # Lines that are not UTF-8 are read as Windows-1252, the file read again.
            reading.discard()
            lines = 0
            for key in read.params:
                if key in params:
                    copy = Path(scratch) / f"cp1252_{key}.csv"
                    lines += windows_1252_lines(Path(params[key]), copy)
                    params[key] = str(copy)
            _Reading(store, read.file, delivery.source.name, select, params).csv(
                Path(scratch), text_encoding)
            return lines
    return 0


class _NotText(SourceError):
    """A CSV line that is not text in the source's encoding."""


class _Reading:
    """One file's reads: the whole file, or after a cut, its pieces in order."""

    def __init__(self, store: Store, file: SourceFile, source: str, select: str,
                 params: dict[str, str]) -> None:
        self.store, self.file, self.source, self.select, self.params = (
            store, file, source, select, params)
        self.lineage = {"path": str(file.path), "hash": file.sha256}

    def _insert(self, part: str, rows_before: int) -> None:
        self.store.run_steps(STAGE, [
            Step("drop_csv_rejects", f"DROP TABLE IF EXISTS {CSV_REJECTS}"),
            Step("drop_csv_scans", f"DROP TABLE IF EXISTS {CSV_SCANS}")])
        landed = ", ".join(LANDED_COLUMNS)
        try:
            self.store.run_step(STAGE, Step(f"read_{self.source}", f"""
INSERT INTO landing_read
SELECT $path, $hash, source_row + $rows_before, parse_problem, source_record_id, is_deleted,
    {landed}, raw, NULL
FROM ({self.select})""", {**self.params, "file": part, "rows_before": rows_before,
                          **self.lineage}))
        except StoreError as error:
            raise SourceError(f"{self.file.path}: cannot read source '{self.source}' "
                              f"({error.detail}); expected the source's shape") from error
        # Rows a shape left unnumbered (a flat file) are numbered by their place in the
        # table: one insert's rows take consecutive row ids in the file's order (DuckDB
        # keeps insertion order), and every other row of the table has its number.
        self.store.run_step(STAGE, Step("number_rows", """
UPDATE landing_read SET source_row = rowid + 1 + $rows_before
    - (SELECT min(rowid) FROM landing_read WHERE source_row IS NULL)
WHERE source_row IS NULL""", {"rows_before": rows_before}))

    def discard(self) -> None:
        """Remove what this file's reads put in `landing_read`."""
        self.store.run_step(STAGE, Step("discard_file_rows", """
DELETE FROM landing_read WHERE source_file = $path""", {"path": self.lineage["path"]}))

    def _rejects(self, where: str, columns: str, params: dict | None = None) -> list[tuple]:
        exists = self.store.scalar(STAGE, "find_csv_rejects", """
SELECT count(*) FROM duckdb_tables() WHERE table_name = $name AND temporary""",
                                   {"name": CSV_REJECTS})
        if not exists:
            return []
        return self.store.run_step(STAGE, Step("parser_rejects", f"""
SELECT {columns} FROM {CSV_REJECTS} AS r JOIN {CSV_SCANS} AS s USING (scan_id, file_id)
WHERE {where} ORDER BY r.line""", params))

    # -- CSV ---------------------------------------------------------------------------------
    def csv(self, scratch: Path, encoding: str) -> None:
        part, rows_before, lines_before = self.params["file"], 0, 0
        for number in range(MAX_CUTS + 1):
            self._insert(part, rows_before)
            self._refuse_unreadable(part, lines_before)
            bad = self._swallowing_row(part, lines_before)
            if bad is None:
                self._insert_parser_rejects(part, lines_before)
                return
            line, hint, text = bad
            where = f"{self.file.path}: line {lines_before + line}"
            if number == MAX_CUTS:
                raise SourceError(f"{where}: {_UNCLOSED}, after {MAX_CUTS} others; fix the "
                                  "file's quoting")
            cut = cut_at_row(Path(part), hint, text.lstrip("\r\n").encode(encoding, "replace"),
                             scratch, number)
            if cut is None:
                raise SourceError(f"{where}: {_UNCLOSED} and the rows after it cannot be told "
                                  "apart; fix the quote and deliver the file again")
            # Read the rows before the bad one again, alone, so their count is known.
            self.store.run_step(STAGE, Step("discard_swallowed", """
DELETE FROM landing_read WHERE source_file = $path AND reject_reason IS NULL
    AND source_row > $rows_before""", {"path": self.lineage["path"], "rows_before": rows_before}))
            self._insert(str(cut.head), rows_before)
            if self._swallowing_row(str(cut.head), lines_before) is not None:
                raise SourceError(f"{where}: {_UNCLOSED}; fix the quote and deliver the file "
                                  "again")
            self._insert_parser_rejects(str(cut.head), lines_before)
            self.store.run_step(STAGE, Step("unterminated_quote", """
INSERT INTO landing_read (source_file, source_file_hash, source_row, raw, reject_reason)
VALUES ($path, $hash, $line, to_json({'line': $line, 'text': $text}), 'unterminated_quote')""",
                                            {**self.lineage, "line": lines_before + line,
                                             "text": cut.bad_line.decode(encoding, "replace")}))
            if cut.tail is None:
                return
            rows_before = self.store.scalar(STAGE, "rows_before_cut", """
SELECT count(*) FROM landing_read WHERE source_file = $path AND reject_reason IS NULL""",
                                            {"path": self.lineage["path"]})
            # The tail's line 2 is the line after the bad one.
            part, lines_before = str(cut.tail), lines_before + line - 1

    def _refuse_unreadable(self, part: str, lines_before: int) -> None:
        """Bad bytes refuse the file; so does any fault in a file read beside it (HMIS
        Enrollment.csv), whose rows are not records of their own."""
        for path, line, error, kept in self._rejects(
                "r.error_type = 'INVALID ENCODING' OR s.file_path <> $part",
                "s.file_path, r.line, r.error_type, r.csv_line", {"part": part}):
            if error == "INVALID ENCODING":
                name = self.file.path if path == part else path
                offset = lines_before if path == part else 0
                raise _NotText(f"{name}: not valid text in the configured encoding (first "
                                  f"bad line {line + offset}); {_ENCODING_HINT}")
            if error == "UNQUOTED VALUE" and _spans_lines(kept):
                raise SourceError(f"{path}: line {line}: {_UNCLOSED}; fix the quote and deliver "
                                  "the file again")

    def _swallowing_row(self, part: str, lines_before: int) -> tuple[int, int, str] | None:
        """The first row whose quote is not closed on its line, as (line, byte, kept text).

        DuckDB's note of such a row is not always exact (with CRLF line ends it can name an
        earlier row), so the line is checked against the file: a line holding an unpaired
        quote is cut at; one with paired quotes is an ordinary bad row; a line without any
        quote means the note cannot be trusted, and the file is refused."""
        for line, hint, kept in self._rejects(
                "s.file_path = $part AND r.error_type = 'UNQUOTED VALUE'",
                "r.line, r.line_byte_position, r.csv_line", {"part": part}):
            found = line_at(Path(part), hint)
            quotes = found[1].count(b'"') if found else 0
            if quotes % 2 or (_spans_lines(kept) and quotes):
                return line, hint, kept
            if not quotes:
                raise SourceError(f"{self.file.path}: line {lines_before + line}: {_UNCLOSED} "
                                  "and the rows after it cannot be told apart; fix the quote "
                                  "and deliver the file again")
        return None

    def _insert_parser_rejects(self, part: str, lines_before: int) -> None:
        if not self._rejects("s.file_path = $part", "r.line", {"part": part}):
            return
        self.store.run_step(STAGE, Step("parser_rejects", f"""
INSERT INTO landing_read (source_file, source_file_hash, source_row, raw, reject_reason)
SELECT $path, $hash, min(r.line) + $lines_before,
    to_json({{'line': min(r.line) + $lines_before, 'text': any_value(r.csv_line)}}),
    'malformed_row'
FROM {CSV_REJECTS} AS r JOIN {CSV_SCANS} AS s USING (scan_id, file_id)
WHERE s.file_path = $part
GROUP BY r.line""", {**self.lineage, "part": part, "lines_before": lines_before}))

    # -- NDJSON ------------------------------------------------------------------------------
    def ndjson(self, documents: dict[str, str], among_others: bool) -> None:
        """The file's lines, or, when it holds one JSON document (pretty-printed, or on one
        line), that document read with the select `documents` gives its resource type: a
        FHIR Bundle's entries, or one Patient. `among_others`: the file is one of a folder
        or glob (a FHIR server's pages, a simulator's one Bundle per patient)."""
        part = self.params["file"]
        if not opens_json_document(Path(part)):
            self._insert(part, 0)
            if self._rejects("s.file_path = $part", "r.line", {"part": part}):
                self._ndjson_rejects(part)
            if not self._first_line_is_bundle():
                _check_fhir(self.store, self.file)
                return
            self.discard()
        self._document(part, documents, among_others)

    def _first_line_is_bundle(self) -> bool:
        return bool(self.store.scalar(STAGE, "fhir_first_bundle", """
SELECT parse_problem IS NULL AND (raw ->> 'resourceType') = 'Bundle' FROM landing_read
WHERE source_file = $path ORDER BY source_row LIMIT 1""", {"path": self.lineage["path"]}))

    def _document(self, part: str, documents: dict[str, str], among_others: bool) -> None:
        """A file that is one JSON document lands the Patients of its entries if it is a
        Bundle, numbered by entry, or itself if it is a Patient; any other document is
        refused. A Bundle holding other resources only (a simulator's file of hospitals or
        practitioners) is refused on its own and passed over among other files."""
        try:
            kind, entries, patients = self.store.run_step(STAGE, Step("fhir_document", f"""
WITH document AS (
    SELECT CASE WHEN json_valid(content) THEN json(content) END AS json FROM ({BUNDLE_TEXT})
), entry AS (
    SELECT json, from_json(json -> 'entry', '[{{"resource":"JSON"}}]') AS entries FROM document
)
SELECT CASE WHEN json IS NULL THEN 'invalid' ELSE coalesce(json ->> 'resourceType', '') END,
    len(entries), len(list_filter(entries, lambda e: (e.resource ->> 'resourceType') = 'Patient'))
FROM entry""", {"file": part}))[0]
        except StoreError as error:
            raise SourceError(f"{self.file.path}: not text in the configured encoding; "
                              f"{_ENCODING_HINT}") from error
        expected = ("expected NDJSON, one FHIR Patient resource per line, one Bundle of "
                    "Patients or one Patient")
        if kind not in documents:
            found = ("not a complete JSON document" if kind == "invalid"
                     else "a JSON document but not a FHIR Bundle or Patient")
            raise SourceError(f"{self.file.path}: {found}; {expected}")
        if kind == "Bundle" and entries and not patients:
            if among_others:
                return
            # An empty Bundle is a delivery of no patients; one of other resources is the
            # wrong file.
            raise SourceError(f"{self.file.path}: a FHIR Bundle without Patient entries; "
                              f"{expected}")
        self.select = documents[kind]
        self._insert(part, 0)

    def _ndjson_rejects(self, part: str) -> None:
        """Lines the reader could not take: the line numbers of the lines after them are put
        right (the reader counted only the lines it took), then each is one reject."""
        rejects = f"""
SELECT r.line, row_number() OVER (ORDER BY r.line) AS rank, any_value(r.error_type) AS error
FROM {CSV_REJECTS} AS r JOIN {CSV_SCANS} AS s USING (scan_id, file_id)
WHERE s.file_path = $part GROUP BY r.line"""
        params = {"part": part, **self.lineage}
        self.store.run_steps(STAGE, [
            Step("ndjson_line_numbers", f"""
UPDATE landing_read AS l SET source_row = l.source_row + (
    SELECT count(*) FROM ({rejects}) AS bad WHERE bad.line - bad.rank < l.source_row)
WHERE l.source_file = $path""", {"part": part, "path": self.lineage["path"]}),
            Step("ndjson_rejects", f"""
INSERT INTO landing_read (source_file, source_file_hash, source_row, parse_problem, raw)
SELECT $path, $hash, line, CASE WHEN error = 'INVALID ENCODING' THEN 'invalid_encoding'
    ELSE 'malformed_json' END, to_json({{'line': line}})
FROM ({rejects})""", params),
        ])


def _spans_lines(kept: str | None) -> bool:
    """Whether a rejected row's text runs over more than its own line (DuckDB keeps the text
    of a row from its start; a kept text at the limit may have been cut short)."""
    kept = (kept or "").strip("\r\n")
    return "\n" in kept or "\r" in kept or len(kept) >= _KEPT_TEXT


def _check_fhir(store: Store, file: SourceFile) -> None:
    """A Bundle, or a resource other than Patient, means the file is not what was promised."""
    first = store.run_step(STAGE, Step("fhir_first_line", """
SELECT source_row, parse_problem,
    -- a line that was JSON keeps it as raw; one that was not keeps only its line number
    json_type(raw) <> 'OBJECT' OR (raw ->> 'line') IS NULL FROM landing_read
WHERE source_file = $path ORDER BY source_row LIMIT 1""", {"path": str(file.path)}))
    expected = "expected NDJSON, one FHIR Patient resource per line"
    if first and first[0][1] == "malformed_json":
        found = "not a FHIR resource" if first[0][2] else "not a complete JSON object"
        raise SourceError(f"{file.path}: line {first[0][0]} is {found}; {expected}")
    other = store.run_step(STAGE, Step("fhir_other_resources", """
SELECT source_row, raw ->> 'resourceType' FROM landing_read
WHERE source_file = $path AND parse_problem IS NULL
    AND (raw ->> 'resourceType') IS DISTINCT FROM 'Patient'
ORDER BY source_row LIMIT 1""", {"path": str(file.path)}))
    if other:
        line, kind = other[0]
        found = (f"{'an' if kind[0] in 'AEIOU' else 'a'} {kind} resource"
                 if isinstance(kind, str) and kind.isalpha() and len(kind) <= 40
                 else "not a FHIR resource")
        raise SourceError(f"{file.path}: line {line} is {found}; {expected}")
