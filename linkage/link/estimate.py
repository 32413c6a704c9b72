"""Accuracy without a truth file: what the model's own match probabilities say about a
clustering, so a county team can choose a match threshold with no labels.

Each scored pair is a match with its match probability, except where the clustering's
own rules know better: a pair with cannot-link evidence (different SSNs, birth years far
apart, JR against SR; `constraints.conflict_sql`) or a reviewer's cannot-link is not a
match, a reviewer's must-link is. Then, for a clustering of the active records:

- predicted pairs are the pairs inside clusters, sum(n * (n - 1) / 2), exactly;
- expected true positives are the summed probability of the pairs inside clusters; a pair
  inside a cluster that was never scored (joined through others) counts at the weakest
  scored pair of its cluster;
- expected true pairs are those plus the summed probability of scored pairs the
  clustering leaves apart.

Pairs below the predict threshold count as non-matches. Pairs no blocking rule produced
are never scored; their number is estimated by capture-recapture (`unblocked_matches`)
and added to the expected true pairs, so pairwise recall counts the pairs the model could
not find, as far as it can tell. It tells too few (errors that come together hide a pair
from every rule), and a Fellegi-Sunter model is overconfident where its comparisons are
not independent, which makes the precision estimate optimistic. Both errors are measured
against truth on every benchmark population (benchmarks/RESULTS.md).

B-cubed is estimated the same way per record: the expected number of its cluster's
records that are the same person, over its cluster's size (precision) and over the
expected number of records of its person (recall); true persons are estimated as the sum
over records of one over that expected number. (The unblocked pairs are not in these: no
record is known to hold them.)
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass

from linkage.config import LinkingConfig
from linkage.link.clustering import Clustering
from linkage.link.constraints import conflict_sql
from linkage.store import Step, Store
from linkage.store.relations import ACTIVE_MEMBERSHIP, DECISIONS_IN_FORCE

STAGE = "link"

# Match thresholds `match_threshold: auto` chooses between (at or above the predict
# threshold: pairs below it were never kept).
AUTO_THRESHOLDS = (0.5, 0.7, 0.8, 0.9, 0.95, 0.98, 0.99, 0.995, 0.999)

# The clustering of a run or a sweep (record_key, cluster_id), and the active crosswalk as
# one; both fixed text.
CLUSTER_MEMBERSHIP = f"SELECT record_key, cluster_id FROM {Clustering().table}"
ACTIVE_CROSSWALK = ACTIVE_MEMBERSHIP


@dataclass(frozen=True)
class ClusterAccuracy:
    """Pairwise and B-cubed accuracy of a clustering: measured against a truth file
    (`evaluation.Metrics`: whole counts) or expected from the model (`Estimate`: person and
    pair counts other than predicted are expectations, so not whole numbers)."""

    records: int
    true_persons: float
    enterprise_ids: int
    true_pairs: float
    predicted_pairs: int
    matched_pairs: float
    precision: float
    recall: float
    f1: float
    bcubed_precision: float
    bcubed_recall: float
    bcubed_f1: float

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Estimate(ClusterAccuracy):
    """A clustering's accuracy as the model's probabilities expect it (no truth file)."""


def f1_of(precision: float, recall: float) -> float:
    return 2 * precision * recall / (precision + recall) if precision + recall else 0.0


# Each stored pair's probability of being one person as the clustering rules see it; a
# temporary table, the same for every clustering of one run.
_PAIR_EVIDENCE = f"""
CREATE OR REPLACE TEMP TABLE pair_evidence AS
WITH decided AS ({DECISIONS_IN_FORCE})
SELECT s.record_key_l, s.record_key_r,
    CASE WHEN d.decision = 'must_link' THEN 1.0
        WHEN d.decision = 'cannot_link' THEN 0.0
        WHEN {conflict_sql()} IS NOT NULL THEN 0.0
        ELSE s.match_probability END AS p
FROM pair_score AS s
JOIN person AS l ON l.record_key = s.record_key_l
JOIN person AS r ON r.record_key = s.record_key_r
LEFT JOIN decided AS d
    ON d.key_l = least(s.record_key_l, s.record_key_r)
    AND d.key_r = greatest(s.record_key_l, s.record_key_r)
