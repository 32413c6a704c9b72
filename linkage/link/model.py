"""The Splink model definition: comparisons, blocking rules and training rules.

Levels follow the domain (DESIGN §5): nicknames and name swaps, day/month swaps, partial
SSNs, addresses whose weight term frequencies cut down when many people share them.
"""

from __future__ import annotations

import splink.comparison_level_library as cll
import splink.comparison_library as cl
from splink import SettingsCreator, block_on

from linkage.link.model_file import MODEL_COLUMNS, UNIQUE_ID  # noqa: F401  (defined there)


# Given and family name swapped with a typo in one of them (QUILLIAM ASHLEWIGH against
# ASHLEIGH QUILLIAM): each name close to the other record's other name. Symmetric, like
# the exact swap, so a pair scores the same whichever record is on the left.
SWAPPED_WITH_A_SLIP = ("jaro_winkler_similarity(first_name_l, last_name_r) >= 0.92 AND "
                       "jaro_winkler_similarity(last_name_l, first_name_r) >= 0.92")


def _first_name() -> cl.CustomComparison:
    return cl.CustomComparison(
        output_column_name="first_name",
        comparison_levels=[
            cll.NullLevel("first_name"),
            cll.ExactMatchLevel("first_name").configure(tf_adjustment_column="first_name"),
            # KEN and KENNETH, TONY and ANTONIO, JESS and JESSIE (both JESSICA's).
            cll.ArrayIntersectLevel("first_name_forms", 1)
            .configure(label_for_charts="nickname of the same name"),
            # Given and family name swapped, both ways: a level that held one way only
            # would score a pair by which record is on the left, and a delivery puts its
            # new records on the left where a full run orders them by key.
            cll.ColumnsReversedLevel("first_name", "last_name", symmetrical=True),
            cll.CustomLevel(SWAPPED_WITH_A_SLIP, "given and family name swapped, with a slip"),
            cll.JaroWinklerLevel("first_name", 0.92),
            # One key slip early in a short name, which Jaro-Winkler forgives least: JOHN
            # and HOHN, MARIA and MARYA, DEBORAH and DFBORAH.
            cll.DamerauLevenshteinLevel("first_name", 1),
            cll.ExactMatchLevel("first_name_phonetic"),
            cll.ElseLevel(),
        ],
    )


def _last_name() -> cl.CustomComparison:
    return cl.CustomComparison(
        output_column_name="last_name",
        comparison_levels=[
            cll.NullLevel("last_name"),
            cll.ExactMatchLevel("last_name").configure(tf_adjustment_column="last_name"),
            cll.ColumnsReversedLevel("last_name", "first_name", symmetrical=True),
            cll.CustomLevel(SWAPPED_WITH_A_SLIP, "family and given name swapped, with a slip"),
            cll.ArrayIntersectLevel("surname_parts", 1),
            cll.JaroWinklerLevel("last_name", 0.92),
            cll.DamerauLevenshteinLevel("last_name", 1),
            cll.ExactMatchLevel("last_name_phonetic"),
            cll.ElseLevel(),
        ],
    )


# Two dates on the same month and day (January 1 excepted: HMIS and many intake systems
# impute an unknown day and month to it). `l` and `r` name date columns, from code.
SAME_BIRTHDAY = ("month({l}) = month({r}) AND day({l}) = day({r}) "
                 "AND strftime({l}, '%m%d') <> '0101'")


def _dob() -> cl.CustomComparison:
    # A partial date (a year, or a year and month) keeps its year: it can still agree or
    # disagree with a full date's year. No year on one side is no evidence.
    return cl.CustomComparison(
        output_column_name="dob",
        comparison_levels=[
            cll.CustomLevel("dob_year_l IS NULL OR dob_year_r IS NULL", "no birth year")
            .configure(is_null_level=True),
            cll.ExactMatchLevel("dob"),
            cll.CustomLevel(
                "month(dob_l) = day(dob_r) AND day(dob_l) = month(dob_r) "
                "AND year(dob_l) = year(dob_r)",
                "day and month swapped",
            ),
            cll.CustomLevel(
                "damerau_levenshtein(strftime(dob_l, '%Y%m%d'), strftime(dob_r, '%Y%m%d')) <= 1",
                "one digit off",
            ),
            # HMIS imputes an unknown day and month as January 1 (DOBDataQuality 2).
            cll.CustomLevel(
                "year(dob_l) = year(dob_r) AND (strftime(dob_l, '%m%d') = '0101' "
                "OR strftime(dob_r, '%m%d') = '0101')",
                "same year, one date imputed to January 1",
            ),
            cll.CustomLevel("year(dob_l) = year(dob_r)", "same year"),
            cll.CustomLevel("(dob_l IS NULL OR dob_r IS NULL) AND dob_year_l = dob_year_r",
                            "same year, one date partial"),
            # The year is the part of a birth date most often wrong: worked out from an age,
            # a decade or century slipped, a two-digit year read with the wrong pivot. Two
            # people share a birthday once in 365.
            cll.CustomLevel(SAME_BIRTHDAY.format(l="dob_l", r="dob_r"),
                            "same month and day, another year"),
            cll.ElseLevel(),
        ],
    )


