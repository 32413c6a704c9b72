"""Names over distinct values: each raw spelling is cleaned once, then joined back.

`name_value(raw, name, suffix)`: a raw first, middle or last name cleaned (DESIGN §5):
upper case ASCII, punctuation dropped, a courtesy title and a trailing suffix split off,
digits dropped, placeholders null. `phonetic(name, metaphone)`: the one per-value Python
function (jellyfish's metaphone, no set-based form), once per distinct clean name.
Dates of birth are read the same way, in dates.py.
"""

from __future__ import annotations

import jellyfish
import pyarrow as pa

from linkage.standardize.rules import NAME_SUFFIXES
from linkage.store import Step, Store

STAGE = "standardize"


def build_name_values(store: Store, raw_names_sql: str) -> None:
    """Clean every distinct raw name that `raw_names_sql` (a SELECT of one column) yields."""
    suffixes = pa.table({"form": pa.array(list(NAME_SUFFIXES), pa.string()),
                         "suffix": pa.array(list(NAME_SUFFIXES.values()), pa.string())})
    with store.registered("name_suffix_values", suffixes):
        store.run_step(STAGE, Step("name_suffix", """
CREATE OR REPLACE TEMP TABLE name_suffix AS SELECT * FROM name_suffix_values"""))
    store.run_step(STAGE, Step("name_value", f"""
CREATE OR REPLACE TEMP TABLE name_value AS
WITH raw_names AS ({raw_names_sql}), texts AS (
    SELECT raw, name_text(raw) AS text FROM raw_names WHERE raw IS NOT NULL
),
-- One macro per step: a macro nested in another is expanded once per use of its argument,
-- and binding the nested expression cost ~20 ms a statement (one search query's time).
untitled AS (SELECT raw, text, without_title(text) AS untitled FROM texts WHERE text IS NOT NULL),
unsuffixed AS (SELECT raw, text, without_suffix(untitled) AS unsuffixed FROM untitled),
split AS (
    SELECT raw, text,
        CASE WHEN is_name_placeholder(text) THEN NULL ELSE name_letters(unsuffixed) END AS name,
        trailing_suffix(text) AS suffix_form
    FROM unsuffixed
)
SELECT s.raw, c.name, surname_parts(c.name) AS parts,
    sf.suffix AS trailing_suffix, whole.suffix AS as_suffix
FROM split AS s
CROSS JOIN LATERAL (
    SELECT CASE WHEN is_name_placeholder(s.name) THEN NULL ELSE s.name END AS name) AS c
LEFT JOIN name_suffix AS sf ON sf.form = s.suffix_form
LEFT JOIN name_suffix AS whole ON whole.form = s.text"""))


def add_phonetic_keys(store: Store, names_sql: str) -> None:
    """Build table `phonetic(name, metaphone)` over the distinct values `names_sql` yields."""
    distinct = [row[0] for row in store.run_step(STAGE, Step("distinct_names", names_sql))]
    keys = pa.table({
        "name": pa.array(distinct, pa.string()),
        "metaphone": pa.array([jellyfish.metaphone(name) or None for name in distinct], pa.string()),
    })
    with store.registered("phonetic_values", keys):
        store.run_step(STAGE, Step(
            "phonetic", "CREATE OR REPLACE TEMP TABLE phonetic AS SELECT * FROM phonetic_values"))
