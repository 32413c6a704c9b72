"""The macros and lookup tables the canonical person table is built with.

Everything is set-based: lookups are temp tables joined in SQL, rules are DuckDB macros
(rules.py). Sources of the data:
- English nicknames: the `nicknames` package (names.csv, `has_nickname` rows).
- Spanish and California nicknames: data/nicknames_es.csv, each row naming its source.
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

import nicknames
import pyarrow as pa
from scourgify import address_constants as pub28

from linkage.standardize.rules import MACROS
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
    store.run_steps(STAGE, [
        Step(f"macro_{name}", f"CREATE OR REPLACE TEMP MACRO {name}{body}")
        for name, body in MACROS.items()
    ])
    for name, table in _usps_tables().items():
        _load_arrow(store, name, table)
    _load_data_files(store)
    _load_nicknames(store)


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


def _load_nicknames(store: Store) -> None:
    with nicknames.with_names_csv_path() as english, as_file(_DATA / "nicknames_es.csv") as spanish:
        store.run_step(STAGE, Step("nickname_pairs", """
CREATE OR REPLACE TEMP TABLE nickname_pair AS
SELECT formal, nickname, bool_or(hypocoristic) AS hypocoristic FROM (
    SELECT name_text(name1) AS formal, name_text(name2) AS nickname, false AS hypocoristic
    FROM read_csv($english, header = true, all_varchar = true)
    WHERE relationship = 'has_nickname'
    UNION ALL
    SELECT name_text(name), name_text(nickname), kind = 'hypocoristic'
    FROM read_csv($spanish, header = true, all_varchar = true)
) GROUP BY ALL""",
            {"english": str(english), "spanish": str(spanish)}))
    # One canonical form per name, so nickname variants compare equal. A name maps to a
    # name it is a nickname of only when that name has more nicknames than it (is more
    # formal); among those, a Spanish hypocoristic's own name wins (NANDO -> FERNANDO, not
    # FERDINANDO), then the one sharing most related names (BILL -> WILLIAM, not ROBERT),
    # then the most formal, then the longest.
    store.run_step(STAGE, Step("nickname_canonical", """
CREATE OR REPLACE TEMP TABLE nickname_canonical AS
WITH edge AS (
    SELECT formal AS name, nickname AS related FROM nickname_pair
    UNION SELECT nickname, formal FROM nickname_pair
), formality AS (
    SELECT name, count(*) FILTER (is_formal) AS nicknames
    FROM (SELECT formal AS name, true AS is_formal FROM nickname_pair
          UNION ALL SELECT nickname, false FROM nickname_pair)
    GROUP BY name
), shared AS (
    SELECT a.name, b.name AS candidate, count(*) AS shared
    FROM edge AS a JOIN edge AS b ON a.related = b.related
    GROUP BY ALL
), candidate AS (
    SELECT p.nickname AS name, p.formal AS candidate, coalesce(s.shared, 0) AS shared,
        p.hypocoristic
    FROM nickname_pair AS p
    JOIN formality AS own ON own.name = p.nickname
    JOIN formality AS other ON other.name = p.formal
    LEFT JOIN shared AS s ON s.name = p.nickname AND s.candidate = p.formal
    WHERE other.nicknames > own.nicknames
)
SELECT c.name, arg_min(c.candidate, (NOT c.hypocoristic, -c.shared, -f.nicknames,
    -length(c.candidate), c.candidate)) AS canonical
FROM candidate AS c JOIN formality AS f ON f.name = c.candidate
GROUP BY c.name"""))
    # Nicknames are many to many (TONY is ANTHONY's, ANTONIO's and ANTOINETTE's), which
    # one canonical form cannot hold: a name's forms are itself and every name it is a
    # nickname of. Two given names are nicknames of one name when their forms meet.
    store.run_step(STAGE, Step("nickname_forms", """
CREATE OR REPLACE TEMP TABLE nickname_forms AS
SELECT nickname AS name, list_sort(list_distinct(list_concat(list(formal), [nickname]))) AS forms
FROM nickname_pair GROUP BY nickname"""))
