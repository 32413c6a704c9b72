"""The searcher: the store opened read-only once, for many searches."""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from linkage.errors import LinkageError
from linkage.link.full_names import common_full_names, names_bits
from linkage.link.model_file import MODEL_COLUMNS, UNIQUE_ID, read_model, tf_columns
from linkage.link.prior import population_model
from linkage.search.blocking import (KEY_COLUMNS, KeyIndex, candidate_keys_sql, check_sql,
                                     key_table_sql, parameters, query_hashes_sql)
from linkage.search.query import COLUMN_TYPES, STAGE, PersonQuery, standardize_query
from linkage.search.results import ranked_frame, ranked_records
from linkage.link.comparison_levels import comparisons, gamma_sql, prior_weight, weigh
from linkage.standardize.names import install_name_rules
from linkage.store import Step, Store, open_store, quote_identifier

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger(__name__)

# A candidate's columns: the model's, where it comes from, and those the keys read.
_CANDIDATE_COLUMNS = tuple(dict.fromkeys((*MODEL_COLUMNS, "source_system", "source_record_id",
                                          *KEY_COLUMNS)))


class Searcher:
    """The store opened read-only once, for many searches. Not safe to share across threads.

    Opening reads the model and installs the name rules (macros and nickname lookups). With
    `preload` it also copies the active records' model columns and current EIDs into an
    in-memory table indexed by a search id, hashes every record's blocking-key values into
    sorted arrays (blocking.KeyIndex) and the term frequencies into lookup tables, so each
    search finds its candidates by binary search and fetches them by index instead of
    scanning `person` and the crosswalk: 10-20 s and about 800 MB per million records
    (measured on a busy 2-core machine); a single search is cheaper without. While a
    searcher is open, DuckDB's file lock keeps a run from writing the store: close it (or
    use `with`) when done.
    """

    def __init__(self, store: Store, model: dict[str, Any], *, preload: bool = True) -> None:
        self._store = store
        self._model = model
        self._comparisons = comparisons(model)
        self._prior_weight = prior_weight(model)
        self._tf_columns = tf_columns(model)
        if model.get("unique_id_column_name", UNIQUE_ID) != UNIQUE_ID:
            raise LinkageError(f"search: the model's unique id must be {UNIQUE_ID}")
        self._preloaded = preload
        self.seconds: dict[str, float] = {}  # the last search's time per step
        install_name_rules(store)
        # A full name commoner than its parts weighs less, as in a run (full_names.py).
        store.run_step(STAGE, common_full_names())
        if preload:
            self._preload()

    @classmethod
    def open(cls, store_path: str | Path, model_path: str | Path, *,
             preload: bool = True) -> Searcher:
        model = read_model(Path(model_path))
        store = open_store(store_path, read_only=True)
        try:
            return cls(store, population_model(store, model), preload=preload)
        except BaseException:
            store.close()
            raise

    def _preload(self) -> None:
        """The active records with their current EIDs, indexed by a search id; every
        record's blocking-key values hashed, sorted; the term frequencies."""
        columns = ", ".join(f"p.{column}" for column in _CANDIDATE_COLUMNS)
        self._store.run_steps(STAGE, [
            Step("active_records", f"""
CREATE OR REPLACE TEMP TABLE search_person AS
SELECT (row_number() OVER ())::INTEGER AS search_id, {columns}, cw.enterprise_id
FROM person AS p JOIN crosswalk AS cw ON cw.valid_to_run IS NULL
    AND cw.source_system = p.source_system AND cw.source_record_id = p.source_record_id
WHERE NOT p.is_deleted"""),
            Step("search_id_index", "CREATE UNIQUE INDEX search_person_id "
                                    "ON search_person (search_id)"),
            *(Step(f"term_frequency_{i}", f"""
CREATE OR REPLACE TEMP TABLE search_tf_{i} AS
SELECT {quote_identifier(column)} AS value,
    count(*)::DOUBLE / sum(count(*)) OVER () AS term_frequency
FROM person WHERE NOT is_deleted AND {quote_identifier(column)} IS NOT NULL GROUP BY ALL""")
              for i, column in enumerate(self._tf_columns)),
        ])
        keys = self._store.run_arrow(STAGE, Step("blocking_keys", key_table_sql()))
        self._keys = KeyIndex(*(keys.column(name).to_numpy()
                                for name in ("key_hash", "search_id", "key")))

    @property
    def store(self) -> Store:
        """The store this searcher reads (open read-only)."""
        return self._store

    def __enter__(self) -> Searcher:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        self._store.close()

    def search(self, *, dob: str | dt.date | None = None, first_name: str | None = None,
               last_name: str | None = None, ssn_last4: str | None = None,
               zip5: str | None = None, limit: int = 10, ssn: str | None = None,
               cin: str | None = None, mrn: str | None = None, phone: str | None = None,
               email: str | None = None,
               sources: Collection[str] | None = None) -> pd.DataFrame:
        """Candidate EIDs for a person, best first (RESULT_COLUMNS, then per comparison
        `<name>_level` and `<name>_weight`); empty when no record shares a blocking key.
        With `sources`, only records of those source systems are candidates: a record the
        caller may not see neither appears nor adds to any score."""
        query = PersonQuery(dob, first_name, last_name, ssn_last4, zip5, ssn, cin, mrn,
                            phone, email)
        return ranked_frame(self._ranked(query, limit, sources), self._comparisons)

    def search_records(self, query: PersonQuery, *, limit: int = 10,
                       sources: Collection[str] | None = None) -> list[dict[str, Any]]:
        """What `search` finds, as one dict per EID (for callers without pandas)."""
        return ranked_records(self._ranked(query, limit, sources), self._comparisons)

    def _ranked(self, query: PersonQuery, limit: int,
                sources: Collection[str] | None) -> dict[str, np.ndarray] | None:
        if limit < 1:
            raise LinkageError("search: limit must be at least 1")
        self.seconds = {}
        started = time.perf_counter()
        standardized = standardize_query(self._store, query)
        self._lap("standardize", started)
        candidates = self._candidates(standardized, sources)
        self._lap("candidates", started)
        ranked = self._score(standardized, candidates, limit) if candidates.ids else None
        self._lap("score", started)
        log.debug("search: %d candidate records, %d enterprise IDs returned",
                  len(candidates.ids), 0 if ranked is None else len(ranked["enterprise_id"]))
        return ranked

    def _lap(self, step: str, started: float) -> None:
        self.seconds[step] = time.perf_counter() - started - sum(self.seconds.values())

    def _candidates(self, query: dict[str, Any],
                    sources: Collection[str] | None) -> _Candidates:
        """The records sharing a blocking key with the query: by their hashed key values
        when preloaded (the records' source and the check come with their rows, in
        `_score`), else by filtering `person`."""
        if self._preloaded:
            sql = query_hashes_sql(query)
            hashes = self._store.run_step(STAGE, Step("candidate_keys", sql,
                                                      parameters(sql, query)))[0][0]
            found, to_check = self._keys.lookup(hashes)
            return _Candidates(found, to_check, None if sources is None else sorted(sources))
        sql = candidate_keys_sql(query)
        found = self._store.run_step(STAGE, Step("candidate_keys", sql, parameters(sql, query)))
        visible = None if sources is None else set(sources)
        return _Candidates(sorted(key for key, source in found
                                  if visible is None or source in visible))

    def _score(self, query: dict[str, Any], candidates: _Candidates,
               limit: int) -> dict[str, np.ndarray] | None:
        """Each candidate's level per comparison in one statement, then their weights for
        all candidates at once; each EID's best-scoring record, best first."""
        listed = [f"$k{i}" for i in range(len(candidates.ids))]
        params: dict[str, Any] = {**query, "to_check": candidates.to_check}
        params.update({f"k{i}": key for i, key in enumerate(candidates.ids)})
        values = []
        for column in MODEL_COLUMNS:
            if column == UNIQUE_ID:
                continue
            params[f"q_{column}"] = query.get(column)
            values.append(f"$q_{column}::{COLUMN_TYPES.get(column, 'VARCHAR')} AS {column}")
        pair = ", ".join(f"q.{column} AS {column}_l, c.{column} AS {column}_r"
                         for column in MODEL_COLUMNS if column != UNIQUE_ID)
        levels = ", ".join(f"{gamma_sql(comparison)} AS gamma_{i}"
                           for i, comparison in enumerate(self._comparisons))
        agree = ", ".join(self._agrees(i, comparison, query)
                          for i, comparison in enumerate(self._comparisons))
        frequencies = ", ".join(self._term_frequency(column) for column in self._tf_columns)
        full_name, full_name_bits = names_bits("p.first_name_l", "p.first_name_r",
                                               "p.last_name_l", "p.last_name_r")
        sql = f"""
WITH query AS (
    SELECT {', '.join(values)}
), candidate AS ({self._candidate_rows(listed, candidates)}
), pair AS (
    SELECT c.record_key, c.enterprise_id, c.source_system, c.source_record_id, {pair}
    FROM query AS q CROSS JOIN candidate AS c
)
SELECT record_key, enterprise_id, source_system, source_record_id, {levels}, {agree},
    {full_name_bits} AS full_name_bits, [{frequencies}]::DOUBLE[] AS term_frequencies
FROM pair AS p {full_name}"""
        rows = self._store.run_step(STAGE, Step("score", sql, parameters(sql, params)))
        if candidates.sources is not None:
            # Filtered here, not in the statement: a condition on the source beside the
            # id list turns DuckDB's index lookup into a scan of every record (0.17 s at 1M).
            visible = set(candidates.sources)
            rows = [row for row in rows if row[2] in visible]
        if not rows:
            return None
        columns = list(zip(*rows, strict=True))
        found = {name: np.array(columns[i], dtype=object)
                 for i, name in enumerate(("record_key", "enterprise_id", "source_system",
                                           "source_record_id"))}
        frequencies = dict(zip(self._tf_columns, columns[-1][0], strict=False))
        count = len(self._comparisons)
        total = np.full(len(rows), self._prior_weight)
        for i, comparison in enumerate(self._comparisons):
            gammas = np.array(columns[4 + i], dtype=np.int64)
            weights = weigh(comparison, gammas, frequencies)
            # A level at which every field the query gave agrees weighs at least nothing.
            agrees = np.array([bool(flag) for flag in columns[4 + count + i]])
            weights[(gammas > 0) & (weights < 0) & agrees] = 0.0
            found[f"gamma_{i}"], found[f"weight_{i}"] = gammas, weights
            total += weights
        total += np.array(columns[-2], dtype=np.float64)
        found["match_weight"] = total
        return _best_per_eid(found, limit)

    def _term_frequency(self, column: str) -> str:
        """The share of active records holding the query's value of `column` (null when
        none does), as Splink computes it in a run."""
        name = quote_identifier(column)
        if self._preloaded:
            i = self._tf_columns.index(column)
            return f"(SELECT term_frequency FROM search_tf_{i} WHERE value = $q_{column})"
        return (f"(SELECT nullif(count(*) FILTER (WHERE {name} = $q_{column})::DOUBLE"
                f" / nullif(count({name}), 0), 0) FROM person WHERE NOT is_deleted)")

    def _candidate_rows(self, listed: list[str], candidates: _Candidates) -> str:
        """The candidates' rows by id: an IN list of bound parameters lets DuckDB look
        each up in the id's index (or the primary key's), where a joined list would scan."""
        if self._preloaded:
            return (f"SELECT * FROM search_person AS p WHERE p.search_id IN ({', '.join(listed)})"
                    f" AND (NOT list_contains($to_check, p.search_id) OR ({check_sql()}))")
        columns = ", ".join(f"p.{column}" for column in _CANDIDATE_COLUMNS)
        return f"""
SELECT {columns}, cw.enterprise_id
FROM person AS p JOIN crosswalk AS cw ON cw.valid_to_run IS NULL
    AND cw.source_system = p.source_system AND cw.source_record_id = p.source_record_id
WHERE p.record_key IN ({', '.join(listed)})"""

    @staticmethod
    def _agrees(i: int, comparison, query: dict[str, Any]) -> str:
        """Whether every field the query gave of comparison i's agrees with the record.
        Such a level never weighs less than nothing: the model's levels are ordered, so a
        level also says which fields did *not* agree (same ZIP but not street or phone
        weighs -1.7 in a run), and a query that gives only the ZIP has no street or phone
        to disagree. Levels with a disagreeing given field (a birth date of the same year
        but another day) keep the model's weight."""
        agrees = [f"{column}_l = {column}_r" for column in comparison.inputs
                  if query.get(column) is not None]
        return f"coalesce({' AND '.join(agrees)}, false) AS agrees_{i}" if agrees else \
            f"false AS agrees_{i}"


def _best_per_eid(found: dict[str, np.ndarray], limit: int) -> dict[str, np.ndarray]:
    """Each EID's best record (highest weight, then lowest key), with how many of its
    records were scored; EIDs by weight (then EID), at most `limit`."""
    weight, keys, eids = found["match_weight"], found["record_key"], found["enterprise_id"]
    order = np.lexsort((keys, -weight))
    _, first, counts = np.unique(eids[order], return_index=True, return_counts=True)
    best = order[first]
    ranked = best[np.lexsort((eids[best], -weight[best]))][:limit]
    scored = dict(zip(eids[order][first], counts, strict=True))
    result = {name: values[ranked] for name, values in found.items()}
    result["match_probability"] = 1 / (1 + np.power(2.0, -result["match_weight"]))
    result["records_scored"] = np.array([scored[eid] for eid in result["enterprise_id"]],
                                        dtype=np.int64)
    return result


@dataclass(frozen=True)
class _Candidates:
    """A search's candidates: record keys, or search ids of the preloaded records with
    those still to pass the check of the key that found them and the visible sources."""

    ids: list[Any]
    to_check: list[int] = field(default_factory=list)
    sources: list[str] | None = None
