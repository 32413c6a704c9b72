"""Review files: the uncertain pairs side by side, as CSV and as a self-contained HTML page,
and the import of a reviewed CSV back into decisions.

These files hold personal data by design (a reviewer must see both records); they are
written owner-only and nothing about their contents is logged.
"""

from __future__ import annotations

import html
from pathlib import Path

import duckdb

from linkage.config import LinkingConfig
from linkage.errors import LinkageError, SourceError
from linkage.link.cluster_quality import ACTIVE_MEMBERSHIP, flagged_params, flagged_sql
from linkage.outputs import output_file
from linkage.review.decisions import Decision, Recorded, record_decisions
from linkage.store import Step, Store, connect
from linkage.store.relations import ACTIVE_CROSSWALK, DECISIONS_IN_FORCE

STAGE = "review"

FIELDS = ("first_name", "middle_name", "last_name", "name_suffix", "dob", "sex", "ssn_last4",
          "cin", "mrn", "street", "unit", "city", "zip5", "phone", "email")
DECISION_WORDS = {"must_link": "must_link", "match": "must_link", "same": "must_link",
                  "cannot_link": "cannot_link", "non_match": "cannot_link",
                  "different": "cannot_link"}


def _review_sql(linking: LinkingConfig, include_decided: bool = False) -> tuple[str, dict]:
    """The pairs a reviewer should judge: those in the review band, then every scored pair
    inside a flagged EID (one still oversized or sparse after the run re-formed it). Pairs
    with a decision in force are left out, or, with `include_decided`, shown with it."""
    sides = ",\n    ".join(f"l.{field} AS {field}_l, r.{field} AS {field}_r" for field in FIELDS)
    return f"""
WITH flagged AS ({flagged_sql()}),
member AS (SELECT record_key, cluster_id AS enterprise_id FROM {ACTIVE_MEMBERSHIP}),
to_review AS (
    SELECT s.*, 'uncertain' AS review_reason, NULL AS flagged_eid FROM pair_score AS s
    WHERE s.match_probability >= $low AND s.match_probability < $high
    UNION ALL BY NAME
    SELECT s.*, 'flagged_cluster_' || f.reason AS review_reason, f.enterprise_id AS flagged_eid
    FROM pair_score AS s
    JOIN member AS ml ON ml.record_key = s.record_key_l
    JOIN member AS mr ON mr.record_key = s.record_key_r AND mr.enterprise_id = ml.enterprise_id
    JOIN flagged AS f ON f.enterprise_id = ml.enterprise_id
    WHERE s.match_probability < $low OR s.match_probability >= $high
)
SELECT s.record_key_l, s.record_key_r, round(s.match_probability, 4) AS match_probability,
    round(s.match_weight, 2) AS match_weight, s.review_reason,
    cl.enterprise_id AS enterprise_id_l, cr.enterprise_id AS enterprise_id_r,
    {sides},
    coalesce(d.decision, '') AS decision, coalesce(d.reason, '') AS reason
FROM to_review AS s
JOIN person AS l ON l.record_key = s.record_key_l
JOIN person AS r ON r.record_key = s.record_key_r
LEFT JOIN ({DECISIONS_IN_FORCE}) AS d
    ON d.key_l = least(s.record_key_l, s.record_key_r)
    AND d.key_r = greatest(s.record_key_l, s.record_key_r)
LEFT JOIN ({ACTIVE_CROSSWALK}) AS cl
    ON cl.source_system = l.source_system AND cl.source_record_id = l.source_record_id
LEFT JOIN ({ACTIVE_CROSSWALK}) AS cr
    ON cr.source_system = r.source_system AND cr.source_record_id = r.source_record_id
WHERE d.decision_id IS NULL OR $include_decided
ORDER BY s.flagged_eid NULLS FIRST, abs(s.match_weight), s.record_key_l, s.record_key_r""", {
        "low": linking.review_low, "high": linking.review_high,
        "include_decided": include_decided, **flagged_params(linking)}


