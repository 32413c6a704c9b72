"""Labels for new enterprise IDs, taken from each cluster's own records only.

A new EID is `E` + the first 16 hex digits (64 bits) of SHA-256 of its cluster's *founding
record key*: the smallest `source_system:source_record_id` of its members
(`linkage.store.relations.record_key`). The label depends on nothing else, so the same cluster
gets the same label in a delivery and in a full run, whatever other clusters the run holds and
in whatever order. No source id can be read off it; but the hash is not keyed, so whoever
holds an EID and the scheme can hash candidate keys from a small key space (county, case and
person numbers; MRNs) until one matches its founding record. Mixing in a secret kept in the
store (and shared by stores that must agree) would close that; it is not done yet.

Length: among n labels the expected number of colliding pairs is about n² / 2^65 (birthday
bound over 64 bits): 2.7e-6 at 10M EIDs, 2.7e-4 at 100M. A collision never merges anything
(below), it only costs the later cluster its first-choice label.

Collisions: a label is free when no row of `enterprise_id` carries it (active or retired:
labels are never reused) and no other new cluster of the run took it. Labelling runs in
rounds; in round k every unlabelled cluster proposes attempt k (attempt 0 hashes the founding
key, attempt k > 0 the key + `#k`), and a free proposal goes to the smallest founding key
proposing it. Almost every run ends after round 0; a cluster still unlabelled after
`MAX_ATTEMPTS` rounds stops the run (it would take a 64-bit hash hitting taken labels that
many times in a row).

EIDs issued before this scheme (`E` + 10 decimal digits of their creation order) keep their
labels: EIDs are stable forever. Old and new labels differ in length, so they never meet.
The creation order itself stays in `enterprise_id.seq`, where "the older EID wins ties" reads
it; labels do not depend on it.
"""

from __future__ import annotations

import hashlib

from linkage.errors import StoreError
from linkage.store import Step, Store

STAGE = "crosswalk"
EID_PREFIX = "E"
EID_HEX_DIGITS = 16
MAX_ATTEMPTS = 8


def eid_label(founding_key: str, attempt: int = 0) -> str:
    """The label a cluster founded by `founding_key` proposes at `attempt` (the SQL of
    `label_sql` computes the same).

    >>> eid_label("calsaws:19-1234567-01")
    'E85AC566ED98E066A'
    """
    text = founding_key if attempt == 0 else f"{founding_key}#{attempt}"
    return EID_PREFIX + hashlib.sha256(text.encode()).hexdigest()[:EID_HEX_DIGITS].upper()


def label_sql(founding_key: str, attempt: str) -> str:
    """`eid_label` as an SQL expression of a founding-key column and an attempt number
    (a bound parameter); the prefix and length are code constants, not input values."""
    text = (f"CASE WHEN {attempt} = 0 THEN {founding_key} "
            f"ELSE {founding_key} || '#' || CAST({attempt} AS VARCHAR) END")
    return f"'{EID_PREFIX}' || upper(left(sha256({text}), {EID_HEX_DIGITS}))"


def _round(attempt: int) -> Step:
    """Round `attempt`: the clusters no earlier round labelled propose their label; free
    proposals are taken, each by the smallest founding key proposing it."""
    earlier = [f"eid_label_{k}" for k in range(attempt)]
    pending = "".join(f"\n    AND o.cluster_id NOT IN (SELECT cluster_id FROM {t})"
                      for t in earlier)
    taken = "".join(f"\n    AND c.enterprise_id NOT IN (SELECT enterprise_id FROM {t})"
                    for t in earlier)
    return Step(f"eid_label_{attempt}", f"""
CREATE OR REPLACE TEMP TABLE eid_label_{attempt} AS
WITH c AS (
    SELECT o.cluster_id, o.founding_key,
        {label_sql("o.founding_key", "$attempt")} AS enterprise_id
    FROM eid_orphan AS o
    WHERE true{pending}
)
SELECT c.cluster_id, c.enterprise_id FROM c
WHERE NOT EXISTS (SELECT 1 FROM enterprise_id AS e WHERE e.enterprise_id = c.enterprise_id){taken}
QUALIFY row_number() OVER (PARTITION BY c.enterprise_id ORDER BY c.founding_key) = 1""",
                {"attempt": attempt})


def label_new_eids(store: Store) -> str:
    """Give each cluster of temp table `eid_orphan` (cluster_id, founding_key) a free label;
    returns the temp table it wrote: `eid_label` (cluster_id, founding_key, enterprise_id)."""
    for attempt in range(MAX_ATTEMPTS):
        store.run_step(STAGE, _round(attempt))
        rounds = [f"eid_label_{k}" for k in range(attempt + 1)]
        pending = " ".join(f"AND cluster_id NOT IN (SELECT cluster_id FROM {t})" for t in rounds)
        (left,), = store.run_step(STAGE, Step(
            f"eid_unlabelled_{attempt}", f"SELECT count(*) FROM eid_orphan WHERE true {pending}"))
        if not left:
            break
    else:
        raise StoreError(f"crosswalk: {left} new enterprise IDs found no free label in "
                         f"{MAX_ATTEMPTS} attempts; nothing was committed")
    # Joined, not a UNION ALL of the rounds: Spark fails on that union of checkpointed views.
    joins = "".join(f"\nLEFT JOIN {t} USING (cluster_id)" for t in rounds)
    labelled = ", ".join(f"{t}.enterprise_id" for t in rounds)
    store.run_steps(STAGE, [
        Step("eid_label", f"""
CREATE OR REPLACE TEMP TABLE eid_label AS
SELECT o.cluster_id, o.founding_key, coalesce({labelled}, NULL) AS enterprise_id
FROM eid_orphan AS o{joins}"""),
        *(Step(f"drop_{t}", f"DROP TABLE {t}") for t in rounds)])
    return "eid_label"
