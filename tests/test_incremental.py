"""An incremental delivery ends where a full run on the same final data ends: on DuckDB, and
(pytest -m spark) on Spark."""

from __future__ import annotations

import csv
import json
import shutil

import pytest

from conftest import ENGINES, ROOT, SAMPLE_CONFIG, SAMPLE_DATA, cli, query
from linkage.crosswalk.labels import KEY_ENV
from linkage.store import open_store


@pytest.fixture
def shared_eid_key(monkeypatch):
    """The stores a test compares label under one key, as a deployment's stores would."""
    monkeypatch.setenv(KEY_ENV, "5e" * 32)


def read_rows(path):
    with path.open(newline="") as handle:
        reader = csv.reader(handle)
        header = next(reader)
        return header, list(reader)


def write_rows(path, header, rows):
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)


def make_config(folder, data, store):
    config = folder / f"{store.stem}.yaml"
    config.write_text(SAMPLE_CONFIG.read_text().replace("../sample_data", str(data))
                      .replace("../models", str(ROOT / "models"))
                      .replace("../out/sample.duckdb", str(store)))
    return config


def active(store) -> dict:
    with open_store(store, read_only=True) as opened:  # a DuckDB file or a Parquet store
        return dict(((s, r), e) for s, r, e in query(
            opened, "SELECT source_system, source_record_id, enterprise_id FROM crosswalk "
                    "WHERE valid_to_run IS NULL"))


@pytest.fixture(scope="module")
def deliveries(tmp_path_factory):
    """Day 0 (the sample less 60 EHR patients), a delta (those 60, 10 changed patients,
    5 CalSAWS deletions) and the final full data."""
    folder = tmp_path_factory.mktemp("incremental")
    day0, final, delta = folder / "day0", folder / "final", folder / "delta"
    for target in (day0, final):
        shutil.copytree(SAMPLE_DATA, target)
    header, rows = read_rows(SAMPLE_DATA / "ehr" / "patients.csv")
    phone = header.index("phone")
    changed = [list(row) for row in rows[:10]]
    for row in changed:
        row[phone] = "(415) 555-01" + row[0][-2:]
    write_rows(day0 / "ehr" / "patients.csv", header, rows[:-60])
    write_rows(final / "ehr" / "patients.csv", header, changed + rows[10:])
    write_rows(delta / "ehr" / "patients.csv", header, changed + rows[-60:])
    cal_header, cal_rows = read_rows(SAMPLE_DATA / "calsaws" / "persons.csv")
    write_rows(final / "calsaws" / "persons.csv", cal_header, cal_rows[5:])
    write_rows(delta / "deleted.csv", ["source_system", "source_record_id"],
               [["calsaws", "-".join(row[:3])] for row in cal_rows[:5]])
    return folder, day0, final, delta


@pytest.mark.parametrize("backend", ENGINES)
def test_incremental_delivery_agrees_with_a_full_rerun(deliveries, backend, capsys,
                                                         shared_eid_key):
    folder, day0, final, delta = deliveries
    suffix = ".duckdb" if backend == "duckdb" else ".parquet"
    incremental_store = folder / f"incremental_{backend}{suffix}"
    full_store = folder / f"full_{backend}{suffix}"
    engine = ("--backend", backend)
    incremental_config = make_config(folder, day0, incremental_store)
    full_config = make_config(folder, day0, full_store)
    for config in (incremental_config, full_config):
        assert cli("-q", "run", "--config", config, *engine) == 0
    assert active(incremental_store) == active(full_store)

    capsys.readouterr()
    assert cli("-q", "run", "--config", incremental_config, "--delivery", delta, "--json",
               *engine) == 0
    summary = json.loads(capsys.readouterr().out)
    assert [s["rows_landed"] for s in summary["sources"]] == [70]
    assert summary["crosswalk"]["records_removed"] == 5
    with (SAMPLE_DATA / "truth.csv").open() as handle:
        sample_records = sum(1 for _ in handle) - 1
    assert summary["persons"] == sample_records  # every record kept: deleted ones inactive
    assert summary["link"]["records"] == sample_records - 5

    full_config.write_text(full_config.read_text().replace(str(day0), str(final)))
    assert cli("-q", "run", "--config", full_config, *engine) == 0
    assert active(incremental_store) == active(full_store)


