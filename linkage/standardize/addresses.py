"""Address lines over distinct values: USPS Publication 28 forms and the address kind.

Every distinct (street line, unit line) is split into words once; the words are joined to
the Pub 28 tables (suffixes C1, unit designators C2, directionals), to the Spanish street
prefixes and to the address keywords, and put back together by position:

    123 North Main Street Apt. 4B  ->  street 123 N MAIN ST, unit 4B
    456 Calle Real #12             ->  street 456 CALLE REAL, unit 12 (Spanish prefix kept)
    P.O. Box 77                    ->  street PO BOX 77, kind mailing
    GENERAL DELIVERY               ->  no street, kind general_delivery

Only the suffix (the last word, or the one before a trailing directional) is abbreviated,
as Pub 28 does: 123 LAKE AVE keeps LAKE. Known shelters and county offices are matched on
the normalized street and the ZIP (or the city when there is no ZIP).
"""

from __future__ import annotations

from linkage.standardize.lookups import unit_designators
from linkage.store import Step, Store

STAGE = "standardize"

# Kinds a keyword can give, strongest first: one line naming two takes the first.
KIND_PRIORITY = ("general_delivery", "homeless", "none", "shelter", "agency_office", "mailing")
# Kinds whose street carries no address evidence: the street column stays null.
NO_STREET_KINDS = ("general_delivery", "homeless", "none")
_LONGEST_KEYWORD = 4

_INPUT = """
CREATE OR REPLACE TEMP TABLE address_input AS
WITH lines AS ({lines_sql}), cleaned AS (
    SELECT street_raw, unit_raw, city_raw, state_raw, zip_raw,
        -- '#' is a unit designator; NUM is its spelled form in the C2 lookup.
        regexp_replace(std_text(replace(street_raw, '#', ' NUM ')),
            '^(POST OFFICE BOX|P O BOX|P O B|PO BOX|POB|BOX) ', 'PO BOX ') AS street_text,
        std_text(replace(unit_raw, '#', ' NUM ')) AS unit_text
    FROM lines
)
SELECT row_number() OVER () AS address_id, street_raw, unit_raw, city_raw, state_raw, zip_raw,
    unit_text,
    coalesce(string_split(street_text, ' '), []) AS words,
    regexp_matches(coalesce(street_text, ''), '^[0-9]') AS has_number
FROM cleaned"""

_WORDS = """
CREATE OR REPLACE TEMP TABLE address_word AS
WITH word AS (
    SELECT address_id, unnest(words) AS word, generate_subscripts(words, 1) AS pos
    FROM address_input
)
SELECT w.address_id, w.pos, w.word, d.abbreviation AS directional, s.abbreviation AS suffix,
    u.abbreviation AS designator, p.word IS NOT NULL AS spanish_prefix
FROM word AS w
LEFT JOIN usps_directional AS d ON d.word = w.word
LEFT JOIN usps_suffix AS s ON s.word = w.word
LEFT JOIN usps_unit AS u ON u.word = w.word
LEFT JOIN spanish_street_prefix AS p ON p.word = w.word"""

# Positions, per line: b the first name word (after a house number); k the first unit
# designator after it; m the street's last word; sp the suffix's position.
_PARSED = """
CREATE OR REPLACE TEMP TABLE address_parsed AS
WITH gathered AS (
    SELECT address_id,
        list(word ORDER BY pos) AS w, list(directional ORDER BY pos) AS dir,
        list(suffix ORDER BY pos) AS suf, list(designator ORDER BY pos) AS des,
        list(spanish_prefix ORDER BY pos) AS spa
    FROM address_word GROUP BY address_id
), positioned AS (
    SELECT g.*, a.has_number, CASE WHEN a.has_number THEN 2 ELSE 1 END AS b,
        list_position(list_transform(g.des, lambda d, i: d IS NOT NULL
            AND i > CASE WHEN a.has_number THEN 2 ELSE 1 END), true) AS k
    FROM gathered AS g JOIN address_input AS a USING (address_id)
), unit_split AS (
    SELECT *,
        CASE WHEN k > 0 THEN k - 1
            -- 123 MAIN ST 4: a bare number after the suffix is a unit.
            WHEN array_length(w) >= b + 2 AND regexp_matches(w[-1], '[0-9]')
                AND suf[array_length(w) - 1] IS NOT NULL THEN array_length(w) - 1
            ELSE array_length(w) END AS m,
        CASE WHEN k > 0 THEN coalesce(nullif(array_to_string(w[k + 1:], ' '), ''), des[k])
            WHEN array_length(w) >= b + 2 AND regexp_matches(w[-1], '[0-9]')
                AND suf[array_length(w) - 1] IS NOT NULL THEN w[-1] END AS line_unit
    FROM positioned
), directed AS (
    SELECT *,
        -- A leading directional is one when a name follows it (123 N BROADWAY), not when
        -- it is the name (123 NORTH ST).
        dir[b] IS NOT NULL AND (m - b >= 2 OR (m - b = 1 AND suf[m] IS NULL)) AS predirectional,
        dir[m] IS NOT NULL AND m - b >= 2 AND suf[m - 1] IS NOT NULL AS postdirectional
    FROM unit_split
), suffixed AS (
    SELECT *,
        CASE WHEN postdirectional THEN m - 1 ELSE m END AS sp,
        CASE WHEN predirectional THEN b + 1 ELSE b END AS name_start
    FROM directed
)
SELECT address_id,
    nullif(array_to_string(list_transform(w[1:m], lambda word, i: CASE
        WHEN i = b AND predirectional THEN dir[i]
        WHEN i = m AND postdirectional THEN dir[i]
        WHEN i = sp AND sp > name_start AND NOT spa[name_start] AND suf[i] IS NOT NULL THEN suf[i]
        ELSE word END), ' '), '') AS street,
    line_unit
FROM suffixed"""