WHERE NOT l.is_deleted AND NOT r.is_deleted"""


def _estimate_sql(membership: str) -> str:
    """`membership` is one of this module's fixed clusterings, never user input."""
    return f"""
WITH member AS ({membership}),
scored AS (
    SELECT e.record_key_l AS key_l, e.record_key_r AS key_r,
        ml.cluster_id = mr.cluster_id AS inside, ml.cluster_id, e.p
    FROM pair_evidence AS e
    JOIN member AS ml ON ml.record_key = e.record_key_l
    JOIN member AS mr ON mr.record_key = e.record_key_r
),
cluster AS (
    SELECT m.cluster_id, m.records, coalesce(i.scored, 0) AS scored,
        coalesce(i.p_sum, 0) AS p_sum,
        -- pairs joined only through others count at the cluster's weakest scored pair
        (m.records * (m.records - 1) // 2 - coalesce(i.scored, 0))
            * coalesce(i.p_min, 1.0) AS p_unscored
    FROM (SELECT cluster_id, count(*) AS records FROM member GROUP BY ALL) AS m
    LEFT JOIN (SELECT cluster_id, count(*) AS scored, sum(p) AS p_sum, min(p) AS p_min
               FROM scored WHERE inside GROUP BY ALL) AS i USING (cluster_id)
),
half AS (  -- each scored pair from both ends, for the per-record sums
    SELECT key_l AS record_key, inside, p FROM scored
    UNION ALL SELECT key_r, inside, p FROM scored
),
per_record AS (
    SELECT m.record_key, c.records,
        coalesce(h.inside_p, 0) + c.p_unscored * 2 / c.records AS same_inside,
        coalesce(h.outside_p, 0) AS same_outside
    FROM member AS m JOIN cluster AS c USING (cluster_id)
    LEFT JOIN (SELECT record_key, sum(p) FILTER (inside) AS inside_p,
                   sum(p) FILTER (NOT inside) AS outside_p
               FROM half GROUP BY ALL) AS h USING (record_key)
)
SELECT
    (SELECT count(*) FROM member),
    (SELECT sum(1 / (1 + same_inside + same_outside)) FROM per_record),
    (SELECT count(*) FROM cluster),
    (SELECT sum(p_sum + p_unscored) FROM cluster),
    (SELECT coalesce(sum(p), 0) FROM scored WHERE NOT inside),
    (SELECT sum(records * (records - 1) // 2) FROM cluster),
    (SELECT avg((1 + same_inside) / records) FROM per_record),
    (SELECT avg((1 + same_inside) / (1 + same_inside + same_outside)) FROM per_record),
    (SELECT coalesce(sum(p), 0) FROM scored),
    (SELECT coalesce(sum(p), 0) FROM pair_evidence)"""


def weigh_pairs(store: Store, deduplicated_sources: Sequence[str] = (),
                rules: Sequence[str] = ()) -> float:
    """Build `pair_evidence` from the stored pairs, once before estimating clusterings, and
    return the matches the prediction `rules` (their SQL) are estimated to have never
    blocked (`unblocked_matches`), for `estimate`."""
    store.run_step(STAGE, Step("pair_evidence", _PAIR_EVIDENCE,
                               {"deduplicated": list(deduplicated_sources)}))
    return unblocked_matches(store, rules)


# A rule that joins on the birth date (l.dob = r.dob, either way round).
_SAME_BIRTH_DATE = re.compile(r'\b([lr])\."?dob"?\s*=\s*(?!\1)[lr]\."?dob"?(?![\w"])')


def unblocked_matches(store: Store, rules: Sequence[str]) -> float:
    """Matches among the active records that no rule of `rules` produced, estimated by
    capture-recapture (Lincoln-Petersen) from `pair_evidence`.

    The rules that join on the birth date and the rules that do not miss one person's pairs
    for different reasons (a birth date written otherwise; names, identifiers and address
    written otherwise), so the expected matches each family finds alone tell how many both
    missed: those found by the first alone times those found by the second alone, over
    those both found. Errors that come together (a record typed badly throughout) hide a
    pair from both, so this counts too few: measured on the benchmark populations, it
    finds 35-45% of the true pairs no rule produced (benchmarks/RESULTS.md). 0 where a
    family is empty or finds nothing.

    >>> [bool(_SAME_BIRTH_DATE.search(rule)) for rule in ('(l."dob" = r."dob") AND x',
    ...     "l.dob = r.dob", "YEAR(l.dob) = YEAR(r.dob)", "l.dob_year = r.dob_year")]
    [True, True, False, False]
    """
    by_birth_date = [rule for rule in rules if _SAME_BIRTH_DATE.search(rule)]
    others = [rule for rule in rules if not _SAME_BIRTH_DATE.search(rule)]
    if not by_birth_date or not others:
        return 0.0

    def either(family: list[str]) -> str:  # the model's own rules, as Splink runs them
        return " OR ".join(f"coalesce(({rule}), false)" for rule in family)

    both, birth_date_alone, others_alone = store.run_step(STAGE, Step("unblocked_matches", f"""
SELECT coalesce(sum(p) FILTER (by_birth_date AND by_others), 0),
    coalesce(sum(p) FILTER (by_birth_date AND NOT by_others), 0),
    coalesce(sum(p) FILTER (by_others AND NOT by_birth_date), 0)
FROM (SELECT e.p, {either(by_birth_date)} AS by_birth_date, {either(others)} AS by_others
      FROM pair_evidence AS e
      JOIN person AS l ON l.record_key = e.record_key_l
      JOIN person AS r ON r.record_key = e.record_key_r)"""))[0]
    both = float(both)
    return float(birth_date_alone) * float(others_alone) / both if both > 0 else 0.0


