"""N processes refreshing at once (bounded N=8): nothing is lost, the newest chain remains stored.

Each worker is a real OS process with its own RefreshTokenAuth and VariableTokenStore; the "Variable"
is a file written atomically (the Airflow Variable path itself is tested in tests/hooks), the token
endpoint a real HTTP server on 127.0.0.1. A go-file starts them together.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from msads_fake_identity import CLIENT_ID, CLIENT_SECRET, INITIAL_REFRESH_TOKEN, FakeIdentity, serve

from airflow_provider_msads.client.settings import ConnectionSettings
from airflow_provider_msads.hooks.token_store import VariableTokenStore

N = 8
WORKER = Path(__file__).with_name("msads_refresh_worker.py")


def run_workers(
    tmp_path: Path, auth_base: str, *, share: bool, one_lock: bool, creds: tuple[str, str, str] | None = None
) -> list[dict[str, Any]]:
    store_dir = tmp_path / "variables"
    store_dir.mkdir(exist_ok=True)
    go = tmp_path / "go"
    client_id, secret, refresh = creds or (CLIENT_ID, CLIENT_SECRET, INITIAL_REFRESH_TOKEN)
    procs = []
    for i in range(N):
        lock = tmp_path / ("shared.lock" if one_lock else f"machine-{i}.lock")
        args = [
            sys.executable,
            str(WORKER),
            auth_base,
            str(store_dir),
            str(lock),
            str(go),
            "1" if share else "0",
        ]
        procs.append(
            subprocess.Popen(
                [*args, client_id, secret, refresh],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                env={**os.environ, "PYTHONPATH": str(WORKER.parent)},
            )
        )
    deadline = time.monotonic() + 30  # every worker has imported everything and waits for the go file
    while len(list(tmp_path.glob("go.ready.*"))) < N and time.monotonic() < deadline:
        time.sleep(0.01)
    assert len(list(tmp_path.glob("go.ready.*"))) == N
    go.touch()
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
        results.append(json.loads(out.strip().splitlines()[-1]))
    return results


def stored_chain(tmp_path: Path, auth_base: str, creds: tuple[str, str, str] | None = None) -> Any:
    client_id, secret, refresh = creds or (CLIENT_ID, CLIENT_SECRET, INITIAL_REFRESH_TOKEN)
    settings = ConnectionSettings.from_connection_fields(
        login=client_id,
        password=refresh,
        extra={"developer_token": "WORKERDEVTOKEN0123", "client_secret": secret, "auth_base_url": auth_base},
    )
    sys.path.insert(0, str(WORKER.parent))
    from msads_refresh_worker import FileVariables

    return VariableTokenStore("proc_conn", settings, variables=FileVariables(tmp_path / "variables")).load()


@pytest.mark.timeout(120)
def test_processes_sharing_the_access_token_make_one_grant(tmp_path: Path) -> None:
    fake = FakeIdentity(delay=0.1)
    with serve(fake) as url:
        results = run_workers(tmp_path, url, share=True, one_lock=True)
        chain = stored_chain(tmp_path, url)
    assert fake.grant_counts["refresh_token"] == 1
    assert sum(r["refresh_count"] for r in results) == 1
    assert {r["access_token"] for r in results} == {fake.issued_access_tokens[0]}
    assert chain.refresh_token == fake.issued_refresh_tokens[-1]


@pytest.mark.timeout(120)
def test_processes_refreshing_each_keep_a_linear_chain(tmp_path: Path) -> None:
    fake = FakeIdentity(delay=0.02)
    with serve(fake) as url:
        results = run_workers(tmp_path, url, share=False, one_lock=True)
        chain = stored_chain(tmp_path, url)
    assert fake.grant_counts["refresh_token"] == N
    assert all(r["refresh_count"] == 1 for r in results)
    # serialised by the file lock: every refresh used the token the previous process had stored
    assert fake.used_refresh_tokens == [INITIAL_REFRESH_TOKEN, *fake.issued_refresh_tokens[:-1]]
    assert chain.refresh_token == fake.issued_refresh_tokens[-1]


@pytest.mark.timeout(120)
def test_processes_on_different_machines_never_store_an_unusable_token(tmp_path: Path) -> None:
    """No common lock (as across machines): refreshes race, yet every one succeeds and what is stored is a
    token the identity platform issued and still accepts (old ones stay valid until they expire)."""
    fake = FakeIdentity(delay=0.05)
    with serve(fake) as url:
        results = run_workers(tmp_path, url, share=False, one_lock=False)
        chain = stored_chain(tmp_path, url)
    assert all(r["access_token"] in fake.issued_access_tokens for r in results)
    assert fake.grant_counts["refresh_token"] <= N
    assert chain.refresh_token in fake.issued_refresh_tokens
    assert chain.refresh_token in fake.valid_refresh_tokens
    saved = [r for r in results if r["saved_token"]]
    assert chain.obtained_at in {r["saved_at"] for r in saved}


@pytest.mark.timeout(120)
def test_processes_against_the_emulator_make_one_grant_and_keep_the_newest(
    tmp_path: Path, msads_emulator: Any
) -> None:
    from airflow_provider_msads.testing import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, DEMO_REFRESH_TOKEN

    creds = (DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, DEMO_REFRESH_TOKEN)
    results = run_workers(tmp_path, msads_emulator.url, share=True, one_lock=True, creds=creds)
    assert msads_emulator.grant_counts["refresh_token"] == 1
    assert len({r["access_token"] for r in results}) == 1
    chain = stored_chain(tmp_path, msads_emulator.url, creds)
    assert [r["saved_token"] for r in results if r["saved_token"]] == [chain.refresh_token]
    # a second wave without sharing: N more grants, each from the token the previous process stored
    (tmp_path / "go").unlink()
    for ready in tmp_path.glob("go.ready.*"):
        ready.unlink()
    results = run_workers(tmp_path, msads_emulator.url, share=False, one_lock=True, creds=creds)
    assert msads_emulator.grant_counts["refresh_token"] == 1 + N
    newest = max((r for r in results if r["saved_token"]), key=lambda r: r["saved_at"])
    assert stored_chain(tmp_path, msads_emulator.url, creds).refresh_token == newest["saved_token"]
    msads_emulator.revoke_refresh_token(DEMO_REFRESH_TOKEN)  # the stored chain alone must still work
    (tmp_path / "go").unlink()
    for ready in tmp_path.glob("go.ready.*"):
        ready.unlink()
    run_workers(tmp_path, msads_emulator.url, share=False, one_lock=True, creds=creds)
