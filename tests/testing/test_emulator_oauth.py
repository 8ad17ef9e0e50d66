"""The emulated token and authorize endpoints behave like the Microsoft identity platform."""

from __future__ import annotations

import base64
import hashlib
import re
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from msads_emulator_helpers import PROD_SCOPE, SANDBOX_SCOPE, refresh, rest_headers

from airflow_provider_msads.testing import (
    DEMO_CLIENT_ID,
    DEMO_CLIENT_SECRET,
    DEMO_PUBLIC_CLIENT_ID,
    DEMO_REFRESH_TOKEN,
    Emulator,
)

ERROR_KEYS = {
    "error",
    "error_description",
    "error_codes",
    "timestamp",
    "trace_id",
    "correlation_id",
    "error_uri",
}


def assert_oauth_error(response: httpx.Response, status: int, error: str, code: int) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == ERROR_KEYS
    assert body["error"] == error
    assert body["error_codes"] == [code]
    assert re.match(rf"^AADSTS{code}: ", body["error_description"]), body["error_description"]
    assert body["error_uri"].endswith(f"?code={code}")
    assert re.fullmatch(r"[0-9a-f-]{36}", body["trace_id"]) and re.fullmatch(
        r"[0-9a-f-]{36}", body["correlation_id"]
    )


def test_refresh_grant_success_shape_and_rotation(msads_emulator: Emulator, http: httpx.Client) -> None:
    first = refresh(http, msads_emulator)
    assert first.status_code == 200
    assert first.headers["content-type"].startswith("application/json")
    body = first.json()
    assert set(body) == {
        "token_type",
        "scope",
        "expires_in",
        "ext_expires_in",
        "access_token",
        "refresh_token",
    }
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == body["ext_expires_in"] == 3600
    assert body["scope"] == "https://ads.microsoft.com/msads.manage"
    assert body["refresh_token"] != DEMO_REFRESH_TOKEN
    # Rotation: every use returns a new refresh token; the old one stays valid until it expires.
    second = refresh(http, msads_emulator, body["refresh_token"])
    assert second.status_code == 200
    assert second.json()["refresh_token"] not in (body["refresh_token"], DEMO_REFRESH_TOKEN)
    assert refresh(http, msads_emulator, body["refresh_token"]).status_code == 200
    assert msads_emulator.grant_counts["refresh_token"] == 3
    assert msads_emulator.counters["token"] == 3


def test_without_offline_access_no_refresh_token(msads_emulator: Emulator, http: httpx.Client) -> None:
    body = refresh(http, msads_emulator, scope="https://ads.microsoft.com/msads.manage").json()
    assert "access_token" in body and "refresh_token" not in body


def test_rotated_refresh_token_expires_after_its_lifetime_but_demo_token_never(
    msads_emulator: Emulator, http: httpx.Client
) -> None:
    rotated = refresh(http, msads_emulator).json()["refresh_token"]
    msads_emulator.advance_clock(89 * 86400)
    assert refresh(http, msads_emulator, rotated).status_code == 200
    msads_emulator.advance_clock(2 * 86400)
    assert_oauth_error(refresh(http, msads_emulator, rotated), 400, "invalid_grant", 70008)
    assert refresh(http, msads_emulator).status_code == 200  # the demo token is forever


def test_revoked_refresh_token(msads_emulator: Emulator, http: httpx.Client) -> None:
    rotated = refresh(http, msads_emulator).json()["refresh_token"]
    msads_emulator.revoke_refresh_token(rotated)
    assert_oauth_error(refresh(http, msads_emulator, rotated), 400, "invalid_grant", 50173)
    assert msads_emulator.grant_counts["refresh_token"] == 1  # failures are not grants


def test_unknown_refresh_token_is_invalid_grant(msads_emulator: Emulator, http: httpx.Client) -> None:
    assert_oauth_error(refresh(http, msads_emulator, "not-a-token"), 400, "invalid_grant", 9002313)


