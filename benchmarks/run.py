"""Benchmark: generate -> run -> evaluate for a list of sizes, with a plain-Splink baseline.

    python benchmarks/run.py --sizes 10000,100000,1000000 --out benchmarks/results.json
    python benchmarks/run.py --sizes 100000 --profile drift --out benchmarks/drift.json

Sizes are in records; the people count for each is chosen from the generator's records per
person, measured on a small pilot population. Every step runs in its own process, so each
step's peak memory is its own: RSS is sampled every 20 ms in a thread (memory.py).

Per size the result holds: generation seconds and peak memory; linkage's seconds and peak
memory per stage (land, standardize, link = block/score/cluster, crosswalk, export), pairs
scored per record, cluster-pair and B-cubed precision/recall/F1, EIDs against true persons;
with deliveries, the share of unchanged people whose EID stayed the same each day (full
re-runs on each day's snapshot into the same store); and the baseline (baseline.py) on the
same files. Also writes the markdown table next to --out (same name, .md).

Our model: models/default.json (trained by `make model` on a separate 20,000-person
population, seed 20261121), not retrained per size. `--profile NAME` generates every size
with another noise profile of the generator (`linkage synth --profile`): the model measured
on data it was not tuned on. The results record the profile.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
STAGES = ("land", "standardize", "link", "crosswalk", "export")
SOURCES = (
    ("calsaws", "calsaws", "calsaws/persons.csv"),
    ("hmis", "hmis", "hmis"),
    ("ehr_csv", "ehr_csv", "ehr/patients.csv"),
    ("ehr_fhir", "ehr_fhir", "ehr/patients.ndjson"),
)


# -- workers: each runs in its own process and prints one JSON object ---------------------

def _worker(kind: str, args: dict[str, Any]) -> dict[str, Any]:
    sys.path.insert(0, str(HERE))
    from memory import PeakRss, measured

    logging.getLogger("splink").setLevel(logging.ERROR)
    sampler = PeakRss()
    try:
        if kind == "generate":
            from linkage.synth import generate_population
            stages: dict[str, dict[str, float]] = {}
            with measured(sampler, stages, "generate"):
                summary = generate_population(args["people"], args["seed"], Path(args["out"]),
                                              deliveries=args["deliveries"],
                                              profile=args.get("profile", "default"))
            return {**stages["generate"], "people": summary.people, "profile": summary.profile,
                    "records": sum(summary.records.values()), "by_source": summary.records}
        if kind == "run":
            return _run_linkage(sampler, args)
        if kind == "baseline":
            from baseline import run_baseline
            root = Path(args["root"])
            return run_baseline(root, root / "truth.csv", sampler=sampler)
        raise SystemExit(f"unknown worker {kind}")
    finally:
        sampler.close()


def _run_linkage(sampler: Any, args: dict[str, Any]) -> dict[str, Any]:
    from memory import measured

    from linkage import Project

    project = Project.open(args["config"], store=args["store"])
    peaks: dict[str, float] = {}

    def report(event) -> None:
        if event.kind == "stage_started":
            sampler.mark()
        elif event.kind == "stage_done":
            peaks[event.stage] = sampler.peak_mb()

    started = time.perf_counter()
    summary = project.run(report=report)
    total = time.perf_counter() - started
    stages = {name: {"seconds": seconds, "peak_rss_mb": peaks.get(name)}
              for name, seconds in summary.seconds.items()}
    with measured(sampler, stages, "export"):
        project.export_crosswalk(Path(args["export"]))
    metrics = project.evaluate(args["truth"]).as_dict()
    return {"run_seconds": round(total, 3), "stages": stages, "records": summary.link.records,
            "pairs_scored": summary.link.pairs_scored, "clusters": summary.link.clusters,
            "pairs_by_rule": getattr(summary.link, "pairs_by_rule", {}), "metrics": metrics}


def _spawn(kind: str, args: dict[str, Any], timeout: float | None = None) -> dict[str, Any]:
    started = time.perf_counter()
    done = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--worker", kind,
                           json.dumps(args)], capture_output=True, text=True, cwd=REPO,
                          timeout=timeout)
    if done.returncode != 0:
        raise RuntimeError(f"{kind} worker failed:\n{done.stderr[-4000:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    result["wall_seconds"] = round(time.perf_counter() - started, 3)
    return result


# -- the driver --------------------------------------------------------------------------

def _write_config(root: Path, path: Path, model: Path) -> Path:
    lines = [f"store: {json.dumps(str(path.with_suffix('.duckdb')))}",
             f"model: {json.dumps(str(model))}", "sources:"]
    for name, kind, relative in SOURCES:
        lines.append(f"  - {{name: {name}, kind: {kind}, path: {json.dumps(str(root / relative))}}}")
    lines += ["linking:", "  predict_threshold: 0.5", "  match_threshold: 0.99", ""]
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def _records_per_person(seed: int, profile: str = "default") -> float:
    import tempfile

    from linkage.synth import generate_population
    with tempfile.TemporaryDirectory() as tmp:
        summary = generate_population(5000, seed, Path(tmp), profile=profile)
    return sum(summary.records.values()) / summary.people


def stability(root: Path, day: int, before: Path, after: Path) -> dict[str, Any]:
    """Of the people none of whose records changed on `day`, the share whose records all
    kept their EID; plus the same share over records."""
    import duckdb
    delta = root / "deliveries" / f"day{day:02d}" / "delta"
    snapshot = root / "deliveries" / f"day{day:02d}" / "snapshot"
    con = duckdb.connect()
    try:
        row = con.execute("""
