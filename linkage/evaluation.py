"""Accuracy of the crosswalk against a truth file (source_system, source_record_id, person_id),
and Splink's accuracy charts of the model's pair scores against truth or reviewer labels.

Counts are set-based: the pairs a grouping implies are sum(n * (n - 1) / 2) over its
groups, so nothing enumerates pairs. Only records present in both the crosswalk and the
truth count.

>>> import duckdb
>>> con = duckdb.connect()
>>> _ = con.execute("CREATE TABLE crosswalk AS SELECT * FROM (VALUES "
...     "('E1', 'a', '1', 1, NULL), ('E1', 'a', '2', 1, NULL), ('E1', 'b', '9', 1, NULL)) "
...     "t(enterprise_id, source_system, source_record_id, valid_from_run, valid_to_run)")
>>> _ = con.execute("CREATE TABLE truth AS SELECT * FROM (VALUES "
...     "('a', '1', 'P1'), ('a', '2', 'P1'), ('b', '9', 'P2')) "
...     "t(source_system, source_record_id, person_id)")
>>> m = cluster_metrics(con, "truth")
>>> (m.true_pairs, m.predicted_pairs, m.matched_pairs, round(m.precision, 3), m.recall)
(1, 3, 1, 0.333, 1.0)
>>> con.close()
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

from linkage.charts import Chart
from linkage.config import LinkingConfig
from linkage.errors import LinkageError, SourceError
from linkage.link.cluster_quality import ClusterShape
from linkage.link.clustering import Clustering
from linkage.link.estimate import ACTIVE_CROSSWALK as ACTIVE_CROSSWALK_MEMBERSHIP
from linkage.link.estimate import (ClusterAccuracy, Estimate, estimate, f1_of,
                                   weigh_pairs)
from linkage.link.labels import csv_columns
from linkage.link.model import MODEL_COLUMNS
from linkage.link.score import cluster_scored_pairs
from linkage.link.splink_session import active_persons, splink_linker
from linkage.store import Step, Store
from linkage.store.schema import DECISIONS_IN_FORCE
from linkage.thresholds import SWEEP_THRESHOLDS  # re-exported: the thresholds analysts choose between

STAGE = "evaluate"


@dataclass(frozen=True)
class Metrics(ClusterAccuracy):
    """A clustering's accuracy against a truth file: its counts are whole numbers."""


# The active crosswalk, and clusters not yet published (a threshold sweep's), as
# (enterprise_id, source_system, source_record_id).
ACTIVE_CROSSWALK = "SELECT * FROM crosswalk WHERE valid_to_run IS NULL"
CLUSTERS = f"""SELECT m.cluster_id AS enterprise_id, p.source_system, p.source_record_id
FROM {Clustering().table} AS m JOIN person AS p USING (record_key)"""


def cluster_metrics(con: duckdb.DuckDBPyConnection, truth_table: str,
                    assignment: str = ACTIVE_CROSSWALK) -> Metrics:
    """Pairwise and B-cubed metrics of an assignment of records to enterprise IDs (by
    default the active crosswalk) against `truth_table`, in a DuckDB connection (a
    benchmark's); `store_metrics` is the same in a store. Both names are fixed by callers."""
    return _metrics(con.execute(_metrics_sql(truth_table, assignment)).fetchall()[0])


def store_metrics(store: Store, truth_table: str, assignment: str = ACTIVE_CROSSWALK) -> Metrics:
    """`cluster_metrics` of the store's tables."""
    return _metrics(store.run_step("evaluate", Step("cluster_metrics",
                                                    _metrics_sql(truth_table, assignment)))[0])


