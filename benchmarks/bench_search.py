"""Person search latency: link a synthetic population, then time searches drawn from its truth.

    python benchmarks/bench_search.py --records 100000 [--people N] [--seed 7] [--queries 300]
        [--population DIR] [--work DIR] [--one-shot 20] [--cli 5] [--out FILE]

Generates a population with `linkage synth` (about 1.66 records per person, so the default
people count is records / 1.66) unless --population names one, links it with `linkage run`
(models/default.json, the sample config's thresholds) into WORK/store.duckdb unless that
store is already there, then draws --queries records at random (seeded) and searches for
each as a front desk would: the record's raw first and last name in any letter case, with
nicknames, typos and date-of-birth slips at the rates in NOISE, the SSN's last four and the
ZIP sometimes. A query counts as found when the rank-1 EID (or one in the top 10) holds a
record of the query's true person.

Times, each a median and p95 in milliseconds:
- `searcher`: one `Project.searcher()` opened once (preloaded), many searches (the API for a
  service or a notebook); also its CPU time per search (on a shared machine, the wall time
  is mostly waiting for a core), its open time, its time per step and its peak RSS;
- `one_shot`: `Project.search` (opens the store, no preload, per query) over --one-shot queries;
- `cli`: `linkage search` in a fresh process per query over --cli queries (start-up included).

Prints one JSON object and writes it to --out (default WORK/bench_search.json).
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from memory import PeakRss  # noqa: E402

from linkage.project import Project  # noqa: E402
from linkage.synth import SOURCE_PATHS, names  # noqa: E402
from linkage.synth.noise import typo  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
RECORDS_PER_PERSON = 1.66
# What goes wrong at a front desk, per query (a nickname only where the name has one).
NOISE = {"nickname": 0.2, "first_name_typo": 0.1, "last_name_typo": 0.1,
         "dob_day_month_swap": 0.03, "dob_digit": 0.03, "ssn_last4_given": 0.3,
         "zip_given": 0.5}

_SAMPLE = """
SELECT r.source_system, r.source_record_id, r.first_name, r.last_name, p.first_name, p.dob,
    p.ssn_last4, p.zip5
FROM source_record AS r JOIN person AS p
    ON p.source_system = r.source_system AND p.source_record_id = r.source_record_id
WHERE NOT p.is_deleted AND p.dob IS NOT NULL
    AND (p.first_name IS NOT NULL OR p.last_name IS NOT NULL)
