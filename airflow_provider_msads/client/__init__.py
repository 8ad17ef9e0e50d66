"""Airflow-free Microsoft Advertising client.

Import-light on purpose: ``MicrosoftAdsClient`` (httpx, tenacity) loads on first attribute access, and
lxml only when the SOAP transport is chosen.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from airflow_provider_msads.client.client import MicrosoftAdsClient
    from airflow_provider_msads.client.retry import RetryPolicy
    from airflow_provider_msads.client.wire import ClientStats

__all__ = ["ClientStats", "MicrosoftAdsClient", "RetryPolicy"]

_LAZY = {
    "MicrosoftAdsClient": "airflow_provider_msads.client.client",
    "RetryPolicy": "airflow_provider_msads.client.retry",
    "ClientStats": "airflow_provider_msads.client.wire",
}


def __getattr__(name: str) -> Any:
    """PEP 562: import the heavy modules only when their names are used."""
    module_name = _LAZY.get(name)
    if module_name is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module_name), name)
