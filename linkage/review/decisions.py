"""Record reviewer decisions: must-link and cannot-link on a pair of source records."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from linkage.errors import LinkageError
from linkage.store import Step, Store

STAGE = "review"
DECISIONS = ("must_link", "cannot_link")


@dataclass(frozen=True)
class Decision:
    record_key_a: str  # source_system:source_record_id
    record_key_b: str
    decision: str
    reviewer: str
    reason: str


def record_decisions(store: Store, decisions: list[Decision]) -> list[int]:
    """Validate and store decisions (all or none); they apply from the next run on."""
    for decision in decisions:
        if decision.decision not in DECISIONS:
            raise LinkageError(f"decision must be one of {', '.join(DECISIONS)}")
        if decision.record_key_a == decision.record_key_b:
            raise LinkageError(f"{decision.record_key_a}: a decision needs two different records")
        if not decision.reason.strip() or not decision.reviewer.strip():
            raise LinkageError("every decision needs a reviewer and a reason")
    keys = sorted({key for d in decisions for key in (d.record_key_a, d.record_key_b)})
    known = {row[0] for row in store.run_step(STAGE, Step(
        "known_records", "SELECT record_key FROM person WHERE list_contains($keys, record_key)",
        {"keys": keys}))}
    missing = [key for key in keys if key not in known]
    if missing:
        raise LinkageError(f"record {missing[0]} is not in the store (use source_system:"
                           f"source_record_id as the crosswalk shows it)"
                           + (f"; {len(missing) - 1} more unknown" if len(missing) > 1 else ""))
    ids = []
    with store.transaction():
        first = store.scalar(STAGE, "next_decision",
                             "SELECT coalesce(max(decision_id), 0) + 1 FROM manual_decision")
        now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
        for offset, decision in enumerate(decisions):
            store.run_step(STAGE, Step("insert_decision", """
INSERT INTO manual_decision VALUES ($id, $at, $a, $b, $decision, $reviewer, $reason, NULL)""", {
                "id": first + offset, "at": now, "a": decision.record_key_a,
                "b": decision.record_key_b, "decision": decision.decision,
                "reviewer": decision.reviewer, "reason": decision.reason}))
            ids.append(first + offset)
    return ids
