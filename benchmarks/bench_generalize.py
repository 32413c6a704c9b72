"""Does the model hold on data it was not tuned on?

    python benchmarks/bench_generalize.py --out benchmarks/generalize.json \
        [--work build/generalize] [--populations independent,drift:20000,default:100000] \
        [--labels 200] [--no-baseline] [--no-train]

Populations (`--populations`, comma-separated):

- `independent`: benchmarks/independent.py (pseudopeople's bundled sample population in our
  source shapes, dates as pseudopeople writes them), seed 0;
- `PROFILE:RECORDS`: `linkage synth --profile PROFILE` with the people count chosen so the
  population has about RECORDS records (records per person measured on a 5,000-person pilot,
  as benchmarks/run.py does), seed --seed.

Each population is generated once into --work and reused when its folder holds the same
generation (`generated.json` records the command). Then, for each population, four variants:

1. `out_of_box`: models/default.json, `match_threshold: auto` (the run picks the threshold
   with the best label-free estimated F1);
2. `trained`: a model trained (`linkage train`, holdout_people 0) on a SEPARATE population of
   the same kind (same profile and size, seed --seed + 1), run on the evaluation population
   with auto. Not for `independent`: independent.py's --seed draws pseudopeople's noise and
   our ids, but the simulated people are the same (pseudopeople's bundled sample holds one
   population), so no separate population of that kind can be had; the output says so;
3. `calibrated`: --labels N pairs drawn from the out-of-the-box run's `pair_score` as a
   reviewer would see them (the review band 0.5 <= p < 0.99 first, topped up with other
   scored pairs; seeded), labelled from truth.csv, `linkage calibrate` on them, then a run
   with the calibrated model into a fresh store;
4. `baseline`: plain Splink (benchmarks/baseline.py) on the same files, at its best threshold
   against truth (an advantage no other variant gets). For `independent` it reads the
   `--native-dates` copy (same seed, same records and truth; dates that parse rewritten to
   the formats the baseline's SQL reads), since it cannot read pseudopeople's formats.

Per variant: pair precision / recall / F1 and B-cubed F1 against truth at the run's chosen
threshold (`linkage evaluate --truth --json`), the threshold, the label-free estimate at it
(`linkage evaluate --json` without --truth) and |estimate - measured| F1, truth and estimated
F1 at fixed thresholds 0.5 / 0.9 / 0.99 (the evaluate sweep), records, EIDs vs true persons,
rejects, wall seconds and peak RSS of the run. Every step is its own process (the `linkage`
CLI, or this script as a worker for the baseline); its peak RSS is the kernel's high-water
mark for that process (`os.wait4` ru_maxrss), its seconds the process's wall time.

Writes --out (JSON, after every population) and the markdown table next to it (same name,
.md) with the exact commands at the top.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import shlex
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
SOURCES = (
    ("calsaws", "calsaws", "calsaws/persons.csv"),
    ("hmis", "hmis", "hmis"),
    ("ehr_csv", "ehr_csv", "ehr/patients.csv"),
    ("ehr_fhir", "ehr_fhir", "ehr/patients.ndjson"),
)
FIXED_THRESHOLDS = (0.5, 0.9, 0.99)
REVIEW_BAND = (0.5, 0.99)
INDEPENDENT_SEED = 0
# Errors that mean another person's half-finished edit of linkage/, not a benchmark result:
# wait and try again.
TRANSIENT = ("ImportError", "ModuleNotFoundError", "SyntaxError", "IndentationError",
             "NameError", "AttributeError: module", "cannot import name")
RETRY_WAIT = 60
RETRIES = 5
VARIANTS = ("out_of_box", "trained", "calibrated", "baseline")


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# -- processes ---------------------------------------------------------------------------

def linkage_bin() -> str:
    beside = Path(sys.executable).parent / "linkage"
    return str(beside) if beside.exists() else (shutil.which("linkage") or "linkage")


def shown(command: list[str]) -> str:
    """A command as a shell line, paths relative to the repository where they are in it."""
    parts = []
    for part in command:
        text = str(part)
        if text.startswith("/") and Path(text).is_relative_to(REPO):
            text = str(Path(text).relative_to(REPO))
        parts.append(shlex.quote(text))
    if parts and Path(command[0]).name.startswith("python"):
        parts[0] = "python"
    return " ".join(parts)


class StepFailed(RuntimeError):
    pass


def step(command: list[str], logs: Path, name: str, commands: list[str],
         timeout: float | None = None) -> dict[str, Any]:
    """Run one command in its own process; its stdout, wall seconds and peak RSS.

    A failure that looks like someone's in-progress edit of linkage/ (an ImportError and
    the like) is retried after a minute, up to RETRIES times; the retries are recorded."""
    commands.append(shown(command))
    logs.mkdir(parents=True, exist_ok=True)
    retries: list[str] = []
    while True:
        out_path, err_path = logs / f"{name}.out", logs / f"{name}.err"
        with open(out_path, "wb") as out, open(err_path, "wb") as err:
            started = time.perf_counter()
            proc = subprocess.Popen(command, stdout=out, stderr=err, cwd=REPO)
            timer = threading.Timer(timeout, proc.kill) if timeout else None
            if timer:
                timer.start()
            try:
                _, status, usage = os.wait4(proc.pid, 0)
            finally:
                if timer:
                    timer.cancel()
            proc.returncode = os.waitstatus_to_exitcode(status)
            seconds = time.perf_counter() - started
        stdout = out_path.read_text(encoding="utf-8", errors="replace")
        stderr = err_path.read_text(encoding="utf-8", errors="replace")
        if proc.returncode == 0:
            return {"stdout": stdout, "seconds": round(seconds, 3),
                    "peak_rss_mb": round(usage.ru_maxrss / 1024, 1),
                    **({"retries": retries} if retries else {})}
        tail = stderr.strip().splitlines()[-1] if stderr.strip() else f"exit {proc.returncode}"
        if any(marker in stderr for marker in TRANSIENT) and len(retries) < RETRIES:
            retries.append(tail[:300])
            log(f"  {name} failed ({tail[:160]}); looks like an edit in progress, "
                f"retrying in {RETRY_WAIT} s")
            time.sleep(RETRY_WAIT)
            continue
        if timeout and proc.returncode < 0:
            tail = f"timed out after {timeout:.0f} s"
        raise StepFailed(f"{name}: {tail}" + (f" (after {len(retries)} retries: "
                                              f"{retries[-1]})" if retries else ""))


def last_json(stdout: str) -> Any:
    """The JSON object a command printed last (some print a multi-line object)."""
    text = stdout.strip()
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        pass
    lines = text.splitlines()
    for i in range(len(lines) - 1, -1, -1):
        if lines[i].startswith("{"):
            try:
                return json.loads("\n".join(lines[i:]))
            except json.JSONDecodeError:
                continue
    raise ValueError("no JSON object in the command's output")


# -- populations -------------------------------------------------------------------------

def records_per_person(profile: str, seed: int, work: Path) -> float:
    """The generator's records per person for a profile, from benchmarks/run.py's pilot;
    cached in --work."""
    cache = work / "pilot.json"
    found = json.loads(cache.read_text()) if cache.exists() else {}
    key = f"{profile}:{seed}"
    if key not in found:
        sys.path.insert(0, str(HERE))
        from run import _records_per_person
        log(f"pilot: records per person of profile {profile}")
        found[key] = round(_records_per_person(seed, profile), 6)
        cache.write_text(json.dumps(found, indent=1) + "\n")
    return found[key]


def generate(folder: Path, command: list[str], commands: list[str], logs: Path,
             name: str) -> dict[str, Any]:
    """Run a generator command into `folder` unless the folder already holds its output."""
    marker = folder / "generated.json"
    key = shown(command)
    if marker.exists() and (folder / "truth.csv").exists():
        previous = json.loads(marker.read_text())
        if previous.get("command") == key:
            log(f"  reuse {folder}")
            commands.append(f"# reused: {key}")
            return {**previous, "reused": True}
    shutil.rmtree(folder, ignore_errors=True)
    log(f"  generate {folder}")
    done = step(command, logs, name, commands)
    result = {"command": key, "summary": last_json(done["stdout"]),
              "seconds": done["seconds"], "peak_rss_mb": done["peak_rss_mb"]}
    marker.write_text(json.dumps(result, indent=1) + "\n")
    return {**result, "reused": False}


def synth_command(profile: str, people: int, seed: int, out: Path) -> list[str]:
    return [linkage_bin(), "synth", "--people", str(people), "--seed", str(seed), "--out",
            str(out), "--profile", profile, "--json"]


def independent_command(seed: int, out: Path, native: bool = False) -> list[str]:
    return [sys.executable, str(HERE / "independent.py"), "--out", str(out), "--seed", str(seed),
            *(["--native-dates"] if native else [])]


# -- configs -----------------------------------------------------------------------------

def write_config(path: Path, data: Path, model: Path, store: Path,
                 training: bool = False) -> Path:
    """A config like configs/sample.yaml, absolute paths, `match_threshold: auto`."""
    lines = ["# written by benchmarks/bench_generalize.py", f"store: {json.dumps(str(store))}",
             f"model: {json.dumps(str(model))}", "sources:"]
    for name, kind, relative in SOURCES:
        lines.append(f"  - {{name: {name}, kind: {kind}, "
                     f"path: {json.dumps(str(data / relative))}}}")
    lines += ["linking:", "  predict_threshold: 0.5", "  match_threshold: auto"]
    if training:
        # As configs/train.yaml (how models/default.json was trained); no held-back population.
        lines += ["training:", "  seed: 42", "  max_pairs_u: 5000000",
                  "  em_max_iterations: 25", "  holdout_people: 0"]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def fresh_store(store: Path) -> None:
    for stale in store.parent.glob(store.name + "*"):
        if stale.is_dir():
            shutil.rmtree(stale)
        else:
            stale.unlink()


# -- one linkage variant -----------------------------------------------------------------

def run_variant(name: str, folder: Path, data: Path, model: Path, commands: list[str]
                ) -> dict[str, Any]:
    """Run with `model` into a fresh store; truth and estimated accuracy of the result."""
    store = folder / f"{name}.duckdb"
    config = write_config(folder / f"{name}.yaml", data, model, store)
    fresh_store(store)
    logs = folder / "logs"
    linkage = linkage_bin()
    thresholds = ",".join(map(str, FIXED_THRESHOLDS))
    log(f"  {name}: linkage run")
    ran = step([linkage, "run", "--config", str(config), "--json"], logs, f"{name}.run", commands)
    summary = last_json(ran["stdout"])
    log(f"  {name}: evaluate against truth")
    truth = last_json(step([linkage, "evaluate", "--config", str(config), "--truth",
                            str(data / "truth.csv"), "--thresholds", thresholds, "--json"],
                           logs, f"{name}.evaluate", commands)["stdout"])
    log(f"  {name}: label-free estimate")
    estimate = last_json(step([linkage, "evaluate", "--config", str(config), "--thresholds",
                               thresholds, "--json"], logs, f"{name}.estimate",
                              commands)["stdout"])
    link = summary["link"]
    metric_keys = ("precision", "recall", "f1", "bcubed_precision", "bcubed_recall",
                   "bcubed_f1", "records", "true_persons", "enterprise_ids", "true_pairs",
                   "predicted_pairs", "matched_pairs")
    measured = {key: truth[key] for key in metric_keys}
    estimated = {key: estimate[key] for key in metric_keys}
    by_threshold = []
    est_sweep = {round(row["match_threshold"], 6): row for row in estimate.get("sweep", [])}
    for row in truth.get("sweep", []):
        threshold = round(row["match_threshold"], 6)
        other = est_sweep.get(threshold, {})
        by_threshold.append({
            "threshold": row["match_threshold"], "f1": row["f1"], "precision": row["precision"],
            "recall": row["recall"], "bcubed_f1": row["bcubed_f1"],
            "enterprise_ids": row["enterprise_ids"], "estimated_f1": other.get("f1"),
            "estimate_error_f1": (abs(other["f1"] - row["f1"]) if "f1" in other else None)})
    return {
        "model": str(model), "config": str(config), "store": str(store),
        "match_threshold": link["match_threshold"],
        "evaluate_match_threshold": truth.get("match_threshold"),
        "threshold_estimates": link.get("threshold_estimates", {}),
        "truth": measured, "estimate": estimated,
        "estimate_error_f1": abs(estimated["f1"] - measured["f1"]),
        "estimate_error_bcubed_f1": abs(estimated["bcubed_f1"] - measured["bcubed_f1"]),
        "fixed_thresholds": by_threshold,
        "records": link["records"], "enterprise_ids": truth["enterprise_ids"],
        "true_persons": truth["true_persons"],
        "rejects": sum(source["rows_rejected"] for source in summary["sources"]),
        "warnings": {source["source_system"]: source.get("warnings", {})
                     for source in summary["sources"]},
        "pairs_scored": link["pairs_scored"], "pairs_kept": link["pairs_kept"],
        "clusters_flagged": link.get("clusters_flagged"), "prior": link.get("prior"),
        "stage_seconds": summary.get("seconds", {}),
        "wall_seconds": ran["seconds"], "peak_rss_mb": ran["peak_rss_mb"],
        **({"retries": ran["retries"]} if ran.get("retries") else {}),
    }


# -- labels for calibration --------------------------------------------------------------

def sample_labels(store: Path, truth: Path, n: int, seed: int, out: Path) -> dict[str, Any]:
    """N pairs of the store's pair_score as a reviewer sees them: the review band first
    (a seeded sample of it when it holds more than N), topped up with a seeded sample of the
    other scored pairs; labelled from truth.csv. Writes record_a, record_b, match."""
    import duckdb

    con = duckdb.connect(str(store), read_only=True)
    try:
        pairs = con.execute("SELECT record_key_l, record_key_r, match_probability "
                            "FROM pair_score ORDER BY record_key_l, record_key_r").fetchall()
    finally:
        con.close()
    low, high = REVIEW_BAND
    band = [p for p in pairs if low <= p[2] < high]
    rest = [p for p in pairs if not low <= p[2] < high]
    rng = random.Random(seed)
    chosen = rng.sample(band, n) if len(band) > n else list(band)
    if len(chosen) < n:
        chosen += rng.sample(rest, min(n - len(chosen), len(rest)))
    person: dict[str, str] = {}
    with open(truth, newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            person[f"{row['source_system']}:{row['source_record_id']}"] = row["person_id"]
    rows = []
    for left, right, _ in chosen:
        if left in person and right in person:
            rows.append((left, right, int(person[left] == person[right])))
    with open(out, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(("record_a", "record_b", "match"))
        writer.writerows(rows)
    in_band = sum(1 for p in chosen if low <= p[2] < high)
    return {"requested": n, "pairs_scored_kept": len(pairs), "band_pairs": len(band),
            "labels": len(rows), "from_band": in_band, "topped_up": len(chosen) - in_band,
            "matches": sum(r[2] for r in rows), "non_matches": len(rows) - sum(r[2] for r in rows),
            "file": str(out)}


# -- one population ----------------------------------------------------------------------

def bench_population(spec: str, args: argparse.Namespace, model: Path) -> dict[str, Any]:
    work: Path = args.work
    commands: list[str] = []
    result: dict[str, Any] = {"population": spec, "commands": commands, "variants": {}}
    populations = work / "populations"
    if spec == "independent":
        name = "independent"
        data = populations / name
        folder = work / name
        logs = folder / "logs"
        log(f"[{spec}] population")
        result["generate"] = generate(data, independent_command(INDEPENDENT_SEED, data),
                                      commands, logs, "generate")
        result["kind"] = {"generator": "benchmarks/independent.py", "seed": INDEPENDENT_SEED}
        train_data = None
        train_skip = ("independent.py --seed changes pseudopeople's noise and our ids only: "
                      "pseudopeople's bundled sample holds one simulated population, so "
                      "another seed gives the same people (same simulant ids), not a separate "
                      "population; training on it would be training on the evaluation people")
        baseline_data = populations / f"{name}-native"
        baseline_generation = (independent_command(INDEPENDENT_SEED, baseline_data, native=True),
                               "generate_native")
    else:
        profile, _, size = spec.partition(":")
        records = int(size)
        per_person = records_per_person(profile, args.seed, work)
        people = max(1, round(records / per_person))
        name = f"{profile}-{records}"
        data = populations / name
        folder = work / name
        logs = folder / "logs"
        log(f"[{spec}] population: {people} people")
        result["generate"] = generate(data, synth_command(profile, people, args.seed, data),
                                      commands, logs, "generate")
        result["kind"] = {"generator": "linkage synth", "profile": profile,
                          "target_records": records, "records_per_person": per_person,
                          "people": people, "seed": args.seed}
        train_data = populations / f"{name}-train"
        train_skip = None
        baseline_data = data
        baseline_generation = None
    folder.mkdir(parents=True, exist_ok=True)
    truth = data / "truth.csv"
    variants = result["variants"]

    def attempt(variant: str, action) -> None:
        try:
            variants[variant] = action()
        except (StepFailed, ValueError, KeyError, OSError) as error:
            log(f"[{spec}] {variant} failed: {error}")
            variants[variant] = {"error": str(error)[:2000]}

    log(f"[{spec}] out of the box")
    attempt("out_of_box", lambda: run_variant("out_of_box", folder, data, model, commands))

    if args.no_train:
        variants["trained"] = {"skipped": "--no-train"}
    elif train_skip:
        variants["trained"] = {"skipped": train_skip}
    else:
        def trained() -> dict[str, Any]:
            log(f"[{spec}] trained: separate population (seed {args.seed + 1})")
            generation = generate(train_data, synth_command(
                result["kind"]["profile"], result["kind"]["people"], args.seed + 1, train_data),
                commands, logs, "generate_train")
            trained_model = work / "models" / f"{name}.json"
            trained_model.parent.mkdir(parents=True, exist_ok=True)
            train_config = write_config(folder / "train.yaml", train_data, model,
                                        folder / "train.duckdb", training=True)
            log(f"[{spec}] trained: linkage train")
            training = step([linkage_bin(), "train", "--config", str(train_config), "--out",
                             str(trained_model), "--json"], logs, "train", commands)
            card = last_json(training["stdout"])
            found = run_variant("trained", folder, data, trained_model, commands)
            found["training"] = {
                "population": str(train_data), "seed": args.seed + 1,
                "records": card.get("trained_on", {}).get("records"),
                "people": (generation.get("summary") or {}).get("people"),
                "seconds": training["seconds"], "peak_rss_mb": training["peak_rss_mb"],
                "prior": card.get("probability_two_random_records_match")}
            return found
        attempt("trained", trained)

    if args.labels <= 0:
        variants["calibrated"] = {"skipped": "--labels 0"}
    elif "error" in variants.get("out_of_box", {}):
        variants["calibrated"] = {"skipped": "the out-of-the-box run failed"}
    else:
        def calibrated() -> dict[str, Any]:
            log(f"[{spec}] calibrated: {args.labels} labelled pairs")
            labels = sample_labels(Path(variants["out_of_box"]["store"]), truth, args.labels,
                                   args.seed, folder / "labels.csv")
            commands.append(f"# {shown([str(folder / 'labels.csv')])}: {labels['labels']} pairs "
                            f"of out_of_box.duckdb's pair_score ({labels['from_band']} of the "
                            f"{labels['band_pairs']} in the review band, {labels['topped_up']} "
                            f"others; seed {args.seed}), labelled from truth.csv")
            out = work / "models" / f"{name}_calibrated.json"
            out.parent.mkdir(parents=True, exist_ok=True)
            done = step([linkage_bin(), "calibrate", "--config", variants["out_of_box"]["config"],
                         "--labels", str(folder / "labels.csv"), "--out", str(out), "--json"],
                        logs, "calibrate", commands)
            calibration = last_json(done["stdout"])
            found = run_variant("calibrated", folder, data, out, commands)
            found["labels"] = labels
            found["calibration"] = {**calibration, "seconds": done["seconds"],
                                    "peak_rss_mb": done["peak_rss_mb"]}
            return found
        attempt("calibrated", calibrated)

    if args.no_baseline:
        variants["baseline"] = {"skipped": "--no-baseline"}
    else:
        def baseline() -> dict[str, Any]:
            root = baseline_data
            if baseline_generation:
                generate(root, baseline_generation[0], commands, logs, baseline_generation[1])
            log(f"[{spec}] baseline (plain Splink) on {root}")
            done = step([sys.executable, str(Path(__file__).resolve()), "--worker", "baseline",
                         str(root)], logs, "baseline", commands, timeout=args.baseline_timeout)
            found = last_json(done["stdout"])
            best = found["best"]
            return {"files": str(root), "native_dates_copy": root != data,
                    "threshold": best["threshold"], "truth": best, "sweep": found["sweep"],
                    "records": found["records"], "pairs_scored": found["pairs_scored"],
                    "enterprise_ids": best["enterprise_ids"],
                    "true_persons": best["true_persons"], "stages": found["stages"],
                    "wall_seconds": done["seconds"], "peak_rss_mb": done["peak_rss_mb"]}
        attempt("baseline", baseline)
    return result


# -- report ------------------------------------------------------------------------------

def fmt(value: Any, spec: str = ".4f") -> str:
    return "-" if value is None else format(value, spec)


def markdown(results: dict[str, Any]) -> str:
    m = results["machine"]
    first = results.get("linkage_tree", {}).get("fingerprint_at_start")

    def label(pop: dict[str, Any]) -> str:
        tree = pop.get("linkage_tree", {})
        moved = tree and (tree.get("before") != tree.get("after") or tree.get("before") != first)
        return pop["population"] + ("*" if moved else "")
    out = ["# Generalization: the model on data it was not tuned on", "",
           f"Machine: {m['nproc']} cores, {m['memory_gb']} GB, {m['os']}; Python {m['python']}, "
           f"duckdb {m['duckdb']}, splink {m['splink']}. Finished {results['finished']}.", "",
           "```sh", results["command"], "```", ""]
    tree = results.get("linkage_tree", {})
    if tree:
        out += [f"linkage/ at git {tree.get('git_head')} plus working-tree edits, fingerprint "
                f"{tree.get('fingerprint_at_start')} (sha256 of linkage/**/*.py)"
                + (f"; **linkage/ changed during the run** (now {tree['fingerprint_at_end']}): "
                   "populations measured under different code are marked with *"
                   if tree.get("changed_during_run") else ", unchanged during the run") + ".", ""]
    out += [

           "Variants: **out_of_box** = models/default.json, `match_threshold: auto`; "
           "**trained** = `linkage train` on a separate population of the same kind (seed "
           f"{results['seed'] + 1}), auto; **calibrated** = models/default.json calibrated "
           f"(`linkage calibrate`) on {results['labels']} labelled pairs of the out-of-the-box "
           "run's review band (0.5 <= p < 0.99, topped up with other scored pairs), auto; "
           "**baseline** = plain Splink (benchmarks/baseline.py) at its best threshold against "
           "truth. Threshold: the one the run chose (auto), the baseline's best. Estimated "
           "F1: `linkage evaluate` without truth at that threshold. Seconds and peak GB: the "
           "`linkage run` process (baseline: its whole process, training and 8 clusterings "
           "included); peak = the process's max RSS (`os.wait4`). Each variant's config "
           "(`<work>/<population>/<variant>.yaml`) is configs/sample.yaml's with absolute "
           "paths, its own store and model, `predict_threshold: 0.5`, `match_threshold: auto`; "
           "the training config adds configs/train.yaml's `training:` block with "
           "`holdout_people: 0`.", "",
           "| population | variant | F1 | precision | recall | B-cubed F1 | threshold | "
           "estimated F1 | \\|est - measured\\| | EIDs / people | seconds | peak GB |",
           "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    notes = []
    for pop in results["populations"]:
        for variant in VARIANTS:
            v = pop["variants"].get(variant)
            if v is None:
                continue
            if "skipped" in v or "error" in v:
                why = v.get("skipped") or v.get("error")
                short = why if len(why) < 70 else why[:67] + "..."
                cells = [label(pop), variant,
                         f"{'skipped' if 'skipped' in v else 'failed'}: {short.replace('|', '/')}"]
                out.append("| " + " | ".join(cells + [""] * 9) + " |")
                notes.append(f"- {label(pop)} / {variant}: {why}")
                continue
            t = v["truth"]
            estimated = v.get("estimate", {}).get("f1")
            out.append(
                f"| {label(pop)} | {variant} | {t['f1']:.4f} | {t['precision']:.4f} | "
                f"{t['recall']:.4f} | {t['bcubed_f1']:.4f} | "
                f"{v.get('match_threshold', v.get('threshold'))} | {fmt(estimated)} | "
                f"{fmt(v.get('estimate_error_f1'))} | "
                f"{v['enterprise_ids']:,} / {int(v['true_persons']):,} | "
                f"{v['wall_seconds']:.1f} | {v['peak_rss_mb'] / 1024:.2f} |")
    out += ["", "### Truth F1 (estimated F1) at fixed thresholds", "",
            "| population | variant | " + " | ".join(f"@{t}" for t in FIXED_THRESHOLDS)
            + " | auto's estimates by threshold |",
            "|---|---|" + "---:|" * len(FIXED_THRESHOLDS) + "---|"]
    for pop in results["populations"]:
        for variant in VARIANTS[:3]:
            v = pop["variants"].get(variant, {})
            if "truth" not in v:
                continue
            rows = {round(r["threshold"], 6): r for r in v["fixed_thresholds"]}
            cells = [f"{rows[t]['f1']:.4f} ({fmt(rows[t]['estimated_f1'])})" if t in rows else "-"
                     for t in FIXED_THRESHOLDS]
            estimates = ", ".join(f"{k}: {f:.3f}" for k, f in v["threshold_estimates"].items())
            out.append(f"| {label(pop)} | {variant} | " + " | ".join(cells)
                       + f" | {estimates} |")
    out += ["", "### Runs: records, rejects, training and calibration", "",
            "| population | records | rejects (out of box) | generate s | trained on "
            "(records, s, peak GB) | labels (band / top-up, matches) | Brier before -> after |",
            "|---|---:|---:|---:|---|---|---|"]
    for pop in results["populations"]:
        v = pop["variants"]
        oob = v.get("out_of_box", {})
        trained = v.get("trained", {}).get("training")
        cal = v.get("calibrated", {})
        labels, calibration = cal.get("labels"), cal.get("calibration")
        gen = pop["generate"]
        out.append(
            f"| {label(pop)} | {fmt(oob.get('records'), ',')} | "
            f"{fmt(oob.get('rejects'), ',')} | "
            f"{gen['seconds']:.1f}{' (reused)' if gen.get('reused') else ''} | "
            + (f"{trained['records']:,}, {trained['seconds']:.0f} s, "
               f"{trained['peak_rss_mb'] / 1024:.2f}" if trained else "-") + " | "
            + (f"{labels['labels']} ({labels['from_band']} / {labels['topped_up']}, "
               f"{labels['matches']})" if labels else "-") + " | "
            + (f"{calibration['brier_before']:.4f} -> {calibration['brier_after']:.4f}"
               if calibration and "brier_before" in calibration else "-") + " |")
    if notes:
        out += ["", "### Skipped or failed", "", *notes]
    out += ["", "### Commands run", ""]
    for pop in results["populations"]:
        out += [f"{label(pop)}:", "", "```sh", *pop["commands"], "```", ""]
    return "\n".join(out).rstrip() + "\n"


def tree_fingerprint() -> str:
    """A hash of linkage/'s Python files as they are now (the working tree, edits included):
    the results are only comparable between runs with the same fingerprint."""
    import hashlib
    digest = hashlib.sha256()
    for path in sorted((REPO / "linkage").rglob("*.py")):
        digest.update(str(path.relative_to(REPO)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:12]


def git_head() -> str | None:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, text=True,
                              capture_output=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None


def machine() -> dict[str, Any]:
    sys.path.insert(0, str(HERE))
    from run import machine as run_machine
    return run_machine()


def write_results(out: Path, results: dict[str, Any], text: str) -> None:
    sys.path.insert(0, str(HERE))
    from run import write_results as run_write_results
    run_write_results(out, results, text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=HERE / "generalize.json")
    parser.add_argument("--work", type=Path, default=REPO / "build" / "generalize",
                        help="populations, stores, models and logs")
    parser.add_argument("--populations", default="independent,drift:20000,default:100000",
                        help="independent and/or PROFILE:RECORDS, comma-separated")
    parser.add_argument("--labels", type=int, default=200,
                        help="labelled pairs for the calibrated variant (0 skips it)")
    parser.add_argument("--seed", type=int, default=20250701,
                        help="synth seed of the evaluation populations (training: seed + 1) "
                             "and of the label sample")
    parser.add_argument("--model", type=Path, default=REPO / "models" / "default.json")
    parser.add_argument("--no-baseline", action="store_true")
    parser.add_argument("--no-train", action="store_true")
    parser.add_argument("--baseline-timeout", type=float, default=3600)
    parser.add_argument("--worker", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        kind, root = args.worker
        if kind != "baseline":
            raise SystemExit(f"unknown worker {kind}")
        import logging
        logging.getLogger("splink").setLevel(logging.ERROR)
        sys.path.insert(0, str(HERE))
        from baseline import run_baseline
        print(json.dumps(run_baseline(Path(root), Path(root) / "truth.csv")))
        return
    args.work = args.work.resolve()
    args.work.mkdir(parents=True, exist_ok=True)
    model = args.model.resolve()
    specs = [spec.strip() for spec in args.populations.split(",") if spec.strip()]
    for spec in specs:
        if spec != "independent":
            profile, colon, size = spec.partition(":")
            if not colon or not size.isdigit() or not profile:
                parser.error(f"population {spec!r}: expected independent or PROFILE:RECORDS")
    results: dict[str, Any] = {
        "machine": machine(),
        "command": " ".join(["python", "benchmarks/bench_generalize.py", *map(shlex.quote,
                                                                             sys.argv[1:])]),
        "model": shown([str(model)]), "seed": args.seed, "labels": args.labels,
        "fixed_thresholds": list(FIXED_THRESHOLDS), "review_band": list(REVIEW_BAND),
        "work": shown([str(args.work)]), "started": time.strftime("%Y-%m-%d %H:%M:%S"),
        "linkage_tree": {"git_head": git_head(), "fingerprint_at_start": tree_fingerprint()},
        "populations": []}
    started = time.perf_counter()
    for spec in specs:
        before = tree_fingerprint()
        population = bench_population(spec, args, model)
        population["linkage_tree"] = {"before": before, "after": tree_fingerprint()}
        results["populations"].append(population)
        tree = results["linkage_tree"]
        tree["fingerprint_at_end"] = population["linkage_tree"]["after"]
        tree["changed_during_run"] = tree["fingerprint_at_start"] != tree["fingerprint_at_end"]
        results["finished"] = time.strftime("%Y-%m-%d %H:%M:%S")
        results["total_seconds"] = round(time.perf_counter() - started, 1)
        write_results(args.out, results, markdown(results))
    print(args.out.with_suffix(".md").read_text(encoding="utf-8"))


if __name__ == "__main__":
    main()
