"""Write the canonical person table to a file a data engineer can open."""

from __future__ import annotations

from pathlib import Path

from linkage.errors import LinkageError
from linkage.outputs import output_file
from linkage.standardize.person import PERSON_COLUMNS
from linkage.store import Step, Store

STAGE = "standardize"
_FORMATS = {".csv": "(FORMAT csv, HEADER true)", ".parquet": "(FORMAT parquet)"}


def write_standardized(store: Store, out: Path) -> int:
    """Write `person` (every column, ordered by record_key) to `out` (.csv or .parquet).

    The file holds PII, so it is created readable by its owner only. Returns the rows written.
    """
    out = Path(out)
    options = _FORMATS.get(out.suffix.lower())
    if options is None:
        raise LinkageError(f"{out}: unsupported format '{out.suffix}'; expected .csv or .parquet")
    with output_file(out, "standardized records") as scratch:
        store.run_step(STAGE, Step("write_standardized", f"""
COPY (SELECT {", ".join(PERSON_COLUMNS)} FROM person ORDER BY record_key)
TO $path {options}""", {"path": str(scratch)}))
    return store.scalar(STAGE, "count_person", "SELECT count(*) FROM person")
