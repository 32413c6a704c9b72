"""Faults a hostile or broken extract can hold: each is a reject with its line, or a one-line
error before anything changes; never lost rows, a hang or an internal error."""

from __future__ import annotations

import gzip
import os
import shutil
from pathlib import Path

import duckdb
import pytest

from linkage.errors import SourceError
from linkage.sources import check_sources
from linkage.sources.files import looks_utf16
from tests.conftest import cli
from tests.test_sources import CORPUS, land, landed, rejected, source


@pytest.fixture
def store(tmp_path):
    from linkage.store import open_store

    with open_store(tmp_path / "store.duckdb", create=True) as store:
        yield store


def record_ids(store) -> list[str]:
    return sorted(record for record, _ in landed(store))


def _unclose_quote(text: str, line: int, column: str, value: str) -> str:
    """`text` with the value of `column` on physical `line` opened by a quote never closed."""
    lines = text.split("\n")
    header = lines[0].split(",")
    fields = lines[line - 1].split(",")
    fields[header.index(column)] = '"' + value
    lines[line - 1] = ",".join(fields)
    return "\n".join(lines)


# -- an unterminated quote ----------------------------------------------------------------------
def test_unterminated_quote_is_one_reject_and_every_later_row_lands(store):
    count = land(store, source("calsaws", CORPUS / "unterminated_quote.csv"))
    assert rejected(store) == [(12, "unterminated_quote")]
    assert (count.rows_read, count.rows_landed, count.rows_rejected) == (40, 39, 1)
    assert "19-1000040-01" in record_ids(store)
    # The legitimate quoted newline after the bad row is still one field of one record.
    assert store.con.execute("SELECT first_name FROM source_record "
                             "WHERE source_record_id = '19-1000030-01'").fetchall() == [("ROSA\nMARIA",)]


@pytest.mark.parametrize("kind, sample, column", [
    ("calsaws", "calsaws/persons.csv", "first_name"),
    ("ehr_csv", "ehr/patients.csv", "last_name"),
    ("hmis", "hmis", "FirstName"),
])
def test_unterminated_quote_in_every_kind_of_csv_loses_no_other_row(store, tmp_path, kind,
                                                                    sample, column):
    data = Path(__file__).resolve().parent.parent / "sample_data" / sample
    clean = tmp_path / "clean"
    shutil.copytree(data, clean) if data.is_dir() else (clean.mkdir(), shutil.copy(data, clean))
    broken = tmp_path / "broken"
    shutil.copytree(clean, broken)
    target = next(broken.glob("Client.csv" if kind == "hmis" else "*.csv"))
    target.write_text(_unclose_quote(target.read_text(), 11, column, "X"))
    path = (lambda folder: folder) if kind == "hmis" else (lambda folder: next(folder.glob("*.csv")))
    expected = land(store, source(kind, path(clean)))
    count = land(store, source(kind, path(broken)), run_id=2)
    assert rejected(store) == [(11, "unterminated_quote")]
    assert (count.rows_read, count.rows_landed) == (expected.rows_read, expected.rows_landed - 1)


def test_unterminated_quote_on_several_rows_each_is_one_reject(store, tmp_path):
    text = (CORPUS / "unterminated_quote.csv").read_text()
    for line in (20, 25):
        text = _unclose_quote(text, line, "last_name", "LOPEZ")
    path = tmp_path / "persons.csv"
    path.write_text(text)
    count = land(store, source("calsaws", path))
    assert rejected(store) == [(12, "unterminated_quote"), (20, "unterminated_quote"),
                               (25, "unterminated_quote")]
    assert count.rows_landed == 37


def test_unterminated_quote_with_crlf_line_ends_is_recovered_or_refused_never_lost(store, tmp_path):
    # With CRLF line ends DuckDB's note of the bad row can name another row: the file is then
    # refused, naming a line; otherwise every other row lands.
    path = tmp_path / "persons.csv"
    text = (CORPUS / "unterminated_quote.csv").read_text()
    lines = text.split("\n")
    more = [line.replace(",10000", ",20000") for line in lines[1:30]]
    path.write_bytes("\r\n".join(lines[:-1] + more + [""]).encode())
    try:
        count = land(store, source("calsaws", path))
    except SourceError as error:
        assert "persons.csv: line " in str(error) and "quoted field is not closed" in str(error)
        assert landed(store) == [] and rejected(store) == []
    else:
        assert rejected(store) == [(12, "unterminated_quote"), (52, "unterminated_quote")]
        assert (count.rows_read, count.rows_landed) == (69, 67)


def test_too_many_unterminated_quotes_refuse_the_file_naming_the_line(store, tmp_path):
    lines = (CORPUS / "unterminated_quote.csv").read_text().split("\n")
    path = tmp_path / "persons.csv"
    path.write_text("\n".join(lines[:1] + [line.replace(",ANA,", ',"ANA,') for line in lines[1:]]))
    with pytest.raises(SourceError, match=r"persons.csv: line 22: a quoted field is not closed "
                                          r"\(an unterminated quote\), after 20 others"):
        land(store, source("calsaws", path))
    assert landed(store) == [] and rejected(store) == []


