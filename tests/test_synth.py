"""The synthetic population generator: determinism, layout, truth, and noise as specified."""

from __future__ import annotations

import collections
import csv
import doctest
import json
import math
import random
import os
import re
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest
from nicknames import NickNamer

import linkage.synth as synth
from linkage.synth import generate_population, names
from linkage.synth.noise import NoiseEngine, only_noise, resolve_noise_rates
from linkage.synth.population import PopulationBuilder

PEOPLE = 300
SEED = 20250701

FILES = (
    "calsaws/persons.csv",
    "ehr/patients.csv",
    "ehr/patients.ndjson",
    "hmis/Client.csv",
    "hmis/Enrollment.csv",
    "hmis/Export.csv",
    "truth.csv",
)
# The headers are spelled out here, not imported, so a change to a writer fails loudly.
HEADERS = {
    "calsaws/persons.csv": "county_code,case_number,person_number,cin,ssn,first_name,"
    "middle_name,last_name,name_suffix,dob,sex,res_street,res_unit,res_city,res_state,res_zip,"
    "mail_street,mail_city,mail_state,mail_zip,phone,primary_language,program,aid_code,"
    "extract_date",
    "hmis/Client.csv": "PersonalID,FirstName,MiddleName,LastName,NameSuffix,NameDataQuality,"
    "SSN,SSNDataQuality,DOB,DOBDataQuality,AmIndAKNative,Asian,BlackAfAmerican,"
    "HispanicLatinaeo,MidEastNAfrican,NativeHIPacific,White,RaceNone,AdditionalRaceEthnicity,"
    "Woman,Man,NonBinary,CulturallySpecific,Transgender,Questioning,DifferentIdentity,"
    "GenderNone,DifferentIdentityText,VeteranStatus,YearEnteredService,YearSeparated,"
    "WorldWarII,KoreanWar,VietnamWar,DesertStorm,AfghanistanOEF,IraqOIF,IraqOND,OtherTheater,"
    "MilitaryBranch,DischargeStatus,DateCreated,DateUpdated,UserID,DateDeleted,ExportID",
    "hmis/Enrollment.csv": "EnrollmentID,PersonalID,ProjectID,EntryDate,HouseholdID,"
    "RelationshipToHoH,EnrollmentCoC,LivingSituation,DateCreated,DateUpdated,UserID,"
    "DateDeleted,ExportID",
    "hmis/Export.csv": "ExportID,SourceType,SourceID,SourceName,SourceContactFirst,"
    "SourceContactLast,SourceContactPhone,SourceContactExtension,SourceContactEmail,ExportDate,"
    "ExportStartDate,ExportEndDate,SoftwareName,SoftwareVersion,CSVVersion,ExportPeriodType,"
    "ExportDirective,HashStatus,ImplementationID",
    "ehr/patients.csv": "mrn,assigning_authority,last_name,first_name,middle_name,suffix,dob,"
    "gender,ssn,address_line1,address_line2,city,state,zip,phone,email,last_updated",
    "truth.csv": "source_system,source_record_id,person_id",
}
MR_CODING = {"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "MR"}


@pytest.fixture(scope="module")
def population(tmp_path_factory) -> tuple[Path, synth.SynthSummary]:
    out_dir = tmp_path_factory.mktemp("synth") / "population"
    return out_dir, generate_population(PEOPLE, SEED, out_dir)


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def read_fhir(out_dir: Path) -> list[dict]:
    lines = (out_dir / "ehr/patients.ndjson").read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines]


def mr_value(patient: dict) -> str:
    return next(i["value"] for i in patient["identifier"]
                if MR_CODING in i.get("type", {}).get("coding", []))


def source_keys(out_dir: Path) -> dict[str, list[str]]:
    """Each source's record keys, read the way DESIGN.md section 3 defines them."""
    return {
        "calsaws": [f"{r['county_code']}-{r['case_number']}-{r['person_number']}"
                    for r in read_csv(out_dir / "calsaws/persons.csv")],
        "hmis": [r["PersonalID"] for r in read_csv(out_dir / "hmis/Client.csv")],
        "ehr_csv": [r["mrn"] for r in read_csv(out_dir / "ehr/patients.csv")],
        "ehr_fhir": [mr_value(p) for p in read_fhir(out_dir)],
    }


def is_valid_ssn(digits: str) -> bool:
    return (len(digits) == 9 and digits.isdigit() and digits[:3] not in ("000", "666")
            and digits[0] != "9" and digits[3:5] != "00" and digits[5:] != "0000")


