"""The source shapes (DESIGN §3) as data: each kind's files, required columns, and the
SQL that maps one delivery onto the landed columns.

A shape's `select` returns a SELECT producing exactly: source_row, parse_problem,
source_record_id, is_deleted, the LANDED_COLUMNS, raw. It reads from reader relations
built in code (linkage.sources.readers); file paths travel as bound parameters.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from linkage.store import LANDED_COLUMNS


def landed(columns: dict[str, str]) -> str:
    """The landed columns in schema order, NULL where a shape has no such field."""
    return ",\n    ".join(f"{columns.get(name, 'NULL')} AS {name}" for name in LANDED_COLUMNS)


def _raw(alias: str) -> str:
    """The delivered row as JSON, without the row number the reader added."""
    return f"json_merge_patch(to_json({alias}), '{{\"__source_row\": null}}')"


@dataclass(frozen=True)
class Shape:
    kind: str
    files: tuple[str, ...]  # the files of one delivery; a single '' means the path itself
    required: dict[str, tuple[str, ...]]  # file -> columns that must be in its header
    select: Callable[[dict[str, str]], str]  # file -> reader SQL  ->  landed SELECT
    optional: tuple[str, ...] = ()  # read when present, NULL when a file lacks them


def record_key(*parts: str) -> str:
    """SQL joining key parts with `-`. Inside a part, a backslash is doubled and `-` becomes
    backslash-dash, so distinct parts never give one key; plain parts keep the documented
    form (19-1234567-01)."""
    escaped = (f"replace(replace(trim({part}), '\\', '\\\\'), '-', '\\-')" for part in parts)
    return f"concat_ws('-', {', '.join(escaped)})"


def _calsaws(readers: dict[str, str]) -> str:
    return f"""
SELECT __source_row AS source_row, NULL AS parse_problem,
    CASE WHEN coalesce(trim(county_code), '') <> '' AND coalesce(trim(case_number), '') <> ''
        AND coalesce(trim(person_number), '') <> ''
        THEN {record_key("county_code", "case_number", "person_number")}
    END AS source_record_id,
    false AS is_deleted,
    {landed({
        "first_name": "first_name", "middle_name": "middle_name", "last_name": "last_name",
        "name_suffix": "name_suffix", "dob": "dob", "ssn": "ssn", "sex": "sex", "cin": "cin",
        "street": "res_street", "unit": "res_unit", "city": "res_city", "state": "res_state",
        "zip": "res_zip", "mail_street": "mail_street", "mail_city": "mail_city",
        "mail_state": "mail_state", "mail_zip": "mail_zip", "phone": "phone",
        "household_id": record_key("county_code", "case_number"),
    })},
    {_raw('src')} AS raw
FROM {readers['']} AS src"""


def _ehr_csv(readers: dict[str, str]) -> str:
    return f"""
SELECT __source_row AS source_row, NULL AS parse_problem,
    trim(mrn) AS source_record_id,
    false AS is_deleted,
    {landed({
        "first_name": "first_name", "middle_name": "middle_name", "last_name": "last_name",
        "name_suffix": "suffix", "dob": "dob", "ssn": "ssn", "sex": "gender",
        "mrn": "mrn", "mrn_authority": "assigning_authority",
        "street": "address_line1", "unit": "address_line2", "city": "city", "state": "state",
        "zip": "zip", "phone": "phone", "email": "email",
    })},
    {_raw('src')} AS raw
FROM {readers['']} AS src"""


# HMIS data-quality codes 8, 9 and 99 mean the value is absent whatever the field says.
def _hmis_value(column: str, quality: str) -> str:
    return f"CASE WHEN {quality} IN ('8', '9', '99') THEN NULL ELSE {column} END"


def _hmis(readers: dict[str, str], fiscal_year: int) -> str:
    # FY2024 records gender in nine columns; FY2026 has one Sex element (0 female, 1 male).
    if fiscal_year == 2026:
        sex = "CASE c.Sex WHEN '0' THEN 'F' WHEN '1' THEN 'M' END"
    else:
        sex = "CASE WHEN c.Woman = '1' AND c.Man <> '1' THEN 'F' WHEN c.Man = '1' AND c.Woman <> '1' THEN 'M' END"
    return f"""
