"""`linkage serve` driven as a client would: uvicorn in a subprocess on a free port, httpx
over local HTTP. FHIR $match by name and by each identifier, consumers who see only their
sources, bad input and bad tokens, a retired EID, the access log, and a run that commits
while queries flow."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import duckdb
import httpx
import pytest

from conftest import ROOT, SAMPLE_CONFIG, SAMPLE_DATA, cli
from linkage.serve.app import MAX_BODY_BYTES

TOKENS = {"CLINIC_TOKEN": "clinic-secret-token-0001", "COUNTY_TOKEN": "county-secret-token-0002"}
CLINIC_SOURCES = {"ehr_csv", "ehr_fhir"}
MATCH = "/fhir/Patient/$match"
GRADE = "http://hl7.org/fhir/StructureDefinition/match-grade"


def write_config(folder: Path) -> Path:
    config = folder / "serve.yaml"
    text = SAMPLE_CONFIG.read_text().replace("../sample_data", str(SAMPLE_DATA))
    text = text.replace("../models", str(ROOT / "models"))
    text = text.replace("../out/sample.duckdb", str(folder / "store.duckdb"))
    config.write_text(text + """
consumers:
  - {name: clinic, token_env: CLINIC_TOKEN, sources: [ehr_csv, ehr_fhir]}
  - {name: county, token_env: COUNTY_TOKEN}
""")
    return config


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def linkage(*args: str, env: dict | None = None, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "linkage.cli", *map(str, args)],
                          capture_output=True, text=True, cwd=ROOT,
                          env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}, **kwargs)


@pytest.fixture(scope="module")
def config(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("serve")
    config = write_config(folder)
    assert cli("--quiet", "run", "--config", config) == 0
    return config


@pytest.fixture(scope="module")
def records(config) -> list[dict]:
    """Every active record with its EID, standardized identifiers and raw name."""
    with duckdb.connect(str(config.parent / "store.duckdb"), read_only=True) as con:
        cursor = con.execute("""
SELECT cw.enterprise_id, p.source_system, p.source_record_id, r.first_name AS raw_first,
    r.last_name AS raw_last, p.dob, p.ssn, p.ssn_last4, p.cin, p.mrn, p.phone, p.email,
    p.zip5
FROM person AS p
JOIN source_record AS r USING (source_system, source_record_id)
JOIN crosswalk AS cw ON cw.valid_to_run IS NULL AND cw.source_system = p.source_system
    AND cw.source_record_id = p.source_record_id
WHERE NOT p.is_deleted ORDER BY hash(p.record_key)""")
        names = [column[0] for column in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


@pytest.fixture(scope="module")
def server(config):
    """The service on a free port; yields (base URL, the process)."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "linkage.cli", "serve", "--config", str(config),
         "--port", str(port), "--refresh", "0.2"],
        cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT), **TOKENS},
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(base + "/health", timeout=1).status_code == 200:
                break
        except httpx.TransportError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            pytest.fail("the service did not start: " + process.communicate()[1][-2000:])
        time.sleep(0.2)
    yield base, process
    if process.poll() is None:
        process.terminate()
        process.wait(timeout=30)


@pytest.fixture(scope="module")
def county(server):
    with httpx.Client(base_url=server[0], timeout=30,
                      headers={"Authorization": f"Bearer {TOKENS['COUNTY_TOKEN']}"}) as client:
        yield client


@pytest.fixture(scope="module")
def clinic(server):
    with httpx.Client(base_url=server[0], timeout=30,
                      headers={"Authorization": f"Bearer {TOKENS['CLINIC_TOKEN']}"}) as client:
        yield client


def parameters(patient: dict, **extra) -> dict:
    patient = {"resourceType": "Patient", **patient}
    parameter = [{"name": "resource", "resource": patient}]
    if "count" in extra:
        parameter.append({"name": "count", "valueInteger": extra["count"]})
    if "only_certain" in extra:
        parameter.append({"name": "onlyCertainMatches", "valueBoolean": extra["only_certain"]})
    return {"resourceType": "Parameters", "parameter": parameter}


