"""A run commits all or nothing: killed (SIGKILL) at any stage, the store keeps the
previous crosswalk, and the next run ends exactly where an uninterrupted run ends."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys

import duckdb
import pytest

from conftest import cli
from linkage.project import PAUSE_BEFORE

# Tables compared, less the columns that differ between two folders or two clocks.
TABLES = {"run": "SELECT run_id, model_fingerprint FROM run",
          "delivery": "SELECT * EXCLUDE (files) FROM delivery",
          "source_record": "SELECT * EXCLUDE (source_file) FROM source_record",
          "person": "SELECT * FROM person",
          "crosswalk": "SELECT * FROM crosswalk",
          "enterprise_id": "SELECT * FROM enterprise_id",
          "crosswalk_event": "SELECT * FROM crosswalk_event"}


def state(store) -> dict:
    with duckdb.connect(str(store), read_only=True) as con:
        return {table: con.execute(f"{sql} ORDER BY ALL").fetchall()
                for table, sql in TABLES.items()}


def delete_one_hmis_client(config) -> None:
    client = config.parent / "sample_data" / "hmis" / "Client.csv"
    lines = client.read_text().splitlines(keepends=True)
    client.write_text(lines[0] + "".join(lines[2:]))


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """Run 1 on the sample, a change, and run 2 uninterrupted: the state to end in."""
    from conftest import SAMPLE_CONFIG, SAMPLE_DATA, ROOT

    folder = tmp_path_factory.mktemp("reference")
    shutil.copytree(SAMPLE_DATA, folder / "sample_data")
    config = folder / "run.yaml"
    config.write_text(SAMPLE_CONFIG.read_text()
                      .replace("../sample_data", str(folder / "sample_data"))
                      .replace("../models", str(ROOT / "models"))
                      .replace("../out/sample.duckdb", str(folder / "store.duckdb")))
    assert cli("-q", "run", "--config", config) == 0
    after_first = folder / "after_first.duckdb"
    shutil.copy(folder / "store.duckdb", after_first)
    delete_one_hmis_client(config)
    assert cli("-q", "run", "--config", config) == 0
    return after_first, state(folder / "store.duckdb")


@pytest.mark.parametrize("stage", ["land", "standardize", "link", "crosswalk", "commit"])
def test_run_killed_at_any_stage_leaves_the_previous_crosswalk_and_recovers(
        sample_copy, reference, stage):
    after_first, expected = reference
    store = sample_copy.parent / "store.duckdb"
    shutil.copy(after_first, store)
    before = state(store)
    delete_one_hmis_client(sample_copy)
    process = subprocess.Popen(
        [sys.executable, "-m", "linkage.cli", "-q", "run", "--config", str(sample_copy)],
        stderr=subprocess.PIPE, text=True, env={**os.environ, PAUSE_BEFORE: stage})
    try:
        assert process.stderr.readline().strip() == f"paused before {stage}"
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
    assert state(store) == before
    assert cli("-q", "run", "--config", sample_copy) == 0
    assert state(store) == expected
