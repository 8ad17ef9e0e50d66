"""Cross-machine single-flight through the shared store alone (issue 21): the lease, its bounds, races.

Each "machine" is a RefreshTokenAuth with its own VariableTokenStore object and its own file lock; they
share only the Variables (a dict with write latency here; real Airflow Variables in
test_auth_scale_processes.py). The identity fake issues SINGLE-USE refresh tokens: a second redemption
of the same token is invalid_grant, so any divergence of the chain shows up as an error.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from msads_fake_identity import (
    AUTH_BASE,
    CLIENT_ID,
    CLIENT_SECRET,
    DEVELOPER_TOKEN,
    INITIAL_REFRESH_TOKEN,
    FakeIdentity,
)

from airflow_provider_msads.client.auth import AuthRetryPolicy, RefreshTokenAuth
from airflow_provider_msads.client.settings import ConnectionSettings
from airflow_provider_msads.client.token_cache import (
    CachedAccessToken,
    FileLock,
    Lease,
    TokenState,
    fingerprint,
)
from airflow_provider_msads.hooks.token_store import VariableTokenStore, reset_variable_calls, variable_calls

FAST = AuthRetryPolicy(max_attempts=2, max_total_seconds=2.0, initial_wait=0.0, max_wait=0.0, jitter=0.0)


class Variables:
    """Airflow Variables as seen from several machines: one dict, 5 ms per call, optional private keys."""

    def __init__(self, latency: float = 0.005) -> None:
        self.values: dict[str, str] = {}
        self.latency = latency
        self.lock = threading.Lock()

    def view(self, private_leases: bool = False) -> Any:
        shared = self

        class View:
            mine: dict[str, str] = {}

            def get(self, key: str) -> str | None:
                time.sleep(shared.latency)
                if private_leases and "lease" in key:
                    return self.mine.get(key)
                with shared.lock:
                    return shared.values.get(key)

            def set(self, key: str, value: str, description: str) -> None:
                time.sleep(shared.latency)
                if private_leases and "lease" in key:
                    self.mine[key] = value
                    return
                with shared.lock:
                    shared.values[key] = value

        return View()


def settings() -> ConnectionSettings:
    return ConnectionSettings.from_connection_fields(
        login=CLIENT_ID,
        password=INITIAL_REFRESH_TOKEN,
        extra={
            "developer_token": DEVELOPER_TOKEN,
            "client_secret": CLIENT_SECRET,
            "auth_base_url": AUTH_BASE,
        },
    )


def machine(
    fake: FakeIdentity, variables: Any, tmp_path: Path, name: str, **kw: Any
) -> tuple[RefreshTokenAuth, VariableTokenStore]:
    store = VariableTokenStore("conn", settings(), variables=variables)
    (tmp_path / name).mkdir(exist_ok=True)
    auth = RefreshTokenAuth.from_settings(
        settings(),
        http=fake.client(),
        token_store=store,
        retry=FAST,
        lock=FileLock(tmp_path / name / "token.lock", timeout=10.0),
        **kw,
    )
    return auth, store


def run_together(targets: list[Any]) -> list[Any]:
    results: list[Any] = [None] * len(targets)
    barrier = threading.Barrier(len(targets), timeout=10)

    def run(i: int) -> None:
        barrier.wait()
        try:
            results[i] = targets[i]()
        except BaseException as err:  # surfaced by the assertion below
            results[i] = err

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(targets))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not [r for r in results if isinstance(r, BaseException)], results
    return results


def invalid_grants(fake: FakeIdentity) -> int:
    return fake.grant_counts["refresh_token"] - len(fake.issued_refresh_tokens)


def test_machines_sharing_only_variables_make_one_grant(tmp_path: Path) -> None:
    fake, variables = FakeIdentity(single_use=True, delay=0.05), Variables()
    machines = [machine(fake, variables.view(), tmp_path, f"m{i}") for i in range(6)]
    tokens = run_together([auth.get_access_token for auth, _ in machines])
    assert len(set(tokens)) == 1
    assert fake.grant_counts["refresh_token"] == 1 and invalid_grants(fake) == 0
    stored = machines[0][1].load()
    assert stored is not None and stored.refresh_token == fake.issued_refresh_tokens[-1]


def test_a_worker_with_a_usable_token_keeps_working_while_another_holds_the_lease(tmp_path: Path) -> None:
    fake, variables = FakeIdentity(single_use=True), Variables()
    auth, store = machine(fake, variables.view(), tmp_path, "m")
    now = time.time()
    due = CachedAccessToken(
        "eyJ.current-access-token.0123456789", now - 3400, now + 200, fingerprint(INITIAL_REFRESH_TOKEN), 1
    )
    store.publish(TokenState(1, None, due))  # past its refresh point, still usable
    store.write_lease(Lease("another-worker", 1, now + 30))
    started = time.monotonic()
    assert auth.get_access_token() == due.access_token
    assert time.monotonic() - started < 0.5 and fake.grant_counts["refresh_token"] == 0


def test_a_killed_lease_holder_stalls_the_others_at_most_the_lease_ttl(tmp_path: Path) -> None:
    fake, variables = FakeIdentity(single_use=True), Variables()
    auth, store = machine(fake, variables.view(), tmp_path, "m", lease_ttl=1.5)
    store.write_lease(Lease("killed-worker", 0, time.time() + 3600))  # its clock may even run ahead
    started = time.monotonic()
    auth.get_access_token()
    waited = time.monotonic() - started
    assert 1.4 <= waited <= 1.5 + 1.5  # respected the lease, then took over within ttl + settle + polls
    assert fake.grant_counts["refresh_token"] == 1 and invalid_grants(fake) == 0


def test_a_lost_race_on_a_single_use_token_continues_with_the_winners_chain(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Both believe they hold the lease (lease writes that never meet): one redemption is refused with
    invalid_grant; that worker picks up the chain the other one stored instead of failing."""
    caplog.set_level(logging.DEBUG)
    fake, variables = FakeIdentity(single_use=True, delay=0.2), Variables()
    a, store = machine(fake, variables.view(private_leases=True), tmp_path, "a")
    b, _ = machine(fake, variables.view(private_leases=True), tmp_path, "b")
    tokens = run_together([a.get_access_token, b.get_access_token])
    assert fake.grant_counts["refresh_token"] == 2 and invalid_grants(fake) == 1
    assert a.recovered_races + b.recovered_races == 1
    assert len(set(tokens)) == 1
    stored = store.load()
    assert stored is not None and stored.refresh_token == fake.issued_refresh_tokens[-1]
    assert "redeemed the refresh token first" in caplog.text
    text = caplog.text + repr(a) + repr(b) + repr(store) + repr(stored) + json.dumps(variables.values)
    for secret in fake.all_secrets():
        assert secret not in text


