"""The crosswalk invariants (DESIGN §7) on hand-made clusterings, without a model: written
against the Store interface, run on DuckDB and (pytest -m spark) on Spark."""

from __future__ import annotations

import hashlib
import hmac
import re

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import query
from linkage.crosswalk import assign_enterprise_ids, labels, resolve_enterprise_id
from linkage.crosswalk.labels import KEY_ENV, eid_key, eid_label
from linkage.errors import ConfigError, StoreError
from linkage.link import Clustering
from linkage.store import Step, open_store


@pytest.fixture
def store(engine_store):
    return engine_store


def apply_run(store, run_id: int, clusters: list[list[str]]):
    """Record one run whose clustering is `clusters` (lists of source_record_ids)."""
    members = [(record_id, min(cluster)) for cluster in clusters for record_id in cluster]
    rows = pa.table({
        "record_key": pa.array([f"src:{record_id}" for record_id, _ in members], pa.string()),
        "source_record_id": pa.array([record_id for record_id, _ in members], pa.string()),
        "cluster_id": pa.array([f"src:{anchor}" for _, anchor in members], pa.string())})
    clustering = Clustering()
    with store.registered("run_record", rows):
        store.run_steps("test", [
            Step("clear_person", "DELETE FROM person"),
            Step("person", "INSERT INTO person (record_key, source_system, source_record_id, "
                 "run_id, is_deleted) SELECT record_key, 'src', source_record_id, $run_id, false "
                 "FROM run_record", {"run_id": run_id}),
            Step("clustering", f"CREATE OR REPLACE TEMP TABLE {clustering.table} AS "
                 "SELECT record_key, cluster_id FROM run_record"),
        ])
    return assign_enterprise_ids(store, clustering, run_id)


def active_eids(store) -> dict[str, str]:
    return dict(query(store, "SELECT source_record_id, enterprise_id FROM crosswalk "
                             "WHERE valid_to_run IS NULL"))


def events(store, run_id: int) -> list[tuple]:
    return sorted(query(store, "SELECT event_type, enterprise_id, related_enterprise_id, "
                               "source_record_id FROM crosswalk_event WHERE run_id = $run_id",
                        {"run_id": run_id}), key=repr)


def test_first_run_gives_each_cluster_one_new_eid(store):
    counts = apply_run(store, 1, [["a", "b"], ["c"]])
    eids = active_eids(store)
    assert eids["a"] == eids["b"] != eids["c"]
    assert (counts.eids_created, counts.eids_kept, counts.eids_retired) == (2, 0, 0)
    assert counts.records_added == 3


def test_same_clusters_again_change_nothing(store):
    apply_run(store, 1, [["a", "b"], ["c"]])
    before = active_eids(store)
    counts = apply_run(store, 2, [["a", "b"], ["c"]])
    assert active_eids(store) == before
    assert (counts.eids_created, counts.eids_retired, counts.records_moved) == (0, 0, 0)
    assert events(store, 2) == []


def test_every_active_record_maps_to_exactly_one_active_eid(store):
    apply_run(store, 1, [["a", "b"], ["c"], ["d"]])
    apply_run(store, 2, [["a", "b", "c"], ["d", "e"]])
    rows = query(store, """
        SELECT cw.source_record_id, count(*), bool_and(e.retired_run IS NULL)
        FROM crosswalk cw JOIN enterprise_id e USING (enterprise_id)
        WHERE cw.valid_to_run IS NULL GROUP BY 1""")
    assert sorted(row[0] for row in rows) == ["a", "b", "c", "d", "e"]
    assert all(count == 1 and active for _, count, active in rows)


def test_merge_keeps_the_eid_with_most_records_and_retires_the_other(store):
    apply_run(store, 1, [["a", "b"], ["c"]])
    first = active_eids(store)
    counts = apply_run(store, 2, [["a", "b", "c"]])
    assert set(active_eids(store).values()) == {first["a"]}
    assert (counts.eids_kept, counts.eids_retired, counts.records_moved) == (1, 1, 1)
    merged = query(store, "SELECT merged_into, retired_run FROM enterprise_id "
                          "WHERE enterprise_id = $eid", {"eid": first["c"]})
    assert merged == [(first["a"], 2)]
    assert ("merged", first["c"], first["a"], None) in events(store, 2)
    assert ("record_moved", first["a"], first["c"], "c") in events(store, 2)


