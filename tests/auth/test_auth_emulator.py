"""The token lifecycle against the bundled emulator (real HTTP on 127.0.0.1, real token endpoint logic)."""

from __future__ import annotations

import json
import logging
import shlex
from pathlib import Path
from typing import Any

import httpx
import pytest

from airflow_provider_msads.client.auth import AuthRetryPolicy, OAuthClient, RefreshTokenAuth
from airflow_provider_msads.client.errors import TerminalAuthError, TransientAuthError
from airflow_provider_msads.client.settings import ConnectionSettings
from airflow_provider_msads.client.token_cache import FileLock
from airflow_provider_msads.consent_cli import main as msads_auth
from airflow_provider_msads.hooks.token_store import VariableTokenStore
from airflow_provider_msads.testing import (
    DEMO_CLIENT_ID,
    DEMO_CLIENT_SECRET,
    DEMO_DEVELOPER_TOKEN,
    DEMO_PUBLIC_CLIENT_ID,
    DEMO_REFRESH_TOKEN,
)

FAST = AuthRetryPolicy(max_attempts=3, max_total_seconds=5.0, initial_wait=0.01, max_wait=0.05, jitter=0.0)


class DictVariables:
    def __init__(self) -> None:
        self.values: dict[str, str] = {}

    def get(self, key: str) -> str | None:
        return self.values.get(key)

    def set(self, key: str, value: str, description: str) -> None:
        self.values[key] = value


def emu_settings(emu: Any, refresh_token: str = DEMO_REFRESH_TOKEN, **extra: str) -> ConnectionSettings:
    return ConnectionSettings.from_connection_fields(
        login=extra.pop("client_id", DEMO_CLIENT_ID),
        password=refresh_token,
        extra={**emu.connection_extra(), **extra},
    )


def make_auth(emu: Any, tmp_path: Path, http: httpx.Client, **kw: Any) -> RefreshTokenAuth:
    return RefreshTokenAuth.from_settings(
        kw.pop("settings", None) or emu_settings(emu),
        http=http,
        retry=kw.pop("retry", FAST),
        lock=FileLock(tmp_path / "emu.lock", timeout=10.0),
        **kw,
    )


def get_user(emu: Any, http: httpx.Client, access_token: str) -> httpx.Response:
    return http.post(
        emu.url + "/CustomerManagement/v13/User/Query",
        json={"UserId": None},
        headers={"Authorization": f"Bearer {access_token}", "DeveloperToken": DEMO_DEVELOPER_TOKEN},
    )


@pytest.fixture
def http() -> Any:
    with httpx.Client(timeout=5.0) as client:
        yield client


def test_refresh_works_and_the_token_is_accepted_by_the_api(
    msads_emulator: Any, tmp_path: Path, http: Any
) -> None:
    auth = make_auth(msads_emulator, tmp_path, http)
    token = auth.get_access_token()
    assert get_user(msads_emulator, http, token).status_code == 200
    assert msads_emulator.grant_counts["refresh_token"] == 1


def test_cache_avoids_extra_grants(msads_emulator: Any, tmp_path: Path, http: Any) -> None:
    store = VariableTokenStore("emu_cache", emu_settings(msads_emulator), variables=DictVariables())
    first = make_auth(msads_emulator, tmp_path, http, token_store=store)
    tokens = {first.get_access_token() for _ in range(10)}
    # a second task (new object, same connection store) reuses the shared access token
    second = make_auth(msads_emulator, tmp_path, http, token_store=store)
    tokens.add(second.get_access_token())
    assert len(tokens) == 1
    assert msads_emulator.counters["token"] == 1 and msads_emulator.grant_counts["refresh_token"] == 1
    assert first.refresh_count == 1 and second.refresh_count == 0


def test_error_109_invalidate_then_get_refreshes_exactly_once(
    msads_emulator: Any, tmp_path: Path, http: Any
) -> None:
    auth = make_auth(msads_emulator, tmp_path, http)
    token = auth.get_access_token()
    msads_emulator.expire_access_tokens()
    rejected = get_user(msads_emulator, http, token)
    assert rejected.status_code == 401 and "109" in rejected.text
    auth.invalidate(token)  # what the API client does on 109 / HTTP 401 ...
    fresh = auth.get_access_token()  # ... then it retries once with this
    assert fresh != token
    assert get_user(msads_emulator, http, fresh).status_code == 200
    auth.invalidate(token)  # a late report of the old token changes nothing
    assert auth.get_access_token() == fresh
    assert msads_emulator.grant_counts["refresh_token"] == 2 and auth.refresh_count == 2


