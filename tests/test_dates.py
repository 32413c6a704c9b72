"""Dates of birth as real extracts write them: each shape read right, a bad date landed with
its quality and counted as a warning, and a source's own date_format honoured (issue 15)."""

from __future__ import annotations

import csv
import datetime as dt
import json
from pathlib import Path

import duckdb
import pytest

from conftest import cli
from linkage.config import SourceConfig
from linkage.sources import check_sources, land_sources
from linkage.standardize import standardize
from linkage.store import open_store

D = dt.date
MODEL = Path(__file__).resolve().parent.parent / "models" / "default.json"
THIS_YEAR = dt.date.today().year

# raw text -> (dob, dob_year, dob_quality), no date_format configured.
READINGS = [
    # ISO, with or without a time part
    ("1985-03-15", D(1985, 3, 15), 1985, "full"),
    ("1985-3-5", D(1985, 3, 5), 1985, "full"),
    ("1985/03/15", D(1985, 3, 15), 1985, "full"),
    ("1985-03-15T10:20:00Z", D(1985, 3, 15), 1985, "full"),
    ("1985-03-15 00:00:00.000", D(1985, 3, 15), 1985, "full"),
    (" 1985-03-15 ", D(1985, 3, 15), 1985, "full"),
    # US month first, slashes or hyphens
    ("03/15/1985", D(1985, 3, 15), 1985, "full"),
    ("3/5/1985", D(1985, 3, 5), 1985, "full"),
    ("03-15-1985", D(1985, 3, 15), 1985, "full"),
    ("03/15/1985 00:00", D(1985, 3, 15), 1985, "full"),
    # eight digits: YYYYMMDD, else MMDDYYYY; day first is never guessed
    ("19850315", D(1985, 3, 15), 1985, "full"),
    ("03151985", D(1985, 3, 15), 1985, "full"),
    ("12011990", D(1990, 12, 1), 1990, "full"),
    ("20000102", D(2000, 1, 2), 2000, "full"),
    ("15031985", None, None, "invalid"),
    ("19853015", None, None, "invalid"),
    ("12312099", D(2099, 12, 31), 2099, "future"),
    # month names
    ("15-MAR-1985", D(1985, 3, 15), 1985, "full"),
    ("15-Mar-1985", D(1985, 3, 15), 1985, "full"),
    ("15 March 1985", D(1985, 3, 15), 1985, "full"),
    ("March 15, 1985", D(1985, 3, 15), 1985, "full"),
    ("MAR 15 1985", D(1985, 3, 15), 1985, "full"),
    ("Sept 15, 1985", D(1985, 9, 15), 1985, "full"),
    ("15-Sep-1985", D(1985, 9, 15), 1985, "full"),
    ("Smarch 15 1985", None, None, "invalid"),  # a month name that is none
    # two-digit years: never in the future
    ("03/15/85", D(1985, 3, 15), 1985, "full"),
    ("03/15/05", D(2005, 3, 15), 2005, "full"),
    ("3-15-05", D(2005, 3, 15), 2005, "full"),
    ("15-MAR-85", D(1985, 3, 15), 1985, "full"),
    (f"01/01/{(THIS_YEAR + 1) % 100:02d}", D(THIS_YEAR + 1 - 100, 1, 1), THIS_YEAR + 1 - 100,
     "january_first"),
    # partial dates: no dob, the year kept
    ("1985", None, 1985, "partial"),
    ("1985-03", None, 1985, "partial"),
    ("1985/3", None, 1985, "partial"),
    ("03/1985", None, 1985, "partial"),
    ("3-1985", None, 1985, "partial"),
    ("MAR 1985", None, 1985, "partial"),
    ("March 1985", None, 1985, "partial"),
    ("1985-13", None, None, "invalid"),
    ("1850", None, None, "invalid"),
    (str(THIS_YEAR + 1), None, THIS_YEAR + 1, "partial"),
    # impossible dates: a date's shape, no such day
    ("1985-02-30", None, None, "invalid"),
    ("02/30/1985", None, None, "invalid"),
    ("13/01/1985", None, None, "invalid"),
    ("1985-13-01", None, None, "invalid"),
    ("1985-00-10", None, None, "invalid"),
    # placeholders, future, too old
    ("1900-01-01", None, None, "invalid"),
    ("01/01/1901", None, None, "invalid"),
    ("1899-12-31", None, None, "invalid"),
    ("2999-01-01", None, None, "invalid"),
    (f"{THIS_YEAR + 5}-06-15", D(THIS_YEAR + 5, 6, 15), THIS_YEAR + 5, "future"),
    (f"0615{THIS_YEAR + 5}", D(THIS_YEAR + 5, 6, 15), THIS_YEAR + 5, "future"),
    # not a date at all
    ("not a date", None, None, "unparseable"),
    ("1985.03.15", None, None, "unparseable"),
    ("1234567", None, None, "invalid"),  # 01234567: a date's shape, no date
    ("3151980", D(1980, 3, 15), 1980, "full"),  # MMDDYYYY typed as a number
    ("15/3", None, None, "unparseable"),
    ("unknown", None, None, "unparseable"),
    # weaker evidence, still a date
    ("1910-05-05", D(1910, 5, 5), 1910, "before_1915"),
    ("1985-01-01", D(1985, 1, 1), 1985, "january_first"),
    ("", None, None, "missing"),
]

