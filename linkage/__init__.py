"""linkage: probabilistic identity resolution for California county person extracts.

Stages, each a package, data flowing one way: sources -> standardize -> link ->
crosswalk -> export, over one DuckDB store. `Project` is the Python API.
"""

from linkage.project import Project, RunSummary

__version__ = "0.1.0"
__all__ = ["Project", "RunSummary", "__version__"]
