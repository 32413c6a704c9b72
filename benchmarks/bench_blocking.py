"""Blocking analysis: the pairs each prediction blocking rule adds, per store.

Counts come from Splink's `count_comparisons_from_blocking_rules` (exact, not sampled,
through `linkage.link.inspect.blocking_counts`) over the model file's rules: for each rule,
the pairs it adds beyond the rules before it, and the running total. Run it on linked
stores of growing size to check that pairs per record stay near flat.

    python benchmarks/bench_blocking.py --store A.duckdb --store B.duckdb [--model M] --out blocking.json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import duckdb

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from linkage.link import load_model  # noqa: E402
from linkage.link.inspect import blocking_counts  # noqa: E402
from linkage.link.model import MODEL_COLUMNS  # noqa: E402


def analyse(store: Path, model: Path) -> dict:
    with duckdb.connect(str(store), read_only=True) as source:
        persons = source.sql(f"SELECT {', '.join(MODEL_COLUMNS)} FROM person "
                             "WHERE NOT is_deleted").to_arrow_table()
    started = time.perf_counter()
    counts = blocking_counts(persons, load_model(model))
    return {
        "store": str(store), "records": persons.num_rows,
        "seconds": round(time.perf_counter() - started, 1),
        "rules": [{"rule": rule, "added": added, "cumulative": cumulative}
                  for rule, added, cumulative in counts.itertuples(index=False)],
        "pairs_per_record": round(int(counts["cumulative_pairs"].iloc[-1]) / persons.num_rows, 2),
    }


def markdown(results: list[dict]) -> str:
    header = "| rule | " + " | ".join(f"{r['records']:,} records" for r in results) + " |"
    lines = [header, "|---" + "|---:" * len(results) + "|"]
    for index, rule in enumerate(results[0]["rules"]):
        cells = " | ".join(f"{r['rules'][index]['added']:,}" for r in results)
        lines.append(f"| `{rule['rule']}` | {cells} |")
    lines.append("| **total pairs** | " + " | ".join(
        f"**{r['rules'][-1]['cumulative']:,}**" for r in results) + " |")
    lines.append("| **pairs per record** | " + " | ".join(
        f"**{r['pairs_per_record']}**" for r in results) + " |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--store", type=Path, action="append", required=True,
                        help="a linked store (repeat, smallest first)")
    parser.add_argument("--model", type=Path, default=REPO / "models" / "default.json",
                        help="the model whose prediction blocking rules are counted")
    parser.add_argument("--out", type=Path, default=None, help="JSON results file")
    args = parser.parse_args()
    results = [analyse(store, args.model) for store in args.store]
    if args.out:
        args.out.write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")
    print(markdown(results))


if __name__ == "__main__":
    main()
