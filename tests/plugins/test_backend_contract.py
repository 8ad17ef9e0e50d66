"""The routes' test double and the real Airflow backend implement the same ConnectBackend protocol.

tests/plugins/test_routes.py drives the Connect app through ``FakeBackend``; this keeps that fake from
drifting: every protocol method must exist on both, with the protocol's exact signature.
"""

from __future__ import annotations

import inspect

import pytest
from msads_connect_fakes import FakeBackend

from airflow_provider_msads.plugins.app import ConnectBackend
from airflow_provider_msads.plugins.backend import AirflowBackend

PROTOCOL_METHODS = sorted(
    name
    for name, member in vars(ConnectBackend).items()
    if not name.startswith("_") and inspect.isfunction(member)
)


def test_the_protocol_has_methods() -> None:
    assert len(PROTOCOL_METHODS) >= 8, PROTOCOL_METHODS


@pytest.mark.parametrize("implementation", [FakeBackend, AirflowBackend], ids=["fake", "airflow"])
@pytest.mark.parametrize("name", PROTOCOL_METHODS)
def test_each_backend_matches_the_protocol(implementation: type, name: str) -> None:
    expected = getattr(ConnectBackend, name)
    actual = getattr(implementation, name, None)
    assert actual is not None, f"{implementation.__name__} lacks {name}"
    assert inspect.iscoroutinefunction(actual) == inspect.iscoroutinefunction(expected), name
    assert str(inspect.signature(actual)) == str(inspect.signature(expected)), name
