"""The scalar rules of DESIGN §5 as DuckDB macros: text, names, identifiers, contacts.

A macro is inlined where it is used, so the heavy ones (names, dates, addresses) run over
distinct values in their own modules and are joined back; the ones here are cheap
enough per row. Every list below is a constant of this module: input values travel as
columns, never as SQL text.
"""

from __future__ import annotations

# Values that stand for "no name" on intake forms (whole value, after cleaning).
NAME_PLACEHOLDERS = (
    "UNKNOWN", "UNK", "UNKN", "NONE", "NFN", "NLN", "NMN", "FNU", "LNU", "MNU", "TEST",
    "PATIENT", "ANONYMOUS", "BABY", "BABY BOY", "BABY GIRL", "BABYBOY", "BABYGIRL", "BB", "BG",
    "INFANT", "NEWBORN", "TRAUMA", "JOHN DOE", "JANE DOE", "XXX", "XX", "X", "NA", "N A",
    "NO NAME", "NONAME", "NOT GIVEN", "REFUSED", "DECLINED", "UNIDENTIFIED",
    # An empty value written out by the tool that made the extract.
    "NULL",
    # A role or relation written where the name was not known (census enumerators' and
    # intake workers' fillers): CHILD GARCIA, FEMALE, LADY OF THE HOUSE, APELLIDO.
    "CLIENT", "PERSON", "RESIDENT", "RESPONDENT", "RESPONDANT", "OCCUPANT", "HOUSEHOLDER",
    "HOUSEHOLD", "INMATE", "ADULT", "ADULT MALE", "ADULT FEMALE", "MINOR", "CHILD", "CHILD F",
    "CHILD M", "KID", "MALE", "FEMALE", "MALE CHILD", "FEMALE CHILD", "BOY", "GIRL", "MOM",
    "DAD", "MOTHER", "FATHER", "WIFE", "HUSBAND", "DAUGHTER", "DAU", "GRANDCHILD", "GRANDSON",
    "GRANDDAUGHTER", "NEPHEW", "NIECE", "BROTHER", "SISTER", "FRIEND", "PARENT", "HIJO", "HIJA",
    "SENOR", "SENORA", "SENORITA", "MR", "MRS", "MS", "APELLIDO", "LAST NAME", "NO LAST NAME",
    "FIRST NAME", "NO FIRST NAME", "ANON", "DONT KNOW", "REFUSE", "LADY OF HOUSE",
    "LADY OF THE HOUSE", "MAN OF THE HOUSE", "OF THE HOUSE", "OF HOUSE",
)
# A name whose first word is one of these is an alias, not a name: TRAUMA ALPHA,
# BABY BOY GARCIA, UNKNOWN MALE, TEST PATIENT 2, ZZTRAUMA ...
NAME_PLACEHOLDER_LEADS = ("TRAUMA", "BABY", "BABYBOY", "BABYGIRL", "UNKNOWN", "UNIDENTIFIED",
                          "TEST", "ZZ", "ZZZ", "DAUGHTER", "GRANDCHILD")
# Name suffixes and the forms they are written in; the value is the canonical suffix.
NAME_SUFFIXES = {
    "JR": "JR", "JNR": "JR", "JUNIOR": "JR", "SR": "SR", "SNR": "SR", "SENIOR": "SR",
    "II": "II", "2ND": "II", "III": "III", "3RD": "III", "IV": "IV", "4TH": "IV", "V": "V",
    "5TH": "V",
}
# Suffixes that can trail a last name ("SMITH JR"). V is left out: a trailing V is more
# often an initial than a fifth.
TRAILING_SUFFIXES = tuple(form for form in NAME_SUFFIXES if form not in ("V", "5TH"))
# Courtesy titles dropped from the front of a first name (MR JOHN -> JOHN).
NAME_TITLES = ("MR", "MRS", "MS", "MISS", "DR", "SRA", "SRTA")
# Words inside compound surnames that are not surnames themselves (GARCIA DE LOPEZ).
SURNAME_PARTICLES = ("DE", "DEL", "LA", "LAS", "LOS", "Y", "E", "I", "DA", "DAS", "DO", "DOS",
                     "VAN", "VON", "DER", "DEN", "DI", "DU", "LE", "DELA", "DELLA", "ST")

