"""Faults -> exceptions, and the retry / token-refresh behaviour, for both transports (MockTransport)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest
from msads_client_fakes import ACCESS_TOKENS, DEVELOPER_TOKEN, FAST_RETRY, FakeAuth, FakeService, Seen, Sleeps

from airflow_provider_msads.client.client import MicrosoftAdsClient
from airflow_provider_msads.client.errors import (
    ApiAuthenticationError,
    ApiError,
    MalformedResponseError,
    MicrosoftAdsError,
    NetworkError,
    ResponseTooLargeError,
    ThrottledError,
    TokenExpiredError,
    TransientApiError,
    UnsafeXmlError,
)
from airflow_provider_msads.client.retry import RetryPolicy

MakeClient = Callable[..., tuple[MicrosoftAdsClient, FakeAuth]]
SECRETS = (*ACCESS_TOKENS, DEVELOPER_TOKEN)


def assert_no_secrets(exc: BaseException) -> None:
    for text in (str(exc), repr(exc), str(exc.args)):
        for secret in SECRETS:
            assert secret not in text


def fault(code: int, status: int = 500, **kw: Any) -> Callable[[FakeService, Seen], httpx.Response]:
    return lambda f, s: f.fault(s, code, status=status, **kw)


def raw(status: int, content: bytes, **headers: str) -> Callable[[FakeService, Seen], httpx.Response]:
    return lambda f, s: httpx.Response(status, content=content, headers=headers)


def all_ids(fake: FakeService) -> list[int]:
    return sorted(a["Id"] for a in fake.accounts)


# -- retried ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("code", [0, 833, 2208])
def test_transient_codes_are_retried_with_backoff(
    make_client: MakeClient, fake: FakeService, sleeps: Sleeps, transport_name: str, code: int
) -> None:
    fake.inject("GetUser", fault(code), times=2)
    client, _ = make_client(transport_name)
    assert client.get_user().user.id == fake.user_id
    assert fake.count("GetUser") == 3 and client.stats.retries == 2
    assert len(sleeps) == 2 and all(0 <= s <= FAST_RETRY.backoff_max for s in sleeps)


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_http_5xx_without_a_fault_body_is_retried(
    make_client: MakeClient, fake: FakeService, transport_name: str, status: int
) -> None:
    fake.inject(
        "GetCustomer", raw(status, b"<html><body>Bad gateway</body></html>", **{"Content-Type": "text/html"})
    )
    client, _ = make_client(transport_name)
    assert client.get_customer(5000001).name == "Contoso"
    assert fake.count("GetCustomer") == 2


def test_429_honours_retry_after(
    make_client: MakeClient, fake: FakeService, sleeps: Sleeps, transport_name: str
) -> None:
    fake.inject("GetUser", raw(429, b"", **{"Retry-After": "3"}))
    client, _ = make_client(transport_name)
    client.get_user()
    assert sleeps == [3.0]


def test_retry_after_is_capped(make_client: MakeClient, fake: FakeService, sleeps: Sleeps) -> None:
    fake.inject("GetUser", raw(503, b"", **{"Retry-After": "100000"}))
    client, _ = make_client("rest", retry=RetryPolicy(retry_after_cap=3.0, max_total_seconds=1e6))
    client.get_user()
    assert sleeps == [3.0]


def test_117_waits_at_least_a_minute_by_default(
    make_client: MakeClient, fake: FakeService, sleeps: Sleeps, transport_name: str
) -> None:
    fake.inject("SearchAccounts", fault(117, 400))
    fake.inject("SearchAccounts", fault(117, 400, retry_after="90"))
    client, _ = make_client(transport_name, retry=RetryPolicy())  # real defaults; sleeps are only recorded
    assert [a.id for a in client.search_accounts(user_id=fake.user_id)] == all_ids(fake)
    assert sleeps == [60.0, 90.0]


def test_117_wait_is_configurable_for_tests(
    make_client: MakeClient, fake: FakeService, sleeps: Sleeps
) -> None:
    fake.inject("GetUser", fault(117, 400))
    client, _ = make_client("rest", retry=RetryPolicy(throttle_wait=0.01))
    client.get_user()
    assert sleeps == [0.01]


def test_network_errors_are_retried(make_client: MakeClient, fake: FakeService, transport_name: str) -> None:
    def boom(f: FakeService, s: Seen) -> httpx.Response:
        raise httpx.ConnectError("connection refused")

    fake.inject("GetUser", boom, times=2)
    client, _ = make_client(transport_name)
    assert client.get_user().user.id == fake.user_id
    assert client.stats.requests == 3


@pytest.mark.parametrize(
    "body",
    [
        b'{"Accounts": [{"Id": "1"',
        b"<s:Envelope xmlns:s='http://schemas.xmlsoap.org/soap/envelope/'><s:Bo",
        b"",
    ],
    ids=["json-cut", "xml-cut", "empty"],
)
def test_truncated_or_empty_bodies_are_retried(
    make_client: MakeClient, fake: FakeService, transport_name: str, body: bytes
) -> None:
    fake.inject("SearchAccounts", raw(200, body))
    client, _ = make_client(transport_name)
    assert [a.id for a in client.search_accounts(user_id=fake.user_id)] == all_ids(fake)


def test_gives_up_after_max_attempts_with_the_last_error(
    make_client: MakeClient, fake: FakeService, transport_name: str
) -> None:
    fake.inject("GetUser", raw(502, b"<html>proxy down</html>", **{"Content-Type": "text/html"}), times=10)
    client, _ = make_client(transport_name)
    with pytest.raises(TransientApiError) as caught:
        client.get_user()
    assert fake.count("GetUser") == FAST_RETRY.max_attempts
    assert "HTML page" in str(caught.value) and caught.value.http_status == 502
    assert_no_secrets(caught.value)


def test_html_page_on_200_is_malformed(
    make_client: MakeClient, fake: FakeService, transport_name: str
) -> None:
    fake.inject("GetUser", raw(200, b"<!DOCTYPE html><html><body>Sign in</body></html>"), times=10)
    client, _ = make_client(transport_name)
    with pytest.raises(MalformedResponseError, match="HTML page"):
        client.get_user()


def test_a_wait_beyond_the_time_budget_is_not_slept(
    make_client: MakeClient, fake: FakeService, sleeps: Sleeps
) -> None:
    fake.inject("GetUser", fault(117, 400))
    client, _ = make_client("rest", retry=RetryPolicy(max_total_seconds=5.0, throttle_wait=60.0))
    with pytest.raises(ThrottledError) as caught:
        client.get_user()
    assert sleeps == [] and fake.count("GetUser") == 1
    assert caught.value.codes == (117,)


# -- token refresh ---------------------------------------------------------------------------------


@pytest.mark.parametrize("how", ["code109", "http401"])
def test_expired_token_is_refreshed_once_then_retried(
    make_client: MakeClient, fake: FakeService, transport_name: str, how: str
) -> None:
    if how == "code109":
        fake.inject("GetUser", fault(109, 401 if transport_name == "rest" else 500))
    else:
        fake.inject("GetUser", raw(401, b""))
    client, auth = make_client(transport_name)
    assert client.get_user().user.id == fake.user_id
    assert auth.invalidated == [ACCESS_TOKENS[0]]
    assert client.stats.token_refreshes == 1 and fake.count("GetUser") == 2


def test_a_second_rejection_is_raised_never_a_refresh_loop(
    make_client: MakeClient, fake: FakeService, transport_name: str
) -> None:
    fake.inject("GetUser", fault(109, 401), times=5)
    client, auth = make_client(transport_name)
    with pytest.raises(TokenExpiredError) as caught:
        client.get_user()
    assert auth.invalidated == [ACCESS_TOKENS[0]]
    assert fake.count("GetUser") == 2
    assert "msads-auth" in str(caught.value)
    assert_no_secrets(caught.value)


def test_refresh_happens_once_per_request_even_across_retries(
    make_client: MakeClient, fake: FakeService
) -> None:
    fake.inject("GetUser", fault(109, 401))
    fake.inject("GetUser", fault(0, 500))
    fake.inject("GetUser", fault(109, 401))
    client, auth = make_client("rest")
    with pytest.raises(TokenExpiredError):
        client.get_user()
    assert len(auth.invalidated) == 1 and fake.count("GetUser") == 3


# -- terminal --------------------------------------------------------------------------------------


@pytest.mark.parametrize("code", [105, 106])
def test_invalid_credentials_are_terminal_with_the_environment_hint(
    make_client: MakeClient, fake: FakeService, transport_name: str, code: int
) -> None:
    fake.inject("GetUser", fault(code, 401), times=5)
    client, auth = make_client(transport_name)
    with pytest.raises(ApiAuthenticationError) as caught:
        client.get_user()
    assert fake.count("GetUser") == 1 and auth.invalidated == []
    text = str(caught.value)
    assert caught.value.codes == (code,) and "sandbox" in text and "production" in text
    assert caught.value.tracking_id and caught.value.tracking_id in text
    assert_no_secrets(caught.value)


def test_http_403_names_developer_token_and_permissions(make_client: MakeClient, fake: FakeService) -> None:
    fake.inject("GetAccount", raw(403, b'{"Message": "Forbidden"}', TrackingId="t-403"), times=5)
    client, _ = make_client("rest")
    with pytest.raises(ApiAuthenticationError) as caught:
        client.get_account(1)
    text = str(caught.value)
    assert "developer token" in text and "customer/account" in text and "t-403" in text
    assert fake.count("GetAccount") == 1


@pytest.mark.parametrize("status", [400, 500])
def test_other_codes_are_terminal(
    make_client: MakeClient, fake: FakeService, transport_name: str, status: int
) -> None:
    client, _ = make_client(transport_name)
    fake.inject("GetAccount", fault(1102, status, message="Invalid account id"), times=5)
    with pytest.raises(ApiError) as caught:
        client.get_account(42)
    assert type(caught.value) is ApiError and caught.value.codes == (1102,)
    assert caught.value.operation == "GetAccount" and "Invalid account id" in str(caught.value)
    assert fake.count("GetAccount") == 1


def test_soap_fault_on_http_200_is_classified_like_on_500(make_client: MakeClient, fake: FakeService) -> None:
    fake.inject("GetUser", fault(2208, soap_status=200))
    fake.inject("GetUser", fault(106, soap_status=200))
    client, _ = make_client("soap")
    with pytest.raises(ApiAuthenticationError) as caught:
        client.get_user()
    assert caught.value.codes == (106,) and caught.value.http_status == 200
    assert fake.count("GetUser") == 2  # 2208 on 200 was retried, 106 on 200 was not


def test_server_echoing_a_secret_is_redacted(
    make_client: MakeClient, fake: FakeService, transport_name: str
) -> None:
    fake.inject("GetUser", fault(1102, 400, message=f"bad token {ACCESS_TOKENS[0]} for {DEVELOPER_TOKEN}"))
    client, _ = make_client(transport_name)
    with pytest.raises(ApiError) as caught:
        client.get_user()
    assert "***" in str(caught.value)
    assert_no_secrets(caught.value)


def test_client_repr_has_no_secrets(make_client: MakeClient) -> None:
    client, _ = make_client("soap")
    assert "soap" in repr(client)
    for secret in SECRETS:
        assert secret not in repr(client)


# -- hostile and oversized bodies ------------------------------------------------------------------

XXE = b"""<?xml version="1.0"?><!DOCTYPE s:Envelope [<!ENTITY x SYSTEM "file:///etc/passwd">]>
<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body>
<GetUserResponse xmlns="https://bingads.microsoft.com/Customer/v13">&x;</GetUserResponse></s:Body></s:Envelope>"""
LAUGHS = b"""<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">
<!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body>&lol3;</s:Body></s:Envelope>"""


@pytest.mark.parametrize("payload", [XXE, LAUGHS], ids=["xxe", "billion-laughs"])
def test_hostile_xml_is_refused_and_not_retried(
    make_client: MakeClient, fake: FakeService, payload: bytes
) -> None:
    fake.inject("GetUser", raw(200, payload), times=5)
    client, _ = make_client("soap")
    with pytest.raises(UnsafeXmlError) as caught:
        client.get_user()
    assert fake.count("GetUser") == 1
    assert "root:" not in str(caught.value) and "lollol" not in str(caught.value)


def test_hostile_xml_on_an_error_status_is_judged_by_the_status(
    make_client: MakeClient, fake: FakeService
) -> None:
    fake.inject("GetUser", raw(503, XXE))
    client, _ = make_client("soap")
    assert client.get_user().user.id == fake.user_id


def test_oversized_response_is_refused(
    make_client: MakeClient, fake: FakeService, transport_name: str
) -> None:
    client, _ = make_client(transport_name, max_response_bytes=2000)
    with pytest.raises(ResponseTooLargeError):
        list(client.search_accounts(user_id=fake.user_id))
    assert fake.count("SearchAccounts") == 1


def test_every_error_is_one_hierarchy() -> None:
    for cls in (ApiError, NetworkError, MalformedResponseError, UnsafeXmlError, TokenExpiredError):
        assert issubclass(cls, MicrosoftAdsError)


# -- paging under faults ---------------------------------------------------------------------------


def test_paging_resumes_at_the_failed_page(
    make_client: MakeClient, fake: FakeService, transport_name: str
) -> None:
    on_page_2: Callable[[Seen], bool] = lambda s: s.page_index == 2  # noqa: E731
    fake.inject("SearchAccounts", fault(0, 503), times=2, when=on_page_2)
    fake.inject("SearchAccounts", fault(109, 401), when=lambda s: s.page_index == 3)
    client, auth = make_client(transport_name)
    ids = [a.id for a in client.search_accounts(user_id=fake.user_id, page_size=5)]
    assert ids == all_ids(fake)  # nothing lost, nothing twice
    pages = [s.page_index for s in fake.seen if s.operation == "SearchAccounts"]
    assert pages == [0, 1, 2, 2, 2, 3, 3, 4, 5]
    assert auth.invalidated == [ACCESS_TOKENS[0]]


def test_start_page_resumes_a_failed_search(make_client: MakeClient, fake: FakeService) -> None:
    fake.inject("SearchAccounts", fault(1102, 400), when=lambda s: s.page_index == 3)
    client, _ = make_client("rest")
    got: list[int] = []
    with pytest.raises(ApiError):
        got.extend(a.id for a in client.search_accounts(user_id=fake.user_id, page_size=5))
    assert len(got) == 15
    got.extend(a.id for a in client.search_accounts(user_id=fake.user_id, page_size=5, start_page=3))
    assert got == all_ids(fake)


def test_timeout_is_a_retryable_transport_error(make_client: MakeClient, fake: FakeService) -> None:
    def slow(f: FakeService, s: Seen) -> httpx.Response:
        raise httpx.ReadTimeout("read timed out")

    fake.inject("GetUser", slow, times=10)
    client, _ = make_client("rest")
    with pytest.raises(NetworkError, match="timed out") as caught:
        client.get_user()
    assert fake.count("GetUser") == FAST_RETRY.max_attempts
    assert_no_secrets(caught.value)


def test_auth_errors_propagate_untouched(fake: FakeService, sleeps: Sleeps) -> None:
    from airflow_provider_msads.client.environments import resolve_endpoints
    from airflow_provider_msads.client.errors import TerminalAuthError

    class BrokenAuth(FakeAuth):
        def get_access_token(self) -> str:
            raise TerminalAuthError("invalid_grant: re-consent", error="invalid_grant")

    with (
        MicrosoftAdsClient(
            BrokenAuth(),
            DEVELOPER_TOKEN,
            resolve_endpoints("sandbox"),
            http=httpx.Client(transport=fake.transport()),
        ) as client,
        pytest.raises(TerminalAuthError),
    ):
        client.get_user()
    assert fake.seen == []
