"""Every file and folder linkage writes is owner-only while it exists, whatever the caller's
umask, and no page it writes loads anything from another host."""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path

import pytest

from conftest import ROOT, cli
from linkage.project import Project
from linkage.store import Step, open_store

SAMPLE = ROOT / "configs" / "sample.yaml"


@pytest.fixture
def shared_umask():
    """A caller whose umask makes files world-readable (0644), as most login shells do."""
    previous = os.umask(0o022)
    yield
    os.umask(previous)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_the_store_and_its_wal_are_owner_only_while_open(tmp_path, shared_umask):
    path = tmp_path / "store.duckdb"
    with open_store(path, create=True) as store:
        store.run_step("t", Step("write", "INSERT INTO store_meta VALUES ('probe', 'x')"))
        wal = path.with_name(path.name + ".wal")
        assert wal.exists() and _mode(wal) == 0o600
        assert _mode(path) == 0o600
    assert os.umask(0o022) == 0o022  # the caller's umask is back once the store is closed


def test_an_existing_world_readable_store_is_made_owner_only(tmp_path, shared_umask):
    path = tmp_path / "store.duckdb"
    open_store(path, create=True).close()
    path.chmod(0o644)
    open_store(path).close()
    assert _mode(path) == 0o600


def test_folders_linkage_creates_are_owner_only(tmp_path, shared_umask):
    path = tmp_path / "new" / "deeper" / "store.duckdb"
    open_store(path, create=True).close()
    assert _mode(tmp_path / "new") == 0o700 and _mode(tmp_path / "new" / "deeper") == 0o700


@pytest.mark.parametrize("name", ["review.html", "review.csv", "crosswalk.csv",
                                  "crosswalk.parquet"])
def test_an_export_over_a_world_readable_file_is_owner_only(linked_store, tmp_path,
                                                            shared_umask, name):
    out = tmp_path / "exports" / name
    out.parent.mkdir()
    out.write_text("old")
    out.chmod(0o644)
    command = ("review", "export") if name.startswith("review") else ("crosswalk", "export")
    assert cli(*command, "--config", SAMPLE, "--store", linked_store, "--out", out) == 0
    assert _mode(out) == 0o600 and out.read_bytes() != b"old"
    assert not [p for p in out.parent.iterdir() if p.name != name]  # no scratch left


def test_standardize_output_and_its_folders_are_owner_only(sample_copy, tmp_path, shared_umask):
    out = tmp_path / "made" / "people.csv"
    assert cli("-q", "standardize", "--config", sample_copy, "--out", out) == 0
    assert _mode(out) == 0o600 and _mode(out.parent) == 0o700


# --- offline pages ------------------------------------------------------------------------
_EXTERNAL = [
    re.compile(r"""\b(?:src|href)\s*=\s*["']?\s*(?:https?:)?//""", re.I),
    re.compile(r"""@import\s+(?:url\()?\s*["']?\s*(?:https?:)?//""", re.I),
    re.compile(r"""url\(\s*["']?\s*(?:https?:)?//""", re.I),
]


def _external_references(page: Path) -> list[str]:
    text = page.read_text(encoding="utf-8")
    return [match.group(0) for pattern in _EXTERNAL for match in pattern.finditer(text)]


def test_pages_linkage_writes_load_nothing_from_another_host(linked_store, tmp_path,
                                                             shared_umask):
    project = Project.open(SAMPLE, store=linked_store)
    pages = {"studio": project.cluster_studio(tmp_path / "studio.html", limit=2)}
    with open_store(linked_store, read_only=True) as store:
        pair = store.run_step("t", Step("pair", "SELECT record_key_l, record_key_r FROM "
                                        "pair_score ORDER BY 1, 2 LIMIT 1"))[0]
    project.explain_pair(*pair, html=tmp_path / "pair.html")
    pages["explain"] = tmp_path / "pair.html"
    assert cli("review", "export", "--config", SAMPLE, "--store", linked_store,
               "--out", tmp_path / "review.html") == 0
    pages["review"] = tmp_path / "review.html"
    pages["chart"] = project.match_weights_chart().save(tmp_path / "chart.html")
    for name, page in pages.items():
        assert _external_references(page) == [], name
        assert _mode(page) == 0o600, name