INVALID_SSNS = ("123456789", "987654321", "078051120", "219099999")
PLACEHOLDER_ZIPS = ("00000", "99999", "11111", "12345")
# Local parts and domains that mean "no email".
PLACEHOLDER_EMAIL_USERS = ("none", "noemail", "no.email", "no_email", "na", "n.a", "unknown",
                           "declined", "refused", "noreply", "no-reply", "test", "null")
PLACEHOLDER_EMAIL_DOMAINS = ("none.com", "noemail.com", "nomail.com", "email.com", "na.com",
                             "unknown.com", "test.com")


def sql_list(values) -> str:
    """Quote this module's constants for an IN list (input values are never pasted)."""
    return ", ".join("'" + value.replace("'", "''") + "'" for value in values)


SEX_WORDS = {"M": ("M", "MALE", "MAN", "BOY", "MASCULINE", "MASCULINO", "HOMBRE"),
             "F": ("F", "FEMALE", "WOMAN", "GIRL", "FEMININE", "FEMENINO", "MUJER")}

# What tools write for an empty value (SQL Server and bcp, MySQL and Postgres dumps,
# Excel, pandas and R): as written, and in any case.
NO_VALUE_AS_WRITTEN = ("nan", "NaN", "<NA>", "NA")
NO_VALUE_ANY_CASE = ("NULL", "\\N", "#N/A", "N/A", "NONE", "NIL", "-", "--", ".", "?")
NO_VALUE_FIRST = "".join(sorted({token[0] for token in (*NO_VALUE_AS_WRITTEN, *NO_VALUE_ANY_CASE)}
                                | {token[0].lower() for token in NO_VALUE_ANY_CASE}))
assert all(len(token) <= 4 for token in (*NO_VALUE_AS_WRITTEN, *NO_VALUE_ANY_CASE))


def float_digits(value: str) -> str:
    """SQL of `value` (an expression from code) read as its digits when it is a whole number
    a typed extract held as a float (Parquet or Excel: 9163214567.0, 95814.0, 19800315.0);
    any other text is left as it is."""
    return (f"CASE WHEN regexp_full_match(trim({value}), '[0-9]+[.]0+') "
            f"THEN split_part(trim({value}), '.', 1) ELSE {value} END")


# A letter outside the Latin blocks (Basic Latin to Latin Extended-B, Latin Extended
# Additional), and one outside Latin, Greek and Cyrillic: RE2 and Java read both patterns.
NOT_LATIN_LETTER = "[^\\P{L}\\x{0}-\\x{24F}\\x{1E00}-\\x{1EFF}]"
NOT_EUROPEAN_LETTER = "[^\\P{L}\\x{0}-\\x{52F}\\x{1E00}-\\x{1FFF}]"
# Characters dropped from a name before it is split into words: apostrophes, periods,
# invisible format characters and control characters other than tab and line ends.
NAME_JOINERS = "[''`’.\\p{Cf}\\x{0}-\\x{8}\\x{B}\\x{C}\\x{E}-\\x{1F}\\x{7F}]"


