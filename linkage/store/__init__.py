"""The store: one DuckDB file with every stage's tables, the runs and the crosswalk."""

from linkage.store.core import Step, Store, connect, migrate, open_store, quote_identifier, schema_version
from linkage.store.schema import LANDED_COLUMNS, PERSON_COLUMNS, PERSON_FIELDS, SCHEMA_VERSION

__all__ = ["LANDED_COLUMNS", "PERSON_COLUMNS", "PERSON_FIELDS", "connect", "SCHEMA_VERSION", "Step", "Store", "migrate", "open_store",
           "quote_identifier", "schema_version"]
