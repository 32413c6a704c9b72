"""Find a source's files and check them before anything lands.

A source's `path` is a file, a folder (every file of the kind's suffixes in it) or a glob;
an HMIS source is an export folder. Checks here read headers only, so a missing file, an
empty file, a wrong delimiter or a missing column stops the run before the store changes.
"""

from __future__ import annotations

import csv
import glob
import hashlib
from dataclasses import dataclass
from pathlib import Path

import duckdb

from linkage.config import SourceConfig
from linkage.errors import SourceError

SUFFIXES = {"calsaws": (".csv", ".parquet"), "ehr_csv": (".csv",), "ehr_fhir": (".ndjson", ".jsonl")}
HMIS_FILES = ("Client.csv", "Enrollment.csv", "Export.csv")
_OTHER_DELIMITERS = {";": "semicolon", "|": "pipe", "\t": "tab"}


@dataclass(frozen=True)
class SourceFile:
    path: Path
    sha256: str
    bytes: int

    @property
    def is_parquet(self) -> bool:
        return self.path.suffix.lower() == ".parquet"


def resolve_files(source: SourceConfig) -> list[Path]:
    """The files one delivery of `source` consists of, in a stable order."""
    kind, path = source.kind.value, source.path
    if kind == "hmis":
        if not path.is_dir():
            raise SourceError(f"{path}: source '{source.name}' (hmis) expects a folder holding a "
                              "HUD HMIS CSV export (Client.csv, Enrollment.csv, Export.csv)")
        for name in HMIS_FILES:
            if not (path / name).is_file():
                raise SourceError(f"{path / name}: file not found for source '{source.name}' "
                                  "(an HMIS export needs Client.csv, Enrollment.csv and Export.csv)")
        return [path / name for name in HMIS_FILES]
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix.lower() in SUFFIXES[kind])
        where = f"folder holds no {' or '.join(SUFFIXES[kind])} files"
    elif any(ch in str(path) for ch in "*?["):
        files = sorted(Path(p) for p in glob.glob(str(path)) if Path(p).is_file())
        where = "pattern matches no files"
    elif path.is_file():
        files = [path]
        where = ""
    else:
        raise SourceError(f"{path}: file not found for source '{source.name}' ({kind})")
    if not files:
        raise SourceError(f"{path}: {where} for source '{source.name}' ({kind})")
    return files


def fingerprint(path: Path) -> SourceFile:
    digest = hashlib.sha256()
    try:
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    except OSError as error:
        raise SourceError(f"{path}: cannot read file ({error.strerror})") from None
    return SourceFile(path, digest.hexdigest(), path.stat().st_size)


_PYTHON_ENCODINGS = {"utf-8": "utf-8-sig", "latin-1": "latin-1", "utf-16": "utf-16"}


def read_header(con: duckdb.DuckDBPyConnection, file: SourceFile, encoding: str) -> list[str]:
    """Column names of a CSV or Parquet file, with errors that say what was expected."""
    if file.bytes == 0:
        raise SourceError(f"{file.path}: empty file; expected a header row")
    if file.is_parquet:
        try:
            rows = con.execute("SELECT column_name FROM (DESCRIBE SELECT * FROM read_parquet($path))",
                               {"path": str(file.path)}).fetchall()
        except duckdb.Error as error:
            raise SourceError(f"{file.path}: cannot read as Parquet "
                              f"({error.__class__.__name__})") from None
        return [row[0] for row in rows]
    try:
        # The first line only: the rest may hold bad bytes that are rejects, not file errors.
        with file.path.open("rb") as handle:
            first_line = handle.readline(1 << 20).decode(_PYTHON_ENCODINGS[encoding])
        header = next(csv.reader([first_line.rstrip("\r\n")]), [])
    except UnicodeDecodeError:
        raise SourceError(f"{file.path}: header is not {encoding} text; set the source's "
                          "`encoding` (utf-8, latin-1, utf-16)") from None
    header = [column.strip() for column in header]
    if len(header) == 1:
        for delimiter, name in _OTHER_DELIMITERS.items():
            if delimiter in header[0]:
                raise SourceError(f"{file.path}: header is {name}-delimited; expected "
                                  "comma-separated values")
    if not any(header):
        raise SourceError(f"{file.path}: first line is not a header row")
    duplicates = sorted({column for column in header if header.count(column) > 1})
    if duplicates:
        raise SourceError(f"{file.path}: header repeats column '{duplicates[0]}'")
    return header


def check_columns(file: SourceFile, header: list[str], required: tuple[str, ...],
                  renames: dict[str, str], source: SourceConfig, what: str) -> None:
    present = {renames.get(column, column) for column in header}
    for column in required:
        if column not in present:
            raise SourceError(
                f"{file.path}: missing required column '{column}' for source '{source.name}' "
                f"({what}); the file has {len(header)} columns")