# -- determinism ----------------------------------------------------------------------

def test_same_seed_gives_byte_identical_files(tmp_path, population):
    first, _ = population
    second = tmp_path / "again"
    generate_population(PEOPLE, SEED, second)
    for name in FILES:
        assert (first / name).read_bytes() == (second / name).read_bytes(), name


def test_different_seed_gives_different_files(tmp_path, population):
    first, _ = population
    other = tmp_path / "other"
    generate_population(PEOPLE, SEED + 1, other)
    for name in FILES:
        assert (first / name).read_bytes() != (other / name).read_bytes(), name


def test_output_does_not_depend_on_the_hash_seed(tmp_path):
    script = ("import sys, pathlib; from linkage.synth import generate_population; "
              "generate_population(120, 5, pathlib.Path(sys.argv[1]))")
    repo = str(Path(__file__).resolve().parents[1])
    for hash_seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": hash_seed,
               "PYTHONPATH": os.pathsep.join(filter(None, [repo, os.environ.get("PYTHONPATH")]))}
        subprocess.run([sys.executable, "-c", script, str(tmp_path / hash_seed)], env=env,
                       check=True)
    for name in FILES:
        assert (tmp_path / "1" / name).read_bytes() == (tmp_path / "2" / name).read_bytes()


def test_noise_of_one_source_leaves_other_sources_unchanged(tmp_path, population):
    first, _ = population
    changed = tmp_path / "changed"
    generate_population(PEOPLE, SEED, changed, noise={"hmis": {"partial_ssn": 0.9}})
    assert (first / "hmis/Client.csv").read_bytes() != (changed / "hmis/Client.csv").read_bytes()
    for name in ("calsaws/persons.csv", "ehr/patients.csv", "ehr/patients.ndjson", "truth.csv"):
        assert (first / name).read_bytes() == (changed / name).read_bytes(), name


# -- layout ---------------------------------------------------------------------------

def test_layout_headers_and_line_endings_are_exact(population):
    out_dir, _ = population
    written = sorted(str(p.relative_to(out_dir)) for p in out_dir.rglob("*") if p.is_file())
    assert written == sorted(FILES)
    for name, header in HEADERS.items():
        content = (out_dir / name).read_bytes()
        assert b"\r" not in content, name
        assert content.decode("utf-8").split("\n", 1)[0] == header, name


def test_hmis_export_identifies_the_fy2024_csv_version(population):
    out_dir, _ = population
    (export,) = read_csv(out_dir / "hmis/Export.csv")
    assert export["CSVVersion"] == "2024 v1.3"
    for name in ("hmis/Client.csv", "hmis/Enrollment.csv"):
        assert {row["ExportID"] for row in read_csv(out_dir / name)} == {export["ExportID"]}


# -- truth ----------------------------------------------------------------------------

def test_truth_lists_every_source_record_exactly_once(population):
    out_dir, summary = population
    truth = read_csv(out_dir / "truth.csv")
    truth_keys = collections.Counter((r["source_system"], r["source_record_id"]) for r in truth)
    assert max(truth_keys.values()) == 1
    keys = source_keys(out_dir)
    for source, source_ids in keys.items():
        assert len(source_ids) == len(set(source_ids)), f"duplicate keys in {source}"
        assert {k for s, k in truth_keys if s == source} == set(source_ids), source
    assert {s for s, _ in truth_keys} == set(synth.SOURCE_SYSTEMS)
    assert summary.records == {source: len(ids) for source, ids in keys.items()}
    assert all(re.fullmatch(r"P\d{6}", r["person_id"]) for r in truth)


def test_people_appear_in_one_to_three_systems_and_some_repeat_within_one(population):
    out_dir, summary = population
    per_person = collections.defaultdict(collections.Counter)
    for row in read_csv(out_dir / "truth.csv"):
        per_person[row["person_id"]][row["source_system"]] += 1
    assert summary.people == PEOPLE == len(per_person)
    systems = collections.Counter(
        len({"ehr" if s.startswith("ehr") else s for s in counts})
        for counts in per_person.values())
    assert set(systems) == {1, 2, 3}
    repeated = {s for counts in per_person.values() for s, n in counts.items() if n > 1}
    assert "calsaws" in repeated and len(repeated) >= 2
    both_ehr = [c for c in per_person.values() if c["ehr_csv"] and c["ehr_fhir"]]
    assert both_ehr, "some people are patients at both facilities"


