"""Record reviewer decisions: must-link and cannot-link on a pair of source records.

A decision is about a pair whichever order its records are given in. Recording the
decision already in force on a pair again changes nothing; a different one is a new row
that replaces it from the next run on; a revoke is a `revoked` row, after which the pair is
undecided. Old rows stay: manual_decision is the audit trail.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import pyarrow as pa

from linkage.errors import LinkageError
from linkage.store import Step, Store
from linkage.store.schema import DECISIONS_IN_FORCE

STAGE = "review"
DECISIONS = ("must_link", "cannot_link")
REVOKED = "revoked"


@dataclass(frozen=True)
class Decision:
    record_key_a: str  # source_system:source_record_id
    record_key_b: str
    decision: str
    reviewer: str
    reason: str

    @property
    def pair(self) -> tuple[str, str]:
        return min(self.record_key_a, self.record_key_b), max(self.record_key_a,
                                                                self.record_key_b)


@dataclass(frozen=True)
class Recorded:
    """What recording a batch of decisions did: pairs newly decided, pairs whose decision
    changed, pairs that already had this decision; and the id in force on each pair."""
    new: int = 0
    changed: int = 0
    unchanged: int = 0
    decision_ids: list[int] = field(default_factory=list)

    def describe(self) -> str:
        return f"recorded {self.new} new, {self.changed} changed, {self.unchanged} unchanged"


def _check(decisions: list[Decision]) -> list[Decision]:
    """Each decision valid; one per pair (the same decision twice counts once, two
    different decisions on one pair in one batch are refused)."""
    by_pair: dict[tuple[str, str], tuple[int, Decision]] = {}
    for number, decision in enumerate(decisions, start=1):
        if decision.decision not in DECISIONS:
            raise LinkageError(f"decision must be one of {', '.join(DECISIONS)}")
        if decision.record_key_a == decision.record_key_b:
            raise LinkageError(f"{decision.record_key_a}: a decision needs two different records")
        if not decision.reason.strip() or not decision.reviewer.strip():
            raise LinkageError("every decision needs a reviewer and a reason")
        seen = by_pair.setdefault(decision.pair, (number, decision))
        if seen[1].decision != decision.decision:
            raise LinkageError(f"decisions {seen[0]} and {number} disagree on one pair "
                               f"({decision.pair[0]}, {decision.pair[1]})")
    return [decision for _, decision in by_pair.values()]


def _check_known(store: Store, keys: list[str]) -> None:
    known = {row[0] for row in store.run_step(STAGE, Step(
        "known_records", "SELECT record_key FROM person WHERE list_contains($keys, record_key)",
        {"keys": keys}))}
    missing = [key for key in keys if key not in known]
    if missing:
        raise LinkageError(f"record {missing[0]} is not in the store (use source_system:"
                           f"source_record_id as the crosswalk shows it)"
                           + (f"; {len(missing) - 1} more unknown" if len(missing) > 1 else ""))


_COUNT = f"""
SELECT coalesce(sum(CASE WHEN d.decision IS NULL THEN 1 ELSE 0 END), 0),
    coalesce(sum(CASE WHEN d.decision <> b.decision THEN 1 ELSE 0 END), 0),
    coalesce(sum(CASE WHEN d.decision = b.decision THEN 1 ELSE 0 END), 0)
FROM decision_batch AS b
LEFT JOIN ({DECISIONS_IN_FORCE}) AS d ON d.key_l = b.key_l AND d.key_r = b.key_r"""

# Only pairs whose decision in force differs (or that have none) get a row.
_INSERT = f"""
INSERT INTO manual_decision
SELECT $first + row_number() OVER (ORDER BY b.position) - 1, $at, b.record_key_a,
    b.record_key_b, b.decision, b.reviewer, b.reason, NULL
FROM decision_batch AS b
LEFT JOIN ({DECISIONS_IN_FORCE}) AS d ON d.key_l = b.key_l AND d.key_r = b.key_r
WHERE d.decision IS NULL OR d.decision <> b.decision"""

_IDS = f"""
SELECT b.position, d.decision_id FROM decision_batch AS b
JOIN ({DECISIONS_IN_FORCE}) AS d ON d.key_l = b.key_l AND d.key_r = b.key_r
ORDER BY b.position"""


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def record_decisions(store: Store, decisions: list[Decision]) -> Recorded:
    """Validate and store decisions (all or none); they apply from the next run on."""
    decisions = _check(decisions)
    if not decisions:
        return Recorded()
    _check_known(store, sorted({key for d in decisions for key in d.pair}))
    batch = pa.table({
        "position": pa.array(range(len(decisions)), pa.int64()),
        "key_l": [d.pair[0] for d in decisions], "key_r": [d.pair[1] for d in decisions],
        "record_key_a": [d.record_key_a for d in decisions],
        "record_key_b": [d.record_key_b for d in decisions],
        "decision": [d.decision for d in decisions],
        "reviewer": [d.reviewer for d in decisions], "reason": [d.reason for d in decisions]})
    with store.registered("decision_batch", batch):
        with store.transaction():
            new, changed, unchanged = store.run_step(STAGE, Step("count_decisions", _COUNT))[0]
            first = store.scalar(STAGE, "next_decision",
                                 "SELECT coalesce(max(decision_id), 0) + 1 FROM manual_decision")
            store.run_step(STAGE, Step("insert_decisions", _INSERT,
                                       {"first": first, "at": _now()}))
            ids = [row[1] for row in store.run_step(STAGE, Step("decision_ids", _IDS))]
    return Recorded(int(new), int(changed), int(unchanged), ids)


def revoke_decision(store: Store, record_a: str, record_b: str, reviewer: str,
                    reason: str) -> int:
    """End the decision in force on a pair (from the next run on, the pair is undecided)
    with a `revoked` row; return its id. A pair with no decision in force is an error."""
    key_l, key_r = min(record_a, record_b), max(record_a, record_b)
    if not reviewer.strip() or not reason.strip():
        raise LinkageError("a revoke needs a reviewer and a reason")
    with store.transaction():
        in_force = store.scalar(STAGE, "find_decision", f"""
SELECT count(*) FROM ({DECISIONS_IN_FORCE}) AS d WHERE d.key_l = $l AND d.key_r = $r""",
                                {"l": key_l, "r": key_r})
        if not in_force:
            raise LinkageError(f"no decision in force on the pair {key_l} / {key_r} "
                               "(see `linkage review list`)")
        decision_id = store.scalar(STAGE, "next_decision",
                                   "SELECT coalesce(max(decision_id), 0) + 1 FROM manual_decision")
        store.run_step(STAGE, Step("revoke_decision", """
INSERT INTO manual_decision VALUES ($id, $at, $a, $b, 'revoked', $reviewer, $reason, NULL)""", {
            "id": decision_id, "at": _now(), "a": record_a, "b": record_b,
            "reviewer": reviewer, "reason": reason}))
    return decision_id


_LIST = f"""
SELECT record_key_a AS record_a, record_key_b AS record_b, decision, reviewer, reason,
    decided_at, applied_run, decision_id
FROM ({DECISIONS_IN_FORCE}) AS d ORDER BY decision_id"""


def decisions_in_force(store: Store) -> list[dict]:
    """The decisions in force, oldest first: record_a, record_b, decision, reviewer,
    reason, decided_at, applied_run (None until a run applies it), decision_id."""
    return store.run_records(STAGE, Step("decisions_in_force", _LIST))
