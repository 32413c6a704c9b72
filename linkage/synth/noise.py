"""Noise as data: a registry of noise types, each with a default rate per source system.

A record starts as a `RecordDraft` copied from the true person; `NoiseEngine.draft` walks
`NOISE_TYPES` in order and, for each type that can apply to the draft, fires it with the
configured probability. A rate is therefore "of the records where this noise is possible"
(a nickname rate counts only first names that have a nickname), as in pseudopeople.
Writers only format drafts; they never decide about errors.

>>> rates = resolve_noise_rates({"hmis": {"partial_ssn": 0.5}})
>>> rates["hmis"]["partial_ssn"], rates["calsaws"]["name_typo"]
(0.5, 0.03)
"""

from __future__ import annotations

import calendar
import dataclasses
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date

from linkage.synth import formats, identifiers, names, places, settings
from linkage.synth.population import (REFERENCE_DATE, SOURCE_SYSTEMS, Address, Household, Person,
                                      age_on)

# HMIS data-quality codes for a value that is absent: client doesn't know, refused,
# data not collected. Other sources simply leave the value empty.
ABSENT_QUALITY_CODES = (8, 9, 99)


@dataclass(slots=True)
class RecordDraft:
    """One source record's values before formatting; starts as a copy of the truth."""

    person: Person
    household: Household
    first_name: str
    middle_name: str
    last_name: str
    suffix: str
    dob: date | None
    sex: str
    ssn: str  # 9 digits, a partial like xxxxx1234, or ""
    phone: str
    email: str
    address: Address | None
    cin: str = ""
    name_case: str | None = None  # None = the source's usual case; else upper/lower/title
    name_quality: int = 1
    ssn_quality: int = 1
    dob_quality: int = 1
    dob_style: str = ""  # "" = the source's usual way of writing dates; else a DATE_STYLES key
    dob_written: tuple[int, int, int] | None = None  # a date as typed that cannot exist
    stale: bool = False  # last updated years before the source's other records
    source_system: str = ""
    # The generator's seed: choices that must agree across a person's records in every
    # source (her earlier surname, the family's earlier phone) are seeded by it.
    seed: str = ""

    @classmethod
    def from_truth(cls, person: Person, household: Household) -> RecordDraft:
        return cls(person, household, person.first_name, person.middle_name, person.last_name,
                   person.suffix, person.dob, person.sex, person.ssn, person.phone,
                   person.email, household.address, person.cin)

    def dob_text(self, usual_style: str) -> str:
        """The birth date as this record writes it; the source usually writes `usual_style`."""
        return formats.date_text(self.dob, self.dob_style or usual_style, self.dob_written)

    def history_rng(self, what: str, key: str = "") -> random.Random:
        """A generator for `what` in the past of this person (or of `key`, e.g. a phone
        number a family shares), the same in every source."""
        return random.Random(f"{self.seed}/{key or self.person.person_id}/{what}")


@dataclass(frozen=True)
class NoiseType:
    """One kind of error: when it can apply, what it does, and how often per source."""

    name: str
    description: str
    rates: Mapping[str, float]  # source system -> probability per eligible record
    applies: Callable[[RecordDraft], bool]
    apply: Callable[[random.Random, RecordDraft], None]


# -- the noise functions ---------------------------------------------------------------

_KEYBOARD_ROWS = ("QWERTYUIOP", "ASDFGHJKL", "ZXCVBNM")
_NEIGHBOURS = {
    key: "".join(row[j] for j in (i - 1, i + 1) if 0 <= j < len(row))
    for row in _KEYBOARD_ROWS for i, key in enumerate(row)
}


def typo(rng: random.Random, text: str) -> str:
    """One keyboard-style error: a neighbouring key, a dropped, doubled or swapped letter."""
    letters = [i for i, ch in enumerate(text) if ch.isalpha()]
    if len(letters) < 2:
        return text
    i = rng.choice(letters)
    kind = rng.randrange(4)
    if kind == 0 and text[i].upper() in _NEIGHBOURS:
        return text[:i] + rng.choice(_NEIGHBOURS[text[i].upper()]) + text[i + 1:]
    if kind == 1:
        return text[:i] + text[i + 1:]
    if kind == 2:
        return text[:i] + text[i] + text[i:]
    j = i + 1 if i + 1 < len(text) else i - 1
    low, high = min(i, j), max(i, j)
    if text[low] == text[high]:  # swapping LL in WILLIAM would change nothing
        return text[:i] + text[i + 1:]
    return text[:low] + text[high] + text[low] + text[high + 1:]