# -- source shapes --------------------------------------------------------------------

def test_calsaws_keys_have_county_case_person_shape(population):
    out_dir, _ = population
    rows = read_csv(out_dir / "calsaws/persons.csv")
    keys = source_keys(out_dir)["calsaws"]
    assert all(re.fullmatch(r"\d{2}-\d{7}-\d{2}", key) for key in keys)
    assert all(1 <= int(r["county_code"]) <= 58 for r in rows)
    assert collections.Counter(r["county_code"] for r in rows).most_common(1)[0][0] == "19"
    by_case = collections.defaultdict(list)
    for row in rows:
        by_case[row["case_number"]].append(int(row["person_number"]))
    assert all(sorted(numbers) == list(range(1, len(numbers) + 1))
               for numbers in by_case.values())
    assert all(re.fullmatch(r"\d{8}[A-Z]", r["cin"]) for r in rows if r["cin"])
    assert {r["program"] for r in rows} <= {"CalFresh", "CalWORKs", "Medi-Cal"}
    assert {r["sex"] for r in rows} <= {"M", "F"}


def test_a_person_on_two_cases_keeps_one_cin(population):
    out_dir, _ = population
    truth = {(r["source_system"], r["source_record_id"]): r["person_id"]
             for r in read_csv(out_dir / "truth.csv")}
    cins = collections.defaultdict(set)
    for row in read_csv(out_dir / "calsaws/persons.csv"):
        key = f"{row['county_code']}-{row['case_number']}-{row['person_number']}"
        cins[truth[("calsaws", key)]].add(row["cin"])
    assert all(len(values) == 1 for values in cins.values())


def test_each_source_writes_dates_in_its_own_format(population):
    out_dir, _ = population
    iso, us = r"\d{4}-\d{2}-\d{2}", r"\d{2}/\d{2}/\d{4}"
    assert all(re.fullmatch(iso, r["dob"]) for r in read_csv(out_dir / "calsaws/persons.csv")
               if r["dob"])
    assert all(re.fullmatch(iso, r["DOB"]) for r in read_csv(out_dir / "hmis/Client.csv")
               if r["DOB"])
    assert all(re.fullmatch(us, r["dob"]) for r in read_csv(out_dir / "ehr/patients.csv")
               if r["dob"])
    assert all(re.fullmatch(iso, p["birthDate"]) for p in read_fhir(out_dir) if "birthDate" in p)
    ehr = read_csv(out_dir / "ehr/patients.csv")
    assert {r["gender"] for r in ehr} <= {"male", "female"}
    assert any(re.fullmatch(r"\d{5}-\d{4}", r["zip"]) for r in ehr)


def test_fhir_lines_are_canonical_patients_with_an_mr_identifier(population):
    out_dir, _ = population
    lines = (out_dir / "ehr/patients.ndjson").read_text(encoding="utf-8").splitlines()
    assert lines
    for line in lines:
        patient = json.loads(line)
        assert json.dumps(patient, sort_keys=True, separators=(",", ":"),
                          ensure_ascii=False) == line
        assert patient["resourceType"] == "Patient"
        (mr,) = [i for i in patient["identifier"] if MR_CODING in i["type"]["coding"]]
        assert mr["use"] == "usual" and mr["system"].startswith("urn:oid:2.16.840.1.113883.3.")
        assert patient["gender"] in ("male", "female", "unknown")
        assert all(name["use"] in ("official", "old") for name in patient.get("name", []))


def test_hmis_household_members_share_household_ids(population):
    out_dir, _ = population
    enrollments = read_csv(out_dir / "hmis/Enrollment.csv")
    clients = {r["PersonalID"] for r in read_csv(out_dir / "hmis/Client.csv")}
    assert {r["PersonalID"] for r in enrollments} == clients
    sizes = collections.Counter(r["HouseholdID"] for r in enrollments)
    assert max(sizes.values()) > 1
    heads = collections.Counter(r["HouseholdID"] for r in enrollments
                                if r["RelationshipToHoH"] == "1")
    assert set(heads) == set(sizes) and set(heads.values()) == {1}


# -- noise in the files ---------------------------------------------------------------

def test_partial_hmis_ssns_use_x_placeholders_with_quality_2(population):
    out_dir, _ = population
    rows = read_csv(out_dir / "hmis/Client.csv")
    partial = [r for r in rows if r["SSNDataQuality"] == "2"]
    assert partial
    for row in partial:
        assert re.fullmatch(r"[0-9x]{9}", row["SSN"]) and "x" in row["SSN"], row["SSN"]
    assert all(r["SSNDataQuality"] == "2" for r in rows if "x" in r["SSN"])


