"""What every source writer shares: per-source RNGs, shuffled streaming output, truth."""

from __future__ import annotations

import csv
import random
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from linkage.synth import formats
from linkage.synth.noise import NoiseEngine, NoiseRates
from linkage.synth.population import Household

# Rows are buffered this many record groups at a time and shuffled before writing, so a
# person's second case or duplicate MRN is not the very next line; memory stays bounded.
SHUFFLE_BLOCK = 4096

TRUTH_HEADER = ("source_system", "source_record_id", "person_id")


class ShuffledOutput:
    """Collects groups of rows and writes them in shuffled blocks.

    A group's rows stay together and in order (a CalSAWS case lists its persons 01, 02 …),
    only the order of groups within a block is shuffled.
    """

    def __init__(self, emit: Callable[[Any], None], rng: random.Random,
                 relative_path: str = "") -> None:
        self._emit = emit
        self._rng = rng
        self.relative_path = relative_path  # the file it writes, e.g. calsaws/persons.csv
        self._groups: list[Sequence[Any]] = []

    def add(self, rows: Sequence[Any]) -> None:
        self._groups.append(rows)
        if len(self._groups) >= SHUFFLE_BLOCK:
            self.flush()

    def flush(self) -> None:
        self._rng.shuffle(self._groups)
        for rows in self._groups:
            for row in rows:
                self._emit(row)
        self._groups.clear()


def open_csv(path: Path, header: Sequence[str]) -> tuple[Any, Any]:
    """Open `path` for writing UTF-8 CSV with `\\n` line endings; the header is written."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = path.open("w", encoding="utf-8", newline="")
    writer = csv.writer(handle, lineterminator="\n")
    writer.writerow(header)
    return handle, writer


class SourceWriter:
    """Base for one source system's writer.

    Each writer owns three RNGs derived from the seed and its name: one for noise, one for
    keys and formatting, one for row order. Changing one source's noise rates therefore
    leaves the other sources' files unchanged.
    """

    source_system: str = ""

    def __init__(self, out_dir: Path, seed: int, rates: NoiseRates,
                 profile: str | None = None) -> None:
        """`profile`: the built-in source whose noise and formats this writer borrows
        (default: its own)."""
        profile = profile or self.source_system
        self.out_dir = out_dir
        self.rng = random.Random(f"{seed}/{self.source_system}/values")
        self.order_rng = random.Random(f"{seed}/{self.source_system}/order")
        self.noise = NoiseEngine(profile, rates,
                                 random.Random(f"{seed}/{self.source_system}/noise"), seed)
        self.format = formats.SOURCE_FORMATS[profile]
        self.records = 0
        self._handles: list[Any] = []
        self._outputs: list[ShuffledOutput] = []

    def write_household(self, household: Household) -> list[tuple[str, str]]:
        """Write this household's records; return (source_record_id, person_id) pairs."""
        raise NotImplementedError

    def close(self) -> None:
        self.flush()
        for handle in self._handles:
            handle.close()
        self._handles.clear()

    def flush(self) -> None:
        for output in self._outputs:
            output.flush()

    def redirect(self, emitters: dict[str, Callable[[Any], None]]) -> None:
        """Send later rows to `emitters[relative_path]` instead of the (closed) files; the
        delivery generator collects each day's new records this way, with the same keys,
        RNGs and formats as day 0."""
        for output in self._outputs:
            output._emit = emitters[output.relative_path]

    def _csv_output(self, relative_path: str, header: Sequence[str]) -> ShuffledOutput:
        handle, writer = open_csv(self.out_dir / relative_path, header)
        return self._track(handle, ShuffledOutput(writer.writerow, self.order_rng, relative_path))

    def _track(self, handle: Any, output: ShuffledOutput) -> ShuffledOutput:
        self._handles.append(handle)
        self._outputs.append(output)
        return output

    def _phone(self, digits: str) -> str:
        return formats.phone(digits, self.format.phone_styles.draw(self.rng))

    def _ssn(self, value: str) -> str:
        return formats.ssn(value, self.rng.random() < self.format.ssn_dashed)


class TruthWriter:
    """truth.csv: one row per written record, in the order records were generated."""

    def __init__(self, path: Path) -> None:
        self._handle, self._writer = open_csv(path, TRUTH_HEADER)

    def write(self, source_system: str, keys: list[tuple[str, str]]) -> None:
        self._writer.writerows((source_system, key, person_id) for key, person_id in keys)

    def close(self) -> None:
        self._handle.close()
