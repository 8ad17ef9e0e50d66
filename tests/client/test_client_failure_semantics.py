"""What is retried and what is not, and what the messages say (issues 14, 15, 16)."""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from msads_client_fakes import FAST_RETRY, FakeAuth, FakeService, Seen, rest_payload

from airflow_provider_msads.client import errors
from airflow_provider_msads.client.auth import AuthRetryPolicy
from airflow_provider_msads.client.client import MicrosoftAdsClient
from airflow_provider_msads.client.errors import (
    ApiAuthenticationError,
    InvalidResponseError,
    NetworkError,
    ResultLimitError,
)
from airflow_provider_msads.client.faults import scrub, scrub_error_code, scrub_tracking_id

MakeClient = Callable[..., tuple[MicrosoftAdsClient, FakeAuth]]
PROXY_ECHO = "ProxyEchoedSecretValue-0123456789"


def test_transport_error_is_a_deprecated_alias_of_network_error() -> None:
    assert errors.TransportError is errors.NetworkError
    assert issubclass(errors.MalformedResponseError, NetworkError)
    assert not issubclass(InvalidResponseError, NetworkError)


def test_a_well_formed_invalid_response_is_not_retried(
    make_client: MakeClient, fake: FakeService, transport_name: str
) -> None:
    bad = [{**fake.accounts[0], "Id": "12abc"}]
    fake.inject("SearchAccounts", lambda f, s: f.ok(s, bad), times=5)
    client, _ = make_client(transport_name)
    with pytest.raises(InvalidResponseError) as caught:
        list(client.search_accounts(user_id=fake.user_id))
    assert fake.count("SearchAccounts") == 1  # was 5 attempts and up to ~15 s of backoff
    assert client.stats.retries == 0
    assert "12abc" not in str(caught.value)


def test_an_unknown_lifecycle_status_is_refused_by_the_decoder(
    make_client: MakeClient, fake: FakeService
) -> None:
    bad = [{**fake.accounts[0], "AccountLifeCycleStatus": PROXY_ECHO}]
    fake.inject("SearchAccounts", lambda f, s: f.ok(s, bad))
    client, _ = make_client("rest")
    with pytest.raises(InvalidResponseError, match=r"AccountLifeCycleStatus") as caught:
        list(client.search_accounts(user_id=fake.user_id))
    assert PROXY_ECHO not in str(caught.value)


def test_network_error_after_retries_names_the_host_and_the_attempts(
    make_client: MakeClient, fake: FakeService
) -> None:
    def refuse(f: FakeService, s: Seen) -> httpx.Response:
        raise httpx.ConnectError("[Errno 111] Connection refused")

    fake.inject("GetUser", refuse, times=FAST_RETRY.max_attempts)
    client, _ = make_client("rest")
    with pytest.raises(NetworkError) as caught:
        client.get_user()
    err = caught.value
    assert err.attempts == FAST_RETRY.max_attempts and err.host == "clientcenter.api.bingads.microsoft.com"
    assert f"host clientcenter.api.bingads.microsoft.com, {FAST_RETRY.max_attempts} attempts" in str(err)


def test_paging_is_bounded_by_max_accounts(make_client: MakeClient, fake: FakeService) -> None:
    # A server that keeps returning distinct full pages (issue 16: 3.36 million accounts after 60 s).
    def endless(f: FakeService, s: Seen) -> httpx.Response:
        index = int(s.body["PageInfo"]["Index"])
        page = [{**f.accounts[0], "Id": str(1_000_000 + index * 10 + i)} for i in range(10)]
        return httpx.Response(200, json=rest_payload("SearchAccounts", page))

    fake.inject("SearchAccounts", endless, times=100)
    client, _ = make_client("rest")
    with pytest.raises(ResultLimitError, match=r"more than 50 accounts"):
        list(client.search_accounts(user_id=fake.user_id, page_size=10, max_accounts=50))
    assert fake.count("SearchAccounts") == 6


