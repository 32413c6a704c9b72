"""The committed state the service answers from, renewed when a run commits.

DuckDB lets a process open a store file for writing only when no other process has it
open, even read-only: a service that kept the store open would make every nightly run
fail as busy (exit 4), and one that opened it per request would fail while a run writes.
So the service never opens the store. It copies the store file, when no run holds it,
into a private folder, and answers from the copy; it watches the store's file (size,
modification time) and, after a run commits, copies and opens the new state and switches
to it between two requests. A run in progress holds DuckDB's write lock on the file; the
service only *tests* for it (fcntl F_GETLK, which takes no lock) and keeps answering from
the copy it has. A copy is kept only if the file did not change while it was copied and
no run took the lock meanwhile, so a copy is always a committed state.

The cost: disk for one copy of the store (about 370 bytes a record), and a second or so
to copy and preload after each run (at a million records).
"""

from __future__ import annotations

import fcntl
import logging
import os
import shutil
import struct
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from linkage.errors import StoreError
from linkage.outputs import private_umask
from linkage.search import Searcher
from linkage.serve import reads
from linkage.store.snapshots import is_snapshot_store

log = logging.getLogger(__name__)

_FLOCK = "hhqqi"  # struct flock on Linux x86-64/arm64: type, whence, start, len, pid


def writer_holds(path: Path) -> bool:
    """Whether another process holds DuckDB's write lock on `path` (a run is writing).
    Tests for the lock without taking one, so it never gets in a run's way."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return False
    try:
        probe = struct.pack(_FLOCK, fcntl.F_RDLCK, os.SEEK_SET, 0, 0, 0)
        held = struct.unpack(_FLOCK, fcntl.fcntl(fd, fcntl.F_GETLK, probe))
        return held[0] != fcntl.F_UNLCK
    finally:
        os.close(fd)


def _signature(path: Path) -> tuple:
    """What changes when a run commits: the store file's and its WAL's size and mtime."""
    parts = []
    for file in (path, path.with_name(path.name + ".wal")):
        try:
            stat = file.stat()
            parts.append((stat.st_ino, stat.st_size, stat.st_mtime_ns))
        except FileNotFoundError:
            parts.append(None)
    return tuple(parts)


@dataclass
class State:
    """One committed state, opened: its searcher (and the store copy it reads)."""

    searcher: Searcher
    run_id: int | None
    copy: Path
    signature: tuple


class CommittedStore:
    """The current committed state, and a thread that renews it after each run.

    `lock` serializes every use of the state (a DuckDB connection is not for concurrent
    use); a renewal opens the new state outside it and swaps under it.
    """

    def __init__(self, store: Path, model: Path, *, refresh_seconds: float = 1.0) -> None:
        if is_snapshot_store(store) or store.is_dir():
            raise StoreError(f"{store}: `linkage serve` reads a DuckDB store file; a Parquet "
                             "(Spark) store is not supported by the service yet")
        if not store.exists():
            raise StoreError(f"{store}: store not found (run `linkage run` first)")
        self.store, self.model = store, model
        self.refresh_seconds = refresh_seconds
        self.lock = threading.Lock()
        with private_umask():
            self._folder = Path(tempfile.mkdtemp(prefix=".linkage-serve-", dir=store.parent))
        self._stop = threading.Event()
        self.state: State | None = None
        self._thread: threading.Thread | None = None

    def start(self, wait_seconds: float | None = None) -> None:
        """Open the committed state (waiting for a run in progress to commit, up to
        `wait_seconds`; for ever if None), then watch for the next."""
        started = time.monotonic()
        while not self.renew():
            if wait_seconds is not None and time.monotonic() - started > wait_seconds:
                raise StoreError(f"{self.store}: a run is writing the store; the service "
                                 "starts when it commits")
            if self._stop.wait(self.refresh_seconds):
                return
        self._thread = threading.Thread(target=self._watch, name="committed-store",
                                        daemon=True)
        self._thread.start()

    def _watch(self) -> None:
        while not self._stop.wait(self.refresh_seconds):
            try:
                self.renew()
            except Exception as error:  # keep serving the state we have
                log.warning("serve: could not open the store's new state (%s); still "
                            "answering from run %s", error.__class__.__name__,
                            self.state.run_id if self.state else None)

    def renew(self) -> bool:
        """Open the store's committed state if it changed; True when the state is current."""
        signature = _signature(self.store)
        if self.state is not None and signature == self.state.signature:
            return True
        if writer_holds(self.store):
            return False  # a run is writing: keep answering from the last commit
        copy = self._folder / f"store-{time.monotonic_ns()}.duckdb"
        with private_umask():
            shutil.copyfile(self.store, copy)
            wal = self.store.with_name(self.store.name + ".wal")
            if wal.exists():
                shutil.copyfile(wal, copy.with_name(copy.name + ".wal"))
        if _signature(self.store) != signature or writer_holds(self.store):
            _remove(copy)  # a run started meanwhile: not a committed state for sure
            return False
        try:
            searcher = Searcher.open(copy, self.model, preload=True)
            reads.prepare_members(searcher.store)
            run_id = reads.last_run_id(searcher.store)
        except BaseException:
            _remove(copy)
            raise
        state = State(searcher, run_id, copy, signature)
        with self.lock:
            old, self.state = self.state, state
            if old is not None:
                old.searcher.close()
        if old is not None:
            _remove(old.copy)
        log.info("serve: answering from run %s", run_id)
        return True

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
        with self.lock:
            if self.state is not None:
                self.state.searcher.close()
                self.state = None
        shutil.rmtree(self._folder, ignore_errors=True)


def _remove(copy: Path) -> None:
    for file in (copy, copy.with_name(copy.name + ".wal")):
        try:
            file.unlink()
        except FileNotFoundError:
            pass
