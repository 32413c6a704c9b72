"""How a record becomes a search candidate: the blocking keys.

Each key is an exact match on a few values (`parts`, SQL over the record, alias p) against
the same values of the standardized query (`query_parts`, bound $name parameters), and at
most one key checks something more (`check`). Exact matches can be found two ways:
- a searcher that preloads the active records also keeps every record's key values hashed
  (DuckDB's `hash`, one entry per record and key) in sorted arrays (`KeyIndex`), so a
  search finds its candidates by a binary search for each of a dozen hashes, whatever
  the population's size;
- a one-off search filters `person` on each key's equalities (only the key's columns are
  read).

A key stays selective as the population grows: a date of birth alone would bring every
record born that day (hundreds at a million records), a common name alone thousands.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class BlockingKey:
    """One way a record becomes a candidate; used when the query has a value for each of
    `needs` and none of `unless`."""

    name: str
    needs: tuple[str, ...]
    parts: tuple[str, ...]
    query_parts: tuple[str, ...] = ()  # default: `parts` over the query ($name for p.name)
    check: str | None = None  # a further condition on the record and the query
    unless: tuple[str, ...] = ()

    def applies(self, query: dict[str, Any]) -> bool:
        return all(query.get(name) is not None for name in self.needs) and all(
            query.get(name) is None for name in self.unless)

    @property
    def query_values(self) -> tuple[str, ...]:
        return self.query_parts or tuple(re.sub(r"\bp\.([a-z_0-9]+)", r"$\1", part)
                                         for part in self.parts)

    @property
    def sql(self) -> str:
        """The key as a filter on `person` (alias p)."""
        equal = " AND ".join(f"{part} = {value}"
                             for part, value in zip(self.parts, self.query_values, strict=True))
        return f"{equal} AND ({self.check})" if self.check else equal


def _near_dob(name: str, parts: tuple[str, ...], needs: tuple[str, ...]) -> tuple[BlockingKey, ...]:
    """Within a year, or the same day and month: what survives a one-digit or day/month
    error, as two exact keys."""
    return (BlockingKey(f"{name}, birth year", needs, (*parts, "year(p.dob)")),
            BlockingKey(f"{name}, birth day and month", needs,
                        (*parts, "month(p.dob)", "day(p.dob)")))


SEARCH_BLOCKING = (
    # The name test runs only on the few records born that day, so it can be generous: it
    # keeps a record with a typo in both names (JHON AMITH for JOHN SMITH).
    BlockingKey("dob and a similar name", ("dob",), ("p.dob",), check="""
        p.first_name_canonical = $first_name_canonical
        OR p.first_name_phonetic = $first_name_phonetic
        OR p.last_name_phonetic = $last_name_phonetic
        OR jaro_winkler_similarity(p.first_name, $first_name) >= 0.8
        OR jaro_winkler_similarity(p.last_name, $last_name) >= 0.8
        OR p.first_name = $last_name OR p.last_name = $first_name"""),
    # A string similarity here would run over every namesake (thousands at a million
    # records); the initial catches the same typos at a fraction of the cost.
    *_near_dob("last_name, first initial", ("p.last_name", "left(p.first_name, 1)"),
               ("last_name", "first_name", "dob")),
    *_near_dob("last_name, canonical first name", ("p.last_name", "p.first_name_canonical"),
               ("last_name", "first_name", "dob")),
    *_near_dob("first and last name phonetic", ("p.first_name_phonetic", "p.last_name_phonetic"),
               ("first_name_phonetic", "last_name_phonetic", "dob")),
    BlockingKey("first and last name swapped", ("first_name", "last_name"),
                ("p.first_name", "p.last_name"), query_parts=("$last_name", "$first_name")),
    BlockingKey("ssn_last4, birth year", ("ssn_last4", "dob"), ("p.ssn_last4", "year(p.dob)")),
    BlockingKey("zip5, first and last name phonetic",
                ("zip5", "first_name_phonetic", "last_name_phonetic"),
                ("p.zip5", "p.first_name_phonetic", "p.last_name_phonetic")),
    # An identifier finds its records with or without a date of birth. Each names one
    # person (or a household, for a phone), so it brings few records at any size.
    *(BlockingKey(name, (name,), (f"p.{name}",)) for name in ("ssn", "cin", "mrn", "phone",
                                                                "email")),
    # The last four digits alone are shared by ~1 record in 10,000: with a name's sound,
    # when there is no date of birth (with one, "ssn_last4, birth year" finds them).
    BlockingKey("ssn_last4, last name phonetic", ("ssn_last4", "last_name_phonetic"),
                ("p.ssn_last4", "p.last_name_phonetic"), unless=("dob",)),
    BlockingKey("ssn_last4, first name phonetic", ("ssn_last4", "first_name_phonetic"),
                ("p.ssn_last4", "p.first_name_phonetic"), unless=("dob",)),
)
assert sum(1 for key in SEARCH_BLOCKING if key.check) <= 1, "the preloaded search checks one"

# The record columns the keys read.
KEY_COLUMNS = tuple(sorted({column for key in SEARCH_BLOCKING
                            for column in re.findall(r"\bp\.([a-z_0-9]+)",
                                                     " ".join(key.parts) + (key.check or ""))}))


def _hash(i: int, values: tuple[str, ...]) -> str:
    # The key's number goes in the hash, so equal values of two keys never meet.
    return f"hash({i}::UTINYINT, {', '.join(values)})"


def key_table_sql() -> str:
    """The query of (key_hash, search_id, key) over `search_person` (alias p): one row per
    record and key whose values are all known, sorted by hash."""
    return "\nUNION ALL\n".join(
        f"SELECT {_hash(i, key.parts)} AS key_hash, p.search_id, {i}::UTINYINT AS key "
        f"FROM search_person AS p WHERE {' AND '.join(f'{part} IS NOT NULL' for part in key.parts)}"
        for i, key in enumerate(SEARCH_BLOCKING)) + "\nORDER BY key_hash"


def query_hashes_sql(query: dict[str, Any]) -> str:
    """The hashes of the keys `query` can use, as `key_table_sql` hashes a record's."""
    return "SELECT [" + ", ".join(_hash(i, key.query_values)
                                  for i, key in enumerate(SEARCH_BLOCKING)
                                  if key.applies(query)) + "]"


