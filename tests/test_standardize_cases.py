"""More standardization rules (DESIGN §5), California cases first: input -> expected."""

from __future__ import annotations

import datetime as dt
import logging

import pytest
from test_standardize import record_id, standardize_all

from linkage.standardize import write_standardized
from linkage.store import open_store

NAMES = [
    ({"first_name": "María José", "last_name": "Núñez"}, {"first_name": "MARIA JOSE", "last_name": "NUNEZ"}),
    ({"last_name": "Peña-Ibáñez"}, {"last_name": "PENA IBANEZ", "surname_parts": ["PENA", "IBANEZ"]}),
    ({"last_name": "De La Cruz"}, {"last_name": "DE LA CRUZ", "surname_parts": ["CRUZ"]}),
    ({"last_name": "Dela Cruz"}, {"surname_parts": ["CRUZ"]}),
    ({"last_name": "Hernández y Ruiz"}, {"surname_parts": ["HERNANDEZ", "RUIZ"]}),
    ({"last_name": "Van Der Berg"}, {"surname_parts": ["BERG"]}),
    ({"last_name": "GARCIALOPEZ"}, {"surname_parts": ["GARCIALOPEZ"]}),
    ({"last_name": "Smith-Jones"}, {"last_name": "SMITH JONES", "surname_parts": ["SMITH", "JONES"]}),
    ({"last_name": "D'Angelo"}, {"last_name": "DANGELO"}),
    ({"last_name": "Müller"}, {"last_name": "MULLER"}),
    ({"last_name": "Łukasz"}, {"last_name": "LUKASZ"}),
    ({"last_name": "Strauß"}, {"last_name": "STRAUSS"}),
    ({"first_name": "Zoë"}, {"first_name": "ZOE"}),
    ({"first_name": "J.R.", "last_name": "Ewing"}, {"first_name": "JR"}),
    ({"first_name": "Mr. John", "last_name": "Lee"}, {"first_name": "JOHN"}),
    ({"last_name": "Smith Sr"}, {"last_name": "SMITH", "name_suffix": "SR"}),
    ({"last_name": "King III"}, {"last_name": "KING", "name_suffix": "III"}),
    ({"last_name": "King 3rd"}, {"last_name": "KING", "name_suffix": "III"}),
    ({"last_name": "Ford", "name_suffix": "Junior"}, {"name_suffix": "JR"}),
    ({"last_name": "Ford", "name_suffix": "2nd"}, {"name_suffix": "II"}),
    ({"last_name": "Ford", "name_suffix": "MD"}, {"name_suffix": None}),
    ({"first_name": "Robert Jr", "last_name": "Ford"}, {"first_name": "ROBERT", "name_suffix": "JR"}),
    ({"first_name": "FNU", "last_name": "Lopez"}, {"first_name": None, "last_name": "LOPEZ"}),
    ({"first_name": "Ana", "last_name": "LNU"}, {"last_name": None}),
    ({"first_name": "NFN", "last_name": "Tran"}, {"first_name": None}),
    # "NULL" is how many export tools write an empty value.
    ({"first_name": "null", "last_name": "Tran"}, {"first_name": None, "last_name": "TRAN"}),
    ({"first_name": "Baby Boy", "last_name": "Garcia"}, {"first_name": None, "last_name": "GARCIA"}),
    ({"first_name": "BB", "last_name": "Kim"}, {"first_name": None}),
    ({"first_name": "BG", "last_name": "Kim"}, {"first_name": None}),
    ({"first_name": "Trauma", "last_name": "Alpha"}, {"first_name": None}),
    ({"first_name": "Trauma 1234"}, {"first_name": None}),
    ({"first_name": "ZZTRAUMA"}, {"first_name": None}),
    ({"first_name": "Jane", "last_name": "Doe"}, {"first_name": None, "last_name": None, "surname_parts": None}),
    ({"first_name": "Richard", "last_name": "Doe"}, {"last_name": "DOE"}),
    ({"first_name": "Test", "last_name": "Patient"}, {"first_name": None, "last_name": None}),
    ({"first_name": "Unknown", "last_name": "Unknown"}, {"first_name": None, "last_name": None}),
    ({"first_name": "XXX"}, {"first_name": None}),
    ({"first_name": "N/A"}, {"first_name": None}),
    ({"first_name": "Paco"}, {"first_name_canonical": "FRANCISCO"}),
    ({"first_name": "Chepe"}, {"first_name_canonical": "JOSE"}),
    ({"first_name": "Lupita"}, {"first_name_canonical": "GUADALUPE"}),
    ({"first_name": "Nacho"}, {"first_name_canonical": "IGNACIO"}),
    ({"first_name": "Memo"}, {"first_name_canonical": "GUILLERMO"}),
    ({"first_name": "Lalo"}, {"first_name_canonical": "EDUARDO"}),
    ({"first_name": "Chuy"}, {"first_name_canonical": "JESUS"}),
    ({"first_name": "Toño"}, {"first_name": "TONO", "first_name_canonical": "ANTONIO"}),
    ({"first_name": "Concha"}, {"first_name_canonical": "CONCEPCION"}),
    ({"first_name": "Nando"}, {"first_name_canonical": "FERNANDO"}),
    ({"first_name": "Rafa"}, {"first_name_canonical": "RAFAEL"}),
    ({"first_name": "Chente"}, {"first_name_canonical": "VICENTE"}),
    ({"first_name": "Bob"}, {"first_name_canonical": "ROBERT"}),
    ({"first_name": "Peggy"}, {"first_name_canonical": "MARGARET"}),
    ({"first_name": "Liz"}, {"first_name_canonical": "ELIZABETH"}),
    ({"first_name": "Nguyen", "middle_name": "Van", "last_name": "An"},
     {"first_name": "NGUYEN", "last_name": "AN", "family_name_first": True,
      "name_tokens": ["AN", "NGUYEN"]}),
    ({"first_name": "An", "middle_name": "Van", "last_name": "Nguyen"},
     {"family_name_first": False, "name_tokens": ["AN", "NGUYEN"]}),
    ({"first_name": "Kim", "last_name": "Min Jun"}, {"family_name_first": True}),
    ({"first_name": "Maria", "middle_name": "Guadalupe", "last_name": "Reyes"},
     {"name_tokens": ["GUADALUPE", "MARIA", "REYES"]}),
    ({"first_name": "Guadalupe", "middle_name": "Maria", "last_name": "Reyes"},
     {"name_tokens": ["GUADALUPE", "MARIA", "REYES"]}),
    ({"first_name": "Reyes", "last_name": "Maria"}, {"name_tokens": ["MARIA", "REYES"], "family_name_first": False}),
    ({"first_name": "Schwarzenegger"}, {"first_name_phonetic": "SXWRSNJR"}),
]