SELECT c.__source_row AS source_row, NULL AS parse_problem,
    trim(c.PersonalID) AS source_record_id,
    coalesce(trim(c.DateDeleted), '') <> '' AS is_deleted,
    {landed({
        "first_name": _hmis_value("c.FirstName", "c.NameDataQuality"),
        "middle_name": _hmis_value("c.MiddleName", "c.NameDataQuality"),
        "last_name": _hmis_value("c.LastName", "c.NameDataQuality"),
        "name_suffix": "c.NameSuffix", "name_quality": "c.NameDataQuality",
        "dob": _hmis_value("c.DOB", "c.DOBDataQuality"), "dob_quality": "c.DOBDataQuality",
        "ssn": _hmis_value("c.SSN", "c.SSNDataQuality"), "ssn_quality": "c.SSNDataQuality",
        "sex": sex, "household_id": "e.HouseholdID", "entry_date": "e.EntryDate",
    })},
    {_raw('c')} AS raw
FROM {readers['Client.csv']} AS c
LEFT JOIN (
    SELECT PersonalID, arg_max(HouseholdID, EntryDate) AS HouseholdID,
        max(EntryDate) AS EntryDate
    FROM {readers['Enrollment.csv']}
    WHERE coalesce(DateDeleted, '') = ''
    GROUP BY PersonalID
) AS e ON e.PersonalID = c.PersonalID"""


_FHIR_IDENTIFIERS = '[{"system":"VARCHAR","value":"VARCHAR","type":{"coding":[{"system":"VARCHAR","code":"VARCHAR"}]}}]'
_FHIR_NAMES = '[{"use":"VARCHAR","family":"VARCHAR","given":["VARCHAR"],"suffix":["VARCHAR"]}]'
_FHIR_ADDRESSES = '[{"use":"VARCHAR","line":["VARCHAR"],"city":"VARCHAR","state":"VARCHAR","postalCode":"VARCHAR"}]'
_FHIR_TELECOM = '[{"system":"VARCHAR","value":"VARCHAR","use":"VARCHAR"}]'
SSN_SYSTEM = "http://hl7.org/fhir/sid/us-ssn"


# The MR value, else the resource id, as documented (downstream systems and truth files key
# on them). A Patient whose id equals another's MR value is rejected with it as a duplicate
# id, not merged into it.
_FHIR_KEY = "coalesce(nullif(trim(mr.value), ''), trim(json ->> 'id'))"


def _ehr_fhir(readers: dict[str, str]) -> str:
    # Names: the official (else usual, else unlabelled) one; old names are aliases for later.
    return f"""