def test_merge_of_equal_clusters_keeps_the_older_eid(store):
    apply_run(store, 1, [["a"], ["b"]])
    first = active_eids(store)
    older = min(first.values(), key=lambda eid: query(
        store, "SELECT seq FROM enterprise_id WHERE enterprise_id = $eid", {"eid": eid})[0][0])
    apply_run(store, 2, [["a", "b"]])
    assert set(active_eids(store).values()) == {older}


def test_split_keeps_the_eid_on_the_larger_part_and_gives_the_other_a_new_one(store):
    apply_run(store, 1, [["a", "b", "c"]])
    original = active_eids(store)["a"]
    counts = apply_run(store, 2, [["a", "b"], ["c"]])
    now = active_eids(store)
    assert now["a"] == now["b"] == original != now["c"]
    assert counts.eids_created == 1 and counts.eids_retired == 0
    assert ("split", now["c"], original, None) in events(store, 2)


def test_removed_record_is_closed_not_erased_and_its_empty_eid_deactivated(store):
    apply_run(store, 1, [["a", "b"], ["c"]])
    first = active_eids(store)
    counts = apply_run(store, 2, [["a", "b"]])
    assert "c" not in active_eids(store)
    assert counts.records_removed == 1
    history = query(store, "SELECT enterprise_id, valid_from_run, valid_to_run FROM crosswalk "
                           "WHERE source_record_id = 'c'")
    assert history == [(first["c"], 1, 2)]
    assert ("deactivated", first["c"], None, None) in events(store, 2)
    assert resolve_enterprise_id(store, first["c"]) == (first["c"], False)


def test_returning_record_regains_the_eid_it_left_while_the_eid_stays_active(store):
    apply_run(store, 1, [["a", "b"], ["c"]])
    first = active_eids(store)
    apply_run(store, 2, [["b"], ["c"]])
    counts = apply_run(store, 3, [["a", "b"], ["c"]])
    assert active_eids(store) == first
    assert (counts.records_restored, counts.records_added, counts.eids_created) == (1, 0, 0)
    assert ("record_restored", first["a"], first["a"], "a") in events(store, 3)


def test_eid_left_empty_comes_back_with_its_returning_records(store):
    apply_run(store, 1, [["a", "b"], ["c"]])
    first = active_eids(store)
    apply_run(store, 2, [["c"]])
    counts = apply_run(store, 3, [["a", "b"], ["c"]])
    assert active_eids(store) == first
    assert (counts.eids_reactivated, counts.eids_created, counts.records_restored) == (1, 0, 2)
    assert ("reactivated", first["a"], None, None) in events(store, 3)
    assert resolve_enterprise_id(store, first["a"]) == (first["a"], True)
    assert query(store, "SELECT retired_run, merged_into FROM enterprise_id WHERE "
                        "enterprise_id = $eid", {"eid": first["a"]}) == [(None, None)]


def test_returning_records_split_apart_revive_their_eid_once(store):
    apply_run(store, 1, [["a", "b", "c"], ["d"]])
    first = active_eids(store)
    apply_run(store, 2, [["d"]])
    counts = apply_run(store, 3, [["a", "b"], ["c"], ["d"]])
    now = active_eids(store)
    assert now["a"] == now["b"] == first["a"] and now["c"] != first["a"]
    assert (counts.eids_reactivated, counts.eids_created) == (1, 1)


def test_returning_record_joins_the_cluster_it_now_belongs_to(store):
    apply_run(store, 1, [["a"], ["c"]])
    first = active_eids(store)
    apply_run(store, 2, [["c"]])
    apply_run(store, 3, [["a", "c"]])
    # Its old EID was left empty, but its cluster keeps an active EID: it joins that one.
    assert active_eids(store) == {"a": first["c"], "c": first["c"]}
    assert resolve_enterprise_id(store, first["a"]) == (first["a"], False)


