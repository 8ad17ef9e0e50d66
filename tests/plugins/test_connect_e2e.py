"""End to end: a real ``airflow api-server``, the emulator, and headless Chromium driving the Connect page.

Proves what a unit test cannot: Airflow 3 loads the plugin from the entry point and mounts it, the
auth manager's permission decides (an Op-less viewer is refused), the callback writes the connection
through Airflow's ORM on the API server, the stored refresh token works for discovery, and no token
reaches the page HTML, the browser's navigation history or the server log. Also takes the README
screenshots: into the test's tmp dir, or into docs/images/ when MSADS_UPDATE_SCREENSHOTS=1.

Skips (with the reason) only when Playwright or Debian's chromium is missing.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from airflow_provider_msads.testing import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, DEMO_DEVELOPER_TOKEN

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
IMAGES = REPO / "docs" / "images"
CHROMIUM = os.environ.get("MSADS_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
CONN_ID = "msads_browser"
PASSWORDS = {"admin": "admin-e2e-password", "viewer": "viewer-e2e-password"}
SERVER_START_TIMEOUT = 120.0
STEP_TIMEOUT_MS = 30_000


def _require_browser() -> Any:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("Playwright is not installed (pip install playwright); this test drives a real browser")
    if not (Path(CHROMIUM).exists() or shutil.which(CHROMIUM)):
        pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium, or set MSADS_CHROMIUM)")
    return sync_playwright


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class ApiServer:
    url: str
    log: Path
    process: subprocess.Popen[bytes]

    def token(self, user: str) -> str:
        response = httpx.post(
            f"{self.url}/auth/token", json={"username": user, "password": PASSWORDS[user]}, timeout=20
        )
        response.raise_for_status()
        return str(response.json()["access_token"])


@pytest.fixture
def api_server(airflow_db: Path, airflow_cli: list[str], tmp_path: Path) -> Iterator[ApiServer]:
    """``airflow api-server`` on a free loopback port, simple auth manager with an admin and a viewer."""
    passwords = tmp_path / "passwords.json"
    passwords.write_text(json.dumps(PASSWORDS))
    env = {
        **os.environ,
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "False",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin,viewer:viewer",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords),
        "AIRFLOW__API__WORKERS": "1",
    }
    env.pop(f"AIRFLOW_CONN_{CONN_ID.upper()}", None)
    port = _free_port()
    log = tmp_path / "api-server.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [*airflow_cli, "api-server", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            cwd=tmp_path,  # not the checkout: a stray *.egg-info there would register the plugin twice
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + SERVER_START_TIMEOUT
        while True:
            if process.poll() is not None:
                pytest.fail(
                    f"airflow api-server exited with {process.returncode}:\n{log.read_text()[-3000:]}"
                )
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{url}/api/v2/monitor/health", timeout=2).status_code == 200:
                    break
            if time.monotonic() > deadline:
                tail = log.read_text()[-3000:]
                pytest.fail(f"airflow api-server not up after {SERVER_START_TIMEOUT:.0f} s:\n{tail}")
            time.sleep(0.5)
        yield ApiServer(url, log, process)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
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
    """Bounded wait for a navigation; on timeout say where the browser is and what it shows."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    try:
        page.wait_for_url(pattern, timeout=STEP_TIMEOUT_MS)
    except PlaywrightTimeout:
        text = page.inner_text("body")[:1500] if page.url.startswith("http") else ""
        pytest.fail(f"browser did not reach {pattern}; it is at {page.url}:\n{text}")