def _garble_a_name(rng: random.Random, draft: RecordDraft,
                   garble: Callable[[random.Random, str], str]) -> None:
    """Apply `garble` to the first name or (half the time, or when it is empty) the last."""
    if rng.random() < 0.5 and draft.first_name:
        draft.first_name = garble(rng, draft.first_name)
    else:
        draft.last_name = garble(rng, draft.last_name)


def _name_typo(rng: random.Random, draft: RecordDraft) -> None:
    _garble_a_name(rng, draft, typo)


def _nickname(rng: random.Random, draft: RecordDraft) -> None:
    draft.first_name = rng.choice(names.NICKNAMES[draft.first_name])


def _accent(rng: random.Random, draft: RecordDraft) -> None:
    draft.first_name = names.ACCENTED.get(draft.first_name, draft.first_name)
    draft.last_name = " ".join(names.ACCENTED.get(part, part)
                               for part in draft.last_name.split(" "))


def _moved(rng: random.Random, draft: RecordDraft) -> None:
    draft.address = draft.household.previous_address


def _case_variation(rng: random.Random, draft: RecordDraft) -> None:
    draft.name_case = rng.choice(("upper", "lower", "title"))


def _partial_ssn(rng: random.Random, draft: RecordDraft) -> None:
    # Mostly the last four are known; sometimes the first five (an old card, a form field).
    ssn = draft.ssn
    draft.ssn = "xxxxx" + ssn[5:] if rng.random() < 0.85 else ssn[:5] + "xxxx"
    draft.ssn_quality = 2


def _approximate_dob(rng: random.Random, draft: RecordDraft) -> None:
    draft.dob = date(draft.dob.year, 1, 1)  # the usual imputed date for "about N years old"
    draft.dob_quality = 2


def _maiden_name(rng: random.Random, draft: RecordDraft) -> None:
    draft.last_name = draft.person.birth_surname


def _compound_surname_variant(rng: random.Random, draft: RecordDraft) -> None:
    paternal = draft.person.last_name[:-len(draft.person.maternal_surname) - 1]
    maternal = draft.person.maternal_surname
    draw = rng.random()
    if draw < 0.60:
        draft.last_name = paternal
    elif draw < 0.85:
        draft.last_name = f"{paternal}-{maternal}"
    elif draw < 0.92:
        draft.last_name = f"{paternal}{maternal}".replace(" ", "")
    else:
        draft.last_name = maternal


# Vietnamese, Chinese and Korean names are written family name first at home; US forms
# that expect given name first get them in either order.
FAMILY_NAME_FIRST_GROUPS = ("vietnamese", "chinese", "korean")


def _swap_first_last(rng: random.Random, draft: RecordDraft) -> None:
    draft.first_name, draft.last_name = draft.last_name, draft.first_name


# What OCR reads for a glyph: pairs of (printed, read).
_OCR_CONFUSIONS = (("RN", "M"), ("M", "RN"), ("CL", "D"), ("O", "0"), ("I", "1"), ("L", "1"),
                   ("S", "5"), ("B", "8"), ("G", "6"), ("E", "F"), ("H", "N"), ("U", "V"))


def ocr_error(rng: random.Random, text: str) -> str:
    """One OCR confusion at a random place where one can happen (else the text unchanged).

    >>> ocr_error(random.Random(2), "MORNING")
    'RNORNING'
    """
    upper = text.upper()
    spots = [(i, printed, read) for printed, read in _OCR_CONFUSIONS
             for i in range(len(upper)) if upper.startswith(printed, i)]
    if not spots:
        return text
    spots.sort()
    i, printed, read = rng.choice(spots)
    return text[:i] + read + text[i + len(printed):]


def _ocr_error(rng: random.Random, draft: RecordDraft) -> None:
    _garble_a_name(rng, draft, ocr_error)


def _newborn_placeholder(rng: random.Random, draft: RecordDraft) -> None:
    draft.first_name = "BABY BOY" if draft.sex == "M" else "BABY GIRL"
    draft.middle_name = ""


_UNKNOWN_NAMES = (("UNKNOWN", "UNKNOWN"), ("JOHN", "DOE"), ("JANE", "DOE"), ("TRAUMA", "ALPHA"))


