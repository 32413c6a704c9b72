"""linkage: probabilistic identity resolution for California county person extracts.

Stages, each a package, data flowing one way: sources -> standardize -> link ->
crosswalk -> export, over one DuckDB store. `Project` is the Python API.
"""

__version__ = "0.1.0"
__all__ = ["Project", "RunSummary", "__version__"]


def __getattr__(name: str):
    # Loaded on first use: `linkage --help` need not import Splink and pandas.
    if name in ("Project", "RunSummary"):
        from linkage import project

        return getattr(project, name)
    raise AttributeError(f"module 'linkage' has no attribute {name!r}")
