from __future__ import annotations

import json

import pytest

from linkage.config import load_config
from linkage.errors import ConfigError

VALID = """
store: out/store.duckdb
model: models/m.json
sources:
  - {name: hmis, kind: hmis, path: data/hmis}
  - {name: clinic, kind: ehr_csv, path: data/p.csv, columns: {FNAME: first_name}}
"""


def write(tmp_path, text: str):
    path = tmp_path / "run.yaml"
    path.write_text(text)
    return path


def test_paths_are_relative_to_the_config_file(tmp_path):
    config = load_config(write(tmp_path, VALID))
    assert config.store == tmp_path / "out" / "store.duckdb"
    assert config.sources[1].path == tmp_path / "data" / "p.csv"
    assert config.sources[1].columns == {"FNAME": "first_name"}


def test_store_option_overrides_the_config_store(tmp_path):
    config = load_config(write(tmp_path, VALID), store=tmp_path / "other.duckdb")
    assert config.store == tmp_path / "other.duckdb"


@pytest.mark.parametrize("text, message", [
    (VALID + "linkng: {}\n", "unknown key 'linkng'"),
    (VALID.replace("kind: hmis", "kind: hmis, pth: x"), "unknown key 'sources.0.pth'"),
    (VALID + "linking: {match_threshold: 0.9, predict_treshold: 0.5}\n",
     "unknown key 'linking.predict_treshold'"),
    (VALID.replace("kind: hmis", "kind: hmiss"), "invalid value for 'sources.0.kind'"),
    (VALID.replace("store: out/store.duckdb\n", ""), "missing required key 'store'"),
    (VALID + "linking: {match_threshold: 2}\n", "invalid value for 'linking.match_threshold'"),
    (VALID.replace("name: clinic", "name: hmis"), "source names must be unique"),
    ("store: [unclosed\n", "not valid YAML at line"),
    ("- a list\n", "expected a mapping"),
])
def test_invalid_config_names_the_key_and_the_file(tmp_path, text, message):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as raised:
        load_config(path)
    assert str(path) in str(raised.value)
    assert message in str(raised.value)


def test_missing_config_file_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "absent.yaml")


@pytest.mark.parametrize("date_format", ["%d%m%Y", "%d/%m/%Y", "%m-%d-%y", "%d %b %Y",
                                         "%B %d, %Y", "%Y.%m.%d"])
def test_a_date_format_of_directives_and_separators_is_accepted(tmp_path, date_format):
    config = load_config(write(tmp_path, VALID.replace(
        "path: data/p.csv", f"path: data/p.csv, date_format: '{date_format}'")))
    assert config.sources[1].date_format == date_format


# A source's date_format is bound to SQL; the validator also keeps it a plain date.
UNSAFE_DATE_FORMATS = ["%d%m%Y'; DROP TABLE person; --", "%d%m%Y%H", "%Y-%m", "%d%d%m%Y", "%s",
                       "%d%m%Y\n", "dd/mm/yyyy", "%d\"%m\"%Y", "%d%m%Y" + "-" * 40]


@pytest.mark.parametrize("date_format", UNSAFE_DATE_FORMATS)
def test_a_date_format_that_is_not_a_plain_date_is_refused(tmp_path, date_format):
    path = tmp_path / "run.yaml"
    path.write_text(json.dumps({"store": "s.duckdb", "model": "m.json", "sources": [
        {"name": "src", "kind": "ehr_csv", "path": "p.csv", "date_format": date_format}]}))
    with pytest.raises(ConfigError) as raised:
        load_config(path)
    assert "invalid value for 'sources.0.date_format'" in str(raised.value)


def test_consumers_see_their_sources_or_all_by_default(tmp_path):
    config = load_config(write(tmp_path, VALID + """consumers:
  - {name: clinic, token_env: CLINIC_TOKEN, sources: [clinic]}
  - {name: county, token_env: COUNTY_TOKEN}
"""))
    assert config.visible_sources(config.consumer("clinic")) == ("clinic",)
    assert config.visible_sources(config.consumer("county")) == ("hmis", "clinic")
    with pytest.raises(ConfigError, match="no consumer named 'nobody'"):
        config.consumer("nobody")


@pytest.mark.parametrize("consumers, message", [
    ("  - {name: a, token_env: T, sources: [wic]}\n", "consumer a: unknown sources wic"),
    ("  - {name: a, token_env: T}\n  - {name: a, token_env: U}\n", "consumer names must be unique"),
    ("  - {name: a, token_env: T, token: secret}\n", "unknown key 'consumers.0.token'"),
    ("  - {name: a, token_env: T, sources: []}\n", "consumers.0.sources"),
])
def test_a_bad_consumer_is_a_config_error(tmp_path, consumers, message):
    with pytest.raises(ConfigError, match=message):
        load_config(write(tmp_path, VALID + "consumers:\n" + consumers))


def test_tokens_come_from_the_environment_and_are_never_in_errors(tmp_path):
    from linkage.serve.consumers import authenticate, load_consumers

    config = load_config(write(tmp_path, VALID + """consumers:
  - {name: clinic, token_env: CLINIC_TOKEN, sources: [clinic]}
"""))
    with pytest.raises(ConfigError, match="CLINIC_TOKEN is not set"):
        load_consumers(config, {})
    with pytest.raises(ConfigError, match="shorter than 16") as short:
        load_consumers(config, {"CLINIC_TOKEN": "tiny-secret"})
    assert "tiny-secret" not in str(short.value)
    (clinic,) = load_consumers(config, {"CLINIC_TOKEN": "a-long-enough-token"})
    assert "a-long-enough-token" not in repr(clinic)
    assert authenticate([clinic], "Bearer a-long-enough-token") is clinic
    assert authenticate([clinic], "bearer a-long-enough-token") is clinic
    for header in (None, "", "Bearer", "Bearer a-long-enough-tokeN", "Basic a-long-enough-token",
                   "a-long-enough-token"):
        assert authenticate([clinic], header) is None
