"""The synthetic population generator: determinism, layout, truth, and noise as specified."""

from __future__ import annotations

import collections
import csv
import dataclasses
import doctest
import json
import math
import random
import os
import re
import subprocess
import sys
import unicodedata
from datetime import date
from pathlib import Path

import pytest
from nicknames import NickNamer

import linkage.synth as synth
from linkage.synth import generate_population, names
from linkage.synth.noise import NoiseEngine, only_noise, resolve_noise_rates
from linkage.synth.population import REFERENCE_DATE, PopulationBuilder, age_on

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


def test_people_on_several_cases_mostly_keep_one_cin_but_meds_duplicates_exist(tmp_path):
    generate_population(3000, SEED, tmp_path)
    truth = {(r["source_system"], r["source_record_id"]): r["person_id"]
             for r in read_csv(tmp_path / "truth.csv")}
    cins = collections.defaultdict(set)
    for row in read_csv(tmp_path / "calsaws/persons.csv"):
        key = f"{row['county_code']}-{row['case_number']}-{row['person_number']}"
        cins[truth[("calsaws", key)]].add(row["cin"])
    several = [values for values in cins.values() if len(values) > 1]
    assert several, "no person shows a duplicate CIN"
    assert len(several) < 0.05 * len(cins)
    assert all(len(values) <= 3 for values in cins.values())


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


PLACEHOLDER_SSNS = {"123456789", "999999999", "000000000"}


def test_every_full_ssn_written_is_valid_a_placeholder_or_one_typo_away(population):
    out_dir, _ = population
    written = [r["ssn"] for r in read_csv(out_dir / "calsaws/persons.csv")]
    written += [r["SSN"] for r in read_csv(out_dir / "hmis/Client.csv")
                if r["SSNDataQuality"] == "1"]
    written += [r["ssn"] for r in read_csv(out_dir / "ehr/patients.csv")]
    written += [i["value"] for p in read_fhir(out_dir) for i in p["identifier"]
                if i["system"] == "http://hl7.org/fhir/sid/us-ssn"]
    full = [s.replace("-", "") for s in written if s]
    valid = [s for s in full if is_valid_ssn(s)]
    # Typos can break the SSA rules (group 00); placeholders never pass them.
    assert full and len(valid) > 0.97 * len([s for s in full if s not in PLACEHOLDER_SSNS])
    true_ssns = {p.ssn for h in PopulationBuilder(random.Random(f"{SEED}/population"))
                 .households(PEOPLE) for p in h.members if p.ssn}
    assert all(is_valid_ssn(s) for s in true_ssns)
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
    # A compound surname (GARCIA LOPEZ) counts once for each of its two surnames.
    surnames = collections.Counter(
        part for p in people for part in ((p.last_name[:-len(p.maternal_surname) - 1],
                                           p.maternal_surname) if p.maternal_surname
                                          else (p.last_name,)))
    firsts = collections.Counter(p.first_name for p in people)
    assert "GARCIA" in [name for name, _ in surnames.most_common(3)]
    assert 0.05 < sum(bool(p.maternal_surname) for p in people) / len(people) < 0.25
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


# -- new noise types, settings file ------------------------------------------------------

def _draft_rate(noise_name: str, source: str, rate: float, person, household, fired,
                trials: int = 4000) -> None:
    engine = NoiseEngine(source, only_noise(noise_name, source, rate), random.Random(5))
    hits = sum(fired(engine.draft(person, household)) for _ in range(trials))
    sigma = math.sqrt(trials * rate * (1 - rate))
    assert abs(hits - trials * rate) < 4 * sigma + 1, noise_name


