"""The `linkage` command: a thin shell over linkage.project.Project.

Exit codes (the README's table): 0 success; 1 other user error; 2 bad config, source
file, model or output path; 3 store error; 4 store busy (another run holds it: retry
later); 5 run refused as a mass change (guarded run; rerun with --allow-mass-change if
intended); 64 usage error (unknown option, missing argument); 70 internal error (a bug:
--debug shows the traceback); 130 interrupted.

An error is one red line on stderr; a command given --json also prints it on stdout as
{"error": {"exit_code": N, "kind": "ConfigError", "message": "..."}}. The global options
(--debug, -q/--quiet, --progress) work before or after the subcommand.
"""

from __future__ import annotations

import json
import logging
import sys
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path

import click

from typing import TYPE_CHECKING

from linkage.errors import LinkageError, OutOfMemoryError, ran_out_of_memory
from linkage.progress import Report, Stages, TerminalBars, json_lines, plain_lines
from linkage.thresholds import SWEEP_THRESHOLDS

if TYPE_CHECKING:  # the engine (Splink, pandas) loads only when a command needs it, so
    # `linkage --help` and `--version` answer at once
    from linkage.project import Project, RunSummary

INTERNAL_ERROR = 70
USAGE_ERROR = 64  # EX_USAGE (sysexits.h): the command line itself is wrong
INTERRUPTED = 130
_state = {"debug": False, "quiet": False, "progress": "auto", "json": False}
PROGRESS_MODES = ("auto", "bars", "plain", "json", "none")

config_option = click.option("--config", "-c", "config", required=True,
                             type=click.Path(path_type=Path), help="Run config (YAML).")
_store_path = click.option("--store", type=click.Path(path_type=Path), default=None,
                           help="Store file (a folder for Spark); overrides the config's `store`.")
_backend = click.option("--backend", type=click.Choice(["duckdb", "spark"]), default=None,
                        expose_value=False, is_eager=True,
                        callback=lambda ctx, param, value: _state.update(backend=value),
                        help="Engine; overrides the config's `backend` (spark needs "
                             "the linkage[spark] extra and Java 17).")


def store_option(command):
    return _store_path(_backend(command))


def _project(config: Path, store: Path | None) -> Project:
    from linkage.project import Project

    return Project.open(config, store, backend=_state.get("backend"))

json_option = click.option("--json", "as_json", is_flag=True, is_eager=True,
                           callback=lambda ctx, param, value: _state.update(json=value) or value,
                           help="Print the result as one JSON object on stdout, and progress as "
                                "JSON lines on stderr (for schedulers).")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--debug", is_flag=True, help="Show tracebacks and SQL timings.")
@click.option("--quiet", "-q", is_flag=True, help="No progress output (as --progress none).")
@click.option("--progress", "progress_mode", type=click.Choice(PROGRESS_MODES),
              default="auto", show_default=True,
              help="Progress on stderr: bars in a terminal; otherwise plain lines, or JSON "
                   "lines when the command has --json. Or force one.")
