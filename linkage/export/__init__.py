"""Export: the active crosswalk as a file for downstream systems (no PII columns)."""

from __future__ import annotations

import os
from pathlib import Path

from linkage.errors import LinkageError
from linkage.store import Store

ACTIVE_CROSSWALK = """
SELECT enterprise_id, source_system, source_record_id, valid_from_run
FROM crosswalk WHERE valid_to_run IS NULL
ORDER BY source_system, source_record_id"""

FORMATS = {".csv": "csv", ".parquet": "parquet"}


def export_crosswalk(store: Store, out: Path) -> int:
    """Write the active crosswalk to `out` (CSV or Parquet by suffix); return its rows."""
    kind = FORMATS.get(out.suffix.lower())
    if kind is None:
        raise LinkageError(f"{out}: unsupported export format; use a .csv or .parquet file name")
    out.parent.mkdir(parents=True, exist_ok=True)
    relation = store.con.sql(ACTIVE_CROSSWALK)
    temporary = out.with_name(out.name + ".tmp")
    previous_umask = os.umask(0o077)  # exports hold record keys: owner-only
    try:
        if kind == "csv":
            relation.write_csv(str(temporary), header=True)
        else:
            relation.write_parquet(str(temporary))
    finally:
        os.umask(previous_umask)
    os.replace(temporary, out)
    return store.scalar("export", "count", f"SELECT count(*) FROM ({ACTIVE_CROSSWALK})")


__all__ = ["ACTIVE_CROSSWALK", "FORMATS", "export_crosswalk"]
