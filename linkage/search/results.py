"""Search results: one row per EID, best first, with each comparison's level and weight
for the EID's best-matching record; as a frame, as text and as JSON."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from linkage.link.comparison_levels import Comparison

RESULT_COLUMNS = ("rank", "enterprise_id", "match_probability", "match_weight", "record_key",
                  "source_system", "source_record_id", "records_scored")
_EMPTY_TYPES = {"match_probability": float, "match_weight": float, "records_scored": "int64"}


def ranked_frame(ranked: dict[str, np.ndarray] | None,
                 comparisons: list[Comparison]) -> pd.DataFrame:
    """The ranked records (RESULT_COLUMNS but rank, and per comparison `gamma_<i>` and
    `weight_<i>`) as RESULT_COLUMNS, then per comparison `<name>_level` (its label) and
    `<name>_weight`."""
    import pandas as pd

    if ranked is None:
        ranked = {column: pd.Series(dtype=_EMPTY_TYPES.get(column, object)).to_numpy()
                  for column in RESULT_COLUMNS[1:]}
    columns: dict[str, Any] = {"rank": pd.RangeIndex(1, len(ranked["enterprise_id"]) + 1)
                               .to_numpy()}
    columns.update({column: ranked[column] for column in RESULT_COLUMNS[1:]})
    for i, comparison in enumerate(comparisons):
        gammas = ranked.get(f"gamma_{i}", [])
        columns[f"{comparison.name}_level"] = pd.Series(
            [comparison.labels.get(int(gamma)) for gamma in gammas], dtype=object).to_numpy()
        columns[f"{comparison.name}_weight"] = pd.Series(
            ranked.get(f"weight_{i}", []), dtype=float).to_numpy()
    return pd.DataFrame(columns)


def ranked_records(ranked: dict[str, np.ndarray] | None,
                   comparisons: list[Comparison]) -> list[dict[str, Any]]:
    """The same rows as `ranked_frame`, as plain dicts (no pandas: a CLI search starts
    faster without it)."""
    if ranked is None:
        return []
    records = []
    for row in range(len(ranked["enterprise_id"])):
        record: dict[str, Any] = {"rank": row + 1}
        record.update({column: _plain(ranked[column][row]) for column in RESULT_COLUMNS[1:]})
        for i, comparison in enumerate(comparisons):
            record[f"{comparison.name}_level"] = comparison.labels.get(
                int(ranked[f"gamma_{i}"][row]))
            record[f"{comparison.name}_weight"] = float(ranked[f"weight_{i}"][row])
        records.append(record)
    return records


def _plain(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value


def _rows(found: pd.DataFrame | list[dict[str, Any]]) -> list[dict[str, Any]]:
    return found if isinstance(found, list) else found.to_dict("records")


def _comparison_names(rows: list[dict[str, Any]]) -> list[str]:
    return [column[:-len("_level")] for column in rows[0] if column.endswith("_level")] \
        if rows else []


def describe(found: pd.DataFrame | list[dict[str, Any]]) -> str:
    """Search results (a frame or records) as text: one line per EID, then the comparisons
    that carried weight."""
    rows = _rows(found)
    if not rows:
        return "no candidates: no active record shares a blocking key with the query"
    comparisons = _comparison_names(rows)
    lines = [f"{len(rows)} enterprise ID{'' if len(rows) == 1 else 's'}, most likely first:"]
    for row in rows:
        lines.append(f"{row['rank']:>3}. {row['enterprise_id']}  probability "
                     f"{row['match_probability']:.4f}  weight {row['match_weight']:.2f}  "
                     f"best record {row['record_key']} (of {row['records_scored']} scored)")
        lines.append("       " + "; ".join(
            f"{name}: {row[name + '_level']} ({row[name + '_weight']:+.2f})"
            for name in comparisons if row[name + "_weight"]))
    return "\n".join(lines)


def as_json(found: pd.DataFrame | list[dict[str, Any]]) -> str:
    """Search results (a frame or records) as one JSON object: `results`, best first, each
    with its `evidence`."""
    rows = _rows(found)
    comparisons = _comparison_names(rows)
    results = []
    for row in rows:
        result = {column: row[column] for column in RESULT_COLUMNS}
        result["evidence"] = {name: {"level": row[name + "_level"],
                                     "weight": row[name + "_weight"]} for name in comparisons}
        results.append(result)
    return json.dumps({"results": results}, default=_json_value)


def _json_value(value: Any) -> Any:
    """numpy scalars (pandas hands them out) as plain numbers."""
    return value.item() if hasattr(value, "item") else str(value)
