"""Export: the active crosswalk as a file for downstream systems (no PII columns)."""

from __future__ import annotations

from pathlib import Path

from linkage.errors import LinkageError
from linkage.outputs import output_file
from linkage.store import Step, Store

ACTIVE_CROSSWALK = """
SELECT enterprise_id, source_system, source_record_id, valid_from_run
FROM crosswalk WHERE valid_to_run IS NULL
ORDER BY source_system, source_record_id"""

# The crosswalk as it stood right after run $as_of.
CROSSWALK_AS_OF = """
SELECT enterprise_id, source_system, source_record_id, valid_from_run
FROM crosswalk
WHERE valid_from_run <= $as_of AND (valid_to_run IS NULL OR valid_to_run > $as_of)
ORDER BY source_system, source_record_id"""

FORMATS = {".csv": "csv", ".parquet": "parquet"}


def crosswalk_relation(store: Store, as_of: int | None = None,
                       sources: tuple[str, ...] | None = None) -> tuple[str, dict | None]:
    """The crosswalk query (active, or as of a past run) and its parameters; a run the
    store does not hold is an error. With `sources`, only those source systems' rows (a
    consumer's segment: an EID with none of their records is absent)."""
    if as_of is not None and not store.scalar("export", "find_run",
                                              "SELECT count(*) FROM run WHERE run_id = $r",
                                              {"r": as_of}):
        raise LinkageError(f"run {as_of} is not in the store (see the run ids `linkage run` "
                           "prints)")
    sql, params = ((ACTIVE_CROSSWALK, {}) if as_of is None
                   else (CROSSWALK_AS_OF, {"as_of": as_of}))
    if sources is not None:
        sql = f"SELECT * FROM ({sql}) WHERE list_contains($sources, source_system)"
        params = {**params, "sources": list(sources)}
    return sql, params or None


def export_crosswalk(store: Store, out: Path, as_of: int | None = None,
                     sources: tuple[str, ...] | None = None) -> int:
    """Write the crosswalk (active, or as of a past run; only `sources`' rows if given) to
    `out`; return its rows."""
    kind = FORMATS.get(out.suffix.lower())
    if kind is None:
        raise LinkageError(f"{out}: unsupported export format; use a .csv or .parquet file name")
    sql, params = crosswalk_relation(store, as_of, sources)
    with output_file(out, "crosswalk export") as scratch:  # record keys: owner-only
        store.write_file("export", Step("write_crosswalk", sql, params), scratch, kind)
    return store.scalar("export", "count", f"SELECT count(*) FROM ({sql})", params)


__all__ = ["ACTIVE_CROSSWALK", "CROSSWALK_AS_OF", "FORMATS", "crosswalk_relation", "export_crosswalk"]
