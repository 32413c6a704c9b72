"""Build the canonical person table (DESIGN §4) from the landed source records.

Heavy rules run once per distinct value (names.py, addresses.py) and are joined back;
the cheap ones are macros applied per row (rules.py).

Name order: first and last stay as given. Swapped records still meet: the model compares
first_name against last_name reversed (ColumnsReversedLevel), `name_tokens` holds every
name word sorted, so two records with the same words in any order (first/last swapped,
first/middle swapped, NGUYEN VAN AN against AN VAN NGUYEN) have equal tokens, and
`family_name_first` flags a record whose first-name field holds a family name usually
written first (NGUYEN, KIM, CHEN ...) while its last-name field does not.
"""

from __future__ import annotations

from collections.abc import Mapping

from linkage.standardize.addresses import NO_STREET_KINDS, build_address_values
from linkage.standardize.dates import build_date_formats, build_dob_values
from linkage.standardize.lookups import STAGE, install
from linkage.standardize.names import add_phonetic_keys, build_name_values
from linkage.standardize.rules import sql_list
from linkage.sources.changes import ChangedRecords
from linkage.store import LANDED_COLUMNS, Step, Store
from linkage.store.relations import record_key
from linkage.store.schema import PERSON_COLUMNS, TABLES

# Landed columns whose text may be an empty value written out (all but the data-quality
# codes and FHIR's former names, a JSON list).
VALUE_COLUMNS = frozenset(LANDED_COLUMNS) - {"name_quality", "dob_quality", "ssn_quality",
                                             "alias_names"}
# Landed columns standardize reads that older stores may not have (mailing address).
_OPTIONAL_COLUMNS = ("mail_street", "mail_unit", "mail_city", "mail_state", "mail_zip")

_NAMED = """
CREATE OR REPLACE TEMP TABLE person_named AS
SELECT r.source_system, r.source_record_id, r.run_id, r.is_deleted, r.name_quality,
    r.dob, r.date_format, r.dob_quality, r.ssn_quality, r.sex, r.mrn, r.mrn_authority, r.household_id,
    r.street, r.unit, r.city, r.state, r.zip,
    -- JOHN/JANE DOE is a placeholder as a whole, not a real first or last name.
    (f.name IN ('JOHN', 'JANE') AND l.name = 'DOE') IS TRUE AS doe,
    CASE WHEN NOT doe THEN f.name END AS first_clean,
    CASE WHEN NOT doe THEN f.parts END AS first_parts,
    m.name AS middle_clean, m.parts AS middle_parts,
    CASE WHEN NOT doe THEN l.name END AS last_clean,
    CASE WHEN NOT doe THEN l.parts END AS last_parts,
    coalesce(s.as_suffix, l.trailing_suffix, f.trailing_suffix) AS suffix_clean,
    -- Each identifier cleaned once here; the *_of macros then test the cleaned text.
    ssn_chars(r.ssn) AS ssn_x, nullif(trim(r.ssn), '') IS NULL AS ssn_blank,
    cin_chars(r.cin) AS cin_x, phone_ten(phone_digits(r.phone)) AS phone_ten,
    lower(trim(r.email)) AS email_lower,
    {mail}
FROM standardize_input AS r
LEFT JOIN name_value AS f ON f.raw = r.first_name
LEFT JOIN name_value AS m ON m.raw = r.middle_name
LEFT JOIN name_value AS l ON l.raw = r.last_name
LEFT JOIN name_value AS s ON s.raw = r.name_suffix"""

_NO_STREET = sql_list(NO_STREET_KINDS)
_ADDRESS_KEY = ("street", "unit", "city", "state", "zip")


def _address_join(alias: str, prefix: str, suffix: str) -> str:
    return " AND ".join(f"{alias}.{column}_raw IS NOT DISTINCT FROM c.{prefix}{column}{suffix}"
                        for column in _ADDRESS_KEY)


