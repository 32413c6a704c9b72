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

