"""Progress of a long job, for a terminal, a log file or a scheduler.

A job (run, train, standardize, synth) names its stages up front and times each one with
`Stages`. Inside a stage, every SQL step the store runs, and any other long piece of work
wrapped in `step(...)`, is reported as it starts and finishes; counted work (people
generated) is reported with `advance`. Events carry stage and step names, counts and
timings only, never a record's values.

Three ways to show them, picked by the CLI:

- `TerminalBars`: a row per stage with a live bar, the running step and its elapsed time;
- `plain_lines`: a line per stage start and end, and per step that took a second or more;
- `json_lines`: one JSON object per event, for schedulers and log shippers.

>>> events = []
>>> stages = Stages(events.append, ["land", "link"])
>>> with stages.stage("land"):
...     with step("read_calsaws"):
...         pass
>>> [(event.kind, event.stage, event.step) for event in events]
[('stage_started', 'land', None), ('step_started', 'land', 'read_calsaws'), \
('step_done', 'land', 'read_calsaws'), ('stage_done', 'land', None)]
>>> str(events[-1]).startswith("[1/2] land: done in")
True
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import asdict, dataclass
from typing import IO, Literal

log = logging.getLogger(__name__)

Kind = Literal["stage_started", "step_started", "step_done", "advanced", "stage_done"]

# A step shorter than this gets no line of its own in plain output.
PLAIN_STEP_SECONDS = 1.0


@dataclass(frozen=True)
class ProgressEvent:
    kind: Kind
    stage: str
    number: int  # the stage's place in the job, from 1
    stages: int  # how many stages the job has
    step: str | None = None
    seconds: float | None = None  # step_done and stage_done
    done: int | None = None  # advanced: units of work done so far, of `total`
    total: int | None = None

    def __str__(self) -> str:
        where = f"[{self.number}/{self.stages}] {self.stage}"
        if self.kind == "stage_started":
            return f"{where}: started"
        if self.kind == "stage_done":
            return f"{where}: done in {self.seconds:.2f}s"
        if self.kind == "advanced":
            return f"{where}: {self.done} of {self.total}"
        if self.kind == "step_started":
            return f"{where}: {self.step}"
        return f"{where}: {self.step} took {self.seconds:.2f}s"

    def as_dict(self) -> dict:
        return {key: value for key, value in asdict(self).items() if value is not None}


Report = Callable[[ProgressEvent], None]

# The running stage's event sink, so the store and long work deep in a stage report
# without every function passing a callback down.
_sink: ContextVar[Callable[..., None] | None] = ContextVar("linkage_progress", default=None)


class Stages:
    """A job's stages: times each one and reports it, and what runs inside it, to `report`
    (to the log at INFO when `report` is None)."""

    def __init__(self, report: Report | None, names: Sequence[str]) -> None:
        self.names = list(names)
        self.seconds: dict[str, float] = {}
        self._report = report or (lambda event: log.info("%s", event))

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        if name not in self.names:  # a stage the job did not announce still gets reported
            self.names.append(name)
        number, stages = self.names.index(name) + 1, len(self.names)

        def emit(kind: Kind, **fields) -> None:
            self._report(ProgressEvent(kind, name, number, stages, **fields))

        emit("stage_started")
        token = _sink.set(emit)
        started = time.perf_counter()
        try:
            yield
        finally:
            _sink.reset(token)
        self.seconds[name] = round(time.perf_counter() - started, 3)
        emit("stage_done", seconds=self.seconds[name])


@contextmanager
def step(name: str) -> Iterator[None]:
    """Report a piece of work inside the running stage (nothing when no job is running)."""
    emit = _sink.get()
    if emit is None:
        yield
        return
    emit("step_started", step=name)
    started = time.perf_counter()
    yield
    emit("step_done", step=name, seconds=round(time.perf_counter() - started, 3))


def advance(done: int, total: int) -> None:
    """Report counted work inside the running stage: `done` units of `total`."""
    emit = _sink.get()
    if emit is not None:
        emit("advanced", done=done, total=total)


def plain_lines(stream: IO[str]) -> Report:
    """Stage starts and ends, and steps of a second or more, one line each."""

    def report(event: ProgressEvent) -> None:
        if event.kind in ("stage_started", "stage_done") or (
                event.kind == "step_done" and event.seconds >= PLAIN_STEP_SECONDS):
            print(event, file=stream, flush=True)

    return report


def json_lines(stream: IO[str]) -> Report:
    """Every event but step starts as one JSON object a line, with a UTC timestamp."""

    def report(event: ProgressEvent) -> None:
        if event.kind == "step_started":
            return
        stamp = dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")
        print(json.dumps({"time": stamp, "event": event.kind, **{
            key: value for key, value in event.as_dict().items() if key != "kind"}}),
            file=stream, flush=True)

    return report


class TerminalBars:
    """A live row per stage: a bar (counted work) or a pulse (steps of unknown number),
    the step running now, and the time spent. Use as a context manager around the job."""

    def __init__(self, stream: IO[str]) -> None:
        from rich.console import Console
        from rich.progress import (BarColumn, Progress, SpinnerColumn, TextColumn,
                                   TimeElapsedColumn)

        self._bars = Progress(SpinnerColumn(finished_text="[green]✓"),
                              TextColumn("{task.description}"), BarColumn(),
                              TextColumn("{task.fields[detail]}"), TimeElapsedColumn(),
                              console=Console(file=stream), transient=False)
        self._tasks: dict[str, int] = {}

    def __enter__(self) -> TerminalBars:
        self._bars.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._bars.stop()

    def __call__(self, event: ProgressEvent) -> None:
        label = f"[{event.number}/{event.stages}] {event.stage}"
        if event.kind == "stage_started":
            self._tasks[event.stage] = self._bars.add_task(label, total=None, detail="")
            return
        task = self._tasks.get(event.stage)
        if task is None:
            return
        if event.kind == "step_started":
            self._bars.update(task, detail=event.step)
        elif event.kind == "advanced":
            self._bars.update(task, total=event.total, completed=event.done,
                              detail=f"{event.done:,} of {event.total:,}")
        elif event.kind == "stage_done":
            self._bars.update(task, total=1, completed=1, detail=f"{event.seconds:.1f}s")