# (source date_format, raw) -> (dob, dob_quality): the format first, for text in its shape;
# text in another shape falls back to the usual shapes.
FORMAT_READINGS = [
    ("%d%m%Y", "15031985", D(1985, 3, 15), "full"),
    ("%d%m%Y", "03151985", None, "invalid"),  # in the format's shape, so never month first
    ("%d%m%Y", "1985-03-15", D(1985, 3, 15), "full"),
    ("%d%m%Y", "1985", None, "partial"),
    ("%d/%m/%Y", "13/02/1985", D(1985, 2, 13), "full"),
    ("%d/%m/%Y", "3/2/1985", D(1985, 2, 3), "full"),
    ("%d/%m/%Y", "02/13/1985", None, "invalid"),
    ("%d.%m.%y", "15.03.85", D(1985, 3, 15), "full"),
    ("%d.%m.%y", "15.03.05", D(2005, 3, 15), "full"),
    ("%B %d, %Y", "march 15, 1985", D(1985, 3, 15), "full"),
    ("%Y%m%d", "19850315", D(1985, 3, 15), "full"),
    ("%Y%m%d", "03151985", None, "invalid"),
]
FORMAT_SOURCES = {fmt: f"src_{i}" for i, fmt in enumerate(dict.fromkeys(f for f, *_ in FORMAT_READINGS))}


@pytest.fixture(scope="module")
def dates() -> dict[tuple[str, str], dict]:
    """Every case landed as one record (its source: `plain`, or one per date_format) and
    standardized once: person rows by (source_system, raw dob)."""
    rows = [("plain", raw) for raw, *_ in READINGS]
    rows += [(FORMAT_SOURCES[fmt], raw) for fmt, raw, *_ in FORMAT_READINGS]
    with open_store(":memory:", create=True) as store:
        store.con.executemany(
            "INSERT INTO source_record (run_id, source_system, source_kind, source_file, "
            "source_row, source_record_id, is_deleted, first_name, dob, raw) "
            "VALUES (1, ?, 'calsaws', 'f.csv', 1, ?, false, 'ANA', ?, '{}')",
            [(source, f"r{i}", raw) for i, (source, raw) in enumerate(rows)])
        standardize(store, date_formats={source: fmt for fmt, source in FORMAT_SOURCES.items()})
        found = store.con.execute("""
SELECT p.source_system, r.dob, p.dob, p.dob_year, p.dob_quality FROM person AS p
JOIN source_record AS r USING (source_system, source_record_id)""").fetchall()
    return {(source, raw): {"dob": dob, "dob_year": year, "dob_quality": quality}
            for source, raw, dob, year, quality in found}


@pytest.mark.parametrize("raw, dob, year, quality", READINGS)
def test_each_date_shape_is_read_to_its_date_year_and_quality(dates, raw, dob, year, quality):
    assert dates[("plain", raw)] == {"dob": dob, "dob_year": year, "dob_quality": quality}


@pytest.mark.parametrize("date_format, raw, dob, quality", FORMAT_READINGS)
def test_a_source_date_format_is_read_first_for_text_in_its_shape(dates, date_format, raw, dob,
                                                                   quality):
    found = dates[(FORMAT_SOURCES[date_format], raw)]
    assert (found["dob"], found["dob_quality"]) == (dob, quality)


def test_the_same_text_reads_by_each_source_own_format(dates):
    assert dates[("plain", "15031985")]["dob"] is None
    assert dates[(FORMAT_SOURCES["%d%m%Y"], "15031985")]["dob"] == D(1985, 3, 15)


