"""Discover Microsoft Advertising accounts, pass them through XCom, and fan out one task per account.

Connection: ``msads_default``. Two patterns are shown:

* ``list_accounts`` → ``process_account``: one mapped task per account (up to ~1,000 accounts; Airflow's
  ``[core] max_map_length`` is 1024 and every mapped task pulls the whole list);
* ``list_account_batches`` → ``process_batch``: one mapped task per batch of accounts, for customers
  with thousands of accounts.

Replace the bodies of ``process_account`` / ``process_batch`` with the real per-account work (reports,
bulk downloads, ...). With an operator instead of a ``@task``, pick ``fields`` that match its parameter
names and map with ``SomeOperator.partial(...).expand_kwargs(list_accounts.output)``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from airflow.sdk import DAG, task

from airflow_provider_msads.operators.accounts import MicrosoftAdsListAccountsOperator

with DAG(
    dag_id="msads_accounts_to_xcom",
    description="Microsoft Advertising account discovery -> XCom -> one mapped task per account",
    schedule=None,
    start_date=datetime(2024, 1, 1),
    catchup=False,
    tags=["msads", "example"],
) as dag:
    list_accounts = MicrosoftAdsListAccountsOperator(
        task_id="list_accounts",
        msads_conn_id="msads_default",
        output_format="rows",
    )

    @task(max_active_tis_per_dagrun=8)
    def process_account(account: dict[str, Any]) -> dict[str, Any]:
        """Per-account work goes here; ``account`` is one row of ``list_accounts``."""
        print(
            f"account {account['account_id']} ({account['account_name']}), customer {account['customer_id']}"
        )
        return {"account_id": account["account_id"], "status": account["status"]}

    list_account_batches = MicrosoftAdsListAccountsOperator(
        task_id="list_account_batches",
        msads_conn_id="msads_default",
        fields=["account_id", "customer_id"],
        output_format="batches",
        batch_size=100,
    )

    @task
    def process_batch(accounts: list[dict[str, Any]]) -> int:
        """Per-batch work goes here: ``accounts`` holds up to ``batch_size`` rows."""
        print(f"{len(accounts)} accounts: {accounts[0]['account_id']} .. {accounts[-1]['account_id']}")
        return len(accounts)

    process_account.expand(account=list_accounts.output)
    process_batch.expand(accounts=list_account_batches.output)
