"""Explanations on the sample: a pair's weights add up to the score a run stored, its
waterfall chart works offline, and an EID's records come with the pairs that join them."""

from __future__ import annotations

import json
import math
import re
import stat

import duckdb
import pytest

from conftest import SAMPLE_CONFIG, cli
from linkage import Project



def query(store, sql: str, params=None) -> list[tuple]:
    with duckdb.connect(str(store), read_only=True) as con:
        return con.execute(sql, params).fetchall()


def kept_pairs(store) -> list[tuple[str, str, float]]:
    """The weakest, a middling and the strongest pair the run kept."""
    pairs = query(store, "SELECT record_key_l, record_key_r, match_probability FROM pair_score "
                         "ORDER BY match_probability, record_key_l, record_key_r")
    return [pairs[0], pairs[len(pairs) // 2], pairs[-1]]


def test_comparison_weights_and_prior_sum_to_the_score_the_run_stored(linked_store):
    project = Project.open(SAMPLE_CONFIG, linked_store)
    for record_a, record_b, stored in kept_pairs(linked_store):
        explained = project.explain_pair(record_a, record_b)
        total = explained.prior_match_weight + sum(c.match_weight for c in explained.comparisons)
        assert math.isclose(total, explained.match_weight, rel_tol=1e-9, abs_tol=1e-9)
        assert math.isclose(explained.match_probability, stored, rel_tol=1e-9)
        assert explained.stored_probability == stored
        assert explained.is_match == (stored >= project.match_threshold())
        frame = explained.frame()
        assert list(frame["comparison"])[:4] == ["prior", "first_name", "middle_name", "last_name"]
        assert math.isclose(frame["match_weight"].sum(), explained.match_weight, abs_tol=1e-9)
        assert frame["value_a"].isna().all()  # no record values unless asked


def test_pair_prints_levels_and_writes_an_offline_waterfall_without_values(linked_store,
                                                                           tmp_path, capsys):
    record_a, record_b, stored = kept_pairs(linked_store)[0]
    first_name = query(linked_store, "SELECT first_name FROM person WHERE record_key = ?",
                       [record_a])[0][0]
    chart = tmp_path / "charts" / "pair.html"
    capsys.readouterr()
    assert cli("explain", "--config", SAMPLE_CONFIG, "--store", linked_store, record_a, record_b,
               "--html", chart) == 0
    text = capsys.readouterr().out
    assert "Starting match weight (prior)" in text and "last_name" in text
    assert f"probability {stored:.6f}" in text and str(chart) in text
    assert first_name not in text

    html = chart.read_text(encoding="utf-8")
    assert "vegaEmbed(" in html and len(html) > 100_000  # the libraries are inlined
    external = re.compile(r"<script[^>]*\bsrc\s*=\s*[\"']?(https?:)?//", flags=re.IGNORECASE)
    assert not external.search(html)
    assert "cdn.jsdelivr" not in html
    assert set(re.findall(r'"value_[lr]": "([^"]*)"', html)) == {""}
    assert stat.S_IMODE(chart.stat().st_mode) == 0o600

    assert cli("explain", "--config", SAMPLE_CONFIG, "--store", linked_store, record_a, record_b,
               "--show-values", "--json") == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["comparisons"][0]["value_a"].startswith(first_name)
    assert shown["stored_probability"] == stored and shown["html"] is None


def test_eid_lists_its_records_and_the_pairs_that_join_them_strongest_first(linked_store,
                                                                             capsys):
    (eid, size), = query(linked_store, """
SELECT enterprise_id, count(*) AS n FROM crosswalk WHERE valid_to_run IS NULL
GROUP BY enterprise_id ORDER BY n DESC, enterprise_id LIMIT 1""")
    members = [key for (key,) in query(linked_store, """
SELECT p.record_key FROM crosswalk AS cw JOIN person AS p USING (source_system, source_record_id)
WHERE cw.valid_to_run IS NULL AND cw.enterprise_id = ? ORDER BY p.record_key""", [eid])]
    scored = query(linked_store, "SELECT count(*) FROM pair_score WHERE list_contains(?, "
                                 "record_key_l) AND list_contains(?, record_key_r)",
                   [members, members])[0][0]
    capsys.readouterr()
    assert cli("explain", "--config", SAMPLE_CONFIG, "--store", linked_store, "--eid", eid,
               "--json") == 0
    explained = json.loads(capsys.readouterr().out)
    assert [member["record_key"] for member in explained["members"]] == members
    assert set(explained["members"][0]) == {"record_key"}  # ids only unless asked
    probabilities = [edge["match_probability"] for edge in explained["edges"]]
    assert probabilities == sorted(probabilities, reverse=True)
    threshold = Project.open(SAMPLE_CONFIG, linked_store).match_threshold()
    assert len(probabilities) >= size - 1 and min(probabilities) >= threshold
    assert {edge["record_key_l"] for edge in explained["edges"]} <= set(members)
    assert len(probabilities) + explained["weaker_pairs"] == scored

    assert cli("explain", "--config", SAMPLE_CONFIG, "--store", linked_store, "--eid", eid) == 0
    text = capsys.readouterr().out
    assert text.startswith(eid) and all(member in text for member in members)
    assert f"{len(probabilities)} pairs at or above the match threshold" in text


@pytest.mark.parametrize("arguments, code, message", [
    (["calsaws:no-such-record", "hmis:no-such-record"], 1,
     "calsaws:no-such-record: no such record in the store"),
    (["--eid", "E9999999999"], 1, "E9999999999: no such enterprise ID was ever issued"),
    (["only-one-record"], 64, "give RECORD_A RECORD_B"),  # a usage error
])
def test_unknown_record_or_eid_is_a_one_line_error(linked_store, capsys, arguments, code,
                                                   message):
    capsys.readouterr()
    assert cli("explain", "--config", SAMPLE_CONFIG, "--store", linked_store, *arguments) == code
    error = capsys.readouterr().err
    assert message in error and "Traceback" not in error


def test_retired_eid_points_to_the_eid_it_was_merged_into(sample_copy, capsys):
    store = sample_copy.parent / "store.duckdb"
    assert cli("-q", "run", "--config", sample_copy) == 0
    (key_a, eid_a), (key_b, eid_b) = query(store, """
SELECT p.record_key, cw.enterprise_id FROM crosswalk AS cw
JOIN person AS p USING (source_system, source_record_id)
WHERE cw.valid_to_run IS NULL AND cw.enterprise_id IN (SELECT enterprise_id FROM enterprise_id WHERE seq IN (1, 2))
QUALIFY row_number() OVER (PARTITION BY cw.enterprise_id ORDER BY p.record_key) = 1
ORDER BY cw.enterprise_id""")
    assert cli("link", "--config", sample_copy, key_a, key_b, "--reason", "same person") == 0
    assert cli("-q", "run", "--config", sample_copy) == 0
    (retired, survivor), = query(store, "SELECT enterprise_id, merged_into FROM enterprise_id "
                                        "WHERE merged_into IS NOT NULL")
    assert {retired, survivor} == {eid_a, eid_b}

    capsys.readouterr()
    assert cli("explain", "--config", sample_copy, "--eid", retired, "--json") == 0
    explained = json.loads(capsys.readouterr().out)
    assert explained["enterprise_id"] == explained["merged_into"] == survivor
    assert explained["retired_run"] == 2
    assert {key_a, key_b} <= {member["record_key"] for member in explained["members"]}
    assert [(link["record_key_a"], link["record_key_b"])
            for link in explained["must_links"]] == [(key_a, key_b)]
    assert cli("explain", "--config", sample_copy, "--eid", retired) == 0
    assert f"{retired} was retired in run 2 and merged into {survivor}" in capsys.readouterr().out


def test_explain_has_help(capsys):
    assert cli("explain", "--help") == 0
    help_text = capsys.readouterr().out
    assert "Usage:" in help_text and "--html" in help_text and "offline" in help_text
