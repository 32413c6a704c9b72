"""The README's Python example runs as written (against a private store)."""

from __future__ import annotations

import os
import re

from conftest import ROOT


def test_readme_python_example_runs(tmp_path, capsys):
    readme = (ROOT / "README.md").read_text()
    (example,) = re.findall(r"```python\n(.*?)```", readme, flags=re.S)
    example = example.replace('"out/notebook.duckdb"', repr(str(tmp_path / "notebook.duckdb")))
    cwd = os.getcwd()
    os.chdir(ROOT)
    try:
        exec(compile(example, "README.md", "exec"), {})
    finally:
        os.chdir(cwd)
    printed = capsys.readouterr().out.split()
    assert float(printed[-1]) >= 0.95
