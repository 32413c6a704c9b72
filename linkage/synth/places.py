"""Places: LA-area cities with their ZIP codes and county, streets, phones, shelters.

Cities and ZIPs are real so that ZIP/city agreement and USPS normalisation behave as on
county data; street addresses are random combinations and do not point at anyone's home.
Shelter and office addresses are illustrative downtown addresses, shared by many clients.
"""

from __future__ import annotations

from dataclasses import dataclass

from linkage.synth.weighted import Weighted, parse_weighted


@dataclass(frozen=True)
class City:
    name: str
    county_code: str  # California county code 01-58 (19 = Los Angeles)
    zips: tuple[str, ...]


def _city(name: str, county_code: str, zips: str) -> tuple[City, float]:
    codes = tuple(zips.split())
    return City(name, county_code, codes), float(len(codes))


# Weighted by the number of ZIPs listed, a crude stand-in for population.
CITIES: Weighted[City] = Weighted([
    _city("LOS ANGELES", "19", "90001 90002 90003 90004 90005 90006 90007 90008 90011 90012 "
          "90013 90015 90016 90017 90018 90019 90020 90022 90023 90026 90027 90029 90031 "
          "90032 90033 90037 90042 90043 90044 90047 90057 90059 90061 90063 90065"),
    _city("LONG BEACH", "19", "90802 90804 90805 90806 90810 90813"),
    _city("PASADENA", "19", "91101 91103 91104 91106"),
    _city("GLENDALE", "19", "91201 91202 91203 91204 91205 91206"),
    _city("SANTA MONICA", "19", "90401 90404 90405"),
    _city("INGLEWOOD", "19", "90301 90302 90303 90304 90305"),
    _city("COMPTON", "19", "90220 90221 90222"),
    _city("POMONA", "19", "91766 91767 91768"),
    _city("EL MONTE", "19", "91731 91732"),
    _city("DOWNEY", "19", "90240 90241 90242"),
    _city("NORWALK", "19", "90650"),
    _city("WEST COVINA", "19", "91790 91791"),
    _city("BURBANK", "19", "91501 91502 91505 91506"),
    _city("LANCASTER", "19", "93534 93535 93536"),
    _city("PALMDALE", "19", "93550 93551 93552"),
    _city("TORRANCE", "19", "90501 90502 90503 90504"),
    _city("VAN NUYS", "19", "91401 91405 91406 91411"),
    _city("NORTH HOLLYWOOD", "19", "91601 91605 91606"),
    _city("WHITTIER", "19", "90601 90602 90603 90604 90605"),
    _city("CARSON", "19", "90745 90746"),
    _city("HAWTHORNE", "19", "90250"),
    _city("SOUTH GATE", "19", "90280"),
    _city("LYNWOOD", "19", "90262"),
    _city("BELLFLOWER", "19", "90706"),
    _city("BALDWIN PARK", "19", "91706"),
    _city("ALHAMBRA", "19", "91801 91803"),
    _city("HUNTINGTON PARK", "19", "90255"),
    # Neighbouring counties: some clients live or have cases just across the line.
    _city("ANAHEIM", "30", "92801 92804 92805"),
    _city("SANTA ANA", "30", "92701 92703 92704"),
    _city("RIVERSIDE", "33", "92501 92503 92504"),
    _city("SAN BERNARDINO", "36", "92401 92404 92405"),
    _city("OXNARD", "56", "93030 93033 93036"),
])

STREET_NAMES: Weighted[str] = parse_weighted("""
    MAIN:6, BROADWAY:5, FIGUEROA:5, VERMONT:5, WESTERN:5, WILSHIRE:4, SUNSET:4,
    CENTRAL:4, ALVARADO:3, HOOVER:3, NORMANDIE:3, CRENSHAW:3, FLORENCE:3, MANCHESTER:3,
    SLAUSON:3, PICO:3, OLYMPIC:3, WASHINGTON:3, JEFFERSON:3, ADAMS:3, CESAR E CHAVEZ:3,
    WHITTIER:3, ATLANTIC:3, GARFIELD:2, LONG BEACH:2, VAN NUYS:2, SHERMAN:2,
    VICTORY:2, ROSCOE:2, COLORADO:2, LAKE:2, OAK:2, ELM:2, MAPLE:2, PINE:2, CEDAR:2,
    WALNUT:2, 1ST:2, 2ND:2, 3RD:2, 4TH:2, 5TH:2, 7TH:2, 8TH:2, 54TH:1, 103RD:1,
    CALLE MAYOR:1, CAMINO REAL:1, EL SEGUNDO:1, LA BREA:2, SAN PEDRO:2, SOTO:2
""")

# Pairs of (USPS abbreviation, spelled-out form); EHR sources sometimes spell the suffix out.
STREET_TYPES: Weighted[tuple[str, str]] = Weighted([
    (("ST", "STREET"), 10), (("AVE", "AVENUE"), 8), (("BLVD", "BOULEVARD"), 5),
    (("DR", "DRIVE"), 2), (("PL", "PLACE"), 1), (("WAY", "WAY"), 1), (("CT", "COURT"), 1),
])

DIRECTIONALS: Weighted[str] = parse_weighted("N:1, S:1, E:1, W:1")
UNIT_DESIGNATORS: Weighted[str] = parse_weighted("APT:6, #:3, UNIT:2, SPC:1")

AREA_CODES: Weighted[str] = parse_weighted("""
    213:4, 323:6, 310:4, 424:1, 562:4, 626:4, 747:1, 818:5, 661:2, 909:2, 714:1
""")


@dataclass(frozen=True)
class FixedAddress:
    """An address shared by many clients (shelter, county office, general delivery)."""

    street: str
    city: str
    zip5: str
    kind: str  # "shelter", "general_delivery", "agency_office"


SHELTER_ADDRESSES: Weighted[FixedAddress] = Weighted([
    (FixedAddress("545 S SAN PEDRO ST", "LOS ANGELES", "90013", "shelter"), 4),
    (FixedAddress("601 S SAN PEDRO ST", "LOS ANGELES", "90014", "shelter"), 3),
    (FixedAddress("1300 S FIGUEROA ST", "LOS ANGELES", "90015", "shelter"), 2),
    (FixedAddress("7315 S BROADWAY", "LOS ANGELES", "90003", "shelter"), 1),
    (FixedAddress("1460 N LONG BEACH BLVD", "LONG BEACH", "90813", "shelter"), 1),
    (FixedAddress("GENERAL DELIVERY", "LOS ANGELES", "90086", "general_delivery"), 3),
])

# County social-services offices used as a mailing address by clients without one.
AGENCY_OFFICES: Weighted[FixedAddress] = Weighted([
    (FixedAddress("2707 S GRAND AVE", "LOS ANGELES", "90007", "agency_office"), 3),
    (FixedAddress("2855 E OLYMPIC BLVD", "LOS ANGELES", "90023", "agency_office"), 2),
    (FixedAddress("5640 S FAIRFAX AVE", "LOS ANGELES", "90056", "agency_office"), 1),
])
