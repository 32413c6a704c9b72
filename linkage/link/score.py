"""Score record pairs with the trained model and cluster them into people."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from linkage import progress
from linkage.config import LinkingConfig
from linkage.link.cluster_quality import ClusterShape, shape_clusters
from linkage.link.clustering import Clustering
from linkage.link.constraints import decisions_in_force, enforce_constraints
from linkage.link.estimate import auto_thresholds, best_threshold, estimate, weigh_pairs
from linkage.link.full_names import common_full_names, pair_bits
from linkage.link.calibration import Calibration
from linkage.link.agreement import LEVELS_TABLE as AGREEMENT_LEVELS
from linkage.link.agreement import (compare_levels, in_force_if_close, largest_gain,
                                    learnt_comparisons, with_agreement)
from linkage.link.agreement import learn as learn_agreement
from linkage.link.agreement import recorded as recorded_agreement
from linkage.link.agreement import weight_change_sql
from linkage.link.prior import in_force_if_close as prior_in_force_if_close
from linkage.link.prior import (PRIOR_FLOOR, PRIOR_KEY, estimate_prior, last_run_link,
                                last_run_prior, logit2, weight_shift)
from linkage.link.model_file import prediction_rules
from linkage.link.splink_session import persons_sql
from linkage.link.wide_blocking import affordable_rules, with_rules
from linkage.store import Step, Store

STAGE = "link"
# What an `auto` threshold stands for before any run has chosen one.
AUTO_DEFAULT = 0.99
# `auto` estimates each candidate threshold on whole clusters of at most this many records
# (all records of a smaller population), drawn with this seed: the estimate is a ratio of
# sums over clusters, and a sample of 50,000 records pins it to about ±0.002.
AUTO_SAMPLE_RECORDS = 50_000
# A connected component larger than this is several people chained together.
GIANT_COMPONENT = 100
GIANT_ROUNDS = 3
SAMPLE_SEED = 20261202
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LinkCounts:
    records: int
    pairs_scored: int  # every pair the blocking rules produced and the model compared
    pairs_kept: int  # pairs at or above the predict threshold, kept in pair_score
    pairs_matched: int  # pairs at or above the match threshold
    clusters: int
    decisions_in_force: int = 0  # reviewer must-link / cannot-link decisions
    evidence_conflicts: int = 0  # pairs in one cluster whose records say they differ
    clusters_rebuilt: int = 0  # clusters re-formed to honour a constraint
    decision_conflicts: int = 0  # must-links that contradict cannot-links, left unmet
    clusters_split: int = 0  # oversized or sparse clusters re-formed at a stricter threshold
    clusters_flagged: int = 0  # clusters still oversized or sparse, left for review
    cluster_sizes: dict[str, int] = field(default_factory=dict)  # size bucket -> clusters
    match_threshold: float = 0.0  # the threshold clusters were formed at (auto: the chosen)
    prior: float = 0.0  # the population's prior the pairs were scored with (prior.py)
    threshold_estimates: dict[str, float] = field(default_factory=dict)  # auto: est. F1
    # Pairs each blocking rule produced (full runs), by the rule's SQL in the model's order;
    # a pair two rules produce counts under the first.
    pairs_by_rule: dict[str, int] = field(default_factory=dict)
    # The wider rules the population could afford (wide_blocking.py), kept by deliveries.
    wide_rules: list[str] = field(default_factory=list)
    # The m the run learnt for its comparisons' levels (agreement.py): per comparison,
    # [label, model m, learnt m]; deliveries, search and explain score with them.
    agreement: dict[str, list] = field(default_factory=dict)


@dataclass(frozen=True)
class Linked:
    """What linking a run's records gives: its counts (for the run summary) and the
    clustering the crosswalk stage turns into EIDs."""

    counts: LinkCounts
    clustering: Clustering


def keep_pairs(store: Store, scored: str, run_id: int, linking: LinkingConfig,
               shift: float = 0.0, calibration: Calibration | None = None) -> None:
    """Append the pairs of table `scored` (a name from code: record_key_l, record_key_r,
    match_weight) to `pair_score` at or above the predict threshold: each weight moved by
    `shift` to the population's prior and down where both records bear a full name commoner
    than its parts (`full_names.py`), its probability calibrated when the model carries a
    calibration."""
    full_name, bits = pair_bits("l", "r")
    weight = "match_weight"
    probability, params = (calibration.probability_sql(weight, "record_key_l", "record_key_r")
                           if calibration else (f"1 / (1 + pow(2, -({weight})))", {}))
    store.run_steps(STAGE, [common_full_names(), Step("insert_pairs", f"""
