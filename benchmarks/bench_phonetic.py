"""Phonetic keys for names: jellyfish metaphone against double metaphone (`phonetics`).

    .venv/bin/pip install phonetics      # measurement only; not a project dependency
    .venv/bin/python benchmarks/bench_phonetic.py [--pairs 2000000] [--seed 0]
        [--json benchmarks/phonetic.json] [--md benchmarks/phonetic.md]

Reads the standardized `person` table of existing stores (read-only) and each population's
truth, recomputes three keys over the DISTINCT first and last names and measures, per field
and per surname-origin group:

  keys     jellyfish `metaphone` (what linkage uses today; checked against the stored
           first_name_phonetic / last_name_phonetic), `phonetics.dmetaphone` primary code,
           and dmetaphone "either" (agree when any of the primary/secondary codes agree).
           Control: `metaphone_join`, jellyfish metaphone of the name with spaces and
           hyphens removed; dmetaphone drops spaces (VASQUEZ MORENO = VASQUEZMORENO) while
           jellyfish keeps them, and the control separates that from the algorithm.
  recall   among TRUE pairs (every pair of records of one person) whose standardized names
           are both present and differ, the share whose keys agree. `recall_level` restricts
           to the pairs that reach the phonetic level of the model's comparison, i.e. that
           miss every earlier level (exact, nickname [first], reversed, surname part [last],
           Jaro-Winkler >= 0.92): the pairs the phonetic level can still credit.
  fa       false agreement: among seeded random NON-matching record pairs whose names
           differ, the share whose keys agree (u of the phonetic level, which also drives
           block sizes); `fa_level` likewise restricted to pairs past the earlier levels.
           For a group, `fa` pairs a record of the group with any record; `fa_within`
           pairs two records of the group (how the key separates names of one origin).
  ratio    recall / fa, a Bayes-factor proxy: the share of pairs with differing names is
           the same whatever the key, so the ratios compare across keys.
  blocks   over the records of the group (all records for `all`): distinct keys, the
           largest key block, and the pairs a block on the key alone would make
           (sum of c*(c-1)/2; for "either" a record is in the blocks of both its codes and
           pairs sharing both are counted once). `name` is the exact standardized name, for
           reference.

Origin groups come from the surname, by a simple heuristic (lists below): `asian` when
every token of the last name is a common East/Southeast Asian surname, `hispanic` when any
token is a common Spanish surname, `other` otherwise; a person takes the majority group of
their records' surnames (a typo'd GARCA does not move a GARCIA out of `hispanic`), and true
pairs take their person's group. The lists overlap the synthetic generator's own lists, so
on the synthetic populations the groups are close to exact; on the independent (pseudopeople)
population they are a heuristic.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from importlib import metadata
from collections import Counter
from pathlib import Path

import duckdb
import jellyfish
import numpy as np
import pandas as pd

try:
    import phonetics
except ImportError:  # pragma: no cover - a measurement tool, not a dependency
    sys.exit("bench_phonetic needs the `phonetics` package: .venv/bin/pip install phonetics")

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from linkage.synth.names import SURNAMES  # noqa: E402

POPULATIONS = (
    ("independent", "/tmp/eval_ind_future.duckdb", "build/independent/truth.csv"),
    ("drift_20k", "/tmp/eval_drift_20k_newform.duckdb", "build/drift_20k/truth.csv"),
    ("default_100k", "/tmp/eval_default_100k_newform.duckdb", "build/default_100k/truth.csv"),
)

# Common US Hispanic surnames (Census 2010 surname list, high Hispanic share), added to the
# generator's list so the heuristic also works on a population it did not draw.
_HISPANIC_EXTRA = """
GARCIA RODRIGUEZ MARTINEZ HERNANDEZ LOPEZ GONZALEZ GONZALES PEREZ SANCHEZ RAMIREZ TORRES
FLORES RIVERA GOMEZ DIAZ REYES MORALES CRUZ ORTIZ GUTIERREZ CHAVEZ RAMOS RUIZ ALVAREZ
MENDOZA VASQUEZ VAZQUEZ CASTILLO JIMENEZ MORENO ROMERO HERRERA MEDINA AGUILAR GARZA CASTRO
VARGAS FERNANDEZ GUZMAN MUNOZ MENDEZ SALAZAR SOTO DELGADO PENA RIOS ALVARADO SANDOVAL
CONTRERAS VALDEZ GUERRERO ORTEGA ESTRADA NUNEZ MALDONADO VEGA SANTIAGO DOMINGUEZ ESPINOZA
SILVA PADILLA MARQUEZ CORTEZ CORTES ROJAS ACOSTA FIGUEROA LUNA JUAREZ NAVARRO CAMPOS MOLINA
AVILA AYALA MEJIA CARRILLO DURAN TRUJILLO LARA IBARRA CERVANTES SERRANO CARDENAS MIRANDA
ROSALES SOLIS PACHECO VELASQUEZ VELAZQUEZ OROZCO ESPINOSA HUERTA BARRERA FUENTES
VILLARREAL CABRERA ZAMORA ZUNIGA GALLEGOS ARELLANO QUINTERO BELTRAN PONCE VILLA BAUTISTA
SANTOS SOSA OCHOA CAMACHO ROBLES TAPIA ARIAS PALACIOS MORA MONTOYA VALENCIA ESCOBAR MACIAS
RANGEL SALINAS AGUIRRE PINEDA VILLANUEVA BENITEZ LOZANO ARROYO MEZA VELEZ SUAREZ CHAVARRIA
VALENZUELA ESPARZA CORONA LUGO TREVINO GALVAN MONTES BARAJAS CABALLERO VILLALOBOS LEYVA
VALLEJO VALLEJOS RICO CISNEROS QUINTANA HURTADO ZAVALA MUNIZ ARANDA RENTERIA VILLEGAS
PEREA ALFARO OLIVAS BARRAZA ESQUIVEL MARTINES RODRIGUES HERNANDES MENDES DOMINGUES
"""

# Common East/Southeast Asian surnames as written in the US (romanized), added to the
# generator's Vietnamese/Chinese/Korean lists and linkage's family_name_first lookup.
_ASIAN_EXTRA = """
NGUYEN TRAN LE PHAM HUYNH HOANG VO VU DANG BUI DO NGO DUONG LY TRUONG DINH LAM PHAN LUONG
DAO MAI TRINH HA TA QUACH LUU TONG
KIM LEE PARK CHOI JUNG JEONG KANG CHO JO YOON YUN JANG LIM HAN SHIN OH SEO KWON HWANG AHN
SONG YOO HONG JEON KO MOON SON BAE BAEK HEO NAM YI RHEE CHUNG
WANG LI ZHANG CHEN LIU HUANG LIN WU YANG ZHAO ZHOU XU SUN MA ZHU HU GUO HE LUO LIANG
GAO ZHENG XIE TANG FENG DENG CAO PENG ZENG XIAO TIAN DONG PAN YUAN CAI JIANG YU DU YE
WEI SU LU DING REN SHEN YAO CUI ZHONG TAN WONG CHAN CHANG CHENG LAU LEUNG CHEUNG HO TSAI
CHOW CHIU TSANG KWAN NG FONG CHU TAM YIP TSE LAI MAK YEE LOW TEO GOH KOH ONG CHUA HSU
KUO HSIEH LO LAW KWOK WOO CHIANG CHIN CHEW
VANG XIONG THAO MOUA HER LOR CHANTHAVONG SOK CHHIM
SATO SUZUKI TAKAHASHI TANAKA WATANABE ITO YAMAMOTO NAKAMURA KOBAYASHI KATO YOSHIDA YAMADA
SASAKI YAMAGUCHI MATSUMOTO INOUE KIMURA HAYASHI SHIMIZU YAMASAKI YAMAZAKI MORI IKEDA
HASHIMOTO NAKANO OKADA FUJITA OGAWA GOTO
"""

GROUPS = ("all", "hispanic", "asian", "other")
KEYS = ("metaphone", "metaphone_join", "dm_primary", "dm_either")
FIELDS = ("first", "last")


def _surname_sets() -> tuple[set[str], set[str]]:
    hispanic = set(SURNAMES["hispanic"].values) | set(_HISPANIC_EXTRA.split())
    asian = set(_ASIAN_EXTRA.split())
    for group in ("vietnamese", "chinese", "korean"):
        asian |= set(SURNAMES[group].values)
    lookup = ROOT / "linkage" / "standardize" / "data" / "family_name_first.csv"
    with lookup.open() as handle:
        asian |= {row["surname"] for row in csv.DictReader(handle)}
    hispanic = {t for name in hispanic for t in name.split()} - {"DE", "LA", "DEL", "LOS"}
    return hispanic, asian


def _origin(last_name: str | None, hispanic: set[str], asian: set[str]) -> str | None:
    if not isinstance(last_name, str) or not last_name:
        return None
    tokens = last_name.replace("-", " ").split()
    if tokens and all(t in asian for t in tokens):
        return "asian"
    if any(t in hispanic for t in tokens):
        return "hispanic"
    return "other"


def _keys(names: list[str]) -> dict[str, list[str | None]]:
    """The three keys of each distinct name; '' (no code) is None."""
    metaphone, joined, primary, secondary = [], [], [], []
    for name in names:
        metaphone.append(jellyfish.metaphone(name) or None)
        joined.append(jellyfish.metaphone(name.replace(" ", "").replace("-", "")) or None)
        try:
            p, s = phonetics.dmetaphone(name)
        except Exception:  # noqa: BLE001 - a name the package cannot code has no key
            p, s = "", ""
        primary.append(p or None)
        secondary.append(s if s and s != p else None)
    return {"metaphone": metaphone, "metaphone_join": joined, "dm_primary": primary,
            "dm_secondary": secondary}


def _load(store: str, truth: Path) -> pd.DataFrame:
    con = duckdb.connect(store, read_only=True)
    try:
        person = con.sql("""
