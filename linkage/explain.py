"""Explanations: why two records scored as they did, and what holds an EID's records together.

    project = Project.open("configs/sample.yaml")
    pair = project.explain_pair("calsaws:19-8232535-01", "calsaws:19-8232535-02",
                                html="out/pair.html")
    pair.frame()                               # comparison, level, match_weight, ...
    eid = project.least_dense_clusters(1)["enterprise_id"][0]  # labels differ by store
    project.explain_cluster(eid).edges

    pair.chart()                               # the waterfall, rendered offline in a notebook
    project.explain_cluster(eid).chart()       # its members' pairs as a grid

Record values (names, dates of birth, identifiers) appear only with `show_values=True`,
in the returned objects and in the chart alike.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from linkage.charts import Chart, heatmap, write_owner_only
from linkage.crosswalk import resolve_enterprise_id
from linkage.errors import LinkageError
from linkage.link import active_persons, load_model, model_fingerprint, population_model
from linkage.link.full_names import common_full_names, pair_bits
from linkage.link.model import MODEL_COLUMNS
from linkage.link.splink_session import splink_linker
from linkage.store import Step, Store
from linkage.store.relations import ACTIVE_CROSSWALK, ACTIVE_MEMBER, DECISIONS_IN_FORCE

STAGE = "explain"

# What --show-values prints for a cluster's records (personal data).
MEMBER_VALUES = ("first_name", "middle_name", "last_name", "name_suffix", "dob", "sex",
                 "ssn_last4", "cin", "street", "city", "zip5", "phone", "email")

_PRIOR, _FINAL = "Prior", "Final score"  # Splink's names for the waterfall's first and last bars

# An EID's active records with every person column (the query picks the ones it shows).
_MEMBERS = f"""
WITH member AS (SELECT * FROM ({ACTIVE_MEMBER}) AS m WHERE m.enterprise_id = $eid)"""


@dataclass(frozen=True)
class ComparisonWeight:
    """One comparison's level for the pair and the weight it adds (log2 Bayes factor)."""

    comparison: str
    level: str
    match_weight: float  # the level's weight, its term-frequency adjustment included
    tf_adjustment: float = 0.0
    value_a: str | None = None  # only with show_values
    value_b: str | None = None


@dataclass(frozen=True)
class PairExplanation:
    record_a: str
    record_b: str
    prior_match_weight: float
    comparisons: list[ComparisonWeight]
    match_weight: float  # = prior_match_weight + the comparisons' match weights
    match_probability: float
    match_threshold: float
    stored_probability: float | None  # pair_score's; None when the last run kept no such pair
    enterprise_ids: tuple[str | None, str | None]
    notes: list[str] = field(default_factory=list)
    html: Path | None = None
    # Splink's waterfall as a vega-lite spec (record values only with show_values).
    chart_spec: dict[str, Any] | None = field(default=None, repr=False, compare=False)

    @property
    def is_match(self) -> bool:
        return self.match_probability >= self.match_threshold

    def chart(self) -> Chart:
        """Splink's waterfall chart of this pair: the prior, then each comparison's weight."""
        if self.chart_spec is None:
            raise LinkageError(f"{self.record_a} vs {self.record_b}: this explanation was made "
                               "without its chart")
        return Chart(self.chart_spec)

    def bars(self) -> list[ComparisonWeight]:
        """The waterfall's bars short of the final score: the prior, then each comparison."""
        prior = ComparisonWeight("prior", "Starting match weight (prior)", self.prior_match_weight)
        return [prior, *self.comparisons]

    def frame(self) -> pd.DataFrame:
        return pd.DataFrame([asdict(bar) for bar in self.bars()])

    def as_dict(self) -> dict[str, Any]:
        fields = {name: value for name, value in asdict(self).items() if name != "chart_spec"}
        return {**fields, "is_match": self.is_match,
                "html": str(self.html) if self.html else None}

    def describe(self) -> str:
        width = max(len(bar.level) for bar in self.bars())
        lines = [f"{self.record_a} vs {self.record_b}"]
        for row in self.bars():
            line = f"  {row.comparison:<12} {row.level:<{width}} {row.match_weight:+8.2f}"
            if row.tf_adjustment:
                line += f" (term frequency {row.tf_adjustment:+.2f})"
            if row.value_a is not None:
                line += f"  [{row.value_a} | {row.value_b}]"
            lines.append(line)
        verdict = "a match" if self.is_match else "not a match"
        lines.append(f"  final match weight {self.match_weight:+.2f}, probability "
                     f"{self.match_probability:.6f} ({verdict} at threshold "
                     f"{self.match_threshold})")
        if self.stored_probability is None:
            lines.append("  last run: pair not kept (not blocked together, or below the predict "
                         "threshold)")
        else:
            lines.append(f"  last run: probability {self.stored_probability:.6f}")
        eid_a, eid_b = self.enterprise_ids
        same = " (the same)" if eid_a and eid_a == eid_b else ""
        lines.append(f"  enterprise IDs: {eid_a or 'none'} and {eid_b or 'none'}{same}")
        lines += [f"  note: {note}" for note in self.notes]
        if self.html:
            lines.append(f"  waterfall chart: {self.html}")
        return "\n".join(lines)