_KIND = f"""
CREATE OR REPLACE TEMP TABLE address_kind_match AS
WITH line AS (
    SELECT address_id, has_number,
        list_concat(words, coalesce(string_split(unit_text, ' '), [])) AS w
    FROM address_input
), gram AS (
    SELECT address_id, has_number, array_length(w) AS n, pos, size,
        array_to_string(w[pos:pos + size - 1], ' ') AS phrase
    FROM line,
        (SELECT unnest(range(1, {_LONGEST_KEYWORD} + 1)) AS size),
        LATERAL (SELECT unnest(range(1, array_length(w) + 1)) AS pos)
    WHERE pos + size - 1 <= array_length(w)
)
SELECT g.address_id,
    arg_min(k.kind, list_position($priority, k.kind)) AS kind
FROM gram AS g JOIN address_keyword AS k ON k.phrase = g.phrase
WHERE k.match = 'phrase'
    OR (k.match = 'no_number' AND NOT g.has_number)
    OR (k.match = 'leading' AND g.pos = 1)
    OR (k.match = 'whole' AND g.pos = 1 AND g.size = g.n)
GROUP BY g.address_id"""

_VALUES = """
CREATE OR REPLACE TEMP TABLE address_value AS
WITH normalized AS (
    SELECT a.street_raw, a.unit_raw, a.city_raw, a.state_raw, a.zip_raw,
        CASE WHEN km.kind IN ({no_street}) THEN NULL ELSE p.street END AS street,
        -- A unit line keeps its identifier, not its designator (APT 4B -> 4B, # 12 -> 12).
        coalesce(nullif(regexp_replace(a.unit_text, '^(({designators}) )+', ''), ''),
            p.line_unit) AS unit,
        std_text(a.city_raw) AS city, st.abbreviation AS state, std_zip5(a.zip_raw) AS zip5,
        km.kind AS keyword_kind
    FROM address_input AS a
    LEFT JOIN address_parsed AS p USING (address_id)
    LEFT JOIN address_kind_match AS km USING (address_id)
    LEFT JOIN usps_state AS st ON st.word = std_text(a.state_raw)
)
-- kind: what the line says, else what the known address is; null means an ordinary
-- street address (residential, or mailing when it is the mailing address).
SELECT n.* EXCLUDE (keyword_kind),
    coalesce(n.keyword_kind, CASE WHEN n.street IS NULL THEN 'none' END, kz.kind, kc.kind) AS kind
FROM normalized AS n
LEFT JOIN known_address AS kz ON kz.street = n.street AND kz.zip5 = n.zip5
LEFT JOIN known_address AS kc ON kc.street = n.street AND kc.city = n.city AND n.zip5 IS NULL"""


def build_address_values(store: Store, lines_sql: str) -> None:
    """Normalize every distinct address that `lines_sql` yields.

    `lines_sql` yields street_raw, unit_raw, city_raw, state_raw, zip_raw; this builds
    `address_value`: those and street, unit, city, state, zip5, kind.
    """
    store.run_steps(STAGE, [
        Step("address_input", _INPUT.format(lines_sql=lines_sql)),
        Step("address_word", _WORDS),
        Step("address_parsed", _PARSED),
        Step("address_kind_match", _KIND, {"priority": list(KIND_PRIORITY)}),
        Step("address_value", _VALUES.format(
            no_street=", ".join(f"'{kind}'" for kind in NO_STREET_KINDS),
            designators="|".join(sorted(unit_designators(), key=len, reverse=True)))),
        Step("drop_address_work", "DROP TABLE address_word; DROP TABLE address_parsed; "
             "DROP TABLE address_kind_match; DROP TABLE address_input"),
    ])