def test_new_noise_types_fire_at_their_rates():
    person, household = _person_named("WILLIAM")
    person = dataclasses.replace(person, dob=date(1980, 3, 7))
    _draft_rate("dob_day_month_swap", "hmis", 0.2, person, household,
                lambda d: d.dob == date(1980, 7, 3))
    _draft_rate("dob_digit_error", "ehr_csv", 0.2, person, household,
                lambda d: d.dob != person.dob and d.dob is not None)
    _draft_rate("ssn_typo", "hmis", 0.1, person, household, lambda d: d.ssn != person.ssn)
    _draft_rate("ocr_error", "calsaws", 0.1, person, household,
                lambda d: (d.first_name, d.last_name) != (person.first_name, person.last_name))
    no_ssn = dataclasses.replace(person, ssn="")
    _draft_rate("placeholder_ssn", "ehr_csv", 0.1, no_ssn, household,
                lambda d: d.ssn in PLACEHOLDER_SSNS)
    asian = dataclasses.replace(person, name_group="vietnamese", first_name="MINH",
                                last_name="NGUYEN")
    _draft_rate("family_name_first", "hmis", 0.1, asian, household,
                lambda d: (d.first_name, d.last_name) == ("NGUYEN", "MINH"))
    compound = dataclasses.replace(person, last_name="GARCIA LOPEZ", maternal_surname="LOPEZ",
                                   birth_surname="GARCIA LOPEZ")
    _draft_rate("compound_surname_variant", "hmis", 0.5, compound, household,
                lambda d: d.last_name in ("GARCIA", "GARCIA-LOPEZ", "GARCIALOPEZ", "LOPEZ"))
    married = dataclasses.replace(person, birth_surname="FLORES")
    _draft_rate("maiden_name", "hmis", 0.15, married, household,
                lambda d: d.last_name == "FLORES")


def test_noise_never_applies_where_it_cannot():
    person, household = _person_named("WILLIAM")
    engine = NoiseEngine("hmis", only_noise("family_name_first", "hmis", 1.0), random.Random(1))
    assert engine.draft(person, household).first_name == "WILLIAM"  # not an East Asian name
    engine = NoiseEngine("ehr_csv", only_noise("newborn_placeholder_name", "ehr_csv", 1.0),
                         random.Random(1))
    assert engine.draft(person, household).first_name == "WILLIAM"  # an adult
    baby = dataclasses.replace(person, dob=date(2025, 3, 1), sex="F")
    assert engine.draft(baby, household).first_name == "BABY GIRL"


def test_every_registry_noise_type_has_documented_defaults_in_the_yaml_file():
    from linkage.synth import settings
    text = settings.DEFAULTS_PATH.read_text(encoding="utf-8")
    assert list(settings.DEFAULTS["noise"]) == [noise.name for noise in synth.NOISE_TYPES]
    for noise in synth.NOISE_TYPES:
        line = next(i for i, ln in enumerate(text.splitlines()) if ln.strip().startswith(
            f"{noise.name}:"))
        assert text.splitlines()[line - 1].strip().startswith("#"), \
            f"{noise.name} has no reason comment"
    coverage_fields = {f.name for f in dataclasses.fields(synth.Coverage)}
    assert set(settings.DEFAULTS["coverage"]) == coverage_fields


def test_a_user_settings_file_overrides_defaults_and_rejects_unknown_keys(tmp_path):
    from linkage.synth import load_synth_config
    path = tmp_path / "noise.yaml"
    path.write_text("noise:\n  name_typo: {hmis: 0.5}\ncoverage: {second_calsaws_case: 0.3}\n")
    config = load_synth_config(path)
    assert config.noise["hmis"]["name_typo"] == 0.5
    assert config.coverage["second_calsaws_case"] == 0.3
    defaults = load_synth_config(None)
    assert config.noise["calsaws"]["name_typo"] == defaults.noise["calsaws"]["name_typo"]
    path.write_text("noise:\n  name_typoo: {hmis: 0.5}\n")
    with pytest.raises(ValueError, match="unknown key .*name_typoo.*expected one of"):
        load_synth_config(path)
    path.write_text("deliveries: {deleted: 2}\n")
    with pytest.raises(ValueError, match="between 0 and 1"):
        load_synth_config(path)


def test_a_settings_file_changes_the_generated_files(tmp_path):
    from linkage.synth import load_synth_config
    path = tmp_path / "noise.yaml"
    path.write_text("noise:\n  missing_ssn: {calsaws: 1.0}\n")
    generate_population(200, SEED, tmp_path / "out", config=load_synth_config(path))
    assert all(r["ssn"] == "" for r in read_csv(tmp_path / "out/calsaws/persons.csv"))


@pytest.fixture(scope="module")
def default_2000(tmp_path_factory) -> Path:
    out_dir = tmp_path_factory.mktemp("synth") / "default_2000"
    generate_population(2000, SEED, out_dir)
    return out_dir