INSERT INTO pair_score
SELECT $run_id, record_key_l, record_key_r, {weight}, probability FROM (
    SELECT record_key_l, record_key_r, {weight}, {probability} AS probability FROM (
        SELECT s.record_key_l, s.record_key_r, s.match_weight + $shift + {bits} AS {weight}
        FROM {scored} AS s
        JOIN person AS l ON l.record_key = s.record_key_l
        JOIN person AS r ON r.record_key = s.record_key_r
        {full_name}))
WHERE probability >= $predict_threshold""", {
        **params, "run_id": run_id, "shift": shift,
        "predict_threshold": linking.predict_threshold})])


def link(store: Store, model: dict, linking: LinkingConfig, run_id: int,
         deduplicated_sources: Sequence[str] = (),
         calibration: Calibration | None = None) -> Linked:
    """Score active persons under the population's own prior (`prior.py`), keep pairs in
    `pair_score`, cluster them at the match threshold (with `auto`, the one whose
    clusters the model expects to be most accurate, `estimate.py`) and leave
    their Clustering for the crosswalk stage."""
    records = store.scalar(STAGE, "count_active",
                           "SELECT count(*) FROM person WHERE NOT is_deleted")
    model_prior = float(model[PRIOR_KEY])
    if records == 0:
        store.run_steps(STAGE, [
            Step("clear_pairs", "DELETE FROM pair_score"),
            Step("no_clusters", "CREATE OR REPLACE TEMP TABLE cluster_membership "
                                "(record_key VARCHAR, cluster_id VARCHAR)"),
        ])
        return Linked(LinkCounts(0, 0, 0, 0, 0, prior=model_prior,
                                 match_threshold=_fixed_threshold(linking)), Clustering())

    wide = affordable_rules(store, records)
    model = with_rules(model, wide)
    floor = min(PRIOR_FLOOR, linking.predict_threshold)
    splink = store.splink_engine()
    with splink.linker(model, persons_sql()) as linker:
        # Materialised once and cached by Splink, so predict reuses it: the count is free.
        with progress.step("block"):
            blocked = linker.inference.compute_blocked_pairs_for_predict()
            by_rule = pairs_by_rule(model, splink.count_by(blocked, "match_key"))
            pairs_compared = sum(by_rule.values())
        with progress.step("score_pairs"):
            predictions = linker.inference.predict(
                threshold_match_probability=floor, warning_mode="never")
            splink.keep("scored_pairs", [predictions],
                        "record_key_l, record_key_r, match_weight, match_key")

    scored = "scored_pairs"
    try:
        with progress.step("estimate_prior"):
            prior = estimate_prior(store, scored, records, model_prior)
        learnt: dict[str, list] = {}
        with progress.step("learn_agreement"):
            if learnt_comparisons(model):
                levels = compare_levels(store, scored, model)
                learnt = in_force_if_close(
                    learn_agreement(store, levels, model, weight_shift(prior, model_prior)),
                    recorded_agreement(last_run_link(store)))
        if learnt:
            # The pairs' weights under the learnt m, and the prior again under them.
            lift_needed = (logit2(linking.predict_threshold) - weight_shift(prior, model_prior)
                           - logit2(floor))
            if largest_gain(learnt) >= lift_needed:
                # Pairs the model scored below the floor may now pass the predict
                # threshold: score every blocked pair again, under the learnt m.
                with progress.step("score_pairs_learnt"), \
                        splink.linker(with_agreement(model, learnt), persons_sql()) as linker:
                    splink.keep("learnt_pairs", [linker.inference.predict(
                        threshold_match_probability=floor, warning_mode="never")],
                        "record_key_l, record_key_r, match_weight")
            else:
                store.run_step(STAGE, Step("agreement_pairs", f"""
