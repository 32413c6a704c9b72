"""Peak resident memory of this process, sampled in a background thread.

DuckDB allocates outside Python's allocator, so tracemalloc would miss most of it; RSS
sampled every 20 ms sees everything the process holds, at the cost of missing peaks
shorter than the interval.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import psutil


class PeakRss:
    """Samples RSS; `mark()` starts a new window and `peak_mb()` reads the window's peak."""

    def __init__(self, interval: float = 0.02) -> None:
        self._process = psutil.Process()
        self._interval = interval
        self._peak = self._process.memory_info().rss
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        while not self._stop.wait(self._interval):
            rss = self._process.memory_info().rss
            with self._lock:
                self._peak = max(self._peak, rss)

    def mark(self) -> None:
        with self._lock:
            self._peak = self._process.memory_info().rss

    def peak_mb(self) -> float:
        rss = self._process.memory_info().rss
        with self._lock:
            return round(max(self._peak, rss) / 2**20, 1)

    def close(self) -> None:
        self._stop.set()
        self._thread.join()


@contextmanager
def measured(sampler: PeakRss, results: dict[str, dict[str, float]], name: str) -> Iterator[None]:
    """Record seconds and peak RSS (MB) of the block under `results[name]`."""
    sampler.mark()
    started = time.perf_counter()
    yield
    results[name] = {"seconds": round(time.perf_counter() - started, 3),
                     "peak_rss_mb": sampler.peak_mb()}
