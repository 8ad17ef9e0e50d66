"""The Connect routes with a fake Airflow side and the real emulator: the flow, its locks, its words."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from msads_connect_fakes import ConnectApp

from airflow_provider_msads.client import MicrosoftAdsClient
from airflow_provider_msads.client.settings import ConnectionSettings
from airflow_provider_msads.testing import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, DEMO_DEVELOPER_TOKEN

ADMIN = {"x-test-user": "admin"}
VIEWER = {"x-test-user": "viewer"}


def _form(emu: Any, **changes: str) -> dict[str, str]:
    form = {
        "conn_id": "msads_default",
        "mode": "new",
        "client_id": DEMO_CLIENT_ID,
        "client_secret": DEMO_CLIENT_SECRET,
        "developer_token": DEMO_DEVELOPER_TOKEN,
        "environment": "production",
        "tenant": "",
        "auth_base_url": emu.url,
        "api_base_url": emu.url,
    }
    return {**form, **changes}


def _sign_in(app: ConnectApp, emu: Any, *, user: dict[str, str] = ADMIN, **changes: str) -> str:
    """Submit the form and let the emulator's /authorize consent; return the callback URL."""
    start = app.client.post("/msads/connect/start", data=_form(emu, **changes), headers=user)
    assert start.status_code == 303, start.text
    consent = httpx.get(start.headers["location"], timeout=10)
    assert consent.status_code == 302
    return consent.headers["location"]


def _secrets_in(text: str, values: list[str]) -> list[str]:
    return [v for v in values if v and v in text]


def test_happy_path_stores_a_working_refresh_token_and_shows_user_and_accounts(
    connect_app: ConnectApp, msads_emulator: Any
) -> None:
    pages = [connect_app.client.get("/msads/connect", headers=ADMIN)]
    pages.append(connect_app.client.get("/msads/connect?conn_id=msads_default&new=1", headers=ADMIN))
    assert pages[-1].status_code == 200 and "Sign in with Microsoft" in pages[-1].text
    assert "http://127.0.0.1:8080/msads/connect/callback" in pages[-1].text  # the redirect URI to register

    start = connect_app.client.post("/msads/connect/start", data=_form(msads_emulator), headers=ADMIN)
    assert start.status_code == 303
    authorize = start.headers["location"]
    assert authorize.startswith(msads_emulator.url + "/common/oauth2/v2.0/authorize?")
    assert "code_challenge_method=S256" in authorize and "code_verifier" not in authorize
    callback = httpx.get(authorize, timeout=10).headers["location"]
    code = httpx.URL(callback).params["code"]

    back = connect_app.client.get(callback, headers=ADMIN)
    assert back.status_code == 303
    done_url = back.headers["location"]
    assert done_url.startswith("http://127.0.0.1:8080/msads/connect/done?result=")
    done = connect_app.client.get(done_url, headers=ADMIN)
    pages += [back, done]
    assert done.status_code == 200
    user = msads_emulator.data.demo_user
    assert user.user_name in done.text
    assert f"{len(msads_emulator.expected_account_ids)}\n  accounts" in done.text

    stored = connect_app.backend.connections["msads_default"]
    refresh_token = stored["password"]
    assert refresh_token.startswith("M.C5_emu.")
    assert stored["extra"]["client_secret"] == DEMO_CLIENT_SECRET
    settings = ConnectionSettings.from_connection_fields(
        login=stored["login"], password=refresh_token, extra=stored["extra"]
    )
    with MicrosoftAdsClient.from_settings(settings) as client:  # the stored token really works
        assert sorted(a.id for a in client.discover_accounts()) == sorted(msads_emulator.expected_account_ids)

    secrets = [refresh_token, code, DEMO_CLIENT_SECRET, DEMO_DEVELOPER_TOKEN]
    for page in pages:
        assert _secrets_in(page.text, secrets) == []
        assert _secrets_in(str(page.headers), [refresh_token, DEMO_CLIENT_SECRET]) == []
        assert page.headers["cache-control"].startswith("no-store")
        assert page.headers["referrer-policy"] == "no-referrer"
        assert "frame-ancestors" in page.headers["content-security-policy"]
    assert {refresh_token, code, DEMO_CLIENT_SECRET, DEMO_DEVELOPER_TOKEN} <= set(connect_app.backend.masked)


def test_callback_works_once(connect_app: ConnectApp, msads_emulator: Any) -> None:
    callback = _sign_in(connect_app, msads_emulator)
    assert connect_app.client.get(callback, headers=ADMIN).status_code == 303
    replay = connect_app.client.get(callback, headers=ADMIN)
    assert replay.status_code == 400
    assert "unknown or was already used" in replay.text


