"""Link: block, score and cluster the canonical person records with a Splink model.

The names below load on first use, so reading one light module of the stage (the model
file, the population's prior) does not load Splink: person search stays fast to start.
"""

from __future__ import annotations

import sys
import types
from linkage.lazy import lazy_names

_HOMES = {
    "Clustering": "clustering", "Estimate": "estimate", "estimate": "estimate",
    "link_incremental": "incremental", "population_model": "prior", "LinkCounts": "score",
    "Linked": "score", "link": "score", "linking_in_force": "score",
    "active_persons": "splink_session", "load_calibration": "splink_session",
    "load_model": "splink_session", "model_fingerprint": "splink_session",
    "card_path": "train", "train": "train",
}
__all__ = sorted(_HOMES)


__getattr__ = lazy_names(__name__, _HOMES)


class _Stage(types.ModuleType):
    """`estimate` and `train` name functions of modules of the same name. Importing such a
    module binds its name on the package; the function keeps the name, as it did when
    this package imported every name at once."""

    def __setattr__(self, name: str, value: object) -> None:
        if isinstance(value, types.ModuleType) and _HOMES.get(name) == name:
            value = getattr(value, name)
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Stage
