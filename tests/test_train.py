"""Training at scale: the record sample training reads above `max_records`, and the same model
from the same input."""

from __future__ import annotations

import yaml

from linkage.config import load_config
from linkage.link.train import training_sample
from linkage.sources import check_sources, land_sources
from linkage.standardize import standardize
from linkage.store import open_store

from conftest import SAMPLE_CONFIG, cli

PERSON_ROWS = "SELECT * FROM person ORDER BY record_key"


def landed_store(sources):
    store = open_store(":memory:", create=True)
    land_sources(store, check_sources(sources), run_id=0)
    return store


def test_training_sample_is_fixed_by_seed_and_standardizes_as_the_whole():
    sources = load_config(SAMPLE_CONFIG).sources
    with landed_store(sources) as whole:
        landed = whole.scalar("test", "n", "SELECT count(*) FROM source_record")
        standardize(whole)
        everyone = {row[0]: row for row in whole.con.execute(
            "SELECT record_key, * FROM person").fetchall()}
    assert landed == len(everyone) > 3000
    cap = landed // 3

    def sample_rows(sources, seed):
        with landed_store(sources) as store:
            sample = training_sample(store, cap, seed)
            standardize(store, sample)
            return store.con.execute("SELECT record_key, * FROM person").fetchall()

    rows = sample_rows(sources, 42)
    assert len(rows) == cap
    # Each sampled record gets the row a full standardize gives it.
    assert all(row == everyone[row[0]] for row in rows)
    # Any landing order, the same sample; another seed, another sample.
    assert sorted(sample_rows(list(reversed(sources)), 42)) == sorted(rows)
    other = {row[0] for row in sample_rows(sources, 43)}
    assert len(other) == cap and other != {row[0] for row in rows}
    # Every source keeps about its share of the records.
    for system in ("calsaws", "hmis", "ehr_csv", "ehr_fhir"):
        share = sum(key.startswith(system + ":") for key in everyone) / landed
        sampled = sum(row[0].startswith(system + ":") for row in rows) / cap
        assert abs(sampled - share) < 0.05, system


def test_all_records_are_read_when_they_fit():
    with landed_store(load_config(SAMPLE_CONFIG).sources) as store:
        landed = store.scalar("test", "n", "SELECT count(*) FROM source_record")
        assert training_sample(store, landed, 42) is None
        assert training_sample(store, None, 42) is None


def test_training_on_a_sample_gives_the_same_model_twice(tmp_path):
    config = yaml.safe_load(SAMPLE_CONFIG.read_text())
    for source in config["sources"]:
        source["path"] = str((SAMPLE_CONFIG.parent / source["path"]).resolve())
    config["store"] = str(tmp_path / "store.duckdb")
    config["training"] = {"seed": 42, "max_pairs_u": 200_000, "em_max_iterations": 10,
                          "max_records": 2000, "holdout_people": 0}
    (tmp_path / "train.yaml").write_text(yaml.safe_dump(config))
    models = []
    for name in ("a", "b"):
        out = tmp_path / f"{name}.json"
        assert cli("-q", "train", "--config", tmp_path / "train.yaml", "--out", out) == 0
        models.append(out.read_bytes())
        card = yaml.safe_load((tmp_path / f"{name}.card.json").read_text())
        assert card["trained_on"]["records"] == 2000
        assert sum(card["trained_on"]["sources"].values()) > 2000
        assert card["training"]["max_records"] == 2000
    assert models[0] == models[1]
