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

import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date

from linkage.synth import names
from linkage.synth.population import SOURCE_SYSTEMS, Address, Household, Person

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
    name_case: str | None = None  # None = the source's usual case; else upper/lower/title
    name_quality: int = 1
    ssn_quality: int = 1
    dob_quality: int = 1

    @classmethod
    def from_truth(cls, person: Person, household: Household) -> RecordDraft:
        return cls(person, household, person.first_name, person.middle_name, person.last_name,
                   person.suffix, person.dob, person.sex, person.ssn, person.phone,
                   person.email, household.address)


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


def _name_typo(rng: random.Random, draft: RecordDraft) -> None:
    if rng.random() < 0.5 and draft.first_name:
        draft.first_name = typo(rng, draft.first_name)
    else:
        draft.last_name = typo(rng, draft.last_name)


def _nickname(rng: random.Random, draft: RecordDraft) -> None:
    draft.first_name = rng.choice(names.NICKNAMES[draft.first_name])


def _accent(rng: random.Random, draft: RecordDraft) -> None:
    draft.first_name = names.ACCENTED.get(draft.first_name, draft.first_name)
    draft.last_name = names.ACCENTED.get(draft.last_name, draft.last_name)


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


def _has(field_name: str) -> Callable[[RecordDraft], bool]:
    return lambda draft: bool(getattr(draft, field_name))


def _rates(calsaws: float, hmis: float, ehr_csv: float, ehr_fhir: float) -> dict[str, float]:
    return dict(zip(SOURCE_SYSTEMS, (calsaws, hmis, ehr_csv, ehr_fhir)))


# -- the registry ----------------------------------------------------------------------
# Order matters: value changes come before values are dropped, and partial SSNs are drawn
# from SSNs that survived `missing_ssn`. HMIS FY2024 Client.csv has no address, phone or
# e-mail, so those rates are 0 there.

NOISE_TYPES: tuple[NoiseType, ...] = (
    NoiseType("moved_address", "the record shows the household's previous address",
              _rates(0.08, 0.0, 0.12, 0.12),
              _has("address"), _moved),
    NoiseType("nickname", "a common English or Spanish nickname replaces the first name",
              _rates(0.02, 0.08, 0.06, 0.05),
              lambda d: d.first_name in names.NICKNAMES, _nickname),
    NoiseType("name_typo", "one keyboard error in the first or last name",
              _rates(0.03, 0.04, 0.03, 0.03), _has("last_name"), _name_typo),
    NoiseType("accent", "Spanish diacritics kept (JOSÉ, MARTÍNEZ)",
              _rates(0.0, 0.10, 0.25, 0.35),
              lambda d: d.first_name in names.ACCENTED or d.last_name in names.ACCENTED,
              _accent),
    NoiseType("case_variation", "names typed in another case than the source usually uses",
              _rates(0.02, 0.30, 0.05, 0.03), _has("last_name"), _case_variation),
    NoiseType("missing_middle_name", "middle name not recorded",
              _rates(0.15, 0.40, 0.30, 0.30), _has("middle_name"), _clear("middle_name")),
    NoiseType("missing_suffix", "JR/SR suffix not recorded",
              _rates(0.25, 0.40, 0.30, 0.30), _has("suffix"), _clear("suffix")),
    NoiseType("missing_name", "anonymous client: no name given (HMIS DQ 8/9/99)",
              _rates(0.0, 0.01, 0.0, 0.0), _has("last_name"), _drop_names),
    NoiseType("missing_ssn", "SSN not recorded",
              _rates(0.08, 0.25, 0.60, 0.70), _has("ssn"), _drop_ssn),
    NoiseType("partial_ssn", "only some SSN digits known (HMIS DQ 2, x for unknown digits)",
              _rates(0.0, 0.12, 0.0, 0.0), _has("ssn"), _partial_ssn),
    NoiseType("approximate_dob", "DOB imputed as January 1 of the birth year (HMIS DQ 2)",
              _rates(0.0, 0.03, 0.005, 0.005), _has("dob"), _approximate_dob),
    NoiseType("missing_dob", "DOB not recorded",
              _rates(0.002, 0.02, 0.005, 0.005), _has("dob"), _drop_dob),
    NoiseType("missing_phone", "phone not recorded",
              _rates(0.20, 0.0, 0.15, 0.20), _has("phone"), _clear("phone")),
    NoiseType("missing_email", "e-mail not recorded",
              _rates(0.0, 0.0, 0.30, 0.25), _has("email"), _clear("email")),
    NoiseType("unknown_sex", "sex recorded as unknown",
              _rates(0.0, 0.0, 0.0, 0.01), _has("sex"), _clear("sex")),
    NoiseType("missing_address", "no address on the record",
              _rates(0.0, 0.0, 0.05, 0.05), _has("address"), _clear("address")),
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

    def __init__(self, source_system: str, rates: NoiseRates, rng: random.Random) -> None:
        self.rng = rng
        self._active = tuple((noise, rates[source_system][noise.name])
                             for noise in NOISE_TYPES if rates[source_system][noise.name] > 0)

    def draft(self, person: Person, household: Household) -> RecordDraft:
        """A noisy copy of `person` as this source would record it."""
        draft = RecordDraft.from_truth(person, household)
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