def test_a_worker_with_its_clock_a_day_ahead_does_not_freeze_the_chain(tmp_path: Path) -> None:
    fake, variables = FakeIdentity(single_use=True), Variables(latency=0)
    ahead, _ = machine(fake, variables.view(), tmp_path, "ahead", clock=lambda: time.time() + 86400)
    token = ahead.get_access_token()
    normal, store = machine(fake, variables.view(), tmp_path, "normal")
    assert normal.get_access_token() == token
    normal.invalidate(token)  # the API rejects it: the next call refreshes from the stored chain
    normal.get_access_token()
    later, _ = machine(fake, variables.view(), tmp_path, "later")
    later.get_access_token()
    stored = store.load()
    assert stored is not None and stored.refresh_token == fake.issued_refresh_tokens[-1]
    assert invalid_grants(fake) == 0


def test_variable_calls_in_a_task(tmp_path: Path) -> None:
    """Issue 17: a valid shared access token costs one Variable read and no write; a refresh writes the
    token document once (plus the lease)."""
    fake, variables = FakeIdentity(), Variables(latency=0)
    first, _ = machine(fake, variables.view(), tmp_path, "m")
    reset_variable_calls()
    first.get_access_token()
    refresh_calls = variable_calls()
    reset_variable_calls()
    task, _ = machine(fake, variables.view(), tmp_path, "m")
    for _ in range(20):
        task.get_access_token()
    assert variable_calls()["get"] == 1 and variable_calls()["set"] == 0
    assert refresh_calls["set"] == 2 and refresh_calls["lease_set"] == 1  # the lease, then the tokens
    assert refresh_calls["get"] <= 6
    assert fake.grant_counts["refresh_token"] == 1