@pytest.mark.parametrize(
    ("overrides", "status", "error", "code"),
    [
        ({"client_secret": "wrong"}, 401, "invalid_client", 7000215),
        ({"client_secret": None}, 401, "invalid_client", 7000218),
        ({"client_id": "11111111-2222-3333-4444-555555555555"}, 400, "unauthorized_client", 700016),
        ({"scope": "https://graph.microsoft.com/.default"}, 400, "invalid_scope", 70011),
        ({"scope": "offline_access"}, 400, "invalid_scope", 70011),
        ({"grant_type": "password"}, 400, "unsupported_grant_type", 70003),
        ({"grant_type": None}, 400, "invalid_request", 900144),
    ],
)
def test_token_errors(
    msads_emulator: Emulator,
    http: httpx.Client,
    overrides: dict[str, str | None],
    status: int,
    error: str,
    code: int,
) -> None:
    assert_oauth_error(refresh(http, msads_emulator, **overrides), status, error, code)  # type: ignore[arg-type]


def test_public_client_must_not_send_secret(msads_emulator: Emulator, http: httpx.Client) -> None:
    token = msads_emulator.identity.issue_refresh_token(msads_emulator.demo_user_id, DEMO_PUBLIC_CLIENT_ID)
    with_secret = refresh(http, msads_emulator, token, client_id=DEMO_PUBLIC_CLIENT_ID)
    assert_oauth_error(with_secret, 401, "invalid_client", 700025)
    without = refresh(http, msads_emulator, token, client_id=DEMO_PUBLIC_CLIENT_ID, client_secret=None)
    assert without.status_code == 200, without.text


def test_refresh_token_bound_to_its_client(msads_emulator: Emulator, http: httpx.Client) -> None:
    response = refresh(http, msads_emulator, client_id=DEMO_PUBLIC_CLIENT_ID, client_secret=None)
    assert_oauth_error(response, 400, "invalid_grant", 70000)


def test_token_endpoint_needs_post_and_form(msads_emulator: Emulator, http: httpx.Client) -> None:
    assert_oauth_error(
        http.get(f"{msads_emulator.url}/common/oauth2/v2.0/token"), 400, "invalid_request", 900561
    )
    as_json = http.post(
        f"{msads_emulator.url}/common/oauth2/v2.0/token",
        json={"grant_type": "refresh_token", "client_id": DEMO_CLIENT_ID},
    )
    assert_oauth_error(as_json, 400, "invalid_request", 900144)


def test_environment_follows_scope(msads_emulator: Emulator, http: httpx.Client) -> None:
    legacy = refresh(http, msads_emulator, scope="https://ads.microsoft.com/ads.manage offline_access")
    sandbox = refresh(http, msads_emulator, scope=SANDBOX_SCOPE)
    production = refresh(http, msads_emulator, scope=PROD_SCOPE)
    tokens = {
        name: msads_emulator.identity.lookup_access_token(r.json()["access_token"])
        for name, r in (("legacy", legacy), ("sandbox", sandbox), ("production", production))
    }
    assert {name: t.environment for name, t in tokens.items() if t} == {
        "legacy": "production",
        "sandbox": "sandbox",
        "production": "production",
    }
    assert sandbox.json()["scope"] == "https://si.ads.microsoft.com/msads.manage"


def test_access_token_ttl_is_configurable(msads_emulator_factory, http: httpx.Client) -> None:  # type: ignore[no-untyped-def]
    emu = msads_emulator_factory(access_token_ttl=120.0)
    token = refresh(http, emu).json()
    assert token["expires_in"] == 120
    ok = http.post(
        emu.url + "/CustomerManagement/v13/User/Query", json={}, headers=rest_headers(token["access_token"])
    )
    assert ok.status_code == 200
    emu.advance_clock(121)
    expired = http.post(
        emu.url + "/CustomerManagement/v13/User/Query", json={}, headers=rest_headers(token["access_token"])
    )
    assert expired.status_code == 401 and expired.json()["Errors"][0]["Code"] == 109


# ---------------------------------------------------------------------- authorization code + PKCE
def pkce_pair() -> tuple[str, str]:
    verifier = base64.urlsafe_b64encode(b"v" * 40).decode().rstrip("=")
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")
    return verifier, challenge