def export_review(store: Store, out: Path, linking: LinkingConfig,
                  include_decided: bool = False) -> int:
    """Write the pairs to review (see `_review_sql`) to `out` (.csv or .html)."""
    if out.suffix.lower() not in (".csv", ".html"):
        raise LinkageError(f"{out}: review files are .csv or .html")
    sql, params = _review_sql(linking, include_decided)
    records = store.run_records(STAGE, Step("pairs_to_review", sql, params))
    with output_file(out, "review file") as scratch:  # personal data: owner-only
        if out.suffix.lower() == ".csv":
            store.write_file(STAGE, Step("write_review", sql, params), scratch, "csv")
        else:
            columns = list(records[0]) if records else _columns(store, sql, params)
            rows = [tuple(record.values()) for record in records]
            scratch.write_text(_html(columns, rows, linking.review_low, linking.review_high),
                               encoding="utf-8")
    return len(records)


def _columns(store: Store, sql: str, params: dict) -> list[str]:
    """The column names of a query that returned no rows."""
    return store.run_arrow(STAGE, Step("review_columns", sql, params)).column_names


def _html(columns: list[str], rows: list[tuple], low: float, high: float) -> str:
    index = {name: i for i, name in enumerate(columns)}
    cards = []
    for row in rows:
        lines = "".join(
            f"<tr{' class=differ' if row[index[f + '_l']] != row[index[f + '_r']] else ''}>"
            f"<th>{f}</th><td>{html.escape(str(row[index[f + '_l']] or ''))}</td>"
            f"<td>{html.escape(str(row[index[f + '_r']] or ''))}</td></tr>" for f in FIELDS)
        cards.append(
            f"<section><h2>{html.escape(row[0])} ↔ {html.escape(row[1])}</h2>"
            f"<p>{html.escape(row[index['review_reason']].replace('_', ' '))}: match "
            f"probability {row[2]} (weight {row[3]}); EIDs "
            f"{html.escape(str(row[index['enterprise_id_l']]))} / "
            f"{html.escape(str(row[index['enterprise_id_r']]))}</p>"
            f"<table><tr><th></th><th>record A</th><th>record B</th></tr>{lines}</table>"
            "</section>")
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>linkage review</title>
<style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:2px 8px;text-align:left}}tr.differ td{{background:#fde2e2}}
section{{margin-bottom:2em}}</style></head><body>
<h1>Pairs to review</h1>
<p>{len(rows)} pairs: those with match probability from {low} up to {high}, then the
pairs inside clusters flagged as too large or too loosely held together. Record your decision
(must_link or cannot_link) and a reason in the CSV export, then run
<code>linkage review import FILE</code>. Contains personal data: do not forward.</p>
{''.join(cards)}
</body></html>
"""


def import_review(store: Store, path: Path, reviewer: str) -> Recorded:
    """Record the decisions of a reviewed CSV (rows with an empty decision are skipped).
    A pair whose decision in force is the same is left as it is (importing a file twice
    records nothing new); two rows deciding one pair differently are refused."""
    if not path.is_file():
        raise SourceError(f"{path}: review file not found")
    try:
        with connect() as con:
            cursor = con.execute("SELECT * FROM read_csv($path, header = true, all_varchar = true)",
                                 {"path": str(path)})
            columns = [column[0] for column in cursor.description]
            rows = cursor.fetchall()
    except duckdb.Error as error:
        raise SourceError(f"{path}: cannot read as CSV ({error.__class__.__name__})") from None
    for column in ("record_key_l", "record_key_r", "decision", "reason"):
        if column not in columns:
            raise SourceError(f"{path}: missing required column '{column}' in the review file")
    index = {name: i for i, name in enumerate(columns)}
    decisions = []
    lines: dict[tuple[str, str], tuple[int, str]] = {}
    for number, row in enumerate(rows, start=2):
        word = (row[index["decision"]] or "").strip().lower()
        if not word:
            continue
        if word not in DECISION_WORDS:
            raise SourceError(f"{path}: line {number}: decision must be one of "
                              f"{', '.join(sorted(DECISION_WORDS))}")
        who = row[index["reviewer"]] if "reviewer" in index and row[index["reviewer"]] else reviewer
        decision = Decision((row[index["record_key_l"]] or "").strip(),
                            (row[index["record_key_r"]] or "").strip(),
                            DECISION_WORDS[word], who, row[index["reason"]] or "")
        first, earlier = lines.setdefault(decision.pair, (number, decision.decision))
        if earlier != decision.decision:
            raise SourceError(f"{path}: lines {first} and {number} decide one pair differently")
        decisions.append(decision)
    return record_decisions(store, decisions)
