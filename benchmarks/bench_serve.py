"""`linkage serve` over local HTTP: FHIR $match latency, throughput and first-rank accuracy.

    python benchmarks/bench_serve.py --records 1000000 [--population DIR] [--queries 300]
        [--clients 2] [--seed 7] [--work DIR] [--out FILE]

Builds (or reuses) a linked store exactly as benchmarks/bench_search.py does (its
`_prepare`: `linkage synth` unless --population names one, then `linkage run`), starts
`linkage serve` on a free port in a subprocess with one consumer that sees every source,
and sends it the same noisy front-desk queries as bench_search (name in any letter case with
nicknames and typos, date-of-birth slips, the SSN's last four and the ZIP sometimes), as FHIR
Parameters over HTTP with httpx:

- latency: one client, one query after another: p50 and p95 in milliseconds, client side
  (HTTP, JSON and the search itself);
- throughput: --clients clients at once for the same queries: queries per second;
- true person first: the share of queries whose first entry is an EID holding a record of
  the query's true person (and in the top 10);
- segmentation: the same queries from a consumer that may see one source; any identifier of
  another source in an answer is counted (the target is none).

Prints one JSON object and writes it to --out (default WORK/bench_serve.json).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench_search import linked_queries, query_arguments  # noqa: E402

from linkage.project import Project  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
TOKENS = {"BENCH_ALL_TOKEN": "bench-all-sources-token", "BENCH_ONE_TOKEN": "bench-one-source-token"}
ONE_SOURCE = "ehr_csv"
MATCH = "/fhir/Patient/$match"


def _patient(search: dict) -> dict:
    patient: dict = {"resourceType": "Patient", "birthDate": search["dob"]}
    name = {}
    if search["last_name"]:
        name["family"] = search["last_name"]
    if search["first_name"]:
        name["given"] = [search["first_name"]]
    if name:
        patient["name"] = [name]
    if search["ssn_last4"]:
        patient["identifier"] = [{"system": "http://hl7.org/fhir/sid/us-ssn",
                                  "value": search["ssn_last4"]}]
    if search["zip5"]:
        patient["address"] = [{"postalCode": search["zip5"]}]
    return {"resourceType": "Parameters",
            "parameter": [{"name": "resource", "resource": patient},
                          {"name": "count", "valueInteger": 10}]}


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _serve_config(config: Path) -> Path:
    settings = yaml.safe_load(config.read_text(encoding="utf-8"))
    settings["consumers"] = [{"name": "all", "token_env": "BENCH_ALL_TOKEN"},
                             {"name": "one", "token_env": "BENCH_ONE_TOKEN",
                              "sources": [ONE_SOURCE]}]
    served = config.with_name("serve.yaml")
    served.write_text(yaml.safe_dump(settings), encoding="utf-8")
    return served


def _start(config: Path) -> tuple[subprocess.Popen, str, float]:
    port = _free_port()
    started = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-m", "linkage.cli", "serve", "--config", str(config),
         "--port", str(port)], env={**os.environ, **TOKENS}, stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE, text=True)
    base = f"http://127.0.0.1:{port}"
    while True:
        try:
            if httpx.get(base + "/health", timeout=1).status_code == 200:
                return process, base, time.perf_counter() - started
        except httpx.TransportError:
            pass
        if process.poll() is not None:
            raise SystemExit("serve did not start: " + process.communicate()[1][-2000:])
        time.sleep(0.2)


def _summary(seconds: list[float]) -> dict[str, float]:
    ordered = sorted(seconds)
    return {"n": len(ordered), "p50_ms": round(statistics.median(ordered) * 1000, 1),
            "p95_ms": round(ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))] * 1000, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    query_arguments(parser, "bench_serve.json")
    parser.add_argument("--clients", type=int, default=2)
    args = parser.parse_args()
    config, project, queries, eid_people = linked_queries(args)
    store = Path(project.config.store)
    bodies = [_patient(query["search"]) for query in queries]

    process, base, start_seconds = _start(_serve_config(config))
    try:
        headers = {"Authorization": f"Bearer {TOKENS['BENCH_ALL_TOKEN']}"}
        with httpx.Client(base_url=base, headers=headers, timeout=60) as client:
            for body in bodies[:10]:  # warm: the first queries pay for Splink's SQL
                client.post(MATCH, json=body).raise_for_status()
            latencies, first, top10 = [], 0, 0
            for query, body in zip(queries, bodies, strict=True):
                started = time.perf_counter()
                response = client.post(MATCH, json=body)
                latencies.append(time.perf_counter() - started)
                response.raise_for_status()
                found = [entry["resource"]["id"] for entry in response.json()["entry"]]
                holds = [query["person_id"] in eid_people[eid] for eid in found]
                first += bool(holds and holds[0])
                top10 += any(holds[:10])

        def hammer(part: list[dict], count: list[int]) -> None:
            with httpx.Client(base_url=base, headers=headers, timeout=60) as client:
                for body in part:
                    client.post(MATCH, json=body).raise_for_status()
                    count[0] += 1

        counts = [[0] for _ in range(args.clients)]
        threads = [threading.Thread(target=hammer, args=(bodies[i::args.clients], counts[i]))
                   for i in range(args.clients)]
        started = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        qps = sum(count[0] for count in counts) / (time.perf_counter() - started)

        leaked, answered = 0, 0
        one = {"Authorization": f"Bearer {TOKENS['BENCH_ONE_TOKEN']}"}
        with httpx.Client(base_url=base, headers=one, timeout=60) as client:
            for body in bodies:
                response = client.post(MATCH, json=body)
                response.raise_for_status()
                for entry in response.json()["entry"]:
                    answered += 1
                    leaked += any(identifier["system"] != f"urn:linkage:source:{ONE_SOURCE}"
                                  for identifier in entry["resource"]["identifier"])
    finally:
        process.terminate()
        process.wait(timeout=60)

    import duckdb

    with duckdb.connect(str(store), read_only=True) as con:
        records = con.execute("SELECT count(*) FROM person WHERE NOT is_deleted").fetchall()[0][0]
    result = {
        "benchmark": "serve", "records": records, "queries": len(queries),
        "start_seconds": round(start_seconds, 1),
        "latency": _summary(latencies),
        "throughput_qps": round(qps, 1), "clients": args.clients,
        "true_person_first": round(first / len(queries), 4),
        "true_person_top10": round(top10 / len(queries), 4),
        "segmented": {"consumer_sources": [ONE_SOURCE], "entries": answered,
                      "entries_with_another_source": leaked},
    }
    out = args.out or args.work / "bench_serve.json"
    out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