def test_rotation_is_persisted_and_read_back_by_a_new_auth_object(
    msads_emulator: Any, tmp_path: Path, http: Any
) -> None:
    variables = DictVariables()
    settings = emu_settings(msads_emulator)
    make_auth(
        msads_emulator, tmp_path, http, token_store=VariableTokenStore("c", settings, variables=variables)
    )
    auth1 = make_auth(
        msads_emulator, tmp_path, http, token_store=VariableTokenStore("c", settings, variables=variables)
    )
    auth1.get_access_token()
    stored = VariableTokenStore("c", settings, variables=variables).load()
    assert stored is not None and stored.refresh_token != DEMO_REFRESH_TOKEN
    assert stored.refresh_token not in json.dumps(variables.values)  # encrypted at rest
    msads_emulator.revoke_refresh_token(DEMO_REFRESH_TOKEN)  # from now on only the rotated chain works
    msads_emulator.expire_access_tokens()
    for _ in range(3):  # three more "task runs", each a new object, each must continue the chain
        store = VariableTokenStore("c", settings, variables=variables)
        store.discard_access_token(store.load_access_token().access_token)  # type: ignore[union-attr]
        auth = make_auth(msads_emulator, tmp_path, http, token_store=store)
        assert get_user(msads_emulator, http, auth.get_access_token()).status_code == 200
    assert msads_emulator.grant_counts["refresh_token"] == 4


TERMINAL = [
    (70008, "refresh token expired (or was revoked) (AADSTS70008"),
    (50173, "revoked"),
    (700082, "inactivity"),
    (7000215, "client secret is wrong"),
    (700016, "no app with this client ID exists"),
    (70011, "rejected the requested Microsoft Advertising scope"),
    (50076, "multi-factor"),
    (65001, "has consented to this app"),
    (50196, "request loop"),
]


