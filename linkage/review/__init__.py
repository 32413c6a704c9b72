"""Review: uncertain pairs for people to judge, and their decisions, which later runs obey."""

from linkage.review.decisions import Decision, record_decisions
from linkage.review.export import export_review, import_review

__all__ = ["Decision", "export_review", "import_review", "record_decisions"]