def match(client: httpx.Client, patient: dict, **extra) -> dict:
    response = client.post(MATCH, json=parameters(patient, **extra))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/fhir+json")
    bundle = response.json()
    assert bundle["resourceType"] == "Bundle" and bundle["type"] == "searchset"
    return bundle


def eids(bundle: dict) -> list[str]:
    return [entry["resource"]["id"] for entry in bundle["entry"]]


def sources_of(bundle: dict) -> set[str]:
    return {identifier["system"].removeprefix("urn:linkage:source:")
            for entry in bundle["entry"] for identifier in entry["resource"]["identifier"]}


def by_name_and_dob(record: dict) -> dict:
    return {"name": [{"family": record["raw_last"], "given": [record["raw_first"]]}],
            "birthDate": record["dob"].isoformat()}


def test_health_needs_no_token_and_names_the_committed_run(server):
    response = httpx.get(server[0] + "/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "run_id": 1}


@pytest.mark.parametrize("header", [None, "Bearer wrong-token-wrong-token", "Basic abc",
                                    f"Bearer {TOKENS['CLINIC_TOKEN']}x"])
def test_a_request_without_a_valid_token_is_401(server, header):
    headers = {"Authorization": header} if header else {}
    for response in (httpx.post(server[0] + MATCH, headers=headers, json=parameters({})),
                     httpx.get(server[0] + "/eid/E85AC566ED98E066A", headers=headers)):
        assert response.status_code == 401
        assert response.headers["www-authenticate"] == "Bearer"
        assert response.json()["resourceType"] == "OperationOutcome"


def test_match_by_name_and_dob_ranks_the_person_first_with_score_and_grade(county, records):
    tried = 0
    for record in records:
        if record["dob"] is None or not record["raw_first"] or not record["raw_last"]:
            continue
        bundle = match(county, by_name_and_dob(record), count=3)
        first = bundle["entry"][0]
        assert first["resource"]["id"] == record["enterprise_id"]
        assert {"system": f"urn:linkage:source:{record['source_system']}",
                "value": record["source_record_id"]} in first["resource"]["identifier"]
        assert 0 < first["search"]["score"] <= 1
        grades = [ext["valueCode"] for ext in first["search"]["extension"] if ext["url"] == GRADE]
        assert grades and grades[0] in {"certain", "probable", "possible"}
        scores = [entry["search"]["score"] for entry in bundle["entry"]]
        assert scores == sorted(scores, reverse=True) and len(scores) <= 3
        assert len(set(eids(bundle))) == len(scores)  # one entry per EID
        tried += 1
        if tried == 5:
            break
    assert tried == 5


# How a Patient carries each identifier (README: Person search as a service).
_IDENTIFIERS = {
    "ssn": lambda v: {"identifier": [{"system": "http://hl7.org/fhir/sid/us-ssn", "value": v}]},
    "cin": lambda v: {"identifier": [{"system": "urn:linkage:identifier:cin", "value": v}]},
    "mrn": lambda v: {"identifier": [{"type": {"coding": [{"code": "MR"}]}, "value": v}]},
    "phone": lambda v: {"telecom": [{"system": "phone", "value": v}]},
    "email": lambda v: {"telecom": [{"system": "email", "value": v}]},
}


@pytest.mark.parametrize("field", sorted(_IDENTIFIERS))
def test_match_by_one_identifier_without_a_date_of_birth(county, records, field):
    tried = 0
    for record in records:
        if record[field] is None:
            continue
        bundle = match(county, _IDENTIFIERS[field](record[field]), count=10)
        assert record["enterprise_id"] in eids(bundle), field
        tried += 1
        if tried == 3:
            break
    assert tried == 3


def test_match_by_ssn_last4_and_surname(county, records):
    record = next(r for r in records if r["ssn_last4"] and r["raw_last"])
    bundle = match(county, {"name": [{"family": record["raw_last"]}], "identifier": [
        {"system": "http://hl7.org/fhir/sid/us-ssn", "value": record["ssn_last4"]}]})
    assert record["enterprise_id"] in eids(bundle)


def test_an_agreeing_zip_never_lowers_the_score(county, records):
    """The model's ZIP-only level weighs -1.7 in a run (same ZIP, another street): a query
    that gives only the ZIP has no street to disagree, so its ZIP cannot count against."""
    tried = 0
    for record in records:
        if not (record["dob"] and record["raw_first"] and record["raw_last"] and record["zip5"]):
            continue
        query = by_name_and_dob(record)
        without = match(county, query, count=1)["entry"][0]
        with_zip = match(county, {**query, "address": [{"postalCode": record["zip5"]}]},
                         count=1)["entry"][0]
        assert with_zip["resource"]["id"] == without["resource"]["id"]
        assert with_zip["search"]["score"] >= without["search"]["score"]
        tried += 1
        if tried == 5:
            break
    assert tried == 5


def test_a_consumer_sees_only_records_of_its_sources(clinic, county, records):
    ehr = [r for r in records if r["source_system"] in CLINIC_SOURCES and r["dob"]
           and r["raw_first"] and r["raw_last"]]
    for record in ehr[:5]:
        bundle = match(clinic, by_name_and_dob(record), count=10)
        assert sources_of(bundle) <= CLINIC_SOURCES
        assert record["enterprise_id"] in eids(bundle)


def test_an_eid_with_no_visible_record_does_not_exist_for_the_consumer(clinic, county, records):
    sources: dict[str, set[str]] = {}
    for record in records:
        sources.setdefault(record["enterprise_id"], set()).add(record["source_system"])
    hidden = [r for r in records if not sources[r["enterprise_id"]] & CLINIC_SOURCES
              and r["dob"] and r["raw_first"] and r["raw_last"]]
    for record in hidden[:5]:
        query = by_name_and_dob(record)
        assert record["enterprise_id"] in eids(match(county, query, count=10))
        assert record["enterprise_id"] not in eids(match(clinic, query, count=10))
        assert clinic.get(f"/eid/{record['enterprise_id']}").status_code == 404
        assert county.get(f"/eid/{record['enterprise_id']}").status_code == 200


def test_only_certain_matches_keeps_certain_grades(county, records):
    record = next(r for r in records if r["dob"] and r["raw_first"] and r["raw_last"])
    bundle = match(county, {"name": [{"family": record["raw_last"]}],
                            "birthDate": record["dob"].isoformat()},
                   count=10, only_certain=True)
    assert all(ext["valueCode"] == "certain" for entry in bundle["entry"]
               for ext in entry["search"]["extension"])


@pytest.mark.parametrize("body, words", [
    (b"{not json", "not JSON"),
    (b'{"resourceType": "Patient"}', "Parameters"),
    (b'{"resourceType": "Parameters", "parameter": []}', "Patient"),
    (b'{"resourceType": "Parameters", "parameter": [{"name": "resource", "resource": '
     b'{"resourceType": "Patient", "birthDate": "1980"}}]}', "birthDate"),
    (b'{"resourceType": "Parameters", "parameter": [{"name": "resource", "resource": '
     b'{"resourceType": "Patient", "name": [{"family": "Smith"}]}}, '
     b'{"name": "count", "valueInteger": 0}]}', "count"),
    (b'{"resourceType": "Parameters", "parameter": [{"name": "resource", "resource": '
     b'{"resourceType": "Patient", "name": [{"family": "Zzyzx"}], '
     b'"birthDate": "1980-02-30"}}]}', "dob"),
    (b'{"resourceType": "Parameters", "parameter": [{"name": "resource", "resource": '
     b'{"resourceType": "Patient", "telecom": [{"system": "phone", "value": "55501"}]}}]}',
     "phone"),
])
def test_malformed_input_is_400_with_an_operation_outcome_without_values(county, body, words):
    response = county.post(MATCH, content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    outcome = response.json()
    assert outcome["resourceType"] == "OperationOutcome"
    message = outcome["issue"][0]["diagnostics"]
    assert words in message
    for value in ("Zzyzx", "1980-02-30", "55501", "Smith"):
        assert value not in message


def test_a_body_past_the_limit_is_refused_declared_or_streamed(county):
    padding = b" " * (MAX_BODY_BYTES + 1)
    declared = county.post(MATCH, content=b"{}" + padding,
                           headers={"Content-Type": "application/json"})

    def chunks():  # no Content-Length: the body streams in until it passes the limit
        yield b"{"
        for _ in range(4):
            yield padding
        yield b"}"

    streamed = county.post(MATCH, content=chunks(), headers={"Content-Type": "application/json"})
    for response in (declared, streamed):
        assert response.status_code == 400
        assert "larger than" in response.json()["issue"][0]["diagnostics"]
    assert county.get("/health").status_code == 200


def test_crosswalk_export_for_a_consumer_holds_only_its_sources(config, tmp_path, records):
    out = tmp_path / "clinic.csv"
    assert cli("crosswalk", "export", "--config", config, "--consumer", "clinic",
               "--out", out) == 0
    with duckdb.connect() as con:
        exported = con.execute("SELECT DISTINCT source_system FROM read_csv($f)",
                               {"f": str(out)}).fetchall()
        rows = con.execute("SELECT count(*) FROM read_csv($f)", {"f": str(out)}).fetchall()[0][0]
    assert {source for (source,) in exported} == CLINIC_SOURCES
    assert rows == sum(r["source_system"] in CLINIC_SOURCES for r in records)
    assert cli("crosswalk", "export", "--config", config, "--consumer", "nobody",
               "--out", tmp_path / "x.csv") == 2


def test_a_run_that_commits_while_queries_flow_is_served_without_a_restart(
        config, server, county, records):
    """Queries keep being answered (never an error) while a run merges two EIDs; once it
    commits, /health names the new run and the retired EID resolves to its successor."""
    base = server[0]
    people: dict[str, list[dict]] = {}
    for record in records:
        people.setdefault(record["enterprise_id"], []).append(record)
    singles = [members[0] for members in people.values() if len(members) == 1
               and members[0]["dob"] and members[0]["raw_first"] and members[0]["raw_last"]]
    keep, retire = singles[0], singles[1]
    statuses: list[int] = []
    stop = threading.Event()

    def ask() -> None:
        with httpx.Client(base_url=base, timeout=30, headers=county.headers) as client:
            while not stop.is_set():
                statuses.append(client.post(MATCH, json=parameters(by_name_and_dob(keep)))
                                .status_code)

    asking = threading.Thread(target=ask)
    asking.start()
    try:
        linked = linkage("link", "--config", config, "--reason", "test", "--reviewer", "tester",
                         f"{keep['source_system']}:{keep['source_record_id']}",
                         f"{retire['source_system']}:{retire['source_record_id']}")
        assert linked.returncode == 0, linked.stderr
        assert httpx.get(base + "/health").json()["run_id"] == 1
        ran = linkage("-q", "run", "--config", config)
        assert ran.returncode == 0, ran.stderr
        deadline = time.monotonic() + 30
        while httpx.get(base + "/health").json()["run_id"] != 2:
            assert time.monotonic() < deadline, "the committed run was not picked up"
            time.sleep(0.1)
    finally:
        stop.set()
        asking.join()
    assert len(statuses) > 5 and set(statuses) == {200}
    found = {}
    for record in (keep, retire):
        response = county.get(f"/eid/{record['enterprise_id']}")
        assert response.status_code == 200
        found[record["enterprise_id"]] = response.json()
    ids = {patient["id"] for patient in found.values()}
    assert len(ids) == 1  # both resolve to the one active EID
    retired = next(eid for eid, patient in found.items() if patient["id"] != eid)
    patient = found[retired]
    assert patient["link"] == [{"type": "replaces", "other": {"reference": f"Patient/{retired}"}}]
    keys = {(i["system"], i["value"]) for i in patient["identifier"]}
    for record in (keep, retire):
        assert (f"urn:linkage:source:{record['source_system']}",
                record["source_record_id"]) in keys


def test_access_log_has_consumers_and_counts_never_values(server, county, records, config):
    record = next(r for r in records if r["dob"] and r["raw_first"] and r["raw_last"])
    match(county, by_name_and_dob(record))
    httpx.post(server[0] + MATCH, json=parameters({}))  # no token
    time.sleep(1.5)  # the log is written about once a second
    shown = linkage("access-log", "--config", config, "--json")
    assert shown.returncode == 0, shown.stderr
    rows = [json.loads(line) for line in shown.stdout.splitlines()]
    assert {"consumer", "endpoint", "status", "results", "latency_ms", "logged_at"} <= set(rows[0])
    assert any(r["consumer"] == "county" and r["endpoint"] == MATCH and r["status"] == 200
               and r["results"] >= 1 for r in rows)
    assert any(r["consumer"] is None and r["status"] == 401 for r in rows)
    assert all(r["latency_ms"] >= 0 for r in rows)
    log_file = (config.parent / "store.access.duckdb").read_bytes()
    for value in (record["raw_last"], record["dob"].isoformat(), *TOKENS.values()):
        assert value.encode() not in log_file
    clinic_only = linkage("access-log", "--config", config, "--consumer", "clinic", "--json")
    assert all(json.loads(line)["consumer"] == "clinic" for line in clinic_only.stdout.splitlines())


def test_stopping_the_service_logs_no_values_and_removes_its_copy(server, config, records):
    base, process = server
    process.terminate()
    out, err = process.communicate(timeout=30)
    assert process.returncode == 0, err
    for record in records[:200]:
        for value in (record["raw_last"], record["ssn"], record["phone"], record["email"]):
            if value:
                assert value not in out + err
    for token in TOKENS.values():
        assert token not in out + err
    assert not list(config.parent.glob(".linkage-serve-*"))


def test_serve_without_a_consumers_token_is_a_config_error(config):
    done = linkage("serve", "--config", config, "--port", str(free_port()),
                   env={"CLINIC_TOKEN": "", "COUNTY_TOKEN": TOKENS["COUNTY_TOKEN"]})
    assert done.returncode == 2
    assert "CLINIC_TOKEN is not set" in done.stderr
    assert TOKENS["COUNTY_TOKEN"] not in done.stderr


def test_a_writer_is_seen_without_taking_a_lock(tmp_path):
    """The service tests for a run's write lock (F_GETLK) and never takes one: a reader
    holding the store does not count, a writer does."""
    from linkage.serve.committed import writer_holds

    path = tmp_path / "probe.duckdb"
    duckdb.connect(str(path)).close()
    holder = "import duckdb, sys, time; c = duckdb.connect(sys.argv[1], read_only={}); " \
             "print('open', flush=True); time.sleep(30)"
    for read_only, expected in ((True, False), (False, True)):
        process = subprocess.Popen([sys.executable, "-c", holder.format(read_only), str(path)],
                                   stdout=subprocess.PIPE, text=True)
        try:
            assert process.stdout.readline().strip() == "open"
            assert writer_holds(path) is expected
        finally:
            process.kill()
            process.wait()
    assert writer_holds(path) is False


@pytest.mark.parametrize("patient, fields", [
    # A name given only as text, family first before a comma or last without one.
    ({"name": [{"text": "LOPEZ, ANA MARIA"}]}, {"last_name": "LOPEZ", "first_name": "ANA"}),
    ({"name": [{"text": "Ana Maria Lopez"}]}, {"last_name": "Lopez", "first_name": "Ana"}),
    # A maiden or old name is not the name searched for; the usual one is.
    ({"name": [{"use": "maiden", "family": "Diaz", "given": ["Ana"]},
               {"use": "usual", "family": "Lopez", "given": ["Ana"]}]},
     {"last_name": "Lopez", "first_name": "Ana"}),
    # The SSN under its OID, as many EHRs send it.
    ({"identifier": [{"system": "urn:oid:2.16.840.1.113883.4.1", "value": "524-71-9043"}]},
     {"ssn": "524-71-9043"}),
])
def test_a_patient_is_read_as_ehrs_write_it(patient, fields):
    from linkage.serve.fhir import patient_fields

    assert patient_fields({"resourceType": "Patient", **patient}) == fields
