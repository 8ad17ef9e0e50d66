"""MicrosoftAdsHook end to end against the emulator: the TaskFlow methods and test_connection."""

from __future__ import annotations

import os
import subprocess
import time

import pytest

from airflow_provider_msads.client.token_cache import MemoryTokenStore
from airflow_provider_msads.hooks.msads import MicrosoftAdsHook
from airflow_provider_msads.testing import (
    DEMO_CLIENT_SECRET,
    DEMO_DEVELOPER_TOKEN,
    DEMO_REFRESH_TOKEN,
    Emulator,
)


@pytest.fixture
def conn_id(msads_emulator: Emulator, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("AIRFLOW_CONN_MSADS_HOOK_EMU", msads_emulator.airflow_conn_json())
    return "msads_hook_emu"


@pytest.mark.parametrize("transport", ["rest", "soap"])
def test_hook_methods_discover_exactly_the_reachable_accounts(
    msads_emulator: Emulator, monkeypatch: pytest.MonkeyPatch, transport: str
) -> None:
    import json

    conn = json.loads(msads_emulator.airflow_conn_json())
    conn["extra"]["transport"] = transport
    monkeypatch.setenv("AIRFLOW_CONN_MSADS_HOOK_T", json.dumps(conn))
    store = MemoryTokenStore()
    hook = MicrosoftAdsHook("msads_hook_t", token_store=store)

    info = hook.get_user()
    accounts = hook.discover_accounts()
    streamed = [a.id for a in hook.iter_accounts(statuses=["Active"])]

    assert info.user.id == msads_emulator.demo_user_id
    assert [a.id for a in accounts] == list(msads_emulator.expected_account_ids)
    assert set(streamed) < set(msads_emulator.expected_account_ids)
    assert all(a.lifecycle_status == "Active" for a in accounts if a.id in streamed)
    assert msads_emulator.grant_counts["refresh_token"] == 1, "the three calls share one access token"
    assert store.load() is not None, "the rotated refresh token was persisted"


def test_test_connection_reports_the_user(conn_id: str, msads_emulator: Emulator) -> None:
    ok, message = MicrosoftAdsHook(conn_id, token_store=MemoryTokenStore()).test_connection()
    assert ok, message
    assert str(msads_emulator.demo_user_id) in message and "customer role(s)" in message


def test_test_connection_explains_a_revoked_token_without_leaking_it(
    msads_emulator: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = msads_emulator.issue_refresh_token()
    msads_emulator.revoke_refresh_token(token)
    monkeypatch.setenv("AIRFLOW_CONN_MSADS_REVOKED", msads_emulator.airflow_conn_json(refresh_token=token))

    ok, message = MicrosoftAdsHook("msads_revoked", token_store=MemoryTokenStore()).test_connection()

    assert not ok
    assert "AADSTS" in message and "msads-auth" in message
    for secret in (token, DEMO_CLIENT_SECRET, DEMO_DEVELOPER_TOKEN):
        assert secret not in message


@pytest.mark.usefixtures("airflow_db")
def test_airflow_connections_test_cli_uses_the_hook(msads_emulator: Emulator, airflow_cli: list[str]) -> None:
    """`airflow connections test` (what the UI's Test button runs) refreshes a token and calls GetUser."""
    env = {**os.environ, "AIRFLOW_CONN_MSADS_CLI_TEST": msads_emulator.airflow_conn_json()}
    result = subprocess.run(
        [*airflow_cli, "connections", "test", "msads_cli_test"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    output = result.stdout + result.stderr
    assert "Connection success!" in output, output[-2000:]
    assert msads_emulator.counters["GetUser"] == 1, "the CLI really called GetUser through the hook"
    for secret in (DEMO_REFRESH_TOKEN, DEMO_CLIENT_SECRET, DEMO_DEVELOPER_TOKEN):
        assert secret not in output


def test_retry_budget_and_timeout_are_set_on_the_hook(conn_id: str, msads_emulator: Emulator) -> None:
    # Issue 15: tests (and users) set these on the hook, not by patching module globals.
    from airflow_provider_msads.client.errors import NetworkError, TransientApiError
    from airflow_provider_msads.client.retry import RetryPolicy

    quick = RetryPolicy(max_attempts=2, backoff_base=0.01, backoff_max=0.02)
    msads_emulator.faults.inject("GetUser", status=503, times=None)
    hook = MicrosoftAdsHook(conn_id, token_store=MemoryTokenStore(), retry=quick, timeout=0.5)
    with pytest.raises(TransientApiError):
        hook.get_user()
    assert msads_emulator.counters["GetUser"] == 2

    msads_emulator.reset()
    msads_emulator.faults.inject("GetUser", kind="timeout", delay=3.0, times=None)
    started = time.monotonic()
    with pytest.raises(NetworkError) as caught:
        MicrosoftAdsHook(conn_id, token_store=MemoryTokenStore(), retry=quick, timeout=0.5).get_user()
    assert time.monotonic() - started < 2.5  # 2 attempts of at most 0.5 s each, plus the token call
    assert caught.value.attempts == 2 and caught.value.host == "127.0.0.1"
