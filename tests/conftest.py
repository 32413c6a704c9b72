from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from linkage.cli import main

ROOT = Path(__file__).resolve().parent.parent
SAMPLE_CONFIG = ROOT / "configs" / "sample.yaml"
SAMPLE_DATA = ROOT / "sample_data"


def cli(*args: str) -> int:
    return main([str(arg) for arg in args])


@pytest.fixture
def sample_copy(tmp_path) -> Path:
    """A config over a private copy of sample_data, so a test may damage its inputs."""
    data = tmp_path / "sample_data"
    shutil.copytree(SAMPLE_DATA, data)
    config = tmp_path / "run.yaml"
    text = SAMPLE_CONFIG.read_text()
    text = text.replace("../sample_data", str(data)).replace("../models", str(ROOT / "models"))
    config.write_text(text.replace("../out/sample.duckdb", str(tmp_path / "store.duckdb")))
    return config


@pytest.fixture(scope="module")
def linked_store(tmp_path_factory) -> Path:
    """The sample data linked once into a private store (read-only use in tests)."""
    store = tmp_path_factory.mktemp("linked") / "store.duckdb"
    assert cli("--quiet", "run", "--config", SAMPLE_CONFIG, "--store", store) == 0
    return store



# Each engine a store runs on: tests written once against the Store interface take
# `engine_store` and run on both (Spark in the `spark` tier: pytest -m spark).
ENGINES = ["duckdb", pytest.param("spark", marks=pytest.mark.spark)]


@pytest.fixture(params=ENGINES)
def engine_store(request, tmp_path):
    """An empty store on each engine, used through the Store interface only."""
    if request.param == "duckdb":
        from linkage.store import open_store

        with open_store(tmp_path / "store.duckdb", create=True) as store:
            yield store
        return
    pytest.importorskip("pyspark", reason="the spark extra is not installed")
    if shutil.which("java") is None:
        pytest.skip("Spark needs Java 17")
    from linkage.config import SparkConfig
    from linkage.store.spark import SparkStore

    settings = SparkConfig(master="local[2]", driver_memory="2g", shuffle_partitions=4)
    with SparkStore.open(tmp_path / "store", settings, create=True) as store:
        yield store


def query(store, sql: str, params=None) -> list[tuple]:
    """The rows of a test's query, through the Store interface (either engine)."""
    from linkage.store import Step

    return store.run_step("test", Step("query", sql, params))
