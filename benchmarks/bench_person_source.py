"""A WIC file in its own layout (`kind: person`) against the same records in the HMIS shape.

Generates a population with the opt-in WIC extract, writes the WIC records a second time
as an HMIS FY2026 export (PersonalID = ParticipantID, so truth keys agree; HMIS has no
address), and links each with the CalSAWS and EHR CSV extracts of the same population:

    python benchmarks/bench_person_source.py --people 5000 --seed 4 \
        [--match-threshold auto|0.9] [--work build/bench_person]

Prints one JSON line per shape: rows landed and rejected for the WIC source, pair F1,
precision and recall overall, and the same for the record pairs that include a WIC record.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import duckdb
import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from linkage import Project  # noqa: E402
from linkage.synth import generate_population  # noqa: E402
from linkage.synth.programs import EXTRACTS  # noqa: E402

SOURCES = {"calsaws": "calsaws/persons.csv", "ehr_csv": "ehr/patients.csv"}


def as_hmis(participants: Path, folder: Path) -> None:
    """The WIC rows as an HMIS FY2026 export, set-based: dates to ISO (as typed when not a
    date), Gender to the Sex code, every value's data quality 1 (SSN: 99, not collected)."""
    folder.mkdir(parents=True, exist_ok=True)
    with duckdb.connect() as con:
        con.execute("CREATE TABLE wic AS SELECT * FROM read_csv($p, all_varchar = true, header = true)",
                    {"p": str(participants)})
        con.execute("""COPY (SELECT ParticipantID AS PersonalID, FirstName, MiddleInitial AS MiddleName,
    LastName, '' AS NameSuffix, '1' AS NameDataQuality, '' AS SSN, '99' AS SSNDataQuality,
    coalesce(strftime(try_strptime(BirthDate, '%m%d%Y'), '%Y-%m-%d'), BirthDate) AS DOB,
    '1' AS DOBDataQuality, CASE Gender WHEN 'F' THEN '0' WHEN 'M' THEN '1' END AS Sex,
    '' AS DateDeleted FROM wic) TO '""" + str(folder / "Client.csv") + "' (HEADER)")
        con.execute("""COPY (SELECT ParticipantID AS PersonalID, '2024-01-01' AS EntryDate,
    'H' || ParticipantID AS HouseholdID, '' AS DateDeleted FROM wic) TO '"""
                    + str(folder / "Enrollment.csv") + "' (HEADER)")
    (folder / "Export.csv").write_text("ExportID,CSVVersion\n1,2026 v1.0\n", encoding="utf-8")


def run(work: Path, name: str, wic_source: dict, truth: Path, threshold: str) -> dict:
    config = work / f"{name}.yaml"
    config.write_text(yaml.safe_dump({
        "store": f"{name}.duckdb", "model": str(ROOT / "models" / "default.json"),
        "sources": [*({"name": s, "kind": s, "path": f"data/{p}"} for s, p in SOURCES.items()),
                    {"name": "wic", **wic_source}],
        "linking": {"match_threshold": threshold if threshold == "auto" else float(threshold)},
    }), encoding="utf-8")
    (work / f"{name}.duckdb").unlink(missing_ok=True)
    project = Project.open(config)
    summary = project.run()
    landed = next(s for s in summary.sources if s.source_system == "wic")
    metrics = project.evaluate(truth).as_dict()
    crosswalk = project.crosswalk()
    with duckdb.connect() as con:
        con.register("crosswalk", crosswalk)
        con.execute("CREATE TABLE truth AS SELECT * FROM read_csv($p, all_varchar = true)",
                    {"p": str(truth)})
        # Pairs with at least one WIC record: predicted (same EID) and true (same person).
        tp, predicted, actual = con.execute("""
WITH r AS (SELECT c.enterprise_id, t.person_id, c.source_system || ':' || c.source_record_id AS k,
    c.source_system = 'wic' AS is_wic
    FROM crosswalk AS c JOIN truth AS t USING (source_system, source_record_id)),
pairs AS (SELECT a.enterprise_id = b.enterprise_id AS same_eid, a.person_id = b.person_id AS same_person
    FROM r AS a JOIN r AS b ON a.k < b.k AND (a.is_wic OR b.is_wic)
        AND (a.enterprise_id = b.enterprise_id OR a.person_id = b.person_id))
SELECT count(*) FILTER (same_eid AND same_person), count(*) FILTER (same_eid),
    count(*) FILTER (same_person) FROM pairs""").fetchone()
    precision, recall = tp / max(predicted, 1), tp / max(actual, 1)
    return {"shape": name, "match_threshold": summary.link.match_threshold, "wic_rows_read": landed.rows_read, "wic_rows_landed": landed.rows_landed,
            "wic_rejects": landed.rejects,
            "f1": round(metrics["f1"], 4), "precision": round(metrics["precision"], 4),
            "recall": round(metrics["recall"], 4),
            "wic_pair_f1": round(2 * precision * recall / max(precision + recall, 1e-9), 4),
            "wic_pair_precision": round(precision, 4), "wic_pair_recall": round(recall, 4),
            "wic_true_pairs": actual}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--match-threshold", default="auto",
                        help="auto (each run picks its own), or a probability for both runs")
    parser.add_argument("--work", type=Path, default=ROOT / "build" / "bench_person")
    args = parser.parse_args()
    work = args.work.resolve()
    data = work / "data"
    generate_population(args.people, args.seed, data, extracts=("wic",))
    truth = work / "truth.csv"
    with duckdb.connect() as con:
        con.execute(f"COPY (SELECT * FROM read_csv($p, all_varchar = true) WHERE source_system IN "
                    f"('calsaws', 'ehr_csv', 'wic')) TO '{truth}' (HEADER)",
                    {"p": str(data / "truth.csv")})
    as_hmis(data / "wic" / "participants.csv", data / "wic_hmis")
    person = {"kind": "person", "path": "data/wic/participants.csv", **EXTRACTS["wic"].config}
    for name, source in (("person", person),
                         ("hmis", {"kind": "hmis", "path": "data/wic_hmis"})):
        print(json.dumps(run(work, name, source, truth, args.match_threshold)), flush=True)


if __name__ == "__main__":
    main()
