"""Person search on the linked sample: a record's own person at rank 1 from its values and
from a nickname, typo or accented variant of them, only the fields given counting, results
ranked by probability, and bad input as one line without the value."""

from __future__ import annotations

import csv
import json
import logging

import pandas as pd
import pytest

from conftest import SAMPLE_CONFIG, SAMPLE_DATA, cli, query
from linkage.errors import LinkageError
from linkage.project import Project
from linkage.store import Step, open_store
from linkage.synth import names

# Records with every field a search takes, their raw names as delivered and their EID.
_RECORDS = """
SELECT r.source_system, r.source_record_id, r.first_name, r.last_name,
    p.first_name AS standard_first, p.last_name AS standard_last, p.dob, p.ssn_last4, p.zip5,
    p.record_key, cw.enterprise_id
FROM source_record AS r
JOIN person AS p ON p.source_system = r.source_system AND p.source_record_id = r.source_record_id
JOIN crosswalk AS cw ON cw.valid_to_run IS NULL AND cw.source_system = p.source_system
    AND cw.source_record_id = p.source_record_id
WHERE NOT p.is_deleted AND p.dob IS NOT NULL AND p.first_name IS NOT NULL
    AND p.last_name IS NOT NULL AND p.ssn_last4 IS NOT NULL AND p.zip5 IS NOT NULL
ORDER BY hash(p.record_key)"""


@pytest.fixture(scope="module")
def records(linked_store) -> list[dict]:
    # Through the store, as the searcher opens it: DuckDB refuses a second connection to
    # an open file with other settings (the store's memory limit and spill folder).
    with open_store(linked_store, read_only=True) as store:
        return store.run_arrow("test", Step("records", _RECORDS)).to_pylist()


@pytest.fixture(scope="module")
def truth() -> dict[tuple[str, str], str]:
    with (SAMPLE_DATA / "truth.csv").open(newline="") as handle:
        return {(row["source_system"], row["source_record_id"]): row["person_id"]
                for row in csv.DictReader(handle)}


@pytest.fixture(scope="module")
def people_by_eid(linked_store, truth) -> dict[str, set[str]]:
    crosswalk = Project.open(SAMPLE_CONFIG, store=linked_store).crosswalk()
    people: dict[str, set[str]] = {}
    for eid, source, record_id in zip(crosswalk.enterprise_id, crosswalk.source_system,
                                      crosswalk.source_record_id, strict=True):
        people.setdefault(eid, set()).add(truth[(source, record_id)])
    return people


@pytest.fixture(scope="module")
def project(linked_store) -> Project:
    return Project.open(SAMPLE_CONFIG, store=linked_store)


@pytest.fixture(scope="module")
def searcher(project):
    with project.searcher() as opened:
        yield opened


def assert_found_first(found: pd.DataFrame, record: dict, truth, people_by_eid) -> None:
    assert list(found["rank"]) == list(range(1, len(found) + 1))
    assert found.enterprise_id.iloc[0] == record["enterprise_id"]
    person = truth[(record["source_system"], record["source_record_id"])]
    assert person in people_by_eid[found.enterprise_id.iloc[0]]


def test_a_record_is_found_at_rank_one_from_its_own_values(searcher, records, truth,
                                                           people_by_eid):
    for record in records[:10]:
        found = searcher.search(first_name=record["first_name"], last_name=record["last_name"],
                                dob=record["dob"], ssn_last4=record["ssn_last4"],
                                zip5=record["zip5"])
        assert_found_first(found, record, truth, people_by_eid)
        best = found.iloc[0]  # its best record: this one, or a duplicate scoring the same
        assert best.dob_level == "Exact match on dob" and best.dob_weight > 0
        assert best.match_probability > 0.99


def _nickname(record: dict) -> str | None:
    nicknames = names.NICKNAMES.get(record["standard_first"])
    return nicknames[0].lower() if nicknames else None


def _accented(record: dict) -> str | None:
    accented = names.ACCENTED.get(record["standard_first"])
    return accented.lower() if accented else None


def _typo(record: dict) -> str | None:
    last = record["standard_last"]  # two inner letters swapped: GARCIA -> GRACIA
    return last[0] + last[2] + last[1] + last[3:] if len(last) > 4 and last[1] != last[2] else None


@pytest.mark.parametrize("variant, field", [(_nickname, "first_name"),
                                            (_accented, "first_name"),
                                            (_typo, "last_name")])
def test_a_variant_of_the_name_finds_the_same_person(searcher, records, truth, people_by_eid,
                                                     variant, field):
    """BOB for ROBERT (the nickname table), josé for JOSE (accents and case), GRACIA for
    GARCIA: the query is standardized by the records' own rules."""
    tried = 0
    for record in records:
        value = variant(record)
        if value is None:
            continue
        query = {"first_name": record["first_name"], "last_name": record["last_name"],
                 "dob": record["dob"], field: value}
        assert_found_first(searcher.search(**query), record, truth, people_by_eid)
        tried += 1
        if tried == 3:
            break
    assert tried == 3