def test_retired_eid_resolves_through_merges_to_an_active_eid(store):
    apply_run(store, 1, [["a", "b", "c"], ["d", "e"], ["f"]])
    first = active_eids(store)
    apply_run(store, 2, [["a", "b", "c"], ["d", "e", "f"]])
    apply_run(store, 3, [["a", "b", "c", "d", "e", "f"]])
    assert resolve_enterprise_id(store, first["f"]) == (first["a"], True)
    assert resolve_enterprise_id(store, "E-never-issued") is None


def test_every_eid_change_of_a_record_has_exactly_one_event(store):
    apply_run(store, 1, [["a", "b"], ["c"], ["d"]])
    apply_run(store, 2, [["a"], ["b", "c"], ["e"]])
    changed = query(store, """
        SELECT source_record_id FROM crosswalk WHERE valid_from_run = 2
        UNION SELECT source_record_id FROM crosswalk WHERE valid_to_run = 2""")
    explained = query(store, """
        SELECT source_record_id, count(*) FROM crosswalk_event
        WHERE run_id = 2 AND source_record_id IS NOT NULL GROUP BY 1""")
    assert sorted(changed) == sorted((record,) for record, _ in explained)
    assert all(count == 1 for _, count in explained)


def test_eids_are_opaque(store):
    apply_run(store, 1, [["19-1234567-01", "A1B2"]])
    (eid,) = set(active_eids(store).values())
    assert "1234567" not in eid and "A1B2" not in eid
    assert re.fullmatch(r"E[0-9A-F]{16}", eid)


KEY = bytes(range(32))  # a key stores share through LINKAGE_EID_KEY


def stored_keys(store) -> list[tuple]:
    return query(store, "SELECT value FROM store_meta WHERE key = 'eid_key'")


def test_new_eid_label_comes_from_its_founding_record_only(store, monkeypatch):
    monkeypatch.setenv(KEY_ENV, KEY.hex())
    apply_run(store, 1, [["m", "c"], ["z"]])
    alone = active_eids(store)
    assert alone["c"] == eid_label(KEY, "src:c") and alone["z"] == eid_label(KEY, "src:z")
    # Other clusters before it, in the same run or earlier, leave its label as it is.
    with open_store(":memory:", create=True) as other:
        apply_run(other, 1, [["a"], ["b", "y"]])
        apply_run(other, 2, [["a"], ["b", "y"], ["0"], ["c", "m"]])
        assert active_eids(other)["c"] == alone["c"]


def test_a_store_labels_under_its_own_secret_key_not_an_unkeyed_hash(store, monkeypatch):
    monkeypatch.delenv(KEY_ENV, raising=False)
    apply_run(store, 1, [["a"]])
    (stored,), = stored_keys(store)
    key = bytes.fromhex(stored)
    assert len(key) == 32 and key != bytes(32)
    keyed = "E" + hmac.new(key, b"src:a", hashlib.sha256).hexdigest()[:16].upper()
    unkeyed = "E" + hashlib.sha256(b"src:a").hexdigest()[:16].upper()
    assert active_eids(store)["a"] == eid_label(key, "src:a") == keyed != unkeyed
    # The key is made once and kept: later runs label under it.
    apply_run(store, 2, [["a"], ["b"]])
    assert stored_keys(store) == [(stored,)]
    assert active_eids(store)["b"] == eid_label(key, "src:b")


def test_two_stores_label_one_cluster_alike_only_when_they_share_a_key(store, monkeypatch):
    monkeypatch.delenv(KEY_ENV, raising=False)
    apply_run(store, 1, [["a", "b"]])
    with open_store(":memory:", create=True) as other:
        apply_run(other, 1, [["a", "b"]])
        assert active_eids(other)["a"] != active_eids(store)["a"]
    # LINKAGE_EID_KEY overrides each store's own key; a store labelling under it keeps none.
    monkeypatch.setenv(KEY_ENV, KEY.hex())
    apply_run(store, 2, [["a", "b"], ["c"]])
    with open_store(":memory:", create=True) as other:
        apply_run(other, 1, [["c"]])
        assert active_eids(other)["c"] == active_eids(store)["c"] == eid_label(KEY, "src:c")
        assert stored_keys(other) == []