CREATE OR REPLACE TEMP TABLE learnt_pairs AS
SELECT record_key_l, record_key_r, match_weight + {weight_change_sql(learnt, model)} AS match_weight
FROM {levels}"""))
            scored = "learnt_pairs"
            prior = estimate_prior(store, scored, records, model_prior)
        prior = prior_in_force_if_close(prior, last_run_prior(store))
        store.run_step(STAGE, Step("clear_pairs", "DELETE FROM pair_score"))
        keep_pairs(store, scored, run_id, linking, weight_shift(prior, model_prior),
                   calibration)
    finally:
        splink.release("scored_pairs")
        splink.release("learnt_pairs")
        splink.release(AGREEMENT_LEVELS)
    pairs_kept = store.scalar(STAGE, "count_kept", "SELECT count(*) FROM pair_score")
    with progress.step("cluster"):
        linking, estimates = _choose_threshold(store, linking, deduplicated_sources,
                                               prediction_rules(model))
    counts = finish_clusters(store, linking, deduplicated_sources, records, pairs_compared,
                             pairs_kept)
    return Linked(dataclasses.replace(counts, prior=prior, threshold_estimates=estimates,
                                      pairs_by_rule=by_rule, wide_rules=wide,
                                      agreement=learnt), Clustering())


def pairs_by_rule(model: dict, by_match_key: dict[str, int]) -> dict[str, int]:
    """Blocked pairs by the SQL of the rule that produced them (Splink's `match_key` is
    the rule's position among the model's prediction rules), every rule listed.

    >>> model = {"blocking_rules_to_generate_predictions": [
    ...     {"blocking_rule": 'l."ssn" = r."ssn"'}, "l.dob = r.dob"]}
    >>> pairs_by_rule(model, {"1": 7})
    {'l."ssn" = r."ssn"': 0, 'l.dob = r.dob': 7}
    """
    rules = prediction_rules(model)
    counts = {rule: by_match_key.get(str(index), 0) for index, rule in enumerate(rules)}
    unknown = sum(n for key, n in by_match_key.items()
                  if not key.isdigit() or int(key) >= len(rules))
    if unknown:  # not expected from Splink; counted rather than lost
        counts["(other)"] = unknown
    return counts


def linking_in_force(store: Store, linking: LinkingConfig) -> LinkingConfig:
    """`linking` with the match threshold the store's clusters were formed at: the
    configured one, or with `auto` the one the latest run chose."""
    if linking.match_threshold != "auto":
        return linking
    chosen = last_run_link(store).get("match_threshold")
    valid = isinstance(chosen, (int, float)) and 0 < chosen < 1
    return linking.model_copy(update={"match_threshold": chosen if valid else AUTO_DEFAULT})


def _fixed_threshold(linking: LinkingConfig) -> float:
    threshold = linking.match_threshold
    return AUTO_DEFAULT if threshold == "auto" else threshold


def _choose_threshold(store: Store, linking: LinkingConfig, deduplicated_sources: Sequence[str],
                      rules: Sequence[str]) -> tuple[LinkingConfig, dict[str, float]]:
    """`linking` with a numeric match threshold, and `cluster_membership` as connected
    components at it. With `auto`, each candidate threshold is clustered under the run's
    constraints and estimated (with the matches the prediction `rules` never blocked); the
    best estimated F1 wins (the threshold in force, while it is within a tie of the
    best)."""
    if linking.match_threshold != "auto":
        PairGraph.load(store, linking.match_threshold).cluster(store, linking.match_threshold)
        return linking, {}
    unblocked = weigh_pairs(store, deduplicated_sources, rules)
    candidates = auto_thresholds(linking)
    graph = PairGraph.load(store, min(candidates))
    sample = graph.sample(AUTO_SAMPLE_RECORDS, candidates[0])
    decisions = decisions_in_force(store)
    estimates = []
    for threshold in candidates:
        at = linking.model_copy(update={"match_threshold": threshold})
        sample.cluster(store, threshold)
        enforce_constraints(store, decisions, threshold, deduplicated_sources)
        shape_clusters(store, at, decisions)
        estimates.append((threshold, estimate(store, unblocked=unblocked)))
        log.info("match threshold %s: estimated F1 %.4f", threshold, estimates[-1][1].f1)
    in_force = last_run_link(store).get("match_threshold")
    chosen = linking.model_copy(update={"match_threshold": best_threshold(estimates, in_force)})
    graph.cluster(store, chosen.match_threshold)
    return chosen, {str(threshold): round(found.f1, 6) for threshold, found in estimates}


@dataclass(frozen=True)
class PairGraph:
    """The active records and their stored pairs at or above a threshold as a graph, read
    once and clustered at that threshold or any higher one without going back to the store
    (scipy's connected components). Its edges take 20 bytes a pair, in numpy arrays."""

    records: pa.Array  # record keys, sorted: a record's index is its position
    left: np.ndarray
    right: np.ndarray
    probability: np.ndarray

    @classmethod
    def load(cls, store: Store, min_probability: float) -> PairGraph:
        """The graph of pairs at or above `min_probability`: pairs below it join nothing
        at any threshold the graph is clustered at, so they are never read."""
        records = store.run_arrow(STAGE, Step("active_records", """
SELECT record_key FROM person WHERE NOT is_deleted ORDER BY record_key""")).column(0)
        # Nodes are numbered in SQL (the records' order), so no key array goes back in.
        edges = store.run_arrow(STAGE, Step("graph_edges", """
WITH node AS (
    SELECT record_key, (row_number() OVER (ORDER BY record_key) - 1)::INTEGER AS node
    FROM person WHERE NOT is_deleted
)
SELECT l.node AS left_node, r.node AS right_node, s.match_probability
FROM pair_score AS s
JOIN node AS l ON l.record_key = s.record_key_l
JOIN node AS r ON r.record_key = s.record_key_r
WHERE s.match_probability >= $min_probability""", {"min_probability": min_probability}))
        left, right, probability = (_numpy(edges.column(name)) for name in
                                    ("left_node", "right_node", "match_probability"))
        del edges
        return cls(records.combine_chunks() if isinstance(records, pa.ChunkedArray) else records,
                   left, right, probability)

    def components(self, threshold: float) -> np.ndarray:
        """Each record's component at `threshold` (labels 0, 1, …)."""
        nodes = len(self.records)
        keep = self.probability >= threshold
        graph = coo_matrix((np.ones(int(keep.sum()), dtype=np.int8),
                            (self.left[keep], self.right[keep])), shape=(nodes, nodes))
        return connected_components(graph, directed=False)[1]

    def sample(self, max_records: int, threshold: float) -> PairGraph:
        """Whole components at `threshold`, drawn in a seeded order until `max_records`
        records are taken (all of them when there are no more). A clustering at any
        higher threshold splits only within these components, so the sample's clusters
        are exactly the population's clusters of its records."""
        if len(self.records) <= max_records:
            return self
        labels = self.components(threshold)
        sizes = np.bincount(labels)
        order = np.random.default_rng(SAMPLE_SEED).permutation(len(sizes))
        taken = order[np.cumsum(sizes[order]) <= max_records]
        chosen = np.isin(labels, taken)
        node = np.full(len(self.records), -1, dtype=np.int64)
        node[chosen] = np.arange(int(chosen.sum()))
        edges = chosen[self.left] & chosen[self.right]
        return PairGraph(self.records.filter(pa.array(chosen)), node[self.left[edges]],
                         node[self.right[edges]], self.probability[edges])

    def split_giants(self, labels: np.ndarray, threshold: float) -> np.ndarray:
        """Components of more than GIANT_COMPONENT records (a chain through shared phones,
        shelters and households, thousands of records at low thresholds) re-formed at
        stricter thresholds, (1 - threshold) ten times smaller each round, before the
        constraints compare every pair inside a cluster; cluster shape would re-form them
        anyway, after enumerating millions of pairs."""
        for _ in range(GIANT_ROUNDS):
            big = np.bincount(labels)[labels] > GIANT_COMPONENT
            if not big.any():
                break
            threshold = 1 - (1 - threshold) / 10
            keep = big[self.left] & big[self.right] & (self.probability >= threshold)
            nodes = len(self.records)
            inside = connected_components(coo_matrix(
                (np.ones(int(keep.sum()), dtype=np.int8), (self.left[keep], self.right[keep])),
                shape=(nodes, nodes)), directed=False)[1]
            labels = np.unique(np.where(big, labels.max() + 1 + inside, labels),
                               return_inverse=True)[1]
        return labels

    def cluster(self, store: Store, threshold: float) -> None:
        """`cluster_membership`: connected components at `threshold` (giant ones split),
        each cluster named by its smallest record key (records are sorted, so its first
        member)."""
        nodes = len(self.records)
        labels = self.split_giants(self.components(threshold), threshold)
        first = np.full(labels.max() + 1 if nodes else 0, nodes, dtype=np.int64)
        np.minimum.at(first, labels, np.arange(nodes, dtype=np.int64))
        with store.registered("formed_cluster", pa.table({
                "record_key": self.records, "cluster_id": self.records.take(first[labels])})):
            store.run_step(STAGE, Step("cluster_membership", """
CREATE OR REPLACE TEMP TABLE cluster_membership AS
SELECT record_key, cluster_id FROM formed_cluster"""))


def _numpy(column: pa.ChunkedArray) -> np.ndarray:
    """A column without nulls as one numpy array."""
    return column.combine_chunks().to_numpy() if column.num_chunks != 1 else \
        column.chunk(0).to_numpy()


def cluster_scored_pairs(store: Store, linking: LinkingConfig,
                         deduplicated_sources: Sequence[str] = ()) -> ClusterShape:
    """Cluster the active records again from the stored pair scores at
    `linking.match_threshold`, under the same constraints as a run, into
    `cluster_membership`. Changes only temporary tables, so it works read-only."""
    PairGraph.load(store, linking.match_threshold).cluster(store, linking.match_threshold)
    decisions = decisions_in_force(store)
    enforce_constraints(store, decisions, linking.match_threshold, deduplicated_sources)
    return shape_clusters(store, linking, decisions)


def finish_clusters(store: Store, linking: LinkingConfig, deduplicated_sources: Sequence[str],
                    records: int, compared: int, kept: int) -> LinkCounts:
    """Split clusters that break a constraint and count what the stage did."""
    decisions = decisions_in_force(store)
    constraints = enforce_constraints(store, decisions, linking.match_threshold,
                                      deduplicated_sources)
    shape = shape_clusters(store, linking, decisions)
    matched = store.scalar(STAGE, "count_matched",
                           "SELECT count(*) FROM pair_score WHERE match_probability >= $t",
                           {"t": linking.match_threshold})
    clusters = store.scalar(STAGE, "count_clusters",
                            "SELECT count(DISTINCT cluster_id) FROM cluster_membership")
    return LinkCounts(records, compared, kept, matched, clusters,
                      constraints.decisions_in_force, constraints.evidence_conflicts,
                      constraints.clusters_rebuilt, constraints.decision_conflicts,
                      shape.split, shape.flagged, shape.sizes, linking.match_threshold)