IDENTIFIERS = [
    ({"ssn": "524 71 9043"}, {"ssn": "524719043", "ssn_quality": "full"}),
    ({"ssn": "734-12-3456"}, {"ssn": "734123456", "ssn_quality": "full"}),
    ({"ssn": "999-99-9999"}, {"ssn": None, "ssn_quality": "invalid"}),
    ({"ssn": "000000000"}, {"ssn": None, "ssn_last4": None, "ssn_quality": "invalid"}),
    ({"ssn": "900-12-3456"}, {"ssn": None, "ssn_quality": "invalid"}),
    ({"ssn": "666-45-6789"}, {"ssn": None, "ssn_quality": "invalid"}),
    ({"ssn": "5247190431"}, {"ssn": None, "ssn_quality": "invalid"}),
    # A typed extract's float: the digits, not a tenth digit.
    ({"ssn": "524719043.0"}, {"ssn": "524719043", "ssn_quality": "full"}),
    ({"ssn": "524719043.5"}, {"ssn": None, "ssn_quality": "invalid"}),
    ({"phone": "9163214567.0"}, {"phone": "9163214567"}),
    ({"ssn": "9043"}, {"ssn": None, "ssn_last4": "9043", "ssn_quality": "partial"}),
    ({"ssn": "xxx-xx-0000"}, {"ssn_last4": None, "ssn_quality": "partial"}),
    ({"ssn": "524-71-xxxx"}, {"ssn": None, "ssn_last4": None, "ssn_quality": "partial"}),
    ({"ssn": "x9043"}, {"ssn_last4": "9043", "ssn_quality": "partial"}),
    ({"ssn": "N/A"}, {"ssn": None, "ssn_quality": None}),  # no value written out, not a bad one
    ({"ssn": "NULL"}, {"ssn": None, "ssn_quality": None}),
    ({"street": "NULL", "zip": "#N/A"}, {"street": None, "zip5": None}),
    ({"household_id": "NULL"}, {"household_id": None}),
    ({"middle_name": "nan"}, {"middle_name": None}),
    ({"cin": " 12345678-a "}, {"cin": "12345678A"}),
    ({"cin": "00000000A"}, {"cin": None}),
    ({"cin": "123456789"}, {"cin": None}),
    ({"cin": "A12345678"}, {"cin": None}),
    ({"mrn": " 00451234 ", "mrn_authority": "EASTSIDE_CHC"}, {"mrn": "00451234", "mrn_authority": "eastside_chc"}),
    ({"mrn": "3545824300", "mrn_authority": "urn:oid:2.16.840.1.113883.3.9999.2"},
     {"mrn": "3545824300", "mrn_authority": "2.16.840.1.113883.3.9999.2"}),
    ({"mrn": "a77", "mrn_authority": "https://hospital.example.org/mrn"},
     {"mrn": "A77", "mrn_authority": "hospital.example.org/mrn"}),
    ({"mrn": "UNKNOWN", "mrn_authority": "X"}, {"mrn": None, "mrn_authority": None}),
    ({"phone": "+1 (323) 555-0199"}, {"phone": "3235550199"}),
    ({"phone": "323.555.0199 ext 12"}, {"phone": "3235550199"}),
    ({"phone": "323-555-0199 x4"}, {"phone": "3235550199"}),
    ({"phone": "123-456-7890"}, {"phone": None}),
    ({"phone": "323-055-0199"}, {"phone": None}),
    ({"phone": "323-555-5555"}, {"phone": None}),
    ({"phone": "1111111111"}, {"phone": None}),
    ({"phone": "32355501999"}, {"phone": None}),
    ({"email": "JUAN.PEREZ+clinic@Gmail.com"}, {"email": "juan.perez+clinic@gmail.com"}),
    ({"email": "none@none.com"}, {"email": None}),
    ({"email": "noemail@gmail.com"}, {"email": None}),
    ({"email": "a@b"}, {"email": None}),
    ({"email": "two@@signs.com"}, {"email": None}),
    ({"email": "dots..here@example.com"}, {"email": None}),
    ({"sex": "Male"}, {"sex": "M"}),
    ({"sex": "f"}, {"sex": "F"}),
    ({"sex": "X"}, {"sex": None}),
    ({"sex": "M - Male"}, {"sex": "M"}),
    ({"sex": "Mujer"}, {"sex": "F"}),
    ({"sex": "FALSE"}, {"sex": None}),
    ({"sex": "MTF"}, {"sex": None}),
    ({"sex": "Unknown"}, {"sex": None}),
]

