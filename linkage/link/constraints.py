"""Clustering under constraints: records that cannot be one person never share a cluster.

Connected components over matched pairs chain people: a father and son at one address,
twins, a household sharing a phone. Two kinds of cannot-link stop the chain:

- evidence (DESIGN §6): two valid full SSNs more than one typo apart, birth dates (or a
  partial date's year) two or more years apart that no single typo or day/month swap
  explains (unless the two records share a full SSN, or the month and day), a different
  sex with an unrelated given name (twins), conflicting name suffixes (JR against SR), two
  members of one household in one source (a case or a household enrollment lists each
  person once: the twins of one sex whose names alone would not part them), two records of
  one source configured as deduplicated;
- reviewer decisions: a cannot-link on a pair, until a newer decision replaces or revokes it. A
  reviewer's must-link on a pair overrides the evidence against that pair.

Only clusters that break a constraint are rebuilt. Their records are re-clustered by adding
edges strongest first — must-links, then scored pairs at or above the match threshold —
and skipping any edge that would join a cannot-link pair (a constrained Kruskal). Where
nothing is broken the result is the connected components Splink gives.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pyarrow as pa

from linkage.link.model import SAME_BIRTHDAY
from linkage.store import Step, Store
from linkage.store.schema import DECISIONS_IN_FORCE

STAGE = "link"



@dataclass(frozen=True)
class DecisionsInForce:
    """The reviewer decisions in force for this clustering, read once from
    manual_decision: table `table` (decision_id, key_l, key_r, decision). Made by
    `decisions_in_force`; `enforce_constraints` and the re-forming of suspicious clusters
    (linkage.link.cluster_quality) take it, so their order is in their signatures. The
    constraint queries below name the table as it is named here."""

    table: str = "decision_in_force"


def decisions_in_force(store: Store) -> DecisionsInForce:
    """Read the decisions in force (DECISIONS_IN_FORCE) into this run's table."""
    decisions = DecisionsInForce()
    store.run_step(STAGE, Step("decisions_in_force", f"""
CREATE OR REPLACE TEMP TABLE {decisions.table} AS
SELECT decision_id, key_l, key_r, decision FROM ({DECISIONS_IN_FORCE}) AS in_force"""))
    return decisions


# Pairs inside one cluster whose records say they are different people. Every pair of a
# multi-record cluster is checked, not only scored pairs: a chain joins records that were
# never compared.
def conflict_sql(left: str = "l", right: str = "r") -> str:
    """Why records `left` and `right` (aliases of person rows, from code) cannot be one
    person, or NULL. Reads dob, dob_year, ssn, sex, first and last name (with their
    nickname and phonetic forms), name_suffix, source_system, household_id and the bound
    list `$deduplicated`; the estimate of a clustering's accuracy uses the same rule."""
    l, r = left, right
    no_shared_ssn = f"NOT coalesce({l}.ssn = {r}.ssn, false)"
    # A year that is wrong while the month and day are right is an entry error (an age
    # worked out wrong, a two-digit year read with the wrong pivot); a parent and child who
    # share a name share a birthday once in 365.
    other_birthday = "NOT (" + SAME_BIRTHDAY.format(l=f"{l}.dob", r=f"{r}.dob") + ")"
    return f"""CASE
            WHEN {l}.ssn IS NOT NULL AND {r}.ssn IS NOT NULL
                AND damerau_levenshtein({l}.ssn, {r}.ssn) > 1 THEN 'different_ssn'
            -- A full SSN in common outweighs a birth date far off: an age typed as a year,
            -- a relative's date copied onto the form are commoner than one SSN on two people.
            WHEN {l}.dob IS NOT NULL AND {r}.dob IS NOT NULL
                AND abs(year({l}.dob) - year({r}.dob)) >= 2
                AND damerau_levenshtein(strftime({l}.dob, '%Y%m%d'),
                                        strftime({r}.dob, '%Y%m%d')) > 1
                AND {no_shared_ssn} AND {other_birthday} THEN 'dob_far_apart'
            WHEN ({l}.dob IS NULL OR {r}.dob IS NULL) AND abs({l}.dob_year - {r}.dob_year) >= 2
                AND damerau_levenshtein({l}.dob_year::VARCHAR, {r}.dob_year::VARCHAR) > 1
                AND {no_shared_ssn} THEN 'dob_far_apart'
            -- Twins: one birth date, one surname, one address; a different sex and a
            -- different given name (no nickname, spelling or sound of it) is two people.
            WHEN {l}.sex <> {r}.sex
                AND array_length(list_intersect({l}.first_name_forms, {r}.first_name_forms)) = 0
                AND {l}.first_name_phonetic <> {r}.first_name_phonetic
                AND jaro_winkler_similarity({l}.first_name, {r}.first_name) < 0.92
                AND {l}.first_name <> {r}.last_name AND {l}.last_name <> {r}.first_name
                THEN 'different_sex_and_given_name'
            WHEN {l}.name_suffix IS NOT NULL AND {r}.name_suffix IS NOT NULL
                AND {l}.name_suffix <> {r}.name_suffix THEN 'suffix_conflict'
            -- A CalSAWS case lists each member once, an HMIS household enrollment each
            -- client once: two records of one household in one source are two people.
            WHEN {l}.source_system = {r}.source_system
                AND {l}.household_id = {r}.household_id THEN 'same_household_member'
            WHEN {l}.source_system = {r}.source_system
                AND list_contains($deduplicated, {l}.source_system)
                THEN 'same_deduplicated_source'
        END"""


