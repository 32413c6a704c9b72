"""The Parquet store's files: commits are atomic, crashes leave nothing behind, one writer.

Engine-free: snapshots are written here with DuckDB, as a Spark run writes them."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import duckdb
import pytest

from linkage.errors import StoreBusyError, StoreError
from linkage.store import SCHEMA_VERSION, open_store
from linkage.store.snapshots import LOCK, MANIFEST, Manifest, Snapshots


def write_snapshot(files: Snapshots, table: str, rows: list[tuple[str, str]]) -> str:
    snapshot = files.new_snapshot_id()
    folder = files.table_path(table, snapshot)
    folder.mkdir(parents=True)
    with duckdb.connect() as con:
        con.execute("CREATE TABLE t (key VARCHAR, value VARCHAR)")
        con.executemany("INSERT INTO t VALUES (?, ?)", rows)
        con.table("t").write_parquet(str(folder / "part-0.parquet"))
    return snapshot


def test_a_commit_replaces_the_manifest_and_removes_what_it_superseded(tmp_path):
    files = Snapshots(tmp_path / "store")
    files.acquire()
    first = write_snapshot(files, "store_meta", [("schema_version", "2")])
    files.commit(Manifest(2, {"store_meta": first}))
    second = write_snapshot(files, "store_meta", [("schema_version", "2"), ("k", "v")])
    files.commit(Manifest(2, {"store_meta": second}))
    files.release()

    assert files.manifest() == Manifest(2, {"store_meta": second})
    assert [p.name for p in (files.root / "store_meta").iterdir()] == [second]
    assert not (files.root / LOCK).exists()


def test_a_crashed_writer_leaves_the_committed_state_and_the_next_one_cleans_up(tmp_path):
    files = Snapshots(tmp_path / "store")
    files.acquire()
    committed = write_snapshot(files, "store_meta", [("schema_version", "2")])
    files.commit(Manifest(2, {"store_meta": committed}))
    # A run writes its new snapshot and a staged manifest, then dies before the replace.
    write_snapshot(files, "store_meta", [("half", "written")])
    (files.root / f"{MANIFEST}.dead.tmp").write_text("{}")

    assert files.manifest().tables == {"store_meta": committed}
    files.remove_unreferenced(files.manifest())  # what the next writer does when it opens
    assert [p.name for p in (files.root / "store_meta").iterdir()] == [committed]
    assert not list(files.root.glob("*.tmp"))


def test_two_writers_cannot_interleave_but_a_dead_ones_lock_is_taken_over(tmp_path):
    root = tmp_path / "store"
    first = Snapshots(root)
    first.acquire()
    with pytest.raises(StoreBusyError):
        Snapshots(root).acquire()
    first.release()

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True).stdout.strip()
    (root / LOCK).write_text(f"{os.uname().nodename} {dead}\n")
    taker = Snapshots(root)
    taker.acquire()  # the process that held it is gone
    taker.release()


def test_a_parquet_store_opens_read_only_in_duckdb(tmp_path):
    files = Snapshots(tmp_path / "store")
    files.acquire()
    meta = write_snapshot(files, "store_meta", [("schema_version", str(SCHEMA_VERSION))])
    files.commit(Manifest(SCHEMA_VERSION, {"store_meta": meta}))
    files.release()

    with open_store(files.root, read_only=True) as store:
        assert store.scalar("t", "version", "SELECT value FROM store_meta") == str(SCHEMA_VERSION)
        # tables the manifest does not name yet are there, empty
        assert store.scalar("t", "eids", "SELECT count(*) FROM enterprise_id") == 0
    with pytest.raises(StoreError, match="backend: spark"):
        open_store(files.root)


def test_a_manifest_that_is_not_a_store_is_refused(tmp_path):
    root = tmp_path / "store"
    root.mkdir()
    (root / MANIFEST).write_text(json.dumps({"format": "something else"}))
    with pytest.raises(StoreError, match="not a linkage Parquet store"):
        open_store(root, read_only=True)
