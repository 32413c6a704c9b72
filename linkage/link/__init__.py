"""Link: block, score and cluster the canonical person records with a Splink model."""

from linkage.link.clustering import Clustering
from linkage.link.estimate import Estimate, estimate
from linkage.link.incremental import link_incremental
from linkage.link.prior import population_model
from linkage.link.score import LinkCounts, Linked, link, linking_in_force
from linkage.link.splink_session import (active_persons, load_calibration, load_model,
                                         model_fingerprint)
from linkage.link.train import card_path, train

__all__ = ["Clustering", "Estimate", "LinkCounts", "Linked", "active_persons", "card_path", "estimate", "link",
           "link_incremental", "linking_in_force", "load_calibration", "load_model", "population_model",
           "model_fingerprint", "train"]