MACROS = {
    # Upper case ASCII: accents stripped, letters strip_accents leaves alone folded by hand.
    "fold_ascii": """(value) AS replace(replace(replace(replace(translate(
        upper(strip_accents(value)), 'ŁØĐÞ', 'LODT'), 'ß', 'SS'), 'Æ', 'AE'), 'Œ', 'OE'), 'ẞ', 'SS')""",
    "std_text": """(value) AS nullif(trim(regexp_replace(
        regexp_replace(fold_ascii(value), '[^A-Z0-9 ]', ' ', 'g'), ' +', ' ', 'g')), '')""",
    # Text in other scripts: upper case where the script has case, accents folded where
    # every letter is Latin, Greek or Cyrillic (ΕΛΈΝΗ -> ΕΛΕΝΗ, Ё -> Е); elsewhere marks are
    # part of the letter (Devanagari vowel signs, kana voicing) and stay.
    "script_text": f"""(value) AS nullif(trim(regexp_replace(regexp_replace(
        CASE WHEN regexp_matches(value, '{NOT_EUROPEAN_LETTER}') THEN upper(value)
            ELSE fold_ascii(value) END,
        '[^\\p{{L}}\\p{{M}}0-9 ]', ' ', 'g'), ' +', ' ', 'g')), '')""",
    # Names: apostrophes and periods join (O'BRIEN -> OBRIEN, ST. JOHN -> ST JOHN handled
    # by the space that follows), and so do the characters no one sees (NUL padding, a
    # zero-width space, a direction mark); hyphens, commas and slashes split parts. A name
    # with a letter of another script than Latin keeps its letters (script_text).
    "name_joined": f"""(value) AS regexp_replace(value, '{NAME_JOINERS}', '', 'g')""",
    "joined_name_text": f"""(joined) AS CASE WHEN regexp_matches(joined, '{NOT_LATIN_LETTER}')
        THEN script_text(joined) ELSE std_text(joined) END""",
    "name_text": """(value) AS joined_name_text(name_joined(value))""",
    "is_name_placeholder": f"""(text) AS text IN ({sql_list(NAME_PLACEHOLDERS)})
        OR string_split(text, ' ')[1] IN ({sql_list(NAME_PLACEHOLDER_LEADS)})
        OR regexp_full_match(text, 'X+|ZZ.*|[0-9 ]+')
        OR (length(text) >= 3 AND replace(text, left(text, 1), '') = '')""",
    "trailing_suffix": f"""(text) AS CASE WHEN array_length(string_split(text, ' ')) > 1
        AND string_split(text, ' ')[-1] IN ({sql_list(TRAILING_SUFFIXES)})
        THEN string_split(text, ' ')[-1] END""",
    "without_suffix": """(text) AS CASE WHEN trailing_suffix(text) IS NULL THEN text
        ELSE array_to_string(string_split(text, ' ')[:-2], ' ') END""",
    "without_title": f"""(text) AS CASE WHEN array_length(string_split(text, ' ')) > 1
        AND string_split(text, ' ')[1] IN ({sql_list(NAME_TITLES)})
        THEN array_to_string(string_split(text, ' ')[2:], ' ') ELSE text END""",
    "name_letters": """(text) AS nullif(trim(regexp_replace(regexp_replace(text, '[0-9]', '', 'g'),
        ' +', ' ', 'g')), '')""",
    # Surname parts: the words of a surname less its particles (GARCIA DE LOPEZ -> GARCIA, LOPEZ).
    "surname_parts": f"""(name) AS nullif(list_filter(string_split(name, ' '),
        lambda part: part NOT IN ({sql_list(SURNAME_PARTICLES)})), [])""",
    "float_digits": f"(value) AS {float_digits('value')}",
    # Most values are passed over by their length or first character alone.
    "no_value": f"""(value) AS CASE
        WHEN length(value) > 4 OR NOT contains({sql_list([NO_VALUE_FIRST])}, left(value, 1))
            THEN value
        WHEN value IN ({sql_list(NO_VALUE_AS_WRITTEN)})
            OR upper(value) IN ({sql_list(NO_VALUE_ANY_CASE)}) THEN NULL
        ELSE value END""",
    "ssn_chars": """(value) AS regexp_replace(upper(coalesce(float_digits(value), '')), '[^0-9X]', '', 'g')""",
    # The *_of macros take ssn_chars(value), computed once per row by the caller.
    "valid_ssn_of": f"""(chars) AS CASE WHEN regexp_full_match(chars, '[0-9]{{9}}')
        AND substr(chars, 1, 3) NOT IN ('000', '666')
        AND substr(chars, 1, 1) <> '9'
        AND substr(chars, 4, 2) <> '00'
        AND substr(chars, 6, 4) <> '0000'
        AND replace(chars, substr(chars, 1, 1), '') <> ''
        AND chars NOT IN ({sql_list(INVALID_SSNS)})
        THEN chars END""",
    "std_ssn": """(value) AS valid_ssn_of(ssn_chars(value))""",
    # A partial SSN: at most 9 characters, letters (HMIS uses x) for the unknown digits.
    "is_partial_ssn_of": """(chars) AS length(chars) BETWEEN 4 AND 9
        AND contains(chars, 'X') AND regexp_matches(chars, '[0-9]')""",
    # Its known last four digits, if the last four are known (xxxxx1234 -> 1234). A bare
    # four-digit value is the last four too (clinic forms ask for just that).
    "partial_last4_of": """(chars) AS CASE WHEN (is_partial_ssn_of(chars) OR length(chars) = 4)
        AND regexp_full_match(right(chars, 4), '[0-9]{4}')
        AND right(chars, 4) <> '0000' THEN right(chars, 4) END""",
    # Sex by the value's first word, among the words that name one (M - Male, female,
    # Mujer); any other word (TRUE, FALSE, MTF, Transgender, Unknown) says nothing.
    "std_sex": f"""(value) AS CASE
        WHEN regexp_extract(upper(trim(value)), '^[A-Z]+') IN ({sql_list(SEX_WORDS["M"])}) THEN 'M'
        WHEN regexp_extract(upper(trim(value)), '^[A-Z]+') IN ({sql_list(SEX_WORDS["F"])}) THEN 'F'
        END""",
    # Medi-Cal CIN: 8 digits and a check letter; an all-one-digit number is a placeholder.
    "cin_chars": """(value) AS regexp_replace(upper(coalesce(value, '')), '[^0-9A-Z]', '', 'g')""",
    "valid_cin_of": """(chars) AS CASE WHEN regexp_full_match(chars, '[0-9]{8}[A-Z]')
        AND replace(left(chars, 8), left(chars, 1), '') <> '' THEN chars END""",
    "std_cin": """(value) AS valid_cin_of(cin_chars(value))""",
    # MRNs are opaque strings: trimmed and upper-cased, never stripped of leading zeros.
    "std_mrn": """(value) AS CASE WHEN upper(trim(value)) NOT IN ('', '0', 'NA', 'NONE', 'UNKNOWN')
        THEN upper(trim(value)) END""",
    # An assigning authority as given: OIDs lose their urn:oid: prefix, URLs their scheme.
    "std_authority": """(value) AS nullif(regexp_replace(regexp_replace(lower(trim(value)),
        '^urn:oid:', ''), '^https?://', ''), '')""",
    # Phones: what precedes an extension marker, as digits; 11 digits with a leading 1
    # lose it; area code and exchange follow the NANP (first digit 2-9).
    "phone_digits": """(value) AS regexp_replace(regexp_replace(upper(coalesce(float_digits(value), '')),
        '(X|EXT|EXTENSION).*$', ''), '[^0-9]', '', 'g')""",
    "phone_ten": """(digits) AS CASE WHEN length(digits) = 11 AND left(digits, 1) = '1'
        THEN right(digits, 10) WHEN length(digits) = 10 THEN digits END""",
    "valid_phone_of": """(ten) AS CASE WHEN regexp_full_match(ten, '[2-9][0-9]{2}[2-9][0-9]{6}')
        AND replace(ten, substr(ten, 1, 1), '') <> ''
        AND substr(ten, 4, 7) NOT IN ('5555555', '0000000', '9999999', '1234567')
        THEN ten END""",
    "std_phone": """(value) AS valid_phone_of(phone_ten(phone_digits(value)))""",
    "valid_email_of": f"""(email) AS CASE WHEN regexp_full_match(email,
            '[a-z0-9._%+''-]+@[a-z0-9-]+(\\.[a-z0-9-]+)*\\.[a-z]{{2,}}')
        AND split_part(email, '@', 1) NOT IN ({sql_list(PLACEHOLDER_EMAIL_USERS)})
        AND split_part(email, '@', 2) NOT IN ({sql_list(PLACEHOLDER_EMAIL_DOMAINS)})
        AND NOT contains(email, '..') THEN email END""",
    "std_email": """(value) AS valid_email_of(lower(trim(value)))""",
    "std_zip5": f"""(value) AS CASE WHEN regexp_extract(trim(float_digits(value)), '^([0-9]{{5}})(-?[0-9]{{4}})?$', 1)
        NOT IN ('', {sql_list(PLACEHOLDER_ZIPS)})
        THEN regexp_extract(trim(float_digits(value)), '^([0-9]{{5}})', 1) END""",
}
