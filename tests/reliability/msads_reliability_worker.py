"""One OS process of the reliability suite (a stand-in for one Airflow task instance).

Usage:
  msads_reliability_worker.py sql CONN_ID SQL_CONN_ID TABLE RUN_AFTER_ISO
      MicrosoftAdsAccountsToSqlOperator.execute (page size 10, batch 5); killed by the test mid-write.
  msads_reliability_worker.py mapped CONN_ID ACCOUNT_ID GO_FILE WAVES
      Like one mapped task per wave: MicrosoftAdsHook(conn).get_client().get_account(id), started
      together with the other processes by GO_FILE-<wave>. Prints one JSON line per wave. (One process
      serves every wave: importing Airflow costs ~2 s of CPU per process.)

Connections come from AIRFLOW_CONN_* variables; the hook's default token store is the real Airflow
Variable in the test session's metadata DB. Logging is at DEBUG on stderr (scanned for secrets).
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from datetime import datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any


def sql(conn_id: str, sql_conn_id: str, table: str, run_after: str) -> None:
    from airflow_provider_msads.operators.accounts import MicrosoftAdsAccountsToSqlOperator

    op = MicrosoftAdsAccountsToSqlOperator(
        task_id="accounts_to_sql",
        msads_conn_id=conn_id,
        sql_conn_id=sql_conn_id,
        table=table,
        page_size=10,
        batch_size=5,
    )
    context: Any = {
        "ti": SimpleNamespace(xcom_push=lambda key, value: None),
        "dag_run": SimpleNamespace(run_after=datetime.fromisoformat(run_after)),
    }
    print(json.dumps(op.execute(context)), flush=True)


def mapped(conn_id: str, account_id: str, go_file: str, waves: str) -> None:
    from airflow_provider_msads.hooks.msads import MicrosoftAdsHook

    for wave in range(1, int(waves) + 1):
        hook = MicrosoftAdsHook(conn_id)  # a new task instance: nothing cached in memory
        _ = hook.settings  # connection read and secrets masked before the race starts
        go = Path(f"{go_file}-{wave}")
        Path(f"{go}.ready.{os.getpid()}").touch()
        deadline = time.monotonic() + 60
        while not go.exists():
            if time.monotonic() > deadline:
                raise SystemExit("no go signal")
            time.sleep(0.005)
        with hook.get_client() as client:
            account = client.get_account(int(account_id))
            refreshes = client._runner._auth.refresh_count  # type: ignore[attr-defined]
        print(json.dumps({"wave": wave, "account_id": account.id, "refreshes": refreshes}), flush=True)


if __name__ == "__main__":
    logging.basicConfig(level=logging.DEBUG, stream=sys.stderr)
    mode, *args = sys.argv[1:]
    {"sql": sql, "mapped": mapped}[mode](*args)