def members_by_eid(store, where: str = "true") -> dict[str, set]:
    with open_store(store, read_only=True) as opened:
        rows = query(opened, "SELECT enterprise_id, source_system, source_record_id FROM crosswalk "
                             f"WHERE valid_to_run IS NULL AND enterprise_id IN "
                             f"(SELECT enterprise_id FROM enterprise_id WHERE {where})")
    members: dict[str, set] = {}
    for eid, system, record in rows:
        members.setdefault(eid, set()).add((system, record))
    return members


def test_a_delivery_labels_its_new_eids_as_a_full_run_labels_those_clusters(deliveries,
                                                                           shared_eid_key):
    folder, day0, final, delta = deliveries
    incremental_store, full_store = folder / "labels_delivery.duckdb", folder / "labels_full.duckdb"
    assert cli("-q", "run", "--config", make_config(folder, day0, incremental_store)) == 0
    assert cli("-q", "run", "--config", make_config(folder, day0, incremental_store),
               "--delivery", delta) == 0
    assert cli("-q", "run", "--config", make_config(folder, final, full_store)) == 0
    created = members_by_eid(incremental_store, "created_run = 2")
    assert created  # the delivery brought people the store had not seen
    full = members_by_eid(full_store)
    assert {eid: full.get(eid) for eid in created} == created


def test_incremental_run_scores_only_the_delivered_records(deliveries, capsys):
    folder, day0, _, delta = deliveries
    store = folder / "scored.duckdb"
    config = make_config(folder, day0, store)
    assert cli("-q", "run", "--config", config, "--json") == 0
    full = json.loads(capsys.readouterr().out)
    assert cli("-q", "run", "--config", config, "--delivery",
               f"ehr_csv={delta / 'ehr' / 'patients.csv'}", "--json") == 0
    incremental = json.loads(capsys.readouterr().out)
    assert incremental["link"]["pairs_scored"] < full["link"]["pairs_scored"] / 10


def test_a_delivery_for_an_unknown_source_is_refused(deliveries, capsys):
    folder, day0, _, delta = deliveries
    config = make_config(folder, day0, folder / "refused.duckdb")
    assert cli("-q", "run", "--config", config) == 0
    assert cli("run", "--config", config, "--delivery", f"nope={delta}") == 2
    assert "no source named 'nope'" in capsys.readouterr().err


def test_a_stored_pair_a_delivery_moves_across_the_threshold_is_scored_again(engine_store):
    """A delivery moves the frequency of every surname (the one it adds to most, and the
    others as the population grows): a stored pair on a moved surname closer to the match
    threshold than the move is stale, a pair far from it is not."""
    from linkage.link.frequencies import STALE, stale_records
    from linkage.sources.changes import changed_records
    from linkage.store import Step

    store = engine_store
    surnames = {"a": "ZED", "b": "ZED", "c": "ZED", "d": "ZED", "new": "ZED",
                "e": "ROE", "f": "ROE", "g": "POE", "h": "LOE"}
    rows = ", ".join(f"('{key}', 's', '{key}', 1, false, '{name}')"
                     for key, name in surnames.items())
    changed = changed_records(store)
    store.run_steps("test", [
        Step("person", "INSERT INTO person (record_key, source_system, source_record_id, "
             f"run_id, is_deleted, last_name) VALUES {rows}"),
        Step("pairs", "INSERT INTO pair_score VALUES (1, 'a', 'b', 2.05, 0.805), "
             "(1, 'c', 'd', 9.0, 0.998), (1, 'e', 'f', 2.05, 0.805)"),
        Step("changed", f"INSERT INTO {changed.table} VALUES ('new')"),
    ])
    # ZED: 4 of 8 records before, 5 of 9 after (0.15 bits); ROE: 2 of 8, then 2 of 9 (0.17
    # bits: every frequency moves when the population grows).
    stale = stale_records(store, changed, ["last_name"], 0.8, None)
    found = {key for (key,) in query(store, f"SELECT record_key FROM {STALE}")}
    assert stale == len(found)
    assert {"a", "b"} <= found and not {"c", "d", "new"} & found
    # e-f sits 0.05 bits above the threshold and ROE's frequency fell by 0.17 bits: stale.
    assert {"e", "f"} <= found
    # Far from the threshold, no shift can carry a pair across it.
    assert stale_records(store, changed, ["last_name"], 0.5, None) == 0