SELECT record_key, first_name, last_name, first_name_canonical, surname_parts,
    first_name_phonetic, last_name_phonetic
FROM person WHERE NOT is_deleted""").arrow()
    finally:
        con.close()
    mem = duckdb.connect()
    mem.register("person_rows", person)
    frame = mem.sql(f"""
SELECT p.*, t.person_id
FROM person_rows AS p
JOIN read_csv('{truth}', all_varchar = true) AS t
    ON p.record_key = t.source_system || ':' || t.source_record_id
ORDER BY p.record_key""").df()
    mem.close()
    return frame


def _encode(frame: pd.DataFrame, field: str) -> dict[str, np.ndarray]:
    """Integer codes per record: the name and each key (-1 for none), in one code space for
    the dmetaphone primary and secondary so that a primary can meet a secondary."""
    column = frame[f"{field}_name"]
    name_codes, distinct = pd.factorize(column, use_na_sentinel=True)
    keys = _keys(list(distinct))
    metaphone_codes, _ = pd.factorize(pd.Series(keys["metaphone"], dtype=object))
    joined_codes, _ = pd.factorize(pd.Series(keys["metaphone_join"], dtype=object))
    dm_codes, _ = pd.factorize(pd.Series(keys["dm_primary"] + keys["dm_secondary"], dtype=object))
    primary, secondary = dm_codes[: len(distinct)], dm_codes[len(distinct):]

    def per_record(codes: np.ndarray) -> np.ndarray:
        out = np.full(len(name_codes), -1, dtype=np.int64)
        present = name_codes >= 0
        out[present] = codes[name_codes[present]]
        return out

    stored = frame[f"{field}_name_phonetic"]
    recomputed = pd.Series(keys["metaphone"], dtype=object)
    mismatch = int(((stored.fillna("") != recomputed.reindex(name_codes).fillna("").to_numpy())
                    & (name_codes >= 0)).sum())
    return {"names": np.asarray(distinct, dtype=object), "keys": keys,
            "name": name_codes.astype(np.int64), "metaphone": per_record(metaphone_codes),
            "metaphone_join": per_record(joined_codes),
            "dm_primary": per_record(primary), "dm_secondary": per_record(secondary),
            "distinct_names": len(distinct), "stored_metaphone_mismatch": mismatch}


def _agree(enc: dict[str, np.ndarray], key: str, left: np.ndarray, right: np.ndarray
           ) -> np.ndarray:
    if key == "dm_either":
        codes = (enc["dm_primary"], enc["dm_secondary"])
        out = np.zeros(len(left), dtype=bool)
        for a in codes:
            for b in codes:
                out |= (a[left] >= 0) & (a[left] == b[right])
        return out
    codes = enc[key]
    return (codes[left] >= 0) & (codes[left] == codes[right])


def _earlier_levels(con: duckdb.DuckDBPyConnection, field: str, left: np.ndarray,
                    right: np.ndarray) -> np.ndarray:
    """True where a pair (with differing names) lands in a level above the phonetic one."""
    con.register("pair_idx", pd.DataFrame({"k": np.arange(len(left)), "l": left, "r": right}))
    if field == "first":
        condition = """
    l.first_name_canonical = r.first_name_canonical OR l.first_name_canonical = r.first_name
    OR l.first_name = r.first_name_canonical
    OR (l.first_name = r.last_name AND l.last_name = r.first_name)
    OR jaro_winkler_similarity(l.first_name, r.first_name) >= 0.92"""
    else:
        condition = """
    (l.last_name = r.first_name AND l.first_name = r.last_name)
    OR len(list_intersect(l.surname_parts, r.surname_parts)) >= 1
    OR jaro_winkler_similarity(l.last_name, r.last_name) >= 0.92"""
    flags = con.sql(f"""
