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

The cost: disk for one copy of the store (about 480 bytes a record), memory for each
worker's preloaded records and key index (linkage.search.Searcher: about 800 MB per
million records), and the copy and preload after each run (20-40 s at a million records
on a busy 2-core machine, while the previous state answers).
"""

from __future__ import annotations

import fcntl
import logging
import os
import shutil
import struct
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from linkage.errors import StoreError
from linkage.outputs import private_umask
from linkage.search import Searcher
from linkage.serve import reads
from linkage.store.snapshots import is_snapshot_store

log = logging.getLogger(__name__)

# struct flock: Linux (type, whence, start, len, pid); macOS and the BSDs (start, len, pid,
# type, whence). Native alignment pads it as the C struct is.
_BSD = sys.platform == "darwin" or "bsd" in sys.platform
_FLOCK = "qqihh" if _BSD else "hhqqi"


def _flock(lock_type: int) -> bytes:
    fields = (0, 0, 0, lock_type, os.SEEK_SET) if _BSD else (lock_type, os.SEEK_SET, 0, 0, 0)
    return struct.pack(_FLOCK, *fields)


def writer_holds(path: Path) -> bool:
    """Whether another process holds DuckDB's write lock on `path` (a run is writing).
    Tests for the lock without taking one, so it never gets in a run's way."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return False
    try:
        held = struct.unpack(_FLOCK, fcntl.fcntl(fd, fcntl.F_GETLK, _flock(fcntl.F_RDLCK)))
        return held[3 if _BSD else 0] != fcntl.F_UNLCK
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
    """One committed state, opened: its searchers (one per worker, all reading the one
    store copy) and the run it holds."""

    searchers: list[Searcher]
    run_id: int | None
    copy: Path
    signature: tuple
    free: list[Searcher] = field(default_factory=list)
    busy: int = 0

    def __post_init__(self) -> None:
        self.free = list(self.searchers)


class CommittedStore:
    """The current committed state, and a thread that renews it after each run.

    Each request borrows one of the state's searchers (`borrow`): a DuckDB connection is
    for one query at a time, and `workers` of them answer that many requests at once. A
    renewal opens the new state beside the old and swaps; the old one's searchers close as
    their requests finish, and its copy is removed after the last.
    """

    def __init__(self, store: Path, model: Path, *, refresh_seconds: float = 1.0,
                 workers: int = 2) -> None:
        if is_snapshot_store(store) or store.is_dir():
            raise StoreError(f"{store}: `linkage serve` reads a DuckDB store file; a Parquet "
                             "(Spark) store is not supported by the service yet")
        if not store.exists():
            raise StoreError(f"{store}: store not found (run `linkage run` first)")
        self.store, self.model = store, model
        self.refresh_seconds = refresh_seconds
        self.workers = workers
        self._changed = threading.Condition()
        with private_umask():
            self._folder = Path(tempfile.mkdtemp(prefix=".linkage-serve-", dir=store.parent))
        self._stop = threading.Event()
        self.state: State | None = None
        self._thread: threading.Thread | None = None

    @contextmanager
    def borrow(self) -> Iterator[Searcher]:
        """A searcher of the current state, for one request."""
        with self._changed:
            while not self.state.free:
                self._changed.wait()
            state = self.state
            searcher = state.free.pop()
            state.busy += 1
        try:
            yield searcher
        finally:
            with self._changed:
                state.busy -= 1
                if state is self.state:
                    state.free.append(searcher)
                else:  # renewed meanwhile: this state is retired
                    searcher.close()
                    if state.busy == 0:
                        _remove(state.copy)
                self._changed.notify_all()

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
        searchers: list[Searcher] = []
        try:
            for _ in range(self.workers):
                searchers.append(Searcher.open(copy, self.model, preload=True))
                reads.prepare_members(searchers[-1].store)
            run_id = reads.last_run_id(searchers[0].store)
        except BaseException:
            for searcher in searchers:
                searcher.close()
            _remove(copy)
            raise
        with self._changed:
            old, self.state = self.state, State(searchers, run_id, copy, signature)
            if old is not None:
                self._retire(old)
            self._changed.notify_all()
        log.info("serve: answering from run %s", run_id)
        return True

    @staticmethod
    def _retire(state: State) -> None:
        """Close a replaced state's idle searchers; its copy goes with the last one."""
        for searcher in state.free:
            searcher.close()
        state.free = []
        if state.busy == 0:
            _remove(state.copy)

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
        with self._changed:
            if self.state is not None:
                self._retire(self.state)
                self.state = None
        shutil.rmtree(self._folder, ignore_errors=True)


def _remove(copy: Path) -> None:
    for file in (copy, copy.with_name(copy.name + ".wal")):
        try:
            file.unlink()
        except FileNotFoundError:
            pass