def _unknown_placeholder(rng: random.Random, draft: RecordDraft) -> None:
    first, last = rng.choice(_UNKNOWN_NAMES)
    if first == "JOHN" and draft.sex == "F":
        first = "JANE"
    draft.first_name, draft.last_name, draft.middle_name, draft.suffix = first, last, "", ""


def _ssn_typo(rng: random.Random, draft: RecordDraft) -> None:
    ssn = list(draft.ssn)
    i = rng.randrange(len(ssn) - 1)
    if rng.random() < 0.5 and ssn[i] != ssn[i + 1]:
        ssn[i], ssn[i + 1] = ssn[i + 1], ssn[i]
    else:
        ssn[i] = rng.choice([d for d in "0123456789" if d != ssn[i]])
    draft.ssn = "".join(ssn)


_PLACEHOLDER_SSNS = ("123456789", "123456789", "999999999", "000000000")


def _placeholder_ssn(rng: random.Random, draft: RecordDraft) -> None:
    draft.ssn = rng.choice(_PLACEHOLDER_SSNS)
    draft.ssn_quality = 1  # typed to get past a required field, so marked as full


def _dob_day_month_swap(rng: random.Random, draft: RecordDraft) -> None:
    draft.dob = date(draft.dob.year, draft.dob.day, draft.dob.month)


def _dob_digit_error(rng: random.Random, draft: RecordDraft) -> None:
    digits = draft.dob.strftime("%Y%m%d")
    for _ in range(20):  # most single-digit changes give a valid date; retry the rest
        i = rng.randrange(2, 8)  # the century is rarely mistyped
        candidate = digits[:i] + rng.choice("0123456789") + digits[i + 1:]
        try:
            changed = date(int(candidate[:4]), int(candidate[4:6]), int(candidate[6:]))
        except ValueError:
            continue
        if changed != draft.dob and changed <= REFERENCE_DATE:
            draft.dob = changed
            return


def _shared_cin(rng: random.Random, draft: RecordDraft) -> None:
    others = [m.cin for m in draft.household.members if m.cin and m.cin != draft.cin]
    draft.cin = rng.choice(others)


def _drop_names(rng: random.Random, draft: RecordDraft) -> None:
    draft.first_name = draft.middle_name = draft.last_name = draft.suffix = ""
    draft.name_quality = rng.choice(ABSENT_QUALITY_CODES)


def _drop_ssn(rng: random.Random, draft: RecordDraft) -> None:
    draft.ssn = ""
    draft.ssn_quality = rng.choice(ABSENT_QUALITY_CODES)


def _drop_dob(rng: random.Random, draft: RecordDraft) -> None:
    draft.dob = None
    draft.dob_quality = rng.choice(ABSENT_QUALITY_CODES)


def _clear(field_name: str) -> Callable[[random.Random, RecordDraft], None]:
    def clear(rng: random.Random, draft: RecordDraft) -> None:
        setattr(draft, field_name, "" if field_name != "address" else None)
    return clear


# -- years between records, and the error kinds of published population simulators --------

def _stale_record(rng: random.Random, draft: RecordDraft) -> None:
    # Years ago the household lived elsewhere, and phones and e-mail addresses have changed
    # since; the earlier phone is keyed by the current one, so a family shares it.
    draft.stale = True
    draft.address = draft.household.previous_address
    if draft.phone:
        past = draft.history_rng("phone", key=draft.phone)
        draft.phone = identifiers.draw_phone(past, places.AREA_CODES.draw(past))
    if draft.email:
        past, person = draft.history_rng("email"), draft.person
        for _ in range(10):  # a new style or domain almost always gives another address
            earlier = identifiers.email_address(past, person.first_name, person.birth_surname,
                                                person.dob.year)
            if earlier != person.email:
                draft.email = earlier
                return


def _can_have_former_surname(draft: RecordDraft) -> bool:
    person = draft.person
    return (draft.stale and person.sex == "F" and 18 <= age_on(person.dob, REFERENCE_DATE) < 60
            and draft.last_name == person.last_name)


def _former_surname(rng: random.Random, draft: RecordDraft) -> None:
    # A wife who took the household surname since shows her birth surname; anyone else, a
    # surname she has since dropped (married, or divorced and back to her own). One per
    # person, so all her old records agree.
    person = draft.person
    if person.birth_surname != person.last_name:
        draft.last_name = person.birth_surname
        return
    past = draft.history_rng("surname")
    for _ in range(20):
        former = names.SURNAMES[person.name_group or "english"].draw(past)
        if former != person.last_name:
            draft.last_name = former
            return


