"""Progress on stderr: bars in a terminal, plain lines in a log, JSON lines for schedulers,
nothing with --quiet; stdout keeps only the command's result, and no record values leak."""

from __future__ import annotations

import csv
import io
import json
import re

from conftest import SAMPLE_CONFIG, SAMPLE_DATA, cli
from linkage.progress import ProgressEvent, Stages, TerminalBars, advance, step
from linkage.project import RUN_STAGES, Project


def sample_names() -> set[str]:
    """Names and dates of birth in the sample, to check none reaches progress output."""
    with (SAMPLE_DATA / "calsaws" / "persons.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    values = set()
    for row in rows[:200]:
        for column, value in row.items():
            if any(word in column.lower() for word in ("name", "birth", "dob")) and \
                    len(value or "") >= 5:
                values.add(value.upper())
    assert len(values) > 50
    return values


def test_a_run_in_a_log_prints_a_plain_line_per_stage(tmp_path, capsys):
    assert cli("run", "--config", SAMPLE_CONFIG, "--store", tmp_path / "s.duckdb") == 0
    captured = capsys.readouterr()
    lines = captured.err.splitlines()
    assert lines[0] == "[1/4] land: started"
    assert [line.split(":")[0] for line in lines if line.endswith("started")] == [
        f"[{number}/4] {stage}" for number, stage in enumerate(RUN_STAGES, start=1)]
    assert lines[-1].startswith("[4/4] crosswalk: done in")
    assert captured.out.startswith("run 1")  # the result alone goes to stdout


def test_json_progress_is_one_event_per_line_and_the_result_one_object(tmp_path, capsys):
    assert cli("run", "--config", SAMPLE_CONFIG, "--store", tmp_path / "s.duckdb", "--json") == 0
    captured = capsys.readouterr()
    events = [json.loads(line) for line in captured.err.splitlines()]
    assert [e["stage"] for e in events if e["event"] == "stage_started"] == list(RUN_STAGES)
    done = {e["stage"]: e["seconds"] for e in events if e["event"] == "stage_done"}
    summary = json.loads(captured.out)
    assert done == summary["seconds"]
    steps = {e["step"] for e in events if e["event"] == "step_done"}
    assert {"score_pairs", "cluster"} <= steps
    assert all(e["stages"] == 4 and e["time"].endswith("+00:00") for e in events)
    words = set(re.findall(r"[A-Z0-9/-]+", captured.err.upper()))
    assert not sample_names() & words


def test_quiet_prints_no_progress(tmp_path, capsys):
    assert cli("--quiet", "run", "--config", SAMPLE_CONFIG, "--store", tmp_path / "s.duckdb",
               "--json") == 0
    captured = capsys.readouterr()
    assert captured.err == "" and json.loads(captured.out)["run_id"] == 1


def test_synth_reports_people_generated_as_counted_progress(tmp_path, capsys):
    assert cli("--progress", "json", "synth", "--people", "2500", "--seed", "3",
               "--out", tmp_path / "pop") == 0
    captured = capsys.readouterr()
    counted = [json.loads(line) for line in captured.err.splitlines()
               if json.loads(line)["event"] == "advanced"]
    assert [e["done"] for e in counted] == sorted(e["done"] for e in counted)
    assert counted[-1]["done"] == counted[-1]["total"] == 2500 and len(counted) >= 3
    assert captured.out.startswith("wrote 2500 people")


def test_terminal_bars_show_every_stage_finished(tmp_path):
    screen = io.StringIO()
    project = Project.open(SAMPLE_CONFIG, store=tmp_path / "s.duckdb")
    with TerminalBars(screen) as bars:
        project.run(report=bars)
    shown = screen.getvalue()
    assert all(f"{stage}" in shown for stage in RUN_STAGES) and shown.count("✓") == 4


def test_steps_and_counts_outside_a_job_are_ignored_and_inside_one_are_tagged():
    with step("nothing_listens"):
        advance(1, 2)
    events: list[ProgressEvent] = []
    stages = Stages(events.append, ["one", "two"])
    with stages.stage("two"):
        advance(5, 10)
    assert [(e.kind, e.number, e.done) for e in events] == [
        ("stage_started", 2, None), ("advanced", 2, 5), ("stage_done", 2, None)]
    assert str(events[1]) == "[2/2] two: 5 of 10"