# -- record keys --------------------------------------------------------------------------------
def test_calsaws_keys_with_separators_in_their_parts_stay_distinct(store):
    land(store, source("calsaws", CORPUS / "key_separators.csv"))
    assert rejected(store) == []
    assert record_ids(store) == ["19-1234567-01", "19-77\\-88-01", "19-77\\\\-88\\-01",
                                 "19\\-77-88-01"]
    households = store.con.execute("SELECT count(DISTINCT household_id) FROM source_record "
                                   "WHERE source_record_id LIKE '%\\%' ESCAPE '!'").fetchall()
    assert households == [(3,)]


def test_fhir_resource_id_equal_to_another_mr_is_rejected_not_merged(store):
    land(store, source("ehr_fhir", CORPUS / "fhir_mr_equals_other_id.ndjson"))
    # Two different patients would share the key `p1`: both are rejects, neither is lost
    # silently and neither takes the other's identity.
    assert rejected(store) == [(1, "duplicate_record_id"), (2, "duplicate_record_id")]
    assert record_ids(store) == ["Patient/p1"]


# -- only regular files -------------------------------------------------------------------------
@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="named pipes")
def test_named_pipe_in_a_folder_is_skipped_and_named_as_a_path_is_refused(store, tmp_path):
    shutil.copy(CORPUS / "bom.csv", tmp_path / "patients.csv")
    os.mkfifo(tmp_path / "pipe.csv")
    (tmp_path / "folder.csv").mkdir()
    (tmp_path / "link.csv").symlink_to(tmp_path / "patients.csv")

    for path in (tmp_path, tmp_path / "*.csv"):
        files = check_sources([source("ehr_csv", path)])[0].files
        assert [file.path.name for file in files] == ["link.csv", "patients.csv"]
    with pytest.raises(SourceError, match=r"pipe.csv: not a regular file \(special\)"):
        check_sources([source("ehr_csv", tmp_path / "pipe.csv")])


def test_symlink_loop_is_refused_as_not_a_regular_file(tmp_path):

    (tmp_path / "loop.csv").symlink_to(tmp_path / "loop.csv")
    with pytest.raises(SourceError, match=r"loop.csv: not a regular file \(symlink loop\)"):
        check_sources([source("ehr_csv", tmp_path / "loop.csv")])


# -- UTF-16 -------------------------------------------------------------------------------------
@pytest.mark.parametrize("codec, bom", [("utf-16-le", b"\xff\xfe"), ("utf-16-be", b"\xfe\xff"),
                                        ("utf-16-le", b"")])
def test_utf16_with_or_without_bom_lands_every_row(store, tmp_path, codec, bom):
    text = (CORPUS / "latin1.csv").read_bytes().decode("latin-1").replace("Lopez", "Núñez")
    text += text.split("\n")[1].replace("00000001", "00000002") + "\n"
    path = tmp_path / "patients.csv"
    path.write_bytes(bom + text.encode(codec))
    count = land(store, source("ehr_csv", path, encoding="utf-16"))
    assert (count.rows_read, count.rows_landed) == (2, 2)
    assert store.con.execute("SELECT DISTINCT first_name, last_name FROM source_record"
                             ).fetchall() == [("José", "Núñez")]


@pytest.mark.parametrize("codec, bom, delimiter", [("utf-16-le", b"\xff\xfe", "\t"),
                                                   ("utf-16-be", b"\xfe\xff", ","),
                                                   ("utf-16-le", b"", ",")])
def test_utf16_file_of_a_source_left_at_utf8_is_read_as_utf16(store, tmp_path, codec, bom,
                                                              delimiter):
    # Excel's "Unicode Text" export: UTF-16 with a byte order mark, tab-delimited.
    text = (CORPUS / "latin1.csv").read_bytes().decode("latin-1").replace("Lopez", "Núñez")
    path = tmp_path / "patients.txt"
    path.write_bytes(bom + text.replace(",", delimiter).encode(codec))
    count = land(store, source("ehr_csv", path))
    assert (count.rows_read, count.rows_landed) == (1, 1)
    assert store.con.execute("SELECT first_name, last_name FROM source_record"
                             ).fetchall() == [("José", "Núñez")]


def test_utf16_is_told_by_its_bytes_not_guessed():
    assert looks_utf16("mrn,first".encode("utf-16-le"))
    assert not looks_utf16(b"mrn,first_name,last_name")
    assert not looks_utf16(b"\xef\xbb\xbfmrn,first_name")  # a UTF-8 byte order mark
    assert not looks_utf16(b"m\x00")  # too short to tell


