"""Landing survives real extracts: a corpus of malformed inputs, each with its exact outcome."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import duckdb
import pytest

from linkage.config import SourceConfig
from linkage.errors import SourceError
from linkage.sources import check_sources, land_sources
from linkage.store import open_store

CORPUS = Path(__file__).parent / "data" / "malformed"


def source(kind: str, path: Path | str, **options) -> SourceConfig:
    return SourceConfig(name="src", kind=kind, path=Path(path), **options)


@pytest.fixture
def store(tmp_path):
    with open_store(tmp_path / "store.duckdb", create=True) as store:
        yield store


def land(store, config: SourceConfig, run_id: int = 1):
    deliveries = check_sources([config])
    with store.transaction():
        return land_sources(store, deliveries, run_id)[0]


def landed(store) -> list[tuple]:
    return store.con.execute("SELECT source_record_id, source_row FROM source_record "
                             "ORDER BY source_file, source_row").fetchall()


def rejected(store) -> list[tuple]:
    return store.con.execute("SELECT source_row, reason FROM source_reject "
                             "ORDER BY source_file, source_row").fetchall()


# (case, kind, file or folder, expected message) — the run stops before the store changes.
FILE_ERRORS = [
    ("empty file", "calsaws", "empty_file.csv", "empty_file.csv: empty file; expected a header row"),
    ("missing required column", "calsaws", "missing_column.csv",
     "missing_column.csv: missing required column 'dob' for source 'src' (calsaws)"),
    ("a header with no comma and two other delimiters", "ehr_csv", "two_delimiters.csv",
     "two_delimiters.csv: header holds no comma and both semicolon and pipe"),
    ("duplicate header column", "ehr_csv", "duplicate_header.csv",
     "duplicate_header.csv: header repeats column 'mrn'"),
    ("header columns differing only in case", "ehr_csv", "header_case_duplicate.csv",
     "header_case_duplicate.csv: header holds columns 'dob' and 'DOB', whose names differ "
     "only in case"),
    ("missing file", "ehr_csv", "absent.csv", "absent.csv: file not found for source 'src' (ehr_csv)"),
    ("glob matching nothing", "ehr_csv", "nothing_*.csv",
     "nothing_*.csv: pattern matches no files for source 'src' (ehr_csv)"),
    ("HMIS Client.csv of no known version", "hmis", "hmis_no_version",
     "Client.csv: cannot tell the HMIS CSV version: expected the FY2026 column 'Sex'"),
    ("HMIS export without Enrollment.csv", "hmis", "hmis_missing_enrollment",
     "Enrollment.csv: file not found for source 'src'"),
    ("HMIS path is a file", "hmis", "bom.csv", "bom.csv: source 'src' (hmis) expects a folder"),
]


@pytest.mark.parametrize("case, kind, name, message", FILE_ERRORS, ids=[c[0] for c in FILE_ERRORS])
def test_file_level_problem_is_reported_before_anything_lands(case, kind, name, message):
    with pytest.raises(SourceError) as raised:
        check_sources([source(kind, CORPUS / name)])
    assert message in str(raised.value)
    assert str(CORPUS) in str(raised.value)


# Problems found while streaming the file: the transaction rolls back, nothing changes.
LANDING_ERRORS = [
    ("a Bundle without Patients", "ehr_fhir", "fhir_bundle_no_patients.json", {},
     "fhir_bundle_no_patients.json: a FHIR Bundle without Patient entries; expected NDJSON"),
    ("a pretty-printed document cut short", "ehr_fhir", "fhir_document_cut.json", {},
     "fhir_document_cut.json: not a complete JSON document; expected NDJSON"),
    ("first line a JSON object but no resource", "ehr_fhir", "fhir_first_not_resource.ndjson", {},
     "fhir_first_not_resource.ndjson: line 1 is not a FHIR resource; expected NDJSON"),
    ("Observation resource", "ehr_fhir", "observation.ndjson", {},
     "observation.ndjson: line 2 is an Observation resource; expected NDJSON"),
]


@pytest.mark.parametrize("case, kind, name, options, message", LANDING_ERRORS,
                         ids=[c[0] for c in LANDING_ERRORS])
def test_problem_found_while_landing_leaves_the_store_unchanged(store, case, kind, name,
                                                                 options, message):
    land(store, source("ehr_csv", CORPUS / "bom.csv"))
    before = (landed(store), rejected(store),
              store.con.execute("SELECT * FROM delivery").fetchall())
    with pytest.raises(SourceError) as raised:
        land(store, SourceConfig(name="src", kind=kind, path=CORPUS / name, **options), run_id=2)
    assert message in str(raised.value)
    assert (landed(store), rejected(store),
            store.con.execute("SELECT * FROM delivery").fetchall()) == before


# (case, kind, file, options, landed ids, rejects as (row, reason)).
ROW_OUTCOMES = [
    ("header only", "calsaws", "header_only.csv", {}, [], []),
    ("UTF-8 byte order mark", "ehr_csv", "bom.csv", {}, ["00000001", "00000002"], []),
    ("CRLF line ends", "ehr_csv", "crlf.csv", {}, ["00000001", "00000002"], []),
    # Lines ending both in CRLF and in LF (files joined): read from an LF copy, rejects on
    # their own lines.
    # Header names in another case or spacing (an export from another database) are the
    # layout's names.
    ("header in capitals and with spaces", "ehr_csv", "header_case.csv", {},
     ["00000001", "00000002"], []),
    # Semicolon-, tab- and pipe-separated extracts, found by their header.
    ("semicolon delimiter", "ehr_csv", "semicolon.csv", {}, ["00000001"], []),
    ("tab delimiter", "ehr_csv", "tab_delimited.csv", {}, ["00000001"], []),
    ("CRLF and LF line ends in one file", "ehr_csv", "mixed_line_ends.csv", {},
     ["00000002", "00000003"], [(2, "malformed_row")]),
    ("quoted newline in a field", "ehr_csv", "quoted_newline.csv", {}, ["00000001", "00000002"], []),
    ("Latin-1 file declared as Latin-1", "ehr_csv", "latin1.csv", {"encoding": "latin-1"},
     ["00000001"], []),
    # A bad value is not a bad record: the impossible date lands (standardization nulls it).
    ("dates in five formats and one impossible", "ehr_csv", "dates_five_formats.csv", {},
     ["00000001", "00000002", "00000003", "00000004", "00000005", "00000009"], []),
    # An over-long value is nulled and counted; its record lands on its other fields.
    ("10,000-character field", "ehr_csv", "long_field.csv", {}, ["00000001", "00000002"], []),
    ("same id, different content", "ehr_csv", "duplicate_ids_conflict.csv", {}, ["00000002"],
     [(1, "duplicate_record_id"), (2, "duplicate_record_id")]),
    ("same row twice", "ehr_csv", "duplicate_rows_identical.csv", {}, ["00000001", "00000002"],
     [(2, "duplicate_row")]),
    ("missing record id", "ehr_csv", "missing_id.csv", {}, ["00000002"], [(1, "missing_record_id")]),
    ("no identifying fields", "ehr_csv", "no_identifying_fields.csv", {}, ["00000002"],
     [(1, "no_identifying_fields")]),
    ("too many columns", "ehr_csv", "too_many_columns.csv", {}, ["00000002"],
     [(2, "malformed_row")]),
    ("too few columns", "ehr_csv", "too_few_columns.csv", {}, ["00000002"],
     [(2, "malformed_row")]),
    ("truncated NDJSON line", "ehr_fhir", "truncated_line.ndjson", {}, ["M1", "M2"],
     [(3, "malformed_json")]),
    ("NDJSON lines that are JSON but no resource", "ehr_fhir", "fhir_not_resources.ndjson", {},
     ["M1", "M2"], [(row, "malformed_json") for row in range(2, 7)]),
    ("FHIR Patient without an MR identifier", "ehr_fhir", "fhir_without_mr.ndjson", {},
     ["p1", "M2"], []),
    ("blank lines in NDJSON", "ehr_fhir", "fhir_blank_lines.ndjson", {}, ["M1", "M2"], []),
    # A Bundle (a FHIR search's page, a converter's output) lands its Patients by entry.
    ("FHIR Bundle pretty-printed", "ehr_fhir", "bundle_pretty.ndjson", {}, ["M1"], []),
    ("FHIR Bundle on one line", "ehr_fhir", "bundle_one_line.ndjson", {}, ["M1"], []),
    ("FHIR searchset Bundle: an outcome left out, an entry without a resource rejected",
     "ehr_fhir", "fhir_searchset_bundle.json", {}, ["p1", "p3"], [(3, "malformed_json")]),
    ("FHIR Bundle after a byte order mark", "ehr_fhir", "fhir_bundle_bom.json", {},
     ["p1", "p3"], [(3, "malformed_json")]),
    ("one Patient pretty-printed (a FHIR read saved)", "ehr_fhir", "fhir_patient_pretty.json",
     {}, ["p1"], []),
    # A simulator's output folder (Synthea): one transaction Bundle per patient, among other
    # resources, and a Bundle of hospitals without a Patient, passed over.
    ("a folder of Bundles, one per patient", "ehr_fhir", "fhir_bundle_per_patient", {},
     ["M1", "M2"], []),
    ("empty NDJSON: a delivery of no patients", "ehr_fhir", "empty.ndjson", {}, [], []),
    ("county column names mapped by config", "ehr_csv", "county_column_names.csv", {"columns": {
        "MRN": "mrn", "AUTH": "assigning_authority", "LNAME": "last_name", "FNAME": "first_name",
        "MNAME": "middle_name", "SFX": "suffix", "BIRTH_DT": "dob", "SEX": "gender",
        "SSN_NUM": "ssn", "ADDR1": "address_line1", "ADDR2": "address_line2", "ST": "state",
        "CITY": "city", "ZIP": "zip", "PHONE": "phone", "EMAIL": "email"}}, ["00000001"], []),
    ("HMIS data-quality codes and deletions", "hmis", "hmis_data_quality", {},
     ["A1", "A2", "A3", "A4"], []),
    ("HMIS FY2026 Sex column", "hmis", "hmis_fy2026", {}, ["A1", "A2", "A3"], []),
    ("HMIS export's file names in lower case", "hmis", "hmis_file_names_lower", {},
     ["A1", "A2", "A3"], []),
    ("HMIS FY2022 gender columns", "hmis", "hmis_fy2022_header", {}, ["A1"], []),
    ("HMIS header in capitals", "hmis", "hmis_header_case", {}, ["A1", "A2", "A3"], []),
    ("HMIS FY2020 Gender column, no CSVVersion", "hmis", "hmis_fy2020", {}, ["A1", "A2", "A3"],
     []),
]


@pytest.mark.parametrize("case, kind, name, options, ids, rejects", ROW_OUTCOMES,
                         ids=[c[0] for c in ROW_OUTCOMES])
def test_row_level_problems_are_rejected_with_a_reason_and_counted(store, case, kind, name,
                                                                    options, ids, rejects):
    count = land(store, SourceConfig(name="src", kind=kind, path=CORPUS / name, **options))
    assert sorted(record for record, _ in landed(store)) == sorted(ids)
    assert rejected(store) == rejects
    assert count.rows_read == count.rows_landed + count.rows_rejected
    assert (count.rows_landed, count.rows_rejected) == (len(ids), len(rejects))
    assert sum(count.rejects.values()) == count.rows_rejected


def field(store, record_id: str, column: str):
    return store.con.execute(f"SELECT {column} FROM source_record WHERE source_record_id = ?",
                             [record_id]).fetchall()[0][0]


def test_hmis_quality_codes_blank_values_and_deletions_are_kept(store):
    land(store, source("hmis", CORPUS / "hmis_data_quality"))
    assert field(store, "A2", "ssn") == "xxxxx9043" and field(store, "A2", "ssn_quality") == "2"
    assert field(store, "A3", "ssn") is None and field(store, "A3", "dob") is None
    assert field(store, "A4", "is_deleted") is True and field(store, "A1", "is_deleted") is False
    assert field(store, "A1", "household_id") == "H1"
    assert field(store, "A1", "entry_date") == "2024-01-02"
    assert field(store, "A1", "sex") == "F"


def test_hmis_fy2026_sex_codes_map_to_sex(store):
    land(store, source("hmis", CORPUS / "hmis_fy2026"))
    assert [field(store, pid, "sex") for pid in ("A1", "A2", "A3")] == ["F", "M", None]


def test_hmis_fy2020_gender_codes_map_to_sex(store):
    # FY2020's Gender: 0 female, 1 male; 4 (gender non-conforming) says nothing of sex.
    land(store, source("hmis", CORPUS / "hmis_fy2020"))
    assert [field(store, pid, "sex") for pid in ("A1", "A2", "A3")] == ["F", "M", None]


def test_fhir_old_names_are_aliases_and_ssn_is_found_by_type(store):
    land(store, source("ehr_fhir", CORPUS / "fhir_old_name_and_ssn_by_type.ndjson"))
    assert field(store, "M1", "last_name") == "Lopez"
    assert field(store, "M1", "alias_names") == '["Ana Garcia"]'
    assert field(store, "M1", "ssn") == "524-71-9043"


def test_lines_of_a_utf8_source_that_are_not_utf8_are_read_as_windows_1252(store, tmp_path):
    # A stray byte typed on a Windows form (JOS\xc9, PE\xd1A) costs neither its row nor the
    # file: that line is read as Windows-1252 and counted; the other lines are UTF-8.
    path = tmp_path / "patients.csv"
    path.write_bytes((CORPUS / "latin1.csv").read_bytes()
                     + "00000002,CLINIC,Núñez,Renée,,,03/15/1980,female,,,,,,,,,\n".encode())
    count = land(store, source("ehr_csv", path))
    assert (count.rows_read, count.rows_landed) == (2, 2)
    assert count.warnings == {"text": {"windows_1252_lines": 1}}
    assert field(store, "00000001", "first_name") == "José"
    assert field(store, "00000002", "first_name") == "Renée"


def test_latin1_source_keeps_accents(store):
    land(store, source("ehr_csv", CORPUS / "latin1.csv", encoding="latin-1"))
    assert field(store, "00000001", "first_name") == "José"


def test_every_row_keeps_its_lineage_and_raw_values(store):
    land(store, source("ehr_csv", CORPUS / "quoted_newline.csv"))
    row = store.con.execute("""SELECT source_file, source_row, delivery_id, source_file_hash,
        raw ->> 'address_line1' FROM source_record WHERE source_record_id = '00000001'""").fetchall()
    assert row == [(str(CORPUS / "quoted_newline.csv"), 1, 1, row[0][3], "12 Main St\nRear House")]
    assert len(row[0][3]) == 64


def test_a_glob_lands_every_matching_file_with_its_own_lineage(store):
    count = land(store, source("ehr_csv", CORPUS / "glob_parts" / "patients_part*.csv"))
    files = store.con.execute("SELECT source_record_id, source_file FROM source_record "
                              "ORDER BY 1").fetchall()
    assert count.rows_landed == 2
    assert [Path(path).name for _, path in files] == ["patients_part1.csv", "patients_part2.csv"]


def test_a_folder_lands_every_file_of_the_kind(store):
    count = land(store, source("ehr_csv", CORPUS / "glob_parts"))
    assert count.rows_landed == 2


def test_calsaws_parquet_lands_like_csv(store, tmp_path):
    parquet = tmp_path / "persons.parquet"
    csv_file = Path(__file__).resolve().parent.parent / "sample_data" / "calsaws" / "persons.csv"
    with duckdb.connect() as con:
        con.execute(f"COPY (SELECT * FROM read_csv(?, all_varchar = true)) TO '{parquet}'",
                    [str(csv_file)])
    from_parquet = land(store, source("calsaws", parquet))
    with open_store(tmp_path / "csv.duckdb", create=True) as other:
        from_csv = land(other, source("calsaws", csv_file))
        csv_rows = other.con.execute("SELECT source_record_id, first_name, dob FROM source_record "
                                     "ORDER BY 1").fetchall()
    assert from_parquet.rows_landed == from_csv.rows_landed > 1000
    assert store.con.execute("SELECT source_record_id, first_name, dob FROM source_record "
                             "ORDER BY 1").fetchall() == csv_rows


def test_landing_the_same_file_twice_is_recognised_and_not_counted_again(store, tmp_path):
    path = tmp_path / "patients.csv"
    shutil.copy(CORPUS / "bom.csv", path)
    first = land(store, source("ehr_csv", path))
    second = land(store, source("ehr_csv", path), run_id=2)
    assert (first.unchanged, first.rows_read) == (False, 2)
    assert (second.unchanged, second.rows_read, second.rows_landed) == (True, 0, 0)
    assert len(landed(store)) == 2
    statuses = store.con.execute("SELECT status FROM delivery ORDER BY delivery_id").fetchall()
    assert statuses == [("landed",), ("unchanged",)]
    path.write_bytes(path.read_bytes() + (CORPUS / "bom.csv").read_bytes().split(b"\n", 1)[1]
                     .replace(b"00000001", b"00000003").replace(b"00000002", b"00000004"))
    third = land(store, source("ehr_csv", path), run_id=3)
    assert (third.unchanged, third.rows_landed) == (False, 4)


def test_a_new_delivery_replaces_the_source_snapshot(store, tmp_path):
    path = tmp_path / "patients.csv"
    shutil.copy(CORPUS / "bom.csv", path)
    land(store, source("ehr_csv", path))
    shutil.copy(CORPUS / "missing_id.csv", path)
    land(store, source("ehr_csv", path), run_id=2)
    assert [record for record, _ in landed(store)] == ["00000002"]


def test_raw_values_hold_the_delivered_columns_and_nothing_else(store, tmp_path):
    # Mailing columns are optional for CalSAWS: a file without them keeps them as null.
    path = tmp_path / "persons.csv"
    path.write_text("county_code,case_number,person_number,cin,ssn,first_name,middle_name,"
                    "last_name,name_suffix,dob,sex,res_street,res_unit,res_city,res_state,"
                    "res_zip,phone,program\n"
                    '19,1,01,91970110B,,"Ana, Maria",,Lopez,,1980-03-15,F,1 A St,,LA,CA,'
                    "90012,,Medi-Cal\n")
    land(store, source("calsaws", path))
    raw = store.con.execute("SELECT CAST(raw AS VARCHAR) FROM source_record").fetchall()[0][0]
    assert json.loads(raw) == {
        "county_code": "19", "case_number": "1", "person_number": "01", "cin": "91970110B",
        "ssn": None, "first_name": "Ana, Maria", "middle_name": None, "last_name": "Lopez",
        "name_suffix": None, "dob": "1980-03-15", "sex": "F", "res_street": "1 A St",
        "res_unit": None, "res_city": "LA", "res_state": "CA", "res_zip": "90012",
        "phone": None, "program": "Medi-Cal", "mail_street": None, "mail_city": None,
        "mail_state": None, "mail_zip": None}
    assert list(json.loads(raw))[-1] == "mail_zip"  # file columns first, in file order


def test_a_row_takes_the_first_reject_reason_that_applies(store, tmp_path):
    header = ("mrn,assigning_authority,last_name,first_name,middle_name,suffix,dob,gender,ssn,"
              "address_line1,address_line2,city,state,zip,phone,email,last_updated\n")
    path = tmp_path / "patients.csv"
    path.write_text(header
                    + "0" * 1001 + ",C,,,,,,,,,,,,,,,\n"  # a key too long, nothing identifying
                    + "01,C,Lopez,Ana,,,,,,,,,,,,,\n"  # 01 twice with other contents: duplicates
                    + "01,C,Lopez,Anna,,,,,,,,,,,,,\n"
                    + "02,C,,,,,,,,,,,,,,,\n"  # nothing identifying
                    + "02,C,,,,,,,,,,,,,,,\n"  # the same row again: a duplicate first
                    + "03,C,,,,,,,,,,,,,,,\n"  # nothing identifying
                    + ",C,Lopez,Ana,,,,,,,,,,,,,\n"  # no key
                    + "04,C,Lopez,Ana,,,,,,,,,,,,,\n")
    count = land(store, source("ehr_csv", path))
    assert rejected(store) == [(1, "field_too_long"), (2, "duplicate_record_id"),
                               (3, "duplicate_record_id"), (4, "no_identifying_fields"),
                               (5, "duplicate_row"), (6, "no_identifying_fields"),
                               (7, "missing_record_id")]
    assert landed(store) == [("04", 8)]
    assert (count.rows_read, count.rows_landed, count.rows_rejected) == (8, 1, 7)


def test_an_overlong_value_is_nulled_and_counted_and_its_record_lands(store, tmp_path):
    header = ("mrn,assigning_authority,last_name,first_name,middle_name,suffix,dob,gender,ssn,"
              "address_line1,address_line2,city,state,zip,phone,email,last_updated\n")
    path = tmp_path / "patients.csv"
    note = "see chart " * 200
    path.write_text(header
                    + f"01,C,Lopez,Ana,,,03/15/1980,,,{note},,,,,,,\n"
                    + f"02,C,{note},{note},,,,,,,,,,,,,\n"  # nothing usable is left
                    + "03,C,Lopez,Ana,,,03/15/1980,,,12 Main St,,,,,,,\n")
    count = land(store, source("ehr_csv", path))
    assert landed(store) == [("01", 1), ("03", 3)]
    assert rejected(store) == [(2, "no_identifying_fields")]
    assert count.warnings == {"street": {"too_long": 1}}
    street, raw = store.con.execute(
        "SELECT street, raw->>'$.address_line1' FROM source_record WHERE source_record_id = '01'"
    ).fetchone()
    assert street is None and raw == note


def test_a_new_store_keeps_raw_values_compressed(store):
    # Raw JSON under DuckDB's default string compression cost more to write than the rest
    # of landing; zstd writes it faster and smaller (benchmarks/RESULTS.md).
    land(store, source("ehr_csv", CORPUS / "quoted_newline.csv"))
    store.con.execute("CHECKPOINT")
    compressions = {row[0] for row in store.con.execute("""
