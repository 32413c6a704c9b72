"""Small populations block wider (a birth date alone, a street alone) while each rule's
pairs stay within budget; a delivery blocks with the rules the last full run used."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import cli
from linkage.link.wide_blocking import WIDE_PAIRS_PER_RECORD

MODEL = Path(__file__).resolve().parent.parent / "models" / "default.json"


def _config(tmp_path: Path, rows: list[tuple[str, str, str, str, str]]) -> Path:
    (tmp_path / "people.csv").write_text(
        "id,first,last,dob,street\n" + "".join(",".join(row) + "\n" for row in rows),
        encoding="utf-8")
    config = tmp_path / "run.yaml"
    config.write_text(f"store: s.duckdb\nmodel: {MODEL}\nsources:\n"
                      "  - {name: wic, kind: person, path: people.csv, key: [id], columns: "
                      "{first: first_name, last: last_name, dob: dob, street: street}}\n",
                      encoding="utf-8")
    return config


def _summary(capsys, *args) -> dict:
    capsys.readouterr()
    assert cli("-q", "run", *args, "--json") == 0
    return json.loads(capsys.readouterr().out)["link"]


def test_both_names_replaced_at_one_birth_date_are_compared_in_a_small_population(
        tmp_path, capsys):
    # Two records of one person whose given and family names were both written otherwise:
    # no model rule blocks them, the birth-date rule does.
    rows = [(str(i), f"ANA{chr(65 + i)}", f"LOPEZ{chr(65 + i)}", f"19{50 + i}-03-04",
             f"{i} OAK ST") for i in range(10)]
    rows.append(("10", "ZANE", "WILKINS", "1950-03-04", "9 ELM ST"))
    link = _summary(capsys, "--config", _config(tmp_path, rows))
    assert link["wide_rules"] == ["l.dob = r.dob", "l.street = r.street"]
    assert link["pairs_by_rule"]["l.dob = r.dob"] == 1


def test_a_rule_whose_blocks_outgrow_the_budget_is_left_out(tmp_path, capsys):
    # Everyone born on one day: the birth-date rule alone would compare every pair.
    people = 20
    assert people * (people - 1) / 2 > WIDE_PAIRS_PER_RECORD * people
    rows = [(str(i), f"ANA{chr(65 + i)}", f"LOPEZ{chr(65 + i)}", "1980-03-04", f"{i} OAK ST")
            for i in range(people)]
    config = _config(tmp_path, rows)
    link = _summary(capsys, "--config", config)
    assert link["wide_rules"] == ["l.street = r.street"]
    assert "l.dob = r.dob" not in link["pairs_by_rule"]
    # A delivery keeps the full run's rules, whatever its own records would afford.
    delivery = tmp_path / "delivery.csv"
    delivery.write_text("id,first,last,dob,street\n90,MIN,KIM,1975-01-02,1 OAK ST\n",
                        encoding="utf-8")
    link = _summary(capsys, "--config", config, "--delivery", f"wic={delivery}")
    assert link["wide_rules"] == ["l.street = r.street"]
