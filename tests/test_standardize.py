"""Standardization rules (DESIGN §5), input -> expected, through the real SQL."""

from __future__ import annotations

import datetime as dt
import hashlib
import json

import pytest

from linkage.standardize import standardize
from linkage.store import LANDED_COLUMNS, open_store



def record_id(fields: dict) -> str:
    """A record's id: its landed fields, so each distinct case lands once."""
    return hashlib.sha1(json.dumps(fields, sort_keys=True).encode()).hexdigest()[:16]


def standardize_all(path, cases: list[dict]) -> dict[str, dict]:
    """Land every case as one record, standardize once, return person rows by record id."""
    unique = {record_id(fields): fields for fields in cases}
    with open_store(path, create=True) as store:
        store.con.executemany(
            f"INSERT INTO source_record (run_id, source_system, source_kind, source_file, "
            f"source_row, source_record_id, is_deleted, {', '.join(LANDED_COLUMNS)}, raw) "
            f"VALUES (1, 'src', 'calsaws', 'f.csv', 1, ?, false, "
            f"{', '.join('?' for _ in LANDED_COLUMNS)}, '{{}}')",
            [[key, *(fields.get(column) for column in LANDED_COLUMNS)]
             for key, fields in unique.items()])
        standardize(store)
        cursor = store.con.execute("SELECT * FROM person")
        names = [column[0] for column in cursor.description]
        rows = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
    return {row["source_record_id"]: row for row in rows}


