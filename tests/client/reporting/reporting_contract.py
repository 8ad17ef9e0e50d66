"""The vendored Reporting contract (tests/contract/reporting): schema validation for request bodies."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

CONTRACT = Path(__file__).resolve().parents[2] / "contract" / "reporting"
DATA = Path(__file__).resolve().parent / "data"

_spec = importlib.util.spec_from_file_location("msads_validate_rest", CONTRACT / "validate_rest.py")
assert _spec is not None and _spec.loader is not None
validate_rest: Any = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(validate_rest)


def body_errors(body: dict[str, Any], schema: str = "SubmitGenerateReportRequest") -> list[str]:
    """Schema errors plus (for Submit) the validator's semantic checks; [] when valid."""
    errors = list(validate_rest.schema_errors(body, schema, CONTRACT / "schemas"))
    if schema == "SubmitGenerateReportRequest":
        errors += validate_rest.semantic_errors(body)
    return errors