@dataclass(frozen=True)
class ClusterExplanation:
    requested: str  # the EID asked about
    enterprise_id: str  # the EID shown: the requested one, or the active one it was merged into
    active: bool
    retired_run: int | None  # of the requested EID
    merged_into: str | None
    members: pd.DataFrame  # record_key (+ MEMBER_VALUES with show_values)
    edges: pd.DataFrame  # record_key_l, record_key_r, match_weight, match_probability
    must_links: pd.DataFrame  # decision_id, record_key_a, record_key_b: reviewer links in force
    weaker_pairs: int  # scored pairs among the members below the match threshold
    match_threshold: float

    def as_dict(self) -> dict[str, Any]:
        frames = {"members": self.members, "edges": self.edges, "must_links": self.must_links}
        return {**{name: value for name, value in self.__dict__.items() if name not in frames},
                **{name: _records(frame) for name, frame in frames.items()}}

    def describe(self) -> str:
        lines = [self.enterprise_id]
        if self.requested != self.enterprise_id:
            lines[0] += (f" ({self.requested} was retired in run {self.retired_run} and merged "
                         f"into {self.merged_into})")
        if not self.active:
            lines[0] += " (inactive: its records were all removed upstream)"
        lines.append(f"  {len(self.members)} records:")
        for member in _records(self.members):
            values = [str(member[column] or "") for column in MEMBER_VALUES if column in member]
            lines.append(f"    {member['record_key']}" + (f"  [{' | '.join(values)}]"
                                                         if values else ""))
        lines.append(f"  {len(self.edges)} pairs at or above the match threshold "
                     f"{self.match_threshold}, strongest first:")
        for edge in self.edges.itertuples():
            lines.append(f"    {edge.record_key_l} - {edge.record_key_r}: probability "
                         f"{edge.match_probability:.6f}, weight {edge.match_weight:+.2f}")
        if len(self.must_links):
            lines.append(f"  {len(self.must_links)} must-link decisions in force:")
        for link in self.must_links.itertuples():
            lines.append(f"    {link.record_key_a} - {link.record_key_b}: decision "
                         f"{link.decision_id}")
        lines.append(f"  {self.weaker_pairs} weaker pairs among these records")
        return "\n".join(lines)

    def chart(self) -> Chart:
        """Member x member grid of the pairs at or above the match threshold, coloured by
        match weight: a record with a thin row is the weak link. Record keys only."""
        keys = list(self.members["record_key"])
        both_ways = pd.concat([
            self.edges.rename(columns={"record_key_l": "record_a", "record_key_r": "record_b"}),
            self.edges.rename(columns={"record_key_l": "record_b", "record_key_r": "record_a"}),
        ], ignore_index=True)[["record_a", "record_b", "match_weight", "match_probability"]]
        return heatmap(both_ways, x="record_a", y="record_b", color="match_weight",
                       domain=keys, tooltip=["match_probability"],
                       title=f"{self.enterprise_id}: pairs at or above {self.match_threshold}")