def _middle_initial(rng: random.Random, draft: RecordDraft) -> None:
    draft.middle_name = draft.middle_name[0]


# Sound-alike spellings (printed, written) of English and Spanish names: what a clerk
# writes from a name heard at the counter or over the phone.
_PHONETIC_SPELLINGS = (("PH", "F"), ("F", "PH"), ("CK", "K"), ("C", "K"), ("K", "C"),
                       ("Z", "S"), ("S", "Z"), ("V", "B"), ("B", "V"), ("LL", "Y"), ("Y", "LL"),
                       ("Y", "I"), ("I", "Y"), ("EE", "I"), ("QU", "K"), ("GH", "G"), ("TH", "T"),
                       ("H", ""), ("J", "H"), ("OU", "U"), ("EI", "AY"), ("X", "KS"))


def phonetic_error(rng: random.Random, text: str) -> str:
    """One sound-alike respelling at a random place where one fits (else the text unchanged).

    >>> phonetic_error(random.Random(1), "STEPHANIE")
    'STEFANIE'
    """
    upper = text.upper()
    spots = sorted((i, written, heard) for written, heard in _PHONETIC_SPELLINGS
                   for i in range(len(upper)) if upper.startswith(written, i))
    if not spots:
        return text
    i, written, heard = rng.choice(spots)
    changed = text[:i] + heard + text[i + len(written):]
    return changed if changed.strip() else text


def _phonetic_error(rng: random.Random, draft: RecordDraft) -> None:
    _garble_a_name(rng, draft, phonetic_error)


# Filler typed where a name was not known or not given (as in pseudopeople's fake names,
# which come from Census response reviews); intake forms add their own.
_FAKE_FIRST_NAMES = ("UNKNOWN", "NONE", "CLIENT", "PATIENT", "ADULT", "MALE", "FEMALE", "CHILD",
                     "BABY", "MR", "MRS", "MS", "SENORA", "X", "NA", "TEST")
_FAKE_LAST_NAMES = ("UNKNOWN", "NONE", "NA", "ANONYMOUS", "ANON", "DECLINED", "REFUSED", "CLIENT",
                    "NO LAST NAME", "DOE", "X", "XXX", "APELLIDO", "TEST")


def _fake_name(rng: random.Random, draft: RecordDraft) -> None:
    if rng.random() < 0.5 and draft.first_name:
        draft.first_name = rng.choice(_FAKE_FIRST_NAMES)
    else:
        draft.last_name = rng.choice(_FAKE_LAST_NAMES)


def _relative_with_other(field_name: str) -> Callable[[RecordDraft], bool]:
    def applies(draft: RecordDraft) -> bool:
        own = getattr(draft, field_name)
        return bool(own) and any(getattr(m, field_name) and getattr(m, field_name) != own
                                 for m in draft.household.members)
    return applies


def _household_member_value(field_name: str) -> Callable[[random.Random, RecordDraft], None]:
    """Copy another household member's value: the parent's SSN on the child's form."""
    def copy(rng: random.Random, draft: RecordDraft) -> None:
        own = getattr(draft, field_name)
        others = [getattr(m, field_name) for m in draft.household.members
                  if getattr(m, field_name) and getattr(m, field_name) != own]
        setattr(draft, field_name, rng.choice(others))
    return copy


def wrong_digits(rng: random.Random, digits: str, chances: tuple[float, ...]) -> str:
    """Each digit replaced by another with its chance (the last chance for the rest); at
    least one digit changes.

    >>> wrong_digits(random.Random(4), "90012", (0.04, 0.04, 0.2, 0.36, 0.36))
    '90029'
    """
    while True:
        out = [rng.choice([d for d in "0123456789" if d != ch])
               if ch.isdigit() and rng.random() < chances[min(i, len(chances) - 1)] else ch
               for i, ch in enumerate(digits)]
        if out != list(digits):
            return "".join(out)


# pseudopeople's `write_wrong_zipcode_digits`: the last digits are mistyped most.
_ZIP_DIGIT_CHANCES = (0.04, 0.04, 0.20, 0.36, 0.36)
# pseudopeople's `write_wrong_digits`: each digit of a selected value at 0.1.
_DIGIT_CHANCE = (0.1,)