def test_title_lines_above_the_header_are_named_in_the_error(tmp_path):
    path = tmp_path / "patients.csv"
    text = (CORPUS / "latin1.csv").read_bytes().decode("latin-1")
    path.write_text("Patient extract, run 2026-12-01\n\n" + text, encoding="latin-1")
    with pytest.raises(SourceError, match=r"missing required columns 'mrn', .*; line 3 holds "
                                          r"them, so the lines above it look like a report's"):
        check_sources([source("ehr_csv", path, encoding="latin-1")])
    path.write_text("Patient extract\nmrn,first_name\n1,Ann\n", encoding="utf-8")
    with pytest.raises(SourceError, match=r"the file has 1 columns$"):
        check_sources([source("ehr_csv", path)])


# -- bad bytes in NDJSON ------------------------------------------------------------------------
def test_bad_byte_on_one_ndjson_line_is_one_reject_and_the_others_keep_their_lines(store):
    count = land(store, source("ehr_fhir", CORPUS / "fhir_bad_byte.ndjson"))
    assert landed(store) == [("M1", 1), ("M3", 4)]
    assert rejected(store) == [(2, "invalid_encoding")]
    assert count.rows_read == count.rows_landed + count.rows_rejected == 3


# -- hostile files ------------------------------------------------------------------------------
HOSTILE = [
    ("2 MB header line", "patients.csv", b"x" * 2_000_000 + b"\n1\n",
     "first line is longer than 1,048,576 bytes"),
    ("header of only commas", "patients.csv", b",,,,,\n1,2,3,4,5,6\n",
     "first line is not a header row"),
    ("NUL in the header", "patients.csv", b"mrn,\x00last_name\n1,2\n", "header holds a NUL byte"),
    ("Parquet that is CSV", "patients.parquet", b"mrn,last_name\n1,2\n", "cannot read as Parquet"),
    ("gzip-compressed CSV", "patients.csv", gzip.compress(b"mrn,last_name\n1,2\n"),
     "the file is gzip-compressed; decompress it first"),
    ("Excel workbook saved as .csv", "patients.csv", b"PK\x03\x04" + b"\x00" * 40,
     "the file is a ZIP archive or an Excel workbook"),
    ("100,000 columns", "patients.csv",
     ",".join(f"c{i}" for i in range(100_000)).encode() + b"\n",
     "header has 100,000 columns; at most 2,000"),
]


@pytest.mark.parametrize("case, name, content, message", HOSTILE, ids=[c[0] for c in HOSTILE])
def test_hostile_file_is_a_one_line_error(tmp_path, case, name, content, message):

    (tmp_path / name).write_bytes(content)
    with pytest.raises(SourceError) as raised:
        check_sources([source("calsaws", tmp_path / name)])
    assert message in str(raised.value) and "\n" not in str(raised.value)


def test_oversized_header_exits_2_from_the_cli(sample_copy, capsys):
    persons = sample_copy.parent / "sample_data" / "calsaws" / "persons.csv"
    persons.write_bytes(b"x" * 2_000_000 + b"\n" + persons.read_bytes())
    assert cli("--quiet", "run", "--config", sample_copy) == 2
    assert "first line is longer than" in capsys.readouterr().err


def test_parquet_check_reads_only_the_schema(tmp_path):
    # A real Parquet file still lands; the check above refused only a CSV in disguise.
    path = tmp_path / "persons.parquet"
    with duckdb.connect() as con:
        con.execute(f"COPY (SELECT * FROM read_csv(?, all_varchar = true)) TO '{path}'",
                    [str(CORPUS / "key_separators.csv")])

    assert check_sources([source("calsaws", path)])[0].files[0].bytes > 0


def test_calsaws_parquet_with_numeric_key_columns_keeps_the_csv_keys(store, tmp_path):
    # A Parquet extract written from a frame whose county and person numbers were read as
    # integers: the keys and households are those its CSV twin gives (19-1234567-01).
    import pyarrow as pa
    import pyarrow.parquet as pq

    from linkage.sources.shapes import CALSAWS_COLUMNS

    row = {column: None for column in CALSAWS_COLUMNS}
    rows = [{**row, "county_code": 1, "case_number": 1234567, "person_number": person,
             "first_name": "ANA", "last_name": "LOPEZ", "dob": "1980-03-15"}
            for person in (1, 2, 10)]
    table = pa.Table.from_pylist(rows, schema=pa.schema(
        [(column, pa.int64() if column in ("county_code", "case_number", "person_number")
          else pa.string()) for column in CALSAWS_COLUMNS]))
    pq.write_table(table, tmp_path / "persons.parquet")
    land(store, source("calsaws", tmp_path / "persons.parquet"))
    assert record_ids(store) == ["01-1234567-01", "01-1234567-02", "01-1234567-10"]
    households = store.con.execute("SELECT DISTINCT household_id FROM source_record").fetchall()
    assert households == [("01-1234567",)]
