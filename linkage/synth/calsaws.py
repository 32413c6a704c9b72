"""calsaws/persons.csv: a county eligibility extract, one row per person per case."""

from __future__ import annotations

from pathlib import Path

from linkage.synth import formats, identifiers, places
from linkage.synth.noise import NoiseRates, RecordDraft
from linkage.synth.population import REFERENCE_DATE, Household, Person, age_on
from linkage.synth.weighted import Weighted
from linkage.synth.writers import SourceWriter

HEADER = (
    "county_code", "case_number", "person_number", "cin", "ssn", "first_name", "middle_name",
    "last_name", "name_suffix", "dob", "sex", "res_street", "res_unit", "res_city", "res_state",
    "res_zip", "mail_street", "mail_city", "mail_state", "mail_zip", "phone",
    "primary_language", "program", "aid_code", "extract_date",
)

_FAMILY_PROGRAMS = Weighted([("CalWORKs", 35), ("Medi-Cal", 45), ("CalFresh", 20)])
_ADULT_PROGRAMS = Weighted([("Medi-Cal", 60), ("CalFresh", 40)])
_CALWORKS_AID_CODES = Weighted([("30", 5), ("35", 2), ("32", 1), ("3E", 1)])
# Counties a second case may sit in (the person moved, or applied where they stayed).
_OTHER_COUNTIES = Weighted([("30", 3), ("33", 2), ("36", 2), ("37", 2), ("56", 1), ("01", 1)])


def aid_code(program: str, person: Person, calworks_code: str) -> str:
    """A plausible Medi-Cal aid code for the program and age (not an authoritative mapping).

    A CalWORKs case shares one code; CalFresh-only cases carry no Medi-Cal aid code.
    """
    if program == "Medi-Cal":
        age = age_on(person.dob, REFERENCE_DATE)
        return "7U" if age < 19 else ("1H" if age >= 65 else "M1")
    if program == "CalWORKs":
        return calworks_code
    return ""


class CalsawsWriter(SourceWriter):
    source_system = "calsaws"

    def __init__(self, out_dir: Path, seed: int, rates: NoiseRates) -> None:
        super().__init__(out_dir, seed, rates)
        self._rows = self._csv_output("calsaws/persons.csv", HEADER)
        self._case_numbers = identifiers.UniqueDraws(
            lambda rng: identifiers.draw_digits(rng, 7, leading_zero=False))
        self.extract_date = formats.EXTRACT_DATE.isoformat()

    def write_household(self, household: Household) -> list[tuple[str, str]]:
        members = [person for person in household.members if person.records["calsaws"]]
        if not members:
            return []
        has_children = any(not person.is_adult for person in members)
        program = (_FAMILY_PROGRAMS if has_children else _ADULT_PROGRAMS).draw(self.rng)
        keys = self._case(household, members, program, household.address.county_code)
        for person in members:
            # Further cases: the person alone, often another program or county; a MEDS
            # duplicate CIN, when the person has one, shows up on the last case.
            for case_index in range(1, person.records["calsaws"]):
                county = (household.address.county_code if self.rng.random() < 0.8
                          else _OTHER_COUNTIES.draw(self.rng))
                other_program = _ADULT_PROGRAMS.draw(self.rng) if person.is_adult else "Medi-Cal"
                last = case_index == person.records["calsaws"] - 1
                keys += self._case(household, [person], other_program, county,
                                   alt_cin=last and bool(person.alt_cin))
        return keys

    def _case(self, household: Household, members: list[Person], program: str,
              county: str, alt_cin: bool = False) -> list[tuple[str, str]]:
        case_number = self._case_numbers(self.rng)
        calworks_code = _CALWORKS_AID_CODES.draw(self.rng)
        drafts = [self.noise.draft(person, household) for person in members]
        if alt_cin:
            drafts[0].cin = members[0].alt_cin
        rows, keys = [], []
        for index, (person, draft) in enumerate(zip(members, drafts), start=1):
            person_number = f"{index:02d}"
            # The residence belongs to the case: every person shows the case's address.
            draft.address = drafts[0].address
            row = self._row(draft, county, case_number, person_number)
            rows.append([*row, program, aid_code(program, person, calworks_code),
                         self.extract_date])
            keys.append((f"{county}-{case_number}-{person_number}", person.person_id))
        self._rows.add(rows)
        self.records += len(rows)
        return keys

    def _row(self, draft: RecordDraft, county: str, case_number: str,
             person_number: str) -> list[str]:
        """The person columns, up to primary_language; the case adds program columns."""
        case = draft.name_case or self.format.name_case
        person = draft.person
        res = _address_fields(draft)
        return [
            county, case_number, person_number, draft.cin, self._ssn(draft.ssn),
            formats.name_case(draft.first_name, case), formats.name_case(draft.middle_name, case),
            formats.name_case(draft.last_name, case), draft.suffix.upper(),
            draft.dob_text(self.format.date_style), draft.sex,
            *res, *self._mailing_address(draft, res),
            self._phone(draft.phone), person.language,
        ]

    def _mailing_address(self, draft: RecordDraft, res: list[str]) -> list[str]:
        """Mostly the residence; people without one get mail at a county office."""
        address = draft.address
        if address is None or address.kind != "residential":
            office = places.AGENCY_OFFICES.draw(self.rng)
            return [office.street, office.city, "CA", office.zip5]
        draw = self.rng.random()
        if draw < 0.75:
            return [res[0], res[2], res[3], res[4]]
        if draw < 0.85:
            return [f"PO BOX {self.rng.randrange(1, 20000)}", address.city, "CA", address.zip5]
        return ["", "", "", ""]


def _address_fields(draft: RecordDraft) -> list[str]:
    address = draft.address
    if address is None:
        return ["", "", "", "", ""]
    return [address.street(), address.unit, address.city, "CA", address.zip5]
