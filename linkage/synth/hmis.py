"""hmis/: a HUD HMIS CSV export, FY2024 layout (Export.csv, Client.csv, Enrollment.csv)."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path

from linkage.synth import formats, identifiers
from linkage.synth.noise import ABSENT_QUALITY_CODES, NoiseRates, RecordDraft
from linkage.synth.population import REFERENCE_DATE, Household, Person
from linkage.synth.weighted import Weighted
from linkage.synth.writers import SourceWriter, open_csv

CSV_VERSION = "2024 v1.3"
COC_CODE = "CA-600"  # Los Angeles City & County CoC

EXPORT_HEADER = (
    "ExportID", "SourceType", "SourceID", "SourceName", "SourceContactFirst",
    "SourceContactLast", "SourceContactPhone", "SourceContactExtension", "SourceContactEmail",
    "ExportDate", "ExportStartDate", "ExportEndDate", "SoftwareName", "SoftwareVersion",
    "CSVVersion", "ExportPeriodType", "ExportDirective", "HashStatus", "ImplementationID",
)
RACE_COLUMNS = ("AmIndAKNative", "Asian", "BlackAfAmerican", "HispanicLatinaeo",
                "MidEastNAfrican", "NativeHIPacific", "White")
CLIENT_HEADER = (
    "PersonalID", "FirstName", "MiddleName", "LastName", "NameSuffix", "NameDataQuality",
    "SSN", "SSNDataQuality", "DOB", "DOBDataQuality", *RACE_COLUMNS, "RaceNone",
    "AdditionalRaceEthnicity", "Woman", "Man", "NonBinary", "CulturallySpecific",
    "Transgender", "Questioning", "DifferentIdentity", "GenderNone", "DifferentIdentityText",
    "VeteranStatus", "YearEnteredService", "YearSeparated", "WorldWarII", "KoreanWar",
    "VietnamWar", "DesertStorm", "AfghanistanOEF", "IraqOIF", "IraqOND", "OtherTheater",
    "MilitaryBranch", "DischargeStatus", "DateCreated", "DateUpdated", "UserID", "DateDeleted",
    "ExportID",
)
ENROLLMENT_HEADER = (
    "EnrollmentID", "PersonalID", "ProjectID", "EntryDate", "HouseholdID", "RelationshipToHoH",
    "EnrollmentCoC", "LivingSituation", "DateCreated", "DateUpdated", "UserID", "DateDeleted",
    "ExportID",
)

_EXPORT_START = date(2023, 7, 1)
_PROJECT_IDS = Weighted([(str(project_id), 1) for project_id in range(1001, 1013)])
_ENROLLMENT_COUNTS = Weighted([(1, 70), (2, 22), (3, 8)])
# FY2024 prior living situation codes: shelter, street, safe haven, transitional, family,
# friends, rental, plus don't know / not collected.
_LIVING_SITUATIONS = Weighted([("101", 30), ("116", 25), ("118", 3), ("302", 8), ("435", 10),
                               ("436", 8), ("410", 6), ("8", 3), ("99", 7)])
_RELATIONSHIP_TO_HOH = {"spouse": "3", "child": "2"}  # 4 = other relative, 1 = self
RACE_NONE_RATE = 0.04  # clients with no race recorded (RaceNone 8/9/99, race columns 0)


class HmisWriter(SourceWriter):
    source_system = "hmis"

    def __init__(self, out_dir: Path, seed: int, rates: NoiseRates) -> None:
        super().__init__(out_dir, seed, rates)
        self.export_id = str(self.rng.randrange(10_000, 100_000))
        self._write_export(out_dir / "hmis/Export.csv")
        self._clients = self._csv_output("hmis/Client.csv", CLIENT_HEADER)
        self._enrollments = self._csv_output("hmis/Enrollment.csv", ENROLLMENT_HEADER)
        self._ids = identifiers.UniqueDraws(identifiers.draw_hex_id)

    def write_household(self, household: Household) -> list[tuple[str, str]]:
        members = [person for person in household.members if person.records["hmis"]]
        if not members:
            return []
        keys = [(self._client(person, household), person.person_id) for person in members]
        for _ in range(_ENROLLMENT_COUNTS.draw(self.rng)):
            self._enroll(keys, members)
        for person in members:
            # A duplicate client record: created anew at another project, enrolled alone.
            for _ in range(person.records["hmis"] - 1):
                personal_id = self._client(person, household)
                keys.append((personal_id, person.person_id))
                self._enroll([(personal_id, person.person_id)], [person])
        return keys

    def _client(self, person: Person, household: Household) -> str:
        draft = self.noise.draft(person, household)
        personal_id = self._ids(self.rng)
        created = formats.draw_timestamp(self.rng, not_before=person.dob)
        updated = formats.draw_timestamp(self.rng, not_before=created)
        self._clients.add([[
            personal_id, *self._names(draft), *self._ssn_fields(draft), *self._dob_fields(draft),
            *self._race(person), "", *self._gender(draft.sex), *self._veteran(person),
            formats.timestamp(created), formats.timestamp(updated), self._user_id(), "",
            self.export_id,
        ]])
        self.records += 1
        return personal_id

    def _enroll(self, keys: list[tuple[str, str]], members: list[Person]) -> None:
        household_id = self._ids(self.rng)
        project_id = _PROJECT_IDS.draw(self.rng)
        entry = _EXPORT_START + timedelta(days=self.rng.randrange(
            (REFERENCE_DATE - _EXPORT_START).days + 1))
        created = datetime(entry.year, entry.month, entry.day, self.rng.randrange(8, 18),
                           self.rng.randrange(60), self.rng.randrange(60))
        rows = []
        for index, ((personal_id, _), person) in enumerate(zip(keys, members)):
            relationship = "1" if index == 0 else _RELATIONSHIP_TO_HOH.get(person.relationship, "4")
            # Prior living situation is asked of the head of household and adults only.
            living = _LIVING_SITUATIONS.draw(self.rng) if index == 0 or person.is_adult else ""
            rows.append([
                self._ids(self.rng), personal_id, project_id, entry.isoformat(), household_id,
                relationship, COC_CODE, living, formats.timestamp(created),
                formats.timestamp(created + timedelta(days=self.rng.randrange(0, 90))),
                self._user_id(), "", self.export_id,
            ])
        self._enrollments.add(rows)

    def _names(self, draft: RecordDraft) -> list[str]:
        case = draft.name_case or self.format.name_case
        return [formats.name_case(draft.first_name, case),
                formats.name_case(draft.middle_name, case),
                formats.name_case(draft.last_name, case),
                formats.name_case(draft.suffix, case), str(draft.name_quality)]

    @staticmethod
    def _ssn_fields(draft: RecordDraft) -> list[str]:
        if not draft.ssn:
            quality = draft.ssn_quality if draft.ssn_quality in ABSENT_QUALITY_CODES else 99
            return ["", str(quality)]
        return [draft.ssn, "1" if draft.ssn.isdigit() else "2"]

    def _dob_fields(self, draft: RecordDraft) -> list[str]:
        if draft.dob is None:
            quality = draft.dob_quality if draft.dob_quality in ABSENT_QUALITY_CODES else 99
            return ["", str(quality)]
        # A date known only to the month is partial data (DOBDataQuality 2).
        partial = draft.dob_style in formats.PARTIAL_DATE_STYLES
        return [draft.dob_text(self.format.date_style), "2" if partial else str(draft.dob_quality)]

    def _race(self, person: Person) -> list[str]:
        if self.rng.random() < RACE_NONE_RATE:
            return ["0"] * len(RACE_COLUMNS) + [str(self.rng.choice(ABSENT_QUALITY_CODES))]
        return ["1" if column in person.races else "0" for column in RACE_COLUMNS] + [""]

    @staticmethod
    def _gender(sex: str) -> list[str]:
        """Woman, Man, NonBinary, CulturallySpecific, Transgender, Questioning,
        DifferentIdentity, GenderNone, DifferentIdentityText."""
        if not sex:
            return ["0"] * 7 + ["99", ""]
        woman, man = ("1", "0") if sex == "F" else ("0", "1")
        return [woman, man, "0", "0", "0", "0", "0", "", ""]

    def _veteran(self, person: Person) -> list[str]:
        """VeteranStatus and the military detail columns (filled for veterans only)."""
        if not person.is_adult:
            return ["99"] + [""] * 12
        if not person.veteran:
            status = "0" if self.rng.random() < 0.95 else str(self.rng.choice((8, 9, 99)))
            return [status] + [""] * 12
        entered = person.dob.year + self.rng.randint(18, 24)
        separated = entered + self.rng.randint(2, 8)
        return ["1", str(entered), str(separated), *["0"] * 8, "1", "1"]

    def _user_id(self) -> str:
        return f"{self.rng.randrange(200, 260)}"

    def _write_export(self, path: Path) -> None:
        handle, writer = open_csv(path, EXPORT_HEADER)
        with handle:
            writer.writerow([
                self.export_id, "1", COC_CODE, "Synthetic LA CoC HMIS", "HMIS", "Administrator",
                "2135550100", "", "hmis-admin@example.org",
                f"{formats.EXTRACT_DATE.isoformat()} 02:00:00", _EXPORT_START.isoformat(),
                REFERENCE_DATE.isoformat(), "linkage.synth", "1", CSV_VERSION, "3", "2", "1",
                f"SYNTH-{self.rng.getrandbits(32):08X}",
            ])