def test_population_has_compound_surnames_and_general_delivery_addresses(default_2000):
    tmp_path = default_2000
    rows = read_csv(tmp_path / "calsaws/persons.csv")
    assert any(" " in r["last_name"] and r["last_name"].split(" ")[0] in
               names.SURNAMES["hispanic"].values for r in rows)
    assert any(r["res_street"] == "GENERAL DELIVERY" for r in rows)
    clients = read_csv(tmp_path / "hmis/Client.csv")
    assert any(re.fullmatch(r"x{5}\d{4}|\d{5}x{4}", r["SSN"]) for r in clients)


# -- profiles: `drift`, a population the default model was not tuned on ------------------

DRIFT_PEOPLE = 2000
# How each source usually writes a birth date; a date of another shape is `dob_other_format`.
USUAL_DATE_SHAPES = {"calsaws": r"\d{4}-\d{2}-\d{2}", "hmis": r"\d{4}-\d{2}-\d{2}",
                     "ehr_csv": r"\d{2}/\d{2}/\d{4}", "ehr_fhir": r"\d{4}-\d{2}-\d{2}"}
# Every date shape the drift profile writes, as (regex, how its groups read: y, m, d, yy).
DATE_SHAPES = ((r"(\d{4})-(\d{2})-(\d{2})", "ymd"), (r"(\d{2})/(\d{2})/(\d{4})", "mdy"),
               (r"(\d{2})(\d{2})(\d{4})", "mdy"), (r"(\d{4})(\d{2})(\d{2})", "ymd"),
               (r"(\d{2})/(\d{2})/(\d{2})", "mdY"), (r"(\d{4})-(\d{2})", "ym"), (r"(\d{4})", "y"))


def _could_be_a_date(text: str) -> bool:
    """Whether some reading of `text` (8 digits are YYYYMMDD or MMDDYYYY) is a real date."""
    readings = 0
    for shape, order in DATE_SHAPES:
        match = re.fullmatch(shape, text)
        if not match:
            continue
        readings += 1
        parts = dict(zip(order, map(int, match.groups())))
        year = parts.get("y", 1900 + parts.get("Y", 0))
        try:
            date(year, parts.get("m", 1), parts.get("d", 1))
            return True
        except ValueError:
            continue
    assert readings, f"a date in no known shape: {text!r}"
    return False


def _birth_dates(out_dir: Path) -> dict[str, list[str]]:
    return {"calsaws": [r["dob"] for r in read_csv(out_dir / "calsaws/persons.csv")],
            "hmis": [r["DOB"] for r in read_csv(out_dir / "hmis/Client.csv")],
            "ehr_csv": [r["dob"] for r in read_csv(out_dir / "ehr/patients.csv")],
            "ehr_fhir": [p.get("birthDate", "") for p in read_fhir(out_dir)]}


def _within(hits: int, trials: int, rate: float) -> bool:
    """`hits` of `trials` is within 4 standard deviations of `rate` (pseudopeople's fuzzy
    checks)."""
    return abs(hits - trials * rate) < 4 * math.sqrt(trials * rate * (1 - rate)) + 1


@pytest.fixture(scope="module")
def drift(tmp_path_factory) -> tuple[Path, synth.SynthSummary]:
    out_dir = tmp_path_factory.mktemp("synth") / "drift"
    return out_dir, generate_population(DRIFT_PEOPLE, SEED, out_dir, profile="drift")


def test_default_profile_is_the_defaults_alone(tmp_path, population):
    from linkage.synth import load_synth_config
    assert load_synth_config(None, profile="default") == load_synth_config(None)
    generate_population(PEOPLE, SEED, tmp_path, profile="default")
    for name in FILES:
        assert (tmp_path / name).read_bytes() == (population[0] / name).read_bytes(), name
    # Noise types that only profiles use are off by default, so the default files stay as
    # they were before those types existed.
    defaults = synth.default_noise_rates()
    for name in ("stale_record", "former_surname", "dob_other_format", "impossible_dob",
                 "fake_name", "household_member_ssn"):
        assert all(defaults[source][name] == 0.0 for source in synth.SOURCE_SYSTEMS), name