SELECT compression FROM pragma_storage_info('source_record')
WHERE column_name = 'raw' AND segment_type <> 'VALIDITY'""").fetchall()}
    assert compressions == {"ZSTD"}


def test_fhir_names_as_text_maiden_names_and_the_ssn_oid_land(store):
    # Other EHRs than the generator's: a name given only as text, a maiden name beside the
    # official one, the SSN under its OID, a nickname as the only name, a temp address.
    land(store, source("ehr_fhir", CORPUS / "fhir_name_forms.ndjson"))
    rows = store.con.execute("""
        SELECT source_record_id, first_name, middle_name, last_name, ssn, street, alias_names
        FROM source_record ORDER BY source_record_id""").fetchall()
    assert rows == [
        ("p1", "ANA", "MARIA", "LOPEZ", None, None, None),
        ("p2", "Ana", "Maria Lopez", "Diaz", None, None, None),
        ("p3", "Ana", None, "Lopez", "123-45-6789", None, '["Ana Diaz"]'),
        ("p4", "Annie", None, "Lopez", None, "5 Shelter Way", None),
        ("p5", None, None, "Cher", None, None, None),
        ("p6", "John", "Q", "Smith", None, "1 Main", None),
    ]


def test_fhir_values_written_as_one_where_fhir_says_a_list_land(store):
    # Other EHRs' exports: `given` and `line` as one string, `name`, `address`, `telecom`,
    # `identifier` and a type's `coding` as one object, a whole name as a string, DSTU2's
    # `family` as a list, identifiers told by their type's text, codes in capitals.
    land(store, source("ehr_fhir", CORPUS / "fhir_single_values.ndjson"))
    rows = store.con.execute("""
        SELECT source_record_id, first_name, middle_name, last_name, dob, ssn, sex, street,
            zip, phone, email, alias_names
        FROM source_record ORDER BY source_record_id""").fetchall()
    assert rows == [
        ("M2", "Eva", None, "Diaz Ruiz", "1980-03-04T00:00:00Z", None, None, None, None, None,
         None, None),
        ("M3", "Ana", "Maria", "Lopez", None, "524-71-9043", None, None, None, None, None, None),
        ("p1", "Ana", None, "Lopez", None, None, "FEMALE", "1 Main St", "93701", "213-555-0134",
         None, None),
        ("p4", "Min", "Jun", "Kim", None, None, None, None, None, None, "min@example.org",
         '["Min Park"]'),
        ("p5", "5", None, None, None, None, None, None, None, None, None, None),
    ]


def test_header_names_match_the_layout_by_case_and_spacing_only_when_unambiguous():
    from linkage.sources.files import matching_renames

    names = ["first_name", "last_name", "dob"]
    assert matching_renames(["FIRST_NAME", "Last Name", "dob"], names, {}) == {
        "FIRST_NAME": "first_name", "Last Name": "last_name"}
    # Two columns that could be first_name, or the name already present: none is renamed.
    assert matching_renames(["FIRST_NAME", "First Name"], names, {}) == {}
    assert matching_renames(["first_name", "FIRST_NAME"], names, {}) == {}
    # A configured rename wins; a column is never renamed to a name another column has.
    assert matching_renames(["GivenName", "FIRST_NAME"], names, {"GivenName": "first_name"}) == {
        "GivenName": "first_name"}


def test_an_hmis_export_writing_null_for_empty_values_deletes_no_client(store):
    # SQL Server and bcp write NULL for an empty DateDeleted: that is no date of deletion.
    land(store, source("hmis", CORPUS / "hmis_null_text"))
    assert store.con.execute("SELECT source_record_id, is_deleted, household_id IS NOT NULL "
                             "FROM source_record ORDER BY 1").fetchall() == [
        ("A1", False, True), ("A2", False, False), ("A3", False, False)]


def test_rows_read_on_every_thread_keep_their_numbers_in_file_order(store, tmp_path):
    # A flat file is read by all of DuckDB's threads and its rows numbered by their place
    # in the table: over several row groups and read buffers, row n is still row n.
    path = tmp_path / "people.csv"
    duckdb.execute(f"""COPY (SELECT range + 1 AS id, 'Ana' || range AS first_name,
        'Lopez' AS last_name FROM range(300000)) TO '{path}' (HEADER)""")
    store.con.execute("SET threads = 2")
    count = land(store, source("person", path, key=["id"],
                               columns={"first_name": "first_name", "last_name": "last_name"}))
    assert count.rows_landed == 300000
    assert store.con.execute("""SELECT count(*), min(source_row), max(source_row)
        FROM source_record WHERE source_row <> CAST(source_record_id AS BIGINT)""").fetchone() == (
        0, None, None)


@pytest.mark.parametrize("block", [1, 2, 3, 5, 7, 64])
def test_byte_copies_never_split_a_line_end_or_a_character_between_blocks(tmp_path,
                                                                          monkeypatch, block):
    from linkage.sources import pieces

    monkeypatch.setattr(pieces, "_BLOCK", block)
    mixed = tmp_path / "mixed.csv"
    mixed.write_bytes(b"id,name\r\n1,ANA\r\n2,JOS\xc9\n3,PE\xc3\xb1A\r\n4,LI")
    assert pieces.mixes_line_ends(mixed)
    assert pieces.unix_line_ends(mixed, tmp_path / "lf.csv").read_bytes() == \
        b"id,name\n1,ANA\n2,JOS\xc9\n3,PE\xc3\xb1A\n4,LI"
    assert pieces.windows_1252_lines(mixed, tmp_path / "utf8.csv") == 1
    assert (tmp_path / "utf8.csv").read_bytes().decode("utf-8") == \
        "id,name\r\n1,ANA\r\n2,JOSÉ\n3,PEñA\r\n4,LI"
    crlf = tmp_path / "crlf.csv"
    crlf.write_bytes(b"id,name\r\n1,ANA\r\n2,BO\r\n")
    assert not pieces.mixes_line_ends(crlf)
    mac = tmp_path / "mac.csv"
    mac.write_bytes(b"id,name\r1,ANA\r2,PE\xc3\xb1A\r")
    assert pieces.mixes_line_ends(mac)
    assert pieces.unix_line_ends(mac, tmp_path / "mac_lf.csv").read_bytes() == \
        b"id,name\n1,ANA\n2,PE\xc3\xb1A\n"


def test_a_mac_csv_with_a_trailing_comma_on_every_line_lands(store, tmp_path):
    # Excel for Mac's "CSV (Macintosh)" ends lines in a bare CR; many exports end every line
    # with a comma, an empty header cell kept as an unnamed column.
    path = tmp_path / "people.csv"
    path.write_bytes(b"id,first_name,last_name,\r1,Ana,Lopez,\r2,Min,Kim,x\r")
    count = land(store, source("person", path, key=["id"],
                               columns={"first_name": "first_name", "last_name": "last_name"}))
    assert (count.rows_landed, count.rows_rejected) == (2, 0)
    rows = store.con.execute("SELECT source_record_id, first_name, last_name, raw "
                             "FROM source_record ORDER BY 1").fetchall()
    assert [row[:3] for row in rows] == [("1", "Ana", "Lopez"), ("2", "Min", "Kim")]
    assert json.loads(rows[1][3])["column_4"] == "x"


def test_an_extract_without_a_layouts_secondary_columns_lands_and_says_which(store, tmp_path):
    # Another county's EHR export: no assigning authority, suffix, second address line or
    # e-mail. Its fields land empty, counted per field as `column_absent`; the key, names and
    # birth date stay required.
    path = tmp_path / "patients.csv"
    path.write_text("MRN,Last Name,First Name,Middle Name,DOB,Gender,SSN,Address Line1,City,"
                    "State,Zip,Phone\n"
                    "00451234,Lopez,Ana,M,1980-03-04,F,,1 Main St,Fresno,CA,93701,\n"
                    "00451235,Kim,Min,,1975-11-30,M,,,,,,\n", encoding="utf-8")
    count = land(store, source("ehr_csv", path))
    assert (count.rows_landed, count.rows_rejected) == (2, 0)
    assert {field: reasons["column_absent"] for field, reasons in count.warnings.items()
            if "column_absent" in reasons} == {
        "assigning_authority": 2, "suffix": 2, "address_line2": 2, "email": 2}
    assert store.con.execute("SELECT source_record_id, first_name, dob, zip, email "
                             "FROM source_record ORDER BY 1").fetchall() == [
        ("00451234", "Ana", "1980-03-04", "93701", None),
        ("00451235", "Min", "1975-11-30", None, None)]
    (tmp_path / "no_dob.csv").write_text("mrn,last_name,first_name\n1,Lopez,Ana\n")
    with pytest.raises(SourceError, match="missing required column 'dob' for source 'src'"):
        check_sources([source("ehr_csv", tmp_path / "no_dob.csv")])


def test_a_file_still_being_written_when_it_is_read_stops_the_run(store, tmp_path):
    # An export that was still writing when the job checked the file: the rows read are not
    # the delivery that was hashed, so nothing of it lands.
    path = tmp_path / "people.csv"
    path.write_text("id,first_name,last_name\n1,Ana,Lopez\n", encoding="utf-8")
    config = source("person", path, key=["id"],
                    columns={"first_name": "first_name", "last_name": "last_name"})
    deliveries = check_sources([config])
    with path.open("a", encoding="utf-8") as handle:
        handle.write("2,Min,Kim\n")
    with pytest.raises(SourceError, match="people.csv: the file changed while the run read it"):
        with store.transaction():
            land_sources(store, deliveries, 1)
    assert landed(store) == []
    assert land(store, config).rows_landed == 2
