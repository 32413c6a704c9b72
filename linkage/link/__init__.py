"""Link: block, score and cluster the canonical person records with a Splink model."""

from linkage.link.incremental import link_incremental
from linkage.link.score import LinkCounts, link
from linkage.link.splink_session import active_persons, load_model, model_fingerprint
from linkage.link.train import card_path, train

__all__ = ["LinkCounts", "active_persons", "card_path", "link", "link_incremental", "load_model",
           "model_fingerprint", "train"]