def test_dedupe_needs_no_set_of_seen_ids(make_client: MakeClient, fake: FakeService) -> None:
    # Pages shift when an account is added while paging: the overlap is skipped by id order.
    pages = {0: fake.accounts[0:5], 1: fake.accounts[4:9], 2: fake.accounts[9:12]}

    def shifted(f: FakeService, s: Seen) -> httpx.Response:
        index = int(s.body["PageInfo"]["Index"])
        return httpx.Response(200, json=rest_payload("SearchAccounts", pages[index]))

    fake.inject("SearchAccounts", shifted, times=3)
    client, _ = make_client("rest")
    got = [a.id for a in client.discover_accounts(page_size=5)]
    assert got == sorted({a["Id"] for a in fake.accounts[0:12]})


def test_105_with_http_401_leads_with_one_cause(make_client: MakeClient, fake: FakeService) -> None:
    fake.inject("GetUser", lambda f, s: f.fault(s, 105, status=401, message="Authentication failed."))
    client, _ = make_client("rest")
    with pytest.raises(ApiAuthenticationError) as caught:
        client.get_user()
    message = str(caught.value)
    assert message.count("HTTP 401") == 1
    hint = caught.value.hint or ""
    assert hint.startswith("the access token was not accepted by the production environment (105")
    assert hint.count("msads-auth") == 1 and hint.index("mix-up") < hint.index("msads-auth")


def test_a_customer_the_user_cannot_read_is_one_short_warning(
    make_client: MakeClient, fake: FakeService, caplog: pytest.LogCaptureFixture
) -> None:
    denied = fake.accounts[0]["ParentCustomerId"]
    fake.inject(
        "GetCustomer",
        lambda f, s: f.fault(s, 106, status=403, message="User is not authorized " * 40),
        when=lambda s: f"{denied}" in str(s.body),
    )
    client, _ = make_client("rest")
    with caplog.at_level(logging.WARNING):
        accounts = list(client.discover_accounts(with_customer_names=True))
    assert any(a.customer_name is None for a in accounts)
    warnings_ = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings_ == [
        f"customer {denied}: name left blank: this user has no access to customer {denied} (error 106)"
    ]
    assert len(warnings_[0]) < 200


def test_server_fields_are_scrubbed() -> None:
    assert scrub(f"token {PROXY_ECHO}\r\nInjected: line", [PROXY_ECHO]) == "token *** Injected: line"
    assert len(scrub("x" * 5000, []) or "") <= 501
    assert scrub_tracking_id("0f3c6e2a-1b2c-4d5e-8f90-123456789abc") == "0f3c6e2a-1b2c-4d5e-8f90-123456789abc"
    assert scrub_tracking_id(f"Bearer {PROXY_ECHO}") == "(unreadable)"
    assert scrub_error_code("InvalidCredentials") == "InvalidCredentials"
    assert scrub_error_code(f"x\n{PROXY_ECHO}") == "(unreadable)"


def test_fault_fields_echoing_a_credential_never_reach_the_error(
    make_client: MakeClient, fake: FakeService, transport_name: str
) -> None:
    def echo(f: FakeService, s: Seen) -> httpx.Response:
        response = f.fault(s, 1102, status=400, message=f"bad {PROXY_ECHO}")
        if s.transport == "rest":
            body: dict[str, Any] = response.json()
            body["Errors"][0]["ErrorCode"] = f"Code {PROXY_ECHO}"
            return httpx.Response(400, json=body, headers={"TrackingId": f"{PROXY_ECHO}\n"})
        return httpx.Response(400, content=response.content, headers={"TrackingId": f"{PROXY_ECHO}\n"})

    fake.inject("GetAccount", echo)
    client, _ = make_client(transport_name, auth=FakeAuth([PROXY_ECHO, PROXY_ECHO]))
    with pytest.raises(errors.ApiError) as caught:
        client.get_account(123)
    assert PROXY_ECHO not in str(caught.value) and PROXY_ECHO not in repr(caught.value)


def test_token_retry_policy_raises_no_deprecation_warning() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)
        AuthRetryPolicy().retrying()
