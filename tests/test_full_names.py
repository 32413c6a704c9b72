"""A full name commoner than its given and family names apart weighs less: two strangers
who share a name common within a community are not scored as one person on it alone."""

from __future__ import annotations

import datetime as dt
import math

import pyarrow as pa
import pytest

from conftest import query
from linkage.link.full_names import SHARED_BY, TABLE, common_full_names, pair_bits
from linkage.store import Step


def load(store, people: list[tuple[str, str, dt.date | None]]) -> list[str]:
    keys = [f"src:{i}" for i in range(len(people))]
    table = pa.table({
        "record_key": pa.array(keys, pa.string()),
        "first_name": pa.array([first for first, _, _ in people], pa.string()),
        "last_name": pa.array([last for _, last, _ in people], pa.string()),
        "dob": pa.array([born for _, _, born in people], pa.date32())})
    with store.registered("test_person", table):
        store.run_steps("test", [
            Step("person", "INSERT INTO person (record_key, source_system, source_record_id, "
                 "run_id, is_deleted, first_name, last_name, dob, dob_year) SELECT record_key, "
                 "'src', record_key, 1, false, first_name, last_name, dob, year(dob) "
                 "FROM test_person"),
            common_full_names()])
    return keys


def population() -> list[tuple[str, str, dt.date | None]]:
    """Twenty THAO TRANs (different people: different birth dates), the given and family
    names also borne apart; one JOHN SMITH whose three records carry three birth dates (a
    typo, an imputed day); and many people whose names are independent of each other."""
    people = [("THAO", "TRAN", dt.date(1950 + i, 1 + i % 12, 1 + i)) for i in range(20)]
    people += [("THAO", f"LAST{i}", dt.date(1960, 1, 1 + i)) for i in range(5)]
    people += [(f"FIRST{i}", "TRAN", dt.date(1961, 1, 1 + i)) for i in range(5)]
    people += [("JOHN", "SMITH", dt.date(1970, 5, day)) for day in (4, 5, 14)]
    people += [(f"GIVEN{i % 40}", f"FAMILY{i // 40}", dt.date(1980, 1 + i % 12, 1 + i % 28))
               for i in range(1600)]
    return people


def bits(store, left: str, right: str) -> float:
    join, expression = pair_bits("l", "r")
    return query(store, f"SELECT {expression} FROM person AS l JOIN person AS r "
                        f"ON l.record_key = $a AND r.record_key = $b {join}",
                 {"a": left, "b": right})[0][0]


def test_a_full_name_borne_by_many_more_people_than_its_parts_predict_weighs_less(engine_store):
    keys = load(engine_store, population())
    (weight,), = query(engine_store, f"SELECT bits FROM {TABLE} "
                                     "WHERE first_name = 'THAO' AND last_name = 'TRAN'")
    people = 20 + 5 + 5 + 3 + 1600
    expected = 25 * 25 / people + SHARED_BY
    assert weight == pytest.approx(math.log2(expected / 20))
    assert weight < -2
    assert bits(engine_store, keys[0], keys[1]) == pytest.approx(weight)


def test_one_persons_records_and_names_that_are_not_common_together_are_unchanged(engine_store):
    keys = load(engine_store, population())
    smith = keys[30:33]
    assert bits(engine_store, smith[0], smith[1]) == 0  # one person, three birth dates
    thao_and_tran_apart = keys[20], keys[25]  # THAO LAST0, FIRST0 TRAN
    assert bits(engine_store, *thao_and_tran_apart) == 0
    independent = query(engine_store, f"SELECT count(*) FROM {TABLE} "
                                      "WHERE first_name LIKE 'GIVEN%'")[0][0]
    assert independent == 0


def test_only_a_pair_that_agrees_on_both_names_is_adjusted(engine_store):
    keys = load(engine_store, population() + [("THAO", "TRAN", None), ("THAO", "TRANN", None)])
    thao_tran, thao_trann = keys[-2], keys[-1]
    assert bits(engine_store, keys[0], thao_tran) < 0  # a missing birth date: still one name
    assert bits(engine_store, keys[0], thao_trann) == 0
