"""Provider metadata Airflow reads through the ``apache_airflow_provider`` entry point.

This module is imported by Airflow's ProvidersManager on every start: keep it free of imports.
It is also the single source of the connection form: Airflow 3.2+ reads ``conn-fields`` and
``ui-field-behaviour`` from here; the hook builds its legacy (Airflow 3.1) form from the same data.
"""

from __future__ import annotations

from typing import Any

CONNECTION_TYPE = "msads"
HOOK_NAME = "Microsoft Advertising"
HOOK_CLASS_NAME = "airflow_provider_msads.hooks.msads.MicrosoftAdsHook"

_SECRET: dict[str, Any] = {"type": ["string", "null"], "format": "password"}
# The 3.3 React form shows a field's ``examples`` as suggestions; ui-field-behaviour placeholders
# reach only the standard fields there.
_EMULATOR_URL: dict[str, Any] = {"type": ["string", "null"], "examples": ["http://127.0.0.1:8765"]}

CONN_FIELDS: dict[str, dict[str, Any]] = {
    "developer_token": {
        "label": "Developer token",
        "description": "From the Microsoft Advertising Developer Portal (developers.ads.microsoft.com). "
        "Sandbox uses the universal token BBD37VB98.",
        "schema": _SECRET,
    },
    "client_secret": {
        "label": "Client secret",
        "description": "Secret of your Entra ID app registration (platform 'Web'). Needed on servers: a "
        "refresh token from a public (desktop) client is bound to the device that created it.",
        "schema": _SECRET,
    },
    "environment": {
        "label": "Environment",
        "description": "production or sandbox. Sandbox has its own accounts, hosts, scope and developer token.",
        "schema": {"type": ["string", "null"], "enum": ["production", "sandbox"], "default": "production"},
    },
    "tenant": {
        "label": "Tenant",
        "description": "Entra ID tenant for the token endpoint: 'common' (default), 'consumers', "
        "your tenant GUID or domain.",
        "schema": {"type": ["string", "null"], "examples": ["common", "organizations", "consumers"]},
    },
    "customer_id": {
        "label": "Default customer ID",
        "description": "Optional. Numeric CustomerId sent with account-scoped calls; discovery does not need it.",
        "schema": {"type": ["string", "null"], "pattern": "^[0-9]*$"},
    },
    "account_id": {
        "label": "Default account ID",
        "description": "Optional. Numeric AccountId (not the account number like 'F12345') sent as "
        "CustomerAccountId.",
        "schema": {"type": ["string", "null"], "pattern": "^[0-9]*$"},
    },
    "transport": {
        "label": "API transport",
        "description": "rest (default) or soap. The SOAP API is switched off on 2027-01-31.",
        "schema": {"type": ["string", "null"], "enum": ["rest", "soap"], "default": "rest"},
    },
    "scope": {
        "label": "OAuth scope override",
        "description": "Leave empty. Only for tokens consented with a legacy scope such as ads.manage.",
        "schema": {
            "type": ["string", "null"],
            "examples": [
                "https://ads.microsoft.com/msads.manage offline_access",
                "https://ads.microsoft.com/ads.manage offline_access",
            ],
        },
    },
    "auth_base_url": {
        "label": "Identity platform URL override",
        "description": "Leave empty for Microsoft. Replaces https://login.microsoftonline.com (e.g. the bundled "
        "emulator). Must be https unless it points at a loopback address.",
        "schema": _EMULATOR_URL,
    },
    "api_base_url": {
        "label": "API URL override",
        "description": "Leave empty for Microsoft. Replaces every Microsoft Advertising service host (emulator "
        "or proxy). Must be https unless it points at a loopback address.",
        "schema": _EMULATOR_URL,
    },
}

UI_FIELD_BEHAVIOUR: dict[str, Any] = {
    "hidden-fields": ["host", "port", "schema"],
    "relabeling": {"login": "Client ID", "password": "Refresh token"},
    "placeholders": {
        "login": "00000000-0000-0000-0000-000000000000 (Application (client) ID)",
        "password": "M.C5... (run `msads-auth` to obtain it)",
        "developer_token": "e.g. 1A2B3C4D5E6F7G8H",
        "client_secret": "client secret value (not its ID)",
        "environment": "production",
        "tenant": "common",
        "customer_id": "e.g. 123456789",
        "account_id": "e.g. 987654321",
        "transport": "rest",
        "scope": "https://ads.microsoft.com/msads.manage offline_access",
        "auth_base_url": "http://127.0.0.1:8765 (emulator)",
        "api_base_url": "http://127.0.0.1:8765 (emulator)",
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
