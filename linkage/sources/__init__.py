"""Sources: find, check and land the configured extracts (DESIGN §3)."""

from linkage.sources.deletions import apply_deletions
from linkage.sources.landing import (Delivery, LandingCount, check_sources, land_sources,
                                    record_warnings)

__all__ = ["Delivery", "LandingCount", "apply_deletions", "check_sources", "land_sources",
           "record_warnings"]
