"""An independent benchmark population: pseudopeople's bundled sample data in our source shapes.

`linkage synth` and `linkage train` share their author's idea of what noise looks like; this
population comes from somebody else's simulator. pseudopeople (IHME, PyPI `pseudopeople`,
the `bench` extra) ships a small simulated US population (one state) with every dataset; its
generators add their default noise (typos, OCR and phonetic errors, swapped and missing fields,
nicknames, wrong dates written in the source's own format, duplicated rows, omitted rows) and
nothing here cleans any of it. The people move, marry and change names, live in households and
group quarters, and share no key between sources.

    census 2020, 2030, 2040 -> calsaws/persons.csv       (one case set per decade; no CIN/SSN)
    WIC, all years          -> hmis/ Client, Enrollment, Export (HUD HMIS CSV FY2024)
    SSA, all events         -> ehr/patients.csv + ehr/patients.ndjson (FHIR R4 Patient),
                               each simulant's records in one of the two (seeded coin)
    simulant_id             -> truth.csv person_id

Dates are written as pseudopeople writes them: census MM/DD/YYYY, WIC MMDDYYYY, SSA YYYYMMDD,
noise included (impossible days, letters for digits). `--native-dates` instead rewrites the
dates that parse in pseudopeople's format into each shape's usual format (HMIS/FHIR/CalSAWS
ISO, EHR CSV MM/DD/YYYY) and leaves the noisy ones as they are; it isolates the cost of the
formats. The sample's timeline runs to 2041, so about 9% of its birth dates are after today;
linkage keeps them as recorded (dob_quality `future`, counted as a warning) rather than
losing them; `--shift-years 20` moves every date back 20 years (census 2000/2010/2020,
WIC 1999-2021) where its year field is four digits, and leaves noisy years alone. Both are off
by default. Codes are translated, not cleaned: sex to each shape's codes, race to HMIS columns.
Record ids, case numbers, MRNs and household ids are drawn from a seeded generator, so the
same --seed writes the same files.

Run (the sample data ship inside the package; no network):

    .venv/bin/python benchmarks/independent.py --out build/independent [--seed 0]
    .venv/bin/linkage run --config build/independent/config.yaml
    .venv/bin/linkage evaluate --config build/independent/config.yaml \
        --truth build/independent/truth.csv
    # plain Splink: its SQL reads fixed formats (CalSAWS/HMIS ISO, EHR CSV m/d/Y), finds no
    # DOB in the as-given files and fails estimating the prior, so give it native dates:
    .venv/bin/python benchmarks/independent.py --out build/independent_native --native-dates
    .venv/bin/python benchmarks/baseline.py build/independent_native

It prints counts only (records per source, people, date-format shares), never values.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import warnings
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parent.parent
CENSUS_YEARS = (2020, 2030, 2040)  # the decades the bundled sample holds
COUNTY_CODE = "19"
EXPORT_ID = "60083"
PP_FORMATS = {"census": "%m/%d/%Y", "wic": "%m%d%Y", "ssa": "%Y%m%d"}
# Where the year sits in each format's text (for --shift-years).
YEAR_FIELD = {"census": r".*/(?P<year>[0-9]{4})", "wic": r".{4}(?P<year>[0-9]{4})",
              "ssa": r"(?P<year>[0-9]{4}).{4}"}

CALSAWS_HEADER = (
    "county_code", "case_number", "person_number", "cin", "ssn", "first_name", "middle_name",
    "last_name", "name_suffix", "dob", "sex", "res_street", "res_unit", "res_city", "res_state",
    "res_zip", "mail_street", "mail_city", "mail_state", "mail_zip", "phone",
    "primary_language", "program", "aid_code", "extract_date",
)
CLIENT_HEADER = (
    "PersonalID", "FirstName", "MiddleName", "LastName", "NameSuffix", "NameDataQuality", "SSN",
    "SSNDataQuality", "DOB", "DOBDataQuality", "AmIndAKNative", "Asian", "BlackAfAmerican",
    "HispanicLatinaeo", "MidEastNAfrican", "NativeHIPacific", "White", "RaceNone",
    "AdditionalRaceEthnicity", "Woman", "Man", "NonBinary", "CulturallySpecific", "Transgender",
    "Questioning", "DifferentIdentity", "GenderNone", "DifferentIdentityText", "VeteranStatus",
    "YearEnteredService", "YearSeparated", "WorldWarII", "KoreanWar", "VietnamWar",
    "DesertStorm", "AfghanistanOEF", "IraqOIF", "IraqOND", "OtherTheater", "MilitaryBranch",
    "DischargeStatus", "DateCreated", "DateUpdated", "UserID", "DateDeleted", "ExportID",
)
ENROLLMENT_HEADER = (
    "EnrollmentID", "PersonalID", "ProjectID", "EntryDate", "HouseholdID", "RelationshipToHoH",
    "EnrollmentCoC", "LivingSituation", "DateCreated", "DateUpdated", "UserID", "DateDeleted",
    "ExportID",
)
EXPORT_HEADER = (
    "ExportID", "SourceType", "SourceID", "SourceName", "SourceContactFirst",
    "SourceContactLast", "SourceContactPhone", "SourceContactExtension", "SourceContactEmail",
    "ExportDate", "ExportStartDate", "ExportEndDate", "SoftwareName", "SoftwareVersion",
    "CSVVersion", "ExportPeriodType", "ExportDirective", "HashStatus", "ImplementationID",
)
EHR_HEADER = (
    "mrn", "assigning_authority", "last_name", "first_name", "middle_name", "suffix", "dob",
    "gender", "ssn", "address_line1", "address_line2", "city", "state", "zip", "phone", "email",
    "last_updated",
)
HMIS_RACE = {"AIAN": "AmIndAKNative", "Asian": "Asian", "Black": "BlackAfAmerican",
             "Latino": "HispanicLatinaeo", "NHOPI": "NativeHIPacific", "White": "White"}
MR_CODING = {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203",
                         "code": "MR"}]}
SS_CODING = {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203",
                         "code": "SS"}]}


def txt(value: Any) -> str:
    """A field as text, '' when pseudopeople left it missing. Nothing else is changed."""
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return ""
    return str(value)


def joined(*parts: Any) -> str:
    return " ".join(p for p in (txt(x) for x in parts) if p)


class Dates:
    """Dates as pseudopeople wrote them, or (native) reformatted when they parse cleanly;
    with a shift, every year field that is four digits moves back `shift` years first."""

    def __init__(self, native: bool, shift: int):
        self.native = native
        self.shift = shift
        self.stats: dict[str, dict[str, int]] = {}

    def shifted(self, raw: str, source: str) -> str:
        if not self.shift or not raw:
            return raw
        pattern = YEAR_FIELD[source]
        match = re.fullmatch(pattern, raw)
        if not match:
            return raw  # a noisy year (a letter, a digit too many) stays as it is
        year = str(int(match.group("year")) - self.shift).zfill(4)
        return raw[:match.start("year")] + year + raw[match.end("year"):]

    def year(self, year: int) -> int:
        return year - self.shift

    def __call__(self, value: Any, source: str, target: str) -> str:
        raw = self.shifted(txt(value), source)
        stats = self.stats.setdefault(source, {"empty": 0, "parses": 0, "does_not_parse": 0})
        if not raw:
            stats["empty"] += 1
            return ""
        try:
            parsed = datetime.strptime(raw, PP_FORMATS[source])
        except ValueError:
            stats["does_not_parse"] += 1
            return raw
        stats["parses"] += 1
        return parsed.strftime(target) if self.native else raw


class Ids:
    """Unique random identifiers from one seeded generator (no shared key across sources)."""

    def __init__(self, seed: int):
        self.rng = np.random.default_rng(seed)
        self.seen: set[str] = set()

    def digits(self, n: int) -> str:
        while True:
            value = "".join(map(str, self.rng.integers(0, 10, n)))
            if value[0] != "0" and value not in self.seen:
                self.seen.add(value)
                return value

    def hex(self) -> str:
        while True:
            value = self.rng.bytes(16).hex().upper()
            if value not in self.seen:
                self.seen.add(value)
                return value


def generate(seed: int) -> dict[str, pd.DataFrame]:
    import pseudopeople as pp

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        data = {f"census_{y}": pp.generate_decennial_census(year=y, seed=seed)
                for y in CENSUS_YEARS}
        data["wic"] = pp.generate_women_infants_and_children(year=None, seed=seed)
        data["ssa"] = pp.generate_social_security(year=None, seed=seed)
    return data


def calsaws(data: dict[str, pd.DataFrame], ids: Ids, dates: Dates,
            truth: list[tuple[str, str, str]]) -> pd.DataFrame:
    rows = []
    for year in CENSUS_YEARS:
        census = data[f"census_{year}"].astype(object).reset_index(drop=True)
        # Reference person first in each case, then the order pseudopeople gives.
        census["not_reference"] = census["relationship_to_reference_person"] != "Reference person"
        census = census.sort_values(["household_id", "not_reference"], kind="stable")
        census["person_seq"] = census.groupby("household_id", sort=False).cumcount() + 1
        cases = {household: ids.digits(7) for household in census["household_id"].unique()}
        for rec in census.itertuples(index=False):
            case_number = cases[rec.household_id]
            person_number = f"{rec.person_seq:02d}"
            street = joined(rec.street_number, rec.street_name)
            sex = {"Female": "F", "Male": "M"}.get(txt(rec.sex), "")
            rows.append({
                "county_code": COUNTY_CODE, "case_number": case_number,
                "person_number": person_number, "cin": "", "ssn": "",
                "first_name": txt(rec.first_name), "middle_name": txt(rec.middle_initial),
                "last_name": txt(rec.last_name), "name_suffix": "",
                "dob": dates(rec.date_of_birth, "census", "%Y-%m-%d"), "sex": sex,
                "res_street": street, "res_unit": txt(rec.unit_number),
                "res_city": txt(rec.city), "res_state": txt(rec.state),
                "res_zip": txt(rec.zipcode), "mail_street": "", "mail_city": "",
                "mail_state": "", "mail_zip": "", "phone": "", "primary_language": "",
                "program": "Census", "aid_code": "",
                "extract_date": f"{dates.year(year)}-04-01",
            })
            truth.append(("calsaws", f"{COUNTY_CODE}-{case_number}-{person_number}",
                          txt(rec.simulant_id)))
    return pd.DataFrame(rows, columns=list(CALSAWS_HEADER))


def hmis(wic: pd.DataFrame, ids: Ids, dates: Dates, rng: np.random.Generator,
         truth: list[tuple[str, str, str]]) -> tuple[pd.DataFrame, pd.DataFrame]:
    clients, enrollments = [], []
    households: dict[tuple[str, int], str] = {}
    for rec in wic.astype(object).itertuples(index=False):
        year = dates.year(int(rec.year))
        personal_id = ids.hex()
        first, last = txt(rec.first_name), txt(rec.last_name)
        name_quality = "1" if first and last else ("2" if first or last else "99")
        dob = dates(rec.date_of_birth, "wic", "%Y-%m-%d")
        sex = txt(rec.sex)
        race = txt(rec.race_ethnicity)
        entry = f"{year}-{int(rng.integers(1, 13)):02d}-{int(rng.integers(1, 29)):02d}"
        created = f"{entry} {int(rng.integers(8, 18)):02d}:{int(rng.integers(0, 60)):02d}:00"
        client = {column: "" for column in CLIENT_HEADER}
        client.update({
            "PersonalID": personal_id, "FirstName": first,
            "MiddleName": txt(rec.middle_initial), "LastName": last,
            "NameDataQuality": name_quality, "SSNDataQuality": "99",
            "DOB": dob, "DOBDataQuality": "1" if dob else "99",
            "RaceNone": "" if race else "99",
            "AdditionalRaceEthnicity": race if race == "Multiracial or Other" else "",
            "Woman": "1" if sex == "Female" else "0", "Man": "1" if sex == "Male" else "0",
            "NonBinary": "0", "CulturallySpecific": "0", "Transgender": "0",
            "Questioning": "0", "DifferentIdentity": "0",
            "GenderNone": "" if sex in ("Female", "Male") else "99",
            "VeteranStatus": "0", "DateCreated": created, "DateUpdated": created,
            "UserID": "101", "ExportID": EXPORT_ID,
        })
        for code, column in HMIS_RACE.items():
            client[column] = ("1" if race == code else "0") if race else ""
        client["MidEastNAfrican"] = "0" if race else ""
        clients.append(client)
        key = (txt(rec.household_id), int(rec.year))
        head_of_household = key not in households  # WIC gives no relationship; first listed
        household = households.setdefault(key, ids.hex())
        enrollments.append({
            "EnrollmentID": ids.hex(), "PersonalID": personal_id, "ProjectID": "2001",
            "EntryDate": entry, "HouseholdID": household,
            "RelationshipToHoH": "1" if head_of_household else "2",
            "EnrollmentCoC": "WA-500", "LivingSituation": "435", "DateCreated": created,
            "DateUpdated": created, "UserID": "101", "DateDeleted": "", "ExportID": EXPORT_ID,
        })
        truth.append(("hmis", personal_id, txt(rec.simulant_id)))
    return (pd.DataFrame(clients, columns=list(CLIENT_HEADER)),
            pd.DataFrame(enrollments, columns=list(ENROLLMENT_HEADER)))


def ehr(ssa: pd.DataFrame, ids: Ids, dates: Dates, rng: np.random.Generator,
        truth: list[tuple[str, str, str]]) -> tuple[pd.DataFrame, list[dict[str, Any]]]:
    simulants = sorted(set(ssa["simulant_id"].astype(str)))
    to_fhir = dict(zip(simulants, rng.integers(0, 2, len(simulants)).astype(bool)))
    csv_rows, patients = [], []
    for rec in ssa.astype(object).itertuples(index=False):
        simulant = txt(rec.simulant_id)
        gender = {"Female": "female", "Male": "male"}.get(txt(rec.sex), "")
        first, middle, last = txt(rec.first_name), txt(rec.middle_name), txt(rec.last_name)
        event = dates.shifted(txt(rec.event_date), "ssa")
        if not to_fhir[simulant]:
            mrn = ids.digits(8)
            csv_rows.append({
                "mrn": mrn, "assigning_authority": "SSA_CLINIC", "last_name": last,
                "first_name": first, "middle_name": middle, "suffix": "",
                "dob": dates(rec.date_of_birth, "ssa", "%m/%d/%Y"), "gender": gender,
                "ssn": txt(rec.ssn), "address_line1": "", "address_line2": "", "city": "",
                "state": "", "zip": "", "phone": "", "email": "", "last_updated": event,
            })
            truth.append(("ehr_csv", mrn, simulant))
            continue
        mrn = ids.digits(10)
        patient: dict[str, Any] = {"resourceType": "Patient", "id": ids.hex().lower()}
        identifiers = [{"use": "usual", "type": MR_CODING,
                        "system": "urn:oid:2.16.840.1.113883.3.9999.7", "value": mrn}]
        if txt(rec.ssn):
            identifiers.append({"type": SS_CODING, "system": "http://hl7.org/fhir/sid/us-ssn",
                                "value": txt(rec.ssn)})
        patient["identifier"] = identifiers
        name: dict[str, Any] = {"use": "official"}
        if last:
            name["family"] = last
        given = [g for g in (first, middle) if g]
        if given:
            name["given"] = given
        patient["name"] = [name]
        dob = dates(rec.date_of_birth, "ssa", "%Y-%m-%d")
        if dob:
            patient["birthDate"] = dob
        if gender:
            patient["gender"] = gender
        if event:
            patient["meta"] = {"lastUpdated": event}
        patients.append(patient)
        truth.append(("ehr_fhir", mrn, simulant))
    return pd.DataFrame(csv_rows, columns=list(EHR_HEADER)), patients


def write_config(out: Path) -> Path:
    model = os.path.relpath(REPO / "models" / "default.json", out.resolve())
    config = out / "config.yaml"
    config.write_text(f"""# pseudopeople sample population in our shapes (benchmarks/independent.py)
