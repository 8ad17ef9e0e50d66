"""Connection settings: one typed, validated object built from an Airflow connection's fields.

Airflow-free on purpose: the hook passes ``login``, ``password`` and the extras dict, and gets back
either a :class:`ConnectionSettings` or a :class:`ConfigurationError` naming the field and the fix.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from airflow_provider_msads.client.connection_fields import EXTRA_NAMES, SECRET_EXTRAS, extra_name
from airflow_provider_msads.client.environments import (
    DEFAULT_TENANT,
    LEGACY_SCOPES,
    Endpoints,
    check_override_url,
    get_environment,
    resolve_endpoints,
)
from airflow_provider_msads.client.errors import ConfigurationError

TransportName = Literal["rest", "soap"]

#: The extras this class reads: the connection field table's names (see connection_fields.FIELDS).
KNOWN_EXTRAS = EXTRA_NAMES
_TENANT_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.\-]{0,253}$")
_MAX_ID = 2**63 - 1
# ASCII only: str.isdigit() also accepts superscripts and other scripts' digits.
_DIGITS_RE = re.compile(r"^[0-9]{1,19}$")


@dataclass(frozen=True, slots=True)
class ConnectionSettings:
    """Everything needed to talk to Microsoft Advertising for one connection.

    Secrets (``refresh_token``, ``client_secret``, ``developer_token``) are excluded from ``repr``.
    """

    client_id: str
    refresh_token: str = field(repr=False)
    developer_token: str = field(repr=False)
    client_secret: str | None = field(default=None, repr=False)
    environment: Literal["production", "sandbox"] = "production"
    tenant: str = DEFAULT_TENANT
    customer_id: int | None = None
    account_id: int | None = None
    scope: str | None = None
    transport: TransportName = "rest"
    auth_base_url: str | None = None
    api_base_url: str | None = None

    @property
    def endpoints(self) -> Endpoints:
        return resolve_endpoints(
            self.environment,
            tenant=self.tenant,
            scope=self.scope,
            auth_base_url=self.auth_base_url,
            api_base_url=self.api_base_url,
        )

    @property
    def secrets(self) -> tuple[str, ...]:
        """The secret values of this connection, for log masking: the refresh token and the secret extras."""
        values = (self.refresh_token, *(getattr(self, name) for name in SECRET_EXTRAS))
        return tuple(s for s in values if s)

    @classmethod
    def from_connection_fields(
        cls, *, login: str | None, password: str | None, extra: Mapping[str, Any] | None
    ) -> ConnectionSettings:
        """Validate raw connection fields (login = client ID, password = refresh token, extras)."""
        extras = _normalise_extras(extra or {})
        client_id = _text(login, "login (Client ID)", "set it to the Application (client) ID of your app")
        refresh_token = _text(
            password,
            "password (Refresh token)",
            "run `msads-auth` to obtain one, then store it as the connection password",
        )
        developer_token = _text(
            extras.get("developer_token"),
            "developer_token",
            "add your developer token from the Microsoft Advertising Developer Portal "
            "(sandbox: the universal token BBD37VB98)",
        )
        environment = get_environment(
            _text(extras.get("environment") or "production", "environment", "use production or sandbox")
        ).name
        tenant = _text(extras.get("tenant") or DEFAULT_TENANT, "tenant", "use 'common' or your tenant id")
        if not _TENANT_RE.match(tenant):
            raise ConfigurationError(
                "tenant", f"{tenant!r} is not a tenant id or domain", "use 'common', a GUID or a domain name"
            )
        transport = _text(extras.get("transport") or "rest", "transport", "use rest or soap").lower()
        if transport not in ("rest", "soap"):
            raise ConfigurationError(
                "transport", f"unknown transport {transport!r}", "use 'rest' (default) or 'soap'"
            )
        scope = _optional_text(extras.get("scope"), "scope")
        if scope is not None:
            scope = _normalise_scope(scope)
        return cls(
            client_id=client_id,
            refresh_token=refresh_token,
            developer_token=developer_token,
            client_secret=_optional_text(extras.get("client_secret"), "client_secret"),
            environment=environment,
            tenant=tenant,
            customer_id=parse_id(extras.get("customer_id"), "customer_id"),
            account_id=parse_id(extras.get("account_id"), "account_id"),
            scope=scope,
            transport=transport,  # type: ignore[arg-type]
            auth_base_url=_optional_url(extras.get("auth_base_url"), "auth_base_url"),
            api_base_url=_optional_url(extras.get("api_base_url"), "api_base_url"),
        )


def parse_id(value: Any, field_name: str) -> int | None:
    """Parse a Microsoft Advertising 64-bit id given as int or digit string; empty means unset."""
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise ConfigurationError(
            field_name,
            f"expected a number, got {type(value).__name__}",
            "write the numeric id, e.g. 123456789",
        )
    text = str(value).strip()
    if not _DIGITS_RE.match(text):
        raise ConfigurationError(
            field_name,
            f"{text!r} is not a numeric id",
            "write digits only, e.g. 123456789 (no dashes, no name)",
        )
    number = int(text)
    if number <= 0 or number > _MAX_ID:
        raise ConfigurationError(field_name, f"{text} is out of range", "ids are positive 64-bit integers")
    return number


def _normalise_extras(extra: Mapping[str, Any]) -> dict[str, Any]:
    if not isinstance(extra, Mapping):
        raise ConfigurationError(
            "extra", "must be a JSON object", 'write extras as {"developer_token": "..."}'
        )
    out: dict[str, Any] = {}
    for key, value in extra.items():
        name = extra_name(key)
        if name is not None and value not in (None, ""):
            out[name] = value
    return out


def _text(value: Any, field_name: str, fix: str) -> str:
    if value is None or (isinstance(value, str) and not value.strip()):
        raise ConfigurationError(field_name, "is missing", fix)
    if not isinstance(value, str):
        raise ConfigurationError(field_name, f"expected text, got {type(value).__name__}", fix)
    return value.strip()


def _optional_text(value: Any, field_name: str) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise ConfigurationError(
            field_name, f"expected text, got {type(value).__name__}", "write it as a JSON string"
        )
    return value.strip() or None


def _optional_url(value: Any, field_name: str) -> str | None:
    text = _optional_text(value, field_name)
    return check_override_url(field_name, text) if text else None


def _normalise_scope(scope: str) -> str:
    """Accept a legacy scope name ('ads.manage') or a full scope string; always ask for offline_access."""
    scope = " ".join(scope.split())
    if scope in LEGACY_SCOPES or scope == "msads.manage":
        scope = f"https://ads.microsoft.com/{scope}"
    if "offline_access" not in scope.split():
        scope += " offline_access"
    return scope
