"""Find a source's files and check them before anything lands.

A source's `path` is a file, a folder (every regular file of the kind's suffixes in it) or a
glob; an HMIS source is an export folder. Only regular files (or symlinks to them) are read:
a named pipe would block the run forever. Checks here read headers only, so a missing file,
an empty file, a wrong delimiter or a missing column stops the run before the store changes.
"""

from __future__ import annotations

import codecs
import csv
import errno
import glob
import hashlib
import os
import re
import stat
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import duckdb

from linkage.config import SourceConfig
from linkage.errors import SourceError
from linkage.sources.shapes import KINDS, SHAPES

HMIS_FILES = SHAPES["hmis_fy2024"].files
# Delimiters a header may use instead of the comma, by name.
OTHER_DELIMITERS = {";": "semicolon", "|": "pipe", "\t": "tab"}
MAX_HEADER_BYTES = 1 << 20
MAX_COLUMNS = 2000


@dataclass(frozen=True)
class SourceFile:
    path: Path
    sha256: str
    bytes: int
    modified_ns: int = 0  # the file's modification time when it was hashed

    @property
    def is_parquet(self) -> bool:
        return self.path.suffix.lower() == ".parquet"


def resolve_files(source: SourceConfig) -> list[Path]:
    """The files one delivery of `source` consists of, in a stable order."""
    kind, path = source.kind.value, source.path
    suffixes = KINDS[kind].suffixes
    if suffixes == ("",):
        if not path.is_dir():
            raise SourceError(f"{path}: source '{source.name}' (hmis) expects a folder holding a "
                              "HUD HMIS CSV export (Client.csv, Enrollment.csv, Export.csv)")
        files = [_hmis_file(path, name, source) for name in HMIS_FILES]
        for file in files:
            _refuse_unless_regular(file, source)
        return files
    found = _file_type(path)
    if found == "folder":
        files = sorted(p for p in path.iterdir()
                       if p.suffix.lower() in suffixes and _file_type(p) == "file")
        where = f"folder holds no {' or '.join(suffixes)} files"
    elif any(ch in str(path) for ch in "*?["):
        files = sorted(Path(p) for p in glob.glob(str(path)) if _file_type(Path(p)) == "file")
        where = "pattern matches no files"
    elif found is None:
        raise SourceError(f"{path}: file not found for source '{source.name}' ({kind})")
    else:
        _refuse_unless_regular(path, source)
        files = [path]
        where = ""
    if not files:
        raise SourceError(f"{path}: {where} for source '{source.name}' ({kind})")
    return files


def _hmis_file(folder: Path, name: str, source: SourceConfig) -> Path:
    """An HMIS export's file `name` in `folder`, its name in any letter case (an export
    tool may write client.csv or CLIENT.CSV); two files that differ in case only are
    refused as ambiguous."""
    if _file_type(folder / name) is not None:
        return folder / name
    found = sorted(p for p in folder.iterdir() if p.name.casefold() == name.casefold())
    if not found:
        raise SourceError(f"{folder / name}: file not found for source '{source.name}' "
                          "(an HMIS export needs Client.csv, Enrollment.csv and Export.csv)")
    if len(found) > 1:
        raise SourceError(f"{folder / name}: {len(found)} files of this name in different "
                          f"letter case for source '{source.name}'; keep one")
    return found[0]


def _file_type(path: Path) -> str | None:
    """'file', 'folder', 'symlink loop', 'special' (a pipe, socket or device) or None (absent);
    never opens the path."""
    try:
        mode = path.stat().st_mode
    except OSError as error:
        return "symlink loop" if error.errno == errno.ELOOP else None
    if stat.S_ISREG(mode):
        return "file"
    return "folder" if stat.S_ISDIR(mode) else "special"


def _refuse_unless_regular(path: Path, source: SourceConfig) -> None:
    found = _file_type(path)
    if found != "file":
        what = "a folder" if found == "folder" else found
        raise SourceError(f"{path}: not a regular file ({what}) for source '{source.name}' "
                          f"({source.kind.value})")


