"""Names over distinct values: each raw spelling is cleaned once, then joined back.

`name_value(raw, name, suffix)`: a raw first, middle or last name cleaned (DESIGN §5):
upper case ASCII, punctuation dropped, a courtesy title and a trailing suffix split off,
digits dropped, placeholders null; a name in another script keeps its letters.
`phonetic(name, metaphone)`: the one per-value Python function (jellyfish's metaphone of
the name in Latin letters, no set-based form), once per distinct clean name.
Dates of birth are read the same way, in dates.py.
"""

from __future__ import annotations

import jellyfish
import pyarrow as pa
from anyascii import anyascii

from linkage.standardize.nickname_tables import load_nicknames
from linkage.standardize.rules import MACROS, NAME_SUFFIXES
from linkage.store import Step, Store

STAGE = "standardize"


def install_name_rules(store: Store) -> None:
    """The macros and the name lookups (nicknames, suffixes): all a person search's query
    needs to be standardized (it gives no address)."""
    store.run_steps(STAGE, [
        Step(f"macro_{name}", f"CREATE OR REPLACE TEMP MACRO {name}{body}")
        for name, body in MACROS.items()
    ])
    install_name_suffixes(store)
    load_nicknames(store)


def install_name_suffixes(store: Store) -> None:
    """Table `name_suffix(form, suffix)`: the forms a name suffix is written in."""
    store.run_step(STAGE, Step("name_suffix", """
CREATE OR REPLACE TEMP TABLE name_suffix AS
SELECT unnest($forms::VARCHAR[]) AS form, unnest($suffixes::VARCHAR[]) AS suffix""",
                               {"forms": list(NAME_SUFFIXES),
                                "suffixes": list(NAME_SUFFIXES.values())}))


def name_value_sql(raw_names_sql: str, ascii_only: bool = False) -> str:
    """The query of `name_value(raw, name, parts, trailing_suffix, as_suffix)` over the
    distinct raw names `raw_names_sql` (a SELECT of one column) yields; reads `name_suffix`.
    `ascii_only`: the caller knows every raw name is ASCII, so none holds a letter of
    another script and the rules for those (whose Unicode classes take ~17 ms to compile,
    most of a search query's standardization) are left out; the names come out the same."""
    text = "std_text(joined)" if ascii_only else "joined_name_text(joined)"
    return f"""
WITH raw_names AS ({raw_names_sql}),
-- One macro per step: a macro nested in another is expanded once per use of its argument,
-- and binding the nested expression cost ~20 ms a statement (one search query's time).
joined AS (SELECT raw, name_joined(raw) AS joined FROM raw_names WHERE raw IS NOT NULL),
texts AS (SELECT raw, {text} AS text FROM joined),
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
LEFT JOIN name_suffix AS whole ON whole.form = s.text"""


def build_name_values(store: Store, raw_names_sql: str) -> None:
    """Clean every distinct raw name that `raw_names_sql` (a SELECT of one column) yields."""
    install_name_suffixes(store)
    store.run_step(STAGE, Step("name_value", "CREATE OR REPLACE TEMP TABLE name_value AS"
                                             + name_value_sql(raw_names_sql)))


def metaphone(name: str | None) -> str | None:
    """A clean name's phonetic key (jellyfish's metaphone), as `phonetic` holds it. A name
    in another script is written in Latin letters first (anyascii: ИВАН -> IVAN, محمد ->
    MHMD), so it sounds like its Latin spelling and the two meet.

    >>> metaphone("ИВАН") == metaphone("IVAN"), metaphone("محمد") == metaphone("MOHAMMED")
    (True, True)
    """
    if name is None:
        return None
    return jellyfish.metaphone(name if name.isascii() else anyascii(name).upper()) or None


def add_phonetic_keys(store: Store, names_sql: str) -> None:
    """Build table `phonetic(name, metaphone)` over the distinct values `names_sql` yields."""
    distinct = [row[0] for row in store.run_step(STAGE, Step("distinct_names", names_sql))]
    keys = pa.table({
        "name": pa.array(distinct, pa.string()),
        "metaphone": pa.array([metaphone(name) for name in distinct], pa.string()),
    })
    with store.registered("phonetic_values", keys):
        store.run_step(STAGE, Step(
            "phonetic", "CREATE OR REPLACE TEMP TABLE phonetic AS SELECT * FROM phonetic_values"))
