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
    Endpoints,
    check_developer_token,
    check_override_url,
    get_environment,
    resolve_endpoints,
    scope_for,
)
from airflow_provider_msads.client.errors import ConfigurationError
from airflow_provider_msads.client.ids import parse_id

TransportName = Literal["rest", "soap"]

#: The extras this class reads: the connection field table's names (see connection_fields.FIELDS).
KNOWN_EXTRAS = EXTRA_NAMES
_TENANT_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.\-]{0,253}$")
# C0 and C1 control characters (line breaks, NUL, ESC ...): never part of a credential, and they
# would split a log line or defeat the masker (httpx quotes such header values as b'...\n...').
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f-\x9f]")


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
        env = get_environment(
            _text(extras.get("environment") or "production", "environment", "use production or sandbox")
        )
        environment = env.name
        client_secret = _optional_text(extras.get("client_secret"), "client_secret")
        for value, name in (
            (client_id, "login (Client ID)"),
            (refresh_token, "password (Refresh token)"),
            (developer_token, "developer_token"),
            (client_secret, "client_secret"),
        ):
            check_secret_text(value, name)
        check_developer_token(developer_token, env)
        tenant = _text(extras.get("tenant") or DEFAULT_TENANT, "tenant", "use 'common' or your tenant id")
        if not _TENANT_RE.match(tenant):
            raise ConfigurationError(
                "tenant", "is not a tenant id or domain", "use 'common', a GUID or a domain name"
            )
        transport = _text(extras.get("transport") or "rest", "transport", "use rest or soap").lower()
        if transport not in ("rest", "soap"):
            raise ConfigurationError(
                "transport", f"unknown transport {transport!r}", "use 'rest' (default) or 'soap'"
            )
        scope = _optional_text(extras.get("scope"), "scope")
        if scope is not None:
            check_secret_text(scope, "scope")
            scope = scope_for(env, scope)
        return cls(
            client_id=client_id,
            refresh_token=refresh_token,
            developer_token=developer_token,
            client_secret=client_secret,
            environment=environment,
            tenant=tenant,
            customer_id=parse_id(extras.get("customer_id"), "customer_id"),
            account_id=parse_id(extras.get("account_id"), "account_id"),
            scope=scope,
            transport=transport,  # type: ignore[arg-type]
            auth_base_url=_optional_url(extras.get("auth_base_url"), "auth_base_url"),
            api_base_url=_optional_url(extras.get("api_base_url"), "api_base_url"),
        )


def check_secret_text(value: str | None, field_name: str) -> None:
    """Refuse control characters (a line break, NUL, ...) in a credential, without quoting it."""
    if value is not None and _CONTROL_RE.search(value):
        raise ConfigurationError(
            field_name,
            "contains a control character (e.g. a line break from copy and paste)",
            "paste the value again as one line, without spaces or line breaks inside it",
        )


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
