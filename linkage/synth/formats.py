"""How each source system writes values: case, phone and SSN styles, dates, ZIP+4.

These are a source's habits, not errors, so they live here and not in the noise registry.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from linkage.synth.weighted import Weighted

EXTRACT_DATE = date(2025, 7, 1)
# Record timestamps (created/updated) fall in this window.
_HISTORY_START = datetime(2016, 1, 1)
_HISTORY_SECONDS = int((datetime(2025, 6, 30, 23, 59, 59) - _HISTORY_START).total_seconds())


@dataclass(frozen=True)
class SourceFormat:
    name_case: str  # upper / title: how this source usually stores names
    phone_styles: Weighted[str]  # digits 2135550134, dashes 213-555-0134, parens (213) 555-0134
    ssn_dashed: float  # share of SSNs written 123-45-6789 rather than 9 digits
    street_type_spelled_out: float  # share of addresses with STREET rather than ST
    zip_plus4: float  # share of ZIPs written as ZIP+4
    date_style: str = "iso"  # how dates are written: a key of DATE_STYLES


SOURCE_FORMATS: dict[str, SourceFormat] = {
    "calsaws": SourceFormat("upper", Weighted([("digits", 6), ("parens", 2), ("dashes", 2)]),
                            ssn_dashed=0.5, street_type_spelled_out=0.0, zip_plus4=0.0),
    # HMIS CSV SSNs are 9 characters by specification.
    "hmis": SourceFormat("title", Weighted([("digits", 1)]), ssn_dashed=0.0,
                         street_type_spelled_out=0.0, zip_plus4=0.0),
    "ehr_csv": SourceFormat("title", Weighted([("parens", 6), ("dashes", 4)]), ssn_dashed=0.8,
                            street_type_spelled_out=0.35, zip_plus4=0.3, date_style="us"),
    "ehr_fhir": SourceFormat("title", Weighted([("dashes", 5), ("parens", 3), ("digits", 2)]),
                             ssn_dashed=0.0, street_type_spelled_out=0.2, zip_plus4=0.15),
}


def name_case(text: str, case: str) -> str:
    """Render a name in `case`; title case keeps hyphen and apostrophe boundaries.

    >>> name_case("O'BRIEN", "title"), name_case("SMITH-JONES", "lower")
    ("O'Brien", 'smith-jones')
    """
    if case == "upper":
        return text.upper()
    if case == "lower":
        return text.lower()
    return text.title()


def phone(digits: str, style: str) -> str:
    """Write 10 phone digits in one of the styles people and systems use.

    >>> phone("2135550134", "parens")
    '(213) 555-0134'
    """
    if not digits:
        return ""
    if style == "parens":
        return f"({digits[:3]}) {digits[3:6]}-{digits[6:]}"
    if style == "dashes":
        return f"{digits[:3]}-{digits[3:6]}-{digits[6:]}"
    return digits


def ssn(value: str, dashed: bool) -> str:
    """Dash a full SSN if asked; partial SSNs (with x) and empty values pass through."""
    if dashed and len(value) == 9 and value.isdigit():
        return f"{value[:3]}-{value[3:5]}-{value[5:]}"
    return value


# Ways a birth date is written, from its parts, so that a date that cannot exist (February
# 30, month 13) is written like any other. `year_month` and `year` are partial dates (FHIR
# allows them; elsewhere a clerk typed what the client knew).
DATE_STYLES: dict[str, Callable[[int, int, int], str]] = {
    "iso": lambda y, m, d: f"{y:04d}-{m:02d}-{d:02d}",
    "us": lambda y, m, d: f"{m:02d}/{d:02d}/{y:04d}",
    "us_digits": lambda y, m, d: f"{m:02d}{d:02d}{y:04d}",  # MMDDYYYY, a masked entry field
    "iso_digits": lambda y, m, d: f"{y:04d}{m:02d}{d:02d}",  # YYYYMMDD, HL7 v2 and exports
    "us_short": lambda y, m, d: f"{m:02d}/{d:02d}/{y % 100:02d}",  # two-digit year
    "year_month": lambda y, m, d: f"{y:04d}-{m:02d}",
    "year": lambda y, m, d: f"{y:04d}",
}
PARTIAL_DATE_STYLES = ("year_month", "year")

# Other styles a source's dates arrive in (noise type `dob_other_format`): a second intake
# screen, a conversion from a legacy system, free text. FHIR facades emit partial dates
# (valid FHIR) and sometimes pass a US date through.
OTHER_DATE_STYLES: dict[str, Weighted[str]] = {
    "calsaws": Weighted([("us", 4), ("iso_digits", 2), ("us_digits", 2), ("us_short", 1),
                         ("year_month", 1)]),
    "hmis": Weighted([("us", 4), ("us_short", 3), ("us_digits", 2), ("year_month", 1)]),
    "ehr_csv": Weighted([("iso", 3), ("us_digits", 3), ("us_short", 3), ("year_month", 1)]),
    "ehr_fhir": Weighted([("year_month", 6), ("year", 2), ("us", 2)]),
}


def date_text(value: date | None, style: str, written: tuple[int, int, int] | None = None) -> str:
    """`value` in `style`; `written` (year, month, day) instead when the date as typed is no
    valid date. Empty for no date.

    >>> date_text(date(1984, 3, 7), "us_digits"), date_text(None, "iso", (1985, 2, 30))
    ('03071984', '1985-02-30')
    """
    if written is not None:
        return DATE_STYLES[style](*written)
    return DATE_STYLES[style](value.year, value.month, value.day) if value else ""


def iso_date(value: date | None) -> str:
    return value.isoformat() if value else ""


def us_date(value: date | None) -> str:
    """MM/DD/YYYY, as US clinical systems show dates.

    >>> us_date(date(1984, 3, 7))
    '03/07/1984'
    """
    return value.strftime("%m/%d/%Y") if value else ""


def draw_timestamp(rng: random.Random, not_before: date | datetime | None = None) -> datetime:
    """A record timestamp within the history window, after `not_before` (e.g. the birth)."""
    if not_before is not None and not isinstance(not_before, datetime):
        not_before = datetime(not_before.year, not_before.month, not_before.day)
    start = max(not_before, _HISTORY_START) if not_before else _HISTORY_START
    span = _HISTORY_SECONDS - int((start - _HISTORY_START).total_seconds())
    return start + timedelta(seconds=rng.randrange(max(span, 1)))


def timestamp(value: datetime) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S")


def address_title(text: str) -> str:
    """Title-case an address word by word, keeping ordinals right.

    >>> address_title("103RD ST APT B")
    '103rd St Apt B'
    """
    return " ".join(word.capitalize() for word in text.split(" "))
