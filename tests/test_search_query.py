"""A search's query is standardized in one statement; it must give what the run's whole
standardization gives a record with the same raw values, field for field."""

from __future__ import annotations

import pytest

from linkage.search.query import STANDARDIZED_COLUMNS, PersonQuery, standardize_query
from linkage.standardize import standardize
from linkage.standardize.names import install_name_rules
from linkage.store import Step, open_store

_LAND = """
INSERT INTO source_record (run_id, source_system, source_kind, source_file, source_row,
    source_record_id, is_deleted, first_name, last_name, dob, ssn, zip, cin, mrn, phone,
    email, raw)
VALUES (0, 'search', 'search', '', $row, $record_id, false, $first_name, $last_name, $dob,
    $ssn, $zip, $cin, $mrn, $phone, $email, '{}')"""

# Raw values as a front desk types them: case, accents, nicknames, suffixes, placeholders,
# compound surnames, dates in other shapes, identifiers with punctuation.
QUERIES = [
    PersonQuery(first_name="Bob", last_name="Smith", dob="1980-03-15"),
    PersonQuery(first_name="josé", last_name="garcía-lópez", dob="03/15/1980", zip5="90011-1234"),
    PersonQuery(first_name="Mr. John", last_name="Smith Jr", dob="1980-3-5"),
    PersonQuery(first_name="John", last_name="Doe", dob="1975-01-01"),
    PersonQuery(first_name="Baby Girl", last_name="Nguyen", dob="2020-06-30"),
    PersonQuery(first_name="Pepe", last_name="de la Cruz", dob="19800315"),
    PersonQuery(first_name="O'Brien", dob="15 Mar 1980", ssn_last4="1234"),
    PersonQuery(last_name="Kim", dob="1905-02-01", ssn="123-45-6789"),
    PersonQuery(first_name="Ana", dob="1988-07-04", ssn="219-09-9999", phone="1 (213) 555-0142"),
    PersonQuery(first_name="Ana", dob="2999-01-01"),
    PersonQuery(first_name="Ana", dob="1980-13-45"),
    PersonQuery(first_name="Ana", dob="next tuesday"),
    PersonQuery(cin="9012 3456a"),
    PersonQuery(mrn=" mr-00451234 ", email="Ana.Lopez@Example.ORG"),
    PersonQuery(phone="(213) 555-1212 x 12"),
    PersonQuery(email="none@none.com", first_name="Ana", zip5="00000"),
    PersonQuery(first_name="Lupe", last_name="Hernandez y Garcia", dob="1960-02-29", zip5="9001"),
    # ASCII names skip the rules for other scripts: control characters, joiners, digits.
    PersonQuery(first_name="Ana\x00\x1f", last_name="St. John-O'Neil 3rd", dob="1980-03-15"),
    PersonQuery(first_name="Ana", last_name="Ivanova \u0418\u0432\u0430\u043d\u043e\u0432\u0430", dob="1980-03-15"),
]


@pytest.fixture(scope="module")
def searched_store():
    store = open_store(":memory:", create=True)
    install_name_rules(store)
    yield store
    store.close()


def _standardized_by_the_run(query: PersonQuery) -> dict:
    store = open_store(":memory:", create=True)
    try:
        landed = query.landed()
        store.run_step("test", Step("land", _LAND, {"row": 1, "record_id": "q", **landed}))
        standardize(store)
        return store.run_records("test", Step("person", f"""
SELECT {', '.join(STANDARDIZED_COLUMNS)}, first_name_phonetic, last_name_phonetic
FROM person"""))[0]
    finally:
        store.close()


@pytest.mark.parametrize("query", QUERIES, ids=range(len(QUERIES)))
def test_a_query_is_standardized_as_the_run_standardizes_a_record(searched_store, query):
    expected = _standardized_by_the_run(query)
    found = standardize_query(searched_store, query, check=False)
    assert {column: found[column] for column in expected} == expected
