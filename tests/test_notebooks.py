"""The analysts' notebooks run top to bottom, their answers hold, and their charts render
offline.

Each notebook in notebooks/ ends by recomputing its answer and asserting it, so a change
that makes an answer wrong fails here. The notebooks are kept without outputs; to open
them:

    pip install -e '.[notebooks]' jupyterlab
    jupyter lab notebooks/
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")
from jupyter_client.kernelspec import KernelSpecManager  # noqa: E402
from jupyter_client.manager import KernelManager  # noqa: E402

from conftest import ROOT  # noqa: E402

NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
KERNEL = "linkage-notebook-test"
CELL_SECONDS = 120
EXTERNAL_SCRIPT = re.compile(r"<script[^>]*\bsrc\s*=\s*[\"']?(https?:)?//", re.IGNORECASE)


def kernel_manager(folder: Path) -> KernelManager:
    """A kernel running this interpreter, whatever kernels the machine has installed."""
    spec = folder / KERNEL
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "linkage tests", "language": "python"}), encoding="utf-8")
    return KernelManager(kernel_name=KERNEL,
                         kernel_spec_manager=KernelSpecManager(kernel_dirs=[str(folder)]))


def test_there_are_five_notebooks_kept_without_outputs():
    assert [path.name for path in NOTEBOOKS] == [
        "01_tune_threshold.ipynb", "02_understand_the_model.ipynb",
        "03_explain_pair_and_eid.ipynb", "04_review_clusters.ipynb",
        "05_read_a_benchmark.ipynb"]
    for path in NOTEBOOKS:
        cells = nbformat.read(path, as_version=4).cells
        assert cells[0].cell_type == "markdown" and cells[0].source.startswith("# ")
        assert cells[-2].cell_type == "markdown" and cells[-2].source.startswith("## Answer")
        assert cells[-1].cell_type == "code" and "assert " in cells[-1].source
        for cell in cells:
            if cell.cell_type == "code":
                assert cell.outputs == [] and cell.execution_count is None, path.name


# Run from notebooks/, where Jupyter opens them, except one run from the repository root.
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[path.stem for path in NOTEBOOKS])
def test_notebook_runs_and_its_charts_render_offline(path, tmp_path, monkeypatch):
    out = tmp_path / "out"
    monkeypatch.setenv("LINKAGE_NOTEBOOK_OUT", str(out))  # the files a notebook writes
    notebook = nbformat.read(path, as_version=4)
    cwd = ROOT if path.name.startswith("05") else path.parent
    client = nbclient.NotebookClient(notebook, timeout=CELL_SECONDS,
                                     km=kernel_manager(tmp_path / "kernels"),
                                     resources={"metadata": {"path": str(cwd)}})
    client.execute()  # raises CellExecutionError, naming the cell, on any error

    html = [output["data"]["text/html"] for cell in notebook.cells if cell.cell_type == "code"
            for output in cell.outputs if "text/html" in output.get("data", {})]
    charts = [fragment for fragment in html if "vegaEmbed(" in fragment]
    assert charts, "a notebook shows at least one chart"
    text = json.dumps([cell.get("outputs", []) for cell in notebook.cells])
    assert "cdn.jsdelivr" not in text and not EXTERNAL_SCRIPT.search(text)
    assert not list(ROOT.glob("notebooks/*.duckdb"))  # nothing written into the repository
