"""The Connect page without sticky sessions: two ``airflow api-server`` processes behind a round-robin proxy.

Headless Chromium signs in through the proxy, which sends every Connect request to the other API server
than the one before: the form is posted to one process, Microsoft's redirect back (the callback) lands
on the other, and the result page on the first again. That only works because the pending sign-in and
its result live in the metadata database, not in a process. Then single use across processes: the
callback URL replayed (through the proxy and at each API server directly) is refused everywhere.

Skips (with the reason) only when Playwright or Debian's chromium is missing.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from msads_round_robin_proxy import round_robin_proxy

from airflow_provider_msads.testing import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, DEMO_DEVELOPER_TOKEN

pytestmark = pytest.mark.e2e

CHROMIUM = os.environ.get("MSADS_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-sync"]
CONN_ID = "msads_two_servers"
PASSWORD = "admin-scaleout-password"
START_TIMEOUT = 120.0
STEP_MS = 30_000


def _require_browser() -> Any:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("Playwright is not installed (pip install playwright); this test drives a real browser")
    if not (Path(CHROMIUM).exists() or shutil.which(CHROMIUM)):
        pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium, or set MSADS_CHROMIUM)")
    return sync_playwright


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def api_servers(count: int, airflow_cli: list[str], tmp_path: Path) -> Iterator[list[tuple[str, Path]]]:
    """``count`` API servers on one metadata DB with the same secrets, as replicas behind a balancer."""
    passwords = tmp_path / "passwords.json"
    passwords.write_text(json.dumps({"admin": PASSWORD}))
    env = {
        **os.environ,
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "False",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords),
        "AIRFLOW__API__WORKERS": "1",
        # replicas share their secrets (JWTs signed by one are accepted by the other), nothing else
        "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(32),
        "AIRFLOW__API__SECRET_KEY": secrets.token_urlsafe(32),
    }
    env.pop(f"AIRFLOW_CONN_{CONN_ID.upper()}", None)
    servers: list[tuple[str, Path, subprocess.Popen[bytes]]] = []
    try:
        for index in range(count):
            port = _free_port()
            log = tmp_path / f"api-server-{index}.log"
            workdir = tmp_path / f"server-{index}"  # not the checkout (a stray *.egg-info registers twice)
            workdir.mkdir()
            with log.open("wb") as out:
                process = subprocess.Popen(
                    [*airflow_cli, "api-server", "--host", "127.0.0.1", "--port", str(port)],
                    env={**env, "TMPDIR": str(workdir)},
                    cwd=workdir,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            servers.append((f"http://127.0.0.1:{port}", log, process))
        deadline = time.monotonic() + START_TIMEOUT
        for url, log, process in servers:
            while True:
                if process.poll() is not None:
                    pytest.fail(f"api-server exited with {process.returncode}:\n{log.read_text()[-3000:]}")
                with contextlib.suppress(httpx.HTTPError):
                    if httpx.get(f"{url}/api/v2/monitor/health", timeout=2).status_code == 200:
                        break
                if time.monotonic() > deadline:
                    pytest.fail(
                        f"api-server {url} not up after {START_TIMEOUT:.0f} s:\n{log.read_text()[-3000:]}"
                    )
                time.sleep(0.5)
        yield [(url, log) for url, log, _ in servers]
    finally:
        for _, _, process in servers:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
        for _, _, process in servers:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)
        _delete_connection(CONN_ID)


def _delete_connection(conn_id: str) -> None:
    from airflow.models.connection import Connection
    from airflow.utils.session import create_session

    with create_session() as session:
        session.query(Connection).filter(Connection.conn_id == conn_id).delete()


def _wait_for_url(page: Any, pattern: str) -> None:
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    try:
        page.wait_for_url(pattern, timeout=STEP_MS)
    except PlaywrightTimeout:
        text = page.inner_text("body")[:1500] if page.url.startswith("http") else ""
        pytest.fail(f"browser did not reach {pattern}; it is at {page.url}:\n{text}")


def test_sign_in_started_on_one_api_server_finishes_on_another(
    airflow_db: Path, airflow_cli: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sync_playwright = _require_browser()
    from airflow_provider_msads.client.token_cache import MemoryTokenStore
    from airflow_provider_msads.hooks.msads import MicrosoftAdsHook
    from airflow_provider_msads.testing import Emulator

    _delete_connection(CONN_ID)
    emulator = Emulator(accounts=7, seed=5)
    callbacks: list[str] = []
    with (
        emulator.serve("127.0.0.1", 0) as emu,
        api_servers(2, airflow_cli, tmp_path) as servers,
        round_robin_proxy([url for url, _ in servers]) as proxy,
        sync_playwright() as pw,
    ):
        token = httpx.post(
            f"{servers[0][0]}/auth/token", json={"username": "admin", "password": PASSWORD}, timeout=20
        ).json()["access_token"]
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            context = browser.new_context()
            context.set_default_timeout(STEP_MS)
            context.add_cookies(
                [{"name": "_token", "value": token, "url": proxy.url, "httpOnly": True, "sameSite": "Lax"}]
            )
            page = context.new_page()
            page.on(
                "request",
                lambda r: callbacks.append(r.url) if "/msads/connect/callback" in r.url else None,
            )
            page.goto(f"{proxy.url}/msads/connect?conn_id={CONN_ID}&new=1")
            page.fill("#client_id", DEMO_CLIENT_ID)
            page.fill("#client_secret", DEMO_CLIENT_SECRET)
            page.fill("#developer_token", DEMO_DEVELOPER_TOKEN)
            page.click("details summary")
            page.fill("#auth_base_url", emu.url)
            page.fill("#api_base_url", emu.url)
            page.click("button[type=submit]")
            _wait_for_url(page, "**/msads/connect/done?result=*")
            done = page.content()
            assert "Connected" in done, page.inner_text("body")[:1500]
            assert emu.data.demo_user.user_name in done
            assert page.url.startswith(proxy.url)

            # Every step of the sign-in was served by the other API server than the step before.
            start = proxy.backend_of("/msads/connect/start")
            callback = proxy.backend_of("/msads/connect/callback")
            result = proxy.backend_of("/msads/connect/done")
            assert len(start) == len(callback) == len(result) == 1, proxy.served
            assert start[0] != callback[0] != result[0], proxy.served

            # Single use across processes: the callback URL replayed is refused by every API server.
            assert len(callbacks) == 1
            replay = page.goto(callbacks[0])
            assert replay is not None and replay.status == 400
            assert "This sign-in is unknown or was already used" in page.content()
            for url, _ in servers:
                direct = httpx.get(
                    url + callbacks[0].removeprefix(proxy.url), cookies={"_token": token}, timeout=30
                )
                assert direct.status_code == 400 and "unknown or was already used" in direct.text
            assert emu.grant_counts["authorization_code"] == 1
        finally:
            browser.close()

        monkeypatch.setenv("_AIRFLOW_PROCESS_CONTEXT", "server")
        hook = MicrosoftAdsHook(CONN_ID, token_store=MemoryTokenStore())
        assert sorted(a.id for a in hook.discover_accounts()) == sorted(emu.expected_account_ids)
        issued = [*emulator.identity.refresh_tokens, *emulator.identity.access_tokens]
        codes = list(emulator.identity.auth_codes)

    time.sleep(0.5)
    for url, log in servers:
        text = log.read_text(errors="replace")
        assert "/msads/connect" in text, f"{url} served part of the flow"
        for secret in [*issued, *codes, DEMO_CLIENT_SECRET, DEMO_DEVELOPER_TOKEN]:
            assert secret not in text, f"a secret reached the log of {url}"
