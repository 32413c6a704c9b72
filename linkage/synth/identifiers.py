"""Person- and record-level identifiers: valid SSNs, CINs, phones, e-mails, source keys."""

from __future__ import annotations

import random
import string
import unicodedata
from collections.abc import Callable

# SSNs that pass the area/group/serial rules but are famous placeholders or misuse
# (DESIGN.md section 5); the standardizer nulls them, so truth must never use them.
_BLOCKED_SSNS = frozenset({"123456789", "078051120", "219099999"})


class UniqueDraws:
    """Redraw until a value not seen before comes up.

    Membership checks on a set are order-free, so this stays deterministic; the value space
    of every caller is far larger than the number of draws, so redraws are rare.
    """

    def __init__(self, draw: Callable[[random.Random], str]) -> None:
        self._draw = draw
        self._seen: set[str] = set()

    def __call__(self, rng: random.Random) -> str:
        while True:
            value = self._draw(rng)
            if value not in self._seen:
                self._seen.add(value)
                return value


def draw_ssn(rng: random.Random) -> str:
    """A 9-digit SSN valid under SSA rules: area not 000/666/9xx, group not 00, serial not 0000.

    >>> ssn = draw_ssn(random.Random(7))
    >>> len(ssn), ssn[:3] not in ("000", "666"), ssn[3:5] != "00", ssn[5:] != "0000"
    (9, True, True, True)
    """
    while True:
        area = rng.randrange(1, 900)
        if area == 666:
            continue
        ssn = f"{area:03d}{rng.randrange(1, 100):02d}{rng.randrange(1, 10000):04d}"
        if len(set(ssn)) > 1 and ssn not in _BLOCKED_SSNS:
            return ssn


def draw_cin(rng: random.Random) -> str:
    """A Medi-Cal CIN shape: 8 digits (leading 9, as issued) and a check letter."""
    return f"9{rng.randrange(10**7):07d}{rng.choice(string.ascii_uppercase)}"


def draw_phone(rng: random.Random, area_code: str) -> str:
    """Ten digits; exchange and line never start with 0 or 1 (NANP rules), avoid 555."""
    while True:
        exchange = rng.randrange(200, 1000)
        if exchange != 555:
            return f"{area_code}{exchange}{rng.randrange(10000):04d}"


def draw_hex_id(rng: random.Random) -> str:
    """32 upper-case hex characters, the shape of an HMIS PersonalID."""
    return f"{rng.getrandbits(128):032X}"


def draw_digits(rng: random.Random, width: int, *, leading_zero: bool = True) -> str:
    """A `width`-digit numeric key, e.g. an MRN or case number."""
    low = 0 if leading_zero else 10 ** (width - 1)
    return f"{rng.randrange(low, 10**width):0{width}d}"


def email_address(rng: random.Random, first_name: str, last_name: str, birth_year: int) -> str:
    """A plausible address on the reserved example.* domains, so it can never reach anyone."""
    first = _mailbox_part(first_name)
    last = _mailbox_part(last_name)
    style = rng.randrange(4)
    if style == 0:
        local = f"{first}.{last}"
    elif style == 1:
        local = f"{first}{last}{birth_year % 100:02d}"
    elif style == 2:
        local = f"{first[:1]}{last}{rng.randrange(1, 100)}"
    else:
        local = f"{first}_{last}{rng.randrange(1, 1000)}"
    domain = rng.choice(("example.com", "example.org", "example.net"))
    return f"{local}@{domain}"


def _mailbox_part(name: str) -> str:
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    return "".join(ch for ch in ascii_name.lower() if ch.isalnum())
