"""Discover Microsoft Advertising accounts, pass them through XCom, and fan out over batches of accounts.

Connection: ``msads_default``. Works unchanged for 1 to 100,000 accounts (and up to ~500,000):
``list_accounts`` returns lists of at most 500 accounts, and one ``process_batch`` task runs per list,
so 100,000 accounts make 200 mapped tasks, well within Airflow's ``[core] max_map_length`` (1,024 by
default). Mapping one task per account would stop working past 1,024 accounts; and every mapped task
pulls the whole upstream list, so fewer, larger batches also keep that traffic down. Past the limit
the operator fails with the advice (a bigger ``batch_size`` or a higher limit) before any mapped task
starts; for very large agencies ``MicrosoftAdsAccountsToSqlOperator`` and a query scale further.

Replace the body of ``process_batch`` with the real per-account work (reports, bulk downloads, ...).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from airflow.sdk import DAG, task

from airflow_provider_msads.operators.accounts import MicrosoftAdsListAccountsOperator

BATCH_SIZE = 500

with DAG(
    dag_id="msads_accounts_to_xcom",
    description="Microsoft Advertising account discovery -> XCom -> one mapped task per batch of accounts",
    schedule=None,
    start_date=datetime(2024, 1, 1),
    catchup=False,
    tags=["msads", "example"],
) as dag:
    list_accounts = MicrosoftAdsListAccountsOperator(
        task_id="list_accounts",
        msads_conn_id="msads_default",
        fields=["account_id", "account_name", "customer_id", "status"],
        output_format="batches",
        batch_size=BATCH_SIZE,
    )

    @task(max_active_tis_per_dagrun=8)
    def process_batch(accounts: list[dict[str, Any]]) -> dict[str, Any]:
        """Per-account work goes here: ``accounts`` holds up to ``BATCH_SIZE`` rows of ``list_accounts``."""
        for account in accounts:
            print(f"account {account['account_id']} ({account['account_name']}): {account['status']}")
        return {
            "accounts": len(accounts),
            "first": accounts[0]["account_id"],
            "last": accounts[-1]["account_id"],
        }

    process_batch.expand(accounts=list_accounts.output)
