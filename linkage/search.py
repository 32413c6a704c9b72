"""Person search: the enterprise IDs most likely to be one person, ranked by the trained model.

    with Project.open("configs/sample.yaml").searcher() as searcher:
        found = searcher.search(first_name="Bob", last_name="Smith", dob="1980-03-15")

`found` holds one row per candidate EID of the current crosswalk, best first: its match
probability and weight, the key of its best-matching record, and per comparison of the
model the level that record reached (`dob_level`: "day and month swapped") and its weight
(`dob_weight`, the log2 Bayes factor, term-frequency adjustment included).

How a query is answered:
1. Standardize: the query lands as one record in a scratch connection and goes through the
   `standardize` SQL itself (rules installed once per searcher), so BOB meets ROBERT, José
   meets JOSE and a placeholder name counts as no name, exactly as for the records.
2. Candidates: the active records sharing a search blocking key with the query
   (SEARCH_BLOCKING), found by narrow filtered scans of the store's `person` (values bound,
   compressed columns: far cheaper than reading whole records), then fetched by primary key;
   their current EIDs come from the crosswalk, or from an index of it the searcher builds
   once when it will answer many queries.
3. Score: Splink's real-time `compare_records` with the trained model, query against
   candidates. Generating Splink's SQL costs more than running it, so it is generated once
   per model and cached (Splink's `sql_cache_key`); the query's term frequencies come from
   the active records, as in a run.
4. Rank: each EID by its best-matching record.

A query gives a name with a date of birth (or a ZIP), or any identifier (SSN, its last
four, CIN, MRN, phone, e-mail) with or without one. Only the fields given count: the
query's other columns are null, so their comparisons fall to their null level, which weighs
nothing; and a level at which every field the query gave agrees never weighs less than
nothing (`Searcher._agreeing_weights`). With `sources`, records of other source systems are
never candidates (a consumer of `linkage serve` sees only its own). Nothing here logs or
raises a query value.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
import time
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from splink import DuckDBAPI, SettingsCreator
from splink.internals.realtime import compare_records

from linkage.errors import LinkageError
from linkage.link import load_model, model_fingerprint, population_model
from linkage.link.model import MODEL_COLUMNS
from linkage.link.splink_session import tf_columns
from linkage.standardize import install, standardize
from linkage.store import Step, Store, open_store, quote_identifier

STAGE = "search"
QUERY_KEY = "search:query"
SCRATCH_SEARCHES = 200  # searches per scratch connection (see Searcher._renew_scratch)
log = logging.getLogger(__name__)


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
                "p.first_name_phonetic = $first_name_phonetic "
                f"AND p.last_name_phonetic = $last_name_phonetic AND {_NEAR_DOB}"),
    BlockingKey("first and last name swapped", ("first_name", "last_name"),
                "p.first_name = $last_name AND p.last_name = $first_name"),
    BlockingKey("ssn_last4, birth year", ("ssn_last4", "dob"),
                "p.ssn_last4 = $ssn_last4 "
                "AND p.dob BETWEEN make_date(year($dob), 1, 1) AND make_date(year($dob), 12, 31)"),
    BlockingKey("zip5, first and last name phonetic",
                ("zip5", "first_name_phonetic", "last_name_phonetic"),
                "p.zip5 = $zip5 AND p.first_name_phonetic = $first_name_phonetic "
                "AND p.last_name_phonetic = $last_name_phonetic"),
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

# The identifiers a query may give instead of (or beside) a name and a date of birth.
IDENTIFIERS = ("ssn", "ssn_last4", "cin", "mrn", "phone", "email")


def candidate_keys_sql(query: dict[str, Any]) -> str:
    """One narrow scan per key the query can use (only that key's columns are read: far
    cheaper at scale than one scan reading them all), deduplicated."""
    return "\nUNION\n".join(
        "SELECT p.record_key, p.source_record_id FROM person AS p "
        f"WHERE NOT p.is_deleted AND ({key.sql})"
        for key in SEARCH_BLOCKING if key.applies(query))


_LAND_QUERY = """
INSERT INTO source_record (run_id, source_system, source_kind, source_file, source_row,
    source_record_id, is_deleted, first_name, last_name, dob, ssn, zip, cin, mrn, phone,
    email, raw)
