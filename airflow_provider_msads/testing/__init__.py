"""A local emulator of the Microsoft identity platform and Customer Management v13 (REST and SOAP).

Use it from tests (the ``msads_emulator`` pytest fixture), from scripts (``msads-emulator`` command) or
directly::

    from airflow_provider_msads.testing import Emulator

    with Emulator(accounts=100, seed=7).serve() as emu:
        print(emu.url, emu.airflow_conn_json())

Importing this package is cheap; lxml is only imported when an emulator is built.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow_provider_msads.testing.demo import (
    DEMO_CLIENT_ID,
    DEMO_CLIENT_SECRET,
    DEMO_DEVELOPER_TOKEN,
    DEMO_PUBLIC_CLIENT_ID,
    DEMO_REFRESH_TOKEN,
    DEMO_SANDBOX_DEVELOPER_TOKEN,
)

if TYPE_CHECKING:
    from airflow_provider_msads.testing.data import DEMO_USER_ID, Dataset
    from airflow_provider_msads.testing.emulator import Emulator, RequestRecord
    from airflow_provider_msads.testing.faults import ROUTES, Fault, FaultInjector

__all__ = [
    "DEMO_CLIENT_ID",
    "DEMO_CLIENT_SECRET",
    "DEMO_DEVELOPER_TOKEN",
    "DEMO_PUBLIC_CLIENT_ID",
    "DEMO_REFRESH_TOKEN",
    "DEMO_SANDBOX_DEVELOPER_TOKEN",
    "DEMO_USER_ID",
    "ROUTES",
    "Dataset",
    "Emulator",
    "Fault",
    "FaultInjector",
    "RequestRecord",
]

_LAZY = {
    "Emulator": "airflow_provider_msads.testing.emulator",
    "RequestRecord": "airflow_provider_msads.testing.emulator",
    "Dataset": "airflow_provider_msads.testing.data",
    "DEMO_USER_ID": "airflow_provider_msads.testing.data",
    "Fault": "airflow_provider_msads.testing.faults",
    "FaultInjector": "airflow_provider_msads.testing.faults",
    "ROUTES": "airflow_provider_msads.testing.faults",
}


def __getattr__(name: str) -> Any:
    """Import the heavy modules (lxml) only when they are used."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)