# Leading bytes of files that are not text or Parquet: a delivery still packed, or a
# spreadsheet saved in place of its CSV export.
_PACKED = {
    b"\x1f\x8b": "gzip-compressed; decompress it first (gunzip)",
    b"PK\x03\x04": "a ZIP archive or an Excel workbook; extract it or save the sheet as CSV",
    b"BZh": "bzip2-compressed; decompress it first (bunzip2)",
    b"\xfd7zXZ\x00": "xz-compressed; decompress it first (unxz)",
    b"\x28\xb5\x2f\xfd": "zstd-compressed; decompress it first (unzstd)",
    b"\xd0\xcf\x11\xe0": "an Excel 97-2003 workbook; save the sheet as CSV",
}


def fingerprint(path: Path) -> SourceFile:
    """The file's SHA-256 and size; a packed file (gzip, ZIP, a workbook) is refused by name."""
    digest = hashlib.sha256()
    try:
        # Non-blocking: a pipe swapped in after the folder was listed must not hang the run.
        descriptor = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
        with os.fdopen(descriptor, "rb") as handle:
            if not stat.S_ISREG(os.fstat(descriptor).st_mode):
                raise SourceError(f"{path}: not a regular file; expected a source file")
            head = handle.read(1 << 20)
            packed = next((what for magic, what in _PACKED.items() if head.startswith(magic)), None)
            if packed:
                raise SourceError(f"{path}: the file is {packed}")
            digest.update(head)
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
            size, after = handle.tell(), os.fstat(descriptor)
    except OSError as error:
        raise SourceError(f"{path}: cannot read file ({error.strerror})") from None
    if after.st_size != size:
        raise SourceError(_STILL_WRITTEN.format(path=path))
    return SourceFile(path, digest.hexdigest(), size, after.st_mtime_ns)


_STILL_WRITTEN = ("{path}: the file changed while the run read it (still being written?); "
                  "run again once the delivery is complete")


def check_unchanged(files: Iterable[SourceFile]) -> None:
    """Raise SourceError if a file's size or modification time is no longer what it was when
    it was hashed: rows read from a file that an export was still writing (or a copy that
    replaced it meanwhile) are not the delivery its hash names."""
    for file in files:
        try:
            now = file.path.stat()
        except OSError:
            raise SourceError(f"{file.path}: the file was removed while the run read it; "
                              "run again once the delivery is complete") from None
        if (now.st_size, now.st_mtime_ns) != (file.bytes, file.modified_ns):
            raise SourceError(_STILL_WRITTEN.format(path=file.path))


def text_codec(encoding: str, head: bytes) -> str:
    """The Python codec a file of the source's `encoding` is decoded with, from its first
    bytes (a UTF-8 byte order mark is dropped; UTF-16's says the byte order)."""
    return utf16_codec(head) if encoding == "utf-16" else \
        {"latin-1": "latin-1"}.get(encoding, "utf-8-sig")


def utf16_codec(head: bytes) -> str:
    """The codec of a file declared `utf-16`: its byte order mark says which; without one it
    is little-endian (what Windows tools write)."""
    return "utf-16-be" if head.startswith(codecs.BOM_UTF16_BE) else "utf-16-le"


def looks_utf16(head: bytes) -> bool:
    """Whether a text file's first bytes are UTF-16: a UTF-16 byte order mark (never valid
    UTF-8), or a little-endian ASCII header written without one (every second byte NUL),
    as Excel's "Unicode Text" and Windows tools save a sheet."""
    if head[:2] in (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE):
        return True
    sample = head[:64]
    return (len(sample) >= 8 and len(sample) % 2 == 0 and not any(sample[1::2])
            and all(sample[0::2]))


def source_encoding(source: SourceConfig, paths: Iterable[Path]) -> str:
    """The encoding a source's text files are read in: the configured one, or UTF-16 where
    a UTF-8 source's files (every one) are UTF-16, which no UTF-8 reader can read."""
    paths = [path for path in paths if path.suffix.lower() != ".parquet"]
    if source.encoding != "utf-8" or not paths:
        return source.encoding
    heads = []
    for path in paths:
        try:
            with path.open("rb") as handle:
                heads.append(handle.read(64))
        except OSError:
            return source.encoding  # fingerprint() says what is wrong with the file
    return "utf-16" if all(looks_utf16(head) for head in heads) else source.encoding


