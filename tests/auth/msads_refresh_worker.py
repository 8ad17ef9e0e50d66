"""One process of the concurrent-refresh tests: waits for a start signal, gets a token, reports.

Usage: msads_refresh_worker.py AUTH_BASE STORE_DIR LOCK GO SHARE(0|1) CLIENT_ID SECRET REFRESH
Prints one JSON line: the access token it got, how many refreshes it made, and the chain it saved.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import httpx

from airflow_provider_msads.client.auth import AuthRetryPolicy, RefreshTokenAuth
from airflow_provider_msads.client.protocols import StoredRefreshToken
from airflow_provider_msads.client.settings import ConnectionSettings
from airflow_provider_msads.client.token_cache import FileLock, MemoryTokenStore, TokenState
from airflow_provider_msads.hooks import token_store
from airflow_provider_msads.hooks.token_store import VariableTokenStore


class FileVariables:
    """Variables as files (one per key), written atomically: a stand-in for Airflow across processes."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def get(self, key: str) -> str | None:
        path = self.directory / key
        return path.read_text() if path.exists() else None

    def set(self, key: str, value: str, description: str) -> None:
        tmp = self.directory / f".{key}.{os.getpid()}.tmp"
        tmp.write_text(value)
        tmp.replace(self.directory / key)


class RecordingStore(VariableTokenStore):
    saved: StoredRefreshToken | None = None

    def save(self, token: StoredRefreshToken) -> None:
        super().save(token)
        self.saved = token

    def publish(self, state: TokenState) -> None:
        super().publish(state)
        if state.refresh is not None and state.refresh.generation == state.generation:  # rotated now
            self.saved = state.refresh


def main() -> None:
    # Masking is Airflow's log concern (tested in tests/hooks); skipping it in this worker process keeps
    # 8 processes from each importing Airflow (~2 s of CPU apiece), so they start the race together.
    # Only here, never at import: the test process imports FileVariables from this module.
    token_store._mask = lambda value: None
    auth_base, store_dir, lock_file, go_file, share = sys.argv[1:6]
    client_id, secret, refresh = sys.argv[6:9]
    settings = ConnectionSettings.from_connection_fields(
        login=client_id,
        password=refresh,
        extra={"developer_token": "WORKERDEVTOKEN0123", "client_secret": secret, "auth_base_url": auth_base},
    )
    store = RecordingStore("proc_conn", settings, variables=FileVariables(Path(store_dir)))
    Path(go_file + f".ready.{os.getpid()}").touch()
    deadline = time.monotonic() + 30
    while not Path(go_file).exists():
        if time.monotonic() > deadline:
            raise SystemExit("no go signal")
        time.sleep(0.005)
    with httpx.Client(timeout=10.0) as http:
        auth = RefreshTokenAuth.from_settings(
            settings,
            http=http,
            token_store=store,
            access_token_cache=None if share == "1" else MemoryTokenStore(),
            lock=FileLock(lock_file, timeout=30.0),
            retry=AuthRetryPolicy(max_attempts=3, max_total_seconds=5.0, initial_wait=0.05, max_wait=0.2),
        )
        token = auth.get_access_token()
    saved = store.saved
    print(
        json.dumps(
            {
                "access_token": token,
                "refresh_count": auth.refresh_count,
                "saved_token": saved.refresh_token if saved else None,
                "saved_at": saved.obtained_at if saved else None,
            }
        )
    )


if __name__ == "__main__":
    main()
