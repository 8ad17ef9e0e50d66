"""Every URL, host and scope of the Microsoft Advertising API, in one table.

Nothing else in the package spells a Microsoft host name: callers resolve an :class:`Endpoints`
from an environment name plus optional overrides (the emulator, a proxy).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlsplit

from airflow_provider_msads.client.errors import ConfigurationError

EnvironmentName = Literal["production", "sandbox"]

DEFAULT_TENANT = "common"
AUTH_BASE_URL = "https://login.microsoftonline.com"
TOKEN_PATH = "/{tenant}/oauth2/v2.0/token"  # noqa: S105 (a URL path, not a secret)
AUTHORIZE_PATH = "/{tenant}/oauth2/v2.0/authorize"
CUSTOMER_MANAGEMENT_REST_PATH = "/CustomerManagement/v13/"
CUSTOMER_MANAGEMENT_SOAP_PATH = "/Api/CustomerManagement/v13/CustomerManagementService.svc"
REPORTING_REST_PATH = "/Reporting/v13/"
SANDBOX_DEVELOPER_TOKEN = "BBD37VB98"  # noqa: S105 (Microsoft's public universal sandbox token)
SOAP_SHUTDOWN_DATE = "2027-01-31"
LEGACY_SCOPES = ("ads.manage", "bingads.manage")


@dataclass(frozen=True, slots=True)
class Environment:
    """Static facts of one Microsoft Advertising environment."""

    name: EnvironmentName
    scope: str
    customer_management_host: str
    web_ui_host: str
    reporting_host: str

    @property
    def scope_resource(self) -> str:
        """The resource part of the scope (``https://ads.microsoft.com`` / ``https://si.ads.microsoft.com``)."""
        return self.scope.split()[0].rsplit("/", 1)[0]


PRODUCTION = Environment(
    name="production",
    scope="https://ads.microsoft.com/msads.manage offline_access",
    customer_management_host="https://clientcenter.api.bingads.microsoft.com",
    web_ui_host="https://ui.ads.microsoft.com",
    reporting_host="https://reporting.api.bingads.microsoft.com",
)
SANDBOX = Environment(
    name="sandbox",
    scope="https://si.ads.microsoft.com/msads.manage offline_access",
    customer_management_host="https://clientcenter.api.sandbox.bingads.microsoft.com",
    web_ui_host="https://ui.si.ads.microsoft.com",
    reporting_host="https://reporting.api.sandbox.bingads.microsoft.com",
)
ENVIRONMENTS: dict[str, Environment] = {env.name: env for env in (PRODUCTION, SANDBOX)}


@dataclass(frozen=True, slots=True)
class Endpoints:
    """Resolved URLs for one connection: what the auth layer and the transports call."""

    environment: Environment
    tenant: str
    scope: str
    token_url: str
    authorize_url: str
    customer_management_rest_url: str  # ends with "/": join operation paths such as "User/Query"
    customer_management_soap_url: str
    is_emulated: bool  # True when an override points at a non-Microsoft host (emulator, proxy)
    reporting_rest_url: str  # ends with "/": join "GenerateReport/Submit" / "GenerateReport/Poll"


def get_environment(name: str) -> Environment:
    """Look an environment up by name, with an error that lists the valid ones."""
    try:
        return ENVIRONMENTS[name.strip().lower()]
    except KeyError:
        raise ConfigurationError(
            "environment",
            f"unknown environment {name!r}",
            "set it to 'production' or 'sandbox'",
        ) from None


def check_developer_token(developer_token: str, environment: Environment) -> None:
    """Refuse the universal sandbox developer token outside sandbox, before any call (it fails with 105)."""
    if developer_token == SANDBOX_DEVELOPER_TOKEN and environment.name != "sandbox":
        raise ConfigurationError(
            "developer_token",
            f"is the universal sandbox token, but environment is {environment.name!r}",
            "set environment to 'sandbox' (with a sandbox user's refresh token), or use your production "
            "developer token from the Developer Portal",
        )


def scope_for(environment: Environment, scope: str | None) -> str:
    """The OAuth scope to request: the environment's own, or an override.

    A bare or legacy scope name (``msads.manage``, ``ads.manage``, ``bingads.manage``) is completed with
    the environment's resource host (sandbox: ``si.ads.microsoft.com``); ``offline_access`` is always
    asked for, so a refresh token comes back.
    """
    if scope is None or not scope.strip():
        return environment.scope
    scope = " ".join(scope.split())
    if scope in LEGACY_SCOPES or scope == "msads.manage":
        scope = f"{environment.scope_resource}/{scope}"
    if "offline_access" not in scope.split():
        scope += " offline_access"
    return scope


def check_override_url(field: str, url: str) -> str:
    """Validate an endpoint override: https, or plain http only on a loopback host.

    Returns the URL without a trailing '/'.
    """
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigurationError(
            field,
            f"{url!r} is not an absolute http(s) URL",
            "use a value such as 'https://proxy.example.com'",
        )
    if parts.query or parts.fragment:
        raise ConfigurationError(
            field, "must not contain a query or fragment", "give only scheme, host, port"
        )
    if parts.scheme == "http" and not _is_loopback(parts.hostname):
        raise ConfigurationError(
            field,
            f"plain http is only allowed for loopback hosts, not {parts.hostname!r}",
            "use https, or point it at 127.0.0.1/localhost (e.g. the bundled emulator)",
        )
    return url.strip().rstrip("/")


def _is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def resolve_endpoints(
    environment: str | Environment = "production",
    *,
    tenant: str = DEFAULT_TENANT,
    scope: str | None = None,
    auth_base_url: str | None = None,
    api_base_url: str | None = None,
) -> Endpoints:
    """Build the endpoint set for an environment, applying optional overrides.

    ``auth_base_url`` replaces ``https://login.microsoftonline.com`` (the token path is kept);
    ``api_base_url`` replaces every service host (service paths are kept).
    """
    env = environment if isinstance(environment, Environment) else get_environment(environment)
    auth_base = check_override_url("auth_base_url", auth_base_url) if auth_base_url else AUTH_BASE_URL
    api_base = (
        check_override_url("api_base_url", api_base_url) if api_base_url else env.customer_management_host
    )
    return Endpoints(
        environment=env,
        tenant=tenant,
        scope=scope_for(env, scope),
        token_url=auth_base + TOKEN_PATH.format(tenant=tenant),
        authorize_url=auth_base + AUTHORIZE_PATH.format(tenant=tenant),
        customer_management_rest_url=api_base + CUSTOMER_MANAGEMENT_REST_PATH,
        customer_management_soap_url=api_base + CUSTOMER_MANAGEMENT_SOAP_PATH,
        is_emulated=bool(auth_base_url or api_base_url),
        reporting_rest_url=(api_base if api_base_url else env.reporting_host) + REPORTING_REST_PATH,
    )
