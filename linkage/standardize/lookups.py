"""Lookup tables and SQL macros the canonical person table is built with.

Everything is set-based: lookups are tables joined in SQL, rules are DuckDB macros.
The one per-value Python function (metaphone, from jellyfish) runs once per distinct
name, not once per row.

Data sources: English nicknames from the `nicknames` package (names.csv,
`has_nickname` rows); Spanish and California forms from data/nicknames_es.csv (each row
names its source); street words from USPS Publication 28, Appendix C1 (street suffixes)
and section 233 (directionals), in data/usps_street_words.csv.
"""

from __future__ import annotations

from importlib.resources import as_file, files

import pyarrow as pa

import jellyfish
import nicknames

from linkage.store import Step, Store

STAGE = "standardize"
_DATA = files("linkage.standardize") / "data"

# Values that stand for "no name" on intake forms.
NAME_PLACEHOLDERS = (
    "UNKNOWN", "UNK", "NONE", "NFN", "NLN", "FNU", "LNU", "NMN", "TEST", "PATIENT", "ANONYMOUS",
    "BABY", "BABY BOY", "BABY GIRL", "BB", "BG", "TRAUMA", "JOHN DOE", "JANE DOE", "XXX", "NA",
)
NAME_SUFFIXES = ("JR", "SR", "II", "III", "IV")
SURNAME_PARTICLES = ("DE", "DEL", "LA", "LAS", "LOS", "Y", "DA", "DOS", "VAN", "VON", "DI")
INVALID_SSNS = ("123456789", "987654321", "078051120", "219099999")
PLACEHOLDER_DOBS = ("1900-01-01", "1901-01-01")


def _sql_list(values: tuple[str, ...]) -> str:
    # Constants from this module only; input values are never pasted into SQL.
    return ", ".join("'" + value.replace("'", "''") + "'" for value in values)


MACROS = {
    "std_text": """(value) AS nullif(trim(regexp_replace(
        regexp_replace(upper(strip_accents(value)), '[^A-Z0-9 ]', ' ', 'g'), ' +', ' ', 'g')), '')""",
    # Names: apostrophes and periods join (O'BRIEN -> OBRIEN); hyphens split parts.
    "std_name": f"""(value) AS CASE WHEN std_text(replace(replace(value, '''', ''), '.', ''))
        IN ({_sql_list(NAME_PLACEHOLDERS)}) THEN NULL
        ELSE nullif(regexp_replace(std_text(replace(replace(value, '''', ''), '.', '')),
            '[0-9]', '', 'g'), '') END""",
    "trailing_suffix": f"""(name) AS CASE WHEN string_split(name, ' ')[-1] IN ({_sql_list(NAME_SUFFIXES)})
        AND length(string_split(name, ' ')) > 1 THEN string_split(name, ' ')[-1] END""",
    "without_suffix": """(name) AS CASE WHEN trailing_suffix(name) IS NULL THEN name
        ELSE array_to_string(string_split(name, ' ')[:-2], ' ') END""",
    "surname_parts": f"""(name) AS nullif(list_filter(string_split(name, ' '),
        lambda part: part NOT IN ({_sql_list(SURNAME_PARTICLES)})), [])""",
    "std_date": """(value) AS try_strptime(trim(value),
        ['%Y-%m-%d', '%m/%d/%Y', '%Y%m%d', '%m-%d-%Y', '%Y/%m/%d', '%Y-%m-%dT%H:%M:%S'])::DATE""",
    "std_dob": f"""(value) AS CASE WHEN std_date(value) < DATE '1900-01-01'
            OR std_date(value) > current_date
            OR strftime(std_date(value), '%Y-%m-%d') IN ({_sql_list(PLACEHOLDER_DOBS)}) THEN NULL
        ELSE std_date(value) END""",
    "ssn_chars": """(value) AS regexp_replace(upper(coalesce(value, '')), '[^0-9X]', '', 'g')""",
    "std_ssn": f"""(value) AS CASE WHEN regexp_full_match(ssn_chars(value), '[0-9]{{9}}')
        AND substr(ssn_chars(value), 1, 3) NOT IN ('000', '666')
        AND substr(ssn_chars(value), 1, 1) <> '9'
        AND substr(ssn_chars(value), 4, 2) <> '00'
        AND substr(ssn_chars(value), 6, 4) <> '0000'
        AND replace(ssn_chars(value), substr(ssn_chars(value), 1, 1), '') <> ''
        AND ssn_chars(value) NOT IN ({_sql_list(INVALID_SSNS)})
        THEN ssn_chars(value) END""",
    # Known last four digits of a partial SSN (letters mark unknown digits, HMIS style).
    "partial_ssn_last4": """(value) AS CASE WHEN length(ssn_chars(value)) BETWEEN 4 AND 9
        AND ssn_chars(value) LIKE '%X%'
        AND regexp_full_match(right(ssn_chars(value), 4), '[0-9]{4}')
        AND right(ssn_chars(value), 4) <> '0000' THEN right(ssn_chars(value), 4) END""",
    "std_sex": """(value) AS CASE upper(left(trim(value), 1)) WHEN 'M' THEN 'M' WHEN 'F' THEN 'F' END""",
    "std_cin": """(value) AS CASE WHEN regexp_full_match(upper(trim(value)), '[0-9]{8}[A-Z]')
        THEN upper(trim(value)) END""",
    "phone_digits": """(value) AS regexp_replace(coalesce(value, ''), '[^0-9]', '', 'g')""",
    "std_phone": """(value) AS CASE
        WHEN length(phone_digits(value)) = 11 AND left(phone_digits(value), 1) = '1'
            THEN std_phone(right(phone_digits(value), 10))
        WHEN length(phone_digits(value)) = 10
            AND substr(phone_digits(value), 1, 1) NOT IN ('0', '1')
            AND replace(phone_digits(value), substr(phone_digits(value), 1, 1), '') <> ''
            THEN phone_digits(value) END""",
    "std_email": """(value) AS CASE WHEN regexp_full_match(lower(trim(value)),
        '[^@\\s]+@[^@\\s]+\\.[a-z]{2,}') THEN lower(trim(value)) END""",
    "std_zip5": """(value) AS nullif(regexp_extract(trim(value), '^([0-9]{5})', 1), '')""",
}


