"""Standardize: landed source records -> the canonical person table (DESIGN §4, §5)."""

from linkage.standardize.person import standardize

__all__ = ["standardize"]