def _check_airflow_connection_form(context: Any, base_url: str, images: Path) -> None:
    """Admin → Connections → Add, type "Microsoft Advertising": relabelled, hidden and extra fields."""
    form = context.new_page()
    form.set_viewport_size({"width": 1000, "height": 1900})  # the whole dialog, without inner scrolling
    form.goto(f"{base_url}/connections")
    form.get_by_role("button", name="Add Connection").click()
    form.get_by_role("combobox").fill("Microsoft Adv")
    form.get_by_role("option", name="Microsoft Advertising").click()
    dialog = form.get_by_role("dialog")
    dialog.get_by_text("Refresh token", exact=True).wait_for()
    standard = dialog.inner_text()
    assert "Client ID" in standard and "Refresh token" in standard
    assert "Host" not in standard and "Port" not in standard and "Schema" not in standard
    assert dialog.locator('input[placeholder*="msads-auth"]').get_attribute("type") == "password"
    dialog.get_by_text("Extra Fields", exact=True).click()
    dialog.get_by_text("Developer token", exact=True).wait_for()
    extras = dialog.inner_text()
    for label in (
        "Developer token",
        "Client secret",
        "Environment",
        "Tenant",
        "Default customer ID",
        "API transport",
        "Identity platform URL override",
        "API URL override",
    ):
        assert label in extras, label
    assert "universal token BBD37VB98" in extras, "help text is shown"
    assert dialog.locator("input[type=password]").count() >= 2, "developer token and client secret are secret"
    form.screenshot(path=str(images / "connection-form.png"))
    form.close()


def _session_cookie(server: ApiServer, user: str) -> dict[str, Any]:
    return {
        "name": "_token",
        "value": server.token(user),
        "url": server.url,
        "httpOnly": True,
        "sameSite": "Lax",
    }