def _ssn() -> cl.CustomComparison:
    return cl.CustomComparison(
        output_column_name="ssn",
        comparison_levels=[
            cll.CustomLevel("ssn_last4_l IS NULL OR ssn_last4_r IS NULL", "no SSN evidence")
            .configure(is_null_level=True),
            cll.ExactMatchLevel("ssn"),
            cll.CustomLevel("damerau_levenshtein(ssn_l, ssn_r) <= 1", "full SSN one digit off"),
            cll.ExactMatchLevel("ssn_last4"),
            cll.ElseLevel(),
        ],
    )


def _middle_name() -> cl.CustomComparison:
    # One system keeps the middle name, another its initial, a third nothing: the initial
    # agreeing is weaker evidence than the name, a middle name on one side only is none.
    return cl.CustomComparison(
        output_column_name="middle_name",
        comparison_levels=[
            cll.NullLevel("middle_name"),
            cll.ExactMatchLevel("middle_name"),
            cll.CustomLevel("(length(middle_name_l) = 1 OR length(middle_name_r) = 1) AND "
                            "left(middle_name_l, 1) = left(middle_name_r, 1)",
                            "initial agrees"),
            cll.JaroWinklerLevel("middle_name", 0.9),
            cll.ElseLevel(),
        ],
    )


def _name_suffix() -> cl.CustomComparison:
    # JR against SR is a father and son; a suffix on one side only says nothing.
    return cl.CustomComparison(
        output_column_name="name_suffix",
        comparison_levels=[
            cll.NullLevel("name_suffix"),
            cll.ExactMatchLevel("name_suffix"),
            cll.ElseLevel(),
        ],
    )


def _contact() -> cl.CustomComparison:
    # Street and phone are household evidence, not independent person evidence: in one
    # comparison they cannot add up to outweigh a different first name and DOB.
    return cl.CustomComparison(
        output_column_name="contact",
        comparison_levels=[
            cll.CustomLevel("(street_l IS NULL OR street_r IS NULL) AND "
                            "(phone_l IS NULL OR phone_r IS NULL) AND "
                            "(zip5_l IS NULL OR zip5_r IS NULL)", "no contact evidence")
            .configure(is_null_level=True),
            cll.CustomLevel("street_l = street_r AND phone_l = phone_r", "same street and phone"),
            cll.ExactMatchLevel("phone"),
            cll.ExactMatchLevel("street").configure(tf_adjustment_column="street"),
            cll.JaroWinklerLevel("street", 0.9),
            cll.ExactMatchLevel("zip5"),
            cll.ElseLevel(),
        ],
    )


def comparisons() -> list:
    return [
        _first_name(),
        _middle_name(),
        _last_name(),
        _dob(),
        _ssn(),
        cl.ExactMatch("sex"),
        _name_suffix(),
        cl.ExactMatch("cin"),
        _contact(),
        cl.ExactMatch("email"),
    ]


