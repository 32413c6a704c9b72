"""Incremental delivery against a full run: a K-record delivery into an N-record store.

    python benchmarks/bench_incremental.py --people 600000 --delivery 10000 [--work DIR]

Generates a population (`linkage synth`), holds back the last K EHR patients as the
delivery, links the rest with a full run, then times (a) the incremental run of the
delivery and (b) a full run of the final data on a copy of the same store, and compares
the two crosswalks: records whose EID differs, clusters (member sets) found in only one,
and, of the clusters both hold, how many carry different EID labels. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import csv
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import duckdb

ROOT = Path(__file__).resolve().parent.parent


def linkage(*args: str) -> dict:
    started = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "linkage.cli", "-q", *args, "--json"],
                            capture_output=True, text=True)
    if result.returncode:
        raise SystemExit(result.stderr)
    summary = json.loads(result.stdout)
    summary["wall_seconds"] = round(time.perf_counter() - started, 2)
    return summary


def active(store: Path) -> dict:
    with duckdb.connect(str(store), read_only=True) as con:
        return dict(((s, r), e) for s, r, e in con.execute(
            "SELECT source_system, source_record_id, enterprise_id FROM crosswalk "
            "WHERE valid_to_run IS NULL").fetchall())


def compare(incremental: dict, full: dict) -> dict:
    """How the two crosswalks ({record: eid}) differ: in records, in clusters, in labels."""
    def clusters(crosswalk: dict) -> dict:
        members: dict = {}
        for record, eid in crosswalk.items():
            members.setdefault(eid, set()).add(record)
        return {frozenset(records): eid for eid, records in members.items()}
    left, right = clusters(incremental), clusters(full)
    shared = left.keys() & right.keys()
    # Record pairs in one EID in either crosswalk, and in one EID in both (clusters
    # found in both hold the same pairs, so only the others are enumerated).
    def pairs(found: dict) -> set:
        return {(a, b) for members in found.keys() - shared
                for a in members for b in members if a < b}
    only_left, only_right = pairs(left), pairs(right)
    in_shared = sum(len(c) * (len(c) - 1) // 2 for c in shared)
    either = in_shared + len(only_left | only_right)
    return {
        "pairs_in_one_eid_in_either": either,
        "pair_agreement": round((in_shared + len(only_left & only_right)) / either, 6)
        if either else 1.0,
        "records_with_other_eid": sum(incremental.get(r) != e for r, e in full.items()),
        "clusters_only_in_one": len(left.keys() - right.keys()) + len(right.keys() - left.keys()),
        "shared_clusters": len(shared),
        "shared_clusters_with_other_label": sum(left[c] != right[c] for c in shared)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=600_000)
    parser.add_argument("--delivery", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--work", type=Path, default=ROOT / "build" / "bench_incremental")
    args = parser.parse_args()
    work = args.work
    population = work / "population"
    if not (population / "truth.csv").exists():
        subprocess.run([sys.executable, "-m", "linkage.cli", "synth", "--people",
                        str(args.people), "--seed", str(args.seed), "--out", str(population)],
                       check=True)
    patients = population / "ehr" / "patients.csv"
    with patients.open(newline="") as handle:
        rows = list(csv.reader(handle))
    header, body = rows[0], rows[1:]
    day0, delta = work / "day0", work / "delta"
    shutil.rmtree(day0, ignore_errors=True)
    shutil.copytree(population, day0)
    for folder, part in ((day0, body[:-args.delivery]), (delta, body[-args.delivery:])):
        (folder / "ehr").mkdir(parents=True, exist_ok=True)
        with (folder / "ehr" / "patients.csv").open("w", newline="") as handle:
            writer = csv.writer(handle, lineterminator="\n")
            writer.writerow(header)
            writer.writerows(part)
    config = work / "run.yaml"
    config.write_text((ROOT / "configs" / "sample.yaml").read_text()
                      .replace("../sample_data", str(day0))
                      .replace("../models", str(ROOT / "models"))
                      .replace("../out/sample.duckdb", str(work / "store.duckdb")))
    store, copy = work / "store.duckdb", work / "full.duckdb"
    store.unlink(missing_ok=True)
    first = linkage("run", "--config", str(config))
    shutil.copy(store, copy)
    incremental = linkage("run", "--config", str(config), "--delivery",
                          f"ehr_csv={delta / 'ehr' / 'patients.csv'}")
    shutil.copy(patients, day0 / "ehr" / "patients.csv")
    full = linkage("run", "--config", str(config), "--store", str(copy))
    after_delivery, after_full = active(store), active(copy)
    print(json.dumps({
        "records": first["persons"] + args.delivery, "delivery": args.delivery,
        "first_full_run_seconds": first["wall_seconds"], "first_full_run_stages": first["seconds"],
        "incremental_seconds": incremental["wall_seconds"],
        "incremental_stages": incremental["seconds"],
        "full_rerun_seconds": full["wall_seconds"], "full_rerun_stages": full["seconds"],
        "speedup": round(full["wall_seconds"] / incremental["wall_seconds"], 1),
        "same_crosswalk": after_delivery == after_full, **compare(after_delivery, after_full)}))


if __name__ == "__main__":
    main()