DATES = [
    ("3/5/1980", dt.date(1980, 3, 5), "full"),
    ("1980-3-5", dt.date(1980, 3, 5), "full"),
    ("03-15-1980", dt.date(1980, 3, 15), "full"),
    ("1980/03/15", dt.date(1980, 3, 15), "full"),
    ("1980-03-15T00:00:00Z", dt.date(1980, 3, 15), "full"),
    ("1980-03-15 00:00:00", dt.date(1980, 3, 15), "full"),
    ("03/15/1980 00:00", dt.date(1980, 3, 15), "full"),
    ("15-MAR-1980", dt.date(1980, 3, 15), "full"),
    ("15-Mar-80", dt.date(1980, 3, 15), "full"),
    ("03/15/80", dt.date(1980, 3, 15), "full"),
    ("03/15/05", dt.date(2005, 3, 15), "full"),
    ("3151980", dt.date(1980, 3, 15), "full"),  # MMDDYYYY typed as a number
    ("3151980.0", dt.date(1980, 3, 15), "full"),  # ... and as a float
    ("1980", None, "partial"),
    ("1980-03", None, "partial"),
    ("02/30/1980", None, "invalid"),
    ("1980-13-01", None, "invalid"),
    ("not a date", None, "unparseable"),
    ("01/01/1900", None, "invalid"),
    ("1800-01-01", None, "invalid"),
    ("9999-12-31", None, "invalid"),
    ("2030-01-01", dt.date(2030, 1, 1), "future"),  # kept as recorded, counted
    ("1914-12-31", dt.date(1914, 12, 31), "before_1915"),
    ("01/01/1990", dt.date(1990, 1, 1), "january_first"),
]

