"""The records a run changed: what an incremental run standardizes and scores again."""

from __future__ import annotations

from dataclasses import dataclass

from linkage.store import Step, Store

STAGE = "land"


@dataclass(frozen=True)
class ChangedRecords:
    """The keys of the records this run landed, replaced or deleted (a delta delivery, a
    deletions file): table `table` of the run, one column `record_key`.

    Made by `changed_records`, filled by `land_sources` and `apply_deletions`, read by
    `linkage.standardize.standardize` and `linkage.link.link_incremental`, each of which
    takes it as an argument, so the order they need is in their signatures."""

    table: str = "changed_record"

    def keys(self) -> str:
        """SQL: the changed record keys, for `record_key IN (...)`.

        >>> ChangedRecords().keys()
        'SELECT record_key FROM changed_record'
        """
        return f"SELECT record_key FROM {self.table}"


def changed_records(store: Store) -> ChangedRecords:
    """The run's (so far empty) list of changed records."""
    changed = ChangedRecords()
    store.run_step(STAGE, Step(changed.table, f"""
CREATE TEMP TABLE IF NOT EXISTS {changed.table} (record_key VARCHAR)"""))
    return changed