# --- config (the validator itself: tests/test_config.py) ------------------------------------
def test_an_unsafe_date_format_stops_the_run_with_exit_2(sample_copy, capsys):
    text = sample_copy.read_text().replace(
        "kind: ehr_csv\n", "kind: ehr_csv\n    date_format: \"%d%m%Y' OR 1=1 --\"\n")
    sample_copy.write_text(text)
    assert cli("-q", "run", "--config", sample_copy) == 2
    err = capsys.readouterr().err
    assert "sources.2.date_format" in err and str(sample_copy) in err
    assert not (sample_copy.parent / "store.duckdb").exists()


def test_a_changed_date_format_lands_the_file_again(tmp_path):
    data = tmp_path / "p.csv"
    data.write_text("mrn,assigning_authority,last_name,first_name,middle_name,suffix,dob,gender,"
                    "ssn,address_line1,address_line2,city,state,zip,phone,email,last_updated\n"
                    "1,C,Lopez,Ana,,,15031985,F,,,,,,,,,\n")
    with open_store(tmp_path / "s.duckdb", create=True) as store:
        counts = []
        for run_id, fmt in enumerate([None, None, "%d%m%Y"], start=1):
            source = SourceConfig(name="src", kind="ehr_csv", path=data, date_format=fmt)
            with store.transaction():
                counts.append(land_sources(store, check_sources([source]), run_id)[0])
    assert [count.unchanged for count in counts] == [False, True, False]


# --- a bad date lands, gets an EID and is counted --------------------------------------------
BAD_DATES = {0: "02/30/1980", 1: "13/45/1980", 2: "1985", 3: "not known"}


def _damage_ehr_dates(data: Path) -> list[str]:
    """Put BAD_DATES into the first rows of the sample's EHR CSV; return those rows' MRNs."""
    path = data / "ehr" / "patients.csv"
    with path.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    for index, dob in BAD_DATES.items():
        rows[index]["dob"] = dob
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return [rows[index]["mrn"] for index in BAD_DATES]


def test_an_impossible_date_lands_gets_an_eid_and_is_counted_as_a_warning(sample_copy, capsys):
    mrns = _damage_ehr_dates(sample_copy.parent / "sample_data")
    assert cli("-q", "run", "--config", sample_copy, "--json") == 0
    summary = json.loads(capsys.readouterr().out)
    ehr = next(s for s in summary["sources"] if s["source_system"] == "ehr_csv")
    assert ehr["rows_read"] == ehr["rows_landed"] + ehr["rows_rejected"]
    assert ehr["rejects"] == {}
    assert ehr["warnings"]["dob"] == {"invalid": 2, "partial": 1, "unparseable": 1}
    store = sample_copy.parent / "store.duckdb"
    with duckdb.connect(str(store), read_only=True) as con:
        people = con.execute("""
SELECT p.source_record_id, p.dob, p.dob_year, p.dob_quality, c.enterprise_id FROM person AS p
LEFT JOIN crosswalk AS c ON c.source_system = p.source_system
    AND c.source_record_id = p.source_record_id AND c.valid_to_run IS NULL
WHERE p.source_system = 'ehr_csv' AND p.source_record_id IN (SELECT unnest($mrns))
ORDER BY p.source_record_id""", {"mrns": mrns}).fetchall()
        delivery = con.execute("SELECT rows_read, rows_landed, rows_rejected, warnings "
                               "FROM delivery WHERE source_system = 'ehr_csv'").fetchall()
    by_mrn = {row[0]: row[1:] for row in people}
    assert [by_mrn[mrn][:3] for mrn in mrns] == [
        (None, None, "invalid"), (None, None, "invalid"), (None, 1985, "partial"),
        (None, None, "unparseable")]
    assert all(by_mrn[mrn][3] is not None for mrn in mrns)
    (read, landed, rejected, warnings), = delivery
    assert read == landed + rejected and rejected == 0
    assert json.loads(warnings) == ehr["warnings"]

    # The same inputs again: unchanged, not landed, and the text summary says nothing new.
    assert cli("-q", "run", "--config", sample_copy) == 0
    assert "ehr_csv: unchanged" in capsys.readouterr().out


def test_the_run_summary_lists_warnings_by_field_and_reason_without_values(sample_copy, capsys):
    _damage_ehr_dates(sample_copy.parent / "sample_data")
    assert cli("-q", "run", "--config", sample_copy) == 0
    out = capsys.readouterr().out
    line = next(line for line in out.splitlines() if "source ehr_csv:" in line)
    assert "warnings: dob invalid 2, dob partial 1, dob unparseable 1" in line
    assert not any(dob in out for dob in BAD_DATES.values())


