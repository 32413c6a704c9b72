"""Train the model: prior from near-certain rules, u by seeded random sampling, m by EM
on capped samples of blocked pairs. Writes the Splink model and a model card beside it."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import os
from pathlib import Path
from typing import Any

import pyarrow as pa
import splink

from linkage import progress
from linkage.config import TrainingConfig
from linkage.link.model import DETERMINISTIC_RULES, TRAINING_BLOCKING, settings
from linkage.link.splink_session import splink_linker

log = logging.getLogger(__name__)

# Share of true matches the deterministic rules are believed to find (for the prior).
DETERMINISTIC_RECALL = 0.7
EM_MAX_PAIRS = 2_000_000
SIGNIFICANT_DIGITS = 10


def card_path(model_path: Path) -> Path:
    return model_path.with_suffix(".card.json")


def data_fingerprint(persons: pa.Table) -> str:
    """A digest of the training records, so a card names exactly what trained it."""
    digest = hashlib.sha256()
    for batch in persons.sort_by("record_key").to_batches(max_chunksize=65_536):
        sink = pa.BufferOutputStream()
        with pa.ipc.new_stream(sink, batch.schema) as writer:
            writer.write_batch(batch)
        digest.update(sink.getvalue().to_pybytes())
    return digest.hexdigest()[:16]


def train(persons: pa.Table, training: TrainingConfig, out: Path,
          trained_on: dict[str, Any]) -> dict[str, Any]:
    """Estimate the model on `persons` and write it to `out`; return the model card."""
    with splink_linker(persons, settings(training.em_max_iterations)) as linker:
        with progress.step("estimate_prior"):
            linker.training.estimate_probability_two_random_records_match(
                list(DETERMINISTIC_RULES), recall=DETERMINISTIC_RECALL)
        with progress.step("estimate_u"):
            linker.training.estimate_u_using_random_sampling(
                max_pairs=training.max_pairs_u, seed=training.seed)
        for number, rule in enumerate(TRAINING_BLOCKING, start=1):
            with progress.step(f"estimate_m_em_{number}_of_{len(TRAINING_BLOCKING)}"):
                linker.training.estimate_parameters_using_expectation_maximisation(
                    rule, max_pairs=EM_MAX_PAIRS)
        model = linker.misc.save_model_to_json(None)

    # Splink gives each linker a random uid, and DuckDB's parallel sums differ in the last
    # bits from run to run; fix the one and round the other so the same data and seed give
    # the same model file byte for byte.
    model["linker_uid"] = f"linkage-{training.seed}"
    for comparison in model["comparisons"]:
        for level in comparison["comparison_levels"]:
            for key in ("m_probability", "u_probability"):
                if isinstance(level.get(key), float):
                    level[key] = float(f"{level[key]:.{SIGNIFICANT_DIGITS}g}")
    text = json.dumps(model, indent=2, sort_keys=True) + "\n"
    settings_fingerprint = hashlib.sha256(
        json.dumps(settings(training.em_max_iterations).get_settings("duckdb").as_dict(),
                   sort_keys=True, default=str).encode()).hexdigest()[:16]
    card = {
        "model_file": out.name,
        "trained_at": dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat(),
        "splink_version": splink.__version__,
        "trained_on": {**trained_on, "records": persons.num_rows,
                       "data_fingerprint": data_fingerprint(persons)},
        "training": {"seed": training.seed, "max_pairs_u": training.max_pairs_u,
                     "em_max_iterations": training.em_max_iterations,
                     "em_max_pairs": EM_MAX_PAIRS,
                     "em_blocking_rules": [rule.get_blocking_rule("duckdb").blocking_rule_sql
                                           for rule in TRAINING_BLOCKING],
                     "deterministic_recall": DETERMINISTIC_RECALL},
        "settings_fingerprint": settings_fingerprint,
        "model_fingerprint": hashlib.sha256(text.encode()).hexdigest()[:16],
        "probability_two_random_records_match": model["probability_two_random_records_match"],
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    _write_atomically(out, text)
    write_card(out, card)
    return card


def write_card(model_path: Path, card: dict[str, Any]) -> None:
    _write_atomically(card_path(model_path), json.dumps(card, indent=2) + "\n")


def _write_atomically(path: Path, content: str) -> None:
    temporary = path.with_suffix(path.suffix + ".tmp")
    temporary.write_text(content, encoding="utf-8")
    os.replace(temporary, path)