def test_drift_profile_is_byte_identical_for_a_seed_and_unlike_the_default(tmp_path, population):
    for folder, seed in (("drift", SEED), ("again", SEED), ("other", SEED + 1)):
        summary = generate_population(PEOPLE, seed, tmp_path / folder, profile="drift")
        assert summary.profile == "drift"
    for name in FILES:
        written = (tmp_path / "drift" / name).read_bytes()
        assert (tmp_path / "again" / name).read_bytes() == written, name
        assert (tmp_path / "other" / name).read_bytes() != written, name
        if name != "hmis/Export.csv":  # export metadata, no records
            assert (population[0] / name).read_bytes() != written, name


def test_unknown_profiles_are_rejected_with_the_valid_options(tmp_path):
    from linkage.synth import load_synth_config
    with pytest.raises(ValueError, match="unknown synth profile 'drfit'; expected one of "
                                         "default, drift"):
        load_synth_config(None, profile="drfit")
    with pytest.raises(ValueError, match="differs from the settings' profile"):
        generate_population(10, SEED, tmp_path, config=load_synth_config(None),
                            profile="drift")


def test_a_settings_file_is_laid_over_the_profile(tmp_path):
    from linkage.synth import load_synth_config
    path = tmp_path / "noise.yaml"
    path.write_text("noise:\n  impossible_dob: {hmis: 0.5}\n")
    config = load_synth_config(path, profile="drift")
    assert config.noise["hmis"]["impossible_dob"] == 0.5
    assert config.noise["calsaws"]["impossible_dob"] == 0.01  # the profile's
    assert config.noise["calsaws"]["name_typo"] == 0.02  # the profile's, not the default 0.03
    assert config.coverage["ehr_if_hmis"] == 0.4


def test_drift_dates_come_in_other_formats_at_the_profile_rates(drift):
    rates = synth.load_synth_config(None, profile="drift").noise
    for source, dates in _birth_dates(drift[0]).items():
        written = [text for text in dates if text]
        other = sum(not re.fullmatch(USUAL_DATE_SHAPES[source], text) for text in written)
        assert _within(other, len(written), rates[source]["dob_other_format"]), source


def test_about_one_percent_of_drift_dates_cannot_exist(drift):
    written = [text for dates in _birth_dates(drift[0]).values() for text in dates if text]
    impossible = [text for text in written if not _could_be_a_date(text)]
    assert _within(len(impossible), len(written), 0.01)
    assert any(re.fullmatch(r"\d{4}-02-3[01]|\d{4}-(1[3-9]|00)-\d{2}", t) for t in impossible)


def test_drift_sources_overlap_less(drift, population):
    def hmis_clients_in_an_ehr(out_dir: Path) -> tuple[int, int]:
        systems = collections.defaultdict(set)
        for row in read_csv(out_dir / "truth.csv"):
            systems[row["person_id"]].add(row["source_system"])
        clients = [found for found in systems.values() if "hmis" in found]
        return sum(bool(found & {"ehr_csv", "ehr_fhir"}) for found in clients), len(clients)

    coverage = synth.load_synth_config(None, profile="drift").coverage
    in_ehr, clients = hmis_clients_in_an_ehr(drift[0])
    assert _within(in_ehr, clients, coverage["ehr"] * coverage["ehr_if_hmis"])
    in_ehr, clients = hmis_clients_in_an_ehr(population[0])
    assert in_ehr / clients > 0.35  # the default: independent systems


def test_drift_records_show_women_under_a_surname_they_no_longer_use(drift, default_2000):
    """People in several sources whose records carry two different real surnames (not a
    typo, accent or compound variant of one): married or divorced between the records."""
    def share_with_two_surnames(out_dir: Path) -> float:
        truth = {(r["source_system"], r["source_record_id"]): r["person_id"]
                 for r in read_csv(out_dir / "truth.csv")}
        keys = source_keys(out_dir)
        lasts = {"calsaws": [r["last_name"] for r in read_csv(out_dir / "calsaws/persons.csv")],
                 "hmis": [r["LastName"] for r in read_csv(out_dir / "hmis/Client.csv")],
                 "ehr_csv": [r["last_name"] for r in read_csv(out_dir / "ehr/patients.csv")],
                 "ehr_fhir": [next((n["family"] for n in p.get("name", [])
                                    if n["use"] == "official"), "") for p in read_fhir(out_dir)]}
        real = {name for table in names.SURNAMES.values() for name in table.values}
        seen = collections.defaultdict(lambda: collections.defaultdict(set))
        for source, source_keys_ in keys.items():
            for key, last in zip(source_keys_, lasts[source]):
                plain = unicodedata.normalize("NFKD", last).encode("ascii", "ignore").decode()
                seen[truth[(source, key)]][source].add(plain.upper())
        several = [by_source for by_source in seen.values() if len(by_source) >= 2]
        two = sum(len({n for found in by_source.values() for n in found if n in real}) >= 2
                  for by_source in several)
        return two / len(several)

    assert share_with_two_surnames(drift[0]) > 0.02
    assert share_with_two_surnames(default_2000) < 0.01