@click.version_option(package_name="linkage")
def app(debug: bool, quiet: bool, progress_mode: str) -> None:
    """Probabilistic identity resolution with a persistent enterprise ID crosswalk."""
    _state.update(debug=debug, quiet=quiet, progress=progress_mode, backend=None)
    logging.basicConfig(
        level=logging.DEBUG if debug else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    _log_levels(debug)


def _log_levels(debug: bool) -> None:
    logging.getLogger().setLevel(logging.DEBUG if debug else logging.WARNING)
    # Splink logs SQL and timings; keep it quiet unless debugging.
    logging.getLogger("splink").setLevel(logging.DEBUG if debug else logging.ERROR)


def _late_debug(ctx: click.Context, param: click.Parameter, value: bool) -> None:
    if value:
        _state["debug"] = True
        _log_levels(True)


def _late_quiet(ctx: click.Context, param: click.Parameter, value: bool) -> None:
    if value:
        _state["quiet"] = True


def _late_progress(ctx: click.Context, param: click.Parameter, value: str | None) -> None:
    if value is not None:
        _state["progress"] = value


def _late_global_options() -> list[click.Option]:
    """The group's options, also accepted after a subcommand (`linkage run -q …`), as
    schedulers' wrappers tend to append them. They set what the group's would."""
    return [
        click.Option(["--debug"], is_flag=True, expose_value=False, is_eager=True,
                     callback=_late_debug, help="Show tracebacks and SQL timings."),
        click.Option(["--quiet", "-q"], is_flag=True, expose_value=False, is_eager=True,
                     callback=_late_quiet, help="No progress output (as --progress none)."),
        click.Option(["--progress"], type=click.Choice(PROGRESS_MODES), default=None,
                     expose_value=False, is_eager=True, callback=_late_progress,
                     help="Progress on stderr: auto, bars, plain, json or none."),
    ]


def _share_global_options(command: click.Command) -> None:
    """Give every subcommand (and theirs) the late global options, once."""
    if isinstance(command, click.Group):
        for sub in command.commands.values():
            _share_global_options(sub)
    if command is app or getattr(command, "_late_globals", False):
        return
    names = {name for param in command.params for name in getattr(param, "opts", [])}
    command.params.extend(option for option in _late_global_options()
                          if not names.intersection(option.opts))
    command._late_globals = True


@contextmanager
def _reporting(as_json: bool = False) -> Iterator[Report | None]:
    """Where a long command's progress goes: stderr, so stdout keeps only its result."""
    mode = "none" if _state["quiet"] else _state["progress"]
    if mode == "auto":
        # Under --debug, log lines interleave with progress: plain lines keep both readable.
        mode = ("json" if as_json else
                "bars" if sys.stderr.isatty() and not _state["debug"] else "plain")
    if mode == "bars":
        with TerminalBars(sys.stderr) as bars:
            yield bars
    else:
        yield {"plain": plain_lines, "json": json_lines}.get(mode, lambda _: None)(sys.stderr)


@app.command()
@click.option("--people", type=click.IntRange(min=1), required=True,
              help="How many people to generate.")
@click.option("--seed", type=int, default=1, show_default=True,
              help="Random seed; the same seed gives byte-identical files.")
@click.option("--out", type=click.Path(path_type=Path), required=True,
              help="Folder to write the population into.")
@click.option("--deliveries", type=click.IntRange(min=0), default=0, show_default=True,
              help="Also write K later days under OUT/deliveries/dayNN/ (snapshot/ and delta/).")
@click.option("--noise-config", type=click.Path(path_type=Path),
              default=None, help="YAML overriding the documented noise and coverage defaults.")
@click.option("--profile", default="default", show_default=True, metavar="NAME",
              help="Noise profile: default, or one in linkage/synth/profiles/ (drift: records "
                   "years apart, sparse, dates in many formats, less overlap).")
@click.option("--extract", "extracts", multiple=True,
              type=click.Choice(["wic", "behavioral_health"]),
              help="Also write this program extract in its own layout (kind: person): "
                   "wic/participants.csv, behavioral_health/clients.csv. Repeatable.")
@json_option
def synth(people: int, seed: int, out: Path, deliveries: int, noise_config: Path | None,
          profile: str, extracts: tuple[str, ...], as_json: bool) -> None:
    """Write a seeded synthetic population as CalSAWS, HMIS and EHR extracts plus truth.csv."""
    from linkage.errors import ConfigError
    from linkage.synth import generate_population, load_synth_config

    try:
        settings = load_synth_config(noise_config, profile=profile)
    except ValueError as error:
        raise ConfigError(f"{noise_config or profile}: {error}") from None
    if extracts and deliveries:
        raise ConfigError("--extract cannot be combined with --deliveries (program extracts "
                          "have no later deliveries yet)")
    with _reporting(as_json) as report:
        stages = Stages(report, ["generate"])
        with stages.stage("generate"):
            summary = generate_population(people, seed, out, deliveries=deliveries,
                                          config=settings, extracts=extracts)
    if as_json:
        click.echo(json.dumps(asdict(summary)))
        return
    records = ", ".join(f"{name} {count}" for name, count in summary.records.items())
    seconds = ", ".join(f"{part} {value:.1f}s" for part, value in summary.seconds.items())
    profile_note = "" if profile == "default" else f", profile {profile}"
    click.echo(f"wrote {summary.people} people to {out}: {records} records ({seconds}"
               f"{profile_note})")


@app.command("sources")
@json_option
def sources_command(as_json: bool) -> None:
    """List the source kinds: the files and columns (required, optional) each reads, how its
    record key is made, and the settings it takes."""
    from linkage.sources.catalog import describe_kinds, source_kinds

    click.echo(json.dumps({"kinds": source_kinds()}) if as_json else describe_kinds())


@app.command()
@config_option
@click.option("--delivery", "deliveries", multiple=True, metavar="[SOURCE=]PATH",
              help="Link only this delivery of new and changed records: SOURCE=PATH for one "
                   "source, or a folder laid out like the sources' folder (its deleted.csv "
                   "lists deletions). Repeatable.")
@click.option("--deleted", type=click.Path(path_type=Path), default=None,
              help="CSV of source_system, source_record_id deleted upstream.")
@click.option("--dry-run", is_flag=True,
              help="Compute everything and print what would change (EIDs created, merged, "
                   "split, retired; records added, moved, removed, by source); commit nothing.")
@click.option("--allow-mass-change", is_flag=True,
              help="Let through a run that would remove or move more than "
                   "crosswalk.max_change_share of the active records, or that lands a full "
                   "snapshot far smaller than its source (recorded in the run).")
@store_option
@json_option
def run(config: Path, deliveries: tuple[str, ...], deleted: Path | None, dry_run: bool,
        allow_mass_change: bool, store: Path | None, as_json: bool) -> None:
    """Land, standardize, link and assign enterprise IDs for the configured sources.

    With --delivery, only the delivered records are scored against the population and
    only the clusters they touch are rebuilt. A run that would change much of the
    crosswalk is refused (exit 5) unless --allow-mass-change.
    """
    project = _project(config, store)
    by_source: dict[str, Path] = {}
    for delivery in deliveries:
        name, separator, path = delivery.partition("=")
        if separator:
            by_source[name] = Path(path)
        else:
            folder_sources, folder_deleted = project.delivery_folder(Path(delivery))
            by_source.update(folder_sources)
            deleted = deleted or folder_deleted
    with _reporting(as_json) as report:
        summary = project.run(report=report, deliveries=by_source or None, deleted=deleted,
                              dry_run=dry_run, allow_mass_change=allow_mass_change)
    click.echo(json.dumps(summary.as_dict()) if as_json else _describe_run(summary))


def _describe_run(summary: RunSummary) -> str:
    from linkage.link.agreement import moved_levels

    lines = [f"dry run: nothing was committed; run {summary.run_id} would do this"
             if summary.dry_run else f"run {summary.run_id}"]
    for source in summary.sources:
        if source.unchanged:
            lines.append(f"  source {source.source_system}: unchanged since its last delivery "
                         "(same files and settings), not landed again")
            continue
        rejects = ", ".join(f"{reason} {n}" for reason, n in source.rejects.items())
        warnings = ", ".join(f"{field} {reason} {n}" for field, reasons in source.warnings.items()
                             for reason, n in reasons.items())
        delta = " (delta)" if source.snapshot == "delta" else ""
        lines.append(f"  source {source.source_system}{delta}: read "
                     f"{source.rows_read}, landed {source.rows_landed}, rejected "
                     f"{source.rows_rejected}" + (f" ({rejects})" if rejects else "")
                     + (f"; warnings: {warnings}" if warnings else ""))
        if source.snapshot == "delta" and source.rows_unchanged * 2 > source.rows_landed > 0:
            lines.append(f"    note: {source.rows_unchanged} of its rows repeat records held "
                         "unchanged; if these files are a full snapshot, records missing "
                         "from them are not removed (a delta removes only through deletions): "
                         "land it in a full run")
    if summary.deletions is not None:
        found = summary.deletions
        lines.append(f"  deletions: {found['listed']} keys listed; {found['deleted']} records "
                     f"deleted, {found['deleted_before']} deleted before, "
                     f"{found['unknown']} matching no record")
    link, cw = summary.link, summary.crosswalk
    lines += [
        f"  person records: {summary.persons} ({link.records} active)",
        f"  pairs scored: {link.pairs_scored}; kept {link.pairs_kept}; matched {link.pairs_matched}"
        f" (prior {link.prior:.3g})",
        *(["  pairs by blocking rule (a pair under the first rule that produced it):"]
          + [f"    {n:>12}  {rule}" for rule, n in link.pairs_by_rule.items()]
          if link.pairs_by_rule else []),
        *(["  learnt from this population (levels whose weight moved 1 bit or more):"]
          + [f"    {move}" for move in moved]
          if (moved := moved_levels(link.agreement)) else []),
        f"  match threshold: {link.match_threshold}"
        + (" (auto, estimated F1 by threshold: " + ", ".join(
            f"{t} {f1:.4f}" for t, f1 in link.threshold_estimates.items()) + ")"
           if link.threshold_estimates else ""),
        f"  clusters: {link.clusters} (by records: "
        + ", ".join(f"{size}: {n}" for size, n in link.cluster_sizes.items() if n) + ")",
        f"  cannot-link evidence: {link.evidence_conflicts} pairs; clusters rebuilt "
        f"{link.clusters_rebuilt}, split {link.clusters_split}, flagged for review "
        f"{link.clusters_flagged}",
        f"  enterprise IDs: {cw.eids_active} active; created {cw.eids_created} "
        f"({cw.eids_split} by splits), kept {cw.eids_kept}, reactivated "
        f"{cw.eids_reactivated}, retired {cw.eids_retired} ({cw.eids_merged} merged, "
        f"{cw.eids_deactivated} deactivated)",
        f"  records: added {cw.records_added}, restored {cw.records_restored}, moved "
        f"{cw.records_moved}, removed {cw.records_removed}"
        + (" (" + "; ".join(f"{source} " + ", ".join(f"{event} {n}" for event, n in
                                                      changes.items())
                            for source, changes in cw.by_source.items()) + ")"
           if cw.by_source else ""),
        "  seconds: " + ", ".join(f"{stage} {s:.2f}" for stage, s in summary.seconds.items()),
    ]
    for reason in summary.guard.get("mass_changes", []):
        lines.append(("  a real run would be refused as a mass change: " if summary.dry_run
                      else "  mass change allowed (--allow-mass-change): ") + reason)
    return "\n".join(lines)


@app.command()
@config_option
@click.option("--delivery", "delivery_id", type=int, default=None,
              help="Only this delivery (default: every delivery still in the store).")
@click.option("--show-values", is_flag=True,
              help="Also print each rejected row's raw values (personal data: handle with care).")
@store_option
@json_option
def rejects(config: Path, delivery_id: int | None, show_values: bool, store: Path | None,
            as_json: bool) -> None:
    """List rejected rows by reason, with their file and row (no values unless asked)."""
    rows = _project(config, store).rejects(delivery_id, show_values=show_values)
    if as_json:
        for row in rows:
            click.echo(json.dumps(row, default=str))
        return
    by_reason: dict[str, int] = {}
    for row in rows:
        by_reason[row["reason"]] = by_reason.get(row["reason"], 0) + 1
    click.echo(f"{len(rows)} rejected rows" + (": " if rows else "") +
               ", ".join(f"{reason} {n}" for reason, n in sorted(by_reason.items())))
    for row in rows:
        line = (f"  delivery {row['delivery_id']} {row['source_system']} {row['source_file']} "
                f"row {row['source_row']}: {row['reason']}")
        click.echo(line + (f" {row['raw']}" if show_values else ""))


@app.command("standardize")
@config_option
@click.option("--out", type=click.Path(path_type=Path), required=True,
              help="File to write: .csv or .parquet (holds personal data; written owner-only).")
@store_option
@json_option
def standardize_command(config: Path, out: Path, store: Path | None, as_json: bool) -> None:
    """Write the canonical person table of the configured sources, for inspection."""
    with _reporting(as_json) as report:
        rows = _project(config, store).standardize(out, report=report)
    click.echo(json.dumps({"records": rows, "out": str(out)}) if as_json else
               f"wrote {rows} standardized records to {out}")


@app.command("train")
@config_option
@click.option("--out", type=click.Path(path_type=Path), required=True,
              help="Model file to write (models/NAME.json); the card goes beside it.")
@click.option("--labels", default=None, metavar="FILE|reviewer",
              help="Also calibrate the probabilities on labelled pairs: a CSV of record_a, "
                   "record_b, match (1/0), or 'reviewer' for the store's decisions.")
@store_option
@json_option
def train_command(config: Path, out: Path, labels: str | None, store: Path | None,
                  as_json: bool) -> None:
    """Estimate the model on the configured sources; write it with a model card beside it."""
    with _reporting(as_json) as report:
        card = _project(config, store).train(out, report=report, labels=labels)
    if as_json:
        click.echo(json.dumps(card, default=str))
        return
    click.echo(f"wrote {out} trained on {card['trained_on']['records']} records "
               f"(data {card['trained_on']['data_fingerprint']})"
               + (_describe_calibration(card["calibration"]) if "calibration" in card else ""))


def _describe_calibration(found: dict) -> str:
    return (f"; calibrated on {found['labels']} labelled pairs ({found['matches']} matches, "
            f"{len(found['by_source_pair'])} source pairs of their own), Brier score "
            f"{found['brier_before']:.4f} -> {found['brier_after']:.4f}")


@app.command("calibrate")
@config_option
@click.option("--labels", required=True, metavar="FILE|reviewer",
              help="Labelled pairs of the store's records: a CSV of record_a, record_b, match "
                   "(1/0), or 'reviewer' for the reviewers' decisions in force.")
@click.option("--out", type=click.Path(path_type=Path), required=True,
              help="Model file to write: the config's model with its probabilities calibrated.")
@store_option
@json_option
def calibrate_command(config: Path, labels: str, out: Path, store: Path | None,
                      as_json: bool) -> None:
    """Calibrate the config's model on labelled pairs (logistic regression on the match
    weight, per source pair where the labels allow); runs, search and explain then use the
    calibrated probabilities once the config names the written model."""
    found = _project(config, store).calibrate(labels, out)
    click.echo(json.dumps(found) if as_json else f"wrote {out}" + _describe_calibration(found))


@app.group("crosswalk")
def crosswalk_group() -> None:
    """Read the enterprise ID crosswalk."""


@crosswalk_group.command("export")
@config_option
@click.option("--out", type=click.Path(path_type=Path), required=True,
              help="File to write: .csv or .parquet.")
@click.option("--as-of", "as_of", type=int, default=None,
              help="The crosswalk as it stood after this run (default: now).")
@click.option("--consumer", default=None, metavar="NAME",
              help="Only the rows of the sources this consumer (the config's `consumers`) "
                   "may see: the segment `linkage serve` shows it.")
@store_option
def crosswalk_export(config: Path, out: Path, as_of: int | None, consumer: str | None,
                     store: Path | None) -> None:
    """Write the crosswalk: enterprise_id, source_system, source_record_id, valid_from_run."""
    rows = _project(config, store).export_crosswalk(out, as_of, consumer)
    click.echo(f"wrote {rows} crosswalk rows to {out}")


def _json_value(value):
    """A frame cell as JSON: None for nulls, ISO text for times."""
    import pandas as pd

    if value is None or value is pd.NA or (isinstance(value, float) and value != value):
        return None
    if isinstance(value, pd.Timestamp):
        return value.isoformat(sep=" ")
    return value.item() if hasattr(value, "item") else value


def _echo_rows(frame, as_json: bool, empty: str) -> None:
    """A frame on stdout: JSON lines (one object a row) under --json, else a table."""
    if as_json:
        for row in frame.astype(object).to_dict("records"):
            click.echo(json.dumps({key: _json_value(value) for key, value in row.items()}))
    elif frame.empty:
        click.echo(empty)
    else:
        shown = frame.astype(object).where(frame.notna(), "")
        click.echo(shown.to_string(index=False))


@crosswalk_group.command("changes")
@config_option
@click.option("--since", type=click.IntRange(min=0), required=True, metavar="RUN",
              help="Changes of the runs after this run id (0: every change).")
@click.option("--out", type=click.Path(path_type=Path), default=None,
              help="Write the changes to this file (.csv or .parquet, owner-only) instead of "
                   "printing them.")
@store_option
@json_option
def crosswalk_changes(config: Path, since: int, out: Path | None, store: Path | None,
                      as_json: bool) -> None:
    """The change feed for downstream systems: one row per crosswalk event after run RUN,
    with the run's time and the active EID each event's EID resolves to now (successor;
    empty when it ended deactivated). Under --json: one JSON object a line."""
    from linkage.export.frames import write_frame

    feed = _project(config, store).changes(since)
    if out is not None:
        rows = write_frame(feed, out, what="change feed")
        latest = int(feed["run_id"].max()) if rows else since
        click.echo(json.dumps({"changes": rows, "since": since, "latest_run": latest,
                               "out": str(out)}) if as_json else
                   f"wrote {rows} changes after run {since} to {out}")
        return
    _echo_rows(feed, as_json, f"no changes after run {since}")


@app.command("runs")
@config_option
@store_option
@json_option
def runs_command(config: Path, store: Path | None, as_json: bool) -> None:
    """List the runs: when each started and finished, its kind (full or delivery) and its
    counts (records landed and rejected, EIDs created and retired, records added, moved and
    removed). Under --json: one JSON object a line."""
    _echo_rows(_project(config, store).runs(), as_json, "no runs yet")


@app.command()
@config_option
@click.argument("enterprise_id", required=False)
@click.option("--in", "eid_file", type=click.Path(path_type=Path), default=None,
              help="Resolve every EID of this file: a CSV with an enterprise_id column, or one "
                   "EID a line.")
@click.option("--out", type=click.Path(path_type=Path), default=None,
              help="Write the resolved EIDs to this CSV (enterprise_id, resolved_enterprise_id, "
                   "active, status) instead of printing them.")
@store_option
@json_option
def resolve(config: Path, enterprise_id: str | None, eid_file: Path | None, out: Path | None,
            store: Path | None, as_json: bool) -> None:
    """Print the active EID that ENTERPRISE_ID is now (following merges); with --in, do so
    for a file of EIDs (status: active, merged, deactivated or unknown)."""
    from linkage.crosswalk.inputs import read_enterprise_ids
    from linkage.export.frames import write_frame

    if (enterprise_id is None) == (eid_file is None):
        raise click.UsageError("give one ENTERPRISE_ID, or --in FILE")
    project = _project(config, store)
    if enterprise_id is not None and out is None:
        found = project.resolve_many([enterprise_id]).iloc[0]
        if found["status"] == "unknown":
            raise LinkageError(f"{enterprise_id}: no such enterprise ID was ever issued")
        if as_json:
            click.echo(json.dumps({key: _json_value(value) for key, value in found.items()}))
            return
        eid = found["resolved_enterprise_id"]
        click.echo(eid if found["active"] else
                   f"{eid} (inactive: its records were all removed upstream)")
        return
    resolved = project.resolve_many([enterprise_id] if enterprise_id is not None
                                    else read_enterprise_ids(eid_file))
    if out is not None:
        rows = write_frame(resolved, out, suffixes=(".csv",), what="resolved EIDs")
        counts = resolved["status"].value_counts().to_dict()
        click.echo(json.dumps({"resolved": rows, "out": str(out),
                               "status": {k: int(v) for k, v in counts.items()}})
                   if as_json else f"wrote {rows} resolved enterprise IDs to {out} ("
                   + ", ".join(f"{status} {counts.get(status, 0)}" for status in
                               ("active", "merged", "deactivated", "unknown")) + ")")
        return
    _echo_rows(resolved, as_json, "no enterprise IDs in the file")


@app.command("history")
@config_option
@click.argument("enterprise_id")
@store_option
@json_option
def history_command(config: Path, enterprise_id: str, store: Path | None, as_json: bool) -> None:
    """Show an EID's lineage: merges, splits, records joining and leaving, by run."""
    lineage = _project(config, store).history(enterprise_id)
    if lineage is None:
        raise LinkageError(f"{enterprise_id}: no such enterprise ID was ever issued")
    if as_json:
        click.echo(json.dumps(lineage))
        return
    state = ("active" if lineage["retired_run"] is None else
             f"retired in run {lineage['retired_run']}" +
             (f", merged into {lineage['merged_into']}" if lineage["merged_into"] else ""))
    click.echo(f"{enterprise_id}: created in run {lineage['created_run']}; {state}")
    for event in lineage["events"]:
        click.echo(f"  run {event['run_id']} ({event['run_finished_at'] or 'time unknown'}): "
                   + _describe_event(event, enterprise_id))


def _describe_event(event: dict, enterprise_id: str) -> str:
    """One history line, from `enterprise_id`'s side."""
    kind, came, went = event["event_type"], event["from_enterprise_id"], event["to_enterprise_id"]
    record = (f" {event['source_system']}:{event['source_record_id']}"
              if event["source_record_id"] else "")
    if kind == "split":
        return f"split from {came}" if came else f"split off {went}"
    if kind == "merged":
        return f"merged into {went}" if went else f"absorbed {came}"
    if kind == "record_moved":
        return (f"record_moved{record} from {came} to {enterprise_id}" if came else
                f"record_moved{record} from {enterprise_id} to {went}")
    if kind == "record_restored":
        if went and went != enterprise_id:
            return f"record_restored{record} to {went} (it had left {enterprise_id})"
        return f"record_restored{record}" + (f" (it had left {came})"
                                             if came and came != enterprise_id else "")
    related = event["related_enterprise_id"]
    other = event["enterprise_id"] if related == enterprise_id else related
    return f"{kind}{record}" + (f" (with {other})" if other and other != enterprise_id else "")


def _reviewer(value: str | None) -> str:
    import getpass

    return value or getpass.getuser()


reviewer_option = click.option("--reviewer", default=None,
                               help="Who decides (default: the login name).")


def _decision_command(name: str, decision: str, help_text: str):
    @app.command(name, help=help_text)
    @config_option
    @click.argument("record_a")
    @click.argument("record_b")
    @click.option("--reason", required=True, help="Why: kept with the decision.")
    @reviewer_option
    @store_option
    def command(config: Path, record_a: str, record_b: str, reason: str,
                reviewer: str | None, store: Path | None) -> None:
        recorded = _project(config, store).decide(record_a, record_b, decision, reason,
                                                  _reviewer(reviewer))
        decision_id = recorded.decision_ids[0]
        click.echo(f"unchanged: decision {decision_id} ({decision}) is already in force on "
                   "this pair" if recorded.unchanged else
                   f"recorded decision {decision_id}: {decision}"
                   + (", replacing the pair's earlier decision" if recorded.changed else "")
                   + "; it applies from the next run")

    return command


link = _decision_command(
    "link", "must_link",
    "Must-link RECORD_A and RECORD_B (source_system:source_record_id) from the next run on.")
unlink = _decision_command(
    "unlink", "cannot_link",
    "Cannot-link RECORD_A and RECORD_B: they never share an EID, from the next run on.")


@app.group("review")
def review_group() -> None:
    """Pairs for people to judge, and their decisions."""


@review_group.command("export")
@config_option
@click.option("--out", type=click.Path(path_type=Path), required=True,
              help="File to write: .csv (to fill in and import) or .html (to read).")
@click.option("--include-decided", is_flag=True,
              help="Also list pairs with a decision in force, the decision filled in.")
@store_option
def review_export(config: Path, out: Path, include_decided: bool, store: Path | None) -> None:
    """Write the pairs to review, both records side by side: those in the config's review
    band, then those inside clusters flagged as too large or too loosely held together.
    Pairs a reviewer has decided are left out unless --include-decided."""
    rows = _project(config, store).export_review(out, include_decided)
    click.echo(f"wrote {rows} pairs to review to {out} (contains personal data)")


@review_group.command("import")
@config_option
@click.argument("file", type=click.Path(path_type=Path))
@reviewer_option
@store_option
def review_import(config: Path, file: Path, reviewer: str | None, store: Path | None) -> None:
    """Record the decisions filled into a review CSV (decision: must_link or cannot_link)."""
    recorded = _project(config, store).import_review(file, _reviewer(reviewer))
    click.echo(f"{recorded.describe()} (decisions); they apply from the next run")


@review_group.command("list")
@config_option
@store_option
@json_option
def review_list(config: Path, store: Path | None, as_json: bool) -> None:
    """List the reviewer decisions in force: record_a, record_b, decision, reviewer, reason,
    decided_at, applied_run (empty until a run obeys it). Under --json: one JSON object a
    line."""
    _echo_rows(_project(config, store).decisions(), as_json, "no decisions in force")


@review_group.command("revoke")
@config_option
@click.argument("record_a")
@click.argument("record_b")
@click.option("--reason", default="revoked", show_default=True,
              help="Why: kept with the revoke.")
@reviewer_option
@store_option
def review_revoke(config: Path, record_a: str, record_b: str, reason: str,
                  reviewer: str | None, store: Path | None) -> None:
    """Revoke the decision in force on RECORD_A and RECORD_B: from the next run on the pair
    is undecided (the model decides). The decision and the revoke stay in the audit trail."""
    decision_id = _project(config, store).revoke(record_a, record_b, reason,
                                                 _reviewer(reviewer))
    click.echo(f"revoked (decision {decision_id}); the pair is undecided from the next run")


@app.command("migrate")
@config_option
@store_option
def migrate_command(config: Path, store: Path | None) -> None:
    """Upgrade an older store to this linkage's schema version."""
    done = _project(config, store).migrate()
    click.echo("store is up to date" if not done else
               "migrated store to schema version " + ", ".join(map(str, done)))


def _thresholds(value: str | None) -> tuple[float, ...]:
    if value is None:
        return SWEEP_THRESHOLDS
    if value == "none":
        return ()
    try:
        thresholds = tuple(float(part) for part in value.split(","))
    except ValueError:
        raise click.BadParameter("a comma-separated list of probabilities, or 'none'") from None
    if not all(0 < threshold < 1 for threshold in thresholds):
        raise click.BadParameter("thresholds are probabilities between 0 and 1")
    return thresholds


@app.command()
@config_option
@click.option("--truth", type=click.Path(path_type=Path), default=None,
              help="Truth CSV: source_system, source_record_id, person_id. Without it, "
                   "the accuracy is estimated from the model's match probabilities.")
@click.option("--thresholds", default=None, metavar="LIST",
              help="Match thresholds to sweep, comma-separated, or 'none' "
                   f"[default: {','.join(map(str, SWEEP_THRESHOLDS))}].")
@store_option
@json_option
def evaluate(config: Path, truth: Path, thresholds: str | None, store: Path | None,
             as_json: bool) -> None:
    """Precision, recall and F1 of the crosswalk against truth, and what they would be at
    other match thresholds (the stored pair scores re-clustered; the store is unchanged).

    Without --truth, the same figures as the model's match probabilities expect them, under
    the same cluster constraints ("estimated": true under --json; see the README)."""
    project = _project(config, store)
    if truth is None:
        metrics, sweep = project.estimate(_thresholds(thresholds))
        found = metrics.as_dict()
    else:
        metrics = project.evaluate(truth)
        sweep = project.threshold_sweep(truth, _thresholds(thresholds))
        found = metrics.as_dict()
    threshold = project.match_threshold()
    if as_json:
        click.echo(json.dumps({**found, "estimated": truth is None, "match_threshold": threshold,
                               "sweep": sweep.to_dict("records")}))
        return
    kind = "expected by the model (no truth file)" if truth is None else "against truth"
    click.echo(
        f"accuracy {kind}\n"
        f"records {metrics.records}, true persons {metrics.true_persons:.0f}, "
        f"enterprise IDs {metrics.enterprise_ids}\n"
        f"cluster pairs: precision {metrics.precision:.4f}, recall {metrics.recall:.4f}, "
        f"F1 {metrics.f1:.4f} (true {metrics.true_pairs:.0f}, predicted "
        f"{metrics.predicted_pairs}, matched {metrics.matched_pairs:.0f})\n"
        f"B-cubed: precision {metrics.bcubed_precision:.4f}, recall {metrics.bcubed_recall:.4f}, "
        f"F1 {metrics.bcubed_f1:.4f}")
    if len(sweep):
        click.echo(f"\nat other match thresholds (this run used {threshold}):")
        table = sweep[["match_threshold", "precision", "recall", "f1", "bcubed_f1",
                       "enterprise_ids", "clusters_flagged"]].rename(
            columns={"match_threshold": "threshold", "enterprise_ids": "clusters",
                     "clusters_flagged": "flagged", "bcubed_f1": "b3_f1"})
        click.echo(table.to_string(index=False, float_format=lambda x: f"{x:.4f}"))


@app.command()
@config_option
@click.argument("records", nargs=-1, metavar="[RECORD_A RECORD_B]")
@click.option("--eid", "enterprise_id", default=None,
              help="Explain this enterprise ID's records instead of a pair.")
@click.option("--html", type=click.Path(path_type=Path), default=None,
              help="Also write the pair's Splink waterfall chart to this file: one "
                   "self-contained HTML page that works offline. No file unless given.")
@click.option("--show-values", is_flag=True,
              help="Also print the records' values, and put them in the chart "
                   "(personal data: handle with care).")
@store_option
@json_option
def explain(config: Path, records: tuple[str, ...], enterprise_id: str | None, html: Path | None,
            show_values: bool, store: Path | None, as_json: bool) -> None:
    """Why RECORD_A and RECORD_B (source_system:source_record_id) score as they do: each
    comparison's level and match weight, the final match weight and probability.

    With --eid, the EID's records (ids only unless --show-values) and the scored pairs at or
    above the match threshold that hold them together, strongest first.
    """
    pair = enterprise_id is None
    if len(records) != (2 if pair else 0) or (html and not pair):
        raise click.UsageError("give RECORD_A RECORD_B (and optionally --html), or --eid EID")
    project = _project(config, store)
    explained = (project.explain_pair(*records, html=html, show_values=show_values) if pair
                 else project.explain_cluster(enterprise_id, show_values=show_values))
    click.echo(json.dumps(explained.as_dict(), default=str) if as_json else explained.describe())


@app.command("search")
@config_option
@click.option("--first-name", default=None, help="First (given) name.")
@click.option("--last-name", default=None, help="Last (family) name.")
@click.option("--dob", default=None, help="Date of birth, YYYY-MM-DD.")
@click.option("--ssn", default=None, help="Social security number (9 digits).")
@click.option("--ssn-last4", default=None, help="Last four digits of the SSN.")
@click.option("--cin", default=None, help="Medi-Cal Client Index Number.")
@click.option("--mrn", default=None, help="Medical record number.")
@click.option("--phone", default=None, help="Phone number.")
@click.option("--email", default=None, help="E-mail address.")
@click.option("--zip", "zip5", default=None, help="ZIP code.")
@click.option("--limit", type=click.IntRange(min=1), default=10, show_default=True,
              help="At most this many enterprise IDs.")
@store_option
@json_option
def search_command(config: Path, first_name: str | None, last_name: str | None,
                   dob: str | None, ssn: str | None, ssn_last4: str | None, cin: str | None,
                   mrn: str | None, phone: str | None, email: str | None, zip5: str | None,
                   limit: int, store: Path | None, as_json: bool) -> None:
    """The current enterprise IDs most likely to be this person, ranked by the model's match
    probability, with each comparison's level for the EID's best-matching record. Give a
    first or last name with the date of birth (or a ZIP), or any identifier (SSN, its last
    four, CIN, MRN, phone, e-mail) with or without a date of birth; names are standardized
    as records are (nicknames, accents, case). Only the fields given count, and a field
    that agrees never lowers the score. Values typed on a command line can stay in the
    shell's history: for many searches, use the Python API or `linkage serve`."""
    # The search alone loads: not the project (every stage, Splink, pandas).
    from linkage.config import load_config
    from linkage.search import PersonQuery, Searcher
    from linkage.search import as_json as json_results, describe

    settings = load_config(config, store=store, backend=_state.get("backend"))
    query = PersonQuery(dob=dob, first_name=first_name, last_name=last_name,
                        ssn_last4=ssn_last4, zip5=zip5, ssn=ssn, cin=cin, mrn=mrn,
                        phone=phone, email=email)
    with Searcher.open(settings.store, settings.model, preload=False) as searcher:
        found = searcher.search_records(query, limit=limit)
    click.echo(json_results(found) if as_json else describe(found))


@app.command("serve")
@config_option
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on (127.0.0.1: this machine only).")
@click.option("--port", type=click.IntRange(min=1, max=65535), default=8000, show_default=True,
              help="Port to listen on.")
@click.option("--refresh", "refresh_seconds", type=click.FloatRange(min=0.05), default=1.0,
              show_default=True, help="Seconds between checks for a newly committed run.")
@click.option("--workers", type=click.IntRange(min=1, max=64), default=2, show_default=True,
              help="Requests answered at once (each holds its own connection and preloaded "
                   "indexes, about 800 MB per million records).")
@store_option
def serve_command(config: Path, host: str, port: int, refresh_seconds: float, workers: int,
                  store: Path | None) -> None:
    """Person search over HTTP for the config's consumers: FHIR Patient/$match, /eid/{eid}
    and /health, answered from the last committed run (a run may write meanwhile; the new
    state is served once it commits). Needs the `serve` extra (pip install 'linkage[serve]')
    and each consumer's token in its environment variable. Stops on Ctrl-C or SIGTERM."""
    try:
        from linkage.serve.app import serve
    except ImportError:
        raise LinkageError("serve: needs FastAPI and uvicorn: pip install 'linkage[serve]'") \
            from None
    serve(_project(config, store).config, host=host, port=port,
          refresh_seconds=refresh_seconds, workers=workers)


@app.command("access-log")
@config_option
@click.option("--consumer", default=None, metavar="NAME", help="Only this consumer's accesses.")
@click.option("--since", default=None, metavar="TIME",
              help="Only accesses at or after this time (UTC, YYYY-MM-DD[ HH:MM[:SS]]).")
@click.option("--limit", type=click.IntRange(min=1), default=None,
              help="Only the newest this many.")
@store_option
@json_option
def access_log_command(config: Path, consumer: str | None, since: str | None,
                       limit: int | None, store: Path | None, as_json: bool) -> None:
    """Who called `linkage serve`, when, on which endpoint, the answer's status, number of
    results and latency, oldest first. Never the query's values."""
    import datetime as dt

    from linkage.serve.access_log import access_log_path, read_access_log

    try:
        since_time = None if since is None else dt.datetime.fromisoformat(since)
    except ValueError:
        raise click.BadParameter("expected YYYY-MM-DD[ HH:MM[:SS]]", param_hint="--since") \
            from None
    project = _project(config, store)
    frame = read_access_log(access_log_path(project.config.store), consumer=consumer,
                            since=since_time, limit=limit)
    _echo_rows(frame, as_json, "no accesses")


def main(argv: list[str] | None = None) -> int:
    """Entry point: known errors as one red line and their exit code; usage errors 64; bugs
    as code 70. Under --json the error is also one JSON object on stdout."""
    args = list(sys.argv[1:] if argv is None else argv)
    _state.update(debug=False, quiet=False, progress="auto", json=False)
    _share_global_options(app)
    try:
        app.main(args=args, prog_name="linkage", standalone_mode=False)
    except LinkageError as error:
        if _state["debug"]:
            traceback.print_exc()
        click.secho(f"error: {error}", fg="red", err=True)
        return _failed(error.exit_code, error.__class__.__name__, str(error))
    except click.exceptions.Exit as done:
        return done.exit_code
    except click.UsageError as error:
        error.show()
        # An unknown option stops parsing before --json is read: look for it in the words.
        _state["json"] = _state["json"] or "--json" in args[:args.index("--")
                                                             if "--" in args else None]
        return _failed(USAGE_ERROR, "usage", error.format_message())
    except click.ClickException as error:
        error.show()
        return _failed(error.exit_code, error.__class__.__name__, error.format_message())
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        return _failed(INTERRUPTED, "interrupted", "aborted")
    except Exception as error:  # a bug: say so plainly, without record values
        if ran_out_of_memory(error):  # outside a run's stages: still the user's to fix
            if _state["debug"]:
                traceback.print_exc()
            failure = OutOfMemoryError.during(None, None)
            click.secho(f"error: {failure}", fg="red", err=True)
            return _failed(failure.exit_code, failure.__class__.__name__, str(failure))
        if _state["debug"]:
            traceback.print_exc()
        message = (f"internal error ({error.__class__.__name__}); rerun with --debug for the "
                   "traceback and report it")
        click.secho(message, fg="red", err=True)
        return _failed(INTERNAL_ERROR, "internal", message)
    return 0


def _failed(exit_code: int, kind: str, message: str) -> int:
    """The exit code; under --json, the error as one JSON object on stdout too."""
    if _state["json"]:
        click.echo(json.dumps({"error": {"exit_code": exit_code, "kind": kind,
                                         "message": message}}))
    return exit_code


if __name__ == "__main__":
    sys.exit(main())