ADDRESSES = [
    ({"street": "123 N. Main St."}, {"street": "123 N MAIN ST", "address_kind": "residential"}),
    ({"street": "500 South Figueroa Street"}, {"street": "500 S FIGUEROA ST"}),
    ({"street": "77 Sunset Boulevard West"}, {"street": "77 SUNSET BLVD W"}),
    ({"street": "10 Lake Avenue"}, {"street": "10 LAKE AVE"}),
    ({"street": "12 North Street"}, {"street": "12 NORTH ST"}),
    ({"street": "88 Pine Terrace"}, {"street": "88 PINE TER"}),
    ({"street": "4 Mission Road"}, {"street": "4 MISSION RD", "address_kind": "residential"}),
    ({"street": "2400 Camino Real"}, {"street": "2400 CAMINO REAL"}),
    ({"street": "15 Avenida de la Playa"}, {"street": "15 AVENIDA DE LA PLAYA"}),
    ({"street": "9 Via Vista"}, {"street": "9 VIA VISTA"}),
    ({"street": "31 Calle Mayor Apt 2"}, {"street": "31 CALLE MAYOR", "unit": "2"}),
    ({"street": "1200 W 7th St Ste 300"}, {"street": "1200 W 7TH ST", "unit": "300"}),
    ({"street": "1200 W 7th St Suite 300"}, {"street": "1200 W 7TH ST", "unit": "300"}),
    ({"street": "5 Elm Drive Space 14"}, {"street": "5 ELM DR", "unit": "14"}),
    ({"street": "5 Elm Dr Spc 14"}, {"street": "5 ELM DR", "unit": "14"}),
    ({"street": "700 Wilshire Blvd 12"}, {"street": "700 WILSHIRE BLVD", "unit": "12"}),
    ({"street": "700 Wilshire Blvd", "unit": "#12"}, {"street": "700 WILSHIRE BLVD", "unit": "12"}),
    ({"street": "700 Wilshire Blvd", "unit": "Apartment 3B"}, {"unit": "3B"}),
    ({"street": "P.O. Box 1234"}, {"street": "PO BOX 1234", "address_kind": "mailing"}),
    ({"street": "Post Office Box 77"}, {"street": "PO BOX 77", "address_kind": "mailing"}),
    ({"street": "General Delivery", "city": "Los Angeles", "zip": "90086"},
     {"street": None, "address_kind": "general_delivery", "zip5": "90086"}),
    ({"street": "GEN DELIVERY"}, {"address_kind": "general_delivery"}),
    ({"street": "Transient"}, {"street": None, "address_kind": "homeless"}),
    ({"street": "No Fixed Address"}, {"address_kind": "homeless"}),
    ({"street": "Unhoused - lives in car"}, {"address_kind": "homeless"}),
    ({"street": "Union Rescue Mission"}, {"address_kind": "shelter"}),
    ({"street": "The Midnight Mission"}, {"address_kind": "shelter"}),
    ({"street": "LA Family Shelter Bed 4"}, {"address_kind": "shelter"}),
    ({"street": "545 S San Pedro Street", "zip": "90013"},
     {"street": "545 S SAN PEDRO ST", "address_kind": "shelter"}),
    ({"street": "545 S San Pedro St", "city": "Los Angeles"}, {"address_kind": "shelter"}),
    ({"street": "545 S San Pedro St", "zip": "91101"}, {"address_kind": "residential"}),
    ({"street": "1300 S Figueroa St", "zip": "90015"}, {"address_kind": "shelter"}),
    ({"street": "2707 S Grand Avenue", "zip": "90007"},
     {"street": "2707 S GRAND AVE", "address_kind": "agency_office"}),
    ({"street": "2855 E Olympic Blvd", "zip": "90023"}, {"address_kind": "agency_office"}),
    ({"street": "c/o DPSS Metro East"}, {"address_kind": "agency_office"}),
    ({"street": "c/o Maria Lopez, 12 Oak St"}, {"address_kind": "mailing"}),
    ({"street": "None"}, {"street": None, "address_kind": "none"}),
    ({"street": "Unknown"}, {"street": None, "address_kind": "none"}),
    ({"city": "los angeles", "state": "California", "zip": "900121234"},
     {"city": "LOS ANGELES", "state": "CA", "zip5": "90012"}),
    ({"state": "ca"}, {"state": "CA"}),
    ({"state": "ZZ"}, {"state": None}),
    ({"zip": "00000"}, {"zip5": None}),
    ({"zip": "9001"}, {"zip5": None}),
    ({"zip": "95814.0"}, {"zip5": "95814"}),
]

CASES = ([raw for raw, _ in NAMES] + [raw for raw, _ in IDENTIFIERS]
         + [{"dob": raw} for raw, *_ in DATES] + [raw for raw, _ in ADDRESSES])


@pytest.fixture(scope="module")
def people(tmp_path_factory) -> dict[str, dict]:
    return standardize_all(tmp_path_factory.mktemp("cases") / "store.duckdb", CASES)


def _check(person: dict, expected: dict) -> None:
    assert {key: person[key] for key in expected} == expected