# Each person column's value, from the named, address-resolved record `c` and the lookups
# joined to it in _INSERT. Keyed by the registry's names (linkage.store.schema.PERSON).
_VALUES = {
    "record_key": record_key("c.source_system", "c.source_record_id"),
    "source_system": "c.source_system",
    "source_record_id": "c.source_record_id",
    "run_id": "c.run_id",
    "is_deleted": "c.is_deleted",
    "first_name": "c.first_clean",
    "middle_name": "c.middle_clean",
    "last_name": "c.last_clean",
    "name_suffix": "c.suffix_clean",
    "surname_parts": "c.last_parts",
    "first_name_canonical": "coalesce(nick.canonical, c.first_clean)",
    "first_name_forms": "coalesce(forms.forms, [c.first_clean])",
    "first_name_phonetic": "pf.metaphone",
    "last_name_phonetic": "pl.metaphone",
    "name_quality": """CASE c.name_quality WHEN '1' THEN 'full' WHEN '2' THEN 'partial'
        WHEN '8' THEN 'not_known' WHEN '9' THEN 'refused' WHEN '99' THEN 'not_collected' END""",
    "dob": "d.dob",
    "dob_quality": """CASE
        WHEN d.raw IS NULL THEN 'missing'
        WHEN d.problem IS NOT NULL THEN d.problem
        WHEN c.dob_quality = '2' THEN 'approximate'
        WHEN year(d.dob) < 1915 THEN 'before_1915'
        WHEN month(d.dob) = 1 AND day(d.dob) = 1 THEN 'january_first'
        ELSE 'full'
    END""",
    "dob_year": "d.dob_year",
    "ssn": "c.ssn_valid",
    # HMIS SSN quality 2 is a partial or approximate SSN: its last four, never a full SSN.
    "ssn_last4": """coalesce(right(c.ssn_valid, 4), partial_last4_of(c.ssn_x),
        CASE WHEN c.ssn_quality = '2' AND regexp_full_match(right(c.ssn_x, 4), '[0-9]{4}')
            THEN right(c.ssn_x, 4) END)""",
    "ssn_quality": """CASE
        WHEN c.ssn_valid IS NOT NULL THEN 'full'
        WHEN is_partial_ssn_of(c.ssn_x) OR partial_last4_of(c.ssn_x) IS NOT NULL
            OR c.ssn_quality = '2' THEN 'partial'
        WHEN c.ssn_blank THEN NULL
        ELSE 'invalid'
    END""",
    "sex": "std_sex(c.sex)",
    "cin": "valid_cin_of(c.cin_x)",
    "mrn": "std_mrn(c.mrn)",
    "mrn_authority": "CASE WHEN std_mrn(c.mrn) IS NOT NULL THEN std_authority(c.mrn_authority) END",
    **{column: f"CASE WHEN c.use_mail THEN c.mail_{column} ELSE c.res_{column} END"
       for column in ("street", "unit", "city", "state", "zip5")},
    "address_kind": """CASE WHEN c.use_mail THEN coalesce(c.mail_kind, 'mailing')
        ELSE coalesce(c.res_kind, 'residential') END""",
    "phone": "valid_phone_of(c.phone_ten)",
    "email": "valid_email_of(c.email_lower)",
    "household_id": "nullif(trim(c.household_id), '')",
    "name_tokens": """nullif(list_sort(list_distinct(flatten([
        coalesce(c.first_parts, []), coalesce(c.middle_parts, []), coalesce(c.last_parts, [])]))), [])""",
    "family_name_first": """CASE WHEN c.first_clean IS NOT NULL AND c.last_clean IS NOT NULL
        THEN ff.surname IS NOT NULL AND fl.surname IS NULL END""",
}
assert set(_VALUES) == set(PERSON_COLUMNS), "every person column has one value"


_INSERT = f"""
INSERT INTO person ({", ".join(PERSON_COLUMNS)})
WITH based AS (
    SELECT c.*, CASE WHEN c.ssn_quality = '2' THEN NULL ELSE valid_ssn_of(c.ssn_x) END AS ssn_valid,
        -- The residence, unless it carries no street (homeless, none) and a usable
        -- mailing address exists: then that one, of kind mailing unless known to be more.
        (res.street IS NULL OR coalesce(res.kind, '') IN ({_NO_STREET}))
            AND mail.street IS NOT NULL AS use_mail,
        res.street AS res_street, res.unit AS res_unit, res.city AS res_city,
        res.state AS res_state, res.zip5 AS res_zip5, res.kind AS res_kind,
        mail.street AS mail_street, mail.unit AS mail_unit, mail.city AS mail_city,
        mail.state AS mail_state, mail.zip5 AS mail_zip5, mail.kind AS mail_kind
    FROM person_named AS c
    LEFT JOIN address_value AS res ON {_address_join("res", "", "")}
    LEFT JOIN address_value AS mail ON {_address_join("mail", "mail_", "_raw")}
)
SELECT
    {", ".join(f"{_VALUES[column]} AS {column}" for column in PERSON_COLUMNS)}
FROM based AS c
LEFT JOIN dob_value AS d ON d.raw = c.dob AND d.date_format = c.date_format
LEFT JOIN nickname_canonical AS nick ON nick.name = c.first_clean
LEFT JOIN nickname_forms AS forms ON forms.name = c.first_clean
LEFT JOIN phonetic AS pf ON pf.name = c.first_clean
LEFT JOIN phonetic AS pl ON pl.name = c.last_clean
LEFT JOIN family_name_first AS ff ON ff.surname = c.first_clean
LEFT JOIN family_name_first AS fl ON fl.surname = c.last_clean"""


