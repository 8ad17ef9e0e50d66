"""No secret anywhere: the example DAGs run for real (``airflow dags test``) at DEBUG log level, under
faults that make the provider log retries, refresh mid-run and fail with an exception.

The two runs of this suite (the budget is two):

* ``msads_accounts_to_xcom``: 503 on GetUser, 109 on the first SearchAccounts (a mid-run refresh, so a
  second refresh token is rotated in), a reset on the retried SearchAccounts; succeeds with the exact
  accounts (the example asks for no customer names, so GetCustomer is never called).
* ``msads_accounts_to_sql``: 109 on page 2 of 2 and the refresh refused with invalid_grant (AADSTS70008);
  fails with the precise message, the warehouse table keeps yesterday's contents.

Searched for every secret (client secret, developer token, the connection's refresh token, every refresh
token rotated in and every access token issued, from the emulator's records): the command output (which
under ``dags test`` *is* the task log), every log file under AIRFLOW_HOME/logs for the DAG, every XCom
value of the run, the rendered template fields of the run, the Variable table, and the exception text.

Reused from tests/e2e (not repeated): XCom contents and mapping of the XCom DAG; SQL DAG first run, rerun
and vanished accounts; 106 mid-paging leaves the table intact (test_example_dags.py); rotation persisted
across two runs and no secret in DEBUG output of a token-refreshing task (test_token_store_e2e.py).
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy
from msads_e2e_helpers import AirflowE2E, DagRun
from msads_reliability_helpers import (
    Recorder,
    expected_rows,
    known_secrets,
    lost_and_duplicated,
    secrets_in,
)

from airflow_provider_msads.testing import (
    DEMO_CLIENT_SECRET,
    DEMO_DEVELOPER_TOKEN,
    DEMO_REFRESH_TOKEN,
    Emulator,
)
from airflow_provider_msads.warehouse import TABLE_COLUMNS, AccountTableWriter

pytestmark = pytest.mark.e2e

DEBUG = {"AIRFLOW__LOGGING__LOGGING_LEVEL": "DEBUG"}
YESTERDAY = datetime(2024, 1, 1, tzinfo=timezone.utc)


#: Airflow 3.3's in-process test supervisor (``airflow dags test`` only) logs every message a task sends,
#: at DEBUG, including the *values* passed to ``mask_secret`` (InProcessSupervisorComms.send,
#: airflow/sdk/execution_time/supervisor.py). Real workers log "Received message from task runner (body
#: omitted)" for MaskSecret instead. These lines are Airflow's, not the provider's: they are set aside,
#: counted and reported, and must be the *only* place a secret appears.
AIRFLOW_MASK_ECHO = re.compile(r"Sending request\s.*msg=MaskSecret\(value=")


def everything_the_run_left(e2e: AirflowE2E, run: DagRun) -> tuple[dict[str, str], list[str]]:
    """Every place a secret could end up, as text by name; plus Airflow's own mask_secret echo lines."""
    lines = run.log.read_text(errors="replace").splitlines()
    echo = [line for line in lines if AIRFLOW_MASK_ECHO.search(line)]
    logs = sorted((e2e.home / "logs").rglob(f"dag_id={run.dag_id}/run_id={run.run_id}/**/*.log"))
    rtif = e2e.metadata(
        "SELECT rendered_fields FROM rendered_task_instance_fields WHERE dag_id = ? AND run_id = ?",
        (run.dag_id, run.run_id),
    )
    variables = e2e.metadata("SELECT key, val FROM variable")
    places = {
        "command output": "\n".join(line for line in lines if not AIRFLOW_MASK_ECHO.search(line)),
        "task log files": "\n".join(p.read_text(errors="replace") for p in logs),  # dags test writes none
        "xcom": e2e.all_xcom_text(run),
        "rendered template fields": "\n".join(str(r[0]) for r in rtif),
        "variables": "\n".join(f"{k}={v}" for k, v in variables),
    }
    return places, echo


def assert_no_secret(places: dict[str, str], secrets: set[str]) -> int:
    found = {name: secrets_in([text], secrets) for name, text in places.items()}
    return sum(len(v) for v in found.values())


def check_secret_set(emu: Emulator, rotated_at_least: int) -> set[str]:
    secrets = known_secrets(emu)
    rotated = [t for t in emu.identity.refresh_tokens if t != DEMO_REFRESH_TOKEN]
    assert len(rotated) >= rotated_at_least and emu.identity.access_tokens
    assert {DEMO_CLIENT_SECRET, DEMO_DEVELOPER_TOKEN, DEMO_REFRESH_TOKEN, *rotated} <= secrets
    return secrets