def test_callback_from_another_airflow_user_is_refused_and_burns_the_state(
    connect_app: ConnectApp, msads_emulator: Any
) -> None:
    connect_app.backend.editors.add("mallory")
    callback = _sign_in(connect_app, msads_emulator)
    hijack = connect_app.client.get(callback, headers={"x-test-user": "mallory"})
    assert hijack.status_code == 403
    assert "another Airflow user" in hijack.text
    assert connect_app.client.get(callback, headers=ADMIN).status_code == 400
    assert connect_app.backend.connections == {}


def test_sign_in_expires_after_ten_minutes(connect_app: ConnectApp, msads_emulator: Any) -> None:
    callback = _sign_in(connect_app, msads_emulator)
    connect_app.clock.now += 601
    late = connect_app.client.get(callback, headers=ADMIN)
    assert late.status_code == 400 and "expired" in late.text
    assert connect_app.backend.connections == {}


def test_consent_denied_is_explained_and_saves_nothing(connect_app: ConnectApp, msads_emulator: Any) -> None:
    msads_emulator.deny_consent = True
    callback = _sign_in(connect_app, msads_emulator)
    page = connect_app.client.get(callback, headers=ADMIN)
    assert page.status_code == 400
    assert "Consent was declined" in page.text and "press Accept" in page.text
    assert "AADSTS65004" in page.text
    assert "Back to the form" in page.text
    assert connect_app.backend.connections == {}


def test_wrong_client_secret_is_explained(connect_app: ConnectApp, msads_emulator: Any) -> None:
    callback = _sign_in(connect_app, msads_emulator, client_secret="wrong~secret-value-000")
    page = connect_app.client.get(callback, headers=ADMIN)
    assert page.status_code == 400
    assert "Wrong client secret" in page.text and "secret VALUE" in page.text
    assert "wrong~secret-value-000" not in page.text
    assert connect_app.backend.connections == {}


def test_identity_errors_on_the_redirect_are_in_plain_words(
    connect_app: ConnectApp, msads_emulator: Any
) -> None:
    start = connect_app.client.post("/msads/connect/start", data=_form(msads_emulator), headers=ADMIN)
    state = httpx.URL(start.headers["location"]).params["state"]
    page = connect_app.client.get(
        "/msads/connect/callback",
        params={
            "state": state,
            "error": "invalid_request",
            "error_description": "AADSTS50194: Application '<x>' is not configured as multi-tenant.",
        },
        headers=ADMIN,
    )
    assert page.status_code == 400
    assert "Directory (tenant) ID" in page.text
    assert "<x>" not in page.text and "&lt;x&gt;" in page.text


def test_viewer_may_not_use_it(connect_app: ConnectApp, msads_emulator: Any) -> None:
    assert connect_app.client.get("/msads/connect", headers=VIEWER).status_code == 403
    form_page = connect_app.client.get("/msads/connect?conn_id=msads_default&new=1", headers=VIEWER)
    assert form_page.status_code == 403
    post = connect_app.client.post("/msads/connect/start", data=_form(msads_emulator), headers=VIEWER)
    assert post.status_code == 403 and "may not edit" in post.text
    assert len(connect_app.pending) == 0


def test_permission_is_checked_again_at_the_callback(connect_app: ConnectApp, msads_emulator: Any) -> None:
    callback = _sign_in(connect_app, msads_emulator)
    connect_app.backend.editors.discard("admin")  # role revoked while signing in
    assert connect_app.client.get(callback, headers=ADMIN).status_code == 403
    assert connect_app.backend.connections == {}


def test_not_signed_in(connect_app: ConnectApp, msads_emulator: Any) -> None:
    page = connect_app.client.get("/msads/connect")
    assert page.status_code == 303 and page.headers["location"].startswith("/auth/login?next=")
    assert connect_app.client.post("/msads/connect/start", data=_form(msads_emulator)).status_code == 401
    callback = connect_app.client.get("/msads/connect/callback?state=x&code=y")
    assert callback.status_code == 401 and "y" in connect_app.backend.masked


def test_cross_site_posts_are_refused(connect_app: ConnectApp, msads_emulator: Any) -> None:
    refused = (
        {"origin": "https://evil.example"},
        {"sec-fetch-site": "cross-site"},
        {"sec-fetch-site": "cross-site", "origin": "null"},
        {"sec-fetch-site": "same-site", "origin": "http://127.0.0.1:8080"},
    )
    for headers in refused:
        post = connect_app.client.post(
            "/msads/connect/start", data=_form(msads_emulator), headers={**ADMIN, **headers}
        )
        assert post.status_code == 403 and "another site" in post.text
    # Chrome under Referrer-Policy: no-referrer sends Origin: null with Sec-Fetch-Site: same-origin.
    for same in ({"origin": "null", "sec-fetch-site": "same-origin"}, {"origin": "http://127.0.0.1:8080"}):
        ok = connect_app.client.post(
            "/msads/connect/start", data=_form(msads_emulator), headers={**ADMIN, **same}
        )
        assert ok.status_code == 303


