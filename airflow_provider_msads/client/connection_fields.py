"""The ``msads`` connection's fields: ONE table that everything else derives from.

The Airflow connection form (provider info ``conn-fields`` / ``ui-field-behaviour`` and the legacy 3.1
widgets), the extras :class:`~.settings.ConnectionSettings` accepts, which fields are secret (masked,
password inputs) and the legacy ``extra__msads__<name>`` spelling all come from :data:`FIELDS`.
Airflow-free and import-free: provider_info.py reads it on every Airflow start.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

CONNECTION_TYPE = "msads"
#: Airflow < 2.3 (and the old FAB form) stored extras as ``extra__<conn type>__<name>``: still accepted.
LEGACY_EXTRA_PREFIX = f"extra__{CONNECTION_TYPE}__"

_EMULATOR_EXAMPLE = "http://127.0.0.1:8765"


@dataclass(frozen=True, slots=True)
class ConnectionField:
    """One extra of the connection.

    :param name: the key in the connection's extras.
    :param label: the form label.
    :param description: help text under the field.
    :param secret: masked in logs, a password input in the form, never in repr/XCom/errors.
    :param placeholder: grey hint text in the form.
    :param enum: the allowed values (a dropdown), if any.
    :param default: the value when unset.
    :param examples: suggestions the 3.3 form offers.
    :param pattern: a regular expression the form checks.
    """

    name: str
    label: str
    description: str
    secret: bool = False
    placeholder: str | None = None
    enum: tuple[str, ...] = ()
    default: str | None = None
    examples: tuple[str, ...] = ()
    pattern: str | None = None

    def json_schema(self) -> dict[str, Any]:
        """The ``schema`` of a provider-info ``conn-fields`` entry."""
        schema: dict[str, Any] = {"type": ["string", "null"]}
        if self.secret:
            schema["format"] = "password"
        if self.enum:
            schema["enum"] = list(self.enum)
        if self.default is not None:
            schema["default"] = self.default
        if self.examples:
            schema["examples"] = list(self.examples)
        if self.pattern is not None:
            schema["pattern"] = self.pattern
        return schema


FIELDS: tuple[ConnectionField, ...] = (
    ConnectionField(
        "developer_token",
        "Developer token",
        "From the Microsoft Advertising Developer Portal (developers.ads.microsoft.com). "
        "Sandbox uses the universal token BBD37VB98.",
        secret=True,
        placeholder="e.g. 1A2B3C4D5E6F7G8H",
    ),
    ConnectionField(
        "client_secret",
        "Client secret",
        "Secret of your Entra ID app registration (platform 'Web'). Needed on servers: a "
        "refresh token from a public (desktop) client is bound to the device that created it.",
        secret=True,
        placeholder="client secret value (not its ID)",
    ),
    ConnectionField(
        "environment",
        "Environment",
        "production or sandbox. Sandbox has its own accounts, hosts, scope and developer token.",
        placeholder="production",
        enum=("production", "sandbox"),
        default="production",
    ),
    ConnectionField(
        "tenant",
        "Tenant",
        "Entra ID tenant for the token endpoint: 'common' (default), 'consumers', your tenant GUID or domain.",
        placeholder="common",
        examples=("common", "organizations", "consumers"),
    ),
    ConnectionField(
        "customer_id",
        "Default customer ID",
        "Optional. Numeric CustomerId sent with account-scoped calls; discovery does not need it.",
        placeholder="e.g. 123456789",
        pattern="^[0-9]*$",
    ),
    ConnectionField(
        "account_id",
        "Default account ID",
        "Optional. Numeric AccountId (not the account number like 'F12345') sent as CustomerAccountId.",
        placeholder="e.g. 987654321",
        pattern="^[0-9]*$",
    ),
    ConnectionField(
        "transport",
        "API transport",
        "rest (default) or soap. The SOAP API is switched off on 2027-01-31.",
        placeholder="rest",
        enum=("rest", "soap"),
        default="rest",
    ),
    ConnectionField(
        "scope",
        "OAuth scope override",
        "Leave empty. Only for tokens consented with a legacy scope such as ads.manage.",
        placeholder="https://ads.microsoft.com/msads.manage offline_access",
        examples=(
            "https://ads.microsoft.com/msads.manage offline_access",
            "https://ads.microsoft.com/ads.manage offline_access",
        ),
    ),
    ConnectionField(
        "auth_base_url",
        "Identity platform URL override",
        "Leave empty for Microsoft. Replaces https://login.microsoftonline.com (e.g. the bundled "
        "emulator). Must be https unless it points at a loopback address.",
        placeholder=f"{_EMULATOR_EXAMPLE} (emulator)",
        examples=(_EMULATOR_EXAMPLE,),
    ),
    ConnectionField(
        "api_base_url",
        "API URL override",
        "Leave empty for Microsoft. Replaces every Microsoft Advertising service host (emulator "
        "or proxy). Must be https unless it points at a loopback address.",
        placeholder=f"{_EMULATOR_EXAMPLE} (emulator)",
        examples=(_EMULATOR_EXAMPLE,),
    ),
)

#: Every extra the connection understands (others are ignored).
EXTRA_NAMES: frozenset[str] = frozenset(f.name for f in FIELDS)
#: The extras that hold secrets (the refresh token, the password field, is secret too).
SECRET_EXTRAS: tuple[str, ...] = tuple(f.name for f in FIELDS if f.secret)


def extra_name(key: str) -> str | None:
    """The field name of an extras key (plain or legacy-prefixed), or None if it is not ours."""
    name = key.removeprefix(LEGACY_EXTRA_PREFIX)
    return name if name in EXTRA_NAMES else None


def extra_value(extra: Mapping[str, Any], name: str) -> Any:
    """An extra by its plain name, falling back to the legacy prefix; empty strings count as unset."""
    value = extra.get(name)
    if value is None or value == "":
        value = extra.get(LEGACY_EXTRA_PREFIX + name)
    return None if value == "" else value
