"""Baseline for the import-cost benchmark: ``msads_accounts_to_xcom`` with Airflow-only operators.

Same DAG arguments and task graph (two list tasks, two mapped tasks); the provider's list operator is
replaced by a stub defined here.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from airflow.sdk import DAG, BaseOperator, task


class StubListAccounts(BaseOperator):
    def __init__(self, *, msads_conn_id: str, output_format: str, **kwargs: Any) -> None:
        kwargs.pop("fields", None)
        kwargs.pop("batch_size", None)
        super().__init__(**kwargs)
        self.msads_conn_id, self.output_format = msads_conn_id, output_format


with DAG(
    dag_id="baseline_accounts_to_xcom",
    description="baseline",
    schedule=None,
    start_date=datetime(2024, 1, 1),
    catchup=False,
    tags=["msads", "example"],
) as dag:
    list_accounts = StubListAccounts(
        task_id="list_accounts", msads_conn_id="msads_default", output_format="rows"
    )

    @task(max_active_tis_per_dagrun=8)
    def process_account(account: dict[str, Any]) -> dict[str, Any]:
        return {"account_id": account["account_id"], "status": account["status"]}

    list_account_batches = StubListAccounts(
        task_id="list_account_batches",
        msads_conn_id="msads_default",
        fields=["account_id", "customer_id"],
        output_format="batches",
        batch_size=100,
    )

    @task
    def process_batch(accounts: list[dict[str, Any]]) -> int:
        return len(accounts)

    process_account.expand(account=list_accounts.output)
    process_batch.expand(accounts=list_account_batches.output)
