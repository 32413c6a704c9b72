"""The baseline: plain Splink 5 with a textbook model, on the same files as linkage.

What a competent analyst would do in an afternoon with Splink's documentation, and no more:
- light cleaning in SQL: trim, upper case, accents stripped, SSN and phone to digits
  (a partial or short SSN becomes null), dates parsed, ZIP to five digits;
- comparisons from Splink's library: NameComparison on first and last name (with term
  frequencies), DateOfBirthComparison, exact sex, Levenshtein on SSN, exact ZIP and
  Jaro-Winkler on the street line;
- its own training: prior from a deterministic rule, u by random sampling, m by EM on two
  blocking rules;
- connected components at the threshold that gives the best cluster-pair F1 against truth,
  found by sweeping 0.5 … 0.99999 (an advantage linkage does not get: it clusters at its
  configured 0.99).

Run alone: `python benchmarks/baseline.py DIR` (DIR holds a `linkage synth` population).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import duckdb
import splink.comparison_library as cl
from splink import DuckDBAPI, Linker, SettingsCreator, block_on

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from linkage.evaluation import cluster_metrics  # noqa: E402

THRESHOLDS = (0.5, 0.8, 0.9, 0.95, 0.99, 0.999, 0.9999, 0.99999)
PREDICT_THRESHOLD = 0.3

_CLEAN = """
CREATE OR REPLACE MACRO clean_name(v) AS
    nullif(trim(regexp_replace(upper(strip_accents(coalesce(v, ''))), '[^A-Z -]', '', 'g')), '');
CREATE OR REPLACE MACRO clean_ssn(v) AS CASE
    WHEN length(regexp_replace(coalesce(v, ''), '[^0-9]', '', 'g')) = 9
         AND NOT regexp_matches(coalesce(v, ''), '[xX]')
    THEN regexp_replace(v, '[^0-9]', '', 'g') END;
CREATE OR REPLACE MACRO clean_street(v) AS
    nullif(trim(regexp_replace(upper(coalesce(v, '')), '[^A-Z0-9 ]', '', 'g')), '');
"""


def _records_sql(root: Path) -> str:
    """One query over the four sources, with the light cleaning applied."""
    calsaws = root / "calsaws/persons.csv"
    client = root / "hmis/Client.csv"
    ehr_csv = root / "ehr/patients.csv"
    fhir = root / "ehr/patients.ndjson"
    return f"""
SELECT 'calsaws' AS source_system,
    county_code || '-' || case_number || '-' || person_number AS source_record_id,
    clean_name(first_name) AS first_name, clean_name(last_name) AS last_name,
    try_strptime(dob, '%Y-%m-%d')::DATE AS dob, nullif(sex, '') AS sex, clean_ssn(ssn) AS ssn,
    clean_street(res_street) AS street, nullif(left(res_zip, 5), '') AS zip5
FROM read_csv('{calsaws}', header = true, all_varchar = true)
UNION ALL
SELECT 'hmis', PersonalID, clean_name(FirstName), clean_name(LastName),
    try_strptime(DOB, '%Y-%m-%d')::DATE,
    CASE WHEN Woman = '1' THEN 'F' WHEN Man = '1' THEN 'M' END, clean_ssn(SSN), NULL, NULL
FROM read_csv('{client}', header = true, all_varchar = true)
WHERE coalesce(DateDeleted, '') = ''
UNION ALL
SELECT 'ehr_csv', mrn, clean_name(first_name), clean_name(last_name),
    try_strptime(dob, '%m/%d/%Y')::DATE,
    CASE lower(gender) WHEN 'female' THEN 'F' WHEN 'male' THEN 'M' END, clean_ssn(ssn),
    clean_street(address_line1), nullif(left(zip, 5), '')
FROM read_csv('{ehr_csv}', header = true, all_varchar = true)
UNION ALL
SELECT 'ehr_fhir', mr, clean_name(given), clean_name(family), try_cast(birthDate AS DATE),
    CASE gender WHEN 'female' THEN 'F' WHEN 'male' THEN 'M' END, clean_ssn(ssn),
    clean_street(street), nullif(left(zip, 5), '')
