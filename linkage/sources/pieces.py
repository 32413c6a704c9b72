"""Byte-level copies of (parts of) a source file, for the rare files DuckDB cannot read as
they are: UTF-16 text (transcoded to UTF-8, so every later step sees ASCII-compatible bytes)
and a CSV cut around a row with an unterminated quote (so the rows it swallowed are read
again). Whole blocks are copied, never parsed row by row in Python.
"""

from __future__ import annotations

import codecs
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from linkage.errors import SourceError
from linkage.sources.files import utf16_codec

_BLOCK = 1 << 20


def transcode_utf16(source: Path, target: Path) -> Path:
    """Copy a UTF-16 file (byte order from its BOM, else little-endian) to `target` as UTF-8.

    A lone surrogate is carried over as bytes that are not UTF-8, so the reader rejects that
    row (or refuses the file) as it would any other bad byte.
    """
    with source.open("rb") as reader, target.open("wb") as writer:
        head = reader.read(2)
        decoder = codecs.getincrementaldecoder(utf16_codec(head))(errors="surrogatepass")
        block = head
        while block:
            writer.write(decoder.decode(block).encode("utf-8", "surrogatepass"))
            block = reader.read(_BLOCK)
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            raise SourceError(f"{source}: ends in the middle of a UTF-16 character; expected "
                              "utf-16 text") from None
    return target


def _whole_lines(reader: BinaryIO) -> Iterator[bytes]:
    """The rest of `reader` in blocks of about _BLOCK bytes that each end at a line end (the
    last one may not): a CRLF or a multi-byte character is never split between blocks."""
    rest = b""
    while block := reader.read(_BLOCK):
        data = rest + block
        end = data.rfind(b"\n") + 1
        whole, rest = data[:end], data[end:]
        if whole:
            yield whole
    if rest:
        yield rest


def opens_json_document(path: Path) -> bool:
    """Whether a JSON file's first line that is not blank is a lone `{`: a pretty-printed
    document (a FHIR Bundle) rather than NDJSON, whose lines are whole objects. Only the
    first block is read."""
    with path.open("rb") as reader:
        head = reader.read(_BLOCK).removeprefix(b"\xef\xbb\xbf")
    first = next((line.strip() for line in head.splitlines() if line.strip()), b"")
    return first == b"{"


def _blocks(reader: BinaryIO) -> Iterator[bytes]:
    """The rest of `reader` in blocks of about _BLOCK bytes, none ending in a CR (so a CRLF
    is never split between two)."""
    rest = b""
    while block := reader.read(_BLOCK):
        data = rest + block
        rest = b"\r" if data.endswith(b"\r") else b""
        if data[:len(data) - len(rest)]:
            yield data[:len(data) - len(rest)]
    if rest:
        yield rest


def mixes_line_ends(path: Path) -> bool:
    """Whether some lines of the file end in CRLF and others in a bare LF, or every line
    in a bare CR (Excel for Mac's "CSV (Macintosh)"): DuckDB's reader takes CRLF or LF, one
    per file. A file without a CR (most) is passed over at the speed of a byte search."""
    crlf = lf = cr = 0
    with path.open("rb") as reader:
        for block in _blocks(reader):
            lf += block.count(b"\n")
            if b"\r" in block:
                cr += block.count(b"\r")
                crlf += block.count(b"\r\n")
            if crlf and lf > crlf:
                return True
    return cr > 0 and lf == 0


def unix_line_ends(source: Path, target: Path) -> Path:
    """Copy a CSV file to `target` with every CRLF and bare CR line end as LF. Lines keep
    their numbers."""
    with source.open("rb") as reader, target.open("wb") as writer:
        for block in _blocks(reader):
            writer.write(block.replace(b"\r\n", b"\n").replace(b"\r", b"\n"))
    return target


def windows_1252_lines(source: Path, target: Path) -> int:
    """Copy a UTF-8 file to `target` with each line that is not UTF-8 read as Windows-1252
    (the stray byte of a name typed on a Windows form: JOS\xc9, PE\xd1A) and written as
    UTF-8; the number of lines so read. Blocks that are UTF-8 are copied as they are."""
    repaired = 0
    with source.open("rb") as reader, target.open("wb") as writer:
        for block in _whole_lines(reader):
            try:
                block.decode("utf-8")
                writer.write(block)
            except UnicodeDecodeError:
                for line in block.splitlines(keepends=True):
                    try:
                        line.decode("utf-8")
                        writer.write(line)
                    except UnicodeDecodeError:
                        repaired += 1
                        writer.write(_windows_1252(line).encode("utf-8"))
    return repaired


def _windows_1252(line: bytes) -> str:
    try:
        return line.decode("cp1252")
    except UnicodeDecodeError:  # one of the five bytes Windows-1252 leaves undefined
        return line.decode("latin-1")


@dataclass(frozen=True)
class Cut:
    """A CSV file cut around one bad row: the rows before it (with the header), the bad
    row's first physical line, and the rest of the file after that line (with the header)."""

    head: Path
    bad_line: bytes
    tail: Path | None  # None when nothing follows the bad line


def line_at(part: Path, hint: int) -> tuple[int, bytes] | None:
    """The start and text of the data line holding byte `hint` (DuckDB's
    `line_byte_position` of a rejected row, which may point one byte into the row), or None
    when `hint` is inside the header."""
    with part.open("rb") as reader:
        header = reader.readline()
        if hint < len(header):
            return None
        window_start = max(len(header), hint - _BLOCK)
        reader.seek(window_start)
        before = reader.read(hint - window_start)
        newline = before.rfind(b"\n")
        if newline < 0 and window_start > len(header):
            return None
        start = window_start + newline + 1
        reader.seek(start)
        return start, reader.readline()


def cut_at_row(part: Path, hint: int, kept: bytes, scratch: Path, number: int) -> Cut | None:
    """Cut `part` at the row DuckDB rejected near byte `hint`. None when the line found there
    is not the rejected row (`kept`, the start of the text DuckDB kept) or holds no unpaired
    quote: then the rows after it cannot be recovered reliably."""
    found = line_at(part, hint)
    if found is None:
        return None
    start, line = found
    text = line.rstrip(b"\r\n")
    same = min(len(text), len(kept))
    if text.count(b'"') % 2 == 0 or text[:same] != kept[:same]:
        return None
    tail_start, size = start + len(line), part.stat().st_size
    with part.open("rb") as reader:
        header = reader.readline()
    head = _copy(part, scratch / f"head_{number}.csv", b"", 0, start)
    tail = (_copy(part, scratch / f"tail_{number}.csv", header, tail_start, size)
            if tail_start < size else None)
    return Cut(head, text, tail)


def _copy(source: Path, target: Path, prefix: bytes, start: int, end: int) -> Path:
    with source.open("rb") as reader, target.open("wb") as writer:
        writer.write(prefix)
        reader.seek(start)
        remaining = end - start
        while remaining > 0:
            block = reader.read(min(_BLOCK, remaining))
            if not block:
                break
            writer.write(block)
            remaining -= len(block)
    return target
