"""Write the canonical person table to a file a data engineer can open."""

from __future__ import annotations

from pathlib import Path

from linkage.errors import LinkageError
from linkage.outputs import output_file
from linkage.standardize.person import PERSON_COLUMNS
from linkage.store import Step, Store

STAGE = "standardize"
_FORMATS = {".csv": "csv", ".parquet": "parquet"}


def write_standardized(store: Store, out: Path) -> int:
    """Write `person` (every column, ordered by record_key) to `out` (.csv or .parquet).

    The file holds PII, so it is created readable by its owner only. Returns the rows written.
    """
    out = Path(out)
    kind = _FORMATS.get(out.suffix.lower())
    if kind is None:
        raise LinkageError(f"{out}: unsupported format '{out.suffix}'; expected .csv or .parquet")
    with output_file(out, "standardized records") as scratch:
        store.write_file(STAGE, Step("write_standardized", f"""
SELECT {", ".join(PERSON_COLUMNS)} FROM person ORDER BY record_key"""), scratch, kind)
    return store.scalar(STAGE, "count_person", "SELECT count(*) FROM person")
