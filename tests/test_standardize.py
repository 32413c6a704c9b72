"""Standardization rules (DESIGN §5), input -> expected, through the real SQL."""

from __future__ import annotations

import datetime as dt
import itertools

import pytest

from linkage.standardize import standardize
from linkage.store import LANDED_COLUMNS, open_store

_ids = itertools.count()


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    with open_store(tmp_path_factory.mktemp("std") / "store.duckdb", create=True) as store:
        yield store


def standardized(store, **landed) -> dict:
    """Land one record with these raw fields, standardize, and return its person row."""
    record_id = f"r{next(_ids)}"
    values = [landed.get(column) for column in LANDED_COLUMNS]
    placeholders = ", ".join("?" for _ in LANDED_COLUMNS)
    store.con.execute("DELETE FROM source_record")
    store.con.execute(
        f"INSERT INTO source_record VALUES (1, 'src', 'calsaws', 'f.csv', 1, ?, false, "
        f"{placeholders}, '{{}}')", [record_id, *values])
    standardize(store)
    cursor = store.con.execute("SELECT * FROM person WHERE source_record_id = ?", [record_id])
    names = [column[0] for column in cursor.description]
    return dict(zip(names, cursor.fetchall()[0], strict=True))


@pytest.mark.parametrize("raw, expected", [
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
    ({"first_name": "Zyxwv"}, {"first_name_canonical": "ZYXWV"}),
    ({"first_name": "Stephen", "last_name": "Smith"},
     {"first_name_phonetic": "STFN", "last_name_phonetic": "SM0"}),
])
def test_names(store, raw, expected):
    person = standardized(store, **raw)
    assert {key: person[key] for key in expected} == expected


@pytest.mark.parametrize("raw, ssn, last4, quality", [
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
])
def test_ssn_rules(store, raw, ssn, last4, quality):
    person = standardized(store, ssn=raw, first_name="A")
    assert (person["ssn"], person["ssn_last4"], person["ssn_quality"]) == (ssn, last4, quality)


def test_hmis_partial_quality_ssn_is_never_a_full_ssn(store):
    person = standardized(store, ssn="524719043", ssn_quality="2", first_name="A")
    assert (person["ssn"], person["ssn_last4"], person["ssn_quality"]) == (None, "9043", "partial")


@pytest.mark.parametrize("raw, dob, quality", [
    ("1980-03-15", dt.date(1980, 3, 15), "full"),
    ("03/15/1980", dt.date(1980, 3, 15), "full"),
    ("19800315", dt.date(1980, 3, 15), "full"),
    ("1900-01-01", None, "invalid"),
    ("1901-01-01", None, "invalid"),
    ("1899-12-31", None, "invalid"),
    ("2999-01-01", None, "invalid"),
    ("1910-05-05", dt.date(1910, 5, 5), "before_1915"),
    ("1985-01-01", dt.date(1985, 1, 1), "january_first"),
    ("15/03/1980", None, "unparseable"),
    ("", None, "missing"),
])
def test_dates_of_birth(store, raw, dob, quality):
    person = standardized(store, dob=raw, first_name="A")
    assert (person["dob"], person["dob_quality"]) == (dob, quality)


@pytest.mark.parametrize("raw, expected", [
    ({"phone": "(213) 555-0134"}, {"phone": "2135550134"}),
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
])
def test_identifiers_contacts_and_addresses(store, raw, expected):
    person = standardized(store, first_name="A", **raw)
    assert {key: person[key] for key in expected} == expected


def test_record_key_joins_source_system_and_source_record_id(store):
    person = standardized(store, first_name="A")
    assert person["record_key"] == f"src:{person['source_record_id']}"