def test_absent_quality_codes_go_with_empty_values(population):
    out_dir, _ = population
    rows = read_csv(out_dir / "hmis/Client.csv")
    absent = {"8", "9", "99"}
    for quality, column in (("SSNDataQuality", "SSN"), ("DOBDataQuality", "DOB"),
                            ("NameDataQuality", "FirstName"), ("NameDataQuality", "LastName")):
        flagged = [r for r in rows if r[quality] in absent]
        assert all(r[column] == "" for r in flagged), column
        assert all(r[quality] in absent for r in rows if r[column] == ""), column
    assert any(r["SSNDataQuality"] in absent for r in rows)
    assert any(r["DOBDataQuality"] in absent for r in rows)


def test_every_full_ssn_written_is_valid(population):
    out_dir, _ = population
    written = [r["ssn"] for r in read_csv(out_dir / "calsaws/persons.csv")]
    written += [r["SSN"] for r in read_csv(out_dir / "hmis/Client.csv")
                if r["SSNDataQuality"] == "1"]
    written += [r["ssn"] for r in read_csv(out_dir / "ehr/patients.csv")]
    written += [i["value"] for p in read_fhir(out_dir) for i in p["identifier"]
                if i["system"] == "http://hl7.org/fhir/sid/us-ssn"]
    full = [s.replace("-", "") for s in written if s]
    assert full and all(is_valid_ssn(s) for s in full)
    assert all(re.fullmatch(r"\d{3}-\d{2}-\d{4}|\d{9}", s) for s in written if s)


def test_names_are_upper_case_in_calsaws_and_title_case_in_the_ehr(population):
    out_dir, _ = population
    calsaws = [r["last_name"] for r in read_csv(out_dir / "calsaws/persons.csv")]
    ehr = [r["last_name"] for r in read_csv(out_dir / "ehr/patients.csv")]
    assert sum(name.isupper() for name in calsaws) / len(calsaws) > 0.9
    assert sum(name == name.title() for name in ehr) / len(ehr) > 0.85


def test_phones_are_ten_digits_in_several_formats(population):
    out_dir, _ = population
    phones = [r["phone"] for r in read_csv(out_dir / "calsaws/persons.csv") if r["phone"]]
    phones += [r["phone"] for r in read_csv(out_dir / "ehr/patients.csv") if r["phone"]]
    assert all(len(re.sub(r"\D", "", phone)) == 10 for phone in phones)
    styles = {re.sub(r"\d", "9", phone) for phone in phones}
    assert styles == {"9999999999", "999-999-9999", "(999) 999-9999"}


def test_without_noise_records_of_one_person_agree(tmp_path):
    silent = {source: dict.fromkeys(synth.default_noise_rates()[source], 0.0)
              for source in synth.SOURCE_SYSTEMS}
    generate_population(PEOPLE, SEED, tmp_path, noise=silent)
    truth = {r["source_record_id"]: r["person_id"] for r in read_csv(tmp_path / "truth.csv")
             if r["source_system"] == "calsaws"}
    seen = collections.defaultdict(set)
    for row in read_csv(tmp_path / "calsaws/persons.csv"):
        key = f"{row['county_code']}-{row['case_number']}-{row['person_number']}"
        seen[truth[key]].add((row["first_name"], row["last_name"], row["dob"],
                              row["ssn"].replace("-", ""), row["res_street"]))
    assert max(len(values) for values in seen.values()) == 1
    assert len(seen) < len(truth), "some people are on two cases"


# -- population -----------------------------------------------------------------------

def test_households_include_twins_and_jr_sr_namesakes():
    builder = PopulationBuilder(random.Random("households"))
    households = list(builder.households(3000))
    assert sum(len(h.members) for h in households) == 3000
    twins = jr_sr = 0
    for household in households:
        children = [p for p in household.members if p.relationship == "child"]
        dobs = collections.Counter(child.dob for child in children)
        twins += any(n > 1 for n in dobs.values())
        suffixes = {p.suffix: p for p in household.members if p.suffix in ("JR", "SR")}
        if {"JR", "SR"} <= set(suffixes):
            assert suffixes["JR"].first_name == suffixes["SR"].first_name
            assert suffixes["JR"].last_name == suffixes["SR"].last_name
            jr_sr += 1
        surnames = {p.last_name for p in children}
        assert len(surnames) <= 1
    assert twins >= 3 and jr_sr >= 3


