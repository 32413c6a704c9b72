"""What a scheduler relies on: exit codes by kind (usage errors apart from bad input), the
error as JSON under --json, and global options accepted after the subcommand."""

from __future__ import annotations

import json
import re

import pytest

from conftest import ROOT, cli
from linkage import cli as cli_module


def test_an_error_under_json_is_one_json_object_on_stdout(tmp_path, capfd):
    assert cli("run", "--json", "--config", tmp_path / "missing.yaml") == 2
    out, err = capfd.readouterr()
    error = json.loads(out)["error"]
    assert error["exit_code"] == 2 and error["kind"] == "ConfigError"
    assert "missing.yaml" in error["message"] and "missing.yaml" in err


def test_an_error_without_json_prints_nothing_on_stdout(tmp_path, capfd):
    assert cli("run", "--config", tmp_path / "missing.yaml") == 2
    assert capfd.readouterr().out == ""


@pytest.mark.parametrize("args", [("run", "--no-such-option", "--config", "x.yaml"),
                                  ("run",), ("resolve", "--config", "x.yaml")])
def test_usage_errors_exit_64(args):
    assert cli(*args) == 64


def test_a_usage_error_under_json_is_json_too(capfd):
    assert cli("run", "--json", "--no-such-option") == 64
    assert json.loads(capfd.readouterr().out)["error"]["kind"] == "usage"


def test_quiet_after_the_subcommand_silences_progress(sample_copy, capfd):
    assert cli("run", "-q", "--config", sample_copy) == 0
    assert capfd.readouterr().err == ""


def test_progress_after_the_subcommand_is_honoured(tmp_path, capfd):
    assert cli("synth", "--people", "5", "--out", tmp_path, "--progress", "json") == 0
    events = [json.loads(line) for line in capfd.readouterr().err.splitlines()]
    assert events and all("stage" in event or "event" in event for event in events)


def test_debug_after_the_subcommand_shows_the_traceback(tmp_path, capfd):
    assert cli("run", "--config", tmp_path / "missing.yaml", "--debug") == 2
    assert "Traceback" in capfd.readouterr().err


def test_the_readme_lists_every_exit_code():
    readme = (ROOT / "README.md").read_text()
    table = readme[readme.index("## Exit codes"):]
    listed = {int(code) for code in re.findall(r"^\| (\d+) \|", table, flags=re.M)}
    codes = {0, cli_module.USAGE_ERROR, cli_module.INTERNAL_ERROR, cli_module.INTERRUPTED, 5}
    import linkage.errors as errors

    codes |= {kind.exit_code for kind in vars(errors).values()
              if isinstance(kind, type) and issubclass(kind, errors.LinkageError)}
    assert codes <= listed
