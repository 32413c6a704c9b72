"""The link stage's result: every active record's cluster."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Clustering:
    """Every active record's cluster: table `table` (record_key, cluster_id) of the run.

    Made by `linkage.link.link` and `link_incremental` (and by `cluster_scored_pairs` for a
    threshold sweep); the crosswalk stage takes it (`assign_enterprise_ids`), turns it into
    EIDs and drops the table."""

    table: str = "cluster_membership"