@pytest.mark.parametrize(("code", "expected"), TERMINAL)
def test_terminal_errors_are_explained_and_not_retried(
    msads_emulator: Any, tmp_path: Path, http: Any, code: int, expected: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    msads_emulator.faults.inject("token", error_code=code, times=None)
    auth = make_auth(msads_emulator, tmp_path, http)
    with pytest.raises(TerminalAuthError) as info:
        auth.get_access_token()
    assert expected in str(info.value) and f"AADSTS{code}" in str(info.value)
    assert msads_emulator.counters["token"] == 1
    for secret in (DEMO_REFRESH_TOKEN, DEMO_CLIENT_SECRET, DEMO_DEVELOPER_TOKEN):
        assert secret not in str(info.value) + repr(info.value) + caplog.text


def test_real_revocation_and_wrong_secret_and_public_client(
    msads_emulator: Any, tmp_path: Path, http: Any
) -> None:
    msads_emulator.revoke_refresh_token(DEMO_REFRESH_TOKEN)
    with pytest.raises(TerminalAuthError, match=r"revoked.*AADSTS50173.*msads-auth"):
        make_auth(msads_emulator, tmp_path, http).get_access_token()
    msads_emulator.reset()
    wrong = emu_settings(msads_emulator, client_secret="not-the-secret-0123456789")
    with pytest.raises(TerminalAuthError, match="AADSTS7000215"):
        make_auth(msads_emulator, tmp_path, http, settings=wrong).get_access_token()
    public = emu_settings(msads_emulator, client_id=DEMO_PUBLIC_CLIENT_ID)
    with pytest.raises(TerminalAuthError, match=r"AADSTS700025.*remove client_secret"):
        make_auth(msads_emulator, tmp_path, http, settings=public).get_access_token()
    assert msads_emulator.grant_counts["refresh_token"] == 0


def test_transient_errors_are_retried_within_the_bound(
    msads_emulator: Any, tmp_path: Path, http: Any
) -> None:
    msads_emulator.faults.inject("token", status=500, times=2)
    auth = make_auth(msads_emulator, tmp_path, http)
    assert auth.get_access_token()
    assert msads_emulator.counters["token"] == 3 and msads_emulator.grant_counts["refresh_token"] == 1
    msads_emulator.reset()
    msads_emulator.faults.inject("token", status=503, times=None)
    with pytest.raises(TransientAuthError):
        make_auth(msads_emulator, tmp_path, http).get_access_token()
    assert msads_emulator.counters["token"] == FAST.max_attempts


def test_token_endpoint_timeout_is_retried(msads_emulator: Any, tmp_path: Path) -> None:
    msads_emulator.faults.inject("token", kind="timeout", delay=1.0, times=1)
    with httpx.Client(timeout=0.3) as http:
        auth = make_auth(msads_emulator, tmp_path, http)
        assert auth.get_access_token()
    assert msads_emulator.grant_counts["refresh_token"] == 1


def test_msads_auth_end_to_end_through_the_authorize_endpoint(
    msads_emulator: Any,
    tmp_path: Path,
    http: Any,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MSADS_CLIENT_SECRET", DEMO_CLIENT_SECRET)  # never on the command line

    def browser(url: str) -> None:  # the user's browser: /authorize auto-consents, 302 to our listener
        with httpx.Client(timeout=5.0, follow_redirects=True) as client:
            page = client.get(url)
        assert page.status_code == 200 and "Signed in" in page.text

    code = msads_auth(
        [
            "--client-id",
            DEMO_CLIENT_ID,
            "--auth-base-url",
            msads_emulator.url,
            "--port",
            "0",
            "--timeout",
            "10",
            "--conn-id",
            "msads_emu",
        ],
        open_url=browser,
    )
    out, err = capsys.readouterr()
    assert code == 0, err
    assert DEMO_CLIENT_SECRET not in out + err
    assert msads_emulator.grant_counts["authorization_code"] == 1
    export = next(line for line in out.splitlines() if "MSADS_REFRESH_TOKEN=" in line)
    refresh_token = shlex.split(export.strip())[1].split("=", 1)[1]
    assert out.count(refresh_token) == 1
    # the printed token works as a connection password
    auth = make_auth(msads_emulator, tmp_path, http, settings=emu_settings(msads_emulator, refresh_token))
    assert get_user(msads_emulator, http, auth.get_access_token()).status_code == 200


def test_msads_auth_reports_denied_consent(msads_emulator: Any, capsys: pytest.CaptureFixture[str]) -> None:
    msads_emulator.deny_consent = True

    def browser(url: str) -> None:
        with httpx.Client(timeout=5.0, follow_redirects=True) as client:
            client.get(url)

    code = msads_auth(
        [
            "--client-id",
            DEMO_CLIENT_ID,
            "--auth-base-url",
            msads_emulator.url,
            "--port",
            "0",
            "--timeout",
            "10",
        ],
        open_url=browser,
    )
    assert code == 1
    assert "access_denied" in capsys.readouterr().err


def test_single_use_refresh_tokens_mode(msads_emulator_factory: Any, tmp_path: Path, http: Any) -> None:
    """The emulator's strict mode: a redeemed refresh token is refused (counted); the default mode keeps
    Microsoft's behaviour (an old token stays valid until it expires)."""

    def oauth_for(emu: Any) -> OAuthClient:
        settings = emu_settings(emu)
        return OAuthClient(
            endpoints=settings.endpoints,
            client_id=DEMO_CLIENT_ID,
            client_secret=DEMO_CLIENT_SECRET,
            http=http,
        )

    strict = msads_emulator_factory(single_use_refresh_tokens=True)
    oauth = oauth_for(strict)
    first = oauth.refresh(DEMO_REFRESH_TOKEN)
    with pytest.raises(TerminalAuthError, match="AADSTS70000") as info:
        oauth.refresh(DEMO_REFRESH_TOKEN)
    assert info.value.error == "invalid_grant" and strict.identity.refused_refresh_grants == {70000: 1}
    assert first.refresh_token is not None and oauth.refresh(first.refresh_token).access_token
    lenient = msads_emulator_factory()
    oauth = oauth_for(lenient)
    oauth.refresh(DEMO_REFRESH_TOKEN)
    oauth.refresh(DEMO_REFRESH_TOKEN)
    assert not lenient.identity.refused_refresh_grants