def _first_line(data: bytes, encoding: str, whole_file: bool) -> tuple[str, bytes] | None:
    """The codec and the bytes of the first line of `data` (BOM and line end removed), or
    None when `data` is only part of the file and holds no complete line."""
    codec, start = text_codec(encoding, data), 0
    if encoding == "utf-16":
        start = 2 if data[:2] in (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE) else 0
    # A file whose lines end in a bare CR (Excel for Mac's "CSV (Macintosh)") has no LF.
    for newline in (("\n".encode(codec), "\r".encode(codec)) if encoding == "utf-16"
                    else (b"\n", b"\r")):
        end = data.find(newline, start)
        while end >= 0 and (end - start) % len(newline):  # a newline byte inside a code unit
            end = data.find(newline, end + 1)
        if end >= 0:
            return codec, data[start:end]
    return (codec, data[start:]) if whole_file else None


def read_header(con: duckdb.DuckDBPyConnection, file: SourceFile,
                encoding: str) -> tuple[list[str], str]:
    """Column names of a CSV or Parquet file and the CSV's delimiter, with errors that say
    what was expected. A header without a comma but with a semicolon, pipe or tab is
    delimited by it (one of these only: a header holding two is refused)."""
    if file.bytes == 0:
        raise SourceError(f"{file.path}: empty file; expected a header row")
    if file.is_parquet:
        try:
            rows = con.execute("SELECT column_name FROM (DESCRIBE SELECT * FROM read_parquet($path))",
                               {"path": str(file.path)}).fetchall()
        except duckdb.Error as error:
            raise SourceError(f"{file.path}: cannot read as Parquet "
                              f"({error.__class__.__name__})") from None
        return [row[0] for row in rows], ","
    # The first line only: the rest may hold bad bytes that are rejects, not file errors.
    try:
        with file.path.open("rb") as handle:
            data = handle.read(MAX_HEADER_BYTES + 4)
    except OSError as error:
        raise SourceError(f"{file.path}: cannot read file ({error.strerror})") from None
    found = _first_line(data, encoding, whole_file=len(data) <= MAX_HEADER_BYTES)
    if found is None or len(found[1]) > MAX_HEADER_BYTES:
        raise SourceError(f"{file.path}: first line is longer than {MAX_HEADER_BYTES:,} bytes; "
                          "expected a header row")
    try:
        text = found[1].decode(found[0]).rstrip("\r")
    except UnicodeDecodeError:
        raise SourceError(f"{file.path}: header is not {encoding} text; set the source's "
                          "`encoding` (utf-8, latin-1, utf-16)") from None
    if "\0" in text:
        raise SourceError(f"{file.path}: header holds a NUL byte; expected a text header row")
    try:
        header = next(csv.reader([text]), [])
    except csv.Error:
        raise SourceError(f"{file.path}: first line is not a CSV header row") from None
    delimiter = ","
    if len(header) == 1:
        others = [other for other in OTHER_DELIMITERS if other in header[0]]
        if len(others) > 1:
            raise SourceError(f"{file.path}: header holds no comma and both "
                              f"{' and '.join(OTHER_DELIMITERS[o] for o in others)}; expected "
                              "values separated by one of comma, semicolon, pipe or tab")
        if others:
            delimiter = others[0]
            header = next(csv.reader([text], delimiter=delimiter), [])
    header = [column.strip() for column in header]
    if len(header) > MAX_COLUMNS:
        raise SourceError(f"{file.path}: header has {len(header):,} columns; at most "
                          f"{MAX_COLUMNS:,} are supported")
    if not any(header):
        raise SourceError(f"{file.path}: first line is not a header row")
    header = _named(header)
    # Column names are read without regard to case: DOB repeats dob.
    spellings: dict[str, list[str]] = {}
    for column in header:
        spellings.setdefault(column.lower(), []).append(column)
    repeated = sorted(names for names in spellings.values() if len(names) > 1)
    exact = sorted(name for names in repeated for name in set(names) if names.count(name) > 1)
    if exact:
        raise SourceError(f"{file.path}: header repeats column '{exact[0]}'")
    if repeated:
        raise SourceError(f"{file.path}: header holds columns '{repeated[0][0]}' and "
                          f"'{repeated[0][1]}', whose names differ only in case; rename or "
                          "remove one")
    return header, delimiter


