"""Scale test DAG: discovery, then one mapped task per account, each calling the API with the shared token.

``list_account_ids`` discovers the account ids (XCom: a small list of ints); ``discover_account`` is the
public operator mapped over them, so every mapped task (hundreds, spread over the Celery workers) needs
an access token of the same connection at the same time; ``accounts_to_sql`` writes the warehouse
table. Connections: ``msads_default`` and ``msads_warehouse``.
"""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import DAG

from airflow_provider_msads.operators.accounts import (
    MicrosoftAdsAccountsToSqlOperator,
    MicrosoftAdsListAccountsOperator,
)

FIELDS = ["account_id", "account_number", "account_name", "customer_id", "status", "currency"]

with DAG(
    dag_id="msads_scale_discovery",
    schedule=None,
    start_date=datetime(2024, 1, 1),
    catchup=False,
    max_active_tasks=64,
    tags=["msads", "scale-test"],
) as dag:
    ids = MicrosoftAdsListAccountsOperator(task_id="list_account_ids", output_format="ids")
    per_account = MicrosoftAdsListAccountsOperator.partial(
        task_id="discover_account", fields=FIELDS, output_format="rows", retries=0
    ).expand(account_ids=ids.output)
    to_sql = MicrosoftAdsAccountsToSqlOperator(task_id="accounts_to_sql", with_customer_names=True)
    ids >> to_sql