def install(store: Store) -> None:
    """Create the macros and lookup tables on the store's connection for this session."""
    # std_phone is recursive for the 11-digit case; DuckDB macros cannot recurse, so
    # expand that case by hand before installing.
    macros = dict(MACROS)
    macros["std_phone"] = macros["std_phone"].replace(
        "THEN std_phone(right(phone_digits(value), 10))",
        "AND substr(phone_digits(value), 2, 1) NOT IN ('0', '1') "
        "AND replace(right(phone_digits(value), 10), substr(phone_digits(value), 2, 1), '') <> '' "
        "THEN right(phone_digits(value), 10)",
    )
    store.run_steps(STAGE, [
        Step(f"macro_{name}", f"CREATE OR REPLACE TEMP MACRO {name}{body}")
        for name, body in macros.items()
    ])
    with nicknames.with_names_csv_path() as english, \
            as_file(_DATA / "nicknames_es.csv") as spanish, \
            as_file(_DATA / "usps_street_words.csv") as usps:
        store.run_steps(STAGE, [
            Step("nickname_pairs", """
CREATE OR REPLACE TEMP TABLE nickname_pair AS
SELECT DISTINCT std_name(name1) AS formal, std_name(name2) AS nickname
FROM read_csv($english, header = true, all_varchar = true)
WHERE relationship = 'has_nickname'
UNION
SELECT DISTINCT std_name(name), std_name(nickname)
FROM read_csv($spanish, header = true, all_varchar = true)""",
                 {"english": str(english), "spanish": str(spanish)}),
            # One canonical form per name, so nickname variants compare equal. A name maps
            # to a name it is a nickname of only when that name has more nicknames than
            # it (is more formal); among those, the one sharing most related names wins
            # (BILL -> WILLIAM, not ROBERT), then the most formal, then the longest.
            Step("nickname_canonical", """
CREATE OR REPLACE TEMP TABLE nickname_canonical AS
WITH edge AS (
    SELECT formal AS name, nickname AS related FROM nickname_pair
    UNION SELECT nickname, formal FROM nickname_pair
), formality AS (
    SELECT name, count(*) FILTER (is_formal) AS nicknames
    FROM (SELECT formal AS name, true AS is_formal FROM nickname_pair
          UNION ALL SELECT nickname, false FROM nickname_pair)
    GROUP BY name
), candidate AS (
    SELECT p.nickname AS name, p.formal AS candidate,
        (SELECT count(*) FROM edge AS a JOIN edge AS b ON a.related = b.related
         WHERE a.name = p.nickname AND b.name = p.formal) AS shared
    FROM nickname_pair AS p
    JOIN formality AS own ON own.name = p.nickname
    JOIN formality AS other ON other.name = p.formal
    WHERE other.nicknames > own.nicknames
)
SELECT c.name, arg_min(c.candidate,
    (-c.shared, -f.nicknames, -length(c.candidate), c.candidate)) AS canonical
FROM candidate AS c JOIN formality AS f ON f.name = c.candidate
GROUP BY c.name""",
                 None),
            Step("usps_words", """
CREATE OR REPLACE TEMP TABLE usps_word AS
SELECT map(list(word), list(abbreviation)) AS words
FROM read_csv($usps, header = true, all_varchar = true)""",
                 {"usps": str(usps)}),
        ])


def add_phonetic_keys(store: Store, names_sql: str) -> None:
    """Build table `phonetic(name, metaphone)` over the distinct values `names_sql` yields."""
    distinct = [row[0] for row in store.run_step(STAGE, Step("distinct_names", names_sql))]
    keys = pa.table({
        "name": pa.array(distinct, pa.string()),
        "metaphone": pa.array([jellyfish.metaphone(name) or None for name in distinct], pa.string()),
    })
    store.con.register("phonetic_values", keys)
    try:
        store.run_step(STAGE, Step(
            "phonetic", "CREATE OR REPLACE TEMP TABLE phonetic AS SELECT * FROM phonetic_values"))
    finally:
        store.con.unregister("phonetic_values")
