"""Build the canonical person table (DESIGN §4) from the landed source records."""

from __future__ import annotations

from linkage.standardize.lookups import STAGE, add_phonetic_keys, install
from linkage.store import Step, Store

UNIT_DESIGNATORS = "APT|APARTMENT|UNIT|STE|SUITE|SPC|SPACE|RM|ROOM|NO|NUM|NUMBER"

_CLEANED = f"""
CREATE OR REPLACE TEMP TABLE person_cleaned AS
WITH cleaned AS (
    SELECT r.*,
        std_name(r.first_name) AS first_clean,
        std_name(r.middle_name) AS middle_clean,
        std_name(r.last_name) AS last_clean,
        std_name(r.name_suffix) AS suffix_clean,
        std_text(replace(r.street, '#', ' APT ')) AS street_clean,
        regexp_replace(std_text(replace(r.unit, '#', ' ')), '^({UNIT_DESIGNATORS}) ', '') AS unit_clean,
        -- HMIS SSN quality 2 is a partial or approximate SSN: its last four, never a full SSN.
        CASE WHEN r.ssn_quality = '2' THEN NULL ELSE std_ssn(r.ssn) END AS ssn_valid
    FROM source_record AS r
)
SELECT *,
    regexp_extract(street_clean, '^(.*) ({UNIT_DESIGNATORS}) ([A-Z0-9]+)$',
        ['street', 'designator', 'unit']) AS street_split,
    CASE
        WHEN street_clean IS NULL THEN 'none'
        WHEN regexp_matches(street_clean, '\\bGENERAL DELIVERY\\b') THEN 'general_delivery'
        WHEN regexp_matches(street_clean,
            '\\b(HOMELESS|TRANSIENT|UNHOUSED|NO FIXED ADDRESS|NO ADDRESS|UNSHELTERED)\\b')
            THEN 'homeless'
        ELSE 'residential'
    END AS address_kind
FROM cleaned"""

_INSERT = """
INSERT INTO person
SELECT
    c.source_system || ':' || c.source_record_id AS record_key,
    c.source_system, c.source_record_id, c.run_id, c.is_deleted,
    n.first_name, c.middle_clean AS middle_name, n.last_name, n.name_suffix,
    surname_parts(n.last_name) AS surname_parts,
    coalesce(nick.canonical, n.first_name) AS first_name_canonical,
    pf.metaphone AS first_name_phonetic,
    pl.metaphone AS last_name_phonetic,
    CASE c.name_quality WHEN '1' THEN 'full' WHEN '2' THEN 'partial' WHEN '8' THEN 'not_known'
        WHEN '9' THEN 'refused' WHEN '99' THEN 'not_collected' END AS name_quality,
    std_dob(c.dob) AS dob,
    CASE
        WHEN coalesce(trim(c.dob), '') = '' THEN 'missing'
        WHEN std_date(c.dob) IS NULL THEN 'unparseable'
        WHEN std_dob(c.dob) IS NULL THEN 'invalid'
        WHEN c.dob_quality = '2' THEN 'approximate'
        WHEN year(std_dob(c.dob)) < 1915 THEN 'before_1915'
        WHEN month(std_dob(c.dob)) = 1 AND day(std_dob(c.dob)) = 1 THEN 'january_first'
        ELSE 'full'
    END AS dob_quality,
    c.ssn_valid AS ssn,
    coalesce(right(c.ssn_valid, 4), partial_ssn_last4(c.ssn),
        CASE WHEN c.ssn_quality = '2' AND regexp_full_match(right(ssn_chars(c.ssn), 4), '[0-9]{4}')
            THEN right(ssn_chars(c.ssn), 4) END) AS ssn_last4,
    CASE
        WHEN c.ssn_valid IS NOT NULL THEN 'full'
        WHEN partial_ssn_last4(c.ssn) IS NOT NULL OR c.ssn_quality = '2' THEN 'partial'
        WHEN coalesce(trim(c.ssn), '') = '' THEN NULL
        ELSE 'invalid'
    END AS ssn_quality,
    std_sex(c.sex) AS sex,
    std_cin(c.cin) AS cin,
    nullif(trim(c.mrn), '') AS mrn,
    nullif(trim(c.mrn_authority), '') AS mrn_authority,
    CASE WHEN c.address_kind = 'residential' THEN array_to_string(list_transform(
        string_split(coalesce(nullif(c.street_split.street, ''), c.street_clean), ' '),
        lambda word: coalesce(u.words[word], word)), ' ') END AS street,
    coalesce(nullif(c.unit_clean, ''), nullif(c.street_split.unit, '')) AS unit,
    std_text(c.city) AS city,
    CASE WHEN regexp_full_match(upper(trim(c.state)), '[A-Z]{2}') THEN upper(trim(c.state)) END AS state,
    std_zip5(c.zip) AS zip5,
    c.address_kind,
    std_phone(c.phone) AS phone,
    std_email(c.email) AS email,
    nullif(trim(c.household_id), '') AS household_id
FROM person_cleaned AS c
CROSS JOIN usps_word AS u
CROSS JOIN LATERAL (
    SELECT
        -- JOHN/JANE DOE is a placeholder as a whole, not a real first or last name.
        CASE WHEN c.first_clean IN ('JOHN', 'JANE') AND c.last_clean = 'DOE' THEN NULL
            ELSE c.first_clean END AS first_name,
        CASE WHEN c.first_clean IN ('JOHN', 'JANE') AND c.last_clean = 'DOE' THEN NULL
            ELSE without_suffix(c.last_clean) END AS last_name,
        coalesce(c.suffix_clean, trailing_suffix(c.last_clean)) AS name_suffix
) AS n
LEFT JOIN nickname_canonical AS nick ON nick.name = n.first_name
LEFT JOIN phonetic AS pf ON pf.name = n.first_name
LEFT JOIN phonetic AS pl ON pl.name = n.last_name"""


def standardize(store: Store) -> int:
    """Rebuild `person` from `source_record`; return the number of person rows."""
    install(store)
    store.run_step(STAGE, Step("clean", _CLEANED))
    add_phonetic_keys(store, """
SELECT first_clean FROM person_cleaned WHERE first_clean IS NOT NULL
UNION SELECT without_suffix(last_clean) FROM person_cleaned WHERE last_clean IS NOT NULL""")
    store.run_steps(STAGE, [
        Step("clear_person", "DELETE FROM person"),
        Step("insert_person", _INSERT),
        Step("drop_cleaned", "DROP TABLE person_cleaned"),
    ])
    return store.scalar(STAGE, "count_person", "SELECT count(*) FROM person")
