"""The true population: people in households, and which source systems hold their records.

Everything here is truth. Sources see it only through noise.py and writers.py, so a record's
errors never leak back into another record of the same person.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta

from linkage.synth import identifiers, names, places, settings
from linkage.synth.weighted import Weighted

SOURCE_SYSTEMS = ("calsaws", "hmis", "ehr_csv", "ehr_fhir")

# Ages are measured at this date; every source extract is dated the day after.
REFERENCE_DATE = date(2025, 6, 30)


_COVERAGE = settings.DEFAULTS["coverage"]


@dataclass(frozen=True)
class Coverage:
    """How people are spread over systems; defaults (noise_defaults.yaml, with reasons) give
    roughly 60% of people in CalSAWS, 35% in HMIS and 55% in an EHR, each person in at least
    one system."""

    calsaws_household: float = _COVERAGE["calsaws_household"]
    hmis_single: float = _COVERAGE["hmis_single"]
    hmis_family: float = _COVERAGE["hmis_family"]
    member_included: float = _COVERAGE["member_included"]
    ehr: float = _COVERAGE["ehr"]
    ehr_csv_share: float = _COVERAGE["ehr_csv_share"]
    ehr_fhir_share: float = _COVERAGE["ehr_fhir_share"]
    second_calsaws_case: float = _COVERAGE["second_calsaws_case"]
    third_calsaws_case: float = _COVERAGE["third_calsaws_case"]
    second_cin: float = _COVERAGE["second_cin"]
    duplicate_hmis_client: float = _COVERAGE["duplicate_hmis_client"]
    duplicate_ehr_csv: float = _COVERAGE["duplicate_ehr_csv"]
    duplicate_ehr_fhir: float = _COVERAGE["duplicate_ehr_fhir"]
    homeless_single: float = _COVERAGE["homeless_single"]
    homeless_family: float = _COVERAGE["homeless_family"]
    hmis_if_calsaws: float = _COVERAGE["hmis_if_calsaws"]
    ehr_if_hmis: float = _COVERAGE["ehr_if_hmis"]


@dataclass(frozen=True, slots=True)
class Address:
    house_number: str
    predirectional: str
    street_name: str
    street_type: str  # USPS abbreviation (ST)
    street_type_long: str  # spelled out (STREET)
    unit: str
    city: str
    zip5: str
    zip4: str
    county_code: str
    kind: str = "residential"  # or shelter / general_delivery / agency_office

    def street(self, spelled_out: bool = False) -> str:
        """The delivery line without the unit, e.g. `1234 W MAIN ST`."""
        street_type = self.street_type_long if spelled_out else self.street_type
        parts = (self.house_number, self.predirectional, self.street_name, street_type)
        return " ".join(part for part in parts if part)


@dataclass(slots=True)
class Person:
    person_id: str
    first_name: str
    middle_name: str
    last_name: str
    suffix: str
    birth_surname: str  # differs from last_name when a spouse took the household surname
    dob: date
    sex: str  # "M" / "F"
    ssn: str  # 9 digits, or "" for people without one
    cin: str
    phone: str  # 10 digits, or ""
    email: str
    language: str
    races: tuple[str, ...]  # HMIS race column names
    veteran: bool
    relationship: str  # to the head of household: self / spouse / child
    records: dict[str, int] = field(default_factory=dict)  # source system -> record count
    name_group: str = ""  # names.GROUPS naming tradition (hispanic, vietnamese, ...)
    maternal_surname: str = ""  # second part of a compound surname (GARCIA LOPEZ -> LOPEZ)
    alt_cin: str = ""  # a second CIN (MEDS duplicate) shown on a later CalSAWS case

    @property
    def is_adult(self) -> bool:
        return age_on(self.dob, REFERENCE_DATE) >= 18


@dataclass(slots=True)
class Household:
    members: list[Person]
    address: Address
    previous_address: Address  # where they lived before; some records still show it
    homeless: bool


def age_on(dob: date, when: date) -> int:
    return when.year - dob.year - ((when.month, when.day) < (dob.month, dob.day))


# Household shapes as weights: singles dominate safety-net caseloads.
_HOUSEHOLD_KINDS = Weighted([("single", 0.45), ("couple", 0.10), ("family", 0.45)])
_CHILD_COUNTS = Weighted([(1, 0.40), (2, 0.35), (3, 0.25)])
_ADULT_AGES = Weighted([((18, 24), 12), ((25, 34), 20), ((35, 44), 18), ((45, 54), 17),
                        ((55, 64), 18), ((65, 85), 15)])
_PARENT_AGES = Weighted([((20, 27), 25), ((28, 37), 40), ((38, 47), 25), ((48, 55), 10)])
_RACES: dict[str, Weighted[tuple[str, ...]]] = {
    "hispanic": Weighted([(("HispanicLatinaeo",), 70), (("HispanicLatinaeo", "White"), 25),
                          (("HispanicLatinaeo", "AmIndAKNative"), 5)]),
    "english": Weighted([(("White",), 62), (("BlackAfAmerican",), 33),
                         (("BlackAfAmerican", "White"), 5)]),
    "filipino": Weighted([(("Asian",), 90), (("Asian", "NativeHIPacific"), 10)]),
    "armenian": Weighted([(("MidEastNAfrican",), 60), (("White",), 40)]),
}
_ASIAN = Weighted([(("Asian",), 1)])

# Of Hispanic households: the family carries both surnames (paternal maternal), as on
# Mexican and Central American documents.
COMPOUND_SURNAME_RATE = 0.25
TWIN_RATE = 0.06  # of families with two or more children
JR_SR_RATE = 0.10  # of families with a father: the first son is his namesake


class PopulationBuilder:
    """Builds households one at a time so that writers can stream them."""

    def __init__(self, rng: random.Random, coverage: Coverage = Coverage()) -> None:
        self.rng = rng
        self.coverage = coverage
        self._next_person = 1
        self._ssns = identifiers.UniqueDraws(identifiers.draw_ssn)
        self._cins = identifiers.UniqueDraws(identifiers.draw_cin)

    def households(self, people: int) -> Iterator[Household]:
        """Yield households until exactly `people` people exist."""
        remaining = people
        while remaining > 0:
            household = self._household(remaining)
            remaining -= len(household.members)
            yield household

    # -- households -------------------------------------------------------------------

    def _household(self, room: int) -> Household:
        rng = self.rng
        group = names.GROUP_TABLE.draw(rng)
        surname = names.SURNAMES[group.name].draw(rng)
        maternal = ""
        if group.name == "hispanic" and rng.random() < COMPOUND_SURNAME_RATE:
            maternal = names.SURNAMES["hispanic"].draw(rng)
            if maternal != surname:
                surname = f"{surname} {maternal}"
            else:
                maternal = ""
        language = group.languages.draw(rng)
        kind = _HOUSEHOLD_KINDS.draw(rng) if room > 1 else "single"
        if kind == "single":
            members = [self._person(group, rng.choice("MF"), _dob(rng, _ADULT_AGES.draw(rng)),
                                    surname, "self", language)]
        else:
            members = self._family(group, surname, language, kind, room)
        for person in members:
            person.name_group = group.name
            if maternal and person.last_name == surname:
                person.maternal_surname = maternal
        homeless = self._assign_coverage(members)
        previous = _residential_address(rng)
        address = _shelter_address(rng) if homeless else _residential_address(rng)
        _share_household_phone(members)
        return Household(members, address, previous, homeless)

    def _family(self, group: names.NameGroup, surname: str, language: str, kind: str,
                room: int) -> list[Person]:
        rng = self.rng
        two_parents = kind == "couple" or rng.random() < 0.65
        head_sex = rng.choice("MF") if two_parents else ("F" if rng.random() < 0.8 else "M")
        head_dob = _dob(rng, _PARENT_AGES.draw(rng))
        parents = [self._person(group, head_sex, head_dob, surname, "self", language)]
        if two_parents:
            spouse_dob = _adult_near(rng, head_dob, years=6)
            spouse_sex = "F" if head_sex == "M" else "M"
            spouse_surname = names.SURNAMES[group.name].draw(rng)
            spouse = self._person(group, spouse_sex, spouse_dob, surname, "spouse", language)
            # A wife usually takes the household surname; keep the birth surname as truth.
            if spouse_sex == "F" and rng.random() < 0.75:
                spouse.birth_surname = spouse_surname
            elif spouse_sex == "F":
                spouse.last_name = spouse.birth_surname = spouse_surname
            parents.append(spouse)
        if kind == "couple":
            return parents
        children = self._children(group, surname, language, parents, room - len(parents))
        return parents + children

    def _children(self, group: names.NameGroup, surname: str, language: str,
                  parents: list[Person], room: int) -> list[Person]:
        rng = self.rng
        count = min(_CHILD_COUNTS.draw(rng), room, 5 - len(parents))
        youngest_parent = max(parent.dob for parent in parents)
        oldest_child = min(24, age_on(youngest_parent, REFERENCE_DATE) - 17)
        father = next((p for p in parents if p.sex == "M"), None)
        mother = next((p for p in parents if p.sex == "F"), None)
        namesake = father is not None and rng.random() < JR_SR_RATE
        twins = count >= 2 and rng.random() < TWIN_RATE
        children: list[Person] = []
        for index in range(count):
            if twins and index == 1:
                dob = children[0].dob
            else:
                top = oldest_child if rng.random() < 0.15 else min(17, oldest_child)
                dob = _dob(rng, (0, max(0, top)))
            sex = "M" if namesake and index == 0 else rng.choice("MF")
            child = self._person(group, sex, dob, surname, "child", language, mother=mother)
            child.races = parents[0].races
            if namesake and index == 0:
                child.first_name, child.middle_name = father.first_name, father.middle_name
                father.suffix, child.suffix = "SR", "JR"
            children.append(child)
        return children

    def _person(self, group: names.NameGroup, sex: str, dob: date, surname: str,
                relationship: str, language: str, mother: Person | None = None) -> Person:
        rng = self.rng
        first = names.given_name(rng, group, sex)
        middle = ""
        if group.name == "vietnamese" and rng.random() < 0.75:
            middle = names.VIETNAMESE_MIDDLE[sex]
        elif group.name == "filipino" and rng.random() < 0.8:
            # Filipino middle name = mother's maiden surname.
            middle = mother.birth_surname if mother else names.SURNAMES["filipino"].draw(rng)
            if middle == surname:
                middle = ""
        elif rng.random() < group.middle_name_rate:
            middle = names.given_name(rng, group, sex)
            if middle == first:
                middle = ""
        adult = age_on(dob, REFERENCE_DATE) >= 18
        person_id = f"P{self._next_person:06d}"
        self._next_person += 1
        return Person(
            person_id=person_id, first_name=first, middle_name=middle, last_name=surname,
            suffix="JR" if adult and sex == "M" and rng.random() < 0.01 else "",
            birth_surname=surname, dob=dob, sex=sex,
            ssn=self._ssns(rng) if rng.random() < (0.92 if adult else 0.95) else "",
            cin=self._cins(rng) if rng.random() < 0.98 else "",
            phone=identifiers.draw_phone(rng, places.AREA_CODES.draw(rng))
            if adult and rng.random() < 0.85 else "",
            email=identifiers.email_address(rng, first, surname, dob.year)
            if adult and rng.random() < 0.55 else "",
            language=language,
            races=_RACES.get(group.name, _ASIAN).draw(rng),
            veteran=adult and rng.random() < (0.06 if sex == "M" else 0.01),
            relationship=relationship,
        )

    # -- coverage ---------------------------------------------------------------------

    def _assign_coverage(self, members: list[Person]) -> bool:
        """Decide each member's record counts per system; return whether they are homeless."""
        rng, cov = self.rng, self.coverage
        single = len(members) == 1
        on_calsaws = rng.random() < cov.calsaws_household
        hmis_rate = cov.hmis_single if single else cov.hmis_family
        on_hmis = rng.random() < hmis_rate * (cov.hmis_if_calsaws if on_calsaws else 1.0)
        for index, person in enumerate(members):
            head = index == 0
            counts = dict.fromkeys(SOURCE_SYSTEMS, 0)
            if on_calsaws and (head or rng.random() < cov.member_included):
                counts["calsaws"] = 1
            if on_hmis and (head or rng.random() < cov.member_included):
                counts["hmis"] = 1
            if rng.random() < cov.ehr * (cov.ehr_if_hmis if counts["hmis"] else 1.0):
                counts.update(self._ehr_facilities())
            if not any(counts.values()):
                # Everyone generated is known to at least one system.
                counts[rng.choice(("calsaws", "calsaws", "hmis", "ehr_csv", "ehr_fhir"))] = 1
            if counts["calsaws"] and rng.random() < cov.second_calsaws_case:
                counts["calsaws"] = 3 if rng.random() < cov.third_calsaws_case else 2
                if person.cin and rng.random() < cov.second_cin:
                    person.alt_cin = self._cins(rng)
            if counts["hmis"] and person.is_adult and rng.random() < cov.duplicate_hmis_client:
                counts["hmis"] = 2
            if counts["ehr_csv"] and rng.random() < cov.duplicate_ehr_csv:
                counts["ehr_csv"] = 2
            if counts["ehr_fhir"] and rng.random() < cov.duplicate_ehr_fhir:
                counts["ehr_fhir"] = 2
            person.records = counts
        homeless_rate = cov.homeless_single if single else cov.homeless_family
        return on_hmis and rng.random() < homeless_rate

    def _ehr_facilities(self) -> dict[str, int]:
        draw = self.rng.random()
        if draw < self.coverage.ehr_csv_share:
            return {"ehr_csv": 1}
        if draw < self.coverage.ehr_csv_share + self.coverage.ehr_fhir_share:
            return {"ehr_fhir": 1}
        return {"ehr_csv": 1, "ehr_fhir": 1}


