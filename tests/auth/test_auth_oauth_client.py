"""OAuthClient: the refresh grant, strict parsing, and a typed, actionable error for every failure."""

from __future__ import annotations

import logging
import time
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from msads_fake_identity import (
    AUTH_BASE,
    CLIENT_ID,
    CLIENT_SECRET,
    INITIAL_REFRESH_TOKEN,
    FakeIdentity,
    error_body,
)

from airflow_provider_msads.client.auth import AuthRetryPolicy, OAuthClient
from airflow_provider_msads.client.environments import resolve_endpoints
from airflow_provider_msads.client.errors import TerminalAuthError, TransientAuthError
from airflow_provider_msads.client.pkce import new_pkce_pair, s256_challenge

FAST = AuthRetryPolicy(max_attempts=4, max_total_seconds=5.0, initial_wait=0.0, max_wait=0.0, jitter=0.0)


def make_client(fake: FakeIdentity, *, secret: str | None = CLIENT_SECRET, **kw: Any) -> OAuthClient:
    endpoints = resolve_endpoints("production", auth_base_url=AUTH_BASE)
    return OAuthClient(
        endpoints=endpoints,
        client_id=CLIENT_ID,
        client_secret=secret,
        http=fake.client(),
        retry=kw.get("retry", FAST),
    )


def assert_no_secret(text: str, fake: FakeIdentity) -> None:
    for secret in fake.all_secrets():
        assert secret not in text


def test_refresh_sends_documented_form_and_parses_response() -> None:
    fake = FakeIdentity()
    client = make_client(fake)
    token = client.refresh(INITIAL_REFRESH_TOKEN)
    form = fake.requests[0]
    assert form == {
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "grant_type": "refresh_token",
        "refresh_token": INITIAL_REFRESH_TOKEN,
        "scope": "https://ads.microsoft.com/msads.manage offline_access",
    }
    assert token.access_token == fake.issued_access_tokens[0]
    assert token.refresh_token == fake.issued_refresh_tokens[0]
    assert token.expires_in == 3600
    assert abs(token.expires_at - (time.time() + 3600)) < 5
    assert_no_secret(repr(token) + repr(client), fake)


def test_public_client_sends_no_secret() -> None:
    fake = FakeIdentity(client_secret=None)
    make_client(fake, secret=None).refresh(INITIAL_REFRESH_TOKEN)
    assert "client_secret" not in fake.requests[0]


def test_sandbox_scope_is_sent() -> None:
    fake = FakeIdentity()
    endpoints = resolve_endpoints("sandbox", auth_base_url=AUTH_BASE)
    OAuthClient(
        endpoints=endpoints, client_id=CLIENT_ID, client_secret=CLIENT_SECRET, http=fake.client()
    ).refresh(INITIAL_REFRESH_TOKEN)
    assert fake.requests[0]["scope"] == "https://si.ads.microsoft.com/msads.manage offline_access"


TERMINAL_CASES = [
    # (http status, error, AADSTS code, text the message must contain)
    (
        400,
        "invalid_grant",
        70008,
        "refresh token expired (or was revoked) (AADSTS70008, invalid_grant): run `msads-auth`",
    ),
    (400, "invalid_grant", 700082, "expired after inactivity"),
    (400, "invalid_grant", 50173, "revoked"),
    (400, "invalid_grant", 70000, "sandbox token used against production"),
    (400, "invalid_grant", 70043, "Conditional Access"),
    (401, "invalid_client", 7000215, "client secret is wrong"),
    (401, "invalid_client", 7000222, "client secret is past its expiry date"),
    (400, "invalid_request", 700025, "public client"),
    (400, "unauthorized_client", 700016, "no app with this client ID exists"),
    (400, "invalid_scope", 70011, "rejected the requested Microsoft Advertising scope"),
    (400, "interaction_required", 50076, "multi-factor"),
    (400, "invalid_grant", 65001, "has consented to this app"),
    (400, "invalid_grant", 90072, "does not exist in the tenant"),
    (400, "invalid_client", 50011, "redirect URI"),
    (400, "unauthorized_client", 50194, "single-tenant"),
    (400, "invalid_request", 50196, "request loop"),
    (500, "invalid_request", 50196, "request loop"),  # a loop must stop us even on a 5xx
    (
        400,
        "consent_required",
        99999,
        "has consented to this app",
    ),  # unknown code: falls back to the error field
    (400, "invalid_resource", 650052, "no service principal for Microsoft Advertising"),
]


