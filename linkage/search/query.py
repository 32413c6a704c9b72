"""A search's query: what the user knows about the person, checked, and standardized as a
record is, in one statement.

The query goes through the standardization rules themselves (the same macros, the name
and date-of-birth queries of linkage.standardize, the nickname lookups), so BOB meets
ROBERT, José meets JOSE and a placeholder name counts as no name, exactly as for the
records. Only the rules a query can need run: it has no middle name, suffix column or
address line, so the address parser never runs, and nothing is written: the values are
bound parameters, and one SELECT returns the standardized row.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any

from linkage.errors import LinkageError
from linkage.standardize.dates import dob_value_query
from linkage.standardize.names import metaphone, name_value_sql
from linkage.store import Step, Store

STAGE = "search"

# The identifiers a query may give instead of (or beside) a name and a date of birth.
IDENTIFIERS = ("ssn", "ssn_last4", "cin", "mrn", "phone", "email")

_DOB_PROBLEMS = {
    "partial": "dob: give a full date of birth, YYYY-MM-DD",
    "unparseable": "dob: not a date; expected YYYY-MM-DD",
    "invalid": "dob: not a usable date of birth (no such day, before 1900 or a placeholder "
               "date)",
}


@dataclass(frozen=True)
class PersonQuery:
    """What a user knows about the person; empty strings count as not given. A query needs
    a name with a date of birth or a ZIP code, or an identifier (IDENTIFIERS)."""

    dob: str | dt.date | None = None
    first_name: str | None = None
    last_name: str | None = None
    ssn_last4: str | None = None
    zip5: str | None = None
    ssn: str | None = None
    cin: str | None = None
    mrn: str | None = None
    phone: str | None = None
    email: str | None = None

    def landed(self) -> dict[str, str | None]:
        """The query as a landed record's raw values, checked for what only a user gets wrong."""
        given = {name: _given(getattr(self, name)) for name in (
            "first_name", "last_name", "dob", "ssn_last4", "zip5", *IDENTIFIERS)}
        named = given["first_name"] is not None or given["last_name"] is not None
        identified = any(given[name] is not None for name in IDENTIFIERS)
        if not identified and not named:
            raise LinkageError("search: give a first or last name with a date of birth, or an "
                               "identifier (ssn, ssn_last4, cin, mrn, phone, email)")
        if not identified and given["dob"] is None and given["zip5"] is None:
            raise LinkageError("search: give a date of birth (dob, YYYY-MM-DD) with the name, "
                               "or an identifier")
        if given["ssn_last4"] is not None and not re.fullmatch(r"[0-9]{4}", given["ssn_last4"]):
            raise LinkageError("ssn_last4: expected the last four digits of an SSN")
        return {"first_name": given["first_name"], "last_name": given["last_name"],
                "dob": given["dob"], "ssn": given["ssn"] or given["ssn_last4"],
                "zip": given["zip5"], "cin": given["cin"], "mrn": given["mrn"],
                "phone": given["phone"], "email": given["email"]}


def _given(value: Any) -> str | None:
    if isinstance(value, dt.date):
        return value.isoformat()
    if value is None or not str(value).strip():
        return None
    return str(value).strip()


