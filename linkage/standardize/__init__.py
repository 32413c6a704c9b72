"""Standardize: landed source records -> the canonical person table (DESIGN §4, §5).

The names below load on first use: person search reads the name and date rules alone,
without the address parser and the landing code the whole table needs.
"""

from __future__ import annotations

from linkage.lazy import lazy_names

_HOMES = {"PERSON_COLUMNS": "person", "install": "lookups", "standardize": "person",
          "value_warnings": "quality", "write_standardized": "export"}
__all__ = sorted(_HOMES)


__getattr__ = lazy_names(__name__, _HOMES)