ORDER BY hash(p.record_key, $seed) LIMIT $n"""


def _linkage(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "linkage.cli", "-q", *args], check=True,
                   stdout=subprocess.DEVNULL)


def _prepare(args: argparse.Namespace) -> tuple[Path, Path]:
    """The population and a config whose store is linked; builds what is missing."""
    work = args.work
    population = args.population or work / "population"
    if not (population / "truth.csv").exists():
        people = args.people or round(args.records / RECORDS_PER_PERSON)
        _linkage("synth", "--people", str(people), "--seed", str(args.seed),
                 "--out", str(population))
    config = work / "search.yaml"
    config.write_text(yaml.safe_dump({
        "store": str(work / "store.duckdb"), "model": str(ROOT / "models" / "default.json"),
        "sources": [{"name": name, "kind": name, "path": str(population / path)}
                    for name, path in SOURCE_PATHS.items()],
        "linking": {"predict_threshold": 0.5, "match_threshold": 0.99},
    }), encoding="utf-8")
    if not (work / "store.duckdb").exists():
        _linkage("run", "--config", str(config))
    return population, config


def _vary_case(rng: random.Random, text: str | None) -> str | None:
    if text is None:
        return None
    return rng.choice((text.lower(), text.upper(), text.title()))


def _slip_dob(rng: random.Random, dob: dt.date) -> dt.date:
    if rng.random() < NOISE["dob_day_month_swap"] and dob.day <= 12 and dob.day != dob.month:
        return dt.date(dob.year, dob.day, dob.month)
    if rng.random() < NOISE["dob_digit"]:
        digits = dob.strftime("%Y%m%d")
        for _ in range(20):
            i = rng.randrange(2, 8)
            changed = digits[:i] + rng.choice("0123456789") + digits[i + 1:]
            try:
                slipped = dt.datetime.strptime(changed, "%Y%m%d").date()
            except ValueError:
                continue
            if slipped != dob and slipped <= dt.date.today():
                return slipped
    return dob


def _queries(store: Path, truth: dict[tuple[str, str], str], count: int,
             seed: int) -> list[dict]:
    rng = random.Random(seed)
    with duckdb.connect(str(store), read_only=True) as con:
        rows = con.execute(_SAMPLE, {"seed": seed, "n": count}).fetchall()
    queries = []
    for source, record_id, first, last, first_std, dob, ssn_last4, zip5 in rows:
        if first and first_std in names.NICKNAMES and rng.random() < NOISE["nickname"]:
            first = rng.choice(names.NICKNAMES[first_std])
        elif first and rng.random() < NOISE["first_name_typo"]:
            first = typo(rng, first)
        if last and rng.random() < NOISE["last_name_typo"]:
            last = typo(rng, last)
        queries.append({
            "person_id": truth[(source, record_id)],
            "search": {"first_name": _vary_case(rng, first), "last_name": _vary_case(rng, last),
                       "dob": _slip_dob(rng, dob).isoformat(),
                       "ssn_last4": ssn_last4 if rng.random() < NOISE["ssn_last4_given"] else None,
                       "zip5": zip5 if rng.random() < NOISE["zip_given"] else None},
        })
    return queries


def _eid_people(project: Project, truth: dict[tuple[str, str], str]) -> dict[str, set[str]]:
    """The true persons behind each active EID."""
    crosswalk = project.crosswalk()
    people: dict[str, set[str]] = {}
    for eid, source, record_id in zip(crosswalk.enterprise_id, crosswalk.source_system,
                                      crosswalk.source_record_id, strict=True):
        people.setdefault(eid, set()).add(truth[(source, record_id)])
    return people


def _summary(seconds: list[float]) -> dict[str, float]:
    ordered = sorted(seconds)
    return {"n": len(ordered), "median_ms": round(statistics.median(ordered) * 1000, 1),
            "p95_ms": round(ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))] * 1000, 1)}


def _cli_args(config: Path, search: dict) -> list[str]:
    args = [sys.executable, "-m", "linkage.cli", "-q", "search", "--config", str(config),
            "--dob", search["dob"], "--json"]
    for option, key in (("--first-name", "first_name"), ("--last-name", "last_name"),
                        ("--ssn-last4", "ssn_last4"), ("--zip", "zip5")):
        if search[key]:
            args += [option, search[key]]
    return args


def query_arguments(parser: argparse.ArgumentParser, result: str) -> None:
    """The population and query options bench_search and bench_serve share."""
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--people", type=int, help="people to generate (default: records / 1.66)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--population", type=Path, help="an existing `linkage synth` output")
    parser.add_argument("--work", type=Path, help="where the store and config go "
                        "(default: build/bench_search/<records>, shared by both benchmarks)")
    parser.add_argument("--out", type=Path, help=f"JSON result (default: WORK/{result})")


def linked_queries(args: argparse.Namespace) -> tuple[Path, Project, list[dict], dict]:
    """Build (or reuse) the linked store; return its config, the project, the noisy queries
    and each EID's true people."""
    args.work = args.work or ROOT / "build" / "bench_search" / str(args.records)
    args.work.mkdir(parents=True, exist_ok=True)
    population, config = _prepare(args)
    with (population / "truth.csv").open(newline="") as handle:
        truth = {(row["source_system"], row["source_record_id"]): row["person_id"]
                 for row in csv.DictReader(handle)}
    project = Project.open(config)
    queries = _queries(Path(project.config.store), truth, args.queries, args.seed)
    return config, project, queries, _eid_people(project, truth)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    query_arguments(parser, "bench_search.json")
    parser.add_argument("--one-shot", type=int, default=20)
    parser.add_argument("--cli", type=int, default=5)
    args = parser.parse_args()
    config, project, queries, eid_people = linked_queries(args)
    store = Path(project.config.store)

    sampler = PeakRss()
    try:
        sampler.mark()
        started = time.perf_counter()
        searcher = project.searcher()
        open_seconds = time.perf_counter() - started
        latencies, cpu, steps, rank1, top10 = [], [], {}, 0, 0
        with searcher:
            for query in queries:
                started, cpu_started = time.perf_counter(), time.process_time()
                found = searcher.search(**query["search"])
                latencies.append(time.perf_counter() - started)
                cpu.append(time.process_time() - cpu_started)
                for step, seconds in searcher.seconds.items():
                    steps.setdefault(step, []).append(seconds)
                holds = [query["person_id"] in eid_people[eid] for eid in found.enterprise_id]
                rank1 += bool(holds and holds[0])
                top10 += any(holds[:10])
        peak = sampler.peak_mb()
    finally:
        sampler.close()

    one_shot = []
    for query in queries[:args.one_shot]:
        started = time.perf_counter()
        project.search(**query["search"])
        one_shot.append(time.perf_counter() - started)
    cli = []
    for query in queries[:args.cli]:
        started = time.perf_counter()
        subprocess.run(_cli_args(config, query["search"]), check=True, capture_output=True)
        cli.append(time.perf_counter() - started)

    with duckdb.connect(str(store), read_only=True) as con:
        records = con.execute("SELECT count(*) FROM person WHERE NOT is_deleted").fetchall()[0][0]
    result = {
        "benchmark": "search", "records": records, "queries": len(queries), "noise": NOISE,
        "found_rank1": round(rank1 / len(queries), 4),
        "found_top10": round(top10 / len(queries), 4),
        "searcher": {**_summary(latencies), "cpu_median_ms": round(statistics.median(cpu) * 1000, 1),
                     "open_seconds": round(open_seconds, 2),
                     "peak_rss_mb": peak,
                     "steps_median_ms": {step: round(statistics.median(values) * 1000, 1)
                                         for step, values in steps.items()}},
        "one_shot": _summary(one_shot) if one_shot else None,
        "cli": _summary(cli) if cli else None,
    }
    out = args.out or args.work / "bench_search.json"
    out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