def _standardized_sql() -> str:
    """One SELECT: the landed query (bound values) as a person row. Each column is the
    value linkage.standardize.person gives a record with these raw values and no source
    quality codes (tests/test_search_query.py holds the two to each other)."""
    names = name_value_sql("SELECT first_name AS raw FROM query UNION SELECT last_name FROM query")
    dates, _ = dob_value_query("SELECT dob AS raw, '' AS date_format FROM query", [])
    return f"""
WITH query AS (
    SELECT $first_name::VARCHAR AS first_name, $last_name::VARCHAR AS last_name,
        $dob::VARCHAR AS dob, $ssn::VARCHAR AS ssn, $zip::VARCHAR AS zip,
        $cin::VARCHAR AS cin, $mrn::VARCHAR AS mrn, $phone::VARCHAR AS phone,
        $email::VARCHAR AS email
), name_value AS ({names}
), dob_value AS ({dates}
), named AS (
    SELECT q.*,
        -- JOHN/JANE DOE is a placeholder as a whole, not a real first or last name.
        (f.name IN ('JOHN', 'JANE') AND l.name = 'DOE') IS TRUE AS doe,
        CASE WHEN NOT doe THEN f.name END AS first_clean,
        CASE WHEN NOT doe THEN l.name END AS last_clean,
        CASE WHEN NOT doe THEN l.parts END AS last_parts,
        coalesce(l.trailing_suffix, f.trailing_suffix) AS suffix_clean,
        ssn_chars(q.ssn) AS ssn_x, cin_chars(q.cin) AS cin_x,
        phone_ten(phone_digits(q.phone)) AS phone_ten, lower(trim(q.email)) AS email_lower
    FROM query AS q
    LEFT JOIN name_value AS f ON f.raw = q.first_name
    LEFT JOIN name_value AS l ON l.raw = q.last_name
), based AS (
    SELECT *, valid_ssn_of(ssn_x) AS ssn_valid FROM named
)
SELECT c.first_clean AS first_name, NULL::VARCHAR AS middle_name, c.last_clean AS last_name,
    c.suffix_clean AS name_suffix, c.last_parts AS surname_parts,
    coalesce(nick.canonical, c.first_clean) AS first_name_canonical,
    coalesce(forms.forms, [c.first_clean]) AS first_name_forms,
    d.dob, d.dob_year,
    CASE
        WHEN d.raw IS NULL THEN 'missing'
        WHEN d.problem IS NOT NULL THEN d.problem
        WHEN year(d.dob) < 1915 THEN 'before_1915'
        WHEN month(d.dob) = 1 AND day(d.dob) = 1 THEN 'january_first'
        ELSE 'full'
    END AS dob_quality,
    c.ssn_valid AS ssn,
    coalesce(right(c.ssn_valid, 4), partial_last4_of(c.ssn_x)) AS ssn_last4,
    NULL::VARCHAR AS sex, valid_cin_of(c.cin_x) AS cin, std_mrn(c.mrn) AS mrn,
    NULL::VARCHAR AS street, std_zip5(c.zip) AS zip5, valid_phone_of(c.phone_ten) AS phone,
    valid_email_of(c.email_lower) AS email
FROM based AS c
LEFT JOIN dob_value AS d ON d.raw = c.dob
LEFT JOIN nickname_canonical AS nick ON nick.name = c.first_clean
LEFT JOIN nickname_forms AS forms ON forms.name = c.first_clean"""


STANDARDIZED_SQL = _standardized_sql()


def standardize_query(store: Store, query: PersonQuery) -> dict[str, Any]:
    """The query as a standardized person row: the model's columns but record_key, and
    dob_quality and mrn. `store` has the name rules installed
    (linkage.standardize.names.install_name_rules). Raises LinkageError, without the
    value, for a field given that standardizes to nothing."""
    landed = query.landed()
    rows = store.run_records(STAGE, Step("standardize_query", STANDARDIZED_SQL, landed))
    row = rows[0]
    row["first_name_phonetic"] = metaphone(row["first_name"])
    row["last_name_phonetic"] = metaphone(row["last_name"])
    _check(landed, row)
    return row


def _check(landed: dict[str, str | None], row: dict[str, Any]) -> None:
    if landed["dob"] is not None and row["dob"] is None:
        raise LinkageError(_DOB_PROBLEMS.get(row["dob_quality"], _DOB_PROBLEMS["invalid"]))
    for field, column, problem in (
            ("ssn", "ssn_last4", "ssn: not a valid SSN or the last four digits of one"),
            ("zip", "zip5", "zip5: expected a 5-digit ZIP code"),
            ("cin", "cin", "cin: not a Medi-Cal CIN (8 digits and a letter)"),
            ("mrn", "mrn", "mrn: empty once standardized"),
            ("phone", "phone", "phone: expected a 10-digit phone number"),
            ("email", "email", "email: not an e-mail address")):
        if landed[field] is not None and row[column] is None:
            raise LinkageError(problem)
    if row["first_name"] is None and row["last_name"] is None and not any(
            row[name] is not None for name in IDENTIFIERS):
        raise LinkageError("search: the name given is a placeholder or has no letters; "
                           "give a first or last name")
    if row["dob"] is None and row["zip5"] is None and not any(
            row[name] is not None for name in IDENTIFIERS):
        raise LinkageError("search: give a date of birth (dob, YYYY-MM-DD) with the name, "
                           "or an identifier")