def _zip_digit_error(rng: random.Random, draft: RecordDraft) -> None:
    draft.address = dataclasses.replace(
        draft.address, zip5=wrong_digits(rng, draft.address.zip5, _ZIP_DIGIT_CHANCES))


def _phone_digit_error(rng: random.Random, draft: RecordDraft) -> None:
    draft.phone = wrong_digits(rng, draft.phone, _DIGIT_CHANCE)


def _address_typo(rng: random.Random, draft: RecordDraft) -> None:
    # The street name three times in four, else the city.
    address = draft.address
    if rng.random() < 0.75 or not address.city:
        draft.address = dataclasses.replace(address, street_name=typo(rng, address.street_name))
    else:
        draft.address = dataclasses.replace(address, city=typo(rng, address.city))


def _dob_other_format(rng: random.Random, draft: RecordDraft) -> None:
    draft.dob_style = formats.OTHER_DATE_STYLES[draft.source_system].draw(rng)


def _impossible_dob(rng: random.Random, draft: RecordDraft) -> None:
    # February 30, April 31, month 13 or day 32: what a free-text date box accepts. A
    # year-month date can only show an impossible month.
    year, month, day = draft.dob.year, draft.dob.month, draft.dob.day
    draw = 0.5 if draft.dob_style == "year_month" else rng.random()
    if draw < 0.45:  # past the end of a short month
        if month not in (2, 4, 6, 9, 11):
            month = rng.choice((2, 2, 4, 6, 9, 11))
        day = rng.randint(calendar.monthrange(year, month)[1] + 1, 30 if month == 2 else 31)
    elif draw < 0.75:
        month = rng.choice((13, 13, 13, 14, 15, 16, 17, 18, 19, 0))
    elif draw < 0.9:
        day = rng.randint(32, 39)
    else:
        day = 0
    draft.dob_written = (year, month, day)


def _has(field_name: str) -> Callable[[RecordDraft], bool]:
    return lambda draft: bool(getattr(draft, field_name))


def _rates(name: str) -> dict[str, float]:
    """Default rates of `name` per source system, from noise_defaults.yaml."""
    try:
        rates = settings.DEFAULTS["noise"][name]
    except KeyError:
        raise ValueError(f"{settings.DEFAULTS_PATH.name} has no rates for noise type {name!r}") \
            from None
    missing = [source for source in SOURCE_SYSTEMS if source not in rates]
    if missing:
        raise ValueError(f"{settings.DEFAULTS_PATH.name}: noise.{name} lacks {missing}")
    return {source: float(rates[source]) for source in SOURCE_SYSTEMS}


# -- the registry ----------------------------------------------------------------------
# Order matters: surnames change before typos touch them, value changes come before values
# are dropped, partial SSNs are drawn from SSNs that survived `missing_ssn`, and placeholder
# SSNs fill only records left without one. HMIS FY2024 Client.csv has no address, phone or
# e-mail, so those rates are 0 there. Rates live in noise_defaults.yaml, with reasons.

