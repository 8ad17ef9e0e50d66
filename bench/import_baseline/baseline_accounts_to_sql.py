"""Baseline for the import-cost benchmark: ``msads_accounts_to_sql`` with Airflow-only operators.

Same DAG arguments, same task graph, same Asset outlet and SQL operator; only the provider's operator is
replaced by a stub defined here, so the difference in parse time is what the provider itself costs.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from airflow.providers.common.sql.operators.sql import SQLExecuteQueryOperator
from airflow.sdk import DAG, Asset, BaseOperator

WAREHOUSE_CONN_ID = "msads_warehouse"
TABLE = "msads_accounts"


class StubAccountsToSql(BaseOperator):
    def __init__(self, *, msads_conn_id: str, sql_conn_id: str, table: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.msads_conn_id, self.sql_conn_id, self.table = msads_conn_id, sql_conn_id, table


with DAG(
    dag_id="baseline_accounts_to_sql",
    description="baseline",
    schedule="@daily",
    start_date=datetime(2024, 1, 1),
    catchup=False,
    tags=["msads", "example"],
) as dag:
    accounts_to_sql = StubAccountsToSql(
        task_id="accounts_to_sql",
        msads_conn_id="msads_default",
        sql_conn_id=WAREHOUSE_CONN_ID,
        table=TABLE,
        outlets=[
            Asset(
                name=f"msads_accounts:{WAREHOUSE_CONN_ID}:{TABLE}",
                uri=f"x-msads-sql://{WAREHOUSE_CONN_ID}/_/{TABLE}",
                group="msads",
            )
        ],
    )
    count_active_accounts = SQLExecuteQueryOperator(
        task_id="count_active_accounts",
        conn_id=WAREHOUSE_CONN_ID,
        sql=f"SELECT COUNT(*) FROM {TABLE} WHERE is_active_in_last_run = TRUE",
    )
    accounts_to_sql >> count_active_accounts
