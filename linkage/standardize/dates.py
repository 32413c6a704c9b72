"""Dates of birth over distinct values: each raw text is read once, by its shape, and joined back.

A raw date is read in this order:
1. its source's `date_format` (config), when the text has that format's shape: then by that
   format only, so 02/13/1985 in a `%d/%m/%Y` source is an impossible date, never read
   month-first. A source without one whose dates say they are day first (`day_first_formats`:
   many with a first number above 12, next to none with a second one above 12) is read
   as if it had configured that day-first format;
2. the shapes real extracts hold (DATE_SHAPES): ISO with or without a time, US m/d/Y and
   m-d-Y, 8-digit runs (YYYYMMDD, else MMDDYYYY: whichever gives a plausible birth date,
   1900 to today; day-first is never guessed for them), month names, two-digit years (a
   year that would be in the future is a century earlier);
3. partial dates (PARTIAL_SHAPES: a year, or a year and month): no date, but the year.

What it yields, per (raw, date_format), in table `dob_value`: `dob` (null unless a usable
full date), `dob_year`, and `problem`: `partial`, `invalid` (a date's shape but impossible
— Feb 30, month 13 — or before 1900, a placeholder), `unparseable` (no date shape at all),
`future` (after today, before 2100), or null for a usable date. Values travel as columns; a configured
format and its shape are bound parameters, never SQL text.

A date after today is kept as the source recorded it, flagged `future` and counted: it is
certainly wrong as a birth date, but it is still evidence. A typo of the real date (2091
for 1991) is one digit from it, which the model's one-digit level weighs; two systems
holding the same future date hold it because they share its origin; and a simulator's
population, or a replay of old extracts, runs on another calendar than this machine's.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from linkage.standardize.rules import float_digits
from linkage.store import Step, Store

STAGE = "standardize"

PLACEHOLDER_DOBS = ("1900-01-01", "1901-01-01")
EARLIEST = "1900-01-01"
# Past this a date is a placeholder (2999-01-01, 9999-12-31), not a slip of the calendar.
LATEST = "2100-01-01"

# Full dates, by shape: (regex the date text fully matches, strptime format). The text is
# upper case without a time part; where it holds a letter, its separators are single
# spaces (15-Mar-1980, MARCH 15, 1980 -> 15 MAR 1980, MARCH 15 1980; SEPT -> SEP).
DATE_SHAPES = (
    (r"[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}", "%Y-%m-%d"),
    (r"[0-9]{4}/[0-9]{1,2}/[0-9]{1,2}", "%Y/%m/%d"),
    (r"[0-9]{1,2}/[0-9]{1,2}/[0-9]{4}", "%m/%d/%Y"),
    (r"[0-9]{1,2}-[0-9]{1,2}-[0-9]{4}", "%m-%d-%Y"),
    (r"[0-9]{1,2} [A-Z]{3} [0-9]{4}", "%d %b %Y"),
    (r"[0-9]{1,2} [A-Z]{4,9} [0-9]{4}", "%d %B %Y"),
    (r"[A-Z]{3} [0-9]{1,2} [0-9]{4}", "%b %d %Y"),
    (r"[A-Z]{4,9} [0-9]{1,2} [0-9]{4}", "%B %d %Y"),
    (r"[0-9]{1,2}/[0-9]{1,2}/[0-9]{2}", "%m/%d/%y"),
    (r"[0-9]{1,2}-[0-9]{1,2}-[0-9]{2}", "%m-%d-%y"),
    (r"[0-9]{1,2} [A-Z]{3} [0-9]{2}", "%d %b %y"),
)
# Eight digits: YYYYMMDD or MMDDYYYY (seven: MMDDYYYY without its leading zero). In 1900..today at most one is plausible (a YYYY of
# 19xx or 20xx is no month), and YYYYMMDD wins a tie.
EIGHT_DIGITS = (r"[0-9]{8}", ("%Y%m%d", "%m%d%Y"))
PARTIAL_SHAPES = (
    (r"[0-9]{4}", "%Y"),
    (r"[0-9]{4}-[0-9]{1,2}", "%Y-%m"),
    (r"[0-9]{4}/[0-9]{1,2}", "%Y/%m"),
    (r"[0-9]{1,2}/[0-9]{4}", "%m/%Y"),
    (r"[0-9]{1,2}-[0-9]{4}", "%m-%Y"),
    (r"[A-Z]{3} [0-9]{4}", "%b %Y"),
    (r"[A-Z]{4,9} [0-9]{4}", "%B %Y"),
)
# A time part after the date (2001-02-03T00:00:00Z, 02/03/2001 00:00) is dropped.
DATE_TIME_TAIL = r"[T ][0-9]{1,2}:[0-9]{2}.*$"

# What a configured date_format may hold (linkage.config checks it): these directives, each
# field once, and these separators.
FORMAT_DIRECTIVES = {"%Y": "[0-9]{4}", "%y": "[0-9]{2}", "%m": "[0-9]{1,2}", "%d": "[0-9]{1,2}",
                     "%b": "[A-Z]{3}", "%B": "[A-Z]{3,9}"}
FORMAT_SEPARATORS = " -/.,"


def _alternatives(shapes) -> str:
    return "|".join(f"(?:{shape})" for shape, _ in shapes)


def format_shape(date_format: str) -> str:
    """The regex of the text a date format reads. Two numeric fields side by side have two
    digits each, as strptime reads them.

    >>> format_shape("%d/%m/%Y"), format_shape("%d%m%Y")
    ('[0-9]{1,2}/[0-9]{1,2}/[0-9]{4}', '[0-9]{2}[0-9]{2}[0-9]{4}')
    """
    tokens = re.findall(r"%.|.", date_format, flags=re.S)
    numeric = [token in ("%Y", "%y", "%m", "%d") for token in tokens]
    parts = []
    for i, token in enumerate(tokens):
        if token in FORMAT_DIRECTIVES:
            adjacent = numeric[i] and ((i > 0 and numeric[i - 1])
                                       or (i + 1 < len(tokens) and numeric[i + 1]))
            parts.append("[0-9]{2}" if adjacent and token in ("%m", "%d")
                         else FORMAT_DIRECTIVES[token])
        else:
            parts.append(r"\." if token == "." else token)  # the other separators are literal
    return "".join(parts)


def _date_text(column: str) -> str:
    """The date part of `column` (a column name from code), upper case; a float's digits
    (19800315.0, as a typed extract holds a number)."""
    return f"regexp_replace(upper(trim({float_digits(column)})), '{DATE_TIME_TAIL}', '')"


def _shape_reading(shapes, text: str) -> list[str]:
    return [f"WHEN regexp_full_match({text}, '{shape}') THEN try_strptime({text}, '{fmt}')"
            for shape, fmt in shapes]


def dob_value_sql(raw_dates_sql: str, formats: list[str]) -> tuple[str, dict[str, str]]:
    """The statement building `dob_value` from `raw_dates_sql` (raw, date_format), and its
    parameters: each distinct configured format and its shape, bound."""
    sql, params = dob_value_query(raw_dates_sql, formats)
    return "CREATE OR REPLACE TEMP TABLE dob_value AS" + sql, params


def dob_value_query(raw_dates_sql: str, formats: list[str]) -> tuple[str, dict[str, str]]:
    """The query of `dob_value` (raw, date_format, dob, dob_year, problem) over the dates
    `raw_dates_sql` yields, and its parameters."""
    params: dict[str, str] = {}
    by_format, two_digit_formats = [], []
    for i, fmt in enumerate(formats):
        params[f"date_format_{i}"], params[f"date_shape_{i}"] = fmt, format_shape(fmt)
        by_format.append(f"WHEN date_format = $date_format_{i} "
                         f"AND regexp_full_match(date_text, $date_shape_{i}) THEN {i}")
        if "%y" in fmt:
            two_digit_formats.append(str(i))
    format_index = ("CASE " + " ".join(by_format) + " END" if by_format else "NULL::INTEGER")
    read_by_format = [f"WHEN format_index = {i} THEN try_strptime(date_text, $date_format_{i})"
                      for i in range(len(formats))]
    eight, (ymd, mdy) = EIGHT_DIGITS
    plausible = f"BETWEEN DATE '{EARLIEST}' AND current_date"
    possible = f"BETWEEN DATE '{EARLIEST}' AND DATE '{LATEST}'"
    full_date = "\n            ".join([
        *read_by_format,
        *_shape_reading(DATE_SHAPES, "text"),
        f"""WHEN regexp_full_match(text, '{eight}') THEN coalesce(
                CASE WHEN try_strptime(text, '{ymd}') {plausible} THEN try_strptime(text, '{ymd}') END,
                CASE WHEN try_strptime(text, '{mdy}') {plausible} THEN try_strptime(text, '{mdy}') END,
                CASE WHEN try_strptime(text, '{ymd}') {possible} THEN try_strptime(text, '{ymd}') END,
                CASE WHEN try_strptime(text, '{mdy}') {possible} THEN try_strptime(text, '{mdy}') END,
                try_strptime(text, '{ymd}'))""",
        *_shape_reading(PARTIAL_SHAPES, "text"),
    ])
    two_digit_shapes = _alternatives(s for s in DATE_SHAPES if "%y" in s[1])
    two_digit_by_format = (f"format_index IN ({', '.join(two_digit_formats)})"
                           if two_digit_formats else "false")
    placeholders = ", ".join(f"DATE '{day}'" for day in PLACEHOLDER_DOBS)
    sql = f"""
