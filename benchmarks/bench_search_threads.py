"""Person search in-process at scale: one searcher, then two searchers in two threads (as
`linkage serve`'s two workers, on one store): median latency and queries per second, no HTTP.

    python benchmarks/bench_search_threads.py --records 1000000 [--work DIR] [--queries 40]

Uses bench_search's store and noisy queries (built by bench_search.py when missing).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench_search import linked_queries, query_arguments  # noqa: E402


def _search_all(searcher, queries: list[dict], seconds: list[float]) -> None:
    for query in queries:
        started = time.perf_counter()
        searcher.search(**query["search"])
        seconds.append(time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    query_arguments(parser, "bench_search_threads.json")
    args = parser.parse_args()
    _, project, queries, _ = linked_queries(args)
    with project.searcher() as first, project.searcher() as second:
        alone: list[float] = []
        _search_all(first, queries, alone)
        together: list[float] = []
        threads = [threading.Thread(target=_search_all, args=(searcher, part, together))
                   for searcher, part in ((first, queries[::2]), (second, queries[1::2]))]
        started = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        elapsed = time.perf_counter() - started
    print(f"one searcher: median {statistics.median(alone) * 1000:.1f} ms; two in two threads: "
          f"median {statistics.median(together) * 1000:.1f} ms, "
          f"{len(queries) / elapsed:.1f} queries/s")


if __name__ == "__main__":
    main()