# --- date_format end to end ------------------------------------------------------------------
def test_a_day_first_file_is_read_with_its_configured_date_format(tmp_path, capsys):
    data = tmp_path / "patients.csv"
    data.write_text(
        "mrn,assigning_authority,last_name,first_name,middle_name,suffix,dob,gender,ssn,"
        "address_line1,address_line2,city,state,zip,phone,email,last_updated\n"
        "1,C,Lopez,Ana,,,13/02/1985,F,,,,,,,,,\n"
        "2,C,Lopez,Luis,,,02/03/1990,M,,,,,,,,,\n"
        "3,C,Lopez,Eva,,,1991-07-04,F,,,,,,,,,\n")
    config = tmp_path / "run.yaml"
    config.write_text("store: s.duckdb\nmodel: m.json\nsources:\n"
                      "  - {name: clinic, kind: ehr_csv, path: patients.csv, "
                      "date_format: '%d/%m/%Y'}\n")
    out = tmp_path / "person.csv"
    assert cli("-q", "standardize", "--config", config, "--out", out) == 0
    with out.open(newline="") as handle:
        dobs = {row["source_record_id"]: row["dob"] for row in csv.DictReader(handle)}
    assert dobs == {"1": "1985-02-13", "2": "1990-03-02", "3": "1991-07-04"}


def _day_first(tmp_path, name: str, dobs: list[str]) -> dict[str, str]:
    from linkage.standardize.dates import day_first_formats

    path = tmp_path / f"{name}.csv"
    path.write_text("id,dob\n" + "".join(f"{i},{dob}\n" for i, dob in enumerate(dobs)),
                    encoding="utf-8")
    config = SourceConfig(name=name, kind="person", path=path, key=["id"],
                          columns={"dob": "dob"})
    with open_store(tmp_path / f"{name}.duckdb", create=True) as store:
        with store.transaction():
            land_sources(store, check_sources([config]), 1)
        return day_first_formats(store, [name])


def test_a_source_whose_dates_say_they_are_day_first_is_read_day_first(tmp_path):
    # A first number above 12 is no month: five such dates and none the other way round.
    day_first = ["13/02/1985", "25/12/1990", "31/01/1970", "14/07/1999", "20/03/1960",
                 "02/03/1990", "1991-07-04"]
    assert _day_first(tmp_path, "clinic", day_first) == {"clinic": "%d/%m/%Y"}
    assert _day_first(tmp_path, "dotted", [d.replace("/", ".") for d in day_first]) == {
        "dotted": "%d.%m.%Y"}
    assert _day_first(tmp_path, "short", [d[:6] + d[8:] for d in day_first[:5]]) == {
        "short": "%d/%m/%y"}
    # A month-first source with a slip or two, one that mixes both orders, and one with
    # too few telling dates are read as before.
    month_first = [f"{m:02d}/{d:02d}/1980" for m, d in zip([1, 2, 3, 4, 5, 6] * 5,
                                                           range(1, 31), strict=True)]
    assert _day_first(tmp_path, "us", [*month_first, "13/02/1985"]) == {}
    assert _day_first(tmp_path, "mixed", [*day_first, "02/13/1985"] * 3) == {}
    assert _day_first(tmp_path, "few", day_first[:4]) == {}


def test_a_day_first_source_without_a_format_is_read_and_counted(tmp_path, capsys):
    rows = "".join(f"{i},Ana,Lopez{i},{d:02d}/{m:02d}/19{50 + i}\n"
                   for i, (d, m) in enumerate([(13, 2), (25, 12), (31, 1), (14, 7), (20, 3),
                                               (2, 3)]))
    (tmp_path / "wic.csv").write_text("id,first,last,dob\n" + rows, encoding="utf-8")
    config = tmp_path / "run.yaml"
    config.write_text(f"store: s.duckdb\nmodel: {MODEL}\nsources:\n"
                      "  - {name: wic, kind: person, path: wic.csv, key: [id], "
                      "columns: {first: first_name, last: last_name, dob: dob}}\n")
    out = tmp_path / "person.csv"
    assert cli("-q", "standardize", "--config", config, "--out", out) == 0
    with out.open(newline="") as handle:
        dobs = [row["dob"] for row in csv.DictReader(handle)]
    assert sorted(dobs) == ["1950-02-13", "1951-12-25", "1952-01-31", "1953-07-14",
                            "1954-03-20", "1955-03-02"]
    capsys.readouterr()
    assert cli("-q", "run", "--config", config, "--json") == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["sources"][0]["warnings"] == {"dob": {"read_day_first": 6}}
