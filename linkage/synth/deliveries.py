"""Deliveries over time: day 0 plus K later days of new, changed and deleted records.

Layout under the population folder (day 0 stays where `generate_population` wrote it)::

    deliveries/dayNN/snapshot/   every source's full state that day, same files as day 0,
                                 and its truth.csv; HMIS deleted clients stay with
                                 DateDeleted set, CalSAWS/EHR deleted records are absent
    deliveries/dayNN/delta/      only the records new or changed that day, same files and
                                 headers; deleted.csv (source_system,source_record_id) for
                                 records deleted that day; truth.csv for the delta's records

so snapshot(day k) = snapshot(day k-1), upserted with delta(day k), minus deleted.csv for
CalSAWS and EHR (an HMIS deletion is an update that sets DateDeleted, and is listed in
deleted.csv too). An HMIS delta also carries every enrollment of its clients, so it lands
on its own. Export.csv is rewritten each day with that day's ExportDate.

Each day draws from its own RNG (`{seed}/deliveries/dayNN`), in a fixed order: deletions,
moves, new phones, marriages, typo corrections, new records for known people, new people.
New records come from the day-0 writers, so keys stay unique and formats stay the source's.
A changed or new row carries that day's date in its timestamp column (CalSAWS
extract_date, HMIS DateUpdated, EHR last_updated, FHIR meta.lastUpdated); unchanged rows
keep theirs, so a delta is exactly the rows that differ.

The whole state is held in memory (about 1 KB per record): deliveries are meant for
populations up to a few million records.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import random
from collections.abc import Iterable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from linkage.synth import formats, identifiers, names, places
from linkage.synth.population import (Household, Person, PopulationBuilder,
                                      _residential_address, _shelter_address)
from linkage.synth.writers import TRUTH_HEADER, SourceWriter, open_csv

# File -> source system, for the files that hold person records (Enrollment and Export
# are HMIS companions).
RECORD_FILES = {"calsaws/persons.csv": "calsaws", "hmis/Client.csv": "hmis",
                "ehr/patients.csv": "ehr_csv", "ehr/patients.ndjson": "ehr_fhir"}
FILE_OF = {source: path for path, source in RECORD_FILES.items()}
ENROLLMENT = "hmis/Enrollment.csv"
EXPORT = "hmis/Export.csv"
# Which source a new record of a known person lands in: a new CalSAWS case, a visit at a
# clinic (a new MRN), a new HMIS client record.
_NEW_RECORD_SOURCES = (("calsaws", 0.40), ("ehr_csv", 0.25), ("ehr_fhir", 0.20), ("hmis", 0.15))


def _record_key(path: str, row: Any) -> str:
    if path == "calsaws/persons.csv":
        return "-".join(row[:3])
    if path == "ehr/patients.ndjson":
        return json.loads(row)["identifier"][0]["value"]
    return row[0]


def _dump(patient: dict[str, Any]) -> str:
    return json.dumps(patient, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


class DeliveryState:
    """The current rows of every source, the truth behind them, and how to change them."""

    def __init__(self, root: Path, writers: list[SourceWriter], households: list[Household],
                 builder: PopulationBuilder, rates: dict[str, float], seed: int) -> None:
        self.root, self.builder, self.rates, self.seed = root, builder, rates, seed
        self.writers = {writer.source_system: writer for writer in writers}
        self.households = households
        self.people: dict[str, tuple[Person, Household]] = {
            person.person_id: (person, household)
            for household in households for person in household.members}
        self.headers: dict[str, list[str]] = {}
        self.rows: dict[str, dict[str, Any]] = {}
        for path in (*RECORD_FILES, ENROLLMENT, EXPORT):
            self.rows[path] = self._read(path)
        self.truth: dict[tuple[str, str], str] = {}
        self.records_of: dict[str, list[tuple[str, str]]] = {}
        with (root / "truth.csv").open(encoding="utf-8", newline="") as handle:
            for source, key, person_id in list(csv.reader(handle))[1:]:
                self._add_truth(source, key, person_id)
        self.hmis_deleted: set[str] = set()
        self._column = {path: {name: i for i, name in enumerate(header)}
                        for path, header in self.headers.items()}

    # -- reading and writing files ------------------------------------------------------

    def _read(self, path: str) -> dict[str, Any]:
        file = self.root / path
        if path.endswith(".ndjson"):
            lines = file.read_text(encoding="utf-8").splitlines()
            return {_record_key(path, line): line for line in lines}
        with file.open(encoding="utf-8", newline="") as handle:
            reader = csv.reader(handle)
            self.headers[path] = next(reader)
            return {row[0] if path != "calsaws/persons.csv" else _record_key(path, row): row
                    for row in reader}

    def _write(self, folder: Path, path: str, rows: Iterable[Any]) -> None:
        if path.endswith(".ndjson"):
            file = folder / path
            file.parent.mkdir(parents=True, exist_ok=True)
            with file.open("w", encoding="utf-8", newline="\n") as handle:
                for line in rows:
                    handle.write(line + "\n")
            return
        handle, writer = open_csv(folder / path, self.headers[path])
        with handle:
            writer.writerows(rows)

    def _write_truth(self, folder: Path, keys: Iterable[tuple[str, str]]) -> None:
        handle, writer = open_csv(folder / "truth.csv", TRUTH_HEADER)
        with handle:
            writer.writerows((source, key, self.truth[(source, key)]) for source, key in keys)

    def _add_truth(self, source: str, key: str, person_id: str) -> None:
        self.truth[(source, key)] = person_id
        self.records_of.setdefault(person_id, []).append((source, key))

    # -- one day ------------------------------------------------------------------------

    def deliver(self, day: int) -> dict[str, int]:
        """Apply one day's changes and write its snapshot and delta; return change counts."""
        rng = random.Random(f"{self.seed}/deliveries/day{day:02d}")
        today = formats.EXTRACT_DATE + timedelta(days=day)
        self._today = today
        self._stamp = datetime(today.year, today.month, today.day, 2, 0, 0)
        self._changed: dict[tuple[str, str], None] = {}  # ordered set of (path, key)
        deleted: list[tuple[str, str]] = []
        counts = {"deleted": self._delete(rng, deleted), "moved": self._move(rng),
                  "new_phone": self._new_phones(rng), "marriage": self._marry(rng),
                  "typo_corrected": self._correct_typos(rng)}
        counts.update(self._add_records(rng))
        folder = self.root / "deliveries" / f"day{day:02d}"
        self._write_day(folder, deleted)
        counts["changed_or_new_records"] = len(self._changed)
        return counts

    def _alive(self, source: str, key: str) -> bool:
        return key in self.rows[FILE_OF[source]] and key not in self.hmis_deleted

    def _touch(self, path: str, key: str) -> None:
        """Mark a record changed today and date its timestamp column."""
        row = self.rows[path][key]
        stamp = formats.timestamp(self._stamp)
        if path == "calsaws/persons.csv":
            row[self._column[path]["extract_date"]] = self._today.isoformat()
        elif path == "hmis/Client.csv":
            row[self._column[path]["DateUpdated"]] = stamp
        elif path == "ehr/patients.csv":
            row[self._column[path]["last_updated"]] = stamp
        else:
            patient = json.loads(row)
            patient["meta"]["lastUpdated"] = self._stamp.strftime("%Y-%m-%dT%H:%M:%SZ")
            self.rows[path][key] = _dump(patient)
        self._changed[(path, key)] = None

    def _sample(self, rng: random.Random, population: list[Any], rate: float) -> list[Any]:
        # Stochastic rounding: small populations still see rare changes now and then.
        count = min(len(population), int(rate * len(population) + rng.random()))
        return rng.sample(population, count) if count else []

    def _delete(self, rng: random.Random, deleted: list[tuple[str, str]]) -> int:
        alive = [(source, key) for source, key in self.truth if self._alive(source, key)]
        for source, key in self._sample(rng, alive, self.rates["deleted"]):
            path = FILE_OF[source]
            if source == "hmis":
                row = self.rows[path][key]
                row[self._column[path]["DateDeleted"]] = formats.timestamp(self._stamp)
                self.hmis_deleted.add(key)
                self._touch(path, key)
            else:
                del self.rows[path][key]
                self._changed.pop((path, key), None)
            deleted.append((source, key))
        return len(deleted)

    def _move(self, rng: random.Random) -> int:
        moving = self._sample(rng, self.households, self.rates["moved"])
        for household in moving:
            household.previous_address = household.address
            homeless = rng.random() < self.rates["became_homeless"]
            household.address = _shelter_address(rng) if homeless else _residential_address(rng)
            household.homeless = homeless
            for person in household.members:
                for source, key in self.records_of.get(person.person_id, []):
                    if source != "hmis" and self._alive(source, key):
                        self._set_address(source, key, household)
        return len(moving)

    def _set_address(self, source: str, key: str, household: Household) -> None:
        path, writer = FILE_OF[source], self.writers[source]
        address = household.address
        if source == "ehr_fhir":
            patient = json.loads(self.rows[path][key])
            patient["address"] = [writer._address(_Draft(address))]
            self.rows[path][key] = _dump(patient)
        else:
            row, col = self.rows[path][key], self._column[path]
            if source == "calsaws":
                res = [address.street(), address.unit, address.city, "CA", address.zip5]
                for name, value in zip(("res_street", "res_unit", "res_city", "res_state",
                                        "res_zip"), res):
                    row[col[name]] = value
                mail = ([res[0], res[2], res[3], res[4]] if address.kind == "residential"
                        else _office(writer.rng))
                for name, value in zip(("mail_street", "mail_city", "mail_state", "mail_zip"),
                                       mail):
                    row[col[name]] = value
            else:
                spelled = writer.rng.random() < writer.format.street_type_spelled_out
                row[col["address_line1"]] = formats.address_title(address.street(spelled))
                row[col["address_line2"]] = formats.address_title(address.unit)
                row[col["city"]] = formats.address_title(address.city)
                row[col["state"]] = "CA"
                row[col["zip"]] = address.zip5
        self._touch(path, key)

    def _new_phones(self, rng: random.Random) -> int:
        with_phone = [person for person, _ in self.people.values() if person.phone]
        chosen = self._sample(rng, with_phone, self.rates["new_phone"])
        for person in chosen:
            person.phone = identifiers.draw_phone(rng, places.AREA_CODES.draw(rng))
            for source, key in self.records_of.get(person.person_id, []):
                if source == "hmis" or not self._alive(source, key):
                    continue
                path, writer = FILE_OF[source], self.writers[source]
                if source == "ehr_fhir":
                    patient = json.loads(self.rows[path][key])
                    others = [t for t in patient.get("telecom", []) if t["system"] != "phone"]
                    patient["telecom"] = [{"system": "phone", "use": "mobile",
                                           "value": writer._phone(person.phone)}, *others]
                    self.rows[path][key] = _dump(patient)
                else:
                    self.rows[path][key][self._column[path]["phone"]] = writer._phone(person.phone)
                self._touch(path, key)
        return len(chosen)

    def _marry(self, rng: random.Random) -> int:
        candidates = [person for person, _ in self.people.values()
                      if person.sex == "F" and person.is_adult
                      and person.last_name == person.birth_surname]
        chosen = self._sample(rng, candidates, self.rates["marriage"])
        for person in chosen:
            group = person.name_group or "english"
            person.last_name = names.SURNAMES[group].draw(rng)
            person.maternal_surname = ""
            for source, key in self.records_of.get(person.person_id, []):
                if self._alive(source, key) and rng.random() < self.rates["surname_update_share"]:
                    self._set_names(source, key, person, last_only=True)
        return len(chosen)

    def _correct_typos(self, rng: random.Random) -> int:
        alive = [(source, key) for source, key in self.truth if self._alive(source, key)]
        corrected = 0
        for source, key in self._sample(rng, alive, self.rates["typo_correction"]):
            person, _ = self.people[self.truth[(source, key)]]
            corrected += self._set_names(source, key, person, last_only=False)
        return corrected

    def _set_names(self, source: str, key: str, person: Person, last_only: bool) -> bool:
        """Write the person's true names (or only the surname) into a record, if different."""
        path, writer = FILE_OF[source], self.writers[source]
        case = writer.format.name_case
        last = formats.name_case(person.last_name, case)
        if source == "ehr_fhir":
            patient = json.loads(self.rows[path][key])
            official = dict(patient.get("name", [{}])[0])
            official["family"] = last
            if not last_only:
                given = [formats.name_case(n, case) for n in (person.first_name,
                                                              person.middle_name) if n]
                official["given"] = given
            old = [name for name in patient.get("name", [])[1:]]
            updated = _dump({**patient, "name": [{"use": "official", **official}, *old]})
            if updated == self.rows[path][key]:
                return False
            self.rows[path][key] = updated
        else:
            row, col = self.rows[path][key], self._column[path]
            names_ = {"calsaws/persons.csv": ("first_name", "middle_name", "last_name",
                                              "name_suffix"),
                      "hmis/Client.csv": ("FirstName", "MiddleName", "LastName", "NameSuffix"),
                      "ehr/patients.csv": ("first_name", "middle_name", "last_name", "suffix")}
            first, middle, last_col, suffix = names_[path]
            values = {last_col: last}
            if not last_only:
                values.update({first: formats.name_case(person.first_name, case),
                               middle: formats.name_case(person.middle_name, case),
                               suffix: (person.suffix if source == "calsaws"
                                        else formats.name_case(person.suffix, case))})
            if all(row[col[name]] == value for name, value in values.items()):
                return False
            for name, value in values.items():
                row[col[name]] = value
            if source == "hmis":
                row[col["NameDataQuality"]] = "1"
        self._touch(path, key)
        return True

    def _add_records(self, rng: random.Random) -> dict[str, int]:
        """New records for known people, then new people, through the day-0 writers."""
        collected: dict[str, list[Any]] = {path: [] for path in (*RECORD_FILES, ENROLLMENT)}
        for writer in self.writers.values():
            writer.redirect({path: rows.append for path, rows in collected.items()})
            if writer.source_system == "calsaws":
                writer.extract_date = self._today.isoformat()
        new_truth: list[tuple[str, str, str]] = []
        known = list(self.people.values())
        for person, household in self._sample(rng, known, self.rates["new_record"]):
            source = _weighted(rng, _NEW_RECORD_SOURCES)
            if source == "hmis" and not person.is_adult:
                source = "ehr_csv"
            records = dict.fromkeys(FILE_OF, 0)
            records[source] = 1
            alone = Household([dataclasses.replace(person, records=records)], household.address,
                              household.previous_address, household.homeless)
            new_truth += [(source, key, pid)
                          for key, pid in self.writers[source].write_household(alone)]
        new_people = int(self.rates["new_people"] * len(self.people) + rng.random())
        self.builder.rng = random.Random(f"{self.seed}/deliveries/population/{len(self.people)}")
        for household in self.builder.households(new_people) if new_people else ():
            self.households.append(household)
            for person in household.members:
                self.people[person.person_id] = (person, household)
            for writer in self.writers.values():
                new_truth += [(writer.source_system, key, pid)
                              for key, pid in writer.write_household(household)]
        for writer in self.writers.values():
            writer.flush()
        for path, rows in collected.items():
            for row in rows:
                key = _record_key(path, row) if path != ENROLLMENT else row[0]
                self.rows[path][key] = row
                if path == "hmis/Client.csv":
                    row[self._column[path]["DateCreated"]] = formats.timestamp(self._stamp)
                if path != ENROLLMENT:
                    self._touch(path, key)
        for source, key, person_id in new_truth:
            self._add_truth(source, key, person_id)
        return {"new_records": len(new_truth), "new_people": new_people}

    def _write_day(self, folder: Path, deleted: list[tuple[str, str]]) -> None:
        export = dict(self.rows[EXPORT])
        for row in export.values():
            row[self._column[EXPORT]["ExportDate"]] = f"{self._today.isoformat()} 02:00:00"
            yesterday = self._today - timedelta(days=1)
            row[self._column[EXPORT]["ExportEndDate"]] = yesterday.isoformat()
        snapshot, delta = folder / "snapshot", folder / "delta"
        changed = self._changed
        delta_clients = {key for path, key in changed if path == "hmis/Client.csv"}
        for path in RECORD_FILES:
            rows = self.rows[path]
            self._write(snapshot, path, rows.values())
            self._write(delta, path, (row for key, row in rows.items() if (path, key) in changed))
        self._write(snapshot, ENROLLMENT, self.rows[ENROLLMENT].values())
        self._write(delta, ENROLLMENT, (row for row in self.rows[ENROLLMENT].values()
                                        if row[1] in delta_clients))
        for target in (snapshot, delta):
            self._write(target, EXPORT, export.values())
        self._write_truth(snapshot, ((source, key) for path, source in RECORD_FILES.items()
                                     for key in self.rows[path]))
        self._write_truth(delta, ((RECORD_FILES[path], key) for path, source in
                                  RECORD_FILES.items() for key in self.rows[path]
                                  if (path, key) in changed))
        handle, writer = open_csv(delta / "deleted.csv", ("source_system", "source_record_id"))
        with handle:
            writer.writerows(deleted)


@dataclasses.dataclass
class _Draft:
    """The one attribute FhirWriter._address reads."""

    address: Any


def _office(rng: random.Random) -> list[str]:
    office = places.AGENCY_OFFICES.draw(rng)
    return [office.street, office.city, "CA", office.zip5]


def _weighted(rng: random.Random, choices: tuple[tuple[str, float], ...]) -> str:
    draw = rng.random() * sum(weight for _, weight in choices)
    for value, weight in choices:
        draw -= weight
        if draw < 0:
            return value
    return choices[-1][0]


def write_deliveries(root: Path, writers: list[SourceWriter], households: list[Household],
                     builder: PopulationBuilder, rates: dict[str, float], seed: int,
                     days: int) -> list[dict[str, int]]:
    """Write days 1..`days` under root/deliveries; return each day's change counts."""
    state = DeliveryState(root, writers, households, builder, rates, seed)
    return [state.deliver(day) for day in range(1, days + 1)]