def test_only_the_fields_given_count(searcher, records):
    record = records[0]
    bare = searcher.search(last_name=record["last_name"], dob=record["dob"].isoformat())
    best = bare[bare.enterprise_id == record["enterprise_id"]].iloc[0]
    for comparison in ("first_name", "ssn", "contact", "sex", "cin", "email", "name_suffix"):
        assert best[f"{comparison}_weight"] == 0, comparison  # the null level weighs nothing
    assert best.first_name_level == "first_name is NULL"
    fuller = searcher.search(last_name=record["last_name"], dob=record["dob"],
                             first_name=record["first_name"], ssn_last4=record["ssn_last4"])
    top = fuller.iloc[0]
    assert top.enterprise_id == record["enterprise_id"]
    assert top.ssn_level == "Exact match on ssn_last4" and top.ssn_weight > 0
    assert top.match_weight > best.match_weight


_IDENTIFIED = """
SELECT p.ssn, p.cin, p.phone, p.email, p.mrn, cw.enterprise_id
FROM person AS p JOIN crosswalk AS cw ON cw.valid_to_run IS NULL
    AND cw.source_system = p.source_system AND cw.source_record_id = p.source_record_id
WHERE NOT p.is_deleted AND p.{field} IS NOT NULL ORDER BY hash(p.record_key) LIMIT 5"""


@pytest.mark.parametrize("field", ["ssn", "cin", "phone", "email", "mrn"])
def test_an_identifier_alone_finds_its_person_without_a_date_of_birth(searcher, linked_store,
                                                                      field):
    with open_store(linked_store, read_only=True) as store:
        rows = query(store, _IDENTIFIED.format(field=field))
    assert rows
    index = ["ssn", "cin", "phone", "email", "mrn"].index(field)
    for row in rows:
        found = searcher.search(**{field: row[index]})
        assert row[-1] in set(found.enterprise_id), field
        if field in ("ssn", "cin", "email"):  # a comparison of the model: its exact level
            best = found[found.enterprise_id == row[-1]].iloc[0]
            assert best[f"{field}_level"].startswith("Exact match") \
                and best[f"{field}_weight"] > 10


def test_an_agreeing_zip_never_lowers_the_score(searcher, records):
    """The model's ZIP-only contact level weighs -1.7 in a run, where street and phone were
    compared too; a query giving only the ZIP has neither to disagree."""
    for record in records[:10]:
        query = {"first_name": record["first_name"], "last_name": record["last_name"],
                 "dob": record["dob"]}
        bare = searcher.search(**query)
        zipped = searcher.search(**query, zip5=record["zip5"])
        best = zipped[zipped.enterprise_id == record["enterprise_id"]].iloc[0]
        before = bare[bare.enterprise_id == record["enterprise_id"]].iloc[0]
        assert best.contact_weight >= 0
        assert best.match_weight >= before.match_weight - 1e-9  # sums in another order


def test_a_search_limited_to_sources_sees_no_other_record(searcher, records):
    for record in records[:5]:
        query = {"first_name": record["first_name"], "last_name": record["last_name"],
                 "dob": record["dob"]}
        others = sorted({"calsaws", "hmis", "ehr_csv", "ehr_fhir"} - {record["source_system"]})
        found = searcher.search(**query, sources=others)
        assert set(found.source_system) <= set(others)
        own = searcher.search(**query, sources=[record["source_system"]])
        assert set(own.source_system) == {record["source_system"]}


# The surname, initial and birth year shared by the most EIDs: one query, many candidates.
_CROWDED_NAME = """
SELECT any_value(p.first_name), p.last_name, min(p.dob)
FROM person AS p JOIN crosswalk AS cw ON cw.valid_to_run IS NULL
    AND cw.source_system = p.source_system AND cw.source_record_id = p.source_record_id
WHERE p.dob IS NOT NULL AND p.first_name IS NOT NULL
GROUP BY p.last_name, left(p.first_name, 1), year(p.dob)
ORDER BY count(DISTINCT cw.enterprise_id) DESC, 2, 3 LIMIT 1"""


def test_results_are_ranked_by_match_probability(searcher, linked_store):
    with open_store(linked_store, read_only=True) as store:
        first, last, dob = query(store, _CROWDED_NAME)[0]
    found = searcher.search(first_name=first, last_name=last, dob=dob)
    assert len(found) >= 3
    assert found.match_probability.is_monotonic_decreasing
    assert found.enterprise_id.is_unique
    limited = searcher.search(first_name=first, last_name=last, dob=dob, limit=2)
    assert list(limited.enterprise_id) == list(found.enterprise_id[:2])


def test_a_search_with_no_candidate_is_empty_not_an_error(searcher):
    found = searcher.search(first_name="Xavierr", last_name="Quinnell", dob="1931-05-13")
    assert found.empty and "enterprise_id" in found.columns and "dob_level" in found.columns