_EVIDENCE = """
CREATE OR REPLACE TEMP TABLE evidence_conflict AS
WITH member AS (
    SELECT m.cluster_id, p.record_key, p.source_system, p.dob, p.dob_year, p.ssn,
        p.name_suffix, p.sex, p.first_name, p.last_name, p.first_name_forms,
        p.first_name_phonetic, p.household_id
    FROM cluster_membership AS m JOIN person AS p USING (record_key)
    WHERE m.cluster_id IN (SELECT cluster_id FROM cluster_membership
                           GROUP BY cluster_id HAVING count(*) > 1)
), judged AS (
    SELECT l.record_key AS key_l, r.record_key AS key_r, {conflict} AS reason
    FROM member AS l JOIN member AS r
        ON l.cluster_id = r.cluster_id AND l.record_key < r.record_key
)
SELECT key_l, key_r, reason FROM judged
WHERE reason IS NOT NULL
    -- A reviewer who saw both records and said "same person" has the last word.
    AND (key_l, key_r) NOT IN (SELECT key_l, key_r FROM decision_in_force
                               WHERE decision = 'must_link')""".replace("{conflict}", conflict_sql())

_BROKEN = """
CREATE OR REPLACE TEMP TABLE broken_cluster AS
SELECT DISTINCT cluster_id FROM (
    SELECT unnest([ml.cluster_id, mr.cluster_id]) AS cluster_id
    FROM decision_in_force AS d
    JOIN cluster_membership AS ml ON ml.record_key = d.key_l
    JOIN cluster_membership AS mr ON mr.record_key = d.key_r
    WHERE (d.decision = 'must_link' AND ml.cluster_id <> mr.cluster_id)
       OR (d.decision = 'cannot_link' AND ml.cluster_id = mr.cluster_id)
    UNION ALL
    SELECT m.cluster_id FROM evidence_conflict AS e
    JOIN cluster_membership AS m ON m.record_key = e.key_l
)"""

_BROKEN_RECORD = """
CREATE OR REPLACE TEMP TABLE broken_record AS
SELECT record_key FROM cluster_membership
WHERE cluster_id IN (SELECT cluster_id FROM broken_cluster)"""

_BROKEN_CANNOT = """
SELECT key_l, key_r FROM evidence_conflict
UNION
SELECT key_l, key_r FROM decision_in_force
WHERE decision = 'cannot_link' AND key_l IN (SELECT record_key FROM broken_record)
    AND key_r IN (SELECT record_key FROM broken_record)"""

_BROKEN_MUST = """
SELECT key_l, key_r FROM decision_in_force
WHERE decision = 'must_link' AND key_l IN (SELECT record_key FROM broken_record)
    AND key_r IN (SELECT record_key FROM broken_record)
ORDER BY decision_id DESC"""

_BROKEN_EDGES = """
SELECT least(record_key_l, record_key_r), greatest(record_key_l, record_key_r)
FROM pair_score
WHERE match_probability >= $threshold
    AND record_key_l IN (SELECT record_key FROM broken_record)
    AND record_key_r IN (SELECT record_key FROM broken_record)
ORDER BY match_probability DESC, 1, 2"""


