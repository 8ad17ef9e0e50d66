"""Discover Microsoft Advertising accounts into a warehouse table, then query it.

Connections: ``msads_default`` and ``msads_warehouse`` (SQLite in the demo; PostgreSQL or
MySQL/MariaDB work unchanged). The table ``msads_accounts`` is created on the first run. Each run upserts
every discovered account in one transaction: ``last_seen_at`` moves to the run's time, accounts that are
no longer discovered keep their row with ``is_active_in_last_run`` false, and a failure half-way leaves
the previous contents untouched.

The write task declares the table as an Asset, so a downstream DAG can run whenever it changes::

    from airflow_provider_msads.operators.accounts import accounts_table_asset

    with DAG("uses_msads_accounts", schedule=[accounts_table_asset("msads_accounts",
             sql_conn_id="msads_warehouse")], ...):
        ...
"""

from __future__ import annotations

from datetime import datetime

from airflow.providers.common.sql.operators.sql import SQLExecuteQueryOperator
from airflow.sdk import DAG

from airflow_provider_msads.operators.accounts import MicrosoftAdsAccountsToSqlOperator, accounts_table_asset

WAREHOUSE_CONN_ID = "msads_warehouse"
TABLE = "msads_accounts"

with DAG(
    dag_id="msads_accounts_to_sql",
    description="Microsoft Advertising account discovery -> warehouse table (idempotent upsert)",
    schedule="@daily",
    start_date=datetime(2024, 1, 1),
    catchup=False,
    tags=["msads", "example"],
) as dag:
    accounts_to_sql = MicrosoftAdsAccountsToSqlOperator(
        task_id="accounts_to_sql",
        msads_conn_id="msads_default",
        sql_conn_id=WAREHOUSE_CONN_ID,
        table=TABLE,
        outlets=[accounts_table_asset(TABLE, sql_conn_id=WAREHOUSE_CONN_ID)],
    )

    # Downstream tasks read the table instead of pulling a large XCom.
    count_active_accounts = SQLExecuteQueryOperator(
        task_id="count_active_accounts",
        conn_id=WAREHOUSE_CONN_ID,
        sql=f"SELECT COUNT(*) FROM {TABLE} WHERE is_active_in_last_run = TRUE",  # noqa: S608 - constant
    )

    accounts_to_sql >> count_active_accounts
