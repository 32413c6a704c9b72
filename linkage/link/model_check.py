"""A model file checked before anything runs: its shape, its probabilities, and its SQL
compiled against the person columns scoring reads.

A model is a file a user can edit, copy from another county or truncate; what is wrong with
it must show when it is loaded (exit 2 naming the file), not minutes later as a failure
inside Splink. Compiling costs milliseconds: every comparison level's condition and every
blocking rule is prepared by DuckDB over an empty table of the person columns.
"""

from __future__ import annotations

import math
import re
from typing import Any

import duckdb
from splink import SettingsCreator

from linkage.errors import ModelError, database_message
from linkage.link.model import MODEL_COLUMNS
from linkage.store.connection import connect
from linkage.store.schema import TABLES


def check_model(model: object) -> None:
    """Raise ModelError (without the file name: the caller adds it) unless `model` is a
    Splink model that linkage can score with."""
    if not isinstance(model, dict):
        raise ModelError("not a Splink model (expected a JSON object)")
    comparisons = model.get("comparisons")
    if not isinstance(comparisons, list) or not comparisons:
        raise ModelError("not a Splink model (no 'comparisons' list)")
    _check_probability(model.get("probability_two_random_records_match"),
                       "probability_two_random_records_match", required=False, zero=False)
    unique_id = model.get("unique_id_column_name", "unique_id")
    if unique_id not in MODEL_COLUMNS:
        raise ModelError("'unique_id_column_name' is not a person column (expected "
                         "'record_key')")
    if model.get("link_type", "dedupe_only") != "dedupe_only":
        raise ModelError("'link_type' must be 'dedupe_only' (linkage links one table of "
                         "every source's records)")
    conditions: list[tuple[str, str]] = []
    for number, comparison in enumerate(comparisons, start=1):
        name = _comparison_name(comparison, number)
        levels = comparison.get("comparison_levels") if isinstance(comparison, dict) else None
        if not isinstance(levels, list) or not levels:
            raise ModelError(f"comparison {name} has no 'comparison_levels' list")
        for level_number, level in enumerate(levels, start=1):
            where = f"comparison {name}, level {level_number}"
            if not isinstance(level, dict) or not isinstance(level.get("sql_condition"), str):
                raise ModelError(f"{where} has no 'sql_condition'")
            for key in ("m_probability", "u_probability"):
                _check_probability(level.get(key), f"{where}: '{key}'")
            column = level.get("tf_adjustment_column")
            if column is not None and column not in MODEL_COLUMNS:
                raise ModelError(f"{where}: 'tf_adjustment_column' is not a person column "
                                 f"(expected one of {', '.join(MODEL_COLUMNS)})")
            if level["sql_condition"].strip().upper() != "ELSE":
                conditions.append((where, level["sql_condition"]))
    rules = model.get("blocking_rules_to_generate_predictions", [])
    if not isinstance(rules, list):
        raise ModelError("'blocking_rules_to_generate_predictions' is not a list")
    for number, rule in enumerate(rules, start=1):
        sql = rule.get("blocking_rule") if isinstance(rule, dict) else rule
        if not isinstance(sql, str):
            raise ModelError(f"blocking rule {number} has no 'blocking_rule' SQL")
        conditions.append((f"blocking rule {number}", _blocking_as_condition(sql)))
    _check_splink_reads_it(model)
    _compile(conditions)


def _comparison_name(comparison: object, number: int) -> str:
    name = comparison.get("output_column_name") if isinstance(comparison, dict) else None
    return f"{number} ('{name}')" if isinstance(name, str) and len(name) < 64 else str(number)


def _check_probability(value: object, where: str, *, required: bool = False,
                       zero: bool = True) -> None:
    if value is None and not required:
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)) \
            or not math.isfinite(value) or not (0 <= value <= 1) or (not zero and value == 0):
        raise ModelError(f"{where} is not a probability between 0 and 1")


def _blocking_as_condition(rule: str) -> str:
    """A blocking rule (`l.x = r.x`) as a condition over the `_l`/`_r` columns."""
    return re.sub(r'\b([lr])\."?([A-Za-z_][A-Za-z0-9_]*)"?', r'"\2_\1"', rule)


def _check_splink_reads_it(model: dict[str, Any]) -> None:
    """Splink's own reading of the settings (versions, link type, level shapes)."""
    try:
        SettingsCreator.from_path_or_dict(model).get_settings("duckdb")
    except Exception as error:  # Splink raises many kinds for a settings dict it rejects
        raise ModelError(f"Splink cannot read it as a model ({database_message(error)[:300]})") from None


def _compile(conditions: list[tuple[str, str]]) -> None:
    """Prepare every condition over an empty pair table of the person columns."""
    sides = ", ".join(f"{column} AS {column}_{side}"
                      for side in ("l", "r") for column in MODEL_COLUMNS)
    with connect() as con:
        con.execute(TABLES["person"])
        con.execute("SET enable_external_access = false")  # a model's SQL reads no files
        con.execute(f"CREATE TEMP TABLE model_pair AS SELECT {sides} FROM person")
        for where, condition in conditions:
            try:
                con.execute(f"SELECT count(*) FROM model_pair WHERE ({condition})").fetchall()
            except duckdb.Error as error:
                raise ModelError(f"{where}: its SQL does not compile against the person "
                                 f"columns ({database_message(error)[:300]})") from None

