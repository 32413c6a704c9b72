"""Read a file of enterprise IDs: a CSV with an `enterprise_id` column, or one EID a line."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from linkage.errors import SourceError

COLUMN = "enterprise_id"


def read_enterprise_ids(path: Path) -> list[str]:
    """The EIDs of `path`, in file order (blank lines skipped, spaces trimmed). A header row
    naming `enterprise_id` makes it a CSV read by that column; a first line with several
    comma-separated cells but no such column is refused."""
    if not path.is_file():
        raise SourceError(f"{path}: file of enterprise IDs not found")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise SourceError(f"{path}: not UTF-8 text (expected a CSV with an enterprise_id "
                          "column, or one enterprise ID a line)") from None
    except OSError as error:
        raise SourceError(f"{path}: cannot read ({error.strerror})") from None
    if "\x00" in text:
        raise SourceError(f"{path}: holds NUL bytes; expected text")
    reader = csv.reader(io.StringIO(text))
    column: int | None = None  # the enterprise_id column; None until the first line is read
    plain = False  # no header: one EID a line
    found: list[str] = []
    try:
        for row in reader:
            if not any(cell.strip() for cell in row):
                continue
            if column is None:
                names = [cell.strip().lower() for cell in row]
                if COLUMN in names:
                    column = names.index(COLUMN)
                    continue
                column, plain = 0, True
            if plain and len(row) > 1:
                raise SourceError(f"{path}: line {reader.line_num} holds several values; "
                                  f"expected a CSV with an {COLUMN} column, or one "
                                  "enterprise ID a line")
            if len(row) <= column:
                raise SourceError(f"{path}: line {reader.line_num} has no {COLUMN} value")
            found.append(row[column].strip())
    except csv.Error as error:
        raise SourceError(f"{path}: line {reader.line_num}: not readable as CSV "
                          f"({error.__class__.__name__})") from None
    return [eid for eid in found if eid]