def estimate(store: Store, membership: str = CLUSTER_MEMBERSHIP,
             unblocked: float = 0.0) -> Estimate:
    """The expected accuracy of `membership` (CLUSTER_MEMBERSHIP or ACTIVE_CROSSWALK), from
    `pair_evidence` (`weigh_pairs`), with `unblocked` matches never scored (`weigh_pairs`
    returns them) among all the active records: a clustering of some of them (a sample)
    counts its share, as it holds of the scored matches."""
    row = store.run_step(STAGE, Step("estimate_accuracy", _estimate_sql(membership)))[0]
    (records, persons, clusters, true_positives, apart, predicted, b_precision, b_recall,
     member_matches, all_matches) = row
    if not records:
        return Estimate(0, 0.0, 0, 0.0, 0, 0.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0)
    true_positives, apart = float(true_positives or 0), float(apart or 0)
    share = float(member_matches) / float(all_matches) if all_matches else 0.0
    true_pairs = true_positives + apart + unblocked * share
    precision = true_positives / predicted if predicted else 1.0
    recall = true_positives / true_pairs if true_pairs else 1.0
    b_precision, b_recall = float(b_precision), float(b_recall)
    return Estimate(int(records), float(persons), int(clusters), true_pairs, int(predicted),
                    true_positives, precision, recall, f1_of(precision, recall),
                    b_precision, b_recall, f1_of(b_precision, b_recall))


def auto_thresholds(linking: LinkingConfig) -> tuple[float, ...]:
    """The thresholds `auto` tries: those at or above the predict threshold."""
    return tuple(t for t in AUTO_THRESHOLDS if t >= linking.predict_threshold) or (
        linking.predict_threshold,)


# Estimated F1s closer than this are a tie: the estimate credits pairs in the uncertain band
# with their (overconfident) probability, so it flatters low thresholds by about this much.
TIE = 0.002
# The threshold the store's clusters were formed at stays until another is estimated better
# by more than this: a day's records move the estimates by about TIE (at 1M records a 1%
# delivery moved 0.9's from 0.0017 to 0.0023 below the best), and a threshold that flips
# at the edge of TIE re-cuts thousands of clusters for a gain the estimate cannot resolve.
KEEP = 0.005


def best_threshold(estimates: Sequence[tuple[float, Estimate]],
                   in_force: float | None = None) -> float:
    """The strictest threshold whose estimated F1 is within TIE of the best: where the
    estimate cannot tell them apart, splitting is the safer error (a wrong merge publishes
    two people as one; a missed one leaves a person with two EIDs until the next match).
    The threshold `in_force` (the one the store's clusters were formed at) stays while it
    is within KEEP of the best: a scheduled run whose estimates moved by a hair must not
    re-cut every cluster near the threshold, and churn EIDs, for no measurable gain.

    >>> e = lambda f1: Estimate(10, 5.0, 5, 5.0, 5, 5.0, 1.0, 1.0, f1, 1.0, 1.0, 1.0)
    >>> best_threshold([(0.5, e(0.980)), (0.9, e(0.9785)), (0.99, e(0.975))])
    0.9
    >>> best_threshold([(0.5, e(0.980)), (0.9, e(0.9785)), (0.99, e(0.975))], in_force=0.5)
    0.5
    >>> best_threshold([(0.5, e(0.980)), (0.9, e(0.9775)), (0.99, e(0.975))], in_force=0.9)
    0.9
    >>> best_threshold([(0.5, e(0.980)), (0.9, e(0.9785)), (0.99, e(0.974))], in_force=0.99)
    0.9
    """
    best = max(found.f1 for _, found in estimates)
    if any(threshold == in_force and found.f1 >= best - KEEP for threshold, found in estimates):
        return in_force
    return max(threshold for threshold, found in estimates if found.f1 >= best - TIE)
