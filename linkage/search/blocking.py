"""How a record becomes a search candidate: the blocking keys, each a filter on `person`
over the standardized query's values (bound as $name parameters).

Each key's filter leads with an equality on one column (dob, last_name, last_name_phonetic,
ssn_last4 or an identifier), so a searcher that preloads the active records
(linkage.search.preload) finds a key's records through that column's index; a one-off
search scans `person` narrowly instead (only the key's columns are read).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

@dataclass(frozen=True)
class BlockingKey:
    """One way a record becomes a candidate: a filter on `person` (alias p) over the
    standardized query's values, bound as $name parameters; used when the query has a value
    for each of `needs`."""

    name: str
    needs: tuple[str, ...]
    sql: str
    unless: tuple[str, ...] = ()  # not used when the query has any of these

    def applies(self, query: dict[str, Any]) -> bool:
        return all(query.get(name) is not None for name in self.needs) and all(
            query.get(name) is None for name in self.unless)


# Within a year, or the same day and month: what survives a one-digit or day/month error.
_NEAR_DOB = ("(year(p.dob) = year($dob) "
             "OR (month(p.dob) = month($dob) AND day(p.dob) = day($dob)))")
# Each key stays selective as the population grows: a date of birth alone would bring every
# record born that day (hundreds at a million records), a common name alone thousands.
SEARCH_BLOCKING = (
    # The name test runs only on the few records born that day, so it can be generous: it
    # keeps a record with a typo in both names (JHON AMITH for JOHN SMITH).
    BlockingKey("dob and a similar name", ("dob",), """p.dob = $dob AND (
        p.first_name_canonical = $first_name_canonical
        OR p.first_name_phonetic = $first_name_phonetic
        OR p.last_name_phonetic = $last_name_phonetic
        OR jaro_winkler_similarity(p.first_name, $first_name) >= 0.8
        OR jaro_winkler_similarity(p.last_name, $last_name) >= 0.8
        OR p.first_name = $last_name OR p.last_name = $first_name)"""),
    # A string similarity here would run over every namesake (thousands at a million
    # records); the initial catches the same typos at a fraction of the cost.
    BlockingKey("last_name, near dob, first initial or canonical first name",
                ("last_name", "first_name", "dob"),
                f"p.last_name = $last_name AND {_NEAR_DOB} AND ("
                "p.first_name_canonical = $first_name_canonical "
                "OR left(p.first_name, 1) = left($first_name, 1))"),
    BlockingKey("first and last name phonetic, near dob",
                ("first_name_phonetic", "last_name_phonetic", "dob"),
                "p.last_name_phonetic = $last_name_phonetic "
                f"AND p.first_name_phonetic = $first_name_phonetic AND {_NEAR_DOB}"),
    BlockingKey("first and last name swapped", ("first_name", "last_name"),
                "p.last_name = $first_name AND p.first_name = $last_name"),
    BlockingKey("ssn_last4, birth year", ("ssn_last4", "dob"),
                "p.ssn_last4 = $ssn_last4 "
                "AND p.dob BETWEEN make_date(year($dob), 1, 1) AND make_date(year($dob), 12, 31)"),
    BlockingKey("zip5, first and last name phonetic",
                ("zip5", "first_name_phonetic", "last_name_phonetic"),
                "p.last_name_phonetic = $last_name_phonetic AND p.zip5 = $zip5 "
                "AND p.first_name_phonetic = $first_name_phonetic"),
    # An identifier finds its records with or without a date of birth. Each names one
    # person (or a household, for a phone), so it brings few records at any size.
    BlockingKey("ssn", ("ssn",), "p.ssn = $ssn"),
    BlockingKey("cin", ("cin",), "p.cin = $cin"),
    BlockingKey("mrn", ("mrn",), "p.mrn = $mrn"),
    BlockingKey("phone", ("phone",), "p.phone = $phone"),
    BlockingKey("email", ("email",), "p.email = $email"),
    # The last four digits alone are shared by ~1 record in 10,000: with a name's sound,
    # when there is no date of birth (with one, "ssn_last4, birth year" finds them).
    BlockingKey("ssn_last4, last name phonetic", ("ssn_last4", "last_name_phonetic"),
                "p.ssn_last4 = $ssn_last4 AND p.last_name_phonetic = $last_name_phonetic",
                unless=("dob",)),
    BlockingKey("ssn_last4, first name phonetic", ("ssn_last4", "first_name_phonetic"),
                "p.ssn_last4 = $ssn_last4 AND p.first_name_phonetic = $first_name_phonetic",
                unless=("dob",)),
)


def candidate_keys_sql(query: dict[str, Any], relation: str) -> str:
    """The record keys (and source systems) of `relation` (alias p: `person`, or the
    preloaded active records) sharing a key with `query`, one SELECT per key that applies,
    deduplicated. `relation` is a table name from code, never from input."""
    active = "NOT p.is_deleted AND " if relation == "person" else ""
    return "\nUNION\n".join(
        f"SELECT p.record_key, p.source_system FROM {relation} AS p WHERE {active}({key.sql})"
        for key in SEARCH_BLOCKING if key.applies(query))


def parameters(sql: str, values: dict[str, Any]) -> dict[str, Any]:
    """The $name parameters `sql` uses (DuckDB refuses unused ones), from `values`."""
    return {name: values[name] for name in set(re.findall(r"\$([a-z_0-9]+)", sql))}
