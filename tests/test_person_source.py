"""A `kind: person` source: any flat extract, its columns mapped onto the person fields."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from linkage import Project
from linkage.cli import app
from linkage.config import SourceConfig, load_config
from linkage.errors import ConfigError, SourceError
from linkage.sources import check_sources
from linkage.synth import generate_population
from linkage.synth.programs import EXTRACTS
from tests.test_sources import land, store  # noqa: F401 (store is a fixture)

MODEL = Path(__file__).resolve().parent.parent / "models" / "default.json"

WIC_HEADER = ("ParticipantID,FirstName,MiddleInitial,LastName,BirthDate,Gender,StreetNumber,"
              "StreetName,Unit,City,State,Zip")
WIC_ROWS = [
    "W0001,Maria,L,Garcia,03141985,F,123,Main St,Apt 4,Fresno,CA,93701",
    "W0002,Jose,,Lopez,11021990,M,77,,,Fresno,,93702",
    ",Ana,,Ruiz,01011970,F,1,Elm,,Fresno,CA,93703",
]
WIC_COLUMNS = {"FirstName": "first_name", "MiddleInitial": "middle_name",
               "LastName": "last_name", "BirthDate": "dob", "Gender": "sex",
               "StreetNumber": "street", "StreetName": "street", "Unit": "unit",
               "City": "city", "Zip": "zip"}


def wic(path: Path, **options) -> SourceConfig:
    settings = {"key": ["ParticipantID"], "columns": WIC_COLUMNS, "date_format": "%m%d%Y",
                "constants": {"state": "CA"}, **options}
    return SourceConfig(name="wic", kind="person", path=path, **settings)


def write(path: Path, lines: list[str], encoding: str = "utf-8") -> Path:
    path.write_text("\n".join(lines) + "\n", encoding=encoding)
    return path


def records(store) -> dict[str, tuple]:
    rows = store.con.execute("""
