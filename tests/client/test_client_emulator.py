"""The client against the bundled emulator over real HTTP on 127.0.0.1: exact account sets, every
fault row of the issue for both transports, and REST == SOAP for the same data (property test)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from msads_client_fakes import FAST_RETRY, Sleeps

from airflow_provider_msads.client.auth import RefreshTokenAuth
from airflow_provider_msads.client.client import MicrosoftAdsClient
from airflow_provider_msads.client.errors import (
    ApiAuthenticationError,
    ApiError,
    ConfigurationError,
    NetworkError,
    ThrottledError,
    TokenExpiredError,
    TransientApiError,
)
from airflow_provider_msads.client.retry import RetryPolicy
from airflow_provider_msads.client.settings import ConnectionSettings
from airflow_provider_msads.testing import DEMO_CLIENT_ID, DEMO_DEVELOPER_TOKEN, DEMO_REFRESH_TOKEN, Emulator

EmulatorFactory = Callable[..., Emulator]
ClientFactory = Callable[..., MicrosoftAdsClient]
SECRETS = (DEMO_DEVELOPER_TOKEN, DEMO_REFRESH_TOKEN)


def settings_for(emu: Emulator, transport: str) -> ConnectionSettings:
    extra = {**emu.connection_extra(), "transport": transport}
    return ConnectionSettings.from_connection_fields(
        login=DEMO_CLIENT_ID, password=DEMO_REFRESH_TOKEN, extra=extra
    )


@pytest.fixture
def connect(tmp_path: Any, sleeps: Sleeps) -> Iterator[ClientFactory]:
    """Clients built like the hook builds them (RefreshTokenAuth on the same httpx.Client)."""
    made: list[tuple[MicrosoftAdsClient, httpx.Client]] = []

    def build(emu: Emulator, transport: str, **kwargs: Any) -> MicrosoftAdsClient:
        conn = settings_for(emu, transport)
        http = httpx.Client(timeout=kwargs.pop("http_timeout", 10.0))
        auth = RefreshTokenAuth.from_settings(conn, http=http)
        kwargs.setdefault("retry", FAST_RETRY)
        kwargs.setdefault("sleep", sleeps)
        client = MicrosoftAdsClient(
            auth, conn.developer_token, conn.endpoints, conn.transport, http=http, **kwargs
        )
        made.append((client, http))
        return client

    yield build
    for client, http in made:
        client.close()
        http.close()


def assert_no_secrets(exc: BaseException, client: MicrosoftAdsClient) -> None:
    token = client._runner._auth.get_access_token()  # the live access token must not leak either
    for text in (str(exc), repr(exc)):
        for secret in (*SECRETS, token):
            assert secret not in text


# -- exact results ---------------------------------------------------------------------------------


def test_discovery_returns_exactly_the_reachable_accounts(
    msads_emulator: Emulator, connect: ClientFactory, transport_name: str
) -> None:
    client = connect(msads_emulator, transport_name)
    got = [a.id for a in client.discover_accounts(page_size=7)]
    assert got == list(msads_emulator.expected_account_ids)
    assert msads_emulator.counters["GetUser"] == 1
    assert msads_emulator.counters["SearchAccounts"] == len(got) // 7 + 1


def test_from_settings_builds_a_working_client(msads_emulator: Emulator, transport_name: str) -> None:
    with MicrosoftAdsClient.from_settings(settings_for(msads_emulator, transport_name)) as client:
        info = client.get_user()
        assert info.user.id == msads_emulator.demo_user_id and info.customer_roles
        account = client.get_account(msads_emulator.expected_account_ids[0])
        assert account.id == msads_emulator.expected_account_ids[0]
        assert client.get_customer(account.parent_customer_id or 0).id == account.parent_customer_id
        http = client._http
    assert http.is_closed  # from_settings created it, so the client closed it


def test_ten_thousand_accounts_stream(
    msads_emulator_factory: EmulatorFactory, connect: ClientFactory
) -> None:
    emu = msads_emulator_factory(accounts=10_000, seed=1)
    client = connect(emu, "rest")
    iterator = client.discover_accounts()
    first = next(iterator)
    assert emu.counters["SearchAccounts"] == 1  # one page fetched, not all ten
    ids = [first.id, *(a.id for a in iterator)]
    assert ids == list(emu.expected_account_ids) and len(ids) == 10_000
    assert client.stats.pages == 11


# -- fault rows ------------------------------------------------------------------------------------

RETRIED_ROWS: list[tuple[str, dict[str, Any]]] = [
    ("http-503-twice", {"status": 503, "times": 2}),
    ("http-500", {"status": 500}),
    ("http-429-retry-after", {"status": 429, "retry_after": 1}),
    ("code-0", {"error_code": 0}),
    ("code-833", {"error_code": 833}),
    ("code-2208", {"error_code": 2208}),
    ("code-117", {"error_code": 117}),
    ("code-109-refresh-once", {"error_code": 109}),
    ("soap-fault-on-200", {"soap_fault_on_200": True}),
    ("reset", {"kind": "reset"}),
    ("truncate", {"kind": "truncate"}),
    ("html-page", {"kind": "html"}),
    ("malformed-body", {"kind": "malformed"}),
]


@pytest.mark.parametrize(("row", "fault"), RETRIED_ROWS, ids=[r for r, _ in RETRIED_ROWS])
def test_recoverable_faults_mid_discovery_lose_and_duplicate_nothing(
    msads_emulator: Emulator,
    connect: ClientFactory,
    sleeps: Sleeps,
    transport_name: str,
    row: str,
    fault: dict[str, Any],
) -> None:
    emu = msads_emulator
    emu.faults.inject("SearchAccounts", after=1, **fault)  # the second page fails first
    client = connect(emu, transport_name)
    got = [a.id for a in client.discover_accounts(page_size=10)]
    assert got == list(emu.expected_account_ids)
    assert emu.faults.pending == []  # the fault really fired
    pages = len(got) // 10 + 1
    assert emu.counters["SearchAccounts"] == pages + fault.get("times", 1)
    if row == "code-109-refresh-once":
        assert client.stats.token_refreshes == 1 and emu.grant_counts["refresh_token"] == 2
    else:
        assert client.stats.retries == fault.get("times", 1)
    if row == "http-429-retry-after":
        assert sleeps == [1.0]


def test_117_waits_a_minute_by_default(
    msads_emulator: Emulator, connect: ClientFactory, sleeps: Sleeps
) -> None:
    msads_emulator.faults.inject("GetUser", error_code=117)
    client = connect(msads_emulator, "soap", retry=RetryPolicy())
    client.get_user()
    assert sleeps and sleeps[0] >= 60.0


def test_timeouts_are_retried(msads_emulator: Emulator, connect: ClientFactory, transport_name: str) -> None:
    msads_emulator.faults.inject("GetUser", kind="timeout", delay=2.0)
    client = connect(msads_emulator, transport_name, timeout=0.3)
    assert client.get_user().user.id == msads_emulator.demo_user_id
    assert client.stats.retries == 1


def test_expired_access_tokens_refresh_once(
    msads_emulator: Emulator, connect: ClientFactory, transport_name: str
) -> None:
    client = connect(msads_emulator, transport_name)
    client.get_user()
    msads_emulator.expire_access_tokens()
    assert [a.id for a in client.discover_accounts()] == list(msads_emulator.expected_account_ids)
    assert client.stats.token_refreshes == 1


TERMINAL_ROWS: list[tuple[str, dict[str, Any], type[ApiError], str]] = [
    ("code-105", {"error_code": 105}, ApiAuthenticationError, "sandbox"),
    ("code-106", {"error_code": 106}, ApiAuthenticationError, "customer/account"),
    ("http-403", {"status": 403}, ApiAuthenticationError, "developer token"),
    ("http-401", {"status": 401}, ApiAuthenticationError, "access token"),
    ("code-109-twice", {"error_code": 109, "times": 2}, TokenExpiredError, "msads-auth"),
    ("code-1102", {"error_code": 1102}, ApiError, "GetUser"),
]


@pytest.mark.parametrize(("row", "fault", "cls", "says"), TERMINAL_ROWS, ids=[r[0] for r in TERMINAL_ROWS])
def test_terminal_faults(
    msads_emulator: Emulator,
    connect: ClientFactory,
    transport_name: str,
    row: str,
    fault: dict[str, Any],
    cls: type[ApiError],
    says: str,
) -> None:
    msads_emulator.faults.inject("GetUser", **fault)
    client = connect(msads_emulator, transport_name)
    with pytest.raises(cls) as caught:
        client.get_user()
    err = caught.value
    assert says in str(err) and err.operation == "GetUser"
    assert err.tracking_id and err.tracking_id in str(err)
    assert not isinstance(err, (TransientApiError, ThrottledError))
    assert msads_emulator.counters["GetUser"] == (2 if row == "code-109-twice" else 1)
    assert_no_secrets(err, client)


def test_retries_are_bounded(msads_emulator: Emulator, connect: ClientFactory, transport_name: str) -> None:
    msads_emulator.faults.inject("SearchAccounts", status=503, times=None)
    client = connect(msads_emulator, transport_name)
    with pytest.raises(TransientApiError) as caught:
        list(client.search_accounts())
    assert msads_emulator.counters["SearchAccounts"] == FAST_RETRY.max_attempts
    assert caught.value.http_status in (503, 500)
    assert_no_secrets(caught.value, client)


def test_sandbox_developer_token_with_production_is_refused_before_any_call(
    msads_emulator: Emulator, connect: ClientFactory, transport_name: str
) -> None:
    conn = settings_for(msads_emulator, transport_name)
    http = httpx.Client()
    try:
        with pytest.raises(ConfigurationError) as caught:
            MicrosoftAdsClient(
                RefreshTokenAuth.from_settings(conn, http=http),
                "BBD37VB98",
                conn.endpoints,
                transport_name,
                http=http,
            )
    finally:
        http.close()
    assert caught.value.field == "developer_token"
    assert "sandbox" in str(caught.value) and "production" in str(caught.value)
    assert msads_emulator.request_log == []


def test_production_developer_token_against_sandbox_explains_the_mix_up(
    msads_emulator: Emulator, connect: ClientFactory, transport_name: str
) -> None:
    # A sandbox connection (sandbox scope, so a sandbox access token) given the production developer token.
    conn = dataclasses.replace(settings_for(msads_emulator, transport_name), environment="sandbox")
    http = httpx.Client()
    try:
        client = MicrosoftAdsClient(
            RefreshTokenAuth.from_settings(conn, http=http),
            conn.developer_token,
            conn.endpoints,
            transport_name,
            http=http,
        )
        with pytest.raises(ApiAuthenticationError) as caught:
            client.get_user()
    finally:
        http.close()
    assert caught.value.codes and caught.value.codes[0] in (105, 106)
    message = str(caught.value)
    assert "sandbox" in message and "production" in message
    assert message.count("HTTP 401") <= 1


def test_connection_refused_is_a_transport_error(
    connect: ClientFactory, msads_emulator_factory: EmulatorFactory
) -> None:
    emu = msads_emulator_factory(accounts=1)
    conn = settings_for(emu, "rest")
    http = httpx.Client()
    auth = RefreshTokenAuth.from_settings(conn, http=http)
    auth.get_access_token()
    emu.stop()
    client = MicrosoftAdsClient(auth, conn.developer_token, conn.endpoints, http=http, retry=FAST_RETRY)
    with pytest.raises(NetworkError):
        client.get_user()
    http.close()


# -- REST == SOAP ----------------------------------------------------------------------------------


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    seed=st.integers(min_value=0, max_value=2**16),
    accounts=st.integers(min_value=0, max_value=40),
    page_size=st.integers(min_value=3, max_value=25),
    names=st.booleans(),
)
def test_rest_and_soap_return_identical_results(
    msads_emulator_factory: EmulatorFactory, seed: int, accounts: int, page_size: int, names: bool
) -> None:
    emu = msads_emulator_factory(accounts=accounts, seed=seed)
    results = {}
    for transport in ("rest", "soap"):
        with MicrosoftAdsClient.from_settings(settings_for(emu, transport), retry=FAST_RETRY) as client:
            info = client.get_user()
            found = list(client.discover_accounts(page_size=page_size, with_customer_names=names))
            searched = list(client.search_accounts(statuses=["Active", "Pause"], page_size=page_size))
            one = client.get_account(found[0].id) if found else None
            customers = [client.get_customer(c) for c in info.customer_ids[:2]]
            results[transport] = (info, found, searched, one, customers)
    assert results["rest"] == results["soap"]
    assert [a.id for a in results["rest"][1]] == list(emu.expected_account_ids)