def explain_pair(store: Store, model_path: Path, record_a: str, record_b: str,
                 match_threshold: float, *, html: Path | None = None,
                 show_values: bool = False) -> PairExplanation:
    """Score one pair with the model, as a run would, and break its match weight down."""
    if record_a == record_b:
        raise LinkageError(f"{record_a}: give two different records to explain")
    model = population_model(store, load_model(model_path))
    found = {key: (deleted, eid) for key, deleted, eid in store.run_step(STAGE, Step(
        "find_records", f"""
SELECT p.record_key, p.is_deleted, cw.enterprise_id
FROM person AS p LEFT JOIN ({ACTIVE_CROSSWALK}) AS cw
    ON cw.source_system = p.source_system AND cw.source_record_id = p.source_record_id
WHERE p.record_key IN ($a, $b)""", {"a": record_a, "b": record_b}))}
    for key in (record_a, record_b):
        if key not in found:
            raise LinkageError(f"{key}: no such record in the store (record keys are "
                               "source_system:source_record_id)")
    columns = ", ".join(MODEL_COLUMNS)
    records = [store.run_arrow(STAGE, Step("record", f"SELECT {columns} FROM person "
                                           "WHERE record_key = $key", {"key": key}))
               for key in (record_a, record_b)]
    # The waterfall needs the columns Splink drops by default; scoring is unchanged.
    settings = {**model, "retain_matching_columns": True,
                "retain_intermediate_calculation_columns": True}
    # Term frequencies come from the whole active population, as in a run.
    with splink_linker(active_persons(store, STAGE), settings) as linker:
        left, right = (linker.table_management.register_table(table, name)
                       for table, name in zip(records, ("explain_record_a", "explain_record_b")))
        scored = linker.inference.score_pair(left, right).as_record_list()
        chart = linker.visualisations.waterfall_chart(scored, remove_sensitive_data=not show_values)
    bars = chart.raw_records
    if html is not None:
        html = write_owner_only(chart.to_html(inline=True), Path(html))
    comparisons = _comparison_weights(bars, show_values)
    match_weight = scored[0]["match_weight"]
    full_name = _full_name_weight(store, record_a, record_b)
    if full_name is not None:
        comparisons.append(full_name)
        match_weight += full_name.match_weight
    return PairExplanation(
        record_a, record_b,
        prior_match_weight=next(bar["log2_bayes_factor"] for bar in bars
                                if bar["column_name"] == _PRIOR),
        comparisons=comparisons,
        match_weight=match_weight,
        match_probability=(scored[0]["match_probability"] if full_name is None
                           else 1 / (1 + 2 ** -match_weight)),
        match_threshold=match_threshold,
        stored_probability=_stored_probability(store, record_a, record_b),
        enterprise_ids=(found[record_a][1], found[record_b][1]),
        notes=_pair_notes(store, model_path, found),
        html=html,
        chart_spec=Chart.from_splink(chart).spec,
    )


def _comparison_weights(bars: list[dict], show_values: bool) -> list[ComparisonWeight]:
    """Fold Splink's waterfall bars (a level bar, then a `tf_` bar when the comparison has
    term-frequency adjustments) into one row per comparison."""
    tf = {bar["column_name"][3:]: bar["log2_bayes_factor"] for bar in bars
          if bar["term_frequency_adjustment"]}
    rows = []
    for bar in bars:
        if bar["column_name"] in (_PRIOR, _FINAL) or bar["term_frequency_adjustment"]:
            continue
        name, adjustment = bar["column_name"], tf.get(bar["column_name"], 0.0)
        rows.append(ComparisonWeight(
            name, bar["label_for_charts"], bar["log2_bayes_factor"] + adjustment, adjustment,
            bar["value_l"] if show_values else None, bar["value_r"] if show_values else None))
    return rows