def _landed_columns(store: Store) -> set[str]:
    return set(store.columns("source_record"))


def _mail_columns(landed: set[str]) -> str:
    return ",\n    ".join(
        f"{'r.' + column if column in landed else 'NULL::VARCHAR'} AS {column}_raw"
        for column in _OPTIONAL_COLUMNS)


def standardize(store: Store, changed: ChangedRecords | None = None, *,
                rules_installed: bool = False,
                date_formats: Mapping[str, str] | None = None) -> int:
    """Rebuild `person` from `source_record`; return the number of person rows.

    With `changed` (an incremental delivery's), only those records are standardized again. With
    `rules_installed`, the caller has already run `install` on this connection (a
    search standardizing one query after another skips its ~60 ms each time).
    `date_formats` maps a source_system to the strftime format its dates are read with
    first (linkage.standardize.dates).
    """
    if not rules_installed:
        install(store)
    landed = _landed_columns(store)
    date_formats = dict(date_formats or {})
    build_date_formats(store, date_formats)
    only_changed = "" if changed is None else f"""
WHERE {record_key("r.source_system", "r.source_record_id")} IN ({changed.keys()})"""
    # An empty value written out as text (NULL, \N, #N/A, nan) is no value in any field.
    columns = ", ".join(f"no_value(r.{column}) AS {column}" if column in VALUE_COLUMNS
                        else f"r.{column}" for column in store.columns("source_record"))
    store.run_step(STAGE, Step("standardize_input", f"""
CREATE OR REPLACE TEMP VIEW standardize_input AS
SELECT {columns}, coalesce(f.date_format, '') AS date_format FROM source_record AS r
LEFT JOIN source_date_format AS f ON f.source_system = r.source_system""" + only_changed))
    build_name_values(store, """
SELECT first_name AS raw FROM standardize_input UNION SELECT middle_name FROM standardize_input
UNION SELECT last_name FROM standardize_input UNION SELECT name_suffix FROM standardize_input""")
    build_dob_values(store, "SELECT DISTINCT dob AS raw, date_format FROM standardize_input",
                     list(date_formats.values()))
    lines = ["SELECT street AS street_raw, unit AS unit_raw, city AS city_raw, state AS state_raw, "
             "zip AS zip_raw FROM standardize_input"]
    if set(_OPTIONAL_COLUMNS) <= landed:
        lines.append("SELECT mail_street, mail_unit, mail_city, mail_state, mail_zip "
                     "FROM standardize_input WHERE mail_street IS NOT NULL")
    build_address_values(store, "\nUNION ".join(lines))
    store.run_step(STAGE, Step("person_named", _NAMED.format(mail=_mail_columns(landed))))
    add_phonetic_keys(store, """
SELECT first_clean FROM person_named WHERE first_clean IS NOT NULL
UNION SELECT last_clean FROM person_named WHERE last_clean IS NOT NULL""")
    if changed is not None:
        replace = [Step("drop_changed_person", f"""
DELETE FROM person WHERE record_key IN ({changed.keys()})""")]
    else:
        # Rebuilt whole: dropping and recreating is far cheaper than deleting a million
        # rows and inserting them again under the same primary keys.
        replace = [Step("drop_person", "DROP TABLE person"),
                   Step("create_person", TABLES["person"])]
    store.run_steps(STAGE, [
        *replace,
        Step("insert_person", _INSERT),
        Step("drop_work_tables", "DROP TABLE person_named; DROP TABLE name_value; "
             "DROP TABLE dob_value; DROP TABLE address_value; DROP VIEW standardize_input; "
             "DROP TABLE source_date_format"),
    ])
    return store.scalar(STAGE, "count_person", "SELECT count(*) FROM person")
