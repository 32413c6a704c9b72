"""The searcher: the store opened read-only once, for many searches."""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Collection
from pathlib import Path
from typing import TYPE_CHECKING, Any

from linkage.errors import LinkageError
from linkage.link.model_file import MODEL_COLUMNS, UNIQUE_ID, read_model, tf_columns
from linkage.link.prior import population_model
from linkage.search.blocking import candidate_keys_sql, parameters
from linkage.search.query import STAGE, PersonQuery, standardize_query
from linkage.search.results import ranked_frame
from linkage.search.scoring import comparisons, gamma_sql, prior_weight, weight_sql
from linkage.standardize.names import install_name_rules
from linkage.store import Step, Store, open_store, quote_identifier

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger(__name__)

# Person columns of a candidate beside the model's: where it comes from, and the MRN key.
_CANDIDATE_COLUMNS = (*MODEL_COLUMNS, "source_system", "source_record_id", "mrn")
# Columns the preloaded records are indexed on: each blocking key's leading equality.
_INDEXED = ("dob", "last_name", "last_name_phonetic", "ssn_last4", "ssn", "cin", "mrn",
            "phone", "email")
_TYPES = {"surname_parts": "VARCHAR[]", "first_name_forms": "VARCHAR[]", "dob": "DATE",
          "dob_year": "INTEGER"}


class Searcher:
    """The store opened read-only once, for many searches. Not safe to share across threads.

    Opening reads the model and installs the name rules (macros and nickname lookups). With
    `preload` it also copies the active records' model columns and current EIDs into an
    in-memory table indexed on each blocking key's leading column, and the term
    frequencies into lookup tables, so each search finds its candidates by index lookups
    instead of scanning `person` and the crosswalk: a few seconds and a few hundred MB
    per million records, for searches of a few milliseconds; a single search is cheaper
    without. While a searcher is open, DuckDB's file lock keeps a run from writing the
    store: close it (or use `with`) when done.
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
        """The active records with their current EIDs, indexed; the term frequencies."""
        columns = ", ".join(f"p.{column}" for column in _CANDIDATE_COLUMNS)
        self._store.run_steps(STAGE, [
            # An index lookup is worth it for any key a common name or birth date shares
            # (DuckDB's default stops at 2,048 rows and scans instead).
            Step("index_scan_limit", "SET index_scan_max_count = 1000000"),
            Step("active_records", f"""
CREATE OR REPLACE TEMP TABLE search_person AS
SELECT {columns}, cw.enterprise_id
FROM person AS p JOIN crosswalk AS cw ON cw.valid_to_run IS NULL
    AND cw.source_system = p.source_system AND cw.source_record_id = p.source_record_id
WHERE NOT p.is_deleted"""),
            Step("record_index", "CREATE UNIQUE INDEX search_person_key "
                                 "ON search_person (record_key)"),
            *(Step(f"{column}_index", f"CREATE INDEX search_person_{column} "
                                      f"ON search_person ({column})") for column in _INDEXED),
            *(Step(f"term_frequency_{i}", f"""
CREATE OR REPLACE TEMP TABLE search_tf_{i} AS
SELECT {quote_identifier(column)} AS value,
    count(*)::DOUBLE / sum(count(*)) OVER () AS term_frequency