NOISE_TYPES: tuple[NoiseType, ...] = (
    NoiseType("maiden_name", "the birth surname of someone who took a spouse's surname",
              _rates("maiden_name"),
              lambda d: d.person.birth_surname != d.person.last_name
              and d.last_name == d.person.last_name, _maiden_name),
    NoiseType("compound_surname_variant",
              "a compound Hispanic surname cut to one part, hyphenated or run together",
              _rates("compound_surname_variant"),
              lambda d: bool(d.person.maternal_surname) and d.last_name == d.person.last_name,
              _compound_surname_variant),
    NoiseType("stale_record", "a record years old: the previous address, an earlier phone "
              "and e-mail", _rates("stale_record"), lambda d: True, _stale_record),
    NoiseType("former_surname", "on a years-old record of a woman 18-59: the surname she had "
              "then (married or divorced since)", _rates("former_surname"),
              _can_have_former_surname, _former_surname),
    NoiseType("moved_address", "the record shows the household's previous address",
              _rates("moved_address"), _has("address"), _moved),
    NoiseType("nickname", "a common English or Spanish nickname replaces the first name",
              _rates("nickname"), lambda d: d.first_name in names.NICKNAMES, _nickname),
    NoiseType("name_typo", "one keyboard error in the first or last name",
              _rates("name_typo"), _has("last_name"), _name_typo),
    NoiseType("ocr_error", "an OCR confusion (RN/M, CL/D, O/0, I/1, S/5) in a name",
              _rates("ocr_error"), _has("last_name"), _ocr_error),
    NoiseType("phonetic_error", "a sound-alike spelling (PH/F, V/B, LL/Y, silent H) in a name",
              _rates("phonetic_error"), _has("last_name"), _phonetic_error),
    NoiseType("family_name_first", "an East Asian name recorded family name first",
              _rates("family_name_first"),
              lambda d: d.person.name_group in FAMILY_NAME_FIRST_GROUPS and bool(d.first_name),
              _swap_first_last),
    NoiseType("name_order_swap", "first and last name swapped",
              _rates("name_order_swap"), lambda d: bool(d.first_name and d.last_name),
              _swap_first_last),
    NoiseType("accent", "Spanish diacritics kept (JOSÉ, MARTÍNEZ)", _rates("accent"),
              lambda d: d.first_name in names.ACCENTED or d.last_name in names.ACCENTED
              or any(part in names.ACCENTED for part in d.last_name.split(" ")),
              _accent),
    NoiseType("case_variation", "names typed in another case than the source usually uses",
              _rates("case_variation"), _has("last_name"), _case_variation),
    NoiseType("newborn_placeholder_name", "an infant registered as BABY BOY / BABY GIRL",
              _rates("newborn_placeholder_name"),
              lambda d: age_on(d.person.dob, REFERENCE_DATE) < 1 and bool(d.first_name),
              _newborn_placeholder),
    NoiseType("unknown_name_placeholder", "an unidentified patient: UNKNOWN, JOHN/JANE DOE",
              _rates("unknown_name_placeholder"), _has("last_name"), _unknown_placeholder),
    NoiseType("fake_name", "filler for the first or last name (UNKNOWN, NONE, CLIENT, X)",
              _rates("fake_name"), _has("last_name"), _fake_name),
    NoiseType("middle_initial", "middle name cut to its initial",
              _rates("middle_initial"), lambda d: len(d.middle_name) > 1, _middle_initial),
    NoiseType("missing_middle_name", "middle name not recorded",
              _rates("missing_middle_name"), _has("middle_name"), _clear("middle_name")),
    NoiseType("missing_suffix", "JR/SR suffix not recorded",
              _rates("missing_suffix"), _has("suffix"), _clear("suffix")),
    NoiseType("missing_name", "anonymous client: no name given (HMIS DQ 8/9/99)",
              _rates("missing_name"), _has("last_name"), _drop_names),
    NoiseType("ssn_typo", "one SSN digit wrong or two adjacent digits swapped",
              _rates("ssn_typo"), _has("ssn"), _ssn_typo),
    NoiseType("household_member_ssn", "another household member's SSN (a parent's on a child)",
              _rates("household_member_ssn"), _relative_with_other("ssn"),
              _household_member_value("ssn")),
    NoiseType("missing_ssn", "SSN not recorded", _rates("missing_ssn"), _has("ssn"), _drop_ssn),
    NoiseType("partial_ssn", "only some SSN digits known (HMIS DQ 2, x for unknown digits)",
              _rates("partial_ssn"), _has("ssn"), _partial_ssn),
    NoiseType("placeholder_ssn", "123456789, 999999999 or 000000000 where no SSN is known",
              _rates("placeholder_ssn"), lambda d: not d.ssn, _placeholder_ssn),
    NoiseType("household_member_dob", "another household member's birth date",
              _rates("household_member_dob"), _relative_with_other("dob"),
              _household_member_value("dob")),
    NoiseType("dob_day_month_swap", "day and month of the birth date swapped",
              _rates("dob_day_month_swap"),
              lambda d: d.dob is not None and d.dob.day <= 12 and d.dob.day != d.dob.month,
              _dob_day_month_swap),
    NoiseType("dob_digit_error", "one digit of the birth date mistyped",
              _rates("dob_digit_error"), _has("dob"), _dob_digit_error),
    NoiseType("approximate_dob", "DOB imputed as January 1 of the birth year (HMIS DQ 2)",
              _rates("approximate_dob"), _has("dob"), _approximate_dob),
    NoiseType("missing_dob", "DOB not recorded", _rates("missing_dob"), _has("dob"), _drop_dob),
    NoiseType("dob_other_format", "the birth date written in another format than the "
              "source's usual (MMDDYYYY, two-digit year, year and month only)",
              _rates("dob_other_format"), _has("dob"), _dob_other_format),
    NoiseType("impossible_dob", "a birth date that cannot exist (February 30, month 13)",
              _rates("impossible_dob"), lambda d: d.dob is not None and d.dob_style != "year",
              _impossible_dob),
    NoiseType("address_typo", "one keyboard error in the street name or city",
              _rates("address_typo"),
              lambda d: d.address is not None and d.address.kind == "residential",
              _address_typo),
    NoiseType("zip_digit_error", "wrong ZIP digits, mostly the last ones",
              _rates("zip_digit_error"), lambda d: d.address is not None and bool(d.address.zip5),
              _zip_digit_error),
    NoiseType("phone_digit_error", "wrong phone digits",
              _rates("phone_digit_error"), _has("phone"), _phone_digit_error),
    NoiseType("missing_phone", "phone not recorded",
              _rates("missing_phone"), _has("phone"), _clear("phone")),
    NoiseType("missing_email", "e-mail not recorded",
              _rates("missing_email"), _has("email"), _clear("email")),
    NoiseType("unknown_sex", "sex recorded as unknown",
              _rates("unknown_sex"), _has("sex"), _clear("sex")),
    NoiseType("missing_address", "no address on the record",
              _rates("missing_address"), _has("address"), _clear("address")),
    NoiseType("shared_cin", "another household member's CIN on the record",
              _rates("shared_cin"),
              lambda d: bool(d.cin) and any(m.cin and m.cin != d.cin
                                            for m in d.household.members),
              _shared_cin),
)
NOISE_TYPE_NAMES = tuple(noise.name for noise in NOISE_TYPES)