def test_family_members_have_plausible_ages():
    builder = PopulationBuilder(random.Random("ages"))
    for household in builder.households(2000):
        parents = [p for p in household.members if p.relationship in ("self", "spouse")]
        for child in (p for p in household.members if p.relationship == "child"):
            assert all(child.dob.year - parent.dob.year >= 16 for parent in parents)
            assert child.dob <= date(2025, 6, 30)
        assert all(person.dob.year >= 1939 for person in household.members)


def test_population_uses_common_california_names_often():
    builder = PopulationBuilder(random.Random("names"))
    people = [p for h in builder.households(5000) for p in h.members]
    surnames = collections.Counter(p.last_name for p in people)
    firsts = collections.Counter(p.first_name for p in people)
    assert surnames.most_common(1)[0][0] == "GARCIA"
    assert firsts["MARIA"] > firsts["ARACELI"] and firsts["JOSE"] > firsts["IGNACIO"]
    assert {"NGUYEN", "KIM", "SMITH", "SANTOS", "WONG"} <= set(surnames)


# -- the noise registry ---------------------------------------------------------------

def _person_named(first: str):
    """A true person with an SSN and a middle name, renamed `first`."""
    builder = PopulationBuilder(random.Random("registry"))
    for household in builder.households(400):
        for person in household.members:
            if person.ssn and person.middle_name:
                person.first_name = first
                return person, household
    raise AssertionError("no suitable person")


@pytest.mark.parametrize(("noise_name", "source", "rate", "fired"), [
    ("nickname", "ehr_csv", 0.3, lambda d: d.first_name in ("BILL", "WILL", "BILLY")),
    ("partial_ssn", "hmis", 0.12, lambda d: "x" in d.ssn and d.ssn_quality == 2),
    ("missing_middle_name", "calsaws", 0.5, lambda d: d.middle_name == ""),
    ("name_typo", "calsaws", 0.03,
     lambda d: (d.first_name, d.last_name) != (d.person.first_name, d.person.last_name)),
])
def test_noise_rates_are_observed_within_tolerance(noise_name, source, rate, fired):
    person, household = _person_named("WILLIAM")
    engine = NoiseEngine(source, only_noise(noise_name, source, rate), random.Random(3))
    trials = 4000
    hits = sum(fired(engine.draft(person, household)) for _ in range(trials))
    sigma = math.sqrt(trials * rate * (1 - rate))
    assert abs(hits - trials * rate) < 4 * sigma + 1


def test_unknown_noise_names_are_rejected_with_the_valid_options():
    with pytest.raises(ValueError, match="expected one of .*nickname"):
        resolve_noise_rates({"hmis": {"nick_name": 0.1}})
    with pytest.raises(ValueError, match="expected one of calsaws, hmis, ehr_csv, ehr_fhir"):
        resolve_noise_rates({"ehr": {"nickname": 0.1}})
    with pytest.raises(ValueError, match="between 0 and 1"):
        resolve_noise_rates({"hmis": {"nickname": 1.5}})


def test_every_noise_type_has_a_rate_for_every_source():
    assert len({noise.name for noise in synth.NOISE_TYPES}) == len(synth.NOISE_TYPES)
    for noise in synth.NOISE_TYPES:
        assert set(noise.rates) == set(synth.SOURCE_SYSTEMS), noise.name
        assert all(0.0 <= rate <= 1.0 for rate in noise.rates.values())


def test_english_nicknames_are_known_to_the_nicknames_package():
    namer = NickNamer()
    for canonical, nicknames in names.ENGLISH_NICKNAMES.items():
        known = namer.nicknames_of(canonical)
        assert {n.lower() for n in nicknames} <= known, canonical


def test_people_must_be_a_positive_count_and_seed_a_whole_number(tmp_path):
    for bad in (0, -5, 2.5, True):
        with pytest.raises(ValueError, match="people must be a positive whole number"):
            generate_population(bad, SEED, tmp_path)
    with pytest.raises(ValueError, match="seed must be a whole number"):
        generate_population(10, "7", tmp_path)


def test_docstring_examples_run():
    modules = [synth.generator, synth.noise, synth.formats, synth.weighted, synth.identifiers]
    for module in modules:
        result = doctest.testmod(module)
        assert result.attempted > 0 and result.failed == 0, module.__name__
