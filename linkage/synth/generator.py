"""Drive the population builder and the source writers, one household at a time."""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from linkage.synth.calsaws import CalsawsWriter
from linkage.synth.ehr import EhrCsvWriter, FhirWriter
from linkage.synth.hmis import HmisWriter
from linkage.synth.noise import resolve_noise_rates
from linkage.synth.population import Coverage, PopulationBuilder
from linkage.synth.writers import TruthWriter

WRITERS = (CalsawsWriter, HmisWriter, EhrCsvWriter, FhirWriter)


@dataclass(frozen=True)
class SynthSummary:
    """What was generated: the number of people and the records written per source system."""

    people: int
    records: dict[str, int]


def generate_population(
    people: int,
    seed: int,
    out_dir: Path,
    *,
    noise: Mapping[str, Mapping[str, float]] | None = None,
    coverage: Coverage | None = None,
) -> SynthSummary:
    """Write a synthetic population of `people` people and its ground truth under `out_dir`.

    The same (people, seed, noise, coverage) always gives byte-identical files. `noise`
    overrides rates of the registry in noise.py (source system -> noise type -> rate).

    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     summary = generate_population(50, seed=7, out_dir=Path(tmp))
    >>> summary.people, sorted(summary.records)
    (50, ['calsaws', 'ehr_csv', 'ehr_fhir', 'hmis'])
    """
    if isinstance(people, bool) or not isinstance(people, int) or people < 1:
        raise ValueError(f"people must be a positive whole number, got {people!r}")
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ValueError(f"seed must be a whole number, got {seed!r}")
    rates = resolve_noise_rates(noise)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    builder = PopulationBuilder(random.Random(f"{seed}/population"), coverage or Coverage())
    writers = [writer_class(out_dir, seed, rates) for writer_class in WRITERS]
    truth = TruthWriter(out_dir / "truth.csv")
    try:
        for household in builder.households(people):
            for writer in writers:
                truth.write(writer.source_system, writer.write_household(household))
    finally:
        for writer in writers:
            writer.close()
        truth.close()
    return SynthSummary(people, {writer.source_system: writer.records for writer in writers})