# Paths are relative to this file.
store: independent.duckdb
model: {model}
sources:
  - name: calsaws
    kind: calsaws
    path: calsaws/persons.csv
  - name: hmis
    kind: hmis
    path: hmis
  - name: ehr_csv
    kind: ehr_csv
    path: ehr/patients.csv
  - name: ehr_fhir
    kind: ehr_fhir
    path: ehr/patients.ndjson
linking:
  predict_threshold: 0.5
  match_threshold: 0.99
""")
    return config


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--seed", type=int, default=0,
                        help="pseudopeople's noise seed and the seed of the ids drawn here")
    parser.add_argument("--native-dates", action="store_true",
                        help="rewrite dates that parse into each shape's usual format")
    parser.add_argument("--shift-years", type=int, default=0,
                        help="move the simulation's timeline back N years (every date whose "
                             "year is four digits; the sample runs to 2041)")
    args = parser.parse_args()
    out: Path = args.out
    for folder in ("calsaws", "hmis", "ehr"):
        (out / folder).mkdir(parents=True, exist_ok=True)
    for stale in out.glob("independent.duckdb*"):
        stale.unlink()  # a store of another population would mix deliveries

    data = generate(args.seed)
    ids = Ids(args.seed)
    rng = np.random.default_rng(args.seed + 1)
    dates = Dates(args.native_dates, args.shift_years)
    truth: list[tuple[str, str, str]] = []

    persons = calsaws(data, ids, dates, truth)
    clients, enrollments = hmis(data["wic"], ids, dates, rng, truth)
    ehr_csv, patients = ehr(data["ssa"], ids, dates, rng, truth)

    csv = {"index": False, "encoding": "utf-8", "lineterminator": "\n"}
    persons.to_csv(out / "calsaws/persons.csv", **csv)
    clients.to_csv(out / "hmis/Client.csv", **csv)
    enrollments.to_csv(out / "hmis/Enrollment.csv", **csv)
    wic_years = sorted(dates.year(int(y)) for y in data["wic"]["year"].unique())
    export = {c: "" for c in EXPORT_HEADER}
    export.update({
        "ExportID": EXPORT_ID, "SourceType": "1", "SourceID": "WA-500",
        "SourceName": "pseudopeople WIC as HMIS",
        "ExportDate": f"{wic_years[-1]}-12-31 02:00:00",
        "ExportStartDate": f"{wic_years[0]}-01-01", "ExportEndDate": f"{wic_years[-1]}-12-31",
        "SoftwareName": "benchmarks/independent.py", "SoftwareVersion": "1",
        "CSVVersion": "2024 v1.3", "ExportPeriodType": "3", "ExportDirective": "2",
        "HashStatus": "1", "ImplementationID": f"PSEUDOPEOPLE-{args.seed}",
    })
    pd.DataFrame([export], columns=list(EXPORT_HEADER)).to_csv(out / "hmis/Export.csv", **csv)
    ehr_csv.to_csv(out / "ehr/patients.csv", **csv)
    with open(out / "ehr/patients.ndjson", "w", encoding="utf-8") as handle:
        for patient in patients:
            handle.write(json.dumps(patient, sort_keys=True) + "\n")
    truth_frame = pd.DataFrame(truth, columns=["source_system", "source_record_id", "person_id"])
    truth_frame.to_csv(out / "truth.csv", **csv)
    config = write_config(out)

    def shapes(series: pd.Series) -> dict[str, int]:
        masked = series.map(lambda v: re.sub(r"[0-9]", "9", re.sub(r"[A-Za-z]", "a", txt(v))))
        return {k or "(empty)": int(v) for k, v in masked.value_counts().head(6).items()}

    summary = {
        "seed": args.seed, "native_dates": args.native_dates, "shift_years": args.shift_years,
        "config": str(config),
        "records": {"calsaws": len(persons), "hmis": len(clients), "ehr_csv": len(ehr_csv),
                    "ehr_fhir": len(patients), "total": len(truth_frame)},
        "pseudopeople_rows": {name: len(frame) for name, frame in data.items()},
        "people": int(truth_frame["person_id"].nunique()),
        "people_in_2_plus_sources": int((truth_frame.groupby("person_id")["source_system"]
                                         .nunique() > 1).sum()),
        "records_per_person": round(len(truth_frame) / truth_frame["person_id"].nunique(), 3),
        "dates_vs_pseudopeople_format": dates.stats,
        "dob_shapes": {"census": shapes(data["census_2020"]["date_of_birth"]),
                       "wic": shapes(data["wic"]["date_of_birth"]),
                       "ssa": shapes(data["ssa"]["date_of_birth"])},
    }
    print(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
