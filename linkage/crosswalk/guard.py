"""Guarded runs: how much of the crosswalk one run may change before it is refused.

A failed upstream export (a header-only file, an empty NDJSON, a parser that swallowed the
rows after a bad quote) looks to a full run like every record leaving: it would retire their
EIDs, and the people would come back under new ones. So a run is refused, before anything
commits, when a full snapshot of a source lands under half the records the source held, or
when it would remove or move more than `crosswalk.max_change_share` of the active records.
`--allow-mass-change` lets a run through knowingly; the run records that it did.
Every figure here is a count: nothing from a record.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from linkage.crosswalk.assign import CrosswalkCounts
from linkage.errors import MassChangeError
from linkage.sources import LandingCount

# A full snapshot holding under this share of the records its source held is suspect.
MIN_SNAPSHOT_SHARE = 0.5


@dataclass
class ChangeGuard:
    max_change_share: float
    allow_mass_change: bool = False
    # A dry run reports what a real run would refuse instead of stopping.
    dry_run: bool = False
    refusals: list[str] = field(default_factory=list)
    records_before: int = 0
    records_changed: int = 0

    def check_landing(self, landed: list[LandingCount]) -> None:
        """Refuse a full snapshot that lost most of its source (checked as soon as it lands)."""
        for count in landed:
            if count.unchanged or count.snapshot != "full" or not count.records_before:
                continue
            records = count.rows_landed
            if records < MIN_SNAPSHOT_SHARE * count.records_before:
                self._refuse(f"source '{count.source_system}': the full snapshot landed "
                             f"{records} records ({count.rows_read} rows read, "
                             f"{count.rows_rejected} rejected) where the source held "
                             f"{count.records_before}")

    def check_crosswalk(self, counts: CrosswalkCounts) -> None:
        """Refuse a run that would remove or move too many of the active records."""
        self.records_before = counts.records_before
        self.records_changed = counts.records_changed
        if counts.records_before and \
                counts.records_changed > self.max_change_share * counts.records_before:
            self._refuse(f"it would remove {counts.records_removed} and move "
                         f"{counts.records_moved} of {counts.records_before} active records "
                         f"({counts.records_changed / counts.records_before:.1%}; "
                         f"crosswalk.max_change_share is {self.max_change_share:g})")

    def _refuse(self, reason: str) -> None:
        self.refusals.append(reason)
        if not (self.allow_mass_change or self.dry_run):
            raise MassChangeError(
                f"run refused as a mass change, nothing committed: {reason}; if this is "
                "intended, rerun with --allow-mass-change")

    def as_dict(self) -> dict[str, Any]:
        return {"max_change_share": self.max_change_share,
                "allow_mass_change": self.allow_mass_change,
                "records_before": self.records_before, "records_changed": self.records_changed,
                # In a real run these were let through by --allow-mass-change; in a dry
                # run, a real run would refuse them.
                "mass_changes": list(self.refusals)}
