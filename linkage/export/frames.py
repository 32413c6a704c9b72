"""Write a result frame (the change feed, resolved EIDs) to a file for another system."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from linkage.errors import LinkageError
from linkage.outputs import output_file

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
            frame.to_csv(scratch, index=False, date_format="%Y-%m-%d %H:%M:%S")
        else:
            pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), scratch)
    return len(frame)
