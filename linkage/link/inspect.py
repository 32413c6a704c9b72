"""The model as an analyst sees it: Splink's charts of its match weights and m/u
probabilities, and the pairs each prediction blocking rule adds.

The weights charts read only the model file, so they work before any run; blocking counts
need the records they block, the store's active persons. Counts are exact
(`record_sample_proportion=1.0`), as in benchmarks/bench_blocking.py: each rule's pairs
beyond the rules before it, and the running total the run scores.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pandas as pd
import pyarrow as pa
from splink import Linker

from linkage.charts import Chart
from linkage.link.splink_session import active_persons, splink_linker
from linkage.store import open_store

STAGE = "inspect"


@contextmanager
def model_linker(model: dict[str, Any]) -> Iterator[Linker]:
    """A Linker over no records, for what depends on the model alone."""
    with open_store(":memory:", create=True) as scratch:  # the person table's columns
        persons = active_persons(scratch, STAGE)
    with splink_linker(persons, model) as linker:
        yield linker


def match_weights_chart(model: dict[str, Any]) -> Chart:
    """Each comparison level's match weight, and the prior."""
    with model_linker(model) as linker:
        return Chart.from_splink(linker.visualisations.match_weights_chart())


def m_u_chart(model: dict[str, Any]) -> Chart:
    """Each comparison level's m (share of matches) and u (share of non-matches)."""
    with model_linker(model) as linker:
        return Chart.from_splink(linker.visualisations.m_u_parameters_chart())


def blocking_counts(persons: pa.Table, model: dict[str, Any]) -> pd.DataFrame:
    """One row per prediction blocking rule of the model, in its order: the rule, the
    pairs it adds beyond the rules before it, and the cumulative pairs."""
    with splink_linker(persons, model) as linker:
        counts = linker.blocking_analysis.count_comparisons_from_blocking_rules(
            record_sample_proportion=1.0)
    return pd.DataFrame({
        "rule": [count["blocking_rule"] for count in counts],
        "pairs_added": [int(count["marginal_comparison_count"]) for count in counts],
        "cumulative_pairs": [int(count["cumulative_comparison_count"]) for count in counts],
    })


def blocking_chart(persons: pa.Table, model: dict[str, Any]) -> Chart:
    """Splink's chart of the pairs each prediction blocking rule adds, cumulatively."""
    with splink_linker(persons, model) as linker:
        return Chart.from_splink(linker.blocking_analysis.chart_comparisons_from_blocking_rules(
            record_sample_proportion=1.0))