SELECT source_record_id, source_kind, first_name, middle_name, last_name, dob, sex, street,
    unit, city, state, zip, mrn FROM source_record""").fetchall()
    return {row[0]: row[1:] for row in rows}


def test_wic_file_lands_in_its_own_layout(store, tmp_path):
    path = write(tmp_path / "participants.csv", [WIC_HEADER, *WIC_ROWS])
    count = land(store, wic(path))
    assert (count.rows_read, count.rows_landed, count.rejects) == (3, 2, {"missing_record_id": 1})
    assert records(store) == {
        # The key is the id as it is; street number and name are joined (an empty part is
        # left out); the constant gives the state (State is not mapped); the id is no MRN.
        "W0001": ("person", "Maria", "L", "Garcia", "03141985", "F", "123 Main St", "Apt 4",
                  "Fresno", "CA", "93701", None),
        "W0002": ("person", "Jose", None, "Lopez", "11021990", "M", "77", None, "Fresno", "CA",
                  "93702", None),
    }
    raw = store.con.execute("SELECT raw FROM source_record WHERE source_record_id = 'W0001'"
                            ).fetchone()[0]
    assert json.loads(raw)["StreetName"] == "Main St"


def test_several_key_columns_are_joined_like_calsaws_keys(store, tmp_path):
    path = write(tmp_path / "bh.csv", ["Agency,ClientNo,First,Last", "A-1,7,Ana,Ruiz",
                                       "B,8,Luis,Vega", "C,,Eva,Soto"])
    config = SourceConfig(name="bh", kind="person", path=path, key=["Agency", "ClientNo"],
                          columns={"First": "first_name", "Last": "last_name"})
    count = land(store, config)
    assert sorted(records(store)) == ["A\\-1-7", "B-8"]
    assert count.rejects == {"missing_record_id": 1}


def test_every_missing_mapped_column_is_named_at_once_with_the_file(tmp_path):
    path = write(tmp_path / "participants.csv",
                 ["ParticipantID,FirstName,LastName", "W1,Ana,Ruiz"])
    with pytest.raises(SourceError) as raised:
        check_sources([wic(path)])
    message = str(raised.value)
    assert message.startswith(f"{path}: missing required columns 'MiddleInitial', 'BirthDate', ")
    assert "'Unit', 'City', 'Zip' for source 'wic' (person)" in message
    assert "Ana" not in message


def test_missing_key_column_is_a_file_error(tmp_path):
    path = write(tmp_path / "p.csv", ["Id,First", "1,Ana"])
    config = SourceConfig(name="p", kind="person", path=path, key=["PersonID"],
                          columns={"First": "first_name"})
    with pytest.raises(SourceError, match="missing required column 'PersonID' for source 'p'"):
        check_sources([config])


def test_person_source_reads_utf16_parquet_and_folders(store, tmp_path):
    utf16 = write(tmp_path / "utf16.csv", [WIC_HEADER, *WIC_ROWS[:2]], encoding="utf-16")
    assert land(store, wic(utf16, encoding="utf-16")).rows_landed == 2
    assert records(store)["W0001"][9] == "CA"
    folder = tmp_path / "parquet"
    folder.mkdir()
    csv_path = write(tmp_path / "plain.csv", [WIC_HEADER, *WIC_ROWS[:2]])
    store.con.execute(f"COPY (SELECT * FROM read_csv('{csv_path}', all_varchar = true)) "
                      f"TO '{folder / 'part.parquet'}' (FORMAT parquet)")
    assert land(store, wic(folder), run_id=2).rows_landed == 2
    assert records(store)["W0001"][6] == "123 Main St"


def test_a_changed_key_or_constant_lands_the_same_file_again(store, tmp_path):
    path = write(tmp_path / "participants.csv", [WIC_HEADER, *WIC_ROWS[:2]])
    land(store, wic(path))
    assert land(store, wic(path), run_id=2).unchanged
    assert not land(store, wic(path, constants={"state": "NV"}), run_id=3).unchanged
    assert records(store)["W0002"][9] == "NV"


CONFIG_ERRORS = [
    ({"kind": "person", "columns": {"A": "first_name"}}, "a person source needs 'key'"),
    ({"kind": "person", "key": ["A"], "columns": {"B": "firstname"}},
     "not a person field: firstname; the fields are first_name, middle_name"),
    ({"kind": "person", "key": ["A"], "constants": {"county": "x"}}, "not a person field: county"),
    ({"kind": "person", "key": ["A"], "columns": {"S": "state"}, "constants": {"state": "CA"}},
     "field given both by a column and by a constant: state"),
    ({"kind": "calsaws", "key": ["A"]}, "'key' is a setting of kind person, not calsaws"),
    ({"kind": "wic"}, "invalid value for 'sources.0.kind'"),
]


@pytest.mark.parametrize("settings, message", CONFIG_ERRORS, ids=[m for _, m in CONFIG_ERRORS])
def test_person_config_mistakes_are_named(tmp_path, settings, message):
    source = {"name": "wic", "path": "wic.csv", **settings}
    (tmp_path / "run.yaml").write_text(json.dumps(
        {"store": "s.duckdb", "model": "m.json", "sources": [source]}), encoding="utf-8")
    with pytest.raises(ConfigError) as raised:
        load_config(tmp_path / "run.yaml")
    assert message in str(raised.value)


def test_sources_command_lists_each_kind_with_its_columns():
    result = CliRunner().invoke(app, ["sources"])
    assert result.exit_code == 0, result.output
    assert ("required columns: county_code, case_number, person_number, first_name, last_name, "
            "dob") in result.output
    assert "res_zip, phone, mail_street, mail_city, mail_state, mail_zip\n" in result.output
    assert "person: any other flat person extract" in result.output
    assert "settings: key, columns, constants" in result.output
    kinds = json.loads(CliRunner().invoke(app, ["sources", "--json"]).output)["kinds"]
    assert [kind["kind"] for kind in kinds] == ["calsaws", "hmis", "ehr_csv", "ehr_fhir", "person"]
    assert "household_id" in kinds[-1]["fields"]


def test_generated_program_extracts_land_every_row_with_their_declared_config(store, tmp_path):
    summary = generate_population(400, seed=5, out_dir=tmp_path / "pop",
                                  extracts=("wic", "behavioral_health"))
    truth = (tmp_path / "pop" / "truth.csv").read_text(encoding="utf-8").splitlines()
    for run_id, (name, extract) in enumerate(EXTRACTS.items(), start=1):
        config = SourceConfig(name=name, kind="person", path=tmp_path / "pop" / extract.path,
                              **extract.config)
        count = land(store, config, run_id)
        assert (count.rows_landed, count.rows_rejected) == (summary.records[name], 0)
        landed = {row[0] for row in store.con.execute(
            "SELECT source_record_id FROM source_record WHERE source_system = $s", {"s": name}
        ).fetchall()}
        assert landed == {line.split(",")[1] for line in truth if line.startswith(f"{name},")}


def test_program_extracts_leave_the_default_population_unchanged(tmp_path):
    generate_population(200, seed=9, out_dir=tmp_path / "plain")
    generate_population(200, seed=9, out_dir=tmp_path / "with", extracts=("wic",))
    for file in ("calsaws/persons.csv", "hmis/Client.csv", "hmis/Enrollment.csv",
                 "ehr/patients.csv", "ehr/patients.ndjson"):
        assert (tmp_path / "plain" / file).read_bytes() == (tmp_path / "with" / file).read_bytes()
    truth = (tmp_path / "with" / "truth.csv").read_text(encoding="utf-8").splitlines()
    assert [line for line in truth if not line.startswith("wic,")] == (
        tmp_path / "plain" / "truth.csv").read_text(encoding="utf-8").splitlines()
    assert (tmp_path / "with" / "wic" / "participants.csv").read_text().startswith(WIC_HEADER)


def test_wic_extract_links_with_calsaws_and_ehr_records(tmp_path):
    generate_population(600, seed=3, out_dir=tmp_path / "data", extracts=("wic",))
    sources = [{"name": "calsaws", "kind": "calsaws", "path": "data/calsaws/persons.csv"},
               {"name": "ehr_csv", "kind": "ehr_csv", "path": "data/ehr/patients.csv"},
               {"name": "wic", "kind": "person", "path": "data/wic/participants.csv",
                **EXTRACTS["wic"].config}]
    (tmp_path / "run.yaml").write_text(json.dumps({
        "store": "store.duckdb", "model": str(MODEL), "sources": sources}), encoding="utf-8")
    truth = tmp_path / "truth.csv"
    truth.write_text("\n".join(line for line in (tmp_path / "data" / "truth.csv").read_text(
        encoding="utf-8").splitlines() if not line.startswith(("hmis,", "ehr_fhir,"))) + "\n",
        encoding="utf-8")
    project = Project.open(tmp_path / "run.yaml")
    summary = project.run()
    wic_count = next(s for s in summary.sources if s.source_system == "wic")
    assert wic_count.rows_rejected == 0 and wic_count.rows_landed > 100
    assert project.evaluate(truth).f1 > 0.97


def test_unterminated_quote_in_a_person_file_is_one_reject_and_constants_survive_the_cut(
        store, tmp_path):
    path = write(tmp_path / "p.csv", ["Id,First,Last", "1,Ana,Ruiz", '2,"Bo,Li', "3,Cy,Ng"])
    config = SourceConfig(name="p", kind="person", path=path, key=["Id"],
                          columns={"First": "first_name", "Last": "last_name"},
                          constants={"state": "CA"})
    count = land(store, config)
    assert (count.rows_read, count.rejects) == (3, {"unterminated_quote": 1})
    assert {key: values[9] for key, values in records(store).items()} == {"1": "CA", "3": "CA"}


def test_a_person_source_takes_deliveries_and_deletions_like_the_built_in_kinds(tmp_path):
    write(tmp_path / "wic.csv", [WIC_HEADER, *WIC_ROWS[:2],
                                 "W0003,Ana,,Ruiz,01011970,F,1,Elm,,Fresno,CA,93703"])
    (tmp_path / "run.yaml").write_text(json.dumps({
        "store": "store.duckdb", "model": str(MODEL),
        "sources": [{"name": "wic", "kind": "person", "path": "wic.csv",
                     "key": ["ParticipantID"], "columns": WIC_COLUMNS,
                     "date_format": "%m%d%Y", "constants": {"state": "CA"}}]}),
        encoding="utf-8")
    project = Project.open(tmp_path / "run.yaml")
    project.run()
    # A delta: Maria moved, a new participant; and Jose's record is withdrawn.
    delta = write(tmp_path / "delta.csv", [
        WIC_HEADER, "W0001,Maria,L,Garcia,03141985,F,9,Oak Ave,,Fresno,CA,93705",
        "W0004,Luis,,Ortega,07071977,M,5,Pine St,,Fresno,CA,93704"])
    deleted = write(tmp_path / "deleted.csv", ["source_system,source_record_id", "wic,W0002"])
    # (One of three records removed is a mass change to the guard.)
    summary = Project.open(tmp_path / "run.yaml").run(deliveries={"wic": delta},
                                                       deleted=deleted, allow_mass_change=True)
    landed = next(s for s in summary.sources if s.source_system == "wic")
    assert (landed.snapshot, landed.rows_landed, landed.rows_rejected) == ("delta", 2, 0)
    assert summary.deletions["deleted"] == 1
    active = {row["source_record_id"] for row in project.crosswalk().to_dict("records")}
    assert active == {"W0001", "W0003", "W0004"}
    with project.store(read_only=True) as store:
        street, = store.con.execute("SELECT street FROM person WHERE record_key = 'wic:W0001'"
                                    ).fetchone()
    assert street.startswith("9 OAK")


def test_a_whole_name_in_one_column_is_split_into_its_parts(store, tmp_path):
    # County systems often hold one NAME column, family first before a comma or given first
    # without one; a mapped part column, where it has a value, wins over the split.
    path = write(tmp_path / "clients.csv", [
        "ClientID,Name,DOB,First",
        "C1,\"LOPEZ GARCIA, ANA MARIA\",1985-03-14,",
        "C2,Jose  Luis Ruiz,1990-11-02,",
        "C3,\"SMITH, JOHN\",1970-01-01,JONATHAN",
        "C4,Cher,1946-05-20,",
    ])
    land(store, SourceConfig(name="clinic", kind="person", path=path, key=["ClientID"],
                             columns={"Name": "full_name", "DOB": "dob", "First": "first_name"}))
    names = store.con.execute("""