VALUES (0, 'search', 'search', '', 0, 'query', false, $first_name, $last_name, $dob, $ssn,
    $zip, $cin, $mrn, $phone, $email, '{}')"""

_DOB_PROBLEMS = {
    "partial": "dob: give a full date of birth, YYYY-MM-DD",
    "unparseable": "dob: not a date; expected YYYY-MM-DD",
    "invalid": "dob: not a usable date of birth (no such day, before 1900 or a placeholder "
               "date)",
}


@dataclass(frozen=True)
class PersonQuery:
    """What a user knows about the person; empty strings count as not given. A query needs
    a name with a date of birth or a ZIP code, or an identifier (IDENTIFIERS)."""

    dob: str | dt.date | None = None
    first_name: str | None = None
    last_name: str | None = None
    ssn_last4: str | None = None
    zip5: str | None = None
    ssn: str | None = None
    cin: str | None = None
    mrn: str | None = None
    phone: str | None = None
    email: str | None = None

    def landed(self) -> dict[str, str | None]:
        """The query as a landed record's raw values, checked for what only a user gets wrong."""
        given = {name: _given(getattr(self, name)) for name in (
            "first_name", "last_name", "dob", "ssn_last4", "zip5", *IDENTIFIERS)}
        named = given["first_name"] is not None or given["last_name"] is not None
        identified = any(given[name] is not None for name in IDENTIFIERS)
        if not identified and not named:
            raise LinkageError("search: give a first or last name with a date of birth, or an "
                               "identifier (ssn, ssn_last4, cin, mrn, phone, email)")
        if not identified and given["dob"] is None and given["zip5"] is None:
            raise LinkageError("search: give a date of birth (dob, YYYY-MM-DD) with the name, "
                               "or an identifier")
        if given["ssn_last4"] is not None and not re.fullmatch(r"[0-9]{4}", given["ssn_last4"]):
            raise LinkageError("ssn_last4: expected the last four digits of an SSN")
        return {"first_name": given["first_name"], "last_name": given["last_name"],
                "dob": given["dob"], "ssn": given["ssn"] or given["ssn_last4"],
                "zip": given["zip5"], "cin": given["cin"], "mrn": given["mrn"],
                "phone": given["phone"], "email": given["email"]}


def _given(value: Any) -> str | None:
    if isinstance(value, dt.date):
        return value.isoformat()
    if value is None or not str(value).strip():
        return None
    return str(value).strip()


@dataclass(frozen=True)
class Evidence:
    """One comparison of the model: Splink's columns for it in a prediction, and the label
    of each of its levels by comparison vector value."""

    name: str
    gamma: str
    weight: str
    tf_weight: str | None
    labels: dict[int, str]
    inputs: tuple[str, ...] = ()  # the person columns its levels read

    @property
    def columns(self) -> list[str]:
        return [self.gamma, self.weight] + ([self.tf_weight] if self.tf_weight else [])


RESULT_COLUMNS = ("rank", "enterprise_id", "match_probability", "match_weight", "record_key",
                  "source_system", "source_record_id", "records_scored")
_EMPTY_TYPES = {"match_probability": float, "match_weight": float, "records_scored": "int64"}


