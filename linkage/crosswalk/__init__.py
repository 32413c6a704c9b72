"""Crosswalk: stable enterprise IDs for this run's clusters, with events and history."""

from linkage.crosswalk.assign import CrosswalkCounts, assign_enterprise_ids
from linkage.crosswalk.guard import ChangeGuard
from linkage.crosswalk.queries import (CHANGE_COLUMNS, RUN_COLUMNS, changes, history,
                                       resolve_enterprise_id, resolve_enterprise_ids, runs)

__all__ = ["CHANGE_COLUMNS", "ChangeGuard", "CrosswalkCounts", "RUN_COLUMNS",
           "assign_enterprise_ids", "changes", "history", "resolve_enterprise_id",
           "resolve_enterprise_ids", "runs"]
