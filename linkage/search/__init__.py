"""Person search: the enterprise IDs most likely to be one person, ranked by the trained model.

    with Project.open("configs/sample.yaml").searcher() as searcher:
        found = searcher.search(first_name="Bob", last_name="Smith", dob="1980-03-15")

`found` holds one row per candidate EID of the current crosswalk, best first: its match
probability and weight, the key of its best-matching record, and per comparison of the
model the level that record reached (`dob_level`: "day and month swapped") and its weight
(`dob_weight`, the log2 Bayes factor, term-frequency adjustment included).

How a query is answered, in three statements:
1. Standardize (query.py): the query's values, bound, through the standardization rules
   in one SELECT, so BOB meets ROBERT, José meets JOSE and a placeholder name counts as no
   name, exactly as for the records.
2. Candidates (blocking.py): the active records sharing a search blocking key with the
   query; index lookups on the preloaded records, or narrow scans of `person`.
3. Score and rank (scoring.py): every candidate against the query with the model's
   weights, term frequencies of the active records, each EID ranked by its best record.

A query gives a name with a date of birth (or a ZIP), or any identifier (SSN, its last
four, CIN, MRN, phone, e-mail) with or without one. Only the fields given count: the
query's other columns are null, so their comparisons fall to their null level, which weighs
nothing; and a level at which every field the query gave agrees never weighs less than
nothing. With `sources`, records of other source systems are never candidates (a consumer
of `linkage serve` sees only its own). Nothing here logs or raises a query value.

    searcher.py   the store opened once for many searches (preloaded and indexed, or not)
    query.py      the query checked and standardized
    blocking.py   the blocking keys that make a record a candidate
    scoring.py    the model's comparisons and weights as SQL
    results.py    the ranked rows as a frame, text or JSON
"""

from __future__ import annotations

from linkage.search.blocking import SEARCH_BLOCKING, BlockingKey
from linkage.search.query import IDENTIFIERS, PersonQuery
from linkage.search.results import RESULT_COLUMNS, as_json, describe
from linkage.search.searcher import Searcher

__all__ = ["IDENTIFIERS", "RESULT_COLUMNS", "SEARCH_BLOCKING", "BlockingKey", "PersonQuery",
           "Searcher", "as_json", "describe"]
