"""Write a result frame (the change feed, resolved EIDs) to a file for another system."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from linkage.errors import LinkageError
from linkage.outputs import output_file
from linkage.store.core import FORMULA_START

SUFFIXES = (".csv", ".parquet")


def write_frame(frame: pd.DataFrame, out: Path, suffixes: tuple[str, ...] = SUFFIXES,
                what: str = "file") -> int:
    """Write `frame` to `out` (.csv or .parquet, as `suffixes` allow), owner-only (it names
    source records), replacing any file there in one step; return the rows written."""
    suffix = out.suffix.lower()
    if suffix not in suffixes:
        raise LinkageError(f"{out}: unsupported format; use a {' or '.join(suffixes)} file name")
    with output_file(out, what) as scratch:
        if suffix == ".csv":
            spreadsheet_safe_frame(frame).to_csv(scratch, index=False,
                                                 date_format="%Y-%m-%d %H:%M:%S")
        else:
            pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), scratch)
    return len(frame)


def spreadsheet_safe_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """`frame` with each text cell a spreadsheet would run as a formula written with an
    apostrophe first (as linkage.store.core.spreadsheet_safe does for a query's CSV)."""
    safe = frame.copy()
    for column in safe.columns:
        # Text is `object` before pandas 3 and a string dtype from it.
        if safe[column].dtype == object or isinstance(safe[column].dtype, pd.StringDtype):
            text = safe[column]
            formula = text.str.match(FORMULA_START, na=False)
            if formula.any():
                safe[column] = text.where(~formula, "'" + text.astype(str))
    return safe