@pytest.mark.timeout(300)
def test_xcom_dag_at_debug_under_faults_leaks_nothing(
    reliability_e2e: AirflowE2E, msads_emulator_factory: Callable[..., Emulator], recorder: Recorder
) -> None:
    emu = msads_emulator_factory(accounts=30, seed=61)
    expected = expected_rows(emu)
    emu.reset()
    emu.faults.inject("GetUser", status=503)
    emu.faults.inject("SearchAccounts", error_code=109)
    emu.faults.inject("SearchAccounts", kind="reset", after=1)  # the retry after the refresh
    reliability_e2e.forget_stored_tokens()

    run = reliability_e2e.run("msads_accounts_to_xcom", {"msads_default": emu.airflow_conn_json()}, DEBUG)

    places, echo = everything_the_run_left(reliability_e2e, run)
    secrets = check_secret_set(emu, rotated_at_least=2)
    found = assert_no_secret(places, secrets)
    echoed = secrets_in(echo, secrets)
    batches = reliability_e2e.xcom(run, "list_accounts").get(-1, [])  # the example maps over batches
    rows = [row for batch in batches for row in batch]
    ids = [r["account_id"] for r in rows]
    lost, duplicated = lost_and_duplicated(emu.expected_account_ids, ids)
    recorder.record("dags test (DEBUG) msads_accounts_to_xcom: 503 GetUser + 109 SearchAccounts + reset "
                    "SearchAccounts", lost=lost, duplicated=duplicated, secrets_found=found,
                    result=f"recovered (+{len(echo)} Airflow dags-test MaskSecret echo lines set aside)")  # fmt: skip
    assert run.returncode == 0 and run.state == "success", run.tail()
    assert emu.faults.pending == []  # every fault fired
    assert emu.grant_counts["refresh_token"] == 2  # the mid-run refresh rotated a second token in
    fields = ("account_id", "account_name", "customer_id", "status")  # the example DAG's fields
    assert rows == [{f: r[f] for f in fields} for r in expected]
    assert "[debug" in places["command output"].lower(), "DEBUG output not captured: the check proves less"
    assert "attempt 1 failed, retrying" in places["command output"]  # retries were logged, with errors
    assert places["xcom"] and places["rendered template fields"], "nothing to search: the check is vacuous"
    assert found == 0, {k: secrets_in([v], secrets) for k, v in places.items()}
    assert echo and echoed, "Airflow's echo disappeared: drop AIRFLOW_MASK_ECHO (and scan everything)"


@pytest.mark.timeout(300)
def test_sql_dag_at_debug_invalid_grant_mid_run_fails_precisely_and_keeps_the_table(
    reliability_e2e: AirflowE2E,
    msads_emulator_factory: Callable[..., Emulator],
    recorder: Recorder,
    tmp_path: Path,
) -> None:
    emu = msads_emulator_factory(accounts=1200, seed=62)  # two SearchAccounts pages of 1,000
    expected = expected_rows(emu)
    emu.reset()
    warehouse = tmp_path / "warehouse.sqlite"
    engine = sqlalchemy.create_engine(f"sqlite:///{warehouse}")  # yesterday's good run
    AccountTableWriter(engine, "msads_accounts").write(expected, YESTERDAY)
    engine.dispose()

    def table() -> list[tuple[Any, ...]]:
        with sqlite3.connect(warehouse) as db:
            cols = ", ".join(f'"{c}"' for c in TABLE_COLUMNS)
            return list(db.execute(f"SELECT {cols} FROM msads_accounts ORDER BY account_id"))

    before = table()
    emu.faults.inject("SearchAccounts", error_code=109, after=1)  # page 2: token rejected
    emu.faults.inject("token", error_code=70008, after=1)  # ... and the refresh refused: invalid_grant
    reliability_e2e.forget_stored_tokens()
    conns = {
        "msads_default": emu.airflow_conn_json(),
        "msads_warehouse": json.dumps({"conn_type": "sqlite", "host": str(warehouse)}),
    }

    run = reliability_e2e.run("msads_accounts_to_sql", conns, DEBUG)

    places, echo = everything_the_run_left(reliability_e2e, run)
    secrets = check_secret_set(emu, rotated_at_least=1)
    found = assert_no_secret(places, secrets)
    echoed = secrets_in(echo, secrets)
    after = table()
    lost, duplicated = lost_and_duplicated([r[0] for r in before], [r[0] for r in after])
    recorder.record("dags test (DEBUG) msads_accounts_to_sql: invalid_grant mid-run (109 on page 2, "
                    "AADSTS70008 on refresh)", lost=lost, duplicated=duplicated, secrets_found=found,
                    result=f"task failed: TerminalAuthError (+{len(echo)} Airflow echo lines set aside)")  # fmt: skip
    assert run.state == "failed", run.tail()
    assert reliability_e2e.task_states(run)[("accounts_to_sql", -1)] == "failed"
    assert emu.faults.pending == []
    assert (emu.counters["SearchAccounts"], emu.counters["token"]) == (2, 2)
    output = places["command output"]
    assert "TerminalAuthError" in output
    assert "AADSTS70008, invalid_grant): run `msads-auth`" in output and "to re-consent" in output
    assert after == before  # yesterday's table, untouched
    assert "[debug" in output.lower()
    assert found == 0, {k: secrets_in([v], secrets) for k, v in places.items()}
    assert echo and echoed


def test_secret_scan_is_not_vacuous() -> None:
    """The scanner finds a secret when there is one (guards every ``secrets found: 0`` above)."""
    places = {"a": "nothing here", "b": f"Authorization: Bearer {DEMO_REFRESH_TOKEN}"}
    assert assert_no_secret(places, {DEMO_REFRESH_TOKEN, DEMO_CLIENT_SECRET}) == 1
