"""The nickname lookups: every name's canonical form and its forms (DESIGN §5).

Sources: English nicknames from the `nicknames` package (names.csv, `has_nickname` rows);
Spanish and California nicknames from data/nicknames_es.csv, each row naming its source.
"""

from __future__ import annotations

from importlib.resources import as_file, files

import nicknames

from linkage.store import Step, Store

STAGE = "standardize"
_DATA = files("linkage.standardize") / "data"


def load_nicknames(store: Store) -> None:
    with nicknames.with_names_csv_path() as english, as_file(_DATA / "nicknames_es.csv") as spanish:
        store.run_step(STAGE, Step("nickname_pairs", """
CREATE OR REPLACE TEMP TABLE nickname_pair AS
SELECT formal, nickname, bool_or(hypocoristic) AS hypocoristic FROM (
    SELECT name_text(name1) AS formal, name_text(name2) AS nickname, false AS hypocoristic
    FROM read_csv($english, header = true, all_varchar = true)
    WHERE relationship = 'has_nickname'
    UNION ALL
    SELECT name_text(name), name_text(nickname), kind = 'hypocoristic'
    FROM read_csv($spanish, header = true, all_varchar = true)
) GROUP BY ALL""",
            {"english": str(english), "spanish": str(spanish)}))
    # One canonical form per name, so nickname variants compare equal. A name maps to a
    # name it is a nickname of only when that name has more nicknames than it (is more
    # formal); among those, a Spanish hypocoristic's own name wins (NANDO -> FERNANDO, not
    # FERDINANDO), then the one sharing most related names (BILL -> WILLIAM, not ROBERT),
    # then the most formal, then the longest.
    store.run_step(STAGE, Step("nickname_canonical", """
CREATE OR REPLACE TEMP TABLE nickname_canonical AS
WITH edge AS (
    SELECT formal AS name, nickname AS related FROM nickname_pair
    UNION SELECT nickname, formal FROM nickname_pair
), formality AS (
    SELECT name, count(*) FILTER (is_formal) AS nicknames
    FROM (SELECT formal AS name, true AS is_formal FROM nickname_pair
          UNION ALL SELECT nickname, false FROM nickname_pair)
    GROUP BY name
), shared AS (
    SELECT a.name, b.name AS candidate, count(*) AS shared
    FROM edge AS a JOIN edge AS b ON a.related = b.related
    GROUP BY ALL
), candidate AS (
    SELECT p.nickname AS name, p.formal AS candidate, coalesce(s.shared, 0) AS shared,
        p.hypocoristic
    FROM nickname_pair AS p
    JOIN formality AS own ON own.name = p.nickname
    JOIN formality AS other ON other.name = p.formal
    LEFT JOIN shared AS s ON s.name = p.nickname AND s.candidate = p.formal
    WHERE other.nicknames > own.nicknames
)
SELECT c.name, arg_min(c.candidate, (NOT c.hypocoristic, -c.shared, -f.nicknames,
    -length(c.candidate), c.candidate)) AS canonical
FROM candidate AS c JOIN formality AS f ON f.name = c.candidate
GROUP BY c.name"""))
    # Nicknames are many to many (TONY is ANTHONY's, ANTONIO's and ANTOINETTE's), which
    # one canonical form cannot hold: a name's forms are itself and every name it is a
    # nickname of. Two given names are nicknames of one name when their forms meet.
    store.run_step(STAGE, Step("nickname_forms", """
CREATE OR REPLACE TEMP TABLE nickname_forms AS
SELECT nickname AS name, list_sort(list_distinct(list_concat(list(formal), [nickname]))) AS forms
FROM nickname_pair GROUP BY nickname"""))
