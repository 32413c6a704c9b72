"""Sources: find, check and land the configured extracts (DESIGN §3)."""

from linkage.sources.changes import ChangedRecords, changed_records
from linkage.sources.deletions import apply_deletions
from linkage.sources.landing import (Delivery, LandingCount, check_sources, land_sources,
                                    record_warnings)

__all__ = ["ChangedRecords", "Delivery", "LandingCount", "apply_deletions", "changed_records",
           "check_sources", "land_sources", "record_warnings"]
