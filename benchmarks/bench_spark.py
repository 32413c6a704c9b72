"""Local Spark against DuckDB: the same population, config and model through both backends.

    python benchmarks/bench_spark.py --records 100000,1000000 [--population 100000=DIR ...]
        [--driver-memory 8g] [--work DIR] [--out benchmarks/spark.json]

For each size: a `linkage synth` population (about 1.66 records per person, seed 20250701)
unless --population names one; then `linkage run --backend duckdb` and `linkage run
--backend spark`, each in its own process. Measured per run: wall seconds (process start to
exit, so Spark's JVM start is in it), the run's own stage seconds, and the peak RSS and CPU
seconds of the whole process tree sampled every 100 ms (Spark's JVM and its Python workers are child
processes). Then the two stores are compared: active crosswalk rows with the same EID, EID
counts, and accuracy against the population's truth.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import psutil
import yaml

from linkage.crosswalk.labels import KEY_ENV

ROOT = Path(__file__).resolve().parent.parent
RECORDS_PER_PERSON = 1.66
SOURCES = {"calsaws": "calsaws/persons.csv", "hmis": "hmis", "ehr_csv": "ehr/patients.csv",
           "ehr_fhir": "ehr/patients.ndjson"}


def tree_usage(process: psutil.Process) -> tuple[int, float]:
    """The resident memory and the CPU seconds so far of a process and its children."""
    rss, cpu = 0, 0.0
    try:
        members = [process, *process.children(recursive=True)]
    except psutil.Error:  # the run ended between two samples
        return 0, 0.0
    for member in members:
        try:
            rss += member.memory_info().rss
            times = member.cpu_times()
            cpu += times.user + times.system
        except psutil.Error:
            pass
    return rss, cpu


def timed_run(args: list[str]) -> dict[str, Any]:
    """Run the CLI in a child process; its wall time, JSON result, peak tree RSS and tree
    CPU seconds (as last sampled: on a machine shared with other jobs, a figure that their
    load changes less than wall time)."""
    started = time.perf_counter()
    # One EID key for both backends: each store would otherwise make its own, and the same
    # cluster would carry a different label in each.
    env = {**os.environ, KEY_ENV: "be" * 32}
    child = subprocess.Popen([sys.executable, "-m", "linkage.cli", "--progress", "none", *args],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    process = psutil.Process(child.pid)
    peak, cpu = [0], [0.0]
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.1):
            rss, seconds = tree_usage(process)
            peak[0] = max(peak[0], rss)
            cpu[0] = max(cpu[0], seconds)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    out, err = child.communicate()
    done.set()
    sampler.join()
    seconds = time.perf_counter() - started
    if child.returncode:
        raise SystemExit(f"linkage {' '.join(args[:1])} failed ({child.returncode}):\n{err[-2000:]}")
    summary = json.loads(out)
    return {"wall_seconds": round(seconds, 1),
            "stage_seconds": {k: round(v, 1) for k, v in summary["seconds"].items()},
            "peak_rss_mb": round(peak[0] / 2**20), "cpu_seconds": round(cpu[0], 1),
            "records": summary["persons"], "pairs_scored": summary["link"]["pairs_scored"],
            "pairs_kept": summary["link"]["pairs_kept"], "eids": summary["crosswalk"]["eids_active"]}


def compare(config: Path, duck: Path, spark: Path, truth: Path) -> dict[str, Any]:
    from linkage import Project
    from linkage.store import open_store

    active = ("SELECT source_system, source_record_id, enterprise_id FROM crosswalk "
              "WHERE valid_to_run IS NULL")
    with open_store(duck, read_only=True) as a, open_store(spark, read_only=True) as b:
        left = set(a.con.sql(active).fetchall())
        right = set(b.con.sql(active).fetchall())
    f1 = {}
    for name, store in (("duckdb", duck), ("spark", spark)):
        metrics = Project.open(config, store=store).evaluate(truth)
        f1[name] = round(metrics.f1, 4)
    return {"records": len(left), "same_eid": len(left & right),
            "differing": len(left ^ right) // 2, "f1": f1}


def bench_size(records: int, population: Path | None, work: Path, memory: str,
               seed: int) -> dict[str, Any]:
    folder = work / f"n{records}"
    folder.mkdir(parents=True, exist_ok=True)
    population = population or folder / "population"
    if not (population / "truth.csv").exists():
        subprocess.run([sys.executable, "-m", "linkage.cli", "-q", "synth", "--people",
                        str(round(records / RECORDS_PER_PERSON)), "--seed", str(seed),
                        "--out", str(population)], check=True, stdout=subprocess.DEVNULL)
    config = folder / "run.yaml"
    config.write_text(yaml.safe_dump({
        "store": str(folder / "store.duckdb"), "model": str(ROOT / "models" / "default.json"),
        "sources": [{"name": n, "kind": n, "path": str(population / p)} for n, p in SOURCES.items()],
        "linking": {"predict_threshold": 0.5, "match_threshold": 0.99},
        "spark": {"master": "local[*]", "driver_memory": memory},
    }), encoding="utf-8")
    duck, spark = folder / "store.duckdb", folder / "store.parquet"
    for store in (duck,):
        store.unlink(missing_ok=True)
    subprocess.run(["rm", "-rf", str(spark)], check=True)
    result: dict[str, Any] = {"records": records}
    for backend in ("duckdb", "spark"):
        print(f"{records}: {backend} ...", file=sys.stderr, flush=True)
        result[backend] = timed_run(["run", "--config", str(config), "--backend", backend, "--json"])
        print(f"  {result[backend]}", file=sys.stderr, flush=True)
    result["agreement"] = compare(config, duck, spark, population / "truth.csv")
    print(f"  {result['agreement']}", file=sys.stderr, flush=True)
    return result


def markdown(results: dict[str, Any]) -> str:
    lines = ["| records | backend | wall s | CPU s | land | standardize | link | crosswalk "
             "| peak RSS MB | EIDs | F1 |", "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for size in results["sizes"]:
        for backend in ("duckdb", "spark"):
            run = size[backend]
            s = run["stage_seconds"]
            lines.append(f"| {size['records']:,} | {backend} | {run['wall_seconds']} | "
                         f"{run.get('cpu_seconds')} | "
                         f"{s.get('land')} | {s.get('standardize')} | {s.get('link')} | "
                         f"{s.get('crosswalk')} | {run['peak_rss_mb']:,} | {run['eids']:,} | "
                         f"{size['agreement']['f1'][backend]} |")
    lines.append("")
    for size in results["sizes"]:
        a = size["agreement"]
        lines.append(f"- {size['records']:,} records: {a['same_eid']:,} of {a['records']:,} "
                     f"active records have the same EID on both backends.")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", default="100000,1000000")
    parser.add_argument("--population", action="append", default=[], metavar="RECORDS=DIR",
                        help="an existing `linkage synth` output for one size")
    parser.add_argument("--driver-memory", default="8g")
    parser.add_argument("--seed", type=int, default=20250701)
    parser.add_argument("--work", type=Path, default=Path("/tmp/linkage-bench-spark"))
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "spark.json")
    args = parser.parse_args()
    populations = {int(k): Path(v) for k, _, v in (p.partition("=") for p in args.population)}
    results: dict[str, Any] = {
        "machine": {"cpus": os.cpu_count(), "memory_gb": round(psutil.virtual_memory().total / 2**30),
                    "python": platform.python_version()},
        "driver_memory": args.driver_memory, "sizes": []}
    for records in (int(r) for r in args.records.split(",")):
        results["sizes"].append(bench_size(records, populations.get(records), args.work,
                                           args.driver_memory, args.seed))
        args.out.write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")
    args.out.with_suffix(".md").write_text(markdown(results), encoding="utf-8")
    print(markdown(results))


if __name__ == "__main__":
    main()
