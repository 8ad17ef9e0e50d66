"""Benchmark DAG: one discovery task, then one mapped task per account calling the API through the hook.

Used by ``bench/run.py --sections tokens`` (copied into a throwaway dags folder and run with
``airflow dags test``): the emulator's token-grant counter after the run is the figure. Every mapped
task builds its own ``MicrosoftAdsHook`` and client, as separate DAG authors' tasks would; the shared
access-token cache (the encrypted Variable) is what keeps the grants at one.
"""

from __future__ import annotations

import os
from datetime import datetime
from typing import Any

from airflow.sdk import DAG, task

from airflow_provider_msads.operators.accounts import MicrosoftAdsListAccountsOperator

with DAG(
    dag_id="msads_bench_tokens",
    schedule=None,
    start_date=datetime(2024, 1, 1),
    catchup=False,
    max_active_tasks=16,
    tags=["msads", "bench"],
) as dag:
    discover = MicrosoftAdsListAccountsOperator(
        task_id="discover", msads_conn_id="msads_default", output_format="ids"
    )

    @task
    def per_account(account_id: int) -> dict[str, Any]:
        """One API call per account through the hook; the pid tells whether tasks shared a process."""
        from airflow_provider_msads.hooks.msads import MicrosoftAdsHook

        with MicrosoftAdsHook("msads_default").get_client() as client:
            account = client.get_account(account_id)
        return {"pid": os.getpid(), "account_id": account.id}

    per_account.expand(account_id=discover.output)