def test_form_errors_are_shown_escaped_without_echoing_secrets(
    connect_app: ConnectApp, msads_emulator: Any
) -> None:
    form = _form(msads_emulator, client_id='"><script>alert(1)</script>', developer_token="")
    page = connect_app.client.post("/msads/connect/start", data=form, headers=ADMIN)
    assert page.status_code == 400
    assert "<script>alert(1)" not in page.text and "&lt;script&gt;" in page.text
    assert "enter your developer token" in page.text
    assert DEMO_CLIENT_SECRET not in page.text
    assert len(connect_app.pending) == 0


def test_existing_connection_keeps_its_secrets_and_never_shows_them(
    connect_app: ConnectApp, msads_emulator: Any
) -> None:
    connect_app.backend.connections["msads_default"] = {
        "conn_type": "msads",
        "login": DEMO_CLIENT_ID,
        "password": "M.C5_old-refresh-token-value",
        "extra": {**msads_emulator.connection_extra(), "customer_id": "42", "transport": "rest"},
    }
    page = connect_app.client.get("/msads/connect?conn_id=msads_default", headers=ADMIN)
    assert page.status_code == 200
    assert "A client secret is stored" in page.text and "A developer token is stored" in page.text
    assert _secrets_in(page.text, [DEMO_CLIENT_SECRET, DEMO_DEVELOPER_TOKEN, "M.C5_old"]) == []
    callback = _sign_in(connect_app, msads_emulator, mode="existing", client_secret="", developer_token="")
    done = connect_app.client.get(
        connect_app.client.get(callback, headers=ADMIN).headers["location"], headers=ADMIN
    )
    assert "(updated)" in done.text
    stored = connect_app.backend.connections["msads_default"]
    assert stored["password"] != "M.C5_old-refresh-token-value"
    assert stored["extra"]["customer_id"] == "42"
    assert stored["extra"]["client_secret"] == DEMO_CLIENT_SECRET


def test_connections_of_other_types_and_env_defined_ones_are_refused(
    connect_app: ConnectApp, msads_emulator: Any
) -> None:
    connect_app.backend.connections["warehouse"] = {"conn_type": "sqlite", "extra": {}}
    page = connect_app.client.get("/msads/connect?conn_id=warehouse&new=1", headers=ADMIN)
    assert page.status_code == 409 and "already exists with type" in page.text
    post = connect_app.client.post(
        "/msads/connect/start", data=_form(msads_emulator, conn_id="warehouse"), headers=ADMIN
    )
    assert post.status_code == 409
    connect_app.backend.env_overrides.add("msads_default")
    post = connect_app.client.post("/msads/connect/start", data=_form(msads_emulator), headers=ADMIN)
    assert post.status_code == 400 and "outside Airflow" in post.text


def test_a_bad_developer_token_still_saves_the_token_but_says_what_to_fix(
    connect_app: ConnectApp, msads_emulator: Any
) -> None:
    callback = _sign_in(connect_app, msads_emulator, developer_token="NOT-A-DEV-TOKEN-1")
    done = connect_app.client.get(
        connect_app.client.get(callback, headers=ADMIN).headers["location"], headers=ADMIN
    )
    assert "Signed in, with a problem" in done.text
    assert "msads_default" in connect_app.backend.connections


@pytest.mark.parametrize("path", ["/msads/connect/done?result=nope", "/msads/connect/done"])
def test_results_are_private_and_expire(connect_app: ConnectApp, path: str) -> None:
    assert connect_app.client.get(path, headers=ADMIN).status_code == 400


def test_base_url_config_decides_the_redirect_uri(connect_app: ConnectApp, msads_emulator: Any) -> None:
    connect_app.backend.base_url = "http://airflow.example.com/"
    page = connect_app.client.get("/msads/connect?conn_id=msads_default&new=1", headers=ADMIN)
    assert "Set [api] base_url" in page.text and "disabled" in page.text
    connect_app.backend.base_url = "https://airflow.example.com/"
    start = connect_app.client.post(
        "/msads/connect/start",
        data=_form(msads_emulator),
        headers={**ADMIN, "origin": "https://airflow.example.com"},
    )
    assert start.status_code == 303
    assert (
        "redirect_uri=https%3A%2F%2Fairflow.example.com%2Fmsads%2Fconnect%2Fcallback"
        in start.headers["location"]
    )
