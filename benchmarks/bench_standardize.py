"""Standardization throughput: land a synthetic population, time `standardize()` alone.

    python benchmarks/bench_standardize.py --records 1000000 [--people N] [--seed 3]
        [--population DIR] [--store FILE]

Generates a population with `linkage synth` (about 1.67 records per person, so the
default people count is records / 1.66) unless --population names an existing one, lands
it into a scratch store, then times `standardize()` on the landed records and prints
one JSON line: records, seconds, rows per second and the peak RSS of the process
during standardization (sampled every 20 ms). Landing is timed apart and not counted.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from memory import PeakRss  # noqa: E402

from linkage.config import SourceConfig  # noqa: E402
from linkage.sources import check_sources, land_sources  # noqa: E402
from linkage.standardize import standardize  # noqa: E402
from linkage.store import open_store  # noqa: E402

RECORDS_PER_PERSON = 1.66


def _sources(population: Path) -> list[SourceConfig]:
    return [
        SourceConfig(name="calsaws", kind="calsaws", path=population / "calsaws" / "persons.csv"),
        SourceConfig(name="hmis", kind="hmis", path=population / "hmis"),
        SourceConfig(name="ehr_csv", kind="ehr_csv", path=population / "ehr" / "patients.csv"),
        SourceConfig(name="ehr_fhir", kind="ehr_fhir", path=population / "ehr" / "patients.ndjson"),
    ]


def _synthesize(people: int, seed: int, out: Path) -> None:
    subprocess.run([sys.executable, "-m", "linkage.cli", "-q", "synth", "--people", str(people),
                    "--seed", str(seed), "--out", str(out)], check=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--people", type=int, help="people to generate (default: records / 1.66)")
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--population", type=Path, help="an existing `linkage synth` output")
    parser.add_argument("--store", type=Path, help="scratch store (default: a temporary file)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench_standardize_") as scratch:
        scratch = Path(scratch)
        population = args.population
        if population is None:
            population = scratch / "population"
            _synthesize(args.people or round(args.records / RECORDS_PER_PERSON), args.seed,
                        population)
        store_path = args.store or scratch / "bench.duckdb"
        with open_store(store_path, create=True) as store:
            started = time.perf_counter()
            with store.transaction():
                land_sources(store, check_sources(_sources(population)), run_id=1)
            land_seconds = time.perf_counter() - started
            records = store.scalar("bench", "count", "SELECT count(*) FROM source_record")
            sampler = PeakRss()
            try:
                sampler.mark()
                started = time.perf_counter()
                with store.transaction():
                    persons = standardize(store)
                seconds = time.perf_counter() - started
                peak = sampler.peak_mb()
            finally:
                sampler.close()
    print(json.dumps({
        "benchmark": "standardize", "records": records, "persons": persons,
        "seconds": round(seconds, 2), "rows_per_second": round(records / seconds),
        "peak_rss_mb": peak, "land_seconds": round(land_seconds, 2),
    }))


if __name__ == "__main__":
    main()