def _metrics_sql(truth_table: str, assignment: str) -> str:
    return f"""
WITH assigned AS ({assignment}), joined AS (
    SELECT cw.enterprise_id, t.person_id
    FROM assigned AS cw
    JOIN {truth_table} AS t USING (source_system, source_record_id)
), by_eid AS (SELECT enterprise_id, count(*) AS n FROM joined GROUP BY ALL),
by_person AS (SELECT person_id, count(*) AS n FROM joined GROUP BY ALL),
by_both AS (SELECT enterprise_id, person_id, count(*) AS n FROM joined GROUP BY ALL),
bcubed AS (
    SELECT sum(b.n * b.n / e.n) AS precision_sum, sum(b.n * b.n / p.n) AS recall_sum
    FROM by_both AS b JOIN by_eid AS e USING (enterprise_id) JOIN by_person AS p USING (person_id)
)
SELECT (SELECT count(*) FROM joined),
    (SELECT count(*) FROM by_person),
    (SELECT count(*) FROM by_eid),
    (SELECT coalesce(sum(n * (n - 1) // 2), 0) FROM by_person),
    (SELECT coalesce(sum(n * (n - 1) // 2), 0) FROM by_eid),
    (SELECT coalesce(sum(n * (n - 1) // 2), 0) FROM by_both),
    (SELECT precision_sum FROM bcubed), (SELECT recall_sum FROM bcubed)
"""


def _metrics(row: tuple) -> Metrics:
    records, persons, eids, true_pairs, predicted, matched, bp_sum, br_sum = row
    precision = matched / predicted if predicted else 1.0
    recall = matched / true_pairs if true_pairs else 1.0
    bp = bp_sum / records if records else 0.0
    br = br_sum / records if records else 0.0
    return Metrics(records, persons, eids, int(true_pairs), int(predicted), int(matched),
                   precision, recall, f1_of(precision, recall), bp, br, f1_of(bp, br))


TRUTH_COLUMNS = ("source_system", "source_record_id", "person_id")


def evaluate(store: Store, truth: Path) -> Metrics:
    """Metrics of the store's active crosswalk against a truth CSV file."""
    load_truth(store, truth)
    return store_metrics(store, "truth")


def threshold_sweep(store: Store, truth: Path, linking: LinkingConfig,
                    deduplicated_sources: Sequence[str],
                    thresholds: Sequence[float]) -> list[tuple[float, Metrics, ClusterShape]]:
    """Metrics at each match threshold, clustering the stored pair scores as a run would
    (constraints, splitting of sparse clusters). Thresholds below the run's predict
    threshold see only the pairs it kept. The store is not changed."""
    load_truth(store, truth)
    results = []
    for threshold in thresholds:
        at = linking.model_copy(update={"match_threshold": threshold})
        shape = cluster_scored_pairs(store, at, deduplicated_sources)
        results.append((threshold, store_metrics(store, "truth", CLUSTERS), shape))
    return results


def estimated_sweep(store: Store, linking: LinkingConfig, deduplicated_sources: Sequence[str],
                    thresholds: Sequence[float], rules: Sequence[str] = ()
                    ) -> tuple[Estimate, list[tuple[float, Estimate, ClusterShape]]]:
    """Without a truth file: the accuracy the model's own probabilities expect of the active
    crosswalk, and of the stored pair scores clustered at each threshold as a run would
    (linkage.link.estimate), counting the matches the prediction `rules` (their SQL, as the
    last run blocked with them) are estimated to have missed. The store is not changed."""
    unblocked = weigh_pairs(store, deduplicated_sources, rules)
    current = estimate(store, ACTIVE_CROSSWALK_MEMBERSHIP, unblocked)
    results = []
    for threshold in thresholds:
        at = linking.model_copy(update={"match_threshold": threshold})
        shape = cluster_scored_pairs(store, at, deduplicated_sources)
        results.append((threshold, estimate(store, unblocked=unblocked), shape))
    return current, results


def load_truth(store: Store, truth: Path) -> None:
    """The truth CSV as the temporary table `truth`, with a clear error if malformed."""
    columns = csv_columns(store, truth, "truth")
    for column in TRUTH_COLUMNS:
        if column not in columns:
            raise SourceError(f"{truth}: missing required column '{column}' in the truth file")
    store.run_step("evaluate", Step(
        "truth", "CREATE OR REPLACE TEMP TABLE truth AS SELECT source_system, source_record_id, "
        "person_id FROM read_csv($path, header = true, all_varchar = true)", {"path": str(truth)}))