def _drafts(rates, people: int = 1000, seed: str = "drift"):
    """Each source's drafts of a population, with `rates`: source -> [(truth, draft)]."""
    households = list(PopulationBuilder(random.Random(seed)).households(people))
    out = {}
    for source in synth.SOURCE_SYSTEMS:
        engine = NoiseEngine(source, rates, random.Random(f"{seed}/{source}"), seed=SEED)
        out[source] = [(person, engine.draft(person, household))
                       for household in households for person in household.members]
    return out


def test_drift_noise_rates_hold_on_records():
    rates = resolve_noise_rates(synth.load_synth_config(None, profile="drift").noise)
    for source, drafts in _drafts(rates).items():
        stale = sum(draft.stale for _, draft in drafts)
        assert _within(stale, len(drafts), rates[source]["stale_record"]), source
        with_middle = [(p, d) for p, d in drafts if len(p.middle_name) > 1]
        initial = sum(len(d.middle_name) == 1 for _, d in with_middle)
        # An initial can still be dropped by `missing_middle_name`, which comes after it.
        kept = rates[source]["middle_initial"] * (1 - rates[source]["missing_middle_name"])
        assert _within(initial, len(with_middle), kept), source
        copied = sum(d.ssn != p.ssn and d.ssn in {m.ssn for m in d.household.members}
                     for p, d in drafts)
        assert copied > 0 or rates[source]["household_member_ssn"] < 0.005, source


def test_former_surnames_fire_at_their_rate_and_agree_across_sources():
    rate = 0.3
    rates = {source: dict.fromkeys(synth.default_noise_rates()[source], 0.0)
             for source in synth.SOURCE_SYSTEMS}
    for source in synth.SOURCE_SYSTEMS:
        rates[source].update(stale_record=1.0, former_surname=rate)
    drafts = _drafts(resolve_noise_rates(rates))
    former: dict[str, set[str]] = collections.defaultdict(set)
    for source, pairs in drafts.items():
        women = [(p, d) for p, d in pairs
                 if p.sex == "F" and 18 <= age_on(p.dob, REFERENCE_DATE) < 60]
        changed = [(p, d) for p, d in women if d.last_name != p.last_name]
        assert _within(len(changed), len(women), rate), source
        assert all(p.sex == "F" for p, d in pairs if d.last_name != p.last_name)
        for person, draft in changed:
            former[person.person_id].add(draft.last_name)
            if person.birth_surname != person.last_name:
                assert draft.last_name == person.birth_surname
        # Years ago the family lived elsewhere and had another phone.
        for person, draft in pairs:
            assert draft.address is draft.household.previous_address
            assert not person.phone or draft.phone != person.phone
    assert former and all(len(surnames) == 1 for surnames in former.values())


# -- deliveries ------------------------------------------------------------------------

DAYS = 3


@pytest.fixture(scope="module")
def delivered(tmp_path_factory) -> Path:
    out_dir = tmp_path_factory.mktemp("synth") / "delivered"
    summary = generate_population(1500, SEED, out_dir, deliveries=DAYS)
    assert len(summary.deliveries) == DAYS
    return out_dir


def _all_files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file()}


def test_deliveries_are_byte_identical_for_the_same_seed(tmp_path, delivered):
    generate_population(1500, SEED, tmp_path, deliveries=DAYS)
    assert _all_files(tmp_path) == _all_files(delivered)


