"""Program extracts beyond the three built-in shapes, each in its own layout, as data: a WIC
participant list and a county behavioral-health client file (`kind: person` sources).

They are opt-in (`generate_population(..., extracts=("wic",))`, `linkage synth --extract
wic`): the default population's files, truth and random streams stay as they were. Each
extract is one `ProgramExtract` declaration (who is in it, its header, how a record is
written) read by one writer, with its own seeded RNGs and an existing source's noise rates.

| extract            | file                             | key                      | truth source_system |
|--------------------|----------------------------------|--------------------------|---------------------|
| wic                | wic/participants.csv             | ParticipantID            | wic                 |
| behavioral_health  | behavioral_health/clients.csv    | CountyCode + ClientNumber| behavioral_health   |
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from linkage.synth import formats, identifiers
from linkage.synth.noise import NoiseRates, RecordDraft
from linkage.synth.population import REFERENCE_DATE, Household, Person, age_on
from linkage.synth.writers import SourceWriter


@dataclass(frozen=True)
class ProgramExtract:
    name: str  # the truth's source_system, and the config's source name
    path: str  # relative to the population folder
    header: tuple[str, ...]
    eligible: Callable[[Person], bool]
    share: float  # of the eligible people, how many the program holds
    noise_profile: str  # the built-in source whose noise rates and habits it borrows
    key: Callable[[random.Random, Household], tuple[str, ...]]  # key column values
    row: Callable[[SourceWriter, RecordDraft], list[str]]  # the other columns, in order
    # The run-config entry for this extract, apart from name, kind and path.
    config: dict


def _age(person: Person) -> int:
    return age_on(person.dob, REFERENCE_DATE)


def _address_parts(draft: RecordDraft) -> tuple[str, str, str, str, str]:
    """(number, street name with direction and type, unit, city, zip) in title case."""
    address = draft.address
    if address is None:
        return "", "", "", "", ""
    street = " ".join(p for p in (address.predirectional, address.street_name,
                                  address.street_type) if p)
    return (address.house_number, formats.address_title(street), formats.address_title(address.unit),
            formats.address_title(address.city), address.zip5)


def _wic_row(writer: SourceWriter, draft: RecordDraft) -> list[str]:
    number, street, unit, city, zip_code = _address_parts(draft)
    case = draft.name_case or "upper"
    return [formats.name_case(draft.first_name, case),
            formats.name_case(draft.middle_name[:1], case), formats.name_case(draft.last_name, case),
            draft.dob_text("us_digits"), draft.sex, number, street, unit, city,
            "CA" if city else "", zip_code]


def _health_row(writer: SourceWriter, draft: RecordDraft) -> list[str]:
    number, street, unit, city, zip_code = _address_parts(draft)
    case = draft.name_case or "title"
    line = " ".join(part for part in (number, street) if part)
    return [formats.name_case(draft.last_name, case), formats.name_case(draft.first_name, case),
            formats.name_case(draft.middle_name, case), draft.dob_text("us"),
            {"M": "Male", "F": "Female"}.get(draft.sex, "Unknown"),
            formats.ssn(draft.ssn, True) if draft.ssn else "", draft.cin,
            f"{line} {unit}".strip(), city, zip_code, writer._phone(draft.phone)]


EXTRACTS: dict[str, ProgramExtract] = {extract.name: extract for extract in (
    ProgramExtract(
        "wic", "wic/participants.csv",
        ("ParticipantID", "FirstName", "MiddleInitial", "LastName", "BirthDate", "Gender",
         "StreetNumber", "StreetName", "Unit", "City", "State", "Zip"),
        # Women of childbearing age and children under five.
        lambda person: _age(person) < 5 or (person.sex == "F" and 15 <= _age(person) <= 45),
        0.6, "ehr_csv",
        lambda rng, household: (f"W{identifiers.draw_digits(rng, 9)}",), _wic_row,
        {"key": ["ParticipantID"], "date_format": "%m%d%Y",
         "columns": {"FirstName": "first_name", "MiddleInitial": "middle_name",
                     "LastName": "last_name", "BirthDate": "dob", "Gender": "sex",
                     "StreetNumber": "street", "StreetName": "street", "Unit": "unit",
                     "City": "city", "State": "state", "Zip": "zip"}},
    ),
    ProgramExtract(
        "behavioral_health", "behavioral_health/clients.csv",
        ("CountyCode", "ClientNumber", "LastName", "FirstName", "MiddleName", "DateOfBirth",
         "Sex", "SSN", "MediCalID", "Address", "City", "Zip", "Phone"),
        lambda person: _age(person) >= 12, 0.15, "ehr_csv",
        lambda rng, household: (household.address.county_code or "19",
                                identifiers.draw_digits(rng, 7)),
        _health_row,
        {"key": ["CountyCode", "ClientNumber"],
         "columns": {"LastName": "last_name", "FirstName": "first_name",
                     "MiddleName": "middle_name", "DateOfBirth": "dob", "Sex": "sex",
                     "SSN": "ssn", "MediCalID": "cin", "Address": "street", "City": "city",
                     "Zip": "zip", "Phone": "phone"},
         "constants": {"state": "CA"}},
    ),
)}


class ProgramWriter(SourceWriter):
    """Writes one `ProgramExtract`: each eligible person, drawn at the extract's share, once.

    Its RNGs are seeded by the extract's name; the noise rates and formats are those of the
    built-in source it borrows them from."""

    def __init__(self, extract: ProgramExtract, out_dir: Path, seed: int,
                 rates: NoiseRates) -> None:
        self.source_system, self.extract = extract.name, extract
        super().__init__(out_dir, seed, rates, profile=extract.noise_profile)
        self._members = random.Random(f"{seed}/{extract.name}/members")
        self._rows = self._csv_output(extract.path, extract.header)
        self._keys: set[tuple[str, ...]] = set()

    def write_household(self, household: Household) -> list[tuple[str, str]]:
        keys = []
        for person in household.members:
            if not (self.extract.eligible(person)
                    and self._members.random() < self.extract.share):
                continue
            key = self.extract.key(self.rng, household)
            while key in self._keys:  # rare: the key space is far larger than the draws
                key = self.extract.key(self.rng, household)
            self._keys.add(key)
            draft = self.noise.draft(person, household)
            self._rows.add([[*key, *self.extract.row(self, draft)]])
            keys.append(("-".join(key), person.person_id))
        self.records += len(keys)
        return keys
