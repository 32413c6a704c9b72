"""Drive the population builder and the source writers, one household at a time."""

from __future__ import annotations

import random
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from linkage import progress
from linkage.synth import settings
from linkage.synth.calsaws import CalsawsWriter
from linkage.synth.deliveries import write_deliveries
from linkage.synth.ehr import EhrCsvWriter, FhirWriter
from linkage.synth.hmis import HmisWriter
from linkage.synth.noise import resolve_noise_rates
from linkage.synth.population import Coverage, PopulationBuilder
from linkage.synth.programs import EXTRACTS, ProgramWriter
from linkage.synth.writers import TruthWriter

WRITERS = (CalsawsWriter, HmisWriter, EhrCsvWriter, FhirWriter)
# People between two progress reports while generating.
PROGRESS_EVERY = 1000


@dataclass(frozen=True)
class SynthSummary:
    """What was generated: people and records per source system on day 0, the changes of
    each later delivery, and the seconds it took (day 0, then all deliveries)."""

    people: int
    records: dict[str, int]
    deliveries: list[dict[str, int]] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)
    profile: str = settings.DEFAULT_PROFILE


def generate_population(
    people: int,
    seed: int,
    out_dir: Path,
    *,
    noise: Mapping[str, Mapping[str, float]] | None = None,
    coverage: Coverage | None = None,
    deliveries: int = 0,
    config: settings.SynthConfig | None = None,
    profile: str | None = None,
    extracts: tuple[str, ...] = (),
) -> SynthSummary:
    """Write a synthetic population of `people` people and its ground truth under `out_dir`.

    The same arguments always give byte-identical files. `profile` names a noise profile
    (settings.profile_names(): `default`, or profiles/NAME.yaml laid over the defaults);
    `config` is a settings file loaded with `load_synth_config` (noise rates, coverage,
    delivery change rates, its own profile; default: noise_defaults.yaml); `noise` further
    overrides noise rates (source system -> noise type -> rate) and `coverage` replaces the
    coverage. With `deliveries` K >= 1, days
    1..K are written under out_dir/deliveries/ (see deliveries.py for the layout).
    `extracts` names program extracts to write too (programs.EXTRACTS: wic,
    behavioral_health), each in its own layout, with their records in truth.csv; without
    them the files are as before.

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
    if isinstance(deliveries, bool) or not isinstance(deliveries, int) or deliveries < 0:
        raise ValueError(f"deliveries must be a whole number >= 0, got {deliveries!r}")
    unknown = [name for name in extracts if name not in EXTRACTS]
    if unknown:
        raise ValueError(f"unknown extract {unknown[0]!r}; choose from {', '.join(EXTRACTS)}")
    if extracts and deliveries:
        raise ValueError("program extracts have no later deliveries yet; generate them "
                         "without deliveries")
    if config is None:
        config = settings.resolve(profile=profile or settings.DEFAULT_PROFILE)
    elif profile is not None and profile != config.profile:
        raise ValueError(f"profile {profile!r} differs from the settings' profile "
                         f"{config.profile!r}; pass it to load_synth_config instead")
    rates = resolve_noise_rates({**config.noise, **{source: {**config.noise.get(source, {}),
                                                             **values}
                                                    for source, values in (noise or {}).items()}})
    coverage = coverage or Coverage(**config.coverage)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    builder = PopulationBuilder(random.Random(f"{seed}/population"), coverage)
    writers = [writer_class(out_dir, seed, rates) for writer_class in WRITERS]
    writers += [ProgramWriter(EXTRACTS[name], out_dir, seed, rates)
                for name in dict.fromkeys(extracts)]
    truth = TruthWriter(out_dir / "truth.csv")
    households = [] if deliveries else None
    written, reported = 0, 0
    try:
        for household in builder.households(people):
            if households is not None:
                households.append(household)
            for writer in writers:
                truth.write(writer.source_system, writer.write_household(household))
            written += len(household.members)
            if written - reported >= PROGRESS_EVERY or written == people:
                progress.advance(written, people)
                reported = written
    finally:
        for writer in writers:
            writer.close()
        truth.close()
    records = {writer.source_system: writer.records for writer in writers}
    seconds = {"day0": round(time.perf_counter() - started, 3)}
    summary = SynthSummary(people, records, seconds=seconds, profile=config.profile)
    if deliveries:
        started = time.perf_counter()
        changes = write_deliveries(out_dir, writers, households, builder, config.deliveries,
                                   seed, deliveries)
        seconds["deliveries"] = round(time.perf_counter() - started, 3)
        summary = replace(summary, deliveries=changes)
    return summary
