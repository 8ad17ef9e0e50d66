"""Connection fields -> one validated ConnectionSettings, or one error that names the field and the fix."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from airflow_provider_msads.client.environments import resolve_endpoints
from airflow_provider_msads.client.errors import ConfigurationError
from airflow_provider_msads.client.settings import ConnectionSettings, parse_id

SECRETS = {"refresh": "rt-SECRET-0123456789", "dev": "DEVTOKEN-0123456789", "client": "cs-SECRET-0123456789"}


def build(login: Any = "client-id", password: Any = SECRETS["refresh"], **extra: Any) -> ConnectionSettings:
    extra.setdefault("developer_token", SECRETS["dev"])
    return ConnectionSettings.from_connection_fields(login=login, password=password, extra=extra)


def test_minimal_connection_gets_production_rest_defaults() -> None:
    s = build()
    assert (s.client_id, s.environment, s.tenant, s.transport) == (
        "client-id",
        "production",
        "common",
        "rest",
    )
    assert s.endpoints.token_url == "https://login.microsoftonline.com/common/oauth2/v2.0/token"
    assert s.endpoints.scope == "https://ads.microsoft.com/msads.manage offline_access"
    assert s.endpoints.customer_management_rest_url == (
        "https://clientcenter.api.bingads.microsoft.com/CustomerManagement/v13/"
    )
    assert not s.endpoints.is_emulated


def test_sandbox_uses_sandbox_hosts_and_scope() -> None:
    e = build(environment="Sandbox", tenant="contoso.onmicrosoft.com").endpoints
    assert e.scope == "https://si.ads.microsoft.com/msads.manage offline_access"
    assert e.customer_management_soap_url == (
        "https://clientcenter.api.sandbox.bingads.microsoft.com/Api/CustomerManagement/v13/CustomerManagementService.svc"
    )
    assert e.token_url == "https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/token"


def test_overrides_keep_the_service_paths() -> None:
    e = build(auth_base_url="http://127.0.0.1:8765/", api_base_url="http://localhost:9000").endpoints
    assert e.token_url == "http://127.0.0.1:8765/common/oauth2/v2.0/token"
    assert e.authorize_url == "http://127.0.0.1:8765/common/oauth2/v2.0/authorize"
    assert e.customer_management_rest_url == "http://localhost:9000/CustomerManagement/v13/"
    assert e.is_emulated


def test_ids_accept_ints_and_digit_strings_and_legacy_prefixed_extras() -> None:
    s = build(customer_id=123, extra__msads__account_id=" 456 ", transport="SOAP")
    assert (s.customer_id, s.account_id, s.transport) == (123, 456, "soap")


@pytest.mark.parametrize(
    ("scope", "expected"),
    [
        ("ads.manage", "https://ads.microsoft.com/ads.manage offline_access"),
        ("https://ads.microsoft.com/msads.manage", "https://ads.microsoft.com/msads.manage offline_access"),
        ("https://x/y offline_access", "https://x/y offline_access"),
    ],
)
def test_scope_override_is_normalised(scope: str, expected: str) -> None:
    assert build(scope=scope).endpoints.scope == expected


@pytest.mark.parametrize(
    ("kwargs", "field", "fix_fragment"),
    [
        ({"login": None}, "login (Client ID)", "Application (client) ID"),
        ({"login": "  "}, "login (Client ID)", "Application (client) ID"),
        ({"password": None}, "password (Refresh token)", "msads-auth"),
        ({"developer_token": ""}, "developer_token", "Developer Portal"),
        ({"developer_token": 12345}, "developer_token", "Developer Portal"),
        ({"environment": "staging"}, "environment", "'production' or 'sandbox'"),
        ({"transport": "grpc"}, "transport", "'rest' (default) or 'soap'"),
        ({"customer_id": "F1234567"}, "customer_id", "digits only"),
        ({"customer_id": "-5"}, "customer_id", "digits only"),
        ({"customer_id": "12²"}, "customer_id", "digits only"),
        ({"customer_id": "1" * 25}, "customer_id", "digits only"),
        ({"customer_id": 0}, "customer_id", "positive 64-bit"),
        ({"account_id": str(2**63)}, "account_id", "positive 64-bit"),
        ({"account_id": True}, "account_id", "numeric id"),
        ({"account_id": [1]}, "account_id", "numeric id"),
        ({"tenant": "bad tenant/../x"}, "tenant", "GUID"),
        ({"api_base_url": "http://clientcenter.example.com"}, "api_base_url", "use https"),
        ({"auth_base_url": "http://10.0.0.5:8080"}, "auth_base_url", "use https"),
        ({"api_base_url": "ftp://127.0.0.1"}, "api_base_url", "absolute http(s) URL"),
        ({"api_base_url": "https://proxy/?x=1"}, "api_base_url", "scheme, host, port"),
        ({"client_secret": 42}, "client_secret", "JSON string"),
    ],
)
def test_bad_input_names_the_field_and_the_fix(kwargs: dict[str, Any], field: str, fix_fragment: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        build(**kwargs)
    assert info.value.field == field
    assert str(info.value).startswith(f"{field}: ")
    assert fix_fragment in str(info.value)


def test_extras_must_be_an_object() -> None:
    with pytest.raises(ConfigurationError, match="extra: must be a JSON object"):
        ConnectionSettings.from_connection_fields(login="a", password="b", extra=["x"])  # type: ignore[arg-type]


def test_secrets_stay_out_of_repr_and_errors() -> None:
    s = build(client_secret=SECRETS["client"])
    text = repr(s) + str(s)
    for secret in SECRETS.values():
        assert secret not in text
    assert set(s.secrets) == set(SECRETS.values())
    with pytest.raises(ConfigurationError) as info:
        build(client_secret=SECRETS["client"], environment="nope")
    assert not any(secret in str(info.value) for secret in SECRETS.values())


def test_https_overrides_on_public_hosts_are_allowed() -> None:
    assert resolve_endpoints("production", api_base_url="https://proxy.example.com/").token_url.startswith(
        "https://login.microsoftonline.com/"
    )


@settings(max_examples=200, deadline=None)
@given(st.one_of(st.none(), st.integers(), st.text(max_size=30), st.booleans(), st.floats(allow_nan=True)))
def test_parse_id_returns_a_valid_id_or_raises_configuration_error(value: Any) -> None:
    try:
        result = parse_id(value, "customer_id")
    except ConfigurationError as err:
        assert err.field == "customer_id"
    else:
        assert result is None or 0 < result < 2**63


@pytest.mark.parametrize("scope", ["msads.manage", "ads.manage", "bingads.manage"])
def test_a_sandbox_connection_with_a_custom_scope_keeps_the_sandbox_resource(scope: str) -> None:
    # Regression (issue 15): a short or legacy scope name was completed with the production host.
    e = build(environment="sandbox", developer_token="BBD37VB98", scope=scope).endpoints
    assert e.scope == f"https://si.ads.microsoft.com/{scope} offline_access"
    assert build(scope=scope).endpoints.scope == f"https://ads.microsoft.com/{scope} offline_access"
    full = "https://si.ads.microsoft.com/msads.manage offline_access"
    assert build(environment="sandbox", developer_token="BBD37VB98", scope=full).endpoints.scope == full


@pytest.mark.parametrize(
    ("field", "kwargs"),
    [
        ("developer_token", {"developer_token": "DEVTOKEN\n0123456789"}),
        ("developer_token", {"developer_token": "DEVTOKEN\x000123456789"}),
        ("password (Refresh token)", {"password": "rt-SECRET\r\n0123456789"}),
        ("login (Client ID)", {"login": "client\tid"}),
        ("client_secret", {"client_secret": "cs-SECRET\x1b[2J0123456789"}),
        ("tenant", {"tenant": "contoso\n.onmicrosoft.com"}),
    ],
)
def test_control_characters_in_a_credential_are_refused_unquoted(field: str, kwargs: dict[str, Any]) -> None:
    with pytest.raises(ConfigurationError) as caught:
        build(**kwargs)
    assert caught.value.field == field
    text = str(caught.value) + repr(caught.value)
    for value in kwargs.values():
        for part in value.split():
            assert part not in text or len(part) < 6, part


def test_the_sandbox_developer_token_needs_the_sandbox_environment() -> None:
    with pytest.raises(ConfigurationError) as caught:
        build(developer_token="BBD37VB98")
    assert caught.value.field == "developer_token"
    assert "sandbox" in str(caught.value) and "'production'" in str(caught.value)
    assert build(developer_token="BBD37VB98", environment="sandbox").environment == "sandbox"