def test_one_shot_and_preloaded_searches_agree(project, searcher, records):
    record = records[1]
    query = {"first_name": record["first_name"], "last_name": record["last_name"],
             "dob": record["dob"], "zip5": record["zip5"]}
    pd.testing.assert_frame_equal(project.search(**query), searcher.search(**query))


@pytest.mark.parametrize("query, message", [
    ({"first_name": "Ana", "dob": "next tuesday"}, "dob: not a date"),
    ({"first_name": "Ana", "dob": "1980-13-45"}, r"dob: not a usable date of birth \(no such day"),
    ({"first_name": "Ana", "dob": "2999-01-01"}, "dob: not a usable date of birth"),
    ({"dob": "1980-01-02"}, "give a first or last name"),
    ({"first_name": "Ana"}, "give a date of birth"),
    ({"phone": "555-01"}, "phone: expected a 10-digit"),
    ({"email": "@@"}, "email: not an e-mail"),
    ({"cin": "123"}, "cin: not a Medi-Cal CIN"),
    ({"first_name": "UNKNOWN", "dob": "1980-01-02"}, "placeholder"),
    ({"first_name": "Ana", "dob": "1980-01-02", "ssn_last4": "12x4"}, "ssn_last4"),
    ({"first_name": "Ana", "dob": "1980-01-02", "zip5": "9001"}, "zip5"),
])
def test_bad_input_is_a_user_error(searcher, query, message):
    with pytest.raises(LinkageError, match=message):
        searcher.search(**query)


def test_cli_bad_dob_is_one_line_without_the_value(linked_store, capsys):
    capsys.readouterr()
    assert cli("search", "--config", SAMPLE_CONFIG, "--store", linked_store,
               "--first-name", "Ana", "--dob", "1980-13-45") == 1
    captured = capsys.readouterr()
    assert captured.err.strip().startswith("error: dob:")
    assert len(captured.err.strip().splitlines()) == 1
    assert "1980-13-45" not in captured.err and "Ana" not in captured.err
    assert captured.out == ""


def test_cli_json_output_parses(linked_store, records, capsys):
    record = records[2]
    capsys.readouterr()
    assert cli("-q", "search", "--config", SAMPLE_CONFIG, "--store", linked_store,
               "--first-name", record["first_name"], "--last-name", record["last_name"],
               "--dob", record["dob"].isoformat(), "--limit", "3", "--json") == 0
    results = json.loads(capsys.readouterr().out)["results"]
    assert 1 <= len(results) <= 3
    assert results[0]["enterprise_id"] == record["enterprise_id"] and results[0]["rank"] == 1
    assert results[0]["evidence"]["dob"]["level"] == "Exact match on dob"
    assert cli("-q", "search", "--config", SAMPLE_CONFIG, "--store", linked_store,
               "--first-name", record["first_name"], "--last-name", record["last_name"],
               "--dob", record["dob"].isoformat()) == 0
    assert record["enterprise_id"] in capsys.readouterr().out.splitlines()[1]


def test_search_logs_carry_no_query_values(searcher, records, caplog):
    record = next(r for r in records if min(len(r["first_name"]), len(r["last_name"])) >= 4)
    with caplog.at_level(logging.DEBUG):
        searcher.search(first_name=record["first_name"], last_name=record["last_name"],
                        dob=record["dob"], ssn_last4=record["ssn_last4"], zip5=record["zip5"])
    logged = "\n".join(entry.getMessage() for entry in caplog.records
                       if entry.name.startswith("linkage"))
    assert "search.candidate_keys took" in logged  # steps are logged by name and time
    for value in (record["first_name"], record["last_name"], record["standard_first"],
                  record["standard_last"], record["dob"].isoformat(), record["ssn_last4"],
                  record["zip5"]):
        assert str(value) not in logged


def test_a_full_name_commoner_than_its_parts_weighs_as_in_a_run(project, records):
    """Search takes off what a run takes off a pair agreeing on a common full name."""
    with project.searcher(preload=False) as own:
        common = {(first, last): bits for first, last, bits in own.store.run_step(
            "test", Step("common", "SELECT first_name, last_name, bits FROM common_full_name"))}
        record = next(r for r in records
                      if (r["standard_first"], r["standard_last"]) in common)
        bits = common[(record["standard_first"], record["standard_last"])]
        assert bits < 0
        ask = {"first_name": record["first_name"], "last_name": record["last_name"],
               "dob": record["dob"]}
        weighed = own.search(**ask).set_index("enterprise_id").match_weight
        own.store.run_step("test", Step("plain", "DELETE FROM common_full_name"))
        plain = own.search(**ask).set_index("enterprise_id").match_weight
    assert weighed[record["enterprise_id"]] == pytest.approx(
        plain[record["enterprise_id"]] + bits)