def test_deliveries_leave_day_zero_as_without_them(tmp_path, delivered):
    generate_population(1500, SEED, tmp_path)
    assert _all_files(tmp_path) == {k: v for k, v in _all_files(delivered).items()
                                    if not k.startswith("deliveries")}


def _keyed(folder: Path) -> dict[str, dict[str, str]]:
    """source_system -> source_record_id -> the record's raw text."""
    def csv_rows(path, key):
        with path.open(encoding="utf-8", newline="") as handle:
            return {key(row): ",".join(row) for row in list(csv.reader(handle))[1:]}
    return {
        "calsaws": csv_rows(folder / "calsaws/persons.csv", lambda r: "-".join(r[:3])),
        "hmis": csv_rows(folder / "hmis/Client.csv", lambda r: r[0]),
        "ehr_csv": csv_rows(folder / "ehr/patients.csv", lambda r: r[0]),
        "ehr_fhir": {mr_value(json.loads(line)): line for line in
                     (folder / "ehr/patients.ndjson").read_text(encoding="utf-8").splitlines()},
    }


def test_snapshot_is_previous_snapshot_plus_delta_minus_deleted(delivered):
    previous = _keyed(delivered)
    for day in range(1, DAYS + 1):
        folder = delivered / "deliveries" / f"day{day:02d}"
        delta, snapshot = _keyed(folder / "delta"), _keyed(folder / "snapshot")
        deleted = [(r["source_system"], r["source_record_id"])
                   for r in read_csv(folder / "delta/deleted.csv")]
        assert deleted, f"day {day} deleted nothing"
        for source in synth.SOURCE_SYSTEMS:
            expected = {**previous[source], **delta[source]}
            for system, key in deleted:
                if system == source and source != "hmis":
                    del expected[key]
            assert snapshot[source] == expected, (day, source)
            # A delta holds only records that are new or differ from the day before.
            assert all(previous[source].get(key) != row for key, row in delta[source].items())
        hmis_deleted = {key for system, key in deleted if system == "hmis"}
        clients = {r["PersonalID"]: r for r in read_csv(folder / "snapshot/hmis/Client.csv")}
        assert all(clients[key]["DateDeleted"] for key in hmis_deleted)
        previous = snapshot


def test_truth_files_cover_exactly_the_records_of_snapshot_and_delta(delivered):
    for day in range(1, DAYS + 1):
        folder = delivered / "deliveries" / f"day{day:02d}"
        for part in ("snapshot", "delta"):
            keys = {(source, key) for source, rows in _keyed(folder / part).items()
                    for key in rows}
            truth = [(r["source_system"], r["source_record_id"])
                     for r in read_csv(folder / part / "truth.csv")]
            assert len(truth) == len(set(truth)) and set(truth) == keys, (day, part)


def test_deliveries_bring_new_people_new_records_moves_and_corrections(delivered):
    day0 = {r["person_id"] for r in read_csv(delivered / "truth.csv")}
    new_people, new_records_of_known = set(), 0
    changed_addresses = 0
    previous = _keyed(delivered)
    for day in range(1, DAYS + 1):
        folder = delivered / "deliveries" / f"day{day:02d}"
        for row in read_csv(folder / "delta/truth.csv"):
            if row["source_record_id"] not in previous[row["source_system"]]:
                if row["person_id"] in day0:
                    new_records_of_known += 1
                else:
                    new_people.add(row["person_id"])
        for row in read_csv(folder / "delta/calsaws/persons.csv"):
            key = "-".join((row["county_code"], row["case_number"], row["person_number"]))
            old = previous["calsaws"].get(key)
            changed_addresses += bool(old and row["res_street"] not in old)
            assert row["extract_date"] == f"2025-07-{1 + day:02d}"
        previous = _keyed(folder / "snapshot")
    assert new_people and new_records_of_known and changed_addresses


def test_hmis_delta_carries_the_enrollments_of_its_clients(delivered):
    delta = delivered / "deliveries/day01/delta/hmis"
    clients = {r["PersonalID"] for r in read_csv(delta / "Client.csv")}
    enrolled = {r["PersonalID"] for r in read_csv(delta / "Enrollment.csv")}
    assert enrolled <= clients and enrolled
    export = read_csv(delta / "Export.csv")[0]
    assert export["ExportDate"].startswith("2025-07-02")