NAME_CASES = [
    ({"first_name": "José", "last_name": "García-López"},
     {"first_name": "JOSE", "last_name": "GARCIA LOPEZ", "surname_parts": ["GARCIA", "LOPEZ"]}),
    ({"first_name": "maria", "last_name": "Garcia de Lopez"},
     {"last_name": "GARCIA DE LOPEZ", "surname_parts": ["GARCIA", "LOPEZ"]}),
    ({"last_name": "O'Brien"}, {"last_name": "OBRIEN"}),
    ({"first_name": "Robert", "last_name": "Smith Jr."},
     {"last_name": "SMITH", "name_suffix": "JR"}),
    ({"first_name": "UNKNOWN", "last_name": "Nguyen"}, {"first_name": None, "last_name": "NGUYEN"}),
    ({"first_name": "Baby Girl", "last_name": "Lee"}, {"first_name": None}),
    ({"first_name": "John", "last_name": "Doe"}, {"first_name": None, "last_name": None}),
    ({"first_name": "Bill"}, {"first_name_canonical": "WILLIAM"}),
    ({"first_name": "William"}, {"first_name_canonical": "WILLIAM"}),
    ({"first_name": "Pancho"}, {"first_name_canonical": "FRANCISCO"}),
    ({"first_name": "Lupe"}, {"first_name_canonical": "GUADALUPE"}),
    ({"first_name": "Chuy"}, {"first_name_canonical": "JESUS"}),
    ({"first_name": "Pepe"}, {"first_name_canonical": "JOSE"}),
    ({"first_name": "Zyxwv"}, {"first_name_canonical": "ZYXWV", "first_name_forms": ["ZYXWV"]}),
    ({"first_name": "Antonio"}, {"first_name_forms": ["ANTONIO"]}),
    # A role written for a name is no name: CHILD GARCIA, FEMALE, APELLIDO.
    ({"first_name": "Child", "last_name": "Garcia"}, {"first_name": None, "last_name": "GARCIA"}),
    ({"first_name": "Female", "last_name": "Apellido"}, {"first_name": None, "last_name": None}),
    ({"first_name": "Lady of the House", "last_name": "Soh"},
     {"first_name": None, "last_name": "SOH"}),
    ({"first_name": "Stephen", "last_name": "Smith"},
     {"first_name_phonetic": "STFN", "last_name_phonetic": "SM0"}),
]
SSN_CASES = [
    ("123-45-6789", None, None, "invalid"),
    ("524-71-9043", "524719043", "9043", "full"),
    ("524719043", "524719043", "9043", "full"),
    ("000-12-3456", None, None, "invalid"),
    ("666-12-3456", None, None, "invalid"),
    ("912-12-3456", None, None, "invalid"),
    ("512-00-3456", None, None, "invalid"),
    ("512-34-0000", None, None, "invalid"),
    ("111111111", None, None, "invalid"),
    ("987654321", None, None, "invalid"),
    ("078051120", None, None, "invalid"),
    ("219099999", None, None, "invalid"),
    ("52471904", None, None, "invalid"),
    ("xxxxx9043", None, "9043", "partial"),
    ("XXX-XX-9043", None, "9043", "partial"),
    ("", None, None, None),
]
DOB_CASES = [
    ("1980-03-15", dt.date(1980, 3, 15), "full"),
    ("03/15/1980", dt.date(1980, 3, 15), "full"),
    ("19800315", dt.date(1980, 3, 15), "full"),
    ("1900-01-01", None, "invalid"),
    ("1901-01-01", None, "invalid"),
    ("1899-12-31", None, "invalid"),
    ("2999-01-01", None, "invalid"),
    ("1910-05-05", dt.date(1910, 5, 5), "before_1915"),
    ("1985-01-01", dt.date(1985, 1, 1), "january_first"),
    ("15/03/1980", None, "invalid"),  # month-first shape, month 15: day-first is never guessed
    ("not a date", None, "unparseable"),
    ("", None, "missing"),
]
CONTACT_CASES = [
    ({"phone": "(213) 555-0134"}, {"phone": "2135550134"}),
    # Names in other scripts keep their letters: upper case where the script has case,
    # accents folded in Greek and Cyrillic, marks kept where they are part of the letter.
    # Their phonetic keys are those of their Latin spelling: ИВАН sounds like IVAN.
    ({"first_name": "Иван", "last_name": "Пётр"},
     {"first_name": "ИВАН", "last_name": "ПЕТР", "first_name_phonetic": "IFN",
      "last_name_phonetic": "PTR"}),
    ({"first_name": "Ivan", "last_name": "Petr"},
     {"first_name_phonetic": "IFN", "last_name_phonetic": "PTR"}),
    ({"first_name": "Ελένη"}, {"first_name": "ΕΛΕΝΗ", "first_name_canonical": "ΕΛΕΝΗ"}),
    ({"first_name": "ΕΛΕΝΗ"}, {"first_name": "ΕΛΕΝΗ"}),
    ({"first_name": "小龍", "last_name": "李"}, {"first_name": "小龍", "last_name": "李"}),
    ({"first_name": "محمد", "last_name": "عبد الله"},
     {"first_name": "محمد", "last_name": "عبد الله", "surname_parts": ["عبد", "الله"],
      "first_name_phonetic": "MHMT"}),
    ({"first_name": "Mohammed"}, {"first_name_phonetic": "MHMT"}),
    ({"first_name": "がくせい"}, {"first_name": "がくせい"}),
    ({"first_name": "देवनागरी"}, {"first_name": "देवनागरी"}),
    ({"first_name": "Nguyễn Thị", "last_name": "Phạm"},
     {"first_name": "NGUYEN THI", "last_name": "PHAM"}),
    ({"first_name": "😀😀", "last_name": "Lee"}, {"first_name": None, "last_name": "LEE"}),
    # Characters no one sees join the letters around them; tabs and line ends split words.
    ({"first_name": "Ana\u0000", "last_name": "Ruiz\t\n"}, {"first_name": "ANA", "last_name": "RUIZ"}),
    ({"first_name": "\u001bAN\u0000A\u0007", "last_name": "Lo\u200bpez\u200f"},
     {"first_name": "ANA", "last_name": "LOPEZ"}),
    ({"first_name": "Ana\nMaria", "last_name": "\u202eЛо\u00adпез"},
     {"first_name": "ANA MARIA", "last_name": "ЛОПЕЗ"}),
    ({"phone": "1-213-555-0134"}, {"phone": "2135550134"}),
    ({"phone": "0000000000"}, {"phone": None}),
    ({"phone": "9999999999"}, {"phone": None}),
    ({"phone": "555-0134"}, {"phone": None}),
    ({"email": " Ana.Lopez@Example.ORG "}, {"email": "ana.lopez@example.org"}),
    ({"email": "not-an-email"}, {"email": None}),
    ({"zip": "90012-1234"}, {"zip5": "90012"}),
    ({"cin": "12345678a"}, {"cin": "12345678A"}),
    ({"cin": "1234567"}, {"cin": None}),
    ({"sex": "female"}, {"sex": "F"}),
    ({"sex": "M"}, {"sex": "M"}),
    ({"sex": "unknown"}, {"sex": None}),
    ({"street": "123 North Main Street Apt. 4B"},
     {"street": "123 N MAIN ST", "unit": "4B", "address_kind": "residential"}),
    ({"street": "456 Calle Real #12"}, {"street": "456 CALLE REAL", "unit": "12"}),
    ({"street": "9 W Olympic Boulevard", "unit": "Unit 3"},
     {"street": "9 W OLYMPIC BLVD", "unit": "3"}),
    ({"street": "GENERAL DELIVERY"}, {"street": None, "address_kind": "general_delivery"}),
    ({"street": "Homeless"}, {"street": None, "address_kind": "homeless"}),
    ({"street": None}, {"address_kind": "none"}),
]
HMIS_PARTIAL = {"ssn": "524719043", "ssn_quality": "2", "first_name": "A"}


