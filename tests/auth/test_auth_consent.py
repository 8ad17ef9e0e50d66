"""msads-auth: PKCE + state, loopback listener, paste fallback, printed instructions without secrets."""

from __future__ import annotations

import json
import shlex
import uuid
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest
from msads_fake_identity import AUTH_BASE, CLIENT_ID, CLIENT_SECRET, FakeIdentity

from airflow_provider_msads.client.consent import (
    ConsentError,
    ConsentOptions,
    connection_instructions,
    obtain_token,
    parse_redirect,
)


def options(**kw: object) -> ConsentOptions:
    base: dict[str, object] = {
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "auth_base_url": AUTH_BASE,
        "port": 0,
        "timeout": 10.0,
    }
    base.update(kw)
    return ConsentOptions(**base)  # type: ignore[arg-type]


def fake_browser(fake: FakeIdentity, *, tamper_state: bool = False, error: str | None = None) -> object:
    """Plays the user + /authorize: approves and follows the redirect to the loopback listener."""
    seen: dict[str, str] = {}

    def open_url(url: str) -> None:
        query = {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
        seen.update(query)
        assert query["code_challenge_method"] == "S256"
        code = f"code-{len(fake.codes)}"
        fake.codes[code] = query["code_challenge"]
        params = {"error": error, "error_description": "AADSTS65004: declined"} if error else {"code": code}
        params["state"] = "forged" if tamper_state else query["state"]
        with httpx.Client(timeout=5.0) as browser:
            response = browser.get(query["redirect_uri"] + "?" + urlencode(params))
        seen["page"] = response.text

    open_url.seen = seen  # type: ignore[attr-defined]
    return open_url


def test_loopback_flow_obtains_a_refresh_token() -> None:
    fake = FakeIdentity()
    browser = fake_browser(fake)
    token = obtain_token(options(), http=fake.client(), open_url=browser)  # type: ignore[arg-type]
    assert token.refresh_token == fake.issued_refresh_tokens[-1]
    seen = browser.seen  # type: ignore[attr-defined]
    assert "Signed in" in seen["page"]
    assert seen["redirect_uri"].startswith("http://localhost:")
    redeemed = fake.requests[-1]
    assert redeemed["grant_type"] == "authorization_code"
    assert redeemed["redirect_uri"] == seen["redirect_uri"]
    assert len(seen["state"]) >= 20


def test_state_mismatch_is_refused_before_redeeming() -> None:
    fake = FakeIdentity()
    with pytest.raises(ConsentError, match="state does not match"):
        obtain_token(options(), http=fake.client(), open_url=fake_browser(fake, tamper_state=True))  # type: ignore[arg-type]
    assert fake.requests == []


def test_denied_consent_reports_the_error() -> None:
    fake = FakeIdentity()
    with pytest.raises(ConsentError, match=r"access_denied.*AADSTS65004"):
        obtain_token(options(), http=fake.client(), open_url=fake_browser(fake, error="access_denied"))  # type: ignore[arg-type]


def test_no_redirect_times_out_within_the_bound() -> None:
    fake = FakeIdentity()
    with pytest.raises(ConsentError, match="no redirect arrived"):
        obtain_token(options(timeout=0.2), http=fake.client(), open_url=lambda url: None)


def test_paste_fallback_for_headless_servers(capsys: pytest.CaptureFixture[str]) -> None:
    fake = FakeIdentity()
    printed: dict[str, str] = {}

    def read_line(prompt: str) -> str:
        url = capsys.readouterr().err.split("  ", 1)[1].split()[0]
        query = {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
        fake.codes["pasted"] = query["code_challenge"]
        printed.update(query)
        return f"{query['redirect_uri']}?code=pasted&state={query['state']}&session_state=x"

    token = obtain_token(options(port=8765), http=fake.client(), read_line=read_line)
    assert token.refresh_token == fake.issued_refresh_tokens[-1]
    assert printed["redirect_uri"] == "http://localhost:8765/"


def test_parse_redirect_accepts_url_or_query() -> None:
    assert parse_redirect("http://localhost:1/?code=a&state=b").code == "a"
    assert parse_redirect("code=a&state=b").state == "b"
    assert parse_redirect("?error=x").error == "x"


def test_instructions_show_the_token_once_and_never_the_client_secret() -> None:
    token = "M.R3_fake.printed-once-refresh-token!with$odd*chars-0123456789"
    text = connection_instructions(options(conn_id="msads_prod", tenant="contoso.onmicrosoft.com"), token)
    assert text.count(token) == 1
    assert CLIENT_SECRET not in text and "<YOUR_CLIENT_SECRET>" in text
    assert "airflow connections add msads_prod --conn-type msads" in text
    assert "AIRFLOW_CONN_MSADS_PROD=" in text
    export_line = next(line for line in text.splitlines() if "MSADS_REFRESH_TOKEN=" in line)
    assert shlex.split(export_line.strip()) == ["export", f"MSADS_REFRESH_TOKEN={token}"]
    add_line = next(line for line in text.splitlines() if "connections add" in line)
    extra = json.loads(shlex.split(add_line.strip())[-1])
    assert extra["tenant"] == "contoso.onmicrosoft.com" and extra["auth_base_url"] == AUTH_BASE


def test_sandbox_instructions_use_the_public_sandbox_developer_token() -> None:
    text = connection_instructions(options(environment="sandbox", client_secret=None), "tok-" + "x" * 40)
    assert '"developer_token": "BBD37VB98"' in text and "client_secret" not in text


def test_update_connection_writes_the_password_through_airflow(airflow_db: object) -> None:
    from airflow.models.connection import Connection
    from airflow.utils.session import create_session

    from airflow_provider_msads.hooks.connections import ConnectionWriteError, store_refresh_token

    conn_id = f"msads_consent_update_{uuid.uuid4().hex[:8]}"
    with create_session() as session:
        session.add(
            Connection(conn_id=conn_id, conn_type="msads", login=CLIENT_ID, password="old-token-xxxxxxx")
        )
    try:
        created = store_refresh_token(
            conn_id, "M.R3_fake.fresh-consent-token-0123456789", client_id=CLIENT_ID
        )
        assert created is False
        with create_session() as session:
            stored = session.query(Connection).filter(Connection.conn_id == conn_id).one()
            assert stored.password == "M.R3_fake.fresh-consent-token-0123456789"
        with pytest.raises(ConnectionWriteError, match="belongs to client id") as other:
            store_refresh_token(conn_id, "tok-" + "y" * 30, client_id="another-client")
        assert other.value.problem == "other_client"
        with pytest.raises(ConnectionWriteError, match="no connection"):
            store_refresh_token("msads_does_not_exist", "tok-" + "y" * 30, client_id=CLIENT_ID)
    finally:
        with create_session() as session:
            session.query(Connection).filter(Connection.conn_id == conn_id).delete()


def test_update_connection_refuses_environment_defined_connections(monkeypatch: pytest.MonkeyPatch) -> None:
    from airflow_provider_msads.hooks.connections import ConnectionWriteError, store_refresh_token

    monkeypatch.setenv("AIRFLOW_CONN_MSADS_FROM_ENV", '{"conn_type": "msads"}')
    with pytest.raises(ConnectionWriteError, match="environment variable AIRFLOW_CONN_MSADS_FROM_ENV"):
        store_refresh_token("msads_from_env", "tok-" + "y" * 30, client_id=CLIENT_ID)


def test_a_secret_on_the_command_line_is_refused_without_echoing_it(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from airflow_provider_msads.consent_cli import main

    code = main(["--client-id", CLIENT_ID, "--client-secret", CLIENT_SECRET, "--auth-base-url", AUTH_BASE])
    err = capsys.readouterr().err
    assert code == 2
    assert "MSADS_CLIENT_SECRET" in err and CLIENT_SECRET not in err


def test_help_shows_every_default_and_the_environment_choices(capsys: pytest.CaptureFixture[str]) -> None:
    from airflow_provider_msads.client.consent import DEFAULT_PORT
    from airflow_provider_msads.consent_cli import build_parser

    parser = build_parser()
    text = " ".join(parser.format_help().split())
    for action in parser._actions:
        if action.help and action.option_strings and action.dest != "help":
            assert "(default:" in " ".join((action.help % {"default": action.default}).split()), action.dest
    assert "{production,sandbox}" in text
    assert f"(default: {DEFAULT_PORT})" in text
    assert DEFAULT_PORT != 8765  # the port the emulator docs use: both run side by side


def test_busy_loopback_port_is_explained(capsys: pytest.CaptureFixture[str]) -> None:
    import socket

    from airflow_provider_msads.consent_cli import main

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        code = main(["--client-id", CLIENT_ID, "--auth-base-url", AUTH_BASE, "--port", str(port)])
    assert code == 1
    assert "--port" in capsys.readouterr().err
