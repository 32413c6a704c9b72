"""ehr/: two clinic facilities, one exporting flat CSV, the other FHIR R4 Patient NDJSON."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from linkage.synth import formats, identifiers
from linkage.synth.noise import NoiseRates, RecordDraft
from linkage.synth.population import Household
from linkage.synth.writers import ShuffledOutput, SourceWriter

CSV_HEADER = (
    "mrn", "assigning_authority", "last_name", "first_name", "middle_name", "suffix", "dob",
    "gender", "ssn", "address_line1", "address_line2", "city", "state", "zip", "phone",
    "email", "last_updated",
)
CSV_ASSIGNING_AUTHORITY = "EASTSIDE_CHC"
# Fictional facility OID; the MR identifier system of the FHIR facility.
FHIR_MRN_SYSTEM = "urn:oid:2.16.840.1.113883.3.9999.2"
SSN_SYSTEM = "http://hl7.org/fhir/sid/us-ssn"
V2_0203 = "http://terminology.hl7.org/CodeSystem/v2-0203"
FHIR_PATH = "ehr/patients.ndjson"
MAIDEN_NAME_RATE = 0.3  # of patients whose surname changed: an `old` name is on file
_GENDERS = {"M": "male", "F": "female", "": "unknown"}


class EhrCsvWriter(SourceWriter):
    source_system = "ehr_csv"

    def __init__(self, out_dir: Path, seed: int, rates: NoiseRates) -> None:
        super().__init__(out_dir, seed, rates)
        self._rows = self._csv_output("ehr/patients.csv", CSV_HEADER)
        self._mrns = identifiers.UniqueDraws(lambda rng: identifiers.draw_digits(rng, 8))

    def write_household(self, household: Household) -> list[tuple[str, str]]:
        keys = []
        for person in household.members:
            for _ in range(person.records["ehr_csv"]):
                mrn = self._mrns(self.rng)
                self._rows.add([self._row(mrn, self.noise.draft(person, household))])
                keys.append((mrn, person.person_id))
        self.records += len(keys)
        return keys

    def _row(self, mrn: str, draft: RecordDraft) -> list[str]:
        case = draft.name_case or self.format.name_case
        line1 = line2 = city = state = zip_code = ""
        if draft.address is not None:
            address = draft.address
            spelled = self.rng.random() < self.format.street_type_spelled_out
            line1 = formats.address_title(address.street(spelled))
            line2 = formats.address_title(address.unit)
            city, state = formats.address_title(address.city), "CA"
            zip_code = _zip(address.zip5, address.zip4, self.rng.random() < self.format.zip_plus4)
        return [
            mrn, CSV_ASSIGNING_AUTHORITY, formats.name_case(draft.last_name, case),
            formats.name_case(draft.first_name, case), formats.name_case(draft.middle_name, case),
            formats.name_case(draft.suffix, case), draft.dob_text(self.format.date_style),
            _GENDERS[draft.sex], self._ssn(draft.ssn), line1, line2, city, state, zip_code,
            self._phone(draft.phone), draft.email,
            formats.timestamp(formats.draw_timestamp(self.rng, not_before=draft.person.dob)),
        ]


class FhirWriter(SourceWriter):
    source_system = "ehr_fhir"

    def __init__(self, out_dir: Path, seed: int, rates: NoiseRates) -> None:
        super().__init__(out_dir, seed, rates)
        path = out_dir / FHIR_PATH
        path.parent.mkdir(parents=True, exist_ok=True)
        handle = path.open("w", encoding="utf-8", newline="\n")
        self._lines = self._track(handle, ShuffledOutput(
            lambda line: handle.write(line + "\n"), self.order_rng, FHIR_PATH))
        self._mrns = identifiers.UniqueDraws(
            lambda rng: identifiers.draw_digits(rng, 10, leading_zero=False))

    def write_household(self, household: Household) -> list[tuple[str, str]]:
        keys = []
        for person in household.members:
            for _ in range(person.records["ehr_fhir"]):
                mrn = self._mrns(self.rng)
                patient = self._patient(mrn, self.noise.draft(person, household))
                self._lines.add([json.dumps(patient, sort_keys=True, separators=(",", ":"),
                                            ensure_ascii=False)])
                keys.append((mrn, person.person_id))
        self.records += len(keys)
        return keys

    def _patient(self, mrn: str, draft: RecordDraft) -> dict[str, Any]:
        """A FHIR R4 Patient; absent values are left out, as FHIR has no nulls."""
        identifiers_ = [{"use": "usual", "type": {"coding": [{"system": V2_0203, "code": "MR"}]},
                         "system": FHIR_MRN_SYSTEM, "value": mrn}]
        if draft.ssn:
            identifiers_.append({"type": {"coding": [{"system": V2_0203, "code": "SS"}]},
                                 "system": SSN_SYSTEM, "value": self._ssn(draft.ssn)})
        patient: dict[str, Any] = {
            "resourceType": "Patient",
            "id": f"{self.rng.getrandbits(128):032x}",
            "meta": {"lastUpdated": formats.draw_timestamp(
                self.rng, not_before=draft.person.dob).strftime(
                "%Y-%m-%dT%H:%M:%SZ")},
            "identifier": identifiers_,
            "gender": _GENDERS[draft.sex],
        }
        names = self._names(draft)
        if names:
            patient["name"] = names
        if draft.dob is not None:
            patient["birthDate"] = draft.dob_text(self.format.date_style)
        if draft.address is not None:
            patient["address"] = [self._address(draft)]
        telecom = []
        if draft.phone:
            telecom.append({"system": "phone", "value": self._phone(draft.phone),
                            "use": "mobile" if self.rng.random() < 0.7 else "home"})
        if draft.email:
            telecom.append({"system": "email", "value": draft.email})
        if telecom:
            patient["telecom"] = telecom
        return patient

    def _names(self, draft: RecordDraft) -> list[dict[str, Any]]:
        if not draft.last_name:
            return []
        case = draft.name_case or self.format.name_case
        given = [formats.name_case(name, case) for name in (draft.first_name, draft.middle_name)
                 if name]
        official: dict[str, Any] = {"use": "official",
                                    "family": formats.name_case(draft.last_name, case)}
        if given:
            official["given"] = given
        if draft.suffix:
            official["suffix"] = [formats.name_case(draft.suffix, case)]
        names = [official]
        person = draft.person
        if person.birth_surname != person.last_name and self.rng.random() < MAIDEN_NAME_RATE:
            maiden = {"use": "old", "family": formats.name_case(person.birth_surname, case)}
            if given:
                maiden["given"] = given[:1]
            names.append(maiden)
        return names

    def _address(self, draft: RecordDraft) -> dict[str, Any]:
        address = draft.address
        spelled = self.rng.random() < self.format.street_type_spelled_out
        lines = [formats.address_title(address.street(spelled))]
        if address.unit:
            lines.append(formats.address_title(address.unit))
        return {"use": "home", "line": lines, "city": formats.address_title(address.city),
                "state": "CA",
                "postalCode": _zip(address.zip5, address.zip4,
                                   self.rng.random() < self.format.zip_plus4)}


def _zip(zip5: str, zip4: str, plus4: bool) -> str:
    return f"{zip5}-{zip4}" if plus4 and zip4 else zip5
