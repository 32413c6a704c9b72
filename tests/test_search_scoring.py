"""Search weighs a query against its candidates with the model read as data; the levels and
weights must be the ones Splink's own scoring gives the same pairs."""

from __future__ import annotations

import duckdb
import numpy as np
import pyarrow as pa
import pytest
from splink import DuckDBAPI
from splink.internals.realtime import compare_records

from conftest import SAMPLE_CONFIG
from linkage.link.model_file import MODEL_COLUMNS, read_model
from linkage.project import Project
from linkage.link.comparison_levels import comparisons, gamma_sql, prior_weight, weigh

_PAIRS = 400


@pytest.fixture(scope="module")
def model(linked_store) -> dict:
    return read_model(Project.open(SAMPLE_CONFIG, store=linked_store).config.model)


@pytest.fixture(scope="module")
def records(linked_store):
    with duckdb.connect(str(linked_store), read_only=True) as con:
        return con.execute(f"SELECT {', '.join(MODEL_COLUMNS)} FROM person "
                           "ORDER BY hash(record_key) LIMIT 60").to_arrow_table()


def test_levels_and_weights_are_splinks(model, records):
    """Pairs of sample records (with a term frequency on the left side, as a query has)
    get the comparison levels and the match weight Splink computes."""
    con = duckdb.connect()
    try:
        left = records.slice(0, 20).append_column(
            "tf_first_name", pa.array(np.linspace(0.0005, 0.05, 20))).append_column(
            "tf_last_name", pa.array(np.linspace(0.001, 0.02, 20))).append_column(
            "tf_street", pa.nulls(20, pa.float64()))
        right = records.slice(20, 40)
        for column in ("tf_first_name", "tf_last_name", "tf_street"):
            right = right.append_column(column, pa.nulls(right.num_rows, pa.float64()))
        splink = compare_records(left, right, model, DuckDBAPI(con)).as_pandas_dataframe()
        con.register("l_records", left)
        con.register("r_records", right)
        found = comparisons(model)
        pairs = ", ".join([*(f"l.{c} AS {c}_l, r.{c} AS {c}_r" for c in MODEL_COLUMNS),
                           *(f"l.{c} AS {c}_l, r.{c} AS {c}_r"
                             for c in ("tf_first_name", "tf_last_name", "tf_street"))])
        ours = con.execute(f"""
SELECT record_key_l, record_key_r, tf_first_name_l, tf_last_name_l,
    {', '.join(f'{gamma_sql(c)} AS gamma_{c.name}' for c in found)}
FROM (SELECT {pairs} FROM l_records AS l CROSS JOIN r_records AS r)""").df()
    finally:
        con.close()
    merged = ours.merge(splink, on=["record_key_l", "record_key_r"], suffixes=("", "_splink"))
    assert len(merged) == 20 * 40
    total = np.full(len(merged), prior_weight(model))
    for comparison in found:
        gammas = merged[f"gamma_{comparison.name}"].to_numpy()
        assert (gammas == merged[f"gamma_{comparison.name}_splink"].to_numpy()).all()
        for row in range(len(merged)):
            frequencies = {"first_name": merged.tf_first_name_l[row],
                           "last_name": merged.tf_last_name_l[row]}
            total[row] += weigh(comparison, gammas[row:row + 1], frequencies)[0]
    assert np.allclose(total, merged["match_weight"].to_numpy(), rtol=0, atol=1e-9)
    assert len(set(np.round(total, 6))) > 10  # pairs at many levels, not one
