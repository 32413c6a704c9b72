"""Sources: find, check and land the configured extracts (DESIGN §3)."""

from linkage.sources.landing import Delivery, LandingCount, check_sources, land_sources

__all__ = ["Delivery", "LandingCount", "check_sources", "land_sources"]
