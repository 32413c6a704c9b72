"""The access log: one row per request, who asked, when, where, how many answers and how
long it took. Never a query value, a token or an identifier from an answer.

It is a table in its own DuckDB file beside the store (`<store>.access.duckdb`), not in the
store: DuckDB lets one process write a file at a time, and the service must never hold the
lock a nightly run needs. The service appends from a background thread, opening the file
for each batch (a second apart at most), so `linkage access-log` can read it meanwhile.
"""

from __future__ import annotations

import datetime as dt
import logging
import queue
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import duckdb

from linkage.errors import StoreBusyError, StoreError
from linkage.outputs import private_umask

log = logging.getLogger(__name__)
FLUSH_SECONDS = 1.0

CREATE = """
CREATE TABLE IF NOT EXISTS access_log (
    logged_at TIMESTAMP NOT NULL,
    consumer VARCHAR,             -- null: no valid token
    endpoint VARCHAR NOT NULL,    -- the route, e.g. /fhir/Patient/$match (no values)
    status INTEGER NOT NULL,      -- the HTTP status answered
    results INTEGER NOT NULL,     -- entries (EIDs) in the answer
    latency_ms DOUBLE NOT NULL
)"""
COLUMNS = ("logged_at", "consumer", "endpoint", "status", "results", "latency_ms")


def access_log_path(store: str | Path) -> Path:
    """Where the access log of the store at `store` lives: beside it."""
    store = Path(store)
    return store.with_name(store.stem + ".access.duckdb")


@dataclass(frozen=True)
class Access:
    logged_at: dt.datetime
    consumer: str | None
    endpoint: str
    status: int
    results: int
    latency_ms: float


class AccessLog:
    """Appends accesses to the log file from a background thread; `close` flushes."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._queue: queue.Queue[Access] = queue.Queue()
        self._stop = threading.Event()
        self._write([])  # create the table now: a bad path fails at start, not later
        self._thread = threading.Thread(target=self._run, name="access-log", daemon=True)
        self._thread.start()

    def record(self, consumer: str | None, endpoint: str, status: int, results: int,
               seconds: float) -> None:
        self._queue.put(Access(dt.datetime.now(dt.UTC).replace(tzinfo=None), consumer,
                               endpoint, status, results, round(seconds * 1000, 3)))

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
        self._flush(final=True)

    def _run(self) -> None:
        while not self._stop.wait(FLUSH_SECONDS):
            self._flush()

    def _flush(self, final: bool = False) -> None:
        batch = []
        while True:
            try:
                batch.append(self._queue.get_nowait())
            except queue.Empty:
                break
        if not batch:
            return
        for attempt in range(20 if final else 1):
            try:
                self._write(batch)
                return
            except StoreBusyError:
                if final:
                    time.sleep(0.1)
        if not final:  # a reader holds the file: keep the batch for the next flush
            for access in batch:
                self._queue.put(access)
        else:
            log.warning("access log: %d accesses not written (the log file stayed busy)",
                        len(batch))

    def _write(self, batch: list[Access]) -> None:
        with _open(self.path, read_only=False) as con:
            con.execute(CREATE)
            if batch:
                con.executemany(f"INSERT INTO access_log VALUES ({', '.join('?' * len(COLUMNS))})",
                                [[getattr(access, column) for column in COLUMNS]
                                 for access in batch])


class _open:
    """A connection to the log file, owner-only; busy (another process has it) is
    StoreBusyError."""

    def __init__(self, path: Path, read_only: bool) -> None:
        self.path, self.read_only = path, read_only

    def __enter__(self) -> duckdb.DuckDBPyConnection:
        try:
            with private_umask():
                self.con = duckdb.connect(str(self.path), read_only=self.read_only)
        except duckdb.IOException as error:
            if "lock" in str(error).replace(str(self.path), ""):
                raise StoreBusyError(f"{self.path}: the access log is in use; retry") from None
            raise StoreError(f"{self.path}: cannot open the access log "
                             f"({error.__class__.__name__})") from None
        return self.con

    def __exit__(self, *exc_info: object) -> None:
        self.con.close()


def read_access_log(path: Path, *, consumer: str | None = None, since: dt.datetime | None = None,
                    limit: int | None = None):
    """The log's rows, oldest first (the newest `limit` if given), as a pandas frame;
    retried for a few seconds while the service is writing a batch."""
    if not path.exists():
        raise StoreError(f"{path}: no access log (the service has not run on this store)")
    sql = f"SELECT {', '.join(COLUMNS)} FROM access_log WHERE ($consumer IS NULL OR " \
          "consumer = $consumer) AND ($since IS NULL OR logged_at >= $since) " \
          "ORDER BY logged_at DESC, consumer LIMIT $limit"
    params = {"consumer": consumer, "since": since, "limit": limit if limit else 2**62}
    for attempt in range(50):
        try:
            with _open(path, read_only=True) as con:
                frame = con.execute(sql, params).df()
            return frame.iloc[::-1].reset_index(drop=True)
        except StoreBusyError:
            if attempt == 49:
                raise
            time.sleep(0.1)
