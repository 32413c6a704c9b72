"""Landing throughput: rows per second and peak memory for each source shape.

Builds N-row extracts of each shape from the bundled sample (rows repeated with fresh
record keys, so every row lands), then lands each shape in a fresh process and store:

    python benchmarks/bench_landing.py --rows 1000000 [--work build/bench_landing]
        [--shapes calsaws,ehr_csv] [--repeat 3] [--threads 1]

Prints one JSON line per shape and repeat: rows, seconds, rows_per_second, cpu_seconds (user
and system time of all the process's threads: on a shared machine it moves less than the
wall time) and peak_rss_mb. With `--threads 1` DuckDB runs on one thread, so cpu_seconds is the
landing's work alone (no second thread waiting for its turn on a busy machine).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import duckdb

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "sample_data"


def build_extracts(rows: int, work: Path) -> dict[str, Path]:
    """Write `rows` records of each shape under `work` (reused when already there)."""
    work.mkdir(parents=True, exist_ok=True)
    out = {"calsaws": work / "calsaws.csv", "ehr_csv": work / "patients.csv",
           "ehr_fhir": work / "patients.ndjson", "hmis": work / "hmis"}
    marker = work / f"rows-{rows}"
    if marker.exists():
        return out
    with duckdb.connect() as con:
        def repeat(sql_file: str, key_sql: str, target: Path, header: bool = True) -> None:
            con.execute(f"""
COPY (
    WITH base AS (SELECT *, row_number() OVER () AS base_row
                  FROM read_csv(?, all_varchar = true, header = true)),
    n AS (SELECT count(*) AS n FROM base)
    SELECT * EXCLUDE (base_row, copy) REPLACE ({key_sql})
    FROM base, (SELECT range AS copy FROM range(CAST(ceil(? / (SELECT n FROM n)) AS BIGINT)))
    LIMIT ?
) TO '{target}' (HEADER {str(header).lower()})""", [sql_file, rows, rows])

        repeat(str(SAMPLE / "calsaws/persons.csv"),
               "CAST(copy * 100000 + base_row AS VARCHAR) AS case_number",
               out["calsaws"])
        repeat(str(SAMPLE / "ehr/patients.csv"),
               "lpad(CAST(copy * 100000 + base_row AS VARCHAR), 10, '0') AS mrn", out["ehr_csv"])
        hmis = out["hmis"]
        hmis.mkdir(exist_ok=True)
        repeat(str(SAMPLE / "hmis/Client.csv"),
               "md5(PersonalID || copy) AS PersonalID", hmis / "Client.csv")
        repeat(str(SAMPLE / "hmis/Enrollment.csv"),
               "md5(PersonalID || copy) AS PersonalID", hmis / "Enrollment.csv")
        (hmis / "Export.csv").write_bytes((SAMPLE / "hmis/Export.csv").read_bytes())
        con.execute(f"""
COPY (
    WITH base AS (SELECT line, row_number() OVER () AS base_row FROM read_csv(?,
        columns = {{'line': 'VARCHAR'}}, header = false, delim = chr(1), quote = '',
        escape = '', auto_detect = false)),
    n AS (SELECT count(*) AS n FROM base)
    SELECT json_merge_patch(line, json_object('identifier', json_array(json_object(
        'type', json_object('coding', json_array(json_object('code', 'MR'))),
        'system', 'urn:oid:2.16.840.1.113883.3.9999.2',
        'value', CAST(copy * 100000 + base_row AS VARCHAR))))) AS line
    FROM base, (SELECT range AS copy FROM range(CAST(ceil(? / (SELECT n FROM n)) AS BIGINT)))
    LIMIT ?
) TO '{out["ehr_fhir"]}' (FORMAT csv, HEADER false, QUOTE '', DELIMITER '\x01')""",
                    [str(SAMPLE / "ehr/patients.ndjson"), rows, rows])
    marker.touch()
    return out


_LAND = """
import json, resource, sys, time
from pathlib import Path
from linkage.config import SourceConfig
from linkage.sources import check_sources, land_sources
from linkage.store import open_store
kind, path, store, threads = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3]), int(sys.argv[4])
usage = resource.getrusage(resource.RUSAGE_SELF)
cpu_before = usage.ru_utime + usage.ru_stime
started = time.perf_counter()
deliveries = check_sources([SourceConfig(name=kind, kind=kind, path=path)])
with open_store(store, create=True) as s:
    if threads:
        s.con.execute(f"SET threads = {threads}")
    with s.transaction():
        count = land_sources(s, deliveries, 1)[0]
seconds = time.perf_counter() - started
usage = resource.getrusage(resource.RUSAGE_SELF)
print(json.dumps({"rows_read": count.rows_read, "rows_landed": count.rows_landed,
                  "rows_rejected": count.rows_rejected, "seconds": round(seconds, 2),
                  "cpu_seconds": round(usage.ru_utime + usage.ru_stime - cpu_before, 2),
                  "peak_rss_mb": round(usage.ru_maxrss / 1024)}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--work", type=Path, default=ROOT / "build" / "bench_landing")
    parser.add_argument("--shapes", default="calsaws,ehr_csv,ehr_fhir,hmis",
                        help="comma-separated shapes to land (default: all four)")
    parser.add_argument("--repeat", type=int, default=1,
                        help="land each shape this many times (a shared machine varies)")
    parser.add_argument("--threads", type=int, default=0,
                        help="DuckDB threads for the landing (default: DuckDB's, one per core)")
    args = parser.parse_args()
    shapes = args.shapes.split(",")
    unknown = sorted(set(shapes) - {"calsaws", "ehr_csv", "ehr_fhir", "hmis"})
    if unknown:
        parser.error(f"unknown shape {unknown[0]!r}; expected calsaws, ehr_csv, ehr_fhir, hmis")
    started = time.perf_counter()
    extracts = build_extracts(args.rows, args.work)
    print(json.dumps({"built_extracts_seconds": round(time.perf_counter() - started, 1)}))
    for _ in range(args.repeat):
        for kind in shapes:
            store = args.work / f"{kind}.duckdb"
            store.unlink(missing_ok=True)
            Path(str(store) + ".wal").unlink(missing_ok=True)
            result = subprocess.run([sys.executable, "-c", _LAND, kind, str(extracts[kind]),
                                     str(store), str(args.threads)],
                                    capture_output=True, text=True, check=True)
            figures = json.loads(result.stdout.strip().splitlines()[-1])
            figures["rows_per_second"] = round(figures["rows_read"] / figures["seconds"])
            print(json.dumps({"shape": kind, **figures}), flush=True)
            store.unlink(missing_ok=True)


if __name__ == "__main__":
    main()