@pytest.fixture(scope="module")
def people(tmp_path_factory) -> dict[str, dict]:
    cases = ([raw for raw, _ in NAME_CASES] + [{"first_name": name} for name, _ in NICKNAME_FORMS]
             + [{"ssn": raw, "first_name": "A"} for raw, *_ in SSN_CASES]
             + [{"dob": raw, "first_name": "A"} for raw, *_ in DOB_CASES]
             + [{"first_name": "A", **raw} for raw, _ in CONTACT_CASES] + [HMIS_PARTIAL])
    return standardize_all(tmp_path_factory.mktemp("std") / "store.duckdb", cases)


# Nicknames are many to many: a name's forms hold every name it is a nickname of, so TONY
# meets ANTHONY and ANTONIO though its one canonical form can be only one of them.
NICKNAME_FORMS = [("Tony", {"TONY", "ANTHONY", "ANTONIO"}), ("Ken", {"KEN", "KENNETH"}),
                  ("Jessie", {"JESSIE", "JESSICA"}), ("Mike", {"MIKE", "MICHAEL"}),
                  ("Susie", {"SUSIE", "SUSAN"})]


@pytest.mark.parametrize("name, forms", NICKNAME_FORMS)
def test_a_nickname_holds_every_name_it_is_a_nickname_of(people, name, forms):
    assert forms <= set(people[record_id({"first_name": name})]["first_name_forms"])


@pytest.mark.parametrize("raw, expected", NAME_CASES)
def test_names(people, raw, expected):
    person = people[record_id(raw)]
    assert {key: person[key] for key in expected} == expected
    assert {key: person[key] for key in expected} == expected


@pytest.mark.parametrize("raw, ssn, last4, quality", SSN_CASES)
def test_ssn_rules(people, raw, ssn, last4, quality):
    person = people[record_id({"ssn": raw, "first_name": "A"})]
    assert (person["ssn"], person["ssn_last4"], person["ssn_quality"]) == (ssn, last4, quality)


def test_hmis_partial_quality_ssn_is_never_a_full_ssn(people):
    person = people[record_id(HMIS_PARTIAL)]
    assert (person["ssn"], person["ssn_last4"], person["ssn_quality"]) == (None, "9043", "partial")


@pytest.mark.parametrize("raw, dob, quality", DOB_CASES)
def test_dates_of_birth(people, raw, dob, quality):
    person = people[record_id({"dob": raw, "first_name": "A"})]
    assert (person["dob"], person["dob_quality"]) == (dob, quality)
    assert (person["dob"], person["dob_quality"]) == (dob, quality)


@pytest.mark.parametrize("raw, expected", CONTACT_CASES)
def test_identifiers_contacts_and_addresses(people, raw, expected):
    person = people[record_id({"first_name": "A", **raw})]
    assert {key: person[key] for key in expected} == expected


def test_record_key_joins_source_system_and_source_record_id(people):
    person = people[record_id(HMIS_PARTIAL)]
    assert person["record_key"] == f"src:{person['source_record_id']}"
