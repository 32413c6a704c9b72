"""Labels for new enterprise IDs, taken from each cluster's own records and a secret key.

A new EID is `E` + the first 16 hex digits (64 bits) of HMAC-SHA-256, under the store's *EID
key*, of its cluster's *founding record key*: the smallest `source_system:source_record_id`
of its members (`linkage.store.relations.record_key`). The label depends on nothing else, so
the same cluster gets the same label in a delivery and in a full run of one store, whatever
other clusters the run holds and in whatever order.

The key: founding keys come from small spaces (county, case and person numbers; MRNs), so an
unkeyed hash of one could be found by hashing every candidate; whoever holds an EID would
learn which source, and which record, founded it: that a clinic patient has a CalSAWS case,
and its number. Under a secret key no label can be tested against a guess. Each store makes
its own key (32 random bytes) when it first labels an EID and keeps it in `store_meta`; it is
never printed, logged or exported, and the store files are owner-only. Stores that must give
one cluster one label (a copy rebuilt from scratch, a DuckDB and a Spark store of one
deployment) share a key through the environment variable `LINKAGE_EID_KEY` (64 hex digits,
e.g. `python -c "import secrets; print(secrets.token_hex(32))"`), which overrides the
store's own; a store that labels under it makes no key of its own. Copying a store copies its
key. Changing the key changes no EID already issued (EIDs are stable forever), only the
labels of clusters founded later.

The labels are computed in Python, not in SQL: neither DuckDB nor Spark has an HMAC, and the
key stays out of SQL text (Spark inlines bound values into it, where plans and error messages
could show them). Each round fetches the founding keys still unlabelled and hands back their
proposals as an Arrow table; on Spark that passes the run's new clusters through the driver.

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
import hmac
import os
import secrets

import pyarrow as pa

from linkage.errors import ConfigError, StoreError
from linkage.store import Step, Store

STAGE = "crosswalk"
EID_PREFIX = "E"
EID_HEX_DIGITS = 16
MAX_ATTEMPTS = 8
KEY_ENV = "LINKAGE_EID_KEY"
KEY_BYTES = 32
KEY_META = "eid_key"  # its row in store_meta


def eid_label(key: bytes, founding_key: str, attempt: int = 0) -> str:
    """The label a cluster founded by `founding_key` proposes at `attempt`, under `key`.

    >>> eid_label(bytes(32), "calsaws:19-1234567-01")
    'E9AB5F25D8FA6506B'
    """
    return propose(key, pa.chunked_array([[founding_key]], pa.string()), attempt)[0].as_py()


def propose(key: bytes, founding_keys: pa.ChunkedArray, attempt: int) -> pa.Array:
    """The labels the clusters founded by `founding_keys` propose at `attempt`: HMAC-SHA-256
    of the founding key (attempt 0) or of the key + `#attempt`."""
    # The key's HMAC state is set up once and copied per label: 2-3 times faster than
    # `hmac.digest` per label.
    keyed = hmac.new(key, digestmod=hashlib.sha256)
    suffix = b"" if attempt == 0 else f"#{attempt}".encode()
    labels = []
    for founding_key in founding_keys.to_pylist():
        mac = keyed.copy()
        mac.update(founding_key.encode() + suffix)
        labels.append(EID_PREFIX + mac.hexdigest()[:EID_HEX_DIGITS].upper())
    return pa.array(labels, pa.string())


def eid_key(store: Store) -> bytes:
    """The key new labels are made under: `LINKAGE_EID_KEY` when set, else the store's own,
    made (and written to `store_meta`, in the caller's transaction) when it has none."""
    shared = os.environ.get(KEY_ENV)
    if shared is not None:
        return _shared_key(shared)
    stored = store.scalar(STAGE, "read_eid_key", "SELECT value FROM store_meta WHERE key = $key",
                          {"key": KEY_META})
    if stored is not None:
        return bytes.fromhex(stored)
    key = secrets.token_bytes(KEY_BYTES)
    # Handed over as a table, not a bound value: Spark would inline it into the SQL text.
    with store.registered("eid_key_row", pa.table({"key": [KEY_META], "value": [key.hex()]})):
        store.run_step(STAGE, Step("store_eid_key",
                                   "INSERT INTO store_meta SELECT key, value FROM eid_key_row"))
    return key


def _shared_key(text: str) -> bytes:
    # The message names the variable and the expected form, never the value.
    try:
        key = bytes.fromhex(text.strip())
    except ValueError:
        key = b""
    if len(key) != KEY_BYTES:
        raise ConfigError(f"{KEY_ENV}: expected {2 * KEY_BYTES} hex digits (a {KEY_BYTES}-byte "
                          "key, e.g. from `python -c \"import secrets; "
                          "print(secrets.token_hex(32))\"`); the value set is not that")
    return key


def _round(attempt: int) -> Step:
    """Round `attempt` over table `eid_proposal` (cluster_id, founding_key, enterprise_id: the
    clusters no earlier round labelled, with their proposals): free proposals are taken,
    each by the smallest founding key proposing it."""
    taken = "".join(f"\n    AND p.enterprise_id NOT IN (SELECT enterprise_id FROM eid_label_{k})"
                    for k in range(attempt))
    return Step(f"eid_label_{attempt}", f"""
CREATE OR REPLACE TEMP TABLE eid_label_{attempt} AS
SELECT p.cluster_id, p.enterprise_id FROM eid_proposal AS p
WHERE NOT EXISTS (SELECT 1 FROM enterprise_id AS e WHERE e.enterprise_id = p.enterprise_id){taken}
QUALIFY row_number() OVER (PARTITION BY p.enterprise_id ORDER BY p.founding_key) = 1""")


def _pending(store: Store, rounds: list[str]) -> pa.Table:
    labelled = "".join(f" AND cluster_id NOT IN (SELECT cluster_id FROM {t})" for t in rounds)
    return store.run_arrow(STAGE, Step(
        f"eid_unlabelled_{len(rounds)}",
        f"SELECT cluster_id, founding_key FROM eid_orphan WHERE true{labelled}"))


def label_new_eids(store: Store) -> str:
    """Give each cluster of temp table `eid_orphan` (cluster_id, founding_key) a free label;
    returns the temp table it wrote: `eid_label` (cluster_id, founding_key, enterprise_id)."""
    rounds: list[str] = []
    pending = _pending(store, rounds)
    key = eid_key(store) if pending.num_rows else b""  # a store makes its key when it needs one
    while pending.num_rows:
        attempt = len(rounds)
        if attempt == MAX_ATTEMPTS:
            raise StoreError(f"crosswalk: {pending.num_rows} new enterprise IDs found no free "
                             f"label in {MAX_ATTEMPTS} attempts; nothing was committed")
        proposals = pending.append_column(
            "enterprise_id", propose(key, pending["founding_key"], attempt))
        with store.registered("eid_proposal", proposals):
            store.run_step(STAGE, _round(attempt))
        rounds.append(f"eid_label_{attempt}")
        pending = _pending(store, rounds)
    # Joined, not a UNION ALL of the rounds: Spark fails on that union of checkpointed views.
    joins = "".join(f"\nLEFT JOIN {t} USING (cluster_id)" for t in rounds)
    labelled = ", ".join([*(f"{t}.enterprise_id" for t in rounds), "CAST(NULL AS VARCHAR)"])
    store.run_steps(STAGE, [
        Step("eid_label", f"""
CREATE OR REPLACE TEMP TABLE eid_label AS
SELECT o.cluster_id, o.founding_key, coalesce({labelled}) AS enterprise_id
FROM eid_orphan AS o{joins}"""),
        *(Step(f"drop_{t}", f"DROP TABLE {t}") for t in rounds)])
    return "eid_label"