@dataclass(frozen=True)
class ConstraintCounts:
    decisions_in_force: int
    evidence_conflicts: int  # record pairs in one cluster that the evidence says differ
    clusters_rebuilt: int
    decision_conflicts: int  # must-links left unmet because they contradict cannot-links


class Components:
    """Union-find whose components refuse to join across a cannot-link pair."""

    def __init__(self, records: list[str], cannot: dict[str, set[str]] | None = None) -> None:
        self.parent = {record: record for record in records}
        self.members = {record: {record} for record in records}
        self.cannot = cannot or {}

    def find(self, record: str) -> str:
        while self.parent[record] != record:
            self.parent[record] = self.parent[self.parent[record]]
            record = self.parent[record]
        return record

    def join(self, a: str, b: str) -> bool:
        root_a, root_b = self.find(a), self.find(b)
        if root_a == root_b:
            return True
        small, large = sorted((root_a, root_b), key=lambda root: len(self.members[root]))
        if any(self.cannot.get(record, set()) & self.members[large]
               for record in self.members[small]):
            return False
        self.parent[small] = large
        self.members[large] |= self.members.pop(small)
        return True

    def clusters(self) -> list[tuple[str, str]]:
        """(record, cluster id) with each cluster named by its smallest record key."""
        groups: dict[str, list[str]] = {}
        for record in self.parent:
            groups.setdefault(self.find(record), []).append(record)
        return [(record, min(members)) for members in groups.values() for record in members]


def add_to_membership(store: Store, components: Components) -> None:
    """Append the components' clusters to `cluster_membership`, in one set-based insert."""
    rows = components.clusters()
    keys, clusters = zip(*rows) if rows else ((), ())
    with store.registered("formed_cluster", pa.table({
            "record_key": pa.array(keys, pa.string()),
            "cluster_id": pa.array(clusters, pa.string())})):
        store.run_step(STAGE, Step("add_clusters", "INSERT INTO cluster_membership "
                                   "SELECT record_key, cluster_id FROM formed_cluster"))


def enforce_constraints(store: Store, decisions: DecisionsInForce, match_threshold: float,
                        deduplicated_sources: Sequence[str] = ()) -> ConstraintCounts:
    """Rewrite `cluster_membership` so no cluster holds a cannot-link pair and every
    must-link pair shares a cluster (unless it contradicts a reviewer's `decisions`)."""
    store.run_steps(STAGE, [
        Step("evidence_conflicts", _EVIDENCE, {"deduplicated": list(deduplicated_sources)}),
        Step("broken", _BROKEN),
    ])
    in_force = store.scalar(STAGE, "count_decisions", f"SELECT count(*) FROM {decisions.table}")
    evidence = store.scalar(STAGE, "count_evidence", "SELECT count(*) FROM evidence_conflict")
    rebuilt = store.scalar(STAGE, "count_broken", "SELECT count(*) FROM broken_cluster")
    if not rebuilt:
        return ConstraintCounts(in_force, evidence, 0, 0)

    store.run_step(STAGE, Step("broken_record_table", _BROKEN_RECORD))
    records = [row[0] for row in store.run_step(
        STAGE, Step("broken_records", "SELECT record_key FROM broken_record ORDER BY 1"))]
    cannot: dict[str, set[str]] = {}
    for batch in store.run_batches(STAGE, Step("broken_cannot", _BROKEN_CANNOT)):
        for left, right in batch:
            cannot.setdefault(left, set()).add(right)
            cannot.setdefault(right, set()).add(left)
    components = Components(records, cannot)
    conflicts = sum(not components.join(left, right)
                    for batch in store.run_batches(STAGE, Step("broken_must", _BROKEN_MUST))
                    for left, right in batch)
    # Strongest first, in batches: the edges of every broken cluster are never all held.
    for batch in store.run_batches(STAGE, Step("broken_edges", _BROKEN_EDGES,
                                               {"threshold": match_threshold})):
        for left, right in batch:
            components.join(left, right)

    store.run_step(STAGE, Step("drop_broken", "DELETE FROM cluster_membership WHERE record_key "
                                              "IN (SELECT record_key FROM broken_record)"))
    add_to_membership(store, components)
    store.run_step(STAGE, Step("drop_broken_table", "DROP TABLE broken_record"))
    return ConstraintCounts(in_force, evidence, rebuilt, conflicts)
