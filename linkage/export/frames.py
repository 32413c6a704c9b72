"""Write a result frame (the change feed, resolved EIDs) to a file for another system."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from linkage.errors import LinkageError

SUFFIXES = (".csv", ".parquet")


def write_frame(frame: pd.DataFrame, out: Path, suffixes: tuple[str, ...] = SUFFIXES) -> int:
    """Write `frame` to `out` (.csv or .parquet, as `suffixes` allow), owner-only (it names
    source records), replacing any file there in one step; return the rows written."""
    suffix = out.suffix.lower()
    if suffix not in suffixes:
        raise LinkageError(f"{out}: unsupported format; use a {' or '.join(suffixes)} file name")
    if out.is_dir():
        raise LinkageError(f"{out}: is a folder; give a file name")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        temporary = out.with_name(f".{out.name}.{os.getpid()}.tmp")
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            with os.fdopen(descriptor, "wb") as handle:
                if suffix == ".csv":
                    frame.to_csv(handle, index=False, date_format="%Y-%m-%d %H:%M:%S")
                else:
                    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), handle)
            os.chmod(temporary, 0o600)
            os.replace(temporary, out)
        finally:
            if temporary.exists():
                temporary.unlink()
    except OSError as error:
        raise LinkageError(f"{out}: cannot write ({error.strerror or error.__class__.__name__})"
                           ) from None
    return len(frame)
