"""Standardize: landed source records -> the canonical person table (DESIGN §4, §5)."""

from linkage.standardize.export import write_standardized
from linkage.standardize.lookups import install
from linkage.standardize.person import PERSON_COLUMNS, standardize

__all__ = ["PERSON_COLUMNS", "install", "standardize", "write_standardized"]
