"""The msads-emulator command and the public Emulator helpers used by the README."""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
import time

import httpx
import pytest

from airflow_provider_msads.client.settings import ConnectionSettings
from airflow_provider_msads.testing import (
    DEMO_CLIENT_ID,
    DEMO_CLIENT_SECRET,
    DEMO_DEVELOPER_TOKEN,
    DEMO_REFRESH_TOKEN,
    Emulator,
)


def test_cli_prints_url_and_connection_then_stops_on_sigterm() -> None:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "airflow_provider_msads.testing.cli",
            "--port",
            "0",
            "--accounts",
            "40",
            "--seed",
            "3",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert proc.stdout is not None
        # Every stdout line is shell: `export NAME=<quoted value>` (or a comment).
        url_line = shlex.split(proc.stdout.readline())
        conn_line = shlex.split(proc.stdout.readline())
        assert url_line[0] == conn_line[0] == "export"
        name, _, url = url_line[1].partition("=")
        assert name == "MSADS_EMULATOR_URL" and url.startswith("http://127.0.0.1:")
        name, _, value = conn_line[1].partition("=")
        assert name == "AIRFLOW_CONN_MSADS_DEFAULT"
        conn = json.loads(value)
        assert conn == {
            "conn_type": "msads",
            "login": DEMO_CLIENT_ID,
            "password": DEMO_REFRESH_TOKEN,
            "extra": {
                "developer_token": DEMO_DEVELOPER_TOKEN,
                "client_secret": DEMO_CLIENT_SECRET,
                "auth_base_url": url,
                "api_base_url": url,
            },
        }
        assert httpx.get(url + "/", timeout=5).json()["demo_user_accounts"] == 40
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            code = proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
    assert code == 0


def test_cli_rejects_bad_arguments() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "airflow_provider_msads.testing.cli", "--accounts", "-1"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2 and "--accounts" in result.stderr


def test_connection_helpers_are_accepted_by_the_client_settings(msads_emulator: Emulator) -> None:
    conn = json.loads(msads_emulator.airflow_conn_json())
    settings = ConnectionSettings.from_connection_fields(
        login=conn["login"], password=conn["password"], extra=conn["extra"]
    )
    assert settings.endpoints.token_url == f"{msads_emulator.url}/common/oauth2/v2.0/token"
    assert settings.endpoints.customer_management_soap_url == (
        f"{msads_emulator.url}/Api/CustomerManagement/v13/CustomerManagementService.svc"
    )
    sandbox = msads_emulator.connection_extra("sandbox")
    assert sandbox["environment"] == "sandbox" and sandbox["developer_token"] == "BBD37VB98"


def test_serve_context_manager_stops_the_server() -> None:
    emu = Emulator(accounts=3)
    with emu.serve() as running:
        url = running.url
        assert httpx.get(url + "/", timeout=5).status_code == 200
    assert not emu.running
    with pytest.raises(RuntimeError):
        _ = emu.url
    with pytest.raises(httpx.ConnectError):
        httpx.get(url + "/", timeout=2)


def test_eval_of_the_detached_emulator_sets_the_connection_in_the_shell() -> None:
    """What the docs say works: `eval "$(msads-emulator --detach ...)"` in a real shell."""
    script = (
        f'eval "$({sys.executable} -m airflow_provider_msads.testing.cli --detach --port 0 --accounts 7)" && '
        'printf "%s\\n%s\\n%s\\n" "$MSADS_EMULATOR_URL" "$MSADS_EMULATOR_PID" "$AIRFLOW_CONN_MSADS_DEFAULT"'
    )
    shell = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=60, check=False)
    assert shell.returncode == 0, shell.stderr
    url, pid, conn_json = shell.stdout.splitlines()
    try:
        assert json.loads(conn_json)["extra"]["api_base_url"] == url
        assert httpx.get(url + "/", timeout=5).json()["demo_user_accounts"] == 7
    finally:
        os.kill(int(pid), signal.SIGTERM)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            httpx.get(url + "/", timeout=0.5)
        except httpx.HTTPError:
            break
        time.sleep(0.2)
    else:
        raise AssertionError("the detached emulator did not stop on SIGTERM")
