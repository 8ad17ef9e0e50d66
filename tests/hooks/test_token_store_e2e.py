"""A real ``airflow dags test`` whose task refreshes a token through MicrosoftAdsHook's default store.

Proves, through the task execution API (``airflow.sdk.Variable`` in the task process): the rotated
refresh token is stored encrypted in the Variable, the next run reads it (the connection's own token
is revoked in between, so only the stored chain can work), no secret reaches the task output (at DEBUG),
and every secret the task holds is registered with Airflow's masker.

Note: ``dags test`` runs the task in-process and prints its log to the console *without* the redaction
real workers apply (its own connection password would print in clear too), so the test checks that we
never log a secret and that Airflow's ``redact`` knows all of them.

Caveat (DESIGN.md): under ``dags test`` the ORM is not blocked as in real workers; the store never
touches the ORM inside a task (it uses ``airflow.sdk.Variable``), which ``_in_task`` guarantees.
"""

from __future__ import annotations

import json
import os
import subprocess
import textwrap
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_msads.client.settings import ConnectionSettings
from airflow_provider_msads.hooks.token_store import VariableTokenStore
from airflow_provider_msads.testing import (
    DEMO_CLIENT_ID,
    DEMO_CLIENT_SECRET,
    DEMO_DEVELOPER_TOKEN,
    DEMO_REFRESH_TOKEN,
)

DAG_ID = "msads_token_store_e2e"
CONN_ID = "msads_token_e2e"

DAG_FILE = textwrap.dedent(
    f'''
    from __future__ import annotations

    from airflow.sdk import dag, task


    @dag(dag_id="{DAG_ID}", schedule=None, catchup=False)
    def token_store_e2e():
        @task
        def refresh() -> int:
            import httpx

            from airflow_provider_msads.client.auth import RefreshTokenAuth
            from airflow_provider_msads.hooks.msads import MicrosoftAdsHook

            hook = MicrosoftAdsHook("{CONN_ID}")
            store = hook._default_token_store()
            with httpx.Client(timeout=10.0) as http:
                auth = RefreshTokenAuth.from_settings(hook.settings, http=http, token_store=store)
                access = auth.get_access_token()
            stored = store.load()
            # Never log a secret in clear; instead prove each one is registered with Airflow's masker
            # (in real workers the supervisor redacts the task log with the same registrations).
            from airflow.sdk.log import redact

            values = [access, stored.refresh_token if stored else "", hook.settings.client_secret,
                      hook.settings.developer_token, hook.settings.refresh_token]
            print("REDACT-CHECK", redact(" | ".join(values)))
            return auth.refresh_count

        refresh()


    token_store_e2e()
    '''
)


def drop_shared_access_token(key: str) -> None:
    """What an expired shared access token looks like to the next run (no concurrent writer here)."""
    from airflow.models.variable import Variable

    doc = json.loads(Variable.get(key))
    doc["access"] = None
    Variable.set(key, json.dumps(doc))


def run_dag(airflow_cli: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*airflow_cli, "dags", "test", "--verbose", DAG_ID],  # DEBUG: Airflow echoes PutVariable
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )


def task_logs(home: Path) -> list[Path]:
    return sorted((home / "logs").rglob(f"dag_id={DAG_ID}/**/*.log"))


@pytest.mark.e2e
@pytest.mark.timeout(400)
def test_dags_test_persists_rotation_for_the_next_run_without_leaking(
    airflow_db: Path, airflow_cli: list[str], msads_emulator: Any
) -> None:
    home = airflow_db
    dags = Path(os.environ["AIRFLOW__CORE__DAGS_FOLDER"])
    (dags / f"{DAG_ID}.py").write_text(DAG_FILE)
    conn_json = msads_emulator.airflow_conn_json()
    env = {**os.environ, f"AIRFLOW_CONN_{CONN_ID.upper()}": conn_json}
    settings = ConnectionSettings.from_connection_fields(
        login=DEMO_CLIENT_ID, password=DEMO_REFRESH_TOKEN, extra=msads_emulator.connection_extra()
    )
    store = VariableTokenStore(CONN_ID, settings)  # outside a task: Airflow's Variable model, same DB

    first = run_dag(airflow_cli, env)
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    assert msads_emulator.grant_counts["refresh_token"] == 1
    chain1 = store.load()
    assert chain1 is not None and chain1.refresh_token != DEMO_REFRESH_TOKEN

    # Next run: the connection's own token is revoked and the shared access token dropped, so the run
    # succeeds only if it reads the rotated refresh token from the Variable.
    msads_emulator.revoke_refresh_token(DEMO_REFRESH_TOKEN)
    assert store.load_access_token() is not None
    drop_shared_access_token(store.key)
    second = run_dag(airflow_cli, env)
    assert second.returncode == 0, second.stdout[-3000:] + second.stderr[-3000:]
    assert msads_emulator.grant_counts["refresh_token"] == 2
    chain2 = store.load()
    assert chain2 is not None and chain2.refresh_token not in (chain1.refresh_token, DEMO_REFRESH_TOKEN)
    assert chain2.obtained_at > chain1.obtained_at

    # `dags test` runs the task in-process and writes its log to the console, so the captured output IS the
    # task log; it is saved as a file for inspection, plus any per-task log files Airflow wrote.
    output = first.stdout + first.stderr + second.stdout + second.stderr
    (home / f"{DAG_ID}.console.log").write_text(output)
    text = "\n".join(p.read_text() for p in task_logs(home)) + output
    assert "[debug" in text, "DEBUG output not captured: the leak check would prove less"
    checks = [line for line in text.splitlines() if line.startswith("REDACT-CHECK")]
    assert len(checks) == 2 and all(line.count("***") == 5 for line in checks), checks
    secrets = {
        DEMO_CLIENT_SECRET,
        DEMO_DEVELOPER_TOKEN,
        DEMO_REFRESH_TOKEN,
        *msads_emulator.identity.refresh_tokens,
        *msads_emulator.identity.access_tokens,
    }
    assert len(secrets) >= 7
    leaked = sorted(s[:12] + "..." for s in secrets if s in text)
    assert not leaked, f"secrets in task log / output: {leaked}"