WITH raw_dates AS ({raw_dates_sql}), texts AS (
    SELECT raw, date_format, {_date_text('raw')} AS date_text
    FROM raw_dates WHERE nullif(trim(raw), '') IS NOT NULL
), shaped AS (
    SELECT raw, date_format, date_text,
        -- SEPT is the one month abbreviation of four letters strptime does not know.
        CASE WHEN regexp_full_match(date_text, '.*[A-Z].*') THEN trim(replace(
            regexp_replace(date_text, '[ ,.-]+', ' ', 'g') || ' ', 'SEPT ', 'SEP '))
            -- Seven digits are MMDDYYYY that lost its leading zero as a number (an
            -- integer-typed column: 03151980 -> 3151980).
            WHEN regexp_full_match(date_text, '[0-9]{{7}}') THEN '0' || date_text
            ELSE date_text END AS text,
        {format_index} AS format_index
    FROM texts
), read AS (
    SELECT raw, date_format,
        CASE WHEN format_index IS NOT NULL
                OR regexp_full_match(text, '{_alternatives([*DATE_SHAPES, EIGHT_DIGITS])}')
                THEN 'date'
            WHEN regexp_full_match(text, '{_alternatives(PARTIAL_SHAPES)}') THEN 'partial'
        END AS reading,
        CASE WHEN format_index IS NOT NULL THEN {two_digit_by_format}
            ELSE regexp_full_match(text, '{two_digit_shapes}') END AS two_digit_year,
        CASE
            {full_date}
        END::DATE AS parsed
    FROM shaped
), pivoted AS (
    SELECT raw, date_format, reading, CASE WHEN two_digit_year AND parsed > current_date
        THEN (parsed - INTERVAL 100 YEAR)::DATE ELSE parsed END AS parsed
    FROM read
), judged AS (
    SELECT raw, date_format, reading, parsed,
        parsed >= DATE '{EARLIEST}' AND parsed < DATE '{LATEST}'
            AND (reading = 'partial' OR parsed NOT IN ({placeholders})) AS usable
    FROM pivoted
)
SELECT raw, date_format,
    CASE WHEN reading = 'date' AND usable THEN parsed END AS dob,
    CASE WHEN usable THEN year(parsed)::INTEGER END AS dob_year,
    CASE
        WHEN reading IS NULL THEN 'unparseable'
        WHEN NOT coalesce(usable, false) THEN 'invalid'
        WHEN reading = 'partial' THEN 'partial'
        WHEN parsed > current_date THEN 'future'
    END AS problem