def test_connect_in_the_browser(
    api_server: ApiServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    sync_playwright = _require_browser()
    from airflow_provider_msads.client.token_cache import MemoryTokenStore
    from airflow_provider_msads.hooks.msads import MicrosoftAdsHook
    from airflow_provider_msads.testing import Emulator

    images = IMAGES if os.environ.get("MSADS_UPDATE_SCREENSHOTS") == "1" else tmp_path
    images.mkdir(parents=True, exist_ok=True)
    _delete_connection(CONN_ID)
    emulator = Emulator(accounts=12, seed=3)
    html: list[str] = []
    navigated: list[str] = []
    requested: list[str] = []
    with emulator.serve("127.0.0.1", 0) as emu, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            context = browser.new_context(viewport={"width": 1100, "height": 1000})
            context.set_default_timeout(STEP_TIMEOUT_MS)
            context.set_default_navigation_timeout(STEP_TIMEOUT_MS)
            context.add_cookies([_session_cookie(api_server, "admin")])

            # The Airflow UI lists the plugin's menu entry (an external view without url_route).
            menu = httpx.get(
                f"{api_server.url}/api/v2/plugins",
                headers={"Authorization": f"Bearer {api_server.token('admin')}"},
                timeout=20,
            ).json()
            errors = httpx.get(
                f"{api_server.url}/api/v2/plugins/importErrors",
                headers={"Authorization": f"Bearer {api_server.token('admin')}"},
                timeout=20,
            ).json()
            assert not [e for e in errors["import_errors"] if "msads" in json.dumps(e)], errors
            view = next(
                v for p in menu["plugins"] for v in p["external_views"] if v["href"] == "/msads/connect"
            )
            assert (view["name"], view["category"], view["url_route"]) == (
                "Connect",
                "Microsoft Advertising",
                None,
            )

            # Airflow's own connection form renders the msads type as provider_info declares it.
            _check_airflow_connection_form(context, api_server.url, images)

            # 0. Airflow's own UI: Plugins → Microsoft Advertising → Connect opens the page in a new tab.
            home = context.new_page()
            home.goto(f"{api_server.url}/")
            home.wait_for_load_state("networkidle")
            home.locator('[aria-label="Plugins"]').click()
            home.get_by_role("menuitem", name="Microsoft Advertising").hover()
            connect_item = home.get_by_role("menuitem", name="Connect", exact=True)
            connect_item.wait_for()
            home.wait_for_function(
                "() => [...document.images].some(i => i.src.endsWith('/msads/icon.svg') && i.naturalWidth > 0)"
            )
            home.wait_for_timeout(500)  # let the submenu's fade-in finish before the screenshot
            home.screenshot(path=str(images / "connect-0-menu.png"))
            with context.expect_page() as opened:
                connect_item.click()
            page = opened.value
            page.on("framenavigated", lambda frame: navigated.append(frame.url))
            page.on("request", lambda request: requested.append(request.url))
            _wait_for_url(page, "**/msads/connect")
            home.close()

            # 1. Choose: create a new connection.
            html.append(page.content())
            page.fill("#conn_id", CONN_ID)
            page.click("button[type=submit]")
            _wait_for_url(page, f"**/msads/connect?*conn_id={CONN_ID}*")

            # 2. The form: app details, emulator endpoints; screenshot; sign in.
            page.fill("#client_id", DEMO_CLIENT_ID)
            page.fill("#client_secret", DEMO_CLIENT_SECRET)
            page.fill("#developer_token", DEMO_DEVELOPER_TOKEN)
            page.click("details summary")
            page.fill("#auth_base_url", emu.url)
            page.fill("#api_base_url", emu.url)
            html.append(page.content())
            page.screenshot(path=str(images / "connect-1-form.png"), full_page=True)
            page.click("button[type=submit]")
            _wait_for_url(page, "**/msads/connect/done?result=*")

            # 3. The result page.
            done = page.content()
            html.append(done)
            assert "Connected" in done
            assert emu.data.demo_user.user_name in done
            assert f"{len(emu.expected_account_ids)}\n  accounts" in done
            page.screenshot(path=str(images / "connect-2-done.png"), full_page=True)
            assert page.evaluate("history.length") <= 3  # chooser, form, result: no callback entry

            # 4. Consent declined: the same connection again, the error in plain words.
            emulator.deny_consent = True
            page.goto(f"{api_server.url}/msads/connect?conn_id={CONN_ID}")
            page.click("button[type=submit]")  # stored secrets are kept: nothing to retype
            page.wait_for_selector("text=Consent was declined")
            html.append(page.content())
            page.screenshot(path=str(images / "connect-3-declined.png"), full_page=True)
            emulator.deny_consent = False

            # 5. A viewer (no permission to edit connections) is refused by the auth manager.
            viewer = browser.new_context()
            viewer.set_default_timeout(STEP_TIMEOUT_MS)
            viewer.add_cookies([_session_cookie(api_server, "viewer")])
            viewer_page = viewer.new_page()
            response = viewer_page.goto(f"{api_server.url}/msads/connect?conn_id={CONN_ID}")
            assert response is not None and response.status == 403
            assert "You may not edit this connection" in viewer_page.content()
            posted = viewer_page.request.post(
                f"{api_server.url}/msads/connect/start",
                form={"conn_id": CONN_ID, "mode": "existing", "client_id": DEMO_CLIENT_ID},
            )
            assert posted.status == 403
            viewer.close()
        finally:
            browser.close()

        # The connection now holds a working refresh token: discovery through the hook succeeds.
        # (Outside tasks, Airflow reads connections from the metadata DB only in server contexts.)
        monkeypatch.setenv("_AIRFLOW_PROCESS_CONTEXT", "server")
        hook = MicrosoftAdsHook(CONN_ID, token_store=MemoryTokenStore())
        refresh_token = hook.settings.refresh_token
        assert refresh_token.startswith("M.C5_emu.")
        assert sorted(a.id for a in hook.discover_accounts()) == sorted(emu.expected_account_ids)
        issued = [*emulator.identity.refresh_tokens, *emulator.identity.access_tokens]
        codes = list(emulator.identity.auth_codes)

    time.sleep(1.0)  # let the server flush its last log lines
    server_log = api_server.log.read_text(errors="replace")
    assert "/msads/connect/callback" in server_log  # the log is real and covers the flow
    for token in [*issued, refresh_token]:
        assert token not in server_log, "a token reached the server log"
        assert not any(token in page_html for page_html in html), "a token reached a page"
        assert not any(token in url for url in navigated + requested), "a token reached a URL"
    for code in codes:
        assert code not in server_log, "an authorization code reached the server log"
        assert not any(code in url for url in navigated), "an authorization code stayed in the history"
    for secret in (DEMO_CLIENT_SECRET, DEMO_DEVELOPER_TOKEN):
        assert secret not in server_log
        assert not any(secret in page_html for page_html in html[2:])  # pages after the form was filled