# A header cell left empty (a trailing comma on every line, a spreadsheet's blank column)
# is kept, named by its place, so its values stay in the raw record: column_12.
UNNAMED = "column_"


def _named(header: list[str]) -> list[str]:
    taken, named = set(header), []
    for place, column in enumerate(header, start=1):
        if not column:
            column = f"{UNNAMED}{place}"
            while column in taken:
                column += "_"
            taken.add(column)
        named.append(column)
    return named


def number_columns(con: duckdb.DuckDBPyConnection, file: SourceFile) -> set[str]:
    """The columns of a Parquet file typed as numbers (integers, decimals, floats)."""
    rows = con.execute("SELECT column_name, column_type FROM (DESCRIBE SELECT * FROM "
                       "read_parquet($path))", {"path": str(file.path)}).fetchall()
    return {name for name, kind in rows
            if re.fullmatch(r"U?(TINY|SMALL|BIG|HUGE)?INT(EGER)?|DECIMAL.*|DOUBLE|FLOAT|REAL",
                            kind)}


def matching_renames(header: list[str], names: Iterable[str],
                     renames: dict[str, str]) -> dict[str, str]:
    """`renames`, plus each header column that differs from an expected name only in case,
    spaces, underscores or hyphens (FIRST_NAME, First Name -> first_name; FIRSTNAME ->
    FirstName), renamed to it. A name matched exactly, or by more than one column, is left."""
    def folded(name: str) -> str:
        return re.sub(r"[^0-9a-z]", "", name.casefold())

    expected = list(dict.fromkeys(names))
    taken = {renames.get(column, column) for column in header}
    wanted: dict[str, list[str]] = {}
    for name in expected:
        if name not in taken:
            wanted.setdefault(folded(name), []).append(name)
    loose: dict[str, list[str]] = {}
    for column in header:
        if column not in renames and column not in expected:
            loose.setdefault(folded(column), []).append(column)
    found = {columns[0]: wanted[key][0] for key, columns in loose.items()
             if len(columns) == 1 and len(wanted.get(key, ())) == 1}
    return {**renames, **found}


def check_columns(file: SourceFile, header: list[str], required: tuple[str, ...],
                  renames: dict[str, str], source: SourceConfig, what: str) -> None:
    """Every required column missing from the header, in one error."""
    present = {renames.get(column, column) for column in header}
    missing = [column for column in required if column not in present]
    if missing:
        names = ", ".join(f"'{column}'" for column in missing)
        below = None if file.is_parquet else _header_below(file, source, required, renames)
        hint = (f"; line {below} holds them, so the lines above it look like a report's title: "
                "remove them, the header must be the first line") if below else ""
        raise SourceError(
            f"{file.path}: missing required column{'s' if len(missing) > 1 else ''} {names} "
            f"for source '{source.name}' ({what}); the file has {len(header)} columns{hint}")


_TITLE_LINES = 10


def _header_below(file: SourceFile, source: SourceConfig, required: tuple[str, ...],
                  renames: dict[str, str]) -> int | None:
    """The number of the line among the first few after the first that holds every
    required column (a report writer's title or blank lines above the header), or None."""
    try:
        with file.path.open("rb") as handle:
            head = handle.read(1 << 16)
    except OSError:
        return None
    lines = head.decode(text_codec(source.encoding, head), "replace").lstrip("\ufeff").splitlines()[1:_TITLE_LINES + 1]
    for number, line in enumerate(lines, start=2):
        delimiter = max((",", *OTHER_DELIMITERS), key=line.count)
        columns = [column.strip() for column in next(csv.reader([line], delimiter=delimiter), [])]
        named = matching_renames(columns, required, {old: new for old, new in renames.items()
                                                     if old in columns})
        if set(required) <= {named.get(column, column) for column in columns}:
            return number
    return None