FROM judged"""
    return sql, params


# A source's dates are day first when at least DAY_FIRST_EVIDENCE of its d/m/y-shaped dates
# have a first number above 12 (no month) and no more than one in DAY_FIRST_ODDS as many
# have a second number above 12. A month-first source has a day above 12 in its second place
# in about 19 dates of 31, so a handful of slips never turns it; a source that mixes both
# orders (two systems' extracts joined) is left as it is.
DAY_FIRST_EVIDENCE = 5
DAY_FIRST_ODDS = 20
_NUMERIC_DATE = r"^\s*([0-9]{1,2})([/.-])([0-9]{1,2})[/.-]([0-9]{2}|[0-9]{4})\s*$"


def day_first_formats(store: Store, sources: Sequence[str]) -> dict[str, str]:
    """For each of `sources` (source_systems without a configured format) whose dates of
    birth are written day first, the format to read them with (%d/%m/%Y, %d-%m-%y, ... by
    its commonest separator and year length). Reads every active record of the source, so
    a delivery of a few records is read as the whole source is."""
    if not sources:
        return {}
    rows = store.run_step(STAGE, Step("day_first_evidence", f"""
WITH numeric AS (
    SELECT source_system, CAST(regexp_extract(dob, $shape, 1) AS INTEGER) AS first,
        regexp_extract(dob, $shape, 2) AS separator,
        CAST(regexp_extract(dob, $shape, 3) AS INTEGER) AS second,
        length(regexp_extract(dob, $shape, 4)) AS year_digits
    FROM source_record
    WHERE NOT is_deleted AND source_system IN (SELECT unnest($sources))
        AND regexp_full_match(dob, $shape)
)
SELECT source_system,
    count(*) FILTER (WHERE first BETWEEN 13 AND 31 AND second <= 12) AS day_first,
    count(*) FILTER (WHERE second BETWEEN 13 AND 31 AND first <= 12) AS month_first,
    mode(separator) AS separator, mode(year_digits) AS year_digits