SELECT source_record_id, first_name, middle_name, last_name FROM source_record ORDER BY 1""")
    assert names.fetchall() == [("C1", "ANA", "MARIA", "LOPEZ GARCIA"),
                                ("C2", "Jose", "Luis", "Ruiz"),
                                ("C3", "JONATHAN", None, "SMITH"),
                                ("C4", None, None, "Cher")]


def test_a_typed_parquet_file_gives_an_integer_ssn_its_leading_zero_back(store, tmp_path):
    # pandas writes an SSN column with gaps as floats and one without as integers; both lose
    # the leading zero of 024-71-9043. A text column is read as it is.
    path = tmp_path / "typed.parquet"
    store.con.execute(f"""COPY (SELECT * FROM (VALUES
        ('P1', 'Ana', 'Lee', 24719043::BIGINT, 24719043.0::DOUBLE, '024719043'),
        ('P2', 'Bo', 'Lee', 524719043::BIGINT, NULL::DOUBLE, '524719043'))
        AS t(id, first, last, ssn_int, ssn_float, ssn_text)) TO '{path}' (FORMAT parquet)""")
    for column in ("ssn_int", "ssn_float", "ssn_text"):
        config = SourceConfig(name=f"typed_{column}", kind="person", path=path, key=["id"],
                              columns={"first": "first_name", "last": "last_name",
                                       column: "ssn"})
        land(store, config)
    assert sorted(store.con.execute("SELECT source_system, source_record_id, ssn "
                                    "FROM source_record").fetchall()) == [
        ("typed_ssn_float", "P1", "024719043"), ("typed_ssn_float", "P2", None),
        ("typed_ssn_int", "P1", "024719043"), ("typed_ssn_int", "P2", "524719043"),
        ("typed_ssn_text", "P1", "024719043"), ("typed_ssn_text", "P2", "524719043")]