class KeyIndex:
    """Every record's key hashes, sorted, with the record's search id and the key's number."""

    def __init__(self, hashes: np.ndarray, search_ids: np.ndarray, keys: np.ndarray) -> None:
        self._hashes, self._search_ids, self._keys = hashes, search_ids, keys
        self._checked = np.array([i for i, key in enumerate(SEARCH_BLOCKING) if key.check],
                                 dtype=keys.dtype)

    def lookup(self, hashes: list[int]) -> tuple[list[int], list[int]]:
        """The search ids holding any of `hashes`, and those among them found only by the
        key that checks more (they must still pass the check)."""
        wanted = np.array(hashes, dtype=np.uint64)
        starts = np.searchsorted(self._hashes, wanted, side="left")
        ends = np.searchsorted(self._hashes, wanted, side="right")
        rows = np.concatenate([np.arange(start, end) for start, end in zip(starts, ends)]
                              or [np.array([], dtype=np.int64)]).astype(np.int64)
        ids, keys = self._search_ids[rows], self._keys[rows]
        unchecked = np.unique(ids[~np.isin(keys, self._checked)])
        found = np.unique(ids)
        return found.tolist(), np.setdiff1d(found, unchecked).tolist()


def check_sql() -> str:
    """The check of the key that has one, over a candidate (alias p)."""
    return next(key.check for key in SEARCH_BLOCKING if key.check)


def candidate_keys_sql(query: dict[str, Any]) -> str:
    """The record keys (and source systems) of active `person` records sharing a key
    with `query`: one narrow filter per key that applies, deduplicated."""
    return "\nUNION\n".join(
        "SELECT p.record_key, p.source_system FROM person AS p "
        f"WHERE NOT p.is_deleted AND {key.sql}"
        for key in SEARCH_BLOCKING if key.applies(query))


def parameters(sql: str, values: dict[str, Any]) -> dict[str, Any]:
    """The $name parameters `sql` uses (DuckDB refuses unused ones), from `values`."""
    return {name: values[name] for name in set(re.findall(r"\$([a-z_0-9]+)", sql))}