def authorize(
    http: httpx.Client, emu: Emulator, challenge: str, redirect: str = "http://localhost:8765/cb"
) -> httpx.Response:
    return http.get(
        f"{emu.url}/common/oauth2/v2.0/authorize",
        params={
            "client_id": DEMO_CLIENT_ID,
            "response_type": "code",
            "redirect_uri": redirect,
            "scope": PROD_SCOPE,
            "state": "xyz-state",
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        },
        follow_redirects=False,
    )


def redeem(
    http: httpx.Client, emu: Emulator, code: str, verifier: str, redirect: str = "http://localhost:8765/cb"
) -> httpx.Response:
    return http.post(
        f"{emu.url}/common/oauth2/v2.0/token",
        data={
            "client_id": DEMO_CLIENT_ID,
            "client_secret": DEMO_CLIENT_SECRET,
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": redirect,
            "code_verifier": verifier,
            "scope": PROD_SCOPE,
        },
    )


def test_consent_flow_end_to_end(msads_emulator: Emulator, http: httpx.Client) -> None:
    verifier, challenge = pkce_pair()
    response = authorize(http, msads_emulator, challenge)
    assert response.status_code == 302
    location = urlsplit(response.headers["location"])
    assert (location.scheme, location.netloc, location.path) == ("http", "localhost:8765", "/cb")
    params = parse_qs(location.query)
    assert params["state"] == ["xyz-state"]
    code = params["code"][0]
    tokens = redeem(http, msads_emulator, code, verifier)
    assert tokens.status_code == 200, tokens.text
    assert {"access_token", "refresh_token"} <= set(tokens.json())
    assert msads_emulator.grant_counts["authorization_code"] == 1
    # Single use.
    assert_oauth_error(redeem(http, msads_emulator, code, verifier), 400, "invalid_grant", 54005)
    # The new refresh token works.
    assert refresh(http, msads_emulator, tokens.json()["refresh_token"]).status_code == 200


def test_pkce_mismatch_and_code_expiry(msads_emulator: Emulator, http: httpx.Client) -> None:
    verifier, challenge = pkce_pair()
    code = parse_qs(urlsplit(authorize(http, msads_emulator, challenge).headers["location"]).query)["code"][0]
    assert_oauth_error(redeem(http, msads_emulator, code, verifier + "x"), 400, "invalid_grant", 501481)
    code2 = parse_qs(urlsplit(authorize(http, msads_emulator, challenge).headers["location"]).query)["code"][
        0
    ]
    msads_emulator.advance_clock(601)
    assert_oauth_error(redeem(http, msads_emulator, code2, verifier), 400, "invalid_grant", 70008)


def test_redirect_uri_must_match(msads_emulator: Emulator, http: httpx.Client) -> None:
    verifier, challenge = pkce_pair()
    code = parse_qs(urlsplit(authorize(http, msads_emulator, challenge).headers["location"]).query)["code"][0]
    wrong = redeem(http, msads_emulator, code, verifier, redirect="http://localhost:9999/other")
    assert wrong.status_code == 400 and wrong.json()["error_codes"] == [50011]
    page = authorize(http, msads_emulator, challenge, redirect="https://evil.example/cb")
    assert page.status_code == 400 and "AADSTS50011" in page.text and "location" not in page.headers


def test_consent_denied(msads_emulator: Emulator, http: httpx.Client) -> None:
    msads_emulator.deny_consent = True
    _, challenge = pkce_pair()
    response = authorize(http, msads_emulator, challenge)
    assert response.status_code == 302
    params = parse_qs(urlsplit(response.headers["location"]).query)
    assert params["error"] == ["access_denied"]
    assert params["error_description"][0].startswith("AADSTS65004:")
    assert params["state"] == ["xyz-state"]
    assert "code" not in params


def test_reset_restores_defaults(msads_emulator: Emulator, http: httpx.Client) -> None:
    msads_emulator.identity.revoke_all_refresh_tokens()
    assert refresh(http, msads_emulator).status_code == 400
    msads_emulator.reset()
    assert refresh(http, msads_emulator).status_code == 200
    assert msads_emulator.counters["token"] == 1
