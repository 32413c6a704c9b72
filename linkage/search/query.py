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
import functools
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


# Each column of the standardized query from what the query gave: the value
# linkage.standardize.person gives a record with these raw values and no source quality
# codes (tests/test_search_query.py holds the two to each other). Keyed by the landed
# field each needs; a column whose field is not given is null.
_NAMES = {
    "first_name": "n.first_clean", "last_name": "n.last_clean", "name_suffix": "n.suffix_clean",
    "surname_parts": "n.last_parts",
    "first_name_canonical": "coalesce(nick.canonical, n.first_clean)",
    "first_name_forms": "coalesce(forms.forms, [n.first_clean])",
}
_FIELDS = {
    "ssn": {"ssn": "valid_ssn_of(i.ssn_x)",
            "ssn_last4": "coalesce(right(valid_ssn_of(i.ssn_x), 4), partial_last4_of(i.ssn_x))"},
    "cin": {"cin": "valid_cin_of(i.cin_x)"},
    "mrn": {"mrn": "std_mrn($mrn)"},
    "zip": {"zip5": "std_zip5($zip)"},
    "phone": {"phone": "valid_phone_of(i.phone_ten)"},
    "email": {"email": "valid_email_of(i.email_lower)"},
}
# ...from each identifier cleaned once, in stages, as linkage.standardize.person cleans a
# record's: a macro repeats its argument's SQL wherever it names it, so valid_ssn_of over
# ssn_chars($ssn) bound seven copies of ssn_chars, regular expressions and all, and
# binding was most of a search's standardization.
_CLEANED = (
    {"ssn": "ssn_chars($ssn::VARCHAR) AS ssn_x", "cin": "cin_chars($cin::VARCHAR) AS cin_x",
     "phone": "phone_digits($phone::VARCHAR) AS phone_digits",
     "email": "lower(trim($email::VARCHAR)) AS email_lower"},
    {"phone": "phone_ten(phone_digits) AS phone_ten"},
)
COLUMN_TYPES = {"surname_parts": "VARCHAR[]", "first_name_forms": "VARCHAR[]", "dob": "DATE",
          "dob_year": "INTEGER"}
STANDARDIZED_COLUMNS = ("first_name", "middle_name", "last_name", "name_suffix",
                        "surname_parts", "first_name_canonical", "first_name_forms", "dob",
                        "dob_year", "dob_quality", "ssn", "ssn_last4", "sex", "cin", "mrn",
                        "street", "zip5", "phone", "email")


@functools.lru_cache(maxsize=128)
def standardized_sql(given: frozenset[str], ascii_names: bool = False) -> str:
    """One SELECT of the standardized query from the landed fields `given` (bound as
    $first_name, $dob ...). Only the rules of the fields given are in it: binding the
    rules costs more than running them on one row. `ascii_names`: the names given are
    ASCII (linkage.standardize.names.name_value_sql)."""
    values = {column: f"NULL::{COLUMN_TYPES.get(column, 'VARCHAR')}"
              for column in STANDARDIZED_COLUMNS}
    values["first_name_forms"] = "[NULL::VARCHAR]"  # a record's forms: its own name, here none
    ctes, joins = [], []
    names = [field for field in ("first_name", "last_name") if field in given]
    if names:
        raw = " UNION ".join(f"SELECT ${field}::VARCHAR AS raw" for field in names)
        first = "f.name" if "first_name" in given else "NULL::VARCHAR"
        last_name = "l.name" if "last_name" in given else "NULL::VARCHAR"
        last = ("l" if "last_name" in given else None)
        ctes.append(f"name_value AS ({name_value_sql(raw, ascii_only=ascii_names)}\n)")
        ctes.append(f"""named AS (
    -- JOHN/JANE DOE is a placeholder as a whole, not a real first or last name.
    SELECT ({first} IN ('JOHN', 'JANE') AND {last_name} = 'DOE') IS TRUE AS doe,
        CASE WHEN NOT doe THEN {first} END AS first_clean,
        CASE WHEN NOT doe THEN {last_name} END AS last_clean,
        CASE WHEN NOT doe THEN {'l.parts' if last else 'NULL::VARCHAR[]'} END AS last_parts,
        coalesce({'l.trailing_suffix' if last else 'NULL'},
                 {'f.trailing_suffix' if 'first_name' in given else 'NULL'}) AS suffix_clean
    FROM (SELECT 1) AS one
    {'LEFT JOIN name_value AS f ON f.raw = $first_name' if 'first_name' in given else ''}
    {'LEFT JOIN name_value AS l ON l.raw = $last_name' if last else ''}
)""")
        joins.append("CROSS JOIN named AS n")
        joins.append("LEFT JOIN nickname_canonical AS nick ON nick.name = n.first_clean")
        joins.append("LEFT JOIN nickname_forms AS forms ON forms.name = n.first_clean")
        values.update(_NAMES)
    if "dob" in given:
        dates, _ = dob_value_query("SELECT $dob::VARCHAR AS raw, '' AS date_format", [])
        ctes.append(f"dob_value AS ({dates}\n)")
        joins.append("LEFT JOIN dob_value AS d ON true")
        values.update({"dob": "d.dob", "dob_year": "d.dob_year", "dob_quality": """CASE
        WHEN d.raw IS NULL THEN 'missing'
        WHEN d.problem IS NOT NULL THEN d.problem
        WHEN year(d.dob) < 1915 THEN 'before_1915'
        WHEN month(d.dob) = 1 AND day(d.dob) = 1 THEN 'january_first'
        ELSE 'full'
    END"""})
    else:
        values["dob_quality"] = "'missing'"
    for field, columns in _FIELDS.items():
        if field in given:
            values.update({column: sql.replace(f"${field}", f"${field}::VARCHAR")
                           for column, sql in columns.items()})
    stages = [[sql for field, sql in stage.items() if field in given] for stage in _CLEANED]
    if stages[0]:
        cleaned = "SELECT " + ", ".join(stages[0])
        for stage in stages[1:]:
            cleaned = f"SELECT *{''.join(', ' + sql for sql in stage)} FROM ({cleaned})"
        ctes.append(f"identifiers AS ({cleaned})")
        joins.append("CROSS JOIN identifiers AS i")
    return ((f"WITH {', '.join(ctes)}\n" if ctes else "")
            + "SELECT " + ",\n    ".join(f"{values[column]} AS {column}"
                                         for column in STANDARDIZED_COLUMNS)
            + "\nFROM (SELECT 1) AS one\n" + "\n".join(joins))


def standardize_query(store: Store, query: PersonQuery, *, check: bool = True) -> dict[str, Any]:
    """The query as a standardized person row: the model's columns but record_key, and
    dob_quality and mrn. `store` has the name rules installed
    (linkage.standardize.names.install_name_rules). With `check`, raises LinkageError,
    without the value, for a field given that standardizes to nothing."""
    landed = query.landed()
    given = {field: value for field, value in landed.items() if value is not None}
    ascii_names = all(given.get(field, "").isascii() for field in ("first_name", "last_name"))
    # One row through many rules: planning it costs more than running it, and the
    # optimizer has nothing to gain on one row.
    with store.unoptimized():
        rows = store.run_records(STAGE, Step("standardize_query", standardized_sql(
            frozenset(given), ascii_names), given))
    row = rows[0]
    row["first_name_phonetic"] = metaphone(row["first_name"])
    row["last_name_phonetic"] = metaphone(row["last_name"])
    if check:
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