def _dob(rng: random.Random, ages: tuple[int, int]) -> date:
    """A birth date for someone whose age on REFERENCE_DATE is within `ages` (inclusive)."""
    youngest = _shift_years(REFERENCE_DATE, -ages[0])
    oldest = _shift_years(REFERENCE_DATE, -ages[1] - 1) + timedelta(days=1)
    return oldest + timedelta(days=rng.randrange((youngest - oldest).days + 1))


def _shift_years(day: date, years: int) -> date:
    return day.replace(year=day.year + years,
                       day=28 if (day.month, day.day) == (2, 29) else day.day)


def _adult_near(rng: random.Random, dob: date, years: int) -> date:
    """A birth date within `years` of `dob` for someone at least 18 (a spouse)."""
    latest = _shift_years(REFERENCE_DATE, -18)
    while True:
        candidate = dob + timedelta(days=rng.randint(-365 * years, 365 * years))
        if candidate <= latest:
            return candidate


def _residential_address(rng: random.Random) -> Address:
    city = places.CITIES.draw(rng)
    digits = rng.choice((3, 4, 4, 4, 5))
    street_type, street_type_long = places.STREET_TYPES.draw(rng)
    unit = ""
    if rng.random() < 0.35:
        designator = places.UNIT_DESIGNATORS.draw(rng)
        number = str(rng.randrange(1, 40)) if rng.random() < 0.8 else rng.choice("ABCD")
        unit = f"#{number}" if designator == "#" else f"{designator} {number}"
    return Address(
        house_number=str(rng.randrange(10 ** (digits - 1), 10**digits)),
        predirectional=places.DIRECTIONALS.draw(rng) if rng.random() < 0.4 else "",
        street_name=places.STREET_NAMES.draw(rng),
        street_type=street_type, street_type_long=street_type_long, unit=unit,
        city=city.name, zip5=rng.choice(city.zips), zip4=f"{rng.randrange(1, 10000):04d}",
        county_code=city.county_code,
    )


def _shelter_address(rng: random.Random) -> Address:
    fixed = places.SHELTER_ADDRESSES.draw(rng)
    return Address("", "", fixed.street, "", "", "", fixed.city, fixed.zip5, "", "19", fixed.kind)


def _share_household_phone(members: list[Person]) -> None:
    """Children are reached on a parent's phone, so a family shares one number."""
    household_phone = next((p.phone for p in members if p.phone), "")
    for person in members:
        if not person.is_adult:
            person.phone = household_phone