@pytest.mark.parametrize(("status", "error", "code", "expected"), TERMINAL_CASES)
def test_terminal_errors_raise_once_with_code_cause_and_fix(
    status: int, error: str, code: int, expected: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    fake = FakeIdentity()
    body = error_body(error, code, f"server text mentioning {INITIAL_REFRESH_TOKEN} and {CLIENT_SECRET}")
    fake.faults = [httpx.Response(status, json=body)] * 3
    client = make_client(fake)
    with pytest.raises(TerminalAuthError) as info:
        client.refresh(INITIAL_REFRESH_TOKEN)
    err = info.value
    assert len(fake.requests) == 1, "terminal errors must not be retried"
    assert client.request_count == 1
    assert f"AADSTS{code}" in str(err)
    assert expected in str(err)
    assert err.error == error and err.aadsts_code == code and err.http_status == status
    assert err.trace_id == "0000aaaa-11bb-cccc-dd33-eeeeee333333" and err.trace_id in str(err)
    assert "\n" not in str(err)
    assert "***" in str(err), "server text is quoted, with our secrets scrubbed"
    assert_no_secret(str(err) + repr(err) + caplog.text, fake)


def test_public_client_invalid_grant_mentions_device_binding() -> None:
    fake = FakeIdentity(client_secret=None)
    fake.faults = [httpx.Response(400, json=error_body("invalid_grant", 70000, "token binding mismatch"))]
    with pytest.raises(TerminalAuthError, match="bound to the device"):
        make_client(fake, secret=None).refresh(INITIAL_REFRESH_TOKEN)


@pytest.mark.parametrize(
    "fault",
    [
        httpx.Response(500, json=error_body("server_error", 90033, "internal")),
        httpx.Response(503, text="<html>Service Unavailable</html>", headers={"Content-Type": "text/html"}),
        httpx.Response(400, json=error_body("temporarily_unavailable", 90006, "busy")),
        httpx.Response(429, text=""),
        httpx.ReadTimeout("read timed out"),
        httpx.ConnectError("connection refused"),
    ],
    ids=["server_error", "503-html", "temporarily_unavailable", "429", "timeout", "connect"],
)
def test_transient_errors_are_retried_then_succeed(fault: httpx.Response | Exception) -> None:
    fake = FakeIdentity()
    fake.faults = [fault, fault]
    client = make_client(fake)
    token = client.refresh(INITIAL_REFRESH_TOKEN)
    assert token.access_token == fake.issued_access_tokens[0]
    assert len(fake.requests) == 3 and client.request_count == 3
    assert fake.grant_counts["refresh_token"] == 1


def test_transient_errors_are_bounded_in_attempts(caplog: pytest.LogCaptureFixture) -> None:
    fake = FakeIdentity()
    fake.faults = [httpx.Response(503, json=error_body("temporarily_unavailable", 90006, "busy"))] * 10
    with pytest.raises(TransientAuthError, match="temporarily"):
        make_client(fake).refresh(INITIAL_REFRESH_TOKEN)
    assert len(fake.requests) == FAST.max_attempts
    assert "retrying" in caplog.text
    assert_no_secret(caplog.text, fake)


def test_transient_errors_are_bounded_in_total_time() -> None:
    fake = FakeIdentity()
    fake.faults = [httpx.ReadTimeout("slow")] * 50
    policy = AuthRetryPolicy(
        max_attempts=50, max_total_seconds=0.3, initial_wait=0.1, max_wait=0.1, jitter=0.0
    )
    started = time.monotonic()
    with pytest.raises(TransientAuthError, match="timed out"):
        make_client(fake, retry=policy).refresh(INITIAL_REFRESH_TOKEN)
    elapsed = time.monotonic() - started
    assert elapsed < 1.0
    assert 2 <= len(fake.requests) <= 4


@pytest.mark.parametrize(
    ("response", "problem"),
    [
        (httpx.Response(200, text="<html>proxy login</html>"), "not JSON"),
        (httpx.Response(200, json=["x"]), "not a JSON object"),
        (httpx.Response(200, json={"token_type": "Bearer", "expires_in": 3600}), "no access_token"),
        (httpx.Response(200, json={"access_token": "a" * 20, "expires_in": "soon"}), "expires_in"),
        (httpx.Response(200, json={"access_token": "a" * 20, "expires_in": -5}), "out of range"),
        (
            httpx.Response(200, json={"access_token": "a" * 20, "expires_in": 3600, "token_type": "mac"}),
            "Bearer",
        ),
        (
            httpx.Response(200, json={"access_token": "a" * 20, "expires_in": 3600, "refresh_token": 5}),
            "refresh_token",
        ),
        (httpx.Response(200, json={"error": "invalid_grant"}), "error field"),
        (httpx.Response(302, headers={"Location": "https://elsewhere"}), "unreadable body"),
    ],
)
def test_malformed_responses_are_terminal_and_not_retried(response: httpx.Response, problem: str) -> None:
    fake = FakeIdentity()
    fake.faults = [response] * 3
    with pytest.raises(TerminalAuthError, match=problem):
        make_client(fake).refresh(INITIAL_REFRESH_TOKEN)
    assert len(fake.requests) == 1


def test_response_without_rotation_keeps_refresh_token_none() -> None:
    fake = FakeIdentity(rotate=False)
    token = make_client(fake).refresh(INITIAL_REFRESH_TOKEN)
    assert token.refresh_token is None


def test_pkce_matches_rfc7636_appendix_b() -> None:
    assert (
        s256_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk")
        == "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
    )
    pair = new_pkce_pair()
    assert 43 <= len(pair.verifier) <= 128 and pair.verifier not in repr(pair)


def test_authorization_url_and_code_exchange() -> None:
    fake = FakeIdentity()
    client = make_client(fake)
    pair = new_pkce_pair()
    url = client.authorization_url(
        redirect_uri="http://localhost:8765/", state="st-1", code_challenge=pair.challenge, prompt="consent"
    )
    parts = urlsplit(url)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == AUTH_BASE + "/common/oauth2/v2.0/authorize"
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    assert query == {
        "client_id": CLIENT_ID,
        "response_type": "code",
        "redirect_uri": "http://localhost:8765/",
        "response_mode": "query",
        "scope": "https://ads.microsoft.com/msads.manage offline_access",
        "state": "st-1",
        "code_challenge": pair.challenge,
        "code_challenge_method": "S256",
        "prompt": "consent",
    }
    fake.codes["the-code"] = pair.challenge
    token = client.exchange_code(
        "the-code", redirect_uri="http://localhost:8765/", code_verifier=pair.verifier
    )
    assert token.refresh_token == fake.issued_refresh_tokens[0]
    assert fake.requests[0]["grant_type"] == "authorization_code"
    assert fake.requests[0]["code_verifier"] == pair.verifier
    # a wrong verifier is refused by the server and surfaces as a terminal error without the verifier
    fake.codes["code-2"] = pair.challenge
    with pytest.raises(TerminalAuthError) as info:
        client.exchange_code("code-2", redirect_uri="http://localhost:8765/", code_verifier="x" * 43)
    assert "x" * 43 not in str(info.value)