FROM numeric GROUP BY source_system""", {"shape": _NUMERIC_DATE, "sources": list(sources)}))
    return {source: f"%d{separator}%m{separator}{'%Y' if year_digits == 4 else '%y'}"
            for source, day_first, month_first, separator, year_digits in rows
            if day_first >= DAY_FIRST_EVIDENCE and month_first * DAY_FIRST_ODDS <= day_first}


def build_date_formats(store: Store, date_formats: Mapping[str, str]) -> None:
    """Table `source_date_format(source_system, date_format)`: the sources with a format."""
    if not date_formats:
        store.run_step(STAGE, Step("source_date_format", """
CREATE OR REPLACE TEMP TABLE source_date_format (source_system VARCHAR, date_format VARCHAR)"""))
        return
    rows = ", ".join(f"($source_{i}, $format_{i})" for i in range(len(date_formats)))
    params = {}
    for i, (source, fmt) in enumerate(sorted(date_formats.items())):
        params[f"source_{i}"], params[f"format_{i}"] = source, fmt
    store.run_step(STAGE, Step("source_date_format", f"""
CREATE OR REPLACE TEMP TABLE source_date_format AS
SELECT * FROM (VALUES {rows}) AS f(source_system, date_format)""", params))


def build_dob_values(store: Store, raw_dates_sql: str, formats: list[str]) -> None:
    """Read every distinct (raw, date_format) that `raw_dates_sql` yields into `dob_value`;
    `formats` are the distinct configured formats ('' is none)."""
    sql, params = dob_value_sql(raw_dates_sql, sorted(set(formats) - {""}))
    store.run_step(STAGE, Step("dob_value", sql, params))