FROM person WHERE NOT is_deleted AND {quote_identifier(column)} IS NOT NULL GROUP BY ALL""")
              for i, column in enumerate(self._tf_columns)),
        ])

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
        if limit < 1:
            raise LinkageError("search: limit must be at least 1")
        self.seconds = {}
        started = time.perf_counter()
        query = standardize_query(self._store, PersonQuery(
            dob, first_name, last_name, ssn_last4, zip5, ssn, cin, mrn, phone, email))
        self._lap("standardize", started)
        keys = self._candidates(query, sources)
        self._lap("candidates", started)
        ranked = self._score(query, keys, limit) if keys else None
        self._lap("score", started)
        log.debug("search: %d candidate records, %d enterprise IDs returned",
                  len(keys), 0 if ranked is None else ranked.num_rows)
        return ranked_frame(ranked, self._comparisons)

    def _lap(self, step: str, started: float) -> None:
        self.seconds[step] = time.perf_counter() - started - sum(self.seconds.values())

    def _candidates(self, query: dict[str, Any],
                    sources: Collection[str] | None) -> list[str]:
        """The keys of active records sharing a blocking key with the query (of `sources`)."""
        sql = candidate_keys_sql(query, "search_person" if self._preloaded else "person")
        found = self._store.run_step(STAGE, Step("candidate_keys", sql, parameters(sql, query)))
        visible = None if sources is None else set(sources)
        return sorted(key for key, source in found if visible is None or source in visible)

    def _score(self, query: dict[str, Any], keys: list[str], limit: int):
        """Each candidate scored against the query with the model's weights; each EID's
        best-scoring record, best first."""
        listed = [f"$k{i}" for i in range(len(keys))]
        params: dict[str, Any] = {f"k{i}": key for i, key in enumerate(keys)}
        params["limit"] = limit
        values = []
        for column in MODEL_COLUMNS:
            if column == UNIQUE_ID:
                continue
            params[f"q_{column}"] = query.get(column)
            values.append(f"$q_{column}::{_TYPES.get(column, 'VARCHAR')} AS {column}")
        for column in self._tf_columns:
            values.append(f"{self._term_frequency(column)} AS tf_{column}")
            if query.get(column) is not None:
                params[f"q_{column}"] = query[column]
        sql = _SCORE.format(
            query=", ".join(values), candidates=self._candidate_rows(listed),
            pair=", ".join([*(f"q.{c} AS {c}_l, c.{c} AS {c}_r" for c in MODEL_COLUMNS
                              if c != UNIQUE_ID),
                            *(f"q.tf_{c} AS tf_{c}_l, NULL::DOUBLE AS tf_{c}_r"
                              for c in self._tf_columns)]),
            gammas=", ".join(f"{gamma_sql(c)} AS gamma_{i}"
                             for i, c in enumerate(self._comparisons)),
            weights=", ".join(f"{weight_sql(c, f'gamma_{i}')} AS model_{i}"
                              for i, c in enumerate(self._comparisons)),
            clamped=", ".join(self._clamped(i, c, query)
                              for i, c in enumerate(self._comparisons)),
            prior=repr(float(self._prior_weight)),
            total=" + ".join(f"weight_{i}" for i in range(len(self._comparisons))),
            evidence=", ".join(f"gamma_{i}, weight_{i}" for i in range(len(self._comparisons))))
        return self._store.run_arrow(STAGE, Step("score", sql, parameters(sql, params)))

    def _term_frequency(self, column: str) -> str:
        """The share of active records holding the query's value of `column` (null when
        none does), as Splink computes it in a run."""
        name = quote_identifier(column)
        if self._preloaded:
            i = self._tf_columns.index(column)
            return f"(SELECT term_frequency FROM search_tf_{i} WHERE value = $q_{column})"
        return (f"(SELECT nullif(count(*) FILTER (WHERE {name} = $q_{column})::DOUBLE"
                f" / nullif(count({name}), 0), 0) FROM person WHERE NOT is_deleted)")

    def _candidate_rows(self, listed: list[str]) -> str:
        """The candidates' rows by key: an IN list of bound parameters lets DuckDB use the
        key's index (and zone maps), where a joined list would scan."""
        if self._preloaded:
            return f"SELECT * FROM search_person WHERE record_key IN ({', '.join(listed)})"
        columns = ", ".join(f"p.{column}" for column in _CANDIDATE_COLUMNS)
        return f"""
SELECT {columns}, cw.enterprise_id
FROM person AS p JOIN crosswalk AS cw ON cw.valid_to_run IS NULL
    AND cw.source_system = p.source_system AND cw.source_record_id = p.source_record_id
WHERE p.record_key IN ({', '.join(listed)})"""

    @staticmethod
    def _clamped(i: int, comparison, query: dict[str, Any]) -> str:
        """Comparison i's weight with one correction: a level at which every field the query
        gave agrees with the record weighs at least nothing. The model's levels are ordered,
        so a level also says which fields did *not* agree: same ZIP but not street or phone
        weighs -1.7 in a run. A query that gives only the ZIP has no street or phone to
        disagree, and its agreeing ZIP must not count against the record. Levels with a
        disagreeing given field (a birth date of the same year but another day) keep the
        model's weight."""
        agrees = [f"{column}_l = {column}_r" for column in comparison.inputs
                  if query.get(column) is not None]
        if not agrees:
            return f"model_{i} AS weight_{i}"
        return (f"CASE WHEN gamma_{i} > 0 AND model_{i} < 0 AND {' AND '.join(agrees)} "
                f"THEN 0.0 ELSE model_{i} END AS weight_{i}")


_SCORE = """
WITH query AS (
    SELECT {query}
), candidate AS ({candidates}
), pair AS (
    SELECT c.record_key, c.enterprise_id, c.source_system, c.source_record_id, {pair}
    FROM query AS q CROSS JOIN candidate AS c
), leveled AS (
    SELECT *, {gammas} FROM pair
), weighed AS (
    SELECT *, {weights} FROM leveled
), clamped AS (
    SELECT *, {clamped} FROM weighed
), scored AS (
    SELECT *, {prior} + {total} AS match_weight FROM clamped
)
SELECT enterprise_id, 1 / (1 + pow(2, -match_weight)) AS match_probability, match_weight,
    record_key, source_system, source_record_id,
    count(*) OVER (PARTITION BY enterprise_id) AS records_scored, {evidence}
FROM scored
QUALIFY row_number() OVER (PARTITION BY enterprise_id ORDER BY match_weight DESC,
    record_key) = 1
ORDER BY match_weight DESC, enterprise_id
LIMIT $limit"""
