"""A preloaded searcher finds candidates by hashed key values, a one-off search by filtering
`person`: both must find the same records, hence the same ranked EIDs, for any query."""

from __future__ import annotations

import duckdb
import pandas as pd
import pytest

from conftest import SAMPLE_CONFIG
from linkage.project import Project
from linkage.search import SEARCH_BLOCKING

_RECORDS = """
SELECT r.first_name, r.last_name, p.dob, p.ssn_last4, p.zip5, p.ssn, p.phone, p.email
FROM source_record AS r
JOIN person AS p ON p.source_system = r.source_system AND p.source_record_id = r.source_record_id
WHERE NOT p.is_deleted ORDER BY hash(p.record_key, 11) LIMIT 12"""


def _queries(record: dict) -> list[dict]:
    dob = record["dob"]
    slipped = dob.replace(day=dob.month, month=dob.day) if dob and dob.day <= 12 else dob
    first, last = record["first_name"], record["last_name"]
    return [
        {"first_name": first, "last_name": last, "dob": dob},
        {"first_name": last, "last_name": first, "dob": slipped},  # swapped, day/month slip
        {"first_name": (first or "")[:1] + "x" + (first or "")[2:], "last_name": last,
         "dob": dob and dob.replace(year=dob.year + 1)},  # a typo, the year off by one
        {"last_name": last, "ssn_last4": record["ssn_last4"]},
        {"first_name": first, "last_name": last, "zip5": record["zip5"]},
        {"ssn": record["ssn"], "phone": record["phone"], "email": record["email"]},
    ]


@pytest.fixture(scope="module")
def project(linked_store) -> Project:
    return Project.open(SAMPLE_CONFIG, store=linked_store)


def test_the_keys_cover_every_kind_of_evidence():
    names = " ".join(key.name for key in SEARCH_BLOCKING)
    for evidence in ("dob", "last_name", "phonetic", "swapped", "ssn_last4", "zip5", "cin",
                     "mrn", "phone", "email"):
        assert evidence in names


def test_preloaded_and_one_off_searches_find_the_same_records(project, linked_store):
    with duckdb.connect(str(linked_store), read_only=True) as con:
        cursor = con.execute(_RECORDS)
        names = [column[0] for column in cursor.description]
        records = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
    searched = 0
    with project.searcher() as preloaded, project.searcher(preload=False) as one_off:
        for record in records:
            for query in _queries(record):
                try:
                    expected = one_off.search(**query, limit=1000)
                except Exception as error:  # not a usable query (no name, no identifier)
                    with pytest.raises(type(error)):
                        preloaded.search(**query, limit=1000)
                    continue
                pd.testing.assert_frame_equal(preloaded.search(**query, limit=1000), expected)
                searched += not expected.empty
    assert searched >= 30
