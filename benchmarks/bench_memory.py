"""Peak memory per stage of one `linkage run` over a population already generated, with the
engine's limits as given: what a run holds at once, and whether it stays inside its bound.

    linkage synth --people 600000 --seed 20261202 --out /tmp/memory-bounds/pop1m
    python benchmarks/bench_memory.py --population /tmp/memory-bounds/pop1m \\
        --work /tmp/memory-bounds/after [--memory-limit 2GB] [--threads 2]

The run happens in its own process (run.py's worker: RSS sampled every 20 ms, per stage;
the crosswalk exported and evaluated against the population's truth.csv, so a change that
should not move accuracy can be seen not to). Thresholds 0.5 / 0.99, the default model, as
run.py. Prints one JSON object: the run's stages, pairs, accuracy, the limits and the
pairs each blocking rule produced.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from run import REPO, _spawn, _write_config  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--population", type=Path, required=True,
                        help="a folder written by `linkage synth`")
    parser.add_argument("--work", type=Path, required=True,
                        help="where the config, store and crosswalk go (emptied first)")
    parser.add_argument("--model", type=Path, default=REPO / "models" / "default.json")
    parser.add_argument("--memory-limit", default=None, help="engine.memory_limit")
    parser.add_argument("--threads", type=int, default=None, help="engine.threads")
    args = parser.parse_args()

    shutil.rmtree(args.work, ignore_errors=True)
    args.work.mkdir(parents=True)
    config = _write_config(args.population.resolve(), args.work / "run.yaml", args.model)
    engine = {key: value for key, value in (("memory_limit", args.memory_limit),
                                            ("threads", args.threads)) if value is not None}
    if engine:
        config.write_text(config.read_text() + f"engine: {json.dumps(engine)}\n")
    result = _spawn("run", {"config": str(config), "store": str(args.work / "store.duckdb"),
                            "export": str(args.work / "crosswalk.csv"),
                            "truth": str(args.population / "truth.csv")})
    result["engine"] = engine
    print(json.dumps(result))


if __name__ == "__main__":
    main()