@pytest.mark.parametrize("raw, expected", NAMES)
def test_names_california(people, raw, expected):
    _check(people[record_id(raw)], expected)


@pytest.mark.parametrize("raw, expected", IDENTIFIERS)
def test_identifiers_phones_emails(people, raw, expected):
    _check(people[record_id(raw)], expected)


@pytest.mark.parametrize("raw, dob, quality", DATES)
def test_date_formats_and_placeholders(people, raw, dob, quality):
    person = people[record_id({"dob": raw})]
    assert (person["dob"], person["dob_quality"]) == (dob, quality)


@pytest.mark.parametrize("raw, expected", ADDRESSES)
def test_addresses_pub28_and_kinds(people, raw, expected):
    _check(people[record_id(raw)], expected)


def test_standardize_logs_no_input_values(tmp_path, caplog):
    raw = {"first_name": "Zacarias", "last_name": "Quintanilla", "ssn": "524-71-9043",
           "street": "4321 Calle Secreta", "dob": "1971-07-04"}
    with caplog.at_level(logging.DEBUG):
        standardize_all(tmp_path / "store.duckdb", [raw])
    logged = caplog.text.upper()
    assert caplog.records and not any(
        value.upper() in logged for value in ("ZACARIAS", "QUINTANILLA", "524", "CALLE SECRETA", "1971"))


def test_phonetic_keys_are_computed_once_per_distinct_name(tmp_path, monkeypatch):
    import jellyfish
    calls = []
    real = jellyfish.metaphone
    monkeypatch.setattr(jellyfish, "metaphone", lambda name: calls.append(name) or real(name))
    standardize_all(tmp_path / "store.duckdb",
                    [{"first_name": "Ana", "last_name": f"Lopez{'x' * (i % 2)}", "dob": str(i)}
                     for i in range(50)])
    assert sorted(calls) == ["ANA", "LOPEZ", "LOPEZX"]


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_write_standardized_writes_every_person_owner_only(tmp_path, suffix):
    store_path = tmp_path / "store.duckdb"
    standardize_all(store_path, [{"first_name": "Ana"}, {"first_name": "Luis"}])
    out = tmp_path / "out" / f"person{suffix}"
    with open_store(store_path) as store:
        assert write_standardized(store, out) == 2
        reader = "read_csv" if suffix == ".csv" else "read_parquet"
        names = store.con.execute(f"SELECT first_name FROM {reader}(?) ORDER BY 1", [str(out)]).fetchall()
    assert names == [("ANA",), ("LUIS",)]
    assert out.stat().st_mode & 0o777 == 0o600


def test_known_addresses_are_in_the_form_standardize_produces(tmp_path):
    import csv
    from importlib.resources import files
    with (files("linkage.standardize") / "data" / "known_addresses.csv").open() as handle:
        known = list(csv.DictReader(handle))
    assert len({(row["street"], row["zip5"]) for row in known}) == len(known)
    people = standardize_all(tmp_path / "store.duckdb",
                             [{"street": row["street"], "zip": row["zip5"]} for row in known])
    for row in known:
        person = people[record_id({"street": row["street"], "zip": row["zip5"]})]
        assert (person["street"], person["address_kind"]) == (row["street"], row["kind"])


def test_a_csv_for_people_shows_formulas_as_text(tmp_path):
    # CSV injection: a value a spreadsheet would run (=HYPERLINK, +, -, @) is written with
    # an apostrophe first in CSV, and as it is in Parquet.
    store_path = tmp_path / "store.duckdb"
    standardize_all(store_path, [{"first_name": "Ana", "mrn": '=HYPERLINK("http://x","y")'},
                                 {"first_name": "Luis", "mrn": "-2+3"},
                                 {"first_name": "Eva", "mrn": "A-1=2"}])
    with open_store(store_path) as store:
        for suffix in (".csv", ".parquet"):
            write_standardized(store, tmp_path / f"person{suffix}")
        read = "SELECT mrn FROM {}(?, all_varchar = true) ORDER BY first_name"
        in_csv = store.con.execute(read.format("read_csv"), [str(tmp_path / "person.csv")]).fetchall()
        in_parquet = store.con.execute("SELECT mrn FROM read_parquet(?) ORDER BY first_name",
                                       [str(tmp_path / "person.parquet")]).fetchall()
    assert in_csv == [("'=HYPERLINK(\"HTTP://X\",\"Y\")",), ("A-1=2",), ("'-2+3",)]
    assert in_parquet == [('=HYPERLINK("HTTP://X","Y")',), ("A-1=2",), ("-2+3",)]
