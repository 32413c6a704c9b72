"""Relations every stage reads the store through, each written once.

Each is DuckDB-dialect SQL text from code (no values inside), to be used as a subquery:
`FROM ({ACTIVE_MEMBER}) AS m`. Spark runs the same text (linkage.store.spark_sql), and a
subquery costs nothing on either engine: its unused columns and filters are pushed down.
"""

from __future__ import annotations

from linkage.store.schema import DECISIONS_IN_FORCE


def record_key(system: str = "source_system", record_id: str = "source_record_id") -> str:
    """A source record's key, `source_system:source_record_id`, as an SQL expression of the
    two given ones (columns, or a bound parameter for the system).

    >>> record_key("r.source_system", "r.source_record_id")
    "r.source_system || ':' || r.source_record_id"
    """
    return f"{system} || ':' || {record_id}"


# The crosswalk rows in force: each active source record's current EID.
ACTIVE_CROSSWALK = """
SELECT source_system, source_record_id, enterprise_id FROM crosswalk WHERE valid_to_run IS NULL"""

# The active crosswalk joined to the person table: every person column of each record that
# has an active EID, and that EID (`enterprise_id`). Records deleted upstream keep their
# EID until the crosswalk step of the run that removes them: filter on `is_deleted` where
# only live records count.
ACTIVE_MEMBER = f"""
SELECT p.*, cw.enterprise_id
FROM ({ACTIVE_CROSSWALK}) AS cw JOIN person AS p
    ON p.source_system = cw.source_system AND p.source_record_id = cw.source_record_id"""

# The live records' clustering the crosswalk publishes, as a membership (record_key,
# cluster_id = EID) that clustering steps compare with their own.
ACTIVE_MEMBERSHIP = f"""
SELECT record_key, enterprise_id AS cluster_id FROM ({ACTIVE_MEMBER}) AS m WHERE NOT is_deleted"""

__all__ = ["ACTIVE_CROSSWALK", "ACTIVE_MEMBER", "ACTIVE_MEMBERSHIP", "DECISIONS_IN_FORCE",
           "record_key"]
