"""The macros and lookup tables the canonical person table is built with.

Everything is set-based: lookups are temp tables joined in SQL, rules are DuckDB macros
(rules.py). Sources of the data:
- Nicknames, English and Spanish: nickname_tables.py (installed with the name rules).
- USPS Publication 28: street suffixes (Appendix C1), secondary unit designators (C2),
  directionals and state abbreviations from the `usaddress-scourgify` package's
  address_constants, with two C2 spellings corrected and common intake forms added.
- Spanish street-type prefixes kept spelled out: data/spanish_street_prefixes.csv.
- Address-line keywords (GENERAL DELIVERY, HOMELESS, SHELTER, DPSS ...) and the known LA-area
  shelters and county offices: data/address_keywords.csv, data/known_addresses.csv (entries
  marked ILLUSTRATIVE are the synthetic generator's, not real places).
- Family names usually written first (Vietnamese, Chinese, Korean): data/family_name_first.csv.
"""

from __future__ import annotations

from importlib.resources import as_file, files

import pyarrow as pa
from scourgify import address_constants as pub28

from linkage.standardize.names import install_name_rules
from linkage.store import Step, Store

STAGE = "standardize"
_DATA = files("linkage.standardize") / "data"

# Secondary unit designators (Pub 28 C2) plus the forms intake staff type.
_UNIT_EXTRAS = {
    "HANGAR": "HNGR", "UPPER": "UPPR", "APT": "APT", "APTO": "APT", "AP": "APT", "BLDG": "BLDG",
    "BSMT": "BSMT", "DEPT": "DEPT", "FL": "FL", "FLR": "FL", "FRNT": "FRNT", "HNGR": "HNGR",
    "LBBY": "LBBY", "LOWR": "LOWR", "OFC": "OFC", "PH": "PH", "RM": "RM", "SPC": "SPC",
    "SP": "SPC", "STE": "STE", "TRLR": "TRLR", "UNT": "UNIT", "UPPR": "UPPR", "NO": "#",
    "NUM": "#", "NUMBER": "#",
}


def unit_designators() -> dict[str, str]:
    """Unit designator words (all letters: safe inside a regex) -> their Pub 28 form."""
    designators = {word: abbreviation for word, abbreviation
                   in pub28.OCCUPANCY_TYPE_ABBREVIATIONS.items() if word not in ("HANGER", "#")}
    designators["UPPER"] = "UPPR"
    return {**designators, **_UNIT_EXTRAS}


def _pairs(mapping: dict[str, str]) -> pa.Table:
    return pa.table({"word": pa.array(list(mapping), pa.string()),
                     "abbreviation": pa.array(list(mapping.values()), pa.string())})


def _usps_tables() -> dict[str, pa.Table]:
    suffixes = {word: abbreviation for word, abbreviation
                in pub28.STREET_TYPE_ABBREVIATIONS.items() if " " not in word}
    directionals = {**pub28.DIRECTIONAL_REPLACEMENTS,
                    **{value: value for value in pub28.DIRECTIONAL_REPLACEMENTS.values()}}
    states = {**pub28.STATE_ABBREVIATIONS,
              **{value: value for value in pub28.STATE_ABBREVIATIONS.values()}}
    return {"usps_suffix": _pairs(suffixes), "usps_directional": _pairs(directionals),
            "usps_unit": _pairs(unit_designators()), "usps_state": _pairs(states)}


def install(store: Store) -> None:
    """Create the macros and lookup tables on the store's connection for this session."""
    install_name_rules(store)
    for name, table in _usps_tables().items():
        _load_arrow(store, name, table)
    _load_data_files(store)


def _load_arrow(store: Store, name: str, table: pa.Table) -> None:
    view = f"{name}_values"
    with store.registered(view, table):
        store.run_step(STAGE, Step(name, f"CREATE OR REPLACE TEMP TABLE {name} AS SELECT * FROM {view}"))


def _load_data_files(store: Store) -> None:
    tables = {
        "spanish_street_prefix": "SELECT word FROM read_csv($path, header = true, all_varchar = true)",
        "address_keyword": "SELECT phrase, kind, match FROM read_csv($path, header = true, all_varchar = true)",
        "known_address": "SELECT street, city, zip5, kind FROM read_csv($path, header = true, all_varchar = true)",
        "family_name_first": "SELECT surname FROM read_csv($path, header = true, all_varchar = true)",
    }
    files_by_table = {"spanish_street_prefix": "spanish_street_prefixes.csv",
                      "address_keyword": "address_keywords.csv",
                      "known_address": "known_addresses.csv",
                      "family_name_first": "family_name_first.csv"}
    for name, select in tables.items():
        with as_file(_DATA / files_by_table[name]) as path:
            store.run_step(STAGE, Step(
                name, f"CREATE OR REPLACE TEMP TABLE {name} AS {select}", {"path": str(path)}))