def _full_name_weight(store: Store, record_a: str, record_b: str) -> ComparisonWeight | None:
    """What a run takes off a pair whose records bear one full name commoner in the
    population than its given and family names apart (`link/full_names.py`), or None."""
    join, bits = pair_bits("l", "r")
    store.run_step(STAGE, common_full_names())
    rows = store.run_step(STAGE, Step("full_name_bits", f"""
SELECT {bits} FROM person AS l JOIN person AS r ON l.record_key = $a AND r.record_key = $b
{join}""", {"a": record_a, "b": record_b}))
    if not rows or not rows[0][0]:
        return None
    return ComparisonWeight("full_name", "full name commoner than its parts", rows[0][0])


def _stored_probability(store: Store, record_a: str, record_b: str) -> float | None:
    rows = store.run_step(STAGE, Step("stored_pair", """
SELECT match_probability FROM pair_score
WHERE (record_key_l = $a AND record_key_r = $b) OR (record_key_l = $b AND record_key_r = $a)""",
                                      {"a": record_a, "b": record_b}))
    return rows[0][0] if rows else None


def _pair_notes(store: Store, model_path: Path, found: dict[str, tuple]) -> list[str]:
    notes = [f"{key} was deleted upstream: it is in no cluster"
             for key, (deleted, _) in found.items() if deleted]
    last_run = store.run_step(STAGE, Step("last_run", """
SELECT run_id, model_fingerprint FROM run ORDER BY run_id DESC LIMIT 1"""))
    if last_run and last_run[0][1] != model_fingerprint(model_path):
        notes.append(f"the model file differs from the one that scored run {last_run[0][0]}; "
                     "scores may differ from the last run's")
    return notes


def explain_cluster(store: Store, enterprise_id: str, match_threshold: float, *,
                    show_values: bool = False) -> ClusterExplanation:
    """An EID's records, the scored pairs and must-links that join them, strongest first."""
    resolved = resolve_enterprise_id(store, enterprise_id)
    if resolved is None:
        raise LinkageError(f"{enterprise_id}: no such enterprise ID was ever issued")
    shown, active = resolved
    retired_run, merged_into = store.run_step(STAGE, Step(
        "requested_eid", "SELECT retired_run, merged_into FROM enterprise_id "
                         "WHERE enterprise_id = $eid", {"eid": enterprise_id}))[0]
    columns = ["record_key", *(MEMBER_VALUES if show_values else ())]
    members = _frame(store, "members", columns, f"""
{_MEMBERS} SELECT {', '.join(columns)} FROM member ORDER BY record_key""", shown)
    pairs = _frame(store, "member_pairs", ["record_key_l", "record_key_r", "match_weight",
                                           "match_probability"], f"""
{_MEMBERS} SELECT record_key_l, record_key_r, match_weight, match_probability FROM pair_score
WHERE record_key_l IN (SELECT record_key FROM member)
    AND record_key_r IN (SELECT record_key FROM member)
ORDER BY match_probability DESC, match_weight DESC, record_key_l, record_key_r""", shown)
    # The newest decision on a pair is the one in force.
    must_links = _frame(store, "member_must_links",
                        ["decision_id", "record_key_a", "record_key_b"], f"""
{_MEMBERS}, in_force AS ({DECISIONS_IN_FORCE})
SELECT decision_id, record_key_a, record_key_b FROM in_force
WHERE decision = 'must_link' AND record_key_a IN (SELECT record_key FROM member)
    AND record_key_b IN (SELECT record_key FROM member)
ORDER BY decision_id""", shown)
    strong = pairs["match_probability"] >= match_threshold
    return ClusterExplanation(
        enterprise_id, shown, active, retired_run, merged_into, members,
        pairs[strong].reset_index(drop=True), must_links, int((~strong).sum()), match_threshold)


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows as dicts with None, not NaN, for a missing value (NaN is not JSON)."""
    return frame.astype(object).where(frame.notna(), None).to_dict("records")


def _frame(store: Store, name: str, columns: list[str], sql: str,
           enterprise_id: str) -> pd.DataFrame:
    rows = store.run_step(STAGE, Step(name, sql, {"eid": enterprise_id}))
    return pd.DataFrame(rows, columns=columns)
