"""Fixtures for the emulator tests: the vendored SOAP validator and an HTTP client."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Iterator
from types import ModuleType

import httpx
import pytest
from msads_emulator_helpers import CONTRACT, TIMEOUT


@pytest.fixture(scope="session")
def validator() -> ModuleType:
    """tests/contract/validate_soap.py, loaded from its file (it finds its xsd/ next to itself)."""
    spec = importlib.util.spec_from_file_location("msads_validate_soap", CONTRACT / "validate_soap.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def assert_valid_soap(validator: ModuleType) -> Callable[[bytes], None]:
    def check(xml: bytes) -> None:
        errors = validator.validate_envelope(xml, service="customer_management")
        assert errors == [], f"{errors}\n{xml[:2000]!r}"

    return check


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=TIMEOUT) as client:
        yield client
