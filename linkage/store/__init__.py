"""The store: every stage's tables, the runs and the crosswalk, behind one written interface
(`Store`, linkage.store.engine) that the DuckDB store (one file, the default) and the Spark
store implement; the relations stages share are written once (linkage.store.relations)."""

from linkage.store.connection import connect
from linkage.store.core import DuckDBStore, migrate, open_store, quote_identifier, schema_version
from linkage.store.engine import SplinkEngine, Step, Store
from linkage.store.schema import LANDED_COLUMNS, PERSON_COLUMNS, PERSON_FIELDS, SCHEMA_VERSION

__all__ = ["DuckDBStore", "LANDED_COLUMNS", "PERSON_COLUMNS", "PERSON_FIELDS", "connect",
           "SCHEMA_VERSION", "SplinkEngine", "Step", "Store", "migrate", "open_store",
           "quote_identifier", "schema_version"]
