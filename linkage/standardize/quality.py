"""Value warnings: landed values standardization could not use, counted per delivery.

A record with an impossible date or a made-up SSN still lands and gets an EID (DESIGN §3);
its bad value becomes null with its quality recorded, and is counted here by field and
reason. Counts only: no value leaves the store this way.
"""

from __future__ import annotations

from collections.abc import Sequence

from linkage.standardize.lookups import STAGE
from linkage.store import Step, Store

# Per field, the qualities that mean a value was given but could not be used.
WARNING_QUALITIES = {
    "dob": ("invalid", "unparseable", "partial", "future"),
    "ssn": ("invalid",),
}


def value_warnings(store: Store, delivery_ids: Sequence[int]) -> dict[int, dict[str, dict[str, int]]]:
    """{delivery_id: {field: {quality: records}}} over the standardized records these
    deliveries landed; a delivery with no warnings is absent."""
    if not delivery_ids:
        return {}
    counts = "\nUNION ALL\n".join(f"""
SELECT r.delivery_id, '{column}' AS field, p.{column}_quality AS reason, count(*) AS records
FROM person AS p JOIN source_record AS r
    ON r.source_system = p.source_system AND r.source_record_id = p.source_record_id
WHERE r.delivery_id IN (SELECT unnest($deliveries))
    AND p.{column}_quality IN ({", ".join(f"'{q}'" for q in qualities)})
GROUP BY ALL""" for column, qualities in WARNING_QUALITIES.items())
    warnings: dict[int, dict[str, dict[str, int]]] = {}
    for delivery_id, field, reason, records in store.run_step(STAGE, Step(
            "value_warnings", counts + "\nORDER BY 1, 2, 3", {"deliveries": list(delivery_ids)})):
        warnings.setdefault(delivery_id, {}).setdefault(field, {})[reason] = records
    return warnings