WITH line AS (
    SELECT __source_row, CASE WHEN json_valid(__line) THEN json(__line) END AS json,
        CASE WHEN NOT json_valid(__line) THEN 'malformed_json' END AS parse_problem
    FROM {readers['']}
    WHERE trim(coalesce(__line, '')) <> ''
), patient AS (
    SELECT __source_row, parse_problem, json,
        from_json(json -> 'identifier', '{_FHIR_IDENTIFIERS}') AS identifiers,
        list_filter(from_json(json -> 'name', '{_FHIR_NAMES}'),
            lambda n: coalesce(n.use, 'usual') IN ('official', 'usual')) AS names,
        list_filter(from_json(json -> 'address', '{_FHIR_ADDRESSES}'),
            lambda a: coalesce(a.use, 'home') = 'home') AS addresses,
        from_json(json -> 'telecom', '{_FHIR_TELECOM}') AS telecom,
        list_filter(from_json(json -> 'name', '{_FHIR_NAMES}'), lambda n: n.use = 'old') AS old_names
    FROM line
), picked AS (
    SELECT *,
        list_filter(identifiers, lambda i: list_contains(
            list_transform(i.type.coding, lambda c: c.code), 'MR'))[1] AS mr,
        list_filter(identifiers, lambda i: i.system = '{SSN_SYSTEM}' OR list_contains(
            list_transform(i.type.coding, lambda c: c.code), 'SS'))[1].value AS ssn,
        coalesce(list_filter(names, lambda n: n.use = 'official')[1], names[1]) AS name,
        addresses[1] AS address,
        list_filter(telecom, lambda t: t.system = 'phone')[1].value AS phone,
        list_filter(telecom, lambda t: t.system = 'email')[1].value AS email
    FROM patient
)
SELECT __source_row AS source_row, parse_problem,
    {_FHIR_KEY} AS source_record_id,
    false AS is_deleted,
    {landed({
        "first_name": "name.given[1]", "middle_name": "array_to_string(name.given[2:], ' ')",
        "last_name": "name.family", "name_suffix": "name.suffix[1]",
        "dob": "json ->> 'birthDate'", "ssn": "ssn", "sex": "json ->> 'gender'",
        "mrn": "mr.value", "mrn_authority": "mr.system",
        "street": "address.line[1]", "unit": "address.line[2]", "city": "address.city",
        "state": "address.state", "zip": "address.postalCode",
        "phone": "phone", "email": "email",
        "alias_names": "CASE WHEN len(old_names) > 0 THEN to_json(list_transform(old_names, "
                       "lambda n: array_to_string(list_concat(n.given, [n.family]), ' '))) END",
    })},
    coalesce(json, to_json({{'line': __source_row}})) AS raw
FROM picked"""


CALSAWS_COLUMNS = (
    "county_code", "case_number", "person_number", "cin", "ssn", "first_name", "middle_name",
    "last_name", "name_suffix", "dob", "sex", "res_street", "res_unit", "res_city", "res_state",
    "res_zip", "phone",
)
CALSAWS_OPTIONAL = ("mail_street", "mail_city", "mail_state", "mail_zip")
EHR_CSV_COLUMNS = (
    "mrn", "assigning_authority", "last_name", "first_name", "middle_name", "suffix", "dob",
    "gender", "ssn", "address_line1", "address_line2", "city", "state", "zip", "phone", "email",
)
HMIS_CLIENT_COLUMNS = (
    "PersonalID", "FirstName", "MiddleName", "LastName", "NameSuffix", "NameDataQuality", "SSN",
    "SSNDataQuality", "DOB", "DOBDataQuality", "DateDeleted",
)
HMIS_ENROLLMENT_COLUMNS = ("PersonalID", "EntryDate", "HouseholdID", "DateDeleted")
HMIS_FY2024_GENDER = ("Woman", "Man", "NonBinary", "CulturallySpecific", "Transgender",
                      "Questioning", "DifferentIdentity", "GenderNone", "DifferentIdentityText")

SHAPES: dict[str, Shape] = {
    # Mailing address columns are optional: some county extracts carry the residence only.
    "calsaws": Shape("calsaws", ("",), {"": CALSAWS_COLUMNS}, _calsaws, CALSAWS_OPTIONAL),
    "ehr_csv": Shape("ehr_csv", ("",), {"": EHR_CSV_COLUMNS}, _ehr_csv),
    "ehr_fhir": Shape("ehr_fhir", ("",), {}, _ehr_fhir),
    "hmis_fy2024": Shape(
        "hmis", ("Client.csv", "Enrollment.csv", "Export.csv"),
        {"Client.csv": HMIS_CLIENT_COLUMNS + HMIS_FY2024_GENDER,
         "Enrollment.csv": HMIS_ENROLLMENT_COLUMNS, "Export.csv": ("ExportID", "CSVVersion")},
        lambda readers: _hmis(readers, 2024),
    ),
    "hmis_fy2026": Shape(
        "hmis", ("Client.csv", "Enrollment.csv", "Export.csv"),
        {"Client.csv": HMIS_CLIENT_COLUMNS + ("Sex",),
         "Enrollment.csv": HMIS_ENROLLMENT_COLUMNS, "Export.csv": ("ExportID", "CSVVersion")},
        lambda readers: _hmis(readers, 2026),
    ),
}
