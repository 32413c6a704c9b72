"""Review: uncertain pairs for people to judge, and their decisions, which later runs obey."""

from linkage.review.decisions import (Decision, Recorded, decisions_in_force, record_decisions,
                                      revoke_decision)
from linkage.review.export import export_review, import_review

__all__ = ["Decision", "Recorded", "decisions_in_force", "export_review", "import_review",
           "record_decisions", "revoke_decision"]
