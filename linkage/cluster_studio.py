"""Splink's cluster studio for EIDs a reviewer should look at: each EID's records as a
graph, its scored pairs as edges, and any pair's waterfall.

The input is what the last run published, not a fresh clustering: the active crosswalk
(the EID is the cluster id) and the pairs the run kept in `pair_score` between records of
the same EID, re-scored with the model so the dashboard can show each comparison's
weight. The dashboard shows names, dates of birth and identifiers, so it is written
owner-only, and nothing about its contents is logged.
"""

from __future__ import annotations

import re
import tempfile
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from linkage.crosswalk import resolve_enterprise_id
from linkage.errors import LinkageError
from linkage.link import active_persons, load_model, population_model
from linkage.link.cluster_quality import ACTIVE_MEMBERSHIP, density_sql
from linkage.store.relations import ACTIVE_MEMBER
from linkage.link.model import MODEL_COLUMNS
from linkage.link.splink_session import splink_linker
from linkage.outputs import write_text
from linkage.store import Step, Store

STAGE = "cluster_studio"

# Clusters shown when none is flagged: the least densely held together, then the largest.
# Ties in density go to the cluster held by the weakest matched pair (the one a reviewer
# should see first), then to the smallest record key: never to the EID label, which is
# keyed by the store's own secret and so differs from store to store.
_LEAST_DENSE = f"""
WITH dense AS ({density_sql(ACTIVE_MEMBERSHIP, 2)}),
member AS (SELECT record_key, cluster_id FROM {ACTIVE_MEMBERSHIP}),
weakest AS (
    SELECT ml.cluster_id, min(s.match_probability) AS weakest
    FROM pair_score AS s
    JOIN member AS ml ON ml.record_key = s.record_key_l
    JOIN member AS mr ON mr.record_key = s.record_key_r AND mr.cluster_id = ml.cluster_id
    WHERE s.match_probability >= $threshold
    GROUP BY ml.cluster_id
),
first_record AS (SELECT cluster_id, min(record_key) AS first_key FROM member GROUP BY cluster_id)
SELECT d.cluster_id AS enterprise_id, d.records, round(d.density, 4) AS density,
    'least_dense' AS reason
FROM dense AS d LEFT JOIN weakest AS w USING (cluster_id) JOIN first_record AS f USING (cluster_id)
ORDER BY d.density, d.records DESC, w.weakest NULLS FIRST, f.first_key
LIMIT $limit"""

_MEMBERS = f"""
SELECT p.enterprise_id AS cluster_id, p.source_system,
    {', '.join(f'p.{column}' for column in MODEL_COLUMNS)}
FROM ({ACTIVE_MEMBER}) AS p
WHERE NOT p.is_deleted
    AND p.enterprise_id IN (SELECT unnest($eids))
ORDER BY p.enterprise_id, p.record_key"""

# Kept pairs between records of the same shown EID.
_PAIRS = f"""
WITH member AS (SELECT * FROM {ACTIVE_MEMBERSHIP} WHERE cluster_id IN (SELECT unnest($eids)))
SELECT s.record_key_l, s.record_key_r
FROM pair_score AS s
JOIN member AS ml ON ml.record_key = s.record_key_l
JOIN member AS mr ON mr.record_key = s.record_key_r AND mr.cluster_id = ml.cluster_id
ORDER BY s.record_key_l, s.record_key_r"""


def least_dense_clusters(store: Store, match_threshold: float, limit: int) -> pd.DataFrame:
    """Active EIDs of two or more records, least dense first (matched pairs at the match
    threshold / possible pairs), then largest: enterprise_id, records, density, reason."""
    rows = store.run_step(STAGE, Step("least_dense", _LEAST_DENSE,
                                      {"threshold": match_threshold, "limit": limit}))
    return pd.DataFrame(rows, columns=["enterprise_id", "records", "density", "reason"])


def active_enterprise_ids(store: Store, enterprise_ids: Sequence[str]) -> list[str]:
    """The active EID each requested one is (following merges), in the order asked, without
    repeats; an EID never issued, or with no active records, is an error."""
    shown: list[str] = []
    for enterprise_id in enterprise_ids:
        resolved = resolve_enterprise_id(store, enterprise_id)
        if resolved is None:
            raise LinkageError(f"{enterprise_id}: no such enterprise ID was ever issued")
        active_id, active = resolved
        if not active:
            raise LinkageError(f"{enterprise_id}: has no active records (removed upstream)")
        if active_id not in shown:
            shown.append(active_id)
    return shown


def write_cluster_studio(store: Store, model_path: Path, enterprise_ids: Sequence[str],
                         out: Path) -> Path:
    """Write Splink's cluster studio dashboard for these active EIDs to `out`, owner-only.

    Splink quotes the cluster ids into its own SQL, so only EIDs read back from the store
    (see `active_enterprise_ids`) may be passed, never text a user typed."""
    if not enterprise_ids:
        raise LinkageError("no enterprise IDs to show in the cluster studio")
    eids = list(enterprise_ids)
    members = store.run_arrow(STAGE, Step("studio_members", _MEMBERS, {"eids": eids}))
    sizes = Counter(members.column("cluster_id").to_pylist())
    pairs = store.run_arrow(STAGE, Step("studio_pairs", _PAIRS, {"eids": eids}))
    model = population_model(store, load_model(model_path))
    # The dashboard's waterfalls need the columns Splink drops by default.
    settings: dict[str, Any] = {**model, "retain_matching_columns": True,
                                "retain_intermediate_calculation_columns": True}
    # Term frequencies come from the whole active population, as in a run.
    with splink_linker(active_persons(store, STAGE), settings) as linker, \
            tempfile.TemporaryDirectory(prefix="linkage-studio-") as scratch:
        nodes = linker.table_management.register_table(members, "studio_members")
        kept = linker.table_management.register_table(pairs, "studio_kept_pairs")
        # Every pair of the shown records, scored, then only the pairs the run kept.
        scored = linker.inference.score_pairs(nodes, nodes)
        edges = scored.query_sql(
            "SELECT s.* FROM {this} AS s JOIN " + kept.physical_name + " AS k "
            "ON k.record_key_l = s.record_key_l AND k.record_key_r = s.record_key_r")
        # Splink writes the page itself; it goes to a private folder, then to `out`.
        document = linker.visualisations.cluster_studio_dashboard(
            edges, nodes, str(Path(scratch) / "studio.html"), cluster_ids=eids,
            cluster_names=[f"{eid} ({sizes.get(eid, 0)} records)" for eid in eids],
            overwrite=True, return_html_as_string=True)
    return write_text(out, offline(document), "cluster studio page")


# Splink's template loads a web font: a page opened on a county workstation must not call
# out to the internet (it would tell a font service who looked at personal data, and when).
_EXTERNAL_LINK = re.compile(r"<link\b[^>]*\bhref\s*=\s*[\"']?(?:https?:)?//[^>]*>", re.I)


def offline(document: str) -> str:
    """The page without <link> tags to other hosts (fonts, preconnects); the browser's own
    sans-serif stands in for the web font."""
    return _EXTERNAL_LINK.sub("", document)
