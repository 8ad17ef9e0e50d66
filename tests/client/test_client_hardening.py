"""Hardened XML parsing, retry classification and import weight."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from airflow_provider_msads.client.errors import (
    ApiAuthenticationError,
    ApiError,
    ApiErrorDetail,
    ConfigurationError,
    MalformedResponseError,
    NetworkError,
    ResponseTooLargeError,
    ThrottledError,
    TokenExpiredError,
    TransientApiError,
    UnsafeXmlError,
)
from airflow_provider_msads.client.faults import classify, parse_retry_after, redact
from airflow_provider_msads.client.retry import RetryPolicy, is_retryable
from airflow_provider_msads.client.xml import parse_xml

# -- XML -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "payload",
    [
        b'<!DOCTYPE a [<!ENTITY x SYSTEM "file:///etc/passwd">]><a>&x;</a>',
        b'<!DOCTYPE a [<!ENTITY x SYSTEM "http://127.0.0.1:9/evil">]><a>&x;</a>',
        b'<!DOCTYPE a [<!ENTITY % p SYSTEM "http://127.0.0.1:9/evil.dtd"> %p;]><a/>',
        b'<!DOCTYPE a [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]><a>&b;</a>',
        b'<!DOCTYPE a SYSTEM "http://127.0.0.1:9/evil.dtd"><a/>',
        b"<!DOCTYPE a [<!ELEMENT a ANY>]><a/>",
    ],
    ids=["xxe-file", "xxe-network", "parameter-entity", "entity-expansion", "external-dtd", "internal-dtd"],
)
def test_dtds_and_entities_are_refused(payload: bytes) -> None:
    with pytest.raises(UnsafeXmlError, match="refused") as caught:
        parse_xml(payload, operation="GetUser")
    assert caught.value.operation == "GetUser"


def test_billion_laughs_is_refused_quickly() -> None:
    entities = "".join(f'<!ENTITY l{i} "{f"&l{i - 1};" * 10}">' for i in range(1, 10))
    payload = f'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY l0 "lol">{entities}]><r>&l9;</r>'.encode()
    with pytest.raises(UnsafeXmlError):
        parse_xml(payload, operation="SearchAccounts")


@pytest.mark.parametrize("payload", [b"", b"   ", b"<a><b>", b"{json: true}", b"<a>&undefined;</a>"])
def test_broken_xml_is_malformed_and_retryable(payload: bytes) -> None:
    with pytest.raises(MalformedResponseError) as caught:
        parse_xml(payload, operation="GetUser", tracking_id="t-1")
    assert not isinstance(caught.value, UnsafeXmlError)
    assert caught.value.tracking_id == "t-1"


def test_plain_html_doctype_is_left_to_the_caller() -> None:
    root = parse_xml(b"<!DOCTYPE html><html><body>502</body></html>", operation="GetUser")
    assert root.tag == "html"


def test_predefined_entities_and_unicode_still_work() -> None:
    root = parse_xml("<a>Fish &amp; Chips &lt;\u00e9t\u00e9&gt; &#x41;</a>".encode(), operation="GetUser")
    assert root.text == "Fish & Chips <\u00e9t\u00e9> A"


# -- retry policy ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("codes", "status", "cls", "retryable"),
    [
        ((0,), 500, TransientApiError, True),
        ((833,), 500, TransientApiError, True),
        ((2208,), 200, TransientApiError, True),
        ((117,), 400, ThrottledError, True),
        ((), 429, ThrottledError, True),
        ((), 503, TransientApiError, True),
        ((109,), 500, TokenExpiredError, False),
        ((), 401, TokenExpiredError, False),
        ((105,), 500, ApiAuthenticationError, False),
        ((106,), 403, ApiAuthenticationError, False),
        ((3101,), 400, ApiAuthenticationError, False),
        ((), 403, ApiAuthenticationError, False),
        ((1102,), 500, ApiError, False),
        ((0, 1102), 500, ApiError, False),
        ((), 404, ApiError, False),
    ],
)
def test_classification(codes: tuple[int, ...], status: int, cls: type[ApiError], retryable: bool) -> None:
    err = classify(
        operation="Op",
        message="m",
        errors=[ApiErrorDetail(c) for c in codes],
        http_status=status,
        tracking_id="t",
        fault_type=None,
        retry_after=None,
        environment="sandbox",
    )
    assert type(err) is cls
    assert is_retryable(err) is retryable
    assert err.tracking_id == "t" and "TrackingId t" in str(err)


def test_transport_errors_are_retryable_except_hostile_or_huge() -> None:
    assert is_retryable(NetworkError("reset"))
    assert is_retryable(MalformedResponseError("truncated"))
    assert not is_retryable(UnsafeXmlError("xxe"))
    assert not is_retryable(ResponseTooLargeError("big"))
    assert not is_retryable(ValueError("bug"))


def test_server_waits() -> None:
    policy = RetryPolicy()
    throttled_117 = ThrottledError("m", operation="Op", errors=[ApiErrorDetail(117)], retry_after=None)
    assert policy.server_wait(throttled_117) == 60.0
    throttled_429 = ThrottledError("m", operation="Op", retry_after=5.0)
    assert policy.server_wait(throttled_429) == 5.0
    assert policy.server_wait(ThrottledError("m", operation="Op")) is None  # plain backoff
    assert (
        policy.server_wait(TransientApiError("m", operation="Op", retry_after=1e9)) == policy.retry_after_cap
    )
    assert policy.server_wait(NetworkError("x")) is None


@pytest.mark.parametrize("field", ["max_attempts", "max_total_seconds", "throttle_wait"])
def test_policy_validation(field: str) -> None:
    with pytest.raises(ConfigurationError):
        RetryPolicy(**{field: -1 if field != "max_attempts" else 0})


def test_retry_after_parsing() -> None:
    assert parse_retry_after("12") == 12.0
    assert parse_retry_after(" 1.5 ") == 1.5
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412470.0) == 10.0
    assert parse_retry_after("soon") is None and parse_retry_after(None) is None


def test_redaction() -> None:
    assert redact("token abcdefghij leaked", ["abcdefghij"]) == "token *** leaked"
    assert redact("a short b", ["short"]) == "a short b"  # too short to be a real secret


# -- import weight ---------------------------------------------------------------------------------


def test_importing_the_client_package_stays_light() -> None:
    code = textwrap.dedent(
        """
        import sys
        import airflow_provider_msads.client as c
        assert "httpx" not in sys.modules and "lxml" not in sys.modules, "package import is heavy"
        from airflow_provider_msads.client import MicrosoftAdsClient, RetryPolicy
        assert "lxml" not in sys.modules, "REST client pulled in lxml"
        assert "airflow" not in sys.modules, "client imports Airflow"
        from airflow_provider_msads.client.environments import resolve_endpoints

        class Auth:
            def get_access_token(self): return "t"
            def invalidate(self, token): pass

        MicrosoftAdsClient(Auth(), "dev-token", resolve_endpoints("production"), "soap").close()
        assert "lxml" in sys.modules
        print("ok")
        """
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"
