"""Standardize: landed source records -> the canonical person table (DESIGN §4, §5)."""

from linkage.standardize.export import write_standardized
from linkage.standardize.lookups import install
from linkage.standardize.person import PERSON_COLUMNS, standardize
from linkage.standardize.quality import value_warnings

__all__ = ["PERSON_COLUMNS", "install", "standardize", "value_warnings", "write_standardized"]