NoiseRates = dict[str, dict[str, float]]


def default_noise_rates() -> NoiseRates:
    """A fresh copy of the default rates, source system -> noise type -> probability."""
    return {source: {noise.name: noise.rates[source] for noise in NOISE_TYPES}
            for source in SOURCE_SYSTEMS}


def resolve_noise_rates(overrides: Mapping[str, Mapping[str, float]] | None = None) -> NoiseRates:
    """Defaults with `overrides` laid over them; unknown names and bad rates raise ValueError."""
    rates = default_noise_rates()
    for source, by_noise in (overrides or {}).items():
        if source not in rates:
            raise ValueError(f"unknown source system {source!r}; expected one of "
                             f"{', '.join(SOURCE_SYSTEMS)}")
        for noise_name, rate in by_noise.items():
            if noise_name not in rates[source]:
                raise ValueError(f"unknown noise type {noise_name!r} for {source}; expected "
                                 f"one of {', '.join(NOISE_TYPE_NAMES)}")
            if not 0.0 <= rate <= 1.0:
                raise ValueError(f"noise rate {source}.{noise_name} must be between 0 and 1, "
                                 f"got {rate!r}")
            rates[source][noise_name] = float(rate)
    return rates


class NoiseEngine:
    """Applies the registry to drafts for one source system with that source's own RNG."""

    def __init__(self, source_system: str, rates: NoiseRates, rng: random.Random,
                 seed: int | str = "") -> None:
        self.rng = rng
        self.source_system = source_system
        self.seed = str(seed)
        self._active = tuple((noise, rates[source_system][noise.name])
                             for noise in NOISE_TYPES if rates[source_system][noise.name] > 0)

    def draft(self, person: Person, household: Household) -> RecordDraft:
        """A noisy copy of `person` as this source would record it."""
        draft = RecordDraft.from_truth(person, household)
        draft.source_system, draft.seed = self.source_system, self.seed
        # Absent truth values still carry an HMIS quality code saying why they are absent.
        if not draft.ssn:
            draft.ssn_quality = self.rng.choice((8, 99))
        for noise, rate in self._active:
            if noise.applies(draft) and self.rng.random() < rate:
                noise.apply(self.rng, draft)
        return draft


def only_noise(noise_name: str, source_system: str, rate: float) -> NoiseRates:
    """Rates where only `noise_name` fires, at `rate`, in `source_system`; the rest are 0."""
    rates = {source: dict.fromkeys(NOISE_TYPE_NAMES, 0.0) for source in SOURCE_SYSTEMS}
    rates[source_system][noise_name] = rate
    return resolve_noise_rates(rates)

