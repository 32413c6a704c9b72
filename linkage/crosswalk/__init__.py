"""Crosswalk: stable enterprise IDs for this run's clusters, with events and history."""

from linkage.crosswalk.assign import CrosswalkCounts, assign_enterprise_ids
from linkage.crosswalk.guard import ChangeGuard
from linkage.crosswalk.queries import history, resolve_enterprise_id

__all__ = ["ChangeGuard", "CrosswalkCounts", "assign_enterprise_ids", "history", "resolve_enterprise_id"]