# Where EM on synthetic records cannot learn a parameter, a trained model is held to what
# is known of real records (train.bound_parameters applies these after EM, and the model
# card lists what they changed). The m of a comparison's "else" level is how often one
# person's two records disagree on it:
ELSE_M_FLOOR = {
    "first_name": 0.01,   # a given name in use that no nickname list knows, a typo past JW
    "middle_name": 0.05,  # a middle name recorded as a first name, or made up at intake
    "last_name": 0.08,    # surnames changed at marriage or divorce between records years apart
    # Records of one person from two programs, or years apart, differ in street, phone and
    # ZIP about as often as not: about one American in nine moves each year, phones change
    # too, and a program's address is often a shelter's or a mailing address.
    "contact": 0.50,
    "email": 0.50,        # people hold several e-mail addresses and change them
}
# ...and no higher than this where disagreement is a hard identifier conflict: a birth date
# that no typo or swap explains (EM on households reads siblings as matches and raises it).
ELSE_M_CAP = {"dob": 0.01}
# ...and a level that agrees on part of a field weighs no less than nothing: a ZIP in
# common, a middle name spelled nearly alike. EM on synthetic records, whose movers leave
# their ZIP and whose middle names carry no typos, finds such levels rarer among matches
# than among strangers; a county's records, whose people move within a town, do not. The
# levels that record a disagreement on part of a field are named here and keep their weight:
DISAGREEMENT_LEVELS = {("dob", "same year")}
# ...and a level the training records may never show (no partial birth dates in a clean
# extract) gets this Bayes factor: one person's partial date holds the year of the full
# one (m about 0.95), two people's years agree about once in 70 (u about 1/70).
UNSEEN_LEVEL_BAYES_FACTOR = {("dob", "same year, one date partial"): 0.95 * 70}


# Blocking for prediction, chosen with Splink's blocking analysis (see
# benchmarks/bench_blocking.py and benchmarks/RESULTS.md for the pair counts). Every rule
# joins on a key whose blocks stay small as the population grows, so pairs per record stay
# near flat: no rule joins on a date of birth or a common name alone.
PREDICT_BLOCKING = (
    block_on("ssn"),
    block_on("cin"),
    block_on("phone"),
    block_on("email"),
    block_on("dob", "first_name_phonetic"),
    block_on("dob", "first_name_canonical"),
    block_on("dob", "last_name_phonetic"),
    block_on("dob", "list_extract(surname_parts, 1)"),
    block_on("dob", "list_extract(surname_parts, -1)"),
    # Given and family name swapped: both directions, for a swap with a typo in one name
    # (a pair is blocked only once, with whichever record Splink puts on the left).
    "l.dob = r.dob AND l.first_name = r.last_name",
    "l.dob = r.dob AND l.last_name = r.first_name",
    # A date of birth with a typo or a day/month swap, or imputed to January 1.
    block_on("first_name_canonical", "last_name_phonetic", "year(dob)"),
    block_on("first_name_canonical", "last_name_phonetic", "month(dob)", "day(dob)"),
    # No date of birth on one side: names alone, but only from the records missing one
    # (each side's filter is pushed below the join, so the join stays small).
    "l.first_name_canonical = r.first_name_canonical AND l.last_name = r.last_name "
    "AND l.dob IS NULL",
    "l.first_name_canonical = r.first_name_canonical AND l.last_name = r.last_name "
    "AND r.dob IS NULL",
    block_on("last_name_phonetic", "first_name_phonetic", "zip5"),
    block_on("ssn_last4", "year(dob)"),
    # Typos in both names: the same date of birth at the same street address, or with both
    # initials kept (a slip rarely takes the first letter); the same-sounding names at one
    # street where the ZIP is missing or not a US one. A household shares a street, but
    # one source's household members are never one person (a cannot-link), and few share
    # a birth date.
    block_on("dob", "street"),
    "l.dob = r.dob AND left(l.first_name, 1) = left(r.first_name, 1) "
    "AND left(l.last_name, 1) = left(r.last_name, 1)",
    block_on("first_name_phonetic", "last_name_phonetic", "street"),
)

# Rules for EM: each leaves out the comparisons it blocks on, so together they train all.
TRAINING_BLOCKING = (
    block_on("dob"),
    block_on("first_name_canonical", "last_name"),
    block_on("ssn"),
)

# Near-certain matches for estimating the prior (probability two records match).
DETERMINISTIC_RULES = (
    block_on("ssn", "dob"),
    block_on("first_name", "last_name", "dob"),
    block_on("cin"),
)


def settings(max_iterations: int = 25) -> SettingsCreator:
    return SettingsCreator(
        max_iterations=max_iterations,
        link_type="dedupe_only",
        unique_id_column_name=UNIQUE_ID,
        comparisons=comparisons(),
        blocking_rules_to_generate_predictions=list(PREDICT_BLOCKING),
        retain_intermediate_calculation_columns=False,
        retain_matching_columns=False,
    )