SELECT coalesce({condition}, false) AS earlier
FROM pair_idx AS p
JOIN rec AS l ON l.i = p.l
JOIN rec AS r ON r.i = p.r
ORDER BY p.k""").fetchnumpy()["earlier"]
    con.unregister("pair_idx")
    return np.asarray(flags, dtype=bool)


def _true_pairs(person: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    order = np.argsort(person, kind="stable")
    sorted_person = person[order]
    starts = np.flatnonzero(np.r_[True, sorted_person[1:] != sorted_person[:-1]])
    ends = np.r_[starts[1:], len(order)]
    left, right = [], []
    for size in np.unique(ends - starts):
        if size < 2:
            continue
        block_starts = starts[(ends - starts) == size]
        i, j = np.triu_indices(size, k=1)
        left.append(order[(block_starts[:, None] + i[None, :]).ravel()])
        right.append(order[(block_starts[:, None] + j[None, :]).ravel()])
    if not left:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    return np.concatenate(left), np.concatenate(right)


def _random_pairs(rng: np.random.Generator, left_pool: np.ndarray, right_pool: np.ndarray,
                  person: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    left = left_pool[rng.integers(len(left_pool), size=n)]
    right = right_pool[rng.integers(len(right_pool), size=n)]
    keep = (left != right) & (person[left] != person[right])
    return left[keep], right[keep]


def _rates(con: duckdb.DuckDBPyConnection, enc: dict, field: str, left: np.ndarray,
           right: np.ndarray) -> dict:
    names_l, names_r = enc["name"][left], enc["name"][right]
    differ = (names_l >= 0) & (names_r >= 0) & (names_l != names_r)
    left, right = left[differ], right[differ]
    level = ~_earlier_levels(con, field, left, right)
    out = {"pairs": int(differ.size), "pairs_differ": int(differ.sum()),
           "pairs_level": int(level.sum())}
    for key in KEYS:
        agree = _agree(enc, key, left, right)
        out[key] = {"agree": int(agree.sum()), "agree_level": int((agree & level).sum()),
                    "rate": float(agree.mean()) if agree.size else None,
                    "rate_level": float(agree[level].mean()) if level.any() else None}
    return out


def _block_stats(enc: dict, rows: np.ndarray) -> dict:
    def single(codes: np.ndarray) -> dict:
        values = codes[rows]
        counts = np.bincount(values[values >= 0]) if (values >= 0).any() else np.zeros(0)
        counts = counts[counts > 0]
        return {"distinct": int(counts.size), "largest": int(counts.max(initial=0)),
                "pairs": int((counts * (counts - 1) // 2).sum())}

    out = {"name": single(enc["name"]), "metaphone": single(enc["metaphone"]),
           "metaphone_join": single(enc["metaphone_join"]),
           "dm_primary": single(enc["dm_primary"])}
    primary, secondary = enc["dm_primary"][rows], enc["dm_secondary"][rows]
    both = np.concatenate([primary, secondary])
    both = both[both >= 0]
    counts = np.bincount(both) if both.size else np.zeros(0, np.int64)
    counts = counts[counts > 0]
    pairs = int((counts * (counts - 1) // 2).sum())
    two = (primary >= 0) & (secondary >= 0)
    if two.any():  # pairs sharing both codes were counted twice
        lo = np.minimum(primary[two], secondary[two])
        hi = np.maximum(primary[two], secondary[two])
        _, sets = np.unique(lo * (int(hi.max()) + 1) + hi, return_counts=True)
        pairs -= int((sets * (sets - 1) // 2).sum())
    out["dm_either"] = {"distinct": int(counts.size), "largest": int(counts.max(initial=0)),
                        "pairs": pairs}
    return out


def _disagreements(enc: dict, left: np.ndarray, right: np.ndarray, top: int) -> dict:
    """Among pairs with differing names: the commonest name pairs on which metaphone and
    dmetaphone primary disagree, with their share of all such pairs."""
    names = enc["names"]
    nl, nr = enc["name"][left], enc["name"][right]
    differ = (nl >= 0) & (nr >= 0) & (nl != nr)
    l, r = left[differ], right[differ]
    meta, prim = _agree(enc, "metaphone", l, r), _agree(enc, "dm_primary", l, r)
    out = {}
    for label, mask in (("metaphone_only", meta & ~prim), ("dm_primary_only", prim & ~meta)):
        a, b = names[enc["name"][l[mask]]], names[enc["name"][r[mask]]]
        pairs = Counter(tuple(sorted(pair)) for pair in zip(a, b))
        out[label] = {"pairs": int(mask.sum()), "top": [
            {"names": list(pair), "pairs": n,
             "metaphone": [jellyfish.metaphone(x) for x in pair],
             "dmetaphone": [list(phonetics.dmetaphone(x)) for x in pair]}
            for pair, n in pairs.most_common(top)]}
    return out


def _examples(enc: dict, true_pairs: tuple[np.ndarray, np.ndarray],
              random_pairs: tuple[np.ndarray, np.ndarray], top: int = 8) -> dict:
    """Common names only: the biggest key blocks with their commonest names, and the name
    pairs (true and random non-matching) on which the two keys disagree."""
    names = enc["names"]
    out: dict = {"largest_blocks": {}}
    present = enc["name"] >= 0
    for key in ("metaphone", "dm_primary"):
        code = pd.Series(enc["keys"][key], dtype=object)
        per_name = pd.DataFrame({"name": names[enc["name"][present]],
                                 "key": code.to_numpy()[enc["name"][present]]})
        counts = per_name.groupby(["key", "name"]).size().rename("n").reset_index()
        totals = counts.groupby("key")["n"].sum().sort_values(ascending=False).head(5)
        out["largest_blocks"][key] = [
            {"key": k, "records": int(total),
             "names": {r.name: int(r.n) for r in counts[counts.key == k]
                       .sort_values("n", ascending=False).head(4).itertuples()}}
            for k, total in totals.items()]
    out["true_pairs"] = _disagreements(enc, *true_pairs, top)
    out["random_pairs"] = _disagreements(enc, *random_pairs, top)
    return out


def _population(name: str, store: str, truth: Path, n_pairs: int, seed: int) -> dict:
    started = time.time()
    frame = _load(store, truth)
    hispanic, asian = _surname_sets()
    origin = np.array([_origin(v, hispanic, asian) for v in frame["last_name"]], dtype=object)
    person, _ = pd.factorize(frame["person_id"])
    # A person's group: the majority of their records' surname groups, a named group
    # winning a tie with `other` (a typo'd surname falls to `other`).
    votes: dict[int, Counter] = {}
    for p, o in zip(person, origin):
        if o is not None:
            votes.setdefault(p, Counter())[o] += 1

    def person_group(counter: Counter | None) -> str:
        if not counter:
            return "other"
        total = sum(counter.values())
        named = [(c, g) for g, c in counter.items() if g != "other"]
        if named and 2 * max(named)[0] >= total:
            return max(named)[1]
        return counter.most_common(1)[0][0]

    groups_of_person = {p: person_group(c) for p, c in votes.items()}
    group = np.array([groups_of_person.get(p, "other") for p in person], dtype=object)

    con = duckdb.connect()
    rec = frame[["first_name", "last_name", "first_name_canonical", "surname_parts"]].copy()
    rec.insert(0, "i", np.arange(len(frame)))
    con.register("rec_df", rec)
    con.sql("CREATE TABLE rec AS SELECT * FROM rec_df")
    con.unregister("rec_df")

    rng = np.random.default_rng(seed)
    everyone = np.arange(len(frame))
    true_l, true_r = _true_pairs(person)
    samples: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for g in GROUPS:
        pool = everyone if g == "all" else everyone[group == g]
        if g == "all":
            tl, tr = true_l, true_r
        else:
            mask = group[true_l] == g
            tl, tr = true_l[mask], true_r[mask]
        samples[f"true:{g}"] = (tl, tr)
        samples[f"random:{g}"] = _random_pairs(rng, pool, everyone, person, n_pairs)
        if g != "all":
            samples[f"within:{g}"] = _random_pairs(rng, pool, pool, person, n_pairs)

    result = {"store": store, "truth": str(truth), "records": len(frame),
              "people": int(person.max()) + 1, "true_pairs": int(true_l.size),
              "records_per_group": {g: int((group == g).sum()) for g in GROUPS[1:]},
              "fields": {}}
    for field in FIELDS:
        enc = _encode(frame, field)
        per_group = {}
        for g in GROUPS:
            rows = everyone if g == "all" else everyone[group == g]
            entry = {"blocks": _block_stats(enc, rows),
                     "true": _rates(con, enc, field, *samples[f"true:{g}"]),
                     "random": _rates(con, enc, field, *samples[f"random:{g}"])}
            if g != "all":
                entry["within"] = _rates(con, enc, field, *samples[f"within:{g}"])
            per_group[g] = entry
        result["fields"][field] = {"distinct_names": enc["distinct_names"],
                                   "stored_metaphone_mismatch": enc["stored_metaphone_mismatch"],
                                   "groups": per_group,
                                   "examples": _examples(enc, (true_l, true_r),
                                                          samples["random:all"])}
    con.close()
    result["seconds"] = round(time.time() - started, 1)
    return result


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


def _pct2(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.2f}%"


def _ratio(recall: float | None, fa: float | None) -> str:
    if recall is None or not fa:
        return "-"
    return f"{recall / fa:.0f}"


def _markdown(report: dict, command: str) -> str:
    lines = ["# Phonetic keys: jellyfish metaphone vs double metaphone", "",
             f"    {command}", "",
             f"Versions: {report['versions']}; {report['pairs']} random pairs per sample, "
             f"seed {report['seed']}.", "",
             "Keys: `metaphone` = jellyfish.metaphone (current); `metaphone_join` = the same on "
             "the name with spaces/hyphens removed (control: dmetaphone drops spaces, jellyfish "
             "keeps them); `dm_primary` = phonetics.dmetaphone primary code; `dm_either` = "
             "agree when any primary/secondary code agrees. Rates are among pairs whose "
             "standardized names are both present and differ. `recall` = share of true pairs "
             "whose keys agree (agreeing pairs in brackets); `recall@lvl` = the same "
             "among true pairs that miss every earlier comparison level (exact, nickname, "
             "reversed, surname part, JW >= 0.92), i.e. what the phonetic level can still "
             "credit. `fa` = false agreement on random non-matching pairs (group record vs any "
             "record), `fa@lvl` the same past the earlier levels, `fa in-grp` = both records "
             "of the group. `R/fa` = recall / fa (Bayes-factor proxy, comparable across keys). "
             "Blocks over the group's records: distinct keys, largest key block, pairs a "
             "key-only block makes (sum c(c-1)/2). Groups from surnames (heuristic lists; see "
             "the script). Row `name` = exact standardized name, for reference.", ""]
    for pop, data in report["populations"].items():
        if "skipped" in data:
            lines += [f"## {pop}: skipped ({data['skipped']})", ""]
            continue
        lines += [f"## {pop}", "",
                  f"{data['records']} records, {data['people']} people, {data['true_pairs']} true "
                  f"pairs; records per group: {data['records_per_group']}; "
                  f"{data['seconds']} s.", ""]
        for field in FIELDS:
            fd = data["fields"][field]
            lines += [f"### {pop}: {field} name ({fd['distinct_names']} distinct names; "
                      f"stored metaphone differs from recomputed on "
                      f"{fd['stored_metaphone_mismatch']} records)", "",
                      "| group | key | true pairs differ / @lvl | recall | recall@lvl | fa "
                      "| fa@lvl | fa in-grp | R/fa | R@lvl/fa@lvl | distinct keys | largest block "
                      "| key-block pairs |",
                      "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
            for g in GROUPS:
                entry = fd["groups"][g]
                t, r = entry["true"], entry["random"]
                w = entry.get("within")
                b = entry["blocks"]["name"]
                lines.append(f"| {g} | name | {t['pairs_differ']} / {t['pairs_level']} | - | - "
                             f"| - | - | - | - | - | {b['distinct']} | {b['largest']} "
                             f"| {b['pairs']} |")
                for key in KEYS:
                    b = entry["blocks"][key]
                    fa_in = _pct2(w[key]["rate"]) if w else "-"
                    lines.append(
                        f"| {g} | {key} | | {_pct(t[key]['rate'])} ({t[key]['agree']}) "
                        f"| {_pct(t[key]['rate_level'])} ({t[key]['agree_level']}) "
                        f"| {_pct2(r[key]['rate'])} | {_pct2(r[key]['rate_level'])} | {fa_in} "
                        f"| {_ratio(t[key]['rate'], r[key]['rate'])} "
                        f"| {_ratio(t[key]['rate_level'], r[key]['rate_level'])} "
                        f"| {b['distinct']} | {b['largest']} | {b['pairs']} |")
            lines.append("")
            ex = fd["examples"]
            drawn = f"random non-matching pairs (of {report['pairs']} drawn)"
            for sample, label in (("random_pairs", drawn), ("true_pairs", "true pairs")):
                for side, who in (("dm_primary_only", "only dm_primary agrees"),
                                  ("metaphone_only", "only metaphone agrees")):
                    part = ex[sample][side]
                    top = ", ".join(f"{a}={b} {n['pairs']}" for n in part["top"][:6]
                                    for a, b in [n["names"]])
                    lines.append(f"- {label}, {who}: {part['pairs']} pairs; "
                                 f"commonest: {top or '-'}")
            blocks = ex["largest_blocks"]
            for key in ("metaphone", "dm_primary"):
                top = "; ".join(f"{b['key']} {b['records']} ("
                                + ", ".join(f"{n} {c}" for n, c in b["names"].items()) + ")"
                                for b in blocks[key][:3])
                lines.append(f"- largest {key} blocks: {top}")
            lines.append("")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pairs", type=int, default=2_000_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, default=ROOT / "benchmarks" / "phonetic.json")
    parser.add_argument("--md", type=Path, default=ROOT / "benchmarks" / "phonetic.md")
    parser.add_argument("--only", nargs="*", help="population names to run")
    args = parser.parse_args()
    command = ".venv/bin/python benchmarks/bench_phonetic.py " + " ".join(sys.argv[1:])
    report = {"command": command.strip(), "pairs": args.pairs, "seed": args.seed,
              "versions": {name: metadata.version(name) for name in ("phonetics", "jellyfish")},
              "populations": {}}
    for name, store, truth in POPULATIONS:
        if args.only and name not in args.only:
            continue
        truth_path = ROOT / truth
        if not Path(store).exists():
            report["populations"][name] = {"skipped": f"store {store} missing"}
        elif not truth_path.exists():
            report["populations"][name] = {"skipped": f"truth {truth} missing"}
        else:
            try:
                report["populations"][name] = _population(name, store, truth_path, args.pairs,
                                                          args.seed)
            except duckdb.IOException as error:  # locked by a writer
                report["populations"][name] = {"skipped": f"store {store}: {error}"}
        print(name, json.dumps({k: v for k, v in report["populations"][name].items()
                                if k != "fields"}), flush=True)
    args.json.write_text(json.dumps(report, indent=1) + "\n")
    args.md.write_text(_markdown(report, report["command"]))


if __name__ == "__main__":
    main()