class Searcher:
    """The store opened read-only once, for many searches. Not safe to share across threads.

    Opening reads the model and installs the standardization rules (~0.2 s). With `preload`
    it also copies the current crosswalk into an indexed in-memory table and the term
    frequencies into lookup tables (~0.8 s and ~120 MB per million records), so each search
    looks them up instead of scanning the crosswalk and `person` (~70 ms at a million
    records); a single search is cheaper without. While a searcher is open, DuckDB's file
    lock keeps a run from writing the store: close it (or use `with`) when done.
    """

    def __init__(self, store: Store, model: dict[str, Any], model_path: Path, *,
                 preload: bool = True) -> None:
        self._store = store
        self._model = model
        self._cache_key = f"linkage.search:{model_fingerprint(model_path)}"
        self._evidence = _evidence(model)
        self._tf_columns = tf_columns(model)
        self._unique_id = model.get("unique_id_column_name", "unique_id")
        self._preloaded = preload
        self.seconds: dict[str, float] = {}  # the last search's time per step
        self._scratch = self._open_scratch()
        self._db_api = DuckDBAPI(self._scratch.con)
        self._scratch_searches = 0
        if preload:
            try:
                self._preload()
            except BaseException:
                self._scratch.close()
                raise

    def _preload(self) -> None:
        """The current EIDs by record key (indexed) and the term frequencies, in memory."""
        self._store.run_steps(STAGE, [
            Step("current_eid", """
CREATE OR REPLACE TEMP TABLE search_eid AS
SELECT source_system || ':' || source_record_id AS record_key, enterprise_id
FROM crosswalk WHERE valid_to_run IS NULL"""),
            Step("current_eid_index",
                 "CREATE UNIQUE INDEX search_eid_key ON search_eid (record_key)"),
            *(Step(f"term_frequency_{i}", f"""
CREATE OR REPLACE TEMP TABLE search_tf_{i} AS
SELECT {quote_identifier(column)} AS value,
    count(*)::DOUBLE / sum(count(*)) OVER () AS term_frequency
FROM person WHERE NOT is_deleted AND {quote_identifier(column)} IS NOT NULL GROUP BY ALL""")
              for i, column in enumerate(self._tf_columns)),
        ])

    @staticmethod
    def _open_scratch() -> Store:
        scratch = open_store(":memory:", create=True)
        try:
            install(scratch)
        except BaseException:
            scratch.close()
            raise
        return scratch

    def _renew_scratch(self) -> None:
        """A fresh scratch connection: each standardization replaces a dozen temp tables,
        and a DuckDB connection slows down with such churn (+35% after 600 queries,
        measured; a new connection is back to full speed). Costs ~0.2 s, every
        SCRATCH_SEARCHES searches."""
        self._scratch.close()
        self._scratch = self._open_scratch()
        self._db_api = DuckDBAPI(self._scratch.con)
        self._scratch_searches = 0

    @classmethod
    def open(cls, store_path: str | Path, model_path: str | Path, *,
             preload: bool = True) -> Searcher:
        model = load_model(Path(model_path))
        store = open_store(store_path, read_only=True)
        try:
            model = population_model(store, model)
            return cls(store, model, Path(model_path), preload=preload)
        except BaseException:
            store.close()
            raise

    @property
    def store(self) -> Store:
        """The store this searcher reads (open read-only)."""
        return self._store

    def __enter__(self) -> Searcher:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        self._scratch.close()
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
        if self._scratch_searches >= SCRATCH_SEARCHES:
            self._renew_scratch()
        self._scratch_searches += 1
        query = self._standardize(PersonQuery(dob, first_name, last_name, ssn_last4, zip5,
                                              ssn, cin, mrn, phone, email))
        self._lap("standardize", started)
        candidates = self._candidates(query)
        if sources is not None and candidates.num_rows:
            candidates = candidates.filter(pc.is_in(candidates.column("source_system"),
                                                    pa.array(list(sources), pa.string())))
        self._lap("candidates", started)
        ranked = self._score(query, candidates, limit) if candidates.num_rows else None
        self._lap("score", started)
        log.debug("search: %d candidate records, %d enterprise IDs returned",
                  candidates.num_rows, 0 if ranked is None else len(ranked))
        return self._frame(ranked)

    def _lap(self, step: str, started: float) -> None:
        self.seconds[step] = time.perf_counter() - started - sum(self.seconds.values())

    def _standardize(self, query: PersonQuery) -> dict[str, Any]:
        """The query as a standardized person row (the model's columns and dob_quality)."""
        landed = query.landed()
        self._scratch.run_steps(STAGE, [
            Step("clear_query", "DELETE FROM source_record"),
            Step("land_query", _LAND_QUERY, landed),
        ])
        standardize(self._scratch, rules_installed=True)
        names = [*MODEL_COLUMNS, "dob_quality", "mrn"]
        row = dict(zip(names, self._scratch.run_step(STAGE, Step(
            "standardized_query", f"SELECT {', '.join(names)} FROM person"))[0], strict=True))
        if landed["dob"] is not None and row["dob"] is None:
            raise LinkageError(_DOB_PROBLEMS.get(row["dob_quality"], _DOB_PROBLEMS["invalid"]))
        for field, column, problem in (
                ("ssn", "ssn_last4", "ssn: not a valid SSN or the last four digits of one"),
                ("zip", "zip5", "zip5: expected a 5-digit ZIP code"),
                ("cin", "cin", "cin: not a Medi-Cal CIN (8 digits and a letter)"),
                ("mrn", "mrn", "mrn: empty once standardized"),
                ("phone", "phone", "phone: expected a 10-digit phone number"),
                ("email", "email", "email: not an e-mail address")):
            if landed[field] is not None and row[column] is None:
                raise LinkageError(problem)
        if row["first_name"] is None and row["last_name"] is None and not any(
                row[name] is not None for name in IDENTIFIERS):
            raise LinkageError("search: the name given is a placeholder or has no letters; "
                               "give a first or last name")
        if row["dob"] is None and row["zip5"] is None and not any(
                row[name] is not None for name in IDENTIFIERS):
            raise LinkageError("search: give a date of birth (dob, YYYY-MM-DD) with the name, "
                               "or an identifier")
        return row

    def _candidates(self, query: dict[str, Any]) -> pa.Table:
        """Active records sharing a blocking key with the query: the model's columns, null
        term frequencies (Splink takes the query's: an exact match, the only level they
        adjust, has one value on both sides) and the record's current EID."""
        store = self._store
        keys_sql = candidate_keys_sql(query)
        found = store.run_step(STAGE, Step("candidate_keys", keys_sql,
                                           _parameters(keys_sql, query)))
        if not found:
            return pa.table({})
        keys = [key for key, _ in found]
        listed, bound = _in_list("k", keys)
        records = store.run_arrow(STAGE, Step("candidate_records", f"""
SELECT {', '.join(MODEL_COLUMNS)}, source_system, source_record_id FROM person
WHERE record_key IN ({listed}) ORDER BY record_key""", bound))
        if self._preloaded:
            eid_step = Step("candidate_eids", "SELECT record_key, enterprise_id FROM search_eid "
                                              f"WHERE record_key IN ({listed})", bound)
        else:
            ids, id_params = _in_list("i", sorted({record_id for _, record_id in found}))
            eid_step = Step("candidate_eids", f"""
SELECT source_system || ':' || source_record_id, enterprise_id FROM crosswalk
WHERE valid_to_run IS NULL AND source_record_id IN ({ids})""", id_params)
        eids = dict(store.run_step(STAGE, eid_step))
        for column in self._tf_columns:
            records = records.append_column(f"tf_{column}",
                                            pa.nulls(records.num_rows, pa.float64()))
        records = records.append_column("enterprise_id", pa.array(
            [eids.get(key) for key in records.column(self._unique_id).to_pylist()], pa.string()))
        return records.filter(pc.is_valid(records.column("enterprise_id")))

    def _term_frequencies(self, query: dict[str, Any]) -> dict[str, float | None]:
        """Each tf column's share of active records holding the query's value, as Splink
        computes it in a run; null when the query has no value there or no record has it."""
        if not self._tf_columns:
            return {}
        values = [query.get(column) for column in self._tf_columns]
        if self._preloaded:
            shares = ", ".join(
                f"(SELECT term_frequency FROM search_tf_{i} WHERE value = ${i + 1})"
                for i in range(len(values)))
            sql = f"SELECT {shares}"
        else:
            shares = ", ".join(
                f"count(*) FILTER (WHERE {quote_identifier(column)} = ${i})::DOUBLE"
                f" / nullif(count({quote_identifier(column)}), 0)"
                for i, column in enumerate(self._tf_columns, start=1))
            sql = f"SELECT {shares} FROM person WHERE NOT is_deleted"
        row = self._store.run_step(STAGE, Step("term_frequencies", sql, values))[0]
        return {f"tf_{column}": share or None
                for column, share in zip(self._tf_columns, row, strict=True)}

    def _query_table(self, query: dict[str, Any]) -> pa.Table:
        """The standardized query (still the scratch `person` row) with its term frequencies."""
        frequencies = self._term_frequencies(query)
        columns = ", ".join(f"$query_key AS {column}" if column == self._unique_id else column
                            for column in MODEL_COLUMNS)
        tf_columns = "".join(f", ${name}::DOUBLE AS {quote_identifier(name)}"
                             for name in frequencies)
        return self._scratch.run_arrow(STAGE, Step(
            "query_record", f"SELECT {columns}{tf_columns} FROM person",
            {"query_key": QUERY_KEY, **frequencies}))

    def _score(self, query: dict[str, Any], candidates: pa.Table, limit: int) -> pd.DataFrame:
        """Score query-candidate pairs with the model; keep each EID's best record."""
        con, uid = self._scratch.con, self._unique_id
        con.register("search_query", self._query_table(query))
        con.register("search_candidate", candidates)
        try:
            predictions = compare_records("search_query", "search_candidate", self._model,
                                          self._db_api, sql_cache_key=self._cache_key)
            try:
                evidence = ", ".join(quote_identifier(column) for item in self._evidence
                                     for column in item.columns
                                     if column != item.weight)
                weights, params = self._agreeing_weights(query)
                return self._scratch.run_arrow(STAGE, Step("rank", f"""
WITH scored AS (
    SELECT c.enterprise_id, s.{uid}_r AS record_key, c.source_system, c.source_record_id,
        s.match_weight AS model_weight, {weights}, {evidence}
    FROM {quote_identifier(predictions.physical_name)} AS s
    JOIN search_candidate AS c ON c.{uid} = s.{uid}_r
), weighed AS (
    SELECT *, model_weight + {' + '.join(f'({quote_identifier(item.weight)} - model_{i})'
                                         for i, item in enumerate(self._evidence))}
        AS match_weight
    FROM scored
)
SELECT enterprise_id, 1 / (1 + pow(2, -match_weight)) AS match_probability, match_weight,
    record_key, source_system, source_record_id,
    count(*) OVER (PARTITION BY enterprise_id) AS records_scored, * EXCLUDE (enterprise_id,
        match_weight, record_key, source_system, source_record_id, model_weight)
FROM weighed
QUALIFY row_number() OVER (PARTITION BY enterprise_id ORDER BY match_weight DESC,
    record_key) = 1
ORDER BY match_weight DESC, enterprise_id
LIMIT $limit""", {"limit": limit, **params})).to_pandas()
            finally:
                # Splink made this table; its cached-SQL path just does not mark it so.
                predictions.drop_table_from_database_and_remove_from_cache(
                    force_non_splink_table=True)
        finally:
            con.unregister("search_query")
            con.unregister("search_candidate")

    def _agreeing_weights(self, query: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        """Each comparison's weight (`mw_…` column, and `model_<i>` the model's) with one
        correction: a level at which every field the query gave agrees with the record
        weighs at least nothing. The model's levels are ordered, so a level also says which
        fields did *not* agree: same ZIP but not street or phone weighs -1.7 in a run. A
        query that gives only the ZIP has no street or phone to disagree, and its agreeing
        ZIP must not count against the record. Levels with a disagreeing given field (a
        birth date of the same year but another day) keep the model's weight."""
        columns, params = [], {}
        for i, item in enumerate(self._evidence):
            weight = quote_identifier(item.weight)
            total = weight + (f" + {quote_identifier(item.tf_weight)}" if item.tf_weight else "")
            agrees = []
            for column in item.inputs:
                if query.get(column) is None:
                    continue  # not given: cannot disagree
                params[f"q_{column}"] = query[column]
                agrees.append(f"c.{quote_identifier(column)} = $q_{column}")
            clamp = (f"CASE WHEN s.{quote_identifier(item.gamma)} > 0 AND ({total}) < 0"
                     f" AND {' AND '.join(agrees)} THEN -({total}) ELSE 0 END"
                     if agrees else "0")
            columns.append(f"{weight} AS model_{i}, {weight} + {clamp} AS {weight}")
        return ", ".join(columns), params

    def _frame(self, ranked: pd.DataFrame | None) -> pd.DataFrame:
        """Ranks, and each comparison's level label and weight in place of Splink's columns."""
        if ranked is None:
            ranked = pd.DataFrame({column: pd.Series(dtype=_EMPTY_TYPES.get(column, object))
                                   for column in RESULT_COLUMNS[1:]})
        columns: dict[str, Any] = {"rank": pd.RangeIndex(1, len(ranked) + 1).to_numpy()}
        columns.update({column: ranked[column].to_numpy() for column in RESULT_COLUMNS[1:]})
        for item in self._evidence:
            if item.gamma not in ranked:
                levels, weights = pd.Series(dtype=object), pd.Series(dtype=float)
            else:
                levels = ranked[item.gamma].map(item.labels)
                weights = ranked[item.weight] + (ranked[item.tf_weight] if item.tf_weight else 0)
            columns[f"{item.name}_level"] = levels.to_numpy()
            columns[f"{item.name}_weight"] = weights.to_numpy(dtype=float)
        return pd.DataFrame(columns)


def _parameters(sql: str, values: dict[str, Any]) -> dict[str, Any]:
    """The $name parameters `sql` uses (DuckDB refuses unused ones), from `values`."""
    return {name: values[name] for name in set(re.findall(r"\$([a-z_0-9]+)", sql))}


def _in_list(prefix: str, values: list[str]) -> tuple[str, dict[str, str]]:
    """An IN list of bound parameters: literal placeholders let DuckDB use the primary-key
    index and zone maps, where a joined list would scan."""
    names = [f"{prefix}{i}" for i in range(len(values))]
    return ", ".join(f"${name}" for name in names), dict(zip(names, values, strict=True))


def _evidence(model: dict[str, Any]) -> list[Evidence]:
    """The model's comparisons, read through Splink's own settings (its column naming)."""
    settings = SettingsCreator.from_path_or_dict(model).get_settings("duckdb")
    return [Evidence(
        comparison.output_column_name, comparison._gamma_column_name,
        comparison._mw_column_name,
        comparison._mw_tf_adj_column_name if comparison._has_tf_adjustments else None,
        {level.comparison_vector_value: level.label_for_charts
         for level in comparison.comparison_levels},
        tuple(column.input_name
              for column in comparison._input_columns_used_by_case_statement),
    ) for comparison in settings.comparisons]


def describe(found: pd.DataFrame) -> str:
    """Search results as text: one line per EID, then the comparisons that carried weight."""
    if found.empty:
        return "no candidates: no active record shares a blocking key with the query"
    comparisons = [column[:-len("_level")] for column in found.columns
                   if column.endswith("_level")]
    lines = [f"{len(found)} enterprise ID{'' if len(found) == 1 else 's'}, most likely first:"]
    for row in found.itertuples(index=False):
        row = row._asdict()
        lines.append(f"{row['rank']:>3}. {row['enterprise_id']}  probability "
                     f"{row['match_probability']:.4f}  weight {row['match_weight']:.2f}  "
                     f"best record {row['record_key']} (of {row['records_scored']} scored)")
        lines.append("       " + "; ".join(
            f"{name}: {row[name + '_level']} ({row[name + '_weight']:+.2f})"
            for name in comparisons if row[name + "_weight"]))
    return "\n".join(lines)


def as_json(found: pd.DataFrame) -> str:
    """Search results as one JSON object: `results`, best first, each with its `evidence`."""
    comparisons = [column[:-len("_level")] for column in found.columns
                   if column.endswith("_level")]
    results = []
    for row in found.itertuples(index=False):
        row = row._asdict()
        result = {column: row[column] for column in RESULT_COLUMNS}
        result["evidence"] = {name: {"level": row[name + "_level"],
                                     "weight": row[name + "_weight"]} for name in comparisons}
        results.append(result)
    return json.dumps({"results": results}, default=_json_value)


def _json_value(value: Any) -> Any:
    """numpy scalars (pandas hands them out) as plain numbers."""
    return value.item() if hasattr(value, "item") else str(value)
