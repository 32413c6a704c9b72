"""Labelled record pairs, scored by the model, for calibrating its probabilities.

Labels come from a CSV file (`record_a`, `record_b`: source_system:source_record_id, and
`match`: 1/0, true/false, yes/no, must_link/cannot_link) or from the reviewers' decisions
in force in a store (`reviewer`). Each labelled pair of active records is scored by the
model over the store's active records, as a run scores it (the population's prior, term
frequencies of the whole population).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any


from linkage.errors import LinkageError, SourceError, StoreError
from linkage.link.model import MODEL_COLUMNS
from linkage.link.splink_session import active_persons, splink_linker
from linkage.store import Step, Store
from linkage.store.schema import DECISIONS_IN_FORCE

STAGE = "calibrate"
REVIEWER_LABELS = "reviewer"
LABEL_COLUMNS = ("record_a", "record_b", "match")
_TRUE = ("1", "true", "yes", "y", "match", "must_link", "same")
_FALSE = ("0", "false", "no", "n", "non_match", "cannot_link", "different")
# Labelled pairs scored at once (Splink scores the left records against the right ones).
_CHUNK = 300


@dataclass(frozen=True)
class ScoredLabels:
    weights: list[float]
    labels: list[int]
    source_pairs: list[tuple[str, str]]
    unknown_records: int  # labelled pairs left out: a record not active in the store


def csv_columns(store: Store, path: Path, what: str) -> set[str]:
    """The header of the CSV file at `path` (a truth or labels file: `what`), with a clear
    error when it is missing or not CSV."""
    if not path.is_file():
        raise SourceError(f"{path}: {what} file not found")
    try:
        return {row[0] for row in store.run_step(STAGE, Step(
            f"{what}_header", "SELECT column_name FROM (DESCRIBE SELECT * FROM read_csv($path, "
            "header = true, all_varchar = true))", {"path": str(path)}))}
    except StoreError as error:
        raise SourceError(f"{path}: cannot read as CSV "
                          f"({error.__cause__.__class__.__name__})") from None


def load_labels(store: Store, labels: str | Path) -> int:
    """Temp table `label_pair(record_key_l, record_key_r, is_match)`; the number of rows."""
    if str(labels) == REVIEWER_LABELS:
        store.run_step(STAGE, Step("label_pair", """
CREATE OR REPLACE TEMP TABLE label_pair AS
SELECT key_l AS record_key_l, key_r AS record_key_r,
    CASE WHEN decision = 'must_link' THEN 1 ELSE 0 END AS is_match
FROM (""" + DECISIONS_IN_FORCE + ") AS in_force"))
    else:
        path = Path(labels)
        columns = csv_columns(store, path, "labels")
        missing = [column for column in LABEL_COLUMNS if column not in columns]
        if missing:
            raise SourceError(f"{path}: missing required column(s) {', '.join(missing)} in the "
                              "labels file (record_a, record_b, match)")
        store.run_step(STAGE, Step("label_pair", """
CREATE OR REPLACE TEMP TABLE label_pair AS
SELECT least(trim(record_a), trim(record_b)) AS record_key_l,
    greatest(trim(record_a), trim(record_b)) AS record_key_r,
    CASE WHEN lower(trim(match)) IN (SELECT unnest($yes)) THEN 1
         WHEN lower(trim(match)) IN (SELECT unnest($no)) THEN 0 END AS is_match
FROM read_csv($path, header = true, all_varchar = true)""",
                                   {"path": str(path), "yes": list(_TRUE), "no": list(_FALSE)}))
        unreadable = store.scalar(STAGE, "unreadable_labels",
                                  "SELECT count(*) FROM label_pair WHERE is_match IS NULL")
        if unreadable:
            raise SourceError(f"{path}: {unreadable} row(s) with a 'match' value that is none of "
                              f"{', '.join(_TRUE[:3])} / {', '.join(_FALSE[:3])}")
    return store.scalar(STAGE, "count_labels", "SELECT count(*) FROM label_pair")


def score_labels(store: Store, model: dict[str, Any]) -> ScoredLabels:
    """The match weight of every labelled pair of active records (`label_pair`)."""
    pairs = store.run_step(STAGE, Step("labelled_active_pairs", """
SELECT record_key_l, record_key_r, is_match FROM label_pair
WHERE record_key_l IN (SELECT record_key FROM person WHERE NOT is_deleted)
    AND record_key_r IN (SELECT record_key FROM person WHERE NOT is_deleted)
    AND record_key_l <> record_key_r
ORDER BY record_key_l, record_key_r"""))
    total = store.scalar(STAGE, "count_labels", "SELECT count(*) FROM label_pair")
    if not pairs:
        raise LinkageError("none of the labelled pairs are two active records of the store")
    columns = ", ".join(MODEL_COLUMNS)
    weights: dict[tuple[str, str], float] = {}
    with splink_linker(active_persons(store, STAGE), model) as linker:
        for start in range(0, len(pairs), _CHUNK):
            chunk = pairs[start:start + _CHUNK]
            sides = []
            for side, keys in (("l", [p[0] for p in chunk]), ("r", [p[1] for p in chunk])):
                table = store.run_arrow(STAGE, Step(f"label_records_{side}", f"""
SELECT DISTINCT {columns} FROM person WHERE record_key IN (SELECT unnest($keys))""",
                                                    {"keys": sorted(set(keys))}))
                sides.append(linker.table_management.register_table(
                    table, f"label_records_{side}_{start}", overwrite=True))
            scored = linker.inference.score_pairs(sides[0], sides[1])
            wanted = {(left, right) for left, right, _ in chunk}
            for row in scored.as_duckdbpyrelation().select(
                    "record_key_l, record_key_r, match_weight").fetchall():
                key = (row[0], row[1]) if row[0] < row[1] else (row[1], row[0])
                if key in wanted:
                    weights[key] = row[2]
    kept = [(left, right, label) for left, right, label in pairs if (left, right) in weights]
    return ScoredLabels([weights[(left, right)] for left, right, _ in kept],
                        [int(label) for _, _, label in kept],
                        [(left.split(":", 1)[0], right.split(":", 1)[0]) for left, right, _ in kept],
                        total - len(kept))
