"""The source shapes (DESIGN §3) as data: each kind's files, required columns, and the
SQL that maps one delivery onto the landed columns.

A shape's `select` returns a SELECT producing exactly: source_row, parse_problem,
source_record_id, is_deleted, the LANDED_COLUMNS, raw. It reads from reader relations
built in code (linkage.sources.readers); file paths travel as bound parameters.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from linkage.store import LANDED_COLUMNS, quote_identifier


def landed(columns: dict[str, str]) -> str:
    """The landed columns in schema order, NULL where a shape has no such field."""
    return ",\n    ".join(f"{columns.get(name, 'NULL')} AS {name}" for name in LANDED_COLUMNS)


def _raw(alias: str) -> str:
    """The delivered row as JSON (a reader's `__raw`, linkage.sources.readers)."""
    return f"{alias}.__raw"


@dataclass(frozen=True)
class Shape:
    """One source layout, declared: its files, their columns and the SQL that lands them.

    `reader` says how its files are read: `flat` (one CSV or Parquet file per part, with a
    header), `hmis` (an HMIS export folder, its version told by Client.csv's header) or
    `ndjson` (one JSON document per line).
    """

    kind: str
    files: tuple[str, ...]  # the files of one delivery; a single '' means the path itself
    required: dict[str, tuple[str, ...]]  # file -> columns that must be in its header
    select: Callable[[dict[str, str]], str]  # file -> reader SQL  ->  landed SELECT
    optional: tuple[str, ...] = ()  # read when present, NULL when a file lacks them
    reader: str = "flat"
    key: str = ""  # how source_record_id is made, in words
    # Values bound into `select` as $name (a person source's constants), never pasted in.
    values: dict[str, str] = field(default_factory=dict)
    # Columns of a fixed number of digits (an SSN's nine): a typed file holding one as a
    # number has dropped its leading zeros, which the Parquet reader puts back.
    digits: dict[str, int] = field(default_factory=dict)


SSN_DIGITS = 9


def record_key(*parts: str) -> str:
    """SQL joining key parts with `-`. Inside a part, a backslash is doubled and `-` becomes
    backslash-dash, so distinct parts never give one key; plain parts keep the documented
    form (19-1234567-01)."""
    escaped = (f"replace(replace(trim({part}), '\\', '\\\\'), '-', '\\-')" for part in parts)
    return f"concat_ws('-', {', '.join(escaped)})"


@dataclass(frozen=True)
class FlatLayout:
    """A flat extract as data: the key columns and which columns give each landed field.

    One key column is the source_record_id as it is (trimmed); several are joined with
    `record_key`, and a row missing any of them has no key. A field given by several columns
    joins their non-empty values with a space, in the order listed.
    """

    key: tuple[str, ...]
    fields: dict[str, tuple[str, ...]]
    household_key: tuple[str, ...] = ()  # columns whose record_key is the household id
    constants: dict[str, str] = field(default_factory=dict)  # field -> bound parameter name
    # Key columns of a fixed number of digits: a shorter run of digits gets its leading
    # zeros back (a Parquet file typed 1 where the CSV says 01).
    key_digits: dict[str, int] = field(default_factory=dict)

    def _key_part(self, column: str) -> str:
        quoted = quote_identifier(column)
        digits = self.key_digits.get(column)
        if digits is None:
            return quoted
        return (f"CASE WHEN regexp_full_match(trim({quoted}), '[0-9]{{1,{digits - 1}}}') "
                f"THEN lpad(trim({quoted}), {digits}, '0') ELSE {quoted} END")

    def select(self, readers: dict[str, str]) -> str:
        key = [self._key_part(column) for column in self.key]
        if len(key) == 1:
            record_id = f"trim({key[0]})"
        else:
            present = " AND ".join(f"coalesce(trim({part}), '') <> ''" for part in key)
            record_id = f"CASE WHEN {present}\n        THEN {record_key(*key)}\n    END"
        columns = {name: _joined(sources) for name, sources in self.fields.items()}
        columns.update({name: f"${parameter}" for name, parameter in self.constants.items()})
        if "full_name" in columns:  # a whole name in one column fills the parts not mapped
            for name, part in name_parts(columns.pop("full_name")).items():
                columns[name] = (f"coalesce(nullif(trim({columns[name]}), ''), {part})"
                                 if name in columns else part)
        if self.household_key:
            columns["household_id"] = record_key(*map(self._key_part, self.household_key))
        # Rows are numbered where they are inserted (an unnumbered reader, see readers.py).
        return f"""
SELECT CAST(NULL AS BIGINT) AS source_row, NULL AS parse_problem,
    {record_id} AS source_record_id,
    false AS is_deleted,
    {landed(columns)},
    {_raw('src')} AS raw
FROM {readers['']} AS src"""

    @property
    def columns(self) -> tuple[str, ...]:
        """Every file column the layout reads, key first, each once."""
        named = [*self.key, *(c for sources in self.fields.values() for c in sources),
                 *self.household_key]
        return tuple(dict.fromkeys(named))


def _joined(columns: tuple[str, ...]) -> str:
    if len(columns) == 1:
        return quote_identifier(columns[0])
    parts = ", ".join(f"nullif(trim({quote_identifier(c)}), '')" for c in columns)
    return f"nullif(concat_ws(' ', {parts}), '')"


def name_parts(text: str) -> dict[str, str]:
    """SQL for the first, middle and last name in a whole name written as text: "LOPEZ,
    ANA MARIA" (family first, before a comma) or "Ana Maria Lopez" (family last). One word
    is a family name. `text` is a SQL expression.

    >>> sorted(name_parts("n"))
    ['first_name', 'last_name', 'middle_name']
    """
    def words(value: str) -> str:
        return f"list_filter(regexp_split_to_array(trim({value}), '\\s+'), lambda w: w <> '')"
    given = (f"CASE WHEN contains({text}, ',') THEN {words(f'split_part({text}, {chr(39)},{chr(39)}, 2)')} "
             f"ELSE {words(text)}[1:-2] END")
    return {
        "first_name": f"({given})[1]",
        "middle_name": f"nullif(array_to_string(({given})[2:], ' '), '')",
        "last_name": f"CASE WHEN contains({text}, ',') THEN nullif(trim(split_part({text}, ',', 1)), '') "
                     f"ELSE {words(text)}[-1] END",
    }


def _fields(**columns: str) -> dict[str, tuple[str, ...]]:
    return {name: (column,) for name, column in columns.items()}


CALSAWS = FlatLayout(
    key=("county_code", "case_number", "person_number"),
    fields=_fields(first_name="first_name", middle_name="middle_name", last_name="last_name",
                   name_suffix="name_suffix", dob="dob", ssn="ssn", sex="sex", cin="cin",
                   street="res_street", unit="res_unit", city="res_city", state="res_state",
                   zip="res_zip", mail_street="mail_street", mail_city="mail_city",
                   mail_state="mail_state", mail_zip="mail_zip", phone="phone"),
    household_key=("county_code", "case_number"),
    key_digits={"county_code": 2, "person_number": 2},  # 19-1234567-01 (DESIGN §3)
)
EHR_CSV = FlatLayout(
    key=("mrn",),
    fields=_fields(first_name="first_name", middle_name="middle_name", last_name="last_name",
                   name_suffix="suffix", dob="dob", ssn="ssn", sex="gender", mrn="mrn",
                   mrn_authority="assigning_authority", street="address_line1",
                   unit="address_line2", city="city", state="state", zip="zip", phone="phone",
                   email="email"),
)

def person_shape(key: tuple[str, ...], columns: dict[str, str],
                 constants: dict[str, str]) -> Shape:
    """The shape of one `person` source, from its config: `key` (file columns), `columns`
    (file column -> field; several columns to one field are joined in the order given) and
    `constants` (field -> fixed value, bound as a parameter).

    >>> shape = person_shape(("ParticipantID",), {"StreetNumber": "street",
    ...                      "StreetName": "street"}, {"state": "CA"})
    >>> shape.required[""], shape.values
    (('ParticipantID', 'StreetNumber', 'StreetName'), {'constant_state': 'CA'})
    """
    fields: dict[str, tuple[str, ...]] = {}
    for column, name in columns.items():
        fields[name] = (*fields.get(name, ()), column)
    parameters = {name: f"constant_{name}" for name in constants}
    layout = FlatLayout(key=tuple(key), fields=fields, constants=parameters)
    return Shape("person", ("",), {"": layout.columns}, layout.select,
                 key=_key_words(layout.key),
                 values={parameters[name]: value for name, value in constants.items()},
                 digits={column: SSN_DIGITS for column in fields.get("ssn", ())})


def _key_words(columns: tuple[str, ...]) -> str:
    return columns[0] if len(columns) == 1 else "-".join(columns)


# HMIS data-quality codes 8, 9 and 99 mean the value is absent whatever the field says.
def _hmis_value(column: str, quality: str) -> str:
    return f"CASE WHEN {quality} IN ('8', '9', '99') THEN NULL ELSE {column} END"


def _hmis(readers: dict[str, str], fiscal_year: int) -> str:
    sex = HMIS_SEX[fiscal_year]
    return f"""
SELECT c.__source_row AS source_row, NULL AS parse_problem,
    trim(c.PersonalID) AS source_record_id,
    -- Deleted when DateDeleted holds a date (any digit): not when it is empty or an empty
    -- value written out (NULL, #N/A) by the tool that made the export.
    regexp_matches(coalesce(c.DateDeleted, ''), '[0-9]') AS is_deleted,
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
    FROM (SELECT PersonalID, HouseholdID, DateDeleted,
            CASE WHEN regexp_matches(EntryDate, '[0-9]') THEN EntryDate END AS EntryDate
        FROM {readers['Enrollment.csv']})
    WHERE NOT regexp_matches(coalesce(DateDeleted, ''), '[0-9]')
    GROUP BY PersonalID
) AS e ON e.PersonalID = c.PersonalID"""


# Each list element's fields; values FHIR readers in the wild get in several shapes are read
# as JSON first and put right by _fhir_list and _fhir_texts.
_FHIR_IDENTIFIERS = '[{"system":"VARCHAR","value":"VARCHAR","type":"JSON"}]'
_FHIR_NAMES = '[{"use":"VARCHAR","text":"VARCHAR","family":"JSON","given":"JSON","suffix":"JSON"}]'
_FHIR_ADDRESSES = '[{"use":"VARCHAR","line":"JSON","city":"VARCHAR","state":"VARCHAR","postalCode":"VARCHAR"}]'
_FHIR_TELECOM = '[{"system":"VARCHAR","value":"VARCHAR","use":"VARCHAR"}]'
_FHIR_CODINGS = '[{"code":"VARCHAR"}]'
_JSON_SCALARS = "('VARCHAR', 'BIGINT', 'UBIGINT', 'DOUBLE')"


def _fhir_list(value: str) -> str:
    """SQL: the JSON `value` as a list: a list as it is, one object (or text) as a list of
    it, JSON null or nothing as NULL. Exports write a single `name`, `address` or
    `identifier` as an object where FHIR says a list of one."""
    return (f"CASE WHEN json_type({value}) = 'ARRAY' THEN {value} "
            f"WHEN json_type({value}) <> 'NULL' THEN json_array({value}) END")


def _fhir_texts(value: str) -> str:
    """SQL: the JSON `value` as a list of its non-empty texts: `given` or `line` written as
    one string where FHIR says a list of strings."""
    return (f"list_filter(CASE WHEN json_type({value}) = 'ARRAY' THEN from_json({value}, '[\"VARCHAR\"]') "
            f"WHEN json_type({value}) IN {_JSON_SCALARS} THEN [{value} ->> '$'] END, "
            f"lambda t: trim(t) <> '')")


def _fhir_text(value: str) -> str:
    """SQL: the JSON `value` as one text: `family` as a string, or as a list of words (as
    FHIR DSTU2 wrote it)."""
    return f"nullif(array_to_string({_fhir_texts(value)}, ' '), '')"


SSN_SYSTEM = "http://hl7.org/fhir/sid/us-ssn"
# The SSN's OID, which many EHRs (and C-CDA-derived exports) put in place of the URL.
SSN_OID = "urn:oid:2.16.840.1.113883.4.1"


# The MR value, else the resource id, as documented (downstream systems and truth files key
# on them). A Patient whose id equals another's MR value is rejected with it as a duplicate
# id, not merged into it.
_FHIR_KEY = "coalesce(nullif(trim(mr.value), ''), trim(json ->> 'id'))"


def _ehr_fhir(readers: dict[str, str]) -> str:
    # Names: the official, else a usual or unlabelled, else any current one (a nickname or
    # temp name rather than none); old and maiden names are aliases, for surname changes.
    # A name given only as text ("LOPEZ, ANA MARIA" or "Ana Maria Lopez") is split into
    # family and given names. Address: home (or unlabelled), else any but old and work.
    text = name_parts("name.text")
    return f"""
WITH line AS (
    SELECT __source_row, CASE WHEN json_valid(__line) THEN json(__line) END AS json,
        -- A line that is not a JSON object with a resourceType (null, a list, a bare
        -- string, an empty object) is no resource: one reject, like a line cut short.
        CASE WHEN NOT json_valid(__line) OR json_type(__line) <> 'OBJECT'
            OR (json(__line) ->> 'resourceType') IS NULL THEN 'malformed_json' END AS parse_problem
    FROM {readers['']}
    WHERE trim(coalesce(__line, '')) <> ''
), patient AS (
    SELECT __source_row, parse_problem, json,
        list_transform(from_json({_fhir_list("json -> 'identifier'")}, '{_FHIR_IDENTIFIERS}'),
            lambda i: {{'system': i.system, 'value': i.value, 'type_text': upper(trim(i.type ->> 'text')),
                'codes': list_transform(from_json({_fhir_list("i.type -> 'coding'")}, '{_FHIR_CODINGS}'),
                    lambda c: upper(trim(c.code)))}}) AS identifiers,
        -- A name written as text alone ("name": "Ana Lopez") is that name's text.
        list_transform(from_json(CASE WHEN json_type(json -> 'name') = 'VARCHAR'
                THEN json_array(json_object('text', json ->> 'name'))
                ELSE {_fhir_list("json -> 'name'")} END, '{_FHIR_NAMES}'),
            lambda n: {{'use': lower(trim(n.use)), 'text': n.text, 'family': {_fhir_text('n.family')},
                'given': {_fhir_texts('n.given')}, 'suffix': {_fhir_texts('n.suffix')}}}) AS names,
        list_transform(from_json({_fhir_list("json -> 'address'")}, '{_FHIR_ADDRESSES}'),
            lambda a: {{'use': lower(trim(a.use)), 'line': {_fhir_texts('a.line')}, 'city': a.city,
                'state': a.state, 'postalCode': a.postalCode}}) AS addresses,
        list_transform(from_json({_fhir_list("json -> 'telecom'")}, '{_FHIR_TELECOM}'),
            lambda t: {{'system': lower(trim(t.system)), 'value': t.value}}) AS telecom
    FROM line
), picked AS (
    SELECT *,
        list_filter(identifiers, lambda i: list_contains(i.codes, 'MR')
            OR i.type_text IN ('MR', 'MRN', 'MEDICAL RECORD NUMBER'))[1] AS mr,
        list_filter(identifiers, lambda i: i.system IN ('{SSN_SYSTEM}', '{SSN_OID}')
            OR list_contains(i.codes, 'SS')
            OR i.type_text IN ('SS', 'SSN', 'SOCIAL SECURITY NUMBER'))[1].value AS ssn,
        coalesce(list_filter(names, lambda n: n.use = 'official')[1],
                 list_filter(names, lambda n: coalesce(n.use, 'usual') = 'usual')[1],
                 list_filter(names, lambda n: n.use NOT IN ('old', 'maiden', 'anonymous'))[1])
            AS name,
        list_filter(names, lambda n: n.use IN ('old', 'maiden')) AS old_names,
        coalesce(list_filter(addresses, lambda a: coalesce(a.use, 'home') = 'home')[1],
                 list_filter(addresses, lambda a: a.use NOT IN ('old', 'work'))[1]) AS address,
        list_filter(telecom, lambda t: t.system = 'phone')[1].value AS phone,
        list_filter(telecom, lambda t: t.system = 'email')[1].value AS email
    FROM patient
), parts AS (
    SELECT *, name.family IS NULL AND len(coalesce(name.given, [])) = 0 AS text_only
    FROM picked
)
SELECT __source_row AS source_row, parse_problem,
    {_FHIR_KEY} AS source_record_id,
    false AS is_deleted,
    {landed({
        "first_name": f"CASE WHEN text_only THEN {text['first_name']} ELSE name.given[1] END",
        "middle_name": f"CASE WHEN text_only THEN {text['middle_name']} "
                       "ELSE nullif(array_to_string(name.given[2:], ' '), '') END",
        "last_name": f"CASE WHEN text_only THEN {text['last_name']} ELSE name.family END",
        "name_suffix": "name.suffix[1]",
        "dob": "json ->> 'birthDate'", "ssn": "ssn", "sex": "json ->> 'gender'",
        "mrn": "mr.value", "mrn_authority": "mr.system",
        "street": "address.line[1]", "unit": "address.line[2]", "city": "address.city",
        "state": "address.state", "zip": "address.postalCode",
        "phone": "phone", "email": "email",
        "alias_names": "CASE WHEN len(old_names) > 0 THEN to_json(list_transform(old_names, "
                       "lambda n: coalesce(nullif(array_to_string(list_concat(n.given, [n.family]), ' '), ''), "
                       "n.text))) END",
    })},
    coalesce(json, to_json({{'line': __source_row}})) AS raw
FROM parts"""


# A built-in flat layout requires its key and the name and birth-date columns: a file
# without them is the wrong file, or one whose columns were renamed (stop, and say so).
# Any other column an extract may lack (another county system leaves out the CIN, the unit,
# the e-mail): a file without it lands with the field empty, and the run counts the rows
# as a `column_absent` warning of that field.
CALSAWS_COLUMNS = (
    "county_code", "case_number", "person_number", "cin", "ssn", "first_name", "middle_name",
    "last_name", "name_suffix", "dob", "sex", "res_street", "res_unit", "res_city", "res_state",
    "res_zip", "phone",
)
CALSAWS_REQUIRED = ("county_code", "case_number", "person_number", "first_name", "last_name",
                    "dob")
CALSAWS_OPTIONAL = (*(column for column in CALSAWS_COLUMNS if column not in CALSAWS_REQUIRED),
                    "mail_street", "mail_city", "mail_state", "mail_zip")
EHR_CSV_COLUMNS = (
    "mrn", "assigning_authority", "last_name", "first_name", "middle_name", "suffix", "dob",
    "gender", "ssn", "address_line1", "address_line2", "city", "state", "zip", "phone", "email",
)
EHR_CSV_REQUIRED = ("mrn", "last_name", "first_name", "dob")
EHR_CSV_OPTIONAL = tuple(column for column in EHR_CSV_COLUMNS if column not in EHR_CSV_REQUIRED)
HMIS_CLIENT_COLUMNS = (
    "PersonalID", "FirstName", "MiddleName", "LastName", "NameSuffix", "NameDataQuality", "SSN",
    "SSNDataQuality", "DOB", "DOBDataQuality", "DateDeleted",
)
HMIS_ENROLLMENT_COLUMNS = ("PersonalID", "EntryDate", "HouseholdID", "DateDeleted")
HMIS_FY2024_GENDER = ("Woman", "Man", "NonBinary", "CulturallySpecific", "Transgender",
                      "Questioning", "DifferentIdentity", "GenderNone", "DifferentIdentityText")
HMIS_FY2022_GENDER = ("Female", "Male", "NoSingleGender", "Transgender", "Questioning",
                      "GenderNone")
# Each HMIS CSV version by the Client.csv columns that tell it (newest first) and how it
# records sex: FY2026 one Sex element (0 female, 1 male); FY2024 and FY2022 one yes/no
# column per gender (a woman or man, not both); FY2020 and earlier one Gender element
# (0 female, 1 male; the other codes say nothing of sex at birth).
HMIS_VERSIONS = {
    2026: ("Sex",),
    2024: HMIS_FY2024_GENDER,
    2022: HMIS_FY2022_GENDER,
    2020: ("Gender",),
}
HMIS_SEX = {
    2026: "CASE c.Sex WHEN '0' THEN 'F' WHEN '1' THEN 'M' END",
    2024: "CASE WHEN c.Woman = '1' AND c.Man <> '1' THEN 'F' "
          "WHEN c.Man = '1' AND c.Woman <> '1' THEN 'M' END",
    2022: "CASE WHEN c.Female = '1' AND c.Male <> '1' THEN 'F' "
          "WHEN c.Male = '1' AND c.Female <> '1' THEN 'M' END",
    2020: "CASE c.Gender WHEN '0' THEN 'F' WHEN '1' THEN 'M' END",
}

_HMIS_FILES = ("Client.csv", "Enrollment.csv", "Export.csv")
_HMIS_KEY = "PersonalID (Client.csv)"

# Every built-in layout, by name. A kind with several layouts (HMIS FY2020 to FY2026) has
# one entry per layout; `KINDS` says which layouts a kind reads.
SHAPES: dict[str, Shape] = {
    "calsaws": Shape("calsaws", ("",), {"": CALSAWS_REQUIRED}, CALSAWS.select, CALSAWS_OPTIONAL,
                     key="county_code-case_number-person_number", digits={"ssn": SSN_DIGITS}),
    "ehr_csv": Shape("ehr_csv", ("",), {"": EHR_CSV_REQUIRED}, EHR_CSV.select, EHR_CSV_OPTIONAL,
                     key="mrn"),
    "ehr_fhir": Shape("ehr_fhir", ("",), {}, _ehr_fhir, reader="ndjson",
                      key="the MR identifier's value, else Patient.id"),
    # One HMIS layout per CSV version; Export.csv carries CSVVersion from FY2022 on.
    **{f"hmis_fy{year}": Shape(
        "hmis", _HMIS_FILES,
        {"Client.csv": HMIS_CLIENT_COLUMNS + gender, "Enrollment.csv": HMIS_ENROLLMENT_COLUMNS,
         "Export.csv": ("ExportID", "CSVVersion") if year >= 2022 else ("ExportID",)},
        lambda readers, year=year: _hmis(readers, year), reader="hmis", key=_HMIS_KEY,
    ) for year, gender in HMIS_VERSIONS.items()},
}


@dataclass(frozen=True)
class Kind:
    """A `kind:` of the run config: what it is, the files it takes, its layouts and the
    source settings it reads besides name, kind, path, encoding, date_format, snapshot and
    deduplicated."""

    name: str
    description: str
    suffixes: tuple[str, ...]  # files taken from a folder or glob ('' : the path is a folder)
    shapes: tuple[str, ...]  # names in SHAPES; none for `person` (its config is its shape)
    settings: tuple[str, ...] = ()


KINDS: dict[str, Kind] = {kind.name: kind for kind in (
    Kind("calsaws", "county eligibility extract (CalFresh, CalWORKs, Medi-Cal), one row per "
         "person per case", (".csv", ".parquet"), ("calsaws",), ("columns",)),
    Kind("hmis", "HUD HMIS CSV export folder (FY2020 to FY2026, told by Client.csv's header)",
         ("",), tuple(f"hmis_fy{year}" for year in sorted(HMIS_VERSIONS))),
    Kind("ehr_csv", "flat EHR patient demographics", (".csv",), ("ehr_csv",), ("columns",)),
    Kind("ehr_fhir", "FHIR R4 Patient resources, one per line (Bulk Data $export NDJSON), "
         "or a Bundle of them (a FHIR search's page, a simulator's Bundle per patient), or "
         "one Patient per .json file", (".ndjson", ".jsonl", ".json"), ("ehr_fhir",)),
    Kind("person", "any other flat person extract (WIC, behavioral health, justice, plan "
         "enrollment): its columns mapped onto the person fields by config",
         (".csv", ".parquet"), (), ("key", "columns", "constants")),
)}
