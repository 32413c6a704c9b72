"""Full names commoner than their given and family names apart.

The model weighs an exact given name and an exact family name each by how common it is
(term-frequency adjustment), as though people's given and family names were chosen
independently. They are not: within a community THAO TRAN, XIN WONG or JOSE GARCIA is
far commoner than THAO and TRAN taken apart suggest, and two strangers who share such a
name score as one person when nothing else parts them (one birth date missing, an address
neither record has).

For each full name, the people who bear it are counted and set against the number the
given and family names' own counts predict if they were independent. A pair that agrees
on both names loses the log2 of how much commoner its full name is than that prediction;
a full name no commoner than predicted changes nothing (an uncommon combination is what
the model already assumes).

People are counted as distinct full names with a birth date (or year): one person's
records may carry a few birth dates between them (typos, an imputed day), so the first
SHARED_BY people expected to bear a name never count against it.
"""

from __future__ import annotations

from linkage.store import Step

TABLE = "common_full_name"
# People a full name may have beyond its prediction before it weighs less: a single
# person's records with up to this many different birth dates are never penalised.
SHARED_BY = 3.0

# One row per (first_name, last_name) commoner than predicted, with its (negative) bits.
_TABLE_SQL = f"""
CREATE OR REPLACE TEMP TABLE {TABLE} AS
WITH people AS (
    SELECT DISTINCT first_name, last_name,
        coalesce(CAST(dob AS VARCHAR), CAST(dob_year AS VARCHAR)) AS born
    FROM person
    WHERE NOT is_deleted AND first_name IS NOT NULL AND last_name IS NOT NULL
), given AS (
    SELECT first_name, count(*) AS n FROM people GROUP BY first_name
), family AS (
    SELECT last_name, count(*) AS n FROM people GROUP BY last_name
), bearer AS (
    SELECT first_name, last_name, count(*) AS n FROM people GROUP BY first_name, last_name
), predicted AS (
    SELECT b.first_name, b.last_name, b.n AS bearers,
        g.n * f.n / (SELECT count(*) FROM people) + {SHARED_BY} AS expected
    FROM bearer AS b
    JOIN given AS g ON g.first_name = b.first_name
    JOIN family AS f ON f.last_name = b.last_name
)
SELECT first_name, last_name, log2(expected / bearers) AS bits
FROM predicted WHERE bearers > expected"""


def common_full_names() -> Step:
    """The step that fills TABLE from the active population."""
    return Step("common_full_names", _TABLE_SQL)


def pair_bits(left: str, right: str) -> tuple[str, str]:
    """(a LEFT JOIN clause, the bits expression) for a pair whose records are the person
    rows aliased `left` and `right` (names from code)."""
    return names_bits(f"{left}.first_name", f"{right}.first_name",
                      f"{left}.last_name", f"{right}.last_name")


def names_bits(first_l: str, first_r: str, last_l: str, last_r: str) -> tuple[str, str]:
    """(a LEFT JOIN clause, the bits expression) for a pair's given and family names (column
    expressions from code): the bits are 0 unless both names agree and the full name is
    commoner than predicted."""
    join = (f"LEFT JOIN {TABLE} AS full_name "
            f"ON full_name.first_name = {first_l} AND full_name.first_name = {first_r} "
            f"AND full_name.last_name = {last_l} AND full_name.last_name = {last_r}")
    return join, "coalesce(full_name.bits, 0)"