WITH prev AS (SELECT * FROM read_csv($before, all_varchar = true)),
cur AS (SELECT * FROM read_csv($after, all_varchar = true)),
truth AS (SELECT * FROM read_csv($truth, all_varchar = true)),
touched AS (
    SELECT person_id FROM read_csv($delta_truth, all_varchar = true)
    UNION
    SELECT t.person_id FROM read_csv($deleted, all_varchar = true) AS d
    JOIN truth AS t USING (source_system, source_record_id)
),
records AS (
    SELECT t.person_id, p.enterprise_id AS eid_before, c.enterprise_id AS eid_after
    FROM truth AS t
    JOIN prev AS p USING (source_system, source_record_id)
    JOIN cur AS c USING (source_system, source_record_id)
    WHERE t.person_id NOT IN (SELECT person_id FROM touched)
),
people AS (SELECT person_id, bool_and(eid_before = eid_after) AS kept FROM records GROUP BY ALL)
SELECT (SELECT count(*) FROM people), (SELECT count(*) FILTER (WHERE kept) FROM people),
       (SELECT count(*) FROM records),
       (SELECT count(*) FILTER (WHERE eid_before = eid_after) FROM records)
""", {"before": str(before), "after": str(after), "truth": str(snapshot / "truth.csv"),
      "delta_truth": str(delta / "truth.csv"), "deleted": str(delta / "deleted.csv")}
        ).fetchall()[0]
    finally:
        con.close()
    people, kept, records, records_kept = row
    return {"day": day, "unchanged_people": people, "eid_kept_people": kept,
            "share_people": round(kept / people, 5) if people else None,
            "share_records": round(records_kept / records, 5) if records else None}


def bench_size(size: int, per_person: float, work: Path, seed: int, model: Path,
               deliveries: int, baseline: bool, baseline_timeout: float,
               profile: str = "default") -> dict[str, Any]:
    people = max(1, round(size / per_person))
    root = work / (f"n{size}" if profile == "default" else f"n{size}-{profile}")
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    print(f"[{size}] generating {people} people (profile {profile})", file=sys.stderr, flush=True)
    result: dict[str, Any] = {"target_records": size, "people": people, "profile": profile}
    result["generate"] = _spawn("generate", {"people": people, "seed": seed, "out": str(root / "data"),
                                             "deliveries": deliveries, "profile": profile})
    data = root / "data"
    config = _write_config(data, root / "day00.yaml", model)
    store = root / "store.duckdb"
    print(f"[{size}] linkage run", file=sys.stderr, flush=True)
    result["linkage"] = _spawn("run", {"config": str(config), "store": str(store),
                                       "export": str(root / "crosswalk00.csv"),
                                       "truth": str(data / "truth.csv")})
    result["stability"] = []
    for day in range(1, deliveries + 1):
        snapshot = data / "deliveries" / f"day{day:02d}" / "snapshot"
        day_config = _write_config(snapshot, root / f"day{day:02d}.yaml", model)
        print(f"[{size}] linkage run, day {day} snapshot", file=sys.stderr, flush=True)
        run = _spawn("run", {"config": str(day_config), "store": str(store),
                             "export": str(root / f"crosswalk{day:02d}.csv"),
                             "truth": str(snapshot / "truth.csv")})
        result["stability"].append({
            **stability(data, day, root / f"crosswalk{day - 1:02d}.csv",
                        root / f"crosswalk{day:02d}.csv"),
            "run_seconds": run["run_seconds"], "f1": run["metrics"]["f1"]})
    if baseline:
        print(f"[{size}] baseline", file=sys.stderr, flush=True)
        try:
            result["baseline"] = _spawn("baseline", {"root": str(data)}, baseline_timeout)
        except (RuntimeError, subprocess.TimeoutExpired) as error:
            # A baseline that fails or runs too long must not cost the size's results.
            result["baseline_error"] = str(error).splitlines()[0]
    return result


def machine() -> dict[str, Any]:
    import duckdb
    import psutil
    import splink
    return {"nproc": os.cpu_count(), "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
            "cpu": platform.processor() or platform.machine(), "os": platform.platform(),
            "python": platform.python_version(), "duckdb": duckdb.__version__,
            "splink": splink.__version__}


def write_results(out: Path, results: dict[str, Any], text: str) -> None:
    """The results as JSON at `out` and their markdown beside it (same name, .md); written
    after every size or population, so a long run leaves its finished ones behind."""
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")
    out.with_suffix(".md").write_text(text, encoding="utf-8")


def markdown(results: dict[str, Any]) -> str:
    """The results as markdown tables: one row per size, ratios to the baseline."""
    m = results["machine"]
    out = [f"Machine: {m['nproc']} cores, {m['memory_gb']} GB, {m['os']}; Python {m['python']}, "
           f"duckdb {m['duckdb']}, splink {m['splink']}. "
           f"Generator profile: {results.get('profile', 'default')}.", ""]
    out += ["### Time (s) and peak memory (MB) per stage", "",
            "| records | people | generate | " + " | ".join(STAGES) + " | total run |",
            "|---:|---:|---:|" + "---:|" * len(STAGES) + "---:|"]
    for r in results["sizes"]:
        st = r["linkage"]["stages"]
        cells = [f"{st[s]['seconds']:.1f} s / {st[s]['peak_rss_mb']:.0f} MB" if s in st else "-"
                 for s in STAGES]
        gen = r["generate"]
        out.append(f"| {r['linkage']['records']:,} | {r['people']:,} | {gen['seconds']:.1f} s / "
                   f"{gen['peak_rss_mb']:.0f} MB | " + " | ".join(cells)
                   + f" | {r['linkage']['run_seconds']:.1f} s |")
    out += ["", "### Accuracy (cluster pairs and B-cubed), linkage vs the Splink baseline", "",
            "| records | pairs scored / record | precision | recall | F1 | B-cubed F1 | "
            "EIDs / true persons | baseline F1 (threshold) | baseline B-cubed F1 | "
            "F1 ratio | time ratio |",
            "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in results["sizes"]:
        lk, mt = r["linkage"], r["linkage"]["metrics"]
        row = (f"| {lk['records']:,} | {lk['pairs_scored'] / lk['records']:.1f} | "
               f"{mt['precision']:.4f} | {mt['recall']:.4f} | {mt['f1']:.4f} | "
               f"{mt['bcubed_f1']:.4f} | {mt['enterprise_ids']:,} / {mt['true_persons']:,} |")
        base = r.get("baseline")
        if base:
            best = base["best"]
            ours_time = lk["run_seconds"] + lk["stages"]["export"]["seconds"]
            base_time = sum(v["seconds"] for k, v in base["stages"].items()
                            if not k.startswith("cluster@")) + (base["best_cluster_seconds"] or 0)
            row += (f" {best['f1']:.4f} ({best['threshold']}) | {best['bcubed_f1']:.4f} | "
                    f"{mt['f1'] / best['f1']:.3f} | {ours_time / base_time:.2f} |")
        else:
            row += (f" {r['baseline_error'][:60]} | - | - | - |" if r.get("baseline_error")
                    else " - | - | - | - |")
        out.append(row)
    if any(r["stability"] for r in results["sizes"]):
        out += ["", "### EID stability across deliveries (full re-run on each day's snapshot)", "",
                "| records | day | unchanged people | EID kept (people) | EID kept (records) | "
                "F1 that day |", "|---:|---:|---:|---:|---:|---:|"]
        for r in results["sizes"]:
            for s in r["stability"]:
                out.append(f"| {r['linkage']['records']:,} | {s['day']} | "
                           f"{s['unchanged_people']:,} | {s['share_people']:.4f} | "
                           f"{s['share_records']:.4f} | {s['f1']:.4f} |")
    if any(r.get("baseline") for r in results["sizes"]):
        out += ["", "### Baseline detail (plain Splink 5, textbook model)", "",
                "| records | pairs scored / record | prepare | train | predict | "
                "cluster (best) | peak MB | F1 sweep |", "|---:|---:|---:|---:|---:|---:|---:|---|"]
        for r in results["sizes"]:
            base = r.get("baseline")
            if not base:
                continue
            st = base["stages"]
            sweep = ", ".join(f"{s['threshold']}: {s['f1']:.3f}" for s in base["sweep"])
            peak = max(v.get("peak_rss_mb") or 0 for v in st.values())
            out.append(f"| {base['records']:,} | {base['pairs_scored'] / base['records']:.1f} | "
                       f"{st['prepare']['seconds']:.1f} s | {st['train']['seconds']:.1f} s | "
                       f"{st['predict']['seconds']:.1f} s | {base['best_cluster_seconds']:.1f} s | "
                       f"{peak:.0f} | {sweep} |")
    return "\n".join(out) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10000,100000,1000000",
                        help="comma-separated record counts")
    parser.add_argument("--out", type=Path, default=HERE / "results.json")
    parser.add_argument("--work", type=Path, default=Path("/tmp/linkage-bench"),
                        help="where populations, stores and crosswalks go")
    parser.add_argument("--seed", type=int, default=20250701)
    parser.add_argument("--model", type=Path, default=REPO / "models/default.json")
    parser.add_argument("--profile", default="default",
                        help="generator noise profile (linkage synth --profile), e.g. drift")
    parser.add_argument("--deliveries", type=int, default=2,
                        help="later deliveries for the EID-stability measure")
    parser.add_argument("--deliveries-max-records", type=int, default=100_000,
                        help="only sizes up to this get deliveries (each day is a full re-run)")
    parser.add_argument("--no-baseline", action="store_true")
    parser.add_argument("--baseline-timeout", type=float, default=3600,
                        help="seconds before the baseline of one size is given up")
    parser.add_argument("--worker", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(_worker(args.worker[0], json.loads(args.worker[1]))))
        return
    sizes = [int(size) for size in args.sizes.split(",")]
    per_person = _records_per_person(args.seed, args.profile)
    results: dict[str, Any] = {"machine": machine(), "profile": args.profile,
                               "records_per_person": round(per_person, 4),
                               "command": " ".join(["python", "benchmarks/run.py", *sys.argv[1:]]),
                               "model": str(args.model.resolve().relative_to(REPO))
                               if args.model.resolve().is_relative_to(REPO) else str(args.model),
                               "sizes": []}
    for size in sizes:
        deliveries = args.deliveries if size <= args.deliveries_max_records else 0
        results["sizes"].append(bench_size(size, per_person, args.work, args.seed,
                                           args.model.resolve(), deliveries, not args.no_baseline,
                                           args.baseline_timeout, args.profile))
        write_results(args.out, results, markdown(results))
    print(args.out.with_suffix(".md").read_text(encoding="utf-8"))


if __name__ == "__main__":
    main()
