"""Provider metadata Airflow reads through the ``apache_airflow_provider`` entry point.

This module is imported by Airflow's ProvidersManager on every start: it imports only the field table
(:mod:`airflow_provider_msads.client.connection_fields`, itself import-free). Airflow 3.2+ reads the
connection form (``conn-fields``, ``ui-field-behaviour``) from here; the hook builds its legacy (Airflow
3.1) form from the same table.
"""

from __future__ import annotations

from typing import Any

from airflow_provider_msads.client.connection_fields import CONNECTION_TYPE, FIELDS

__all__ = [
    "CONNECTION_TYPE",
    "CONN_FIELDS",
    "HOOK_CLASS_NAME",
    "HOOK_NAME",
    "UI_FIELD_BEHAVIOUR",
    "get_provider_info",
]

HOOK_NAME = "Microsoft Advertising"
HOOK_CLASS_NAME = "airflow_provider_msads.hooks.msads.MicrosoftAdsHook"

#: provider-info ``conn-fields``: one entry per row of the field table.
CONN_FIELDS: dict[str, dict[str, Any]] = {
    f.name: {"label": f.label, "description": f.description, "schema": f.json_schema()} for f in FIELDS
}

UI_FIELD_BEHAVIOUR: dict[str, Any] = {
    "hidden-fields": ["host", "port", "schema"],
    "relabeling": {"login": "Client ID", "password": "Refresh token"},
    "placeholders": {
        "login": "00000000-0000-0000-0000-000000000000 (Application (client) ID)",
        "password": "M.C5... (run `msads-auth` to obtain it)",
        **{f.name: f.placeholder for f in FIELDS if f.placeholder},
    },
}


def get_provider_info() -> dict[str, Any]:
    """Return the provider description validated by Airflow's ``provider_info.schema.json``."""
    from airflow_provider_msads import __version__

    return {
        "package-name": "airflow-provider-msads",
        "name": "Microsoft Advertising",
        "description": "Microsoft Advertising API (Bing Ads): OAuth, account discovery, performance reports, "
        "warehouse loads.",
        "versions": [__version__],
        "integrations": [
            {
                "integration-name": "Microsoft Advertising",
                "external-doc-url": "https://learn.microsoft.com/advertising/guides/",
                "tags": ["service"],
            }
        ],
        "hooks": [
            {
                "integration-name": "Microsoft Advertising",
                "python-modules": ["airflow_provider_msads.hooks.msads"],
            }
        ],
        "operators": [
            {
                "integration-name": "Microsoft Advertising",
                "python-modules": [
                    "airflow_provider_msads.operators.accounts",
                    "airflow_provider_msads.operators.reports",
                ],
            }
        ],
        "triggers": [
            {
                "integration-name": "Microsoft Advertising",
                "python-modules": ["airflow_provider_msads.triggers.reports"],
            }
        ],
        "connection-types": [
            {
                "connection-type": CONNECTION_TYPE,
                "hook-class-name": HOOK_CLASS_NAME,
                "hook-name": HOOK_NAME,
                "conn-fields": CONN_FIELDS,
                "ui-field-behaviour": UI_FIELD_BEHAVIOUR,
            }
        ],
    }
