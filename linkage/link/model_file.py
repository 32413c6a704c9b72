"""The model file as data: read, fingerprinted, and the columns it reads. No Splink here,
so a reader of the model (person search) loads without the linking engine."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from linkage.errors import ModelError

UNIQUE_ID = "record_key"

# The person columns the model reads; scoring selects only these.
MODEL_COLUMNS = (
    "record_key", "first_name", "middle_name", "last_name", "name_suffix", "surname_parts",
    "first_name_canonical", "first_name_forms", "first_name_phonetic", "last_name_phonetic",
    "dob", "dob_year", "ssn", "ssn_last4", "sex", "cin", "street", "zip5", "phone", "email",
)


def read_model(path: Path) -> dict[str, Any]:
    """The model file's JSON, with a clear error when it is missing or no Splink model."""
    path = Path(path)
    if path.is_dir():
        raise ModelError(f"{path}: is a folder; the model is a JSON file (models/NAME.json)")
    try:
        model = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ModelError(f"{path}: model file not found (train one with `linkage train`)") from None
    except (OSError, UnicodeDecodeError, ValueError, RecursionError) as error:
        raise ModelError(f"{path}: not a readable Splink model ({error.__class__.__name__})") from None
    if not isinstance(model, dict) or "comparisons" not in model:
        raise ModelError(f"{path}: not a Splink model (no 'comparisons' key)")
    return model


def prediction_rules(model: dict[str, Any]) -> list[str]:
    """The SQL of the model's prediction blocking rules, in order (Splink's match keys are
    their positions).

    >>> prediction_rules({"blocking_rules_to_generate_predictions": [
    ...     {"blocking_rule": 'l."ssn" = r."ssn"'}, "l.dob = r.dob"]})
    ['l."ssn" = r."ssn"', 'l.dob = r.dob']
    """
    return [rule["blocking_rule"] if isinstance(rule, dict) else str(rule)
            for rule in model.get("blocking_rules_to_generate_predictions", [])]


def tf_columns(model: dict[str, Any]) -> list[str]:
    """The columns the model adjusts by term frequency, in the order it names them."""
    columns: list[str] = []
    for comparison in model["comparisons"]:
        for level in comparison["comparison_levels"]:
            column = level.get("tf_adjustment_column")
            if column and column not in columns:
                columns.append(column)
    return columns


def model_fingerprint(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16]