FROM (
    SELECT json_extract_string(j, '$.gender') AS gender,
        json_extract_string(j, '$.birthDate') AS birthDate,
        json_extract_string(j, '$.name[0].family') AS family,
        json_extract_string(j, '$.name[0].given[0]') AS given,
        json_extract_string(j, '$.address[0].line[0]') AS street,
        json_extract_string(j, '$.address[0].postalCode') AS zip,
        json_extract_string(j, '$.identifier[0].value') AS mr,
        CASE WHEN json_extract_string(j, '$.identifier[1].system') LIKE '%us-ssn'
             THEN json_extract_string(j, '$.identifier[1].value') END AS ssn
    FROM (SELECT json AS j FROM read_ndjson_objects('{fhir}'))
)
"""


def settings() -> SettingsCreator:
    return SettingsCreator(
        link_type="dedupe_only",
        unique_id_column_name="record_key",
        comparisons=[
            cl.NameComparison("first_name").configure(term_frequency_adjustments=True),
            cl.NameComparison("last_name").configure(term_frequency_adjustments=True),
            cl.DateOfBirthComparison("dob", input_is_string=False),
            cl.ExactMatch("sex"),
            cl.LevenshteinAtThresholds("ssn", [1, 2]),
            cl.ExactMatch("zip5"),
            cl.JaroWinklerAtThresholds("street", [0.9]),
        ],
        blocking_rules_to_generate_predictions=[
            block_on("first_name", "last_name"),
            block_on("dob"),
            block_on("ssn"),
            block_on("last_name", "zip5"),
        ],
        retain_intermediate_calculation_columns=False,
        retain_matching_columns=False,
    )


def run_baseline(root: Path, truth: Path, seed: int = 42,
                 sampler: Any = None, records_sql: str | None = None) -> dict[str, Any]:
    """Train, predict and cluster with the textbook model; metrics at the best threshold.

    With a `memory.PeakRss` sampler each stage also reports its peak RSS. `records_sql`
    replaces the query of the synthetic population's four sources (`_records_sql(root)`)
    for other files: its columns are those of `_records_sql`, the cleaning macros of
    `_CLEAN` in scope.
    """
    stages: dict[str, dict[str, float]] = {}
    if sampler is None:
        timer = _simple_timer(stages)
    else:
        from memory import measured

        def timer(name: str):
            return measured(sampler, stages, name)
    con = duckdb.connect()
    try:
        with timer("prepare"):
            con.execute(_CLEAN)
            con.execute(f"CREATE TABLE records AS SELECT source_system || ':' || "
                        f"source_record_id AS record_key, * FROM ({records_sql or _records_sql(root)})")
            con.execute("CREATE TABLE truth AS SELECT * FROM read_csv(?, header = true, "
                        "all_varchar = true)", [str(truth)])
            records = con.execute("SELECT count(*) FROM records").fetchall()[0][0]
            frame = con.sql("SELECT * FROM records ORDER BY record_key").to_arrow_table()
        splink_con = duckdb.connect()
        try:
            db_api = DuckDBAPI(splink_con)
            linker = Linker(db_api.register(frame, dataset_display_name="baseline_input"),
                            settings())
            with timer("train"):
                linker.training.estimate_probability_two_random_records_match(
                    [block_on("first_name", "last_name", "dob")], recall=0.7)
                linker.training.estimate_u_using_random_sampling(
                    max_pairs=min(5_000_000, max(1_000_000, records * 5)), seed=seed)
                linker.training.estimate_parameters_using_expectation_maximisation(
                    block_on("first_name", "last_name"))
                linker.training.estimate_parameters_using_expectation_maximisation(
                    block_on("dob"))
            with timer("predict"):
                blocked = linker.inference.compute_blocked_pairs_for_predict()
                pairs = blocked.as_duckdbpyrelation().aggregate("count(*)").fetchall()[0][0]
                predictions = linker.inference.predict(
                    threshold_match_probability=PREDICT_THRESHOLD)
            sweep = []
            for threshold in THRESHOLDS:
                with timer(f"cluster@{threshold}"):
                    clusters = linker.clustering.cluster_pairwise_predictions_at_threshold(
                        predictions, threshold_match_probability=threshold)
                    membership = clusters.as_duckdbpyrelation().select(
                        "record_key, cluster_id").to_arrow_table()
                con.register("membership", membership)
                con.execute("""
CREATE OR REPLACE TABLE crosswalk AS
SELECT m.cluster_id AS enterprise_id, r.source_system, r.source_record_id,
    NULL::INTEGER AS valid_to_run
FROM membership AS m JOIN records AS r USING (record_key)""")
                con.unregister("membership")
                metrics = cluster_metrics(con, "truth").as_dict()
                sweep.append({"threshold": threshold, **metrics})
        finally:
            splink_con.close()
    finally:
        con.close()
    best = max(sweep, key=lambda m: m["f1"])
    cluster_seconds = stages.get(f"cluster@{best['threshold']}", {}).get("seconds")
    return {"records": records, "pairs_scored": pairs, "stages": stages, "sweep": sweep,
            "best": best, "best_cluster_seconds": cluster_seconds}


def _simple_timer(stages: dict[str, dict[str, float]]):
    from contextlib import contextmanager

    @contextmanager
    def timer(name: str):
        started = time.perf_counter()
        yield
        stages[name] = {"seconds": round(time.perf_counter() - started, 3)}
    return timer


if __name__ == "__main__":
    folder = Path(sys.argv[1])
    result = run_baseline(folder, folder / "truth.csv")
    print(json.dumps({key: result[key] for key in ("records", "pairs_scored", "best")}, indent=1))