@pytest.mark.parametrize("value", ["not hex", "00" * 16, "00" * 33])
def test_a_shared_key_that_is_not_32_bytes_of_hex_is_refused_without_echoing_it(
        store, monkeypatch, value):
    monkeypatch.setenv(KEY_ENV, value)
    with pytest.raises(ConfigError, match=KEY_ENV) as refused:
        eid_key(store)
    assert value not in str(refused.value)


def test_a_label_already_issued_is_never_reused(store, monkeypatch):
    monkeypatch.setenv(KEY_ENV, KEY.hex())
    taken = eid_label(KEY, "src:a")
    store.run_step("test", Step("retired_eid", "INSERT INTO enterprise_id VALUES "
                                "($eid, 1, 1, 1, NULL)", {"eid": taken}))
    apply_run(store, 2, [["a", "b"], ["c"]])
    eids = active_eids(store)
    assert eids["a"] == eids["b"] == eid_label(KEY, "src:a", 1) != taken
    assert query(store, "SELECT retired_run, merged_into FROM enterprise_id "
                        "WHERE enterprise_id = $eid", {"eid": taken}) == [(1, None)]
    assert eids["c"] == eid_label(KEY, "src:c")


def test_new_clusters_proposing_one_label_get_distinct_ones_smallest_key_first(
        store, monkeypatch):
    # Every cluster proposes the same label at each attempt: each round labels one of them.
    monkeypatch.setattr(labels, "propose", lambda key, founding_keys, attempt: pa.array(
        [f"X{attempt}"] * len(founding_keys), pa.string()))
    apply_run(store, 1, [["c"], ["a", "d"], ["b"]])
    assert active_eids(store) == {"a": "X0", "d": "X0", "b": "X1", "c": "X2"}
    apply_run(store, 2, [["c"], ["a", "d"], ["b"], ["e"], ["f"]])
    assert {active_eids(store)[r] for r in "ef"} == {"X3", "X4"}


def test_a_cluster_left_without_a_free_label_stops_the_run(store, monkeypatch):
    monkeypatch.setattr(labels, "propose", lambda key, founding_keys, attempt: pa.array(
        ["X"] * len(founding_keys), pa.string()))
    with pytest.raises(StoreError, match="no free label"):
        apply_run(store, 1, [["a"], ["b"]])


PEOPLE = [["a", "b", "c"], ["d", "e"], ["f"], ["g", "h"]]
RECORDS = [record for person in PEOPLE for record in person]
# A run is full (the records present are the source's whole state) or delta (records added
# and deleted from the previous state).
run_steps = st.lists(st.tuples(st.sampled_from(["full", "delta"]),
                               st.sets(st.sampled_from(RECORDS)),
                               st.sets(st.sampled_from(RECORDS))), min_size=1, max_size=6)


@settings(max_examples=40, deadline=None)
@given(steps=run_steps)
def test_removed_and_restored_records_regain_their_eid_where_their_cluster_allows(steps):
    with open_store(":memory:", create=True) as store:
        present: set[str] = set()
        last: dict[str, str] = {}  # every record's EID when last seen
        for run_id, (mode, chosen, deleted) in enumerate(steps, start=1):
            before = active_eids(store)
            present = set(chosen) if mode == "full" else (present | chosen) - deleted
            clusters = [[r for r in person if r in present] for person in PEOPLE]
            apply_run(store, run_id, [members for members in clusters if members])
            now = active_eids(store)
            assert set(now) == present
            kinds = dict(((r, kind) for kind, _, _, r in events(store, run_id) if r))
            for members in clusters:
                claims = {before.get(r, last.get(r)) for r in members}
                returning = [r for r in members if r not in before and r in last]
                for record in returning:
                    assert kinds[record] in ("record_restored", "record_moved") or \
                        now[record] == last[record]
                    # Nothing in its cluster claims another EID: it gets its old one back.
                    if claims == {last[record]}:
                        assert now[record] == last[record]
                for record in members:
                    if record not in before and record not in last:
                        assert kinds[record] == "record_added"
            last.update(now)