# Splink's accuracy charts of the model's pair scores. These judge pairs before clustering
# (how well the match probability separates labelled matches from non-matches);
# `threshold_sweep` says what clustering at each threshold does to the EIDs.
ACCURACY_CHARTS = ("threshold_selection", "precision_recall", "accuracy", "roc")
REVIEWER_LABELS = "reviewer"
TRUTH_LABEL = "truth_person_id"  # the truth file's person_id beside each record

_TRUTH_PERSONS = f"""
SELECT {', '.join(f'p.{column}' for column in MODEL_COLUMNS)}, t.person_id AS {TRUTH_LABEL}
FROM person AS p JOIN truth AS t USING (source_system, source_record_id)
WHERE NOT p.is_deleted
ORDER BY p.record_key"""

# The reviewer decision in force on each pair of active records (the newest), as Splink's
# labels table: must-link 1, cannot-link 0.
_REVIEWER_LABELS = """
WITH in_force AS (
    SELECT key_l AS record_key_l, key_r AS record_key_r, decision
    FROM (""" + DECISIONS_IN_FORCE + """) AS decided
), active AS (SELECT record_key FROM person WHERE NOT is_deleted)
SELECT record_key_l, record_key_r,
    CASE WHEN decision = 'must_link' THEN 1.0 ELSE 0.0 END AS clerical_match_score
FROM in_force
WHERE record_key_l IN (SELECT record_key FROM active)
    AND record_key_r IN (SELECT record_key FROM active)
ORDER BY record_key_l, record_key_r"""


def accuracy_chart(store: Store, model: dict[str, Any], kind: str = "threshold_selection", *,
                   truth: Path | None = None, labels: str | None = None) -> Chart:
    """Splink's accuracy analysis of `model` over the store's active records: against a
    truth file (every pair of records, those blocking never scored counted at zero), or
    against the reviewers' decisions in force (`labels="reviewer"`, the labelled pairs only).

    `kind` is Splink's output type: threshold_selection, precision_recall, accuracy or roc."""
    if kind not in ACCURACY_CHARTS:
        raise LinkageError(f"accuracy chart '{kind}': choose one of {', '.join(ACCURACY_CHARTS)}")
    if labels not in (None, REVIEWER_LABELS):
        raise LinkageError(f"labels '{labels}': the only labels in a store are "
                           f"'{REVIEWER_LABELS}' (decisions); else give a truth file")
    if (truth is None) == (labels is None):
        raise LinkageError(f"give a truth file or labels='{REVIEWER_LABELS}', one of the two")
    # Splink's accuracy analysis reads the comparison columns it scored.
    settings = {**model, "retain_matching_columns": True,
                "retain_intermediate_calculation_columns": True}
    add_metrics = ["f1"] if kind in ("threshold_selection", "accuracy") else []
    if truth is not None:
        load_truth(store, truth)
        persons = store.run_arrow(STAGE, Step("truth_persons", _TRUTH_PERSONS))
        if persons.num_rows < 2:
            raise LinkageError(f"{truth}: fewer than two active records of the store are in "
                               "the truth file")
        with splink_linker(persons, settings) as linker:
            return Chart.from_splink(linker.evaluation.accuracy_analysis_from_labels_column(
                TRUTH_LABEL, output_type=kind, add_metrics=add_metrics))
    decisions = store.run_arrow(STAGE, Step("reviewer_labels", _REVIEWER_LABELS))
    if decisions.num_rows == 0:
        raise LinkageError("no reviewer decisions on active records in the store (record some "
                           "with `linkage review import`, `linkage link` or `linkage unlink`)")
    with splink_linker(active_persons(store, STAGE), settings) as linker:
        table = linker.table_management.register_table(decisions, "reviewer_labels")
        return Chart.from_splink(linker.evaluation.accuracy_analysis_from_labels_table(
            table, output_type=kind, add_metrics=add_metrics))
