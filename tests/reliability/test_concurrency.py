"""Mapped tasks sharing a token, at the process level, through the real hook and the real Airflow Variable.

tests/auth/test_auth_processes.py already races 8 processes on RefreshTokenAuth with a file-backed
Variable stand-in. Added here: each process is what one mapped task instance does (MicrosoftAdsHook →
get_client → get_account), the token store is the hook's default (the encrypted Airflow Variable in the
metadata DB), and the second wave starts with every access token expired and the connection's own
refresh token revoked, so all processes hit 109 together and only the stored rotation can save them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from msads_reliability_helpers import (
    Recorder,
    emulator_settings,
    known_secrets,
    lost_and_duplicated,
    secrets_in,
    unique_conn_id,
)

from airflow_provider_msads.hooks.token_store import VariableTokenStore
from airflow_provider_msads.testing import DEMO_REFRESH_TOKEN, Emulator

N = 4  # processes (each serves both waves) (each imports Airflow: ~2 s of CPU apiece on a shared 2-core runner)
WORKER = Path(__file__).with_name("msads_reliability_worker.py")


class Processes:
    """N worker processes, one per mapped "task"; each runs every wave when its go file appears."""

    def __init__(self, tmp_path: Path, conn_id: str, ids: tuple[int, ...], env: dict[str, str], waves: int):
        self.tmp_path = tmp_path
        self.go = tmp_path / "go"
        self.procs = [
            subprocess.Popen(
                [sys.executable, str(WORKER), "mapped", conn_id, str(i), str(self.go), str(waves)],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for i in ids
        ]

    def start_wave(self, wave: int) -> None:
        """Wait until every process is ready for ``wave``, then release them all at once."""
        deadline = time.monotonic() + 90
        while len(list(self.tmp_path.glob(f"go-{wave}.ready.*"))) < len(self.procs):
            assert time.monotonic() < deadline, "workers did not get ready"
            failed = [p for p in self.procs if p.poll() not in (None, 0)]
            assert not failed, [p.communicate()[1][-2000:] for p in failed]
            time.sleep(0.02)
        Path(f"{self.go}-{wave}").touch()

    def finish(self) -> tuple[list[dict[str, Any]], str]:
        results, output = [], []
        for proc in self.procs:
            out, err = proc.communicate(timeout=90)
            output += [out, err]
            assert proc.returncode == 0, err[-3000:]
            results += [json.loads(line) for line in out.splitlines() if line.startswith('{"wave"')]
        return results, "\n".join(output)


@pytest.mark.timeout(180)
def test_mapped_tasks_share_one_token_and_the_newest_refresh_token_stays_stored(
    msads_emulator_factory: Callable[..., Emulator], airflow_db: Path, tmp_path: Path, recorder: Recorder
) -> None:
    emu = msads_emulator_factory(accounts=12, seed=51)
    conn_id = unique_conn_id("msads_rel_map")
    env = {**os.environ, f"AIRFLOW_CONN_{conn_id.upper()}": emu.airflow_conn_json()}
    store = VariableTokenStore(conn_id, emulator_settings(emu))  # the same Variable, read outside tasks
    ids = emu.expected_account_ids[:N]

    procs = Processes(tmp_path, conn_id, ids, env, waves=2)
    procs.start_wave(1)
    deadline = time.monotonic() + 60
    while emu.counters["GetAccount"] < N and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(0.2)  # the last process stores nothing more after its API call
    stored1 = store.load()
    issued1 = list(emu.identity.refresh_tokens)

    emu.expire_access_tokens()  # every token handed out so far is rejected with 109 from now on
    emu.revoke_refresh_token(DEMO_REFRESH_TOKEN)  # only the stored rotation can refresh now
    procs.start_wave(2)
    results, output = procs.finish()
    stored2 = store.load()
    issued2 = list(emu.identity.refresh_tokens)
    first = [r for r in results if r["wave"] == 1]
    second = [r for r in results if r["wave"] == 2]

    lost1, dup1 = lost_and_duplicated(ids, [r["account_id"] for r in first])
    lost2, dup2 = lost_and_duplicated(ids, [r["account_id"] for r in second])
    leaked = secrets_in([output], known_secrets(emu))
    recorder.record(f"concurrency: {N} mapped-task processes x 2 waves (2nd: all tokens expired + "
                    "connection token revoked)", runs=2 * N, lost=lost1 + lost2,
                    duplicated=dup1 + dup2, secrets_found=len(leaked))  # fmt: skip
    assert sorted(r["account_id"] for r in first) == sorted(ids)
    assert sorted(r["account_id"] for r in second) == sorted(ids)
    # Wave 1: one grant for all N processes (file lock + shared access token in the Variable).
    assert sum(r["refreshes"] for r in first) == 1
    assert stored1 is not None and stored1.refresh_token == issued1[-1]  # the newest issued
    # Wave 2: the expired token was rejected (109) at least once, one process refreshed from the stored
    # chain and every other one used the token it shared (those that read the old one first got a 109).
    assert 2 * N + 1 <= emu.counters["GetAccount"] <= 3 * N
    assert sum(r["refreshes"] for r in second) == 1 and emu.grant_counts["refresh_token"] == 2
    assert stored2 is not None and stored2.refresh_token == issued2[-1] != stored1.refresh_token
    assert stored2.obtained_at > stored1.obtained_at
    assert "DEBUG" in output and leaked == []
