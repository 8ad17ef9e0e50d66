"""Daily account performance for every reachable account, loaded into the warehouse with restatement.

Connections: ``msads_default`` and ``msads_warehouse`` (SQLite in the demo; any common-sql connection).
Needs a running ``airflow triggerer``: the report tasks wait there, not in a worker slot.

Steps:

1. ``list_account_batches``: discover the accounts the connection reaches, in batches of
   ``params.batch_size`` ids (1,000 = one report request per batch; the XCom stays small, and the mapped
   task count stays far below ``[core] max_map_length`` even for 100,000 accounts).
2. ``account_performance``: one mapped, deferrable task per batch: submit, wait on the triggerer,
   download, and replace the batch's rows for the run's day in ``msads_account_performance_daily`` in one
   transaction. Days that an earlier run loaded before Microsoft completed them ("Last Completed
   Available Day") are pulled again and replaced, up to ``lookback_days`` back.

Catch-up safe: each run reports its own data interval (a daily run of 2024-06-01 loads 2024-06-01), so
``catchup=True`` or ``airflow backfill create`` load history day by day, and a rerun of any day replaces
exactly that day. ``max_active_runs=1`` keeps runs of neighbouring days from restating the same days at
the same time.

Downstream DAGs can be scheduled on the table::

    from airflow_provider_msads.operators.reports import report_table_asset

    with DAG("uses_msads_spend", schedule=[report_table_asset("msads_account_performance_daily",
             sql_conn_id="msads_warehouse")], ...):
        ...
"""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import DAG, Param

from airflow_provider_msads.operators.accounts import MicrosoftAdsListAccountsOperator
from airflow_provider_msads.operators.reports import MicrosoftAdsReportToSqlOperator, report_table_asset

WAREHOUSE_CONN_ID = "msads_warehouse"
TABLE = "msads_account_performance_daily"
COLUMNS = [
    "TimePeriod",
    "AccountId",
    "AccountName",
    "CurrencyCode",
    "Impressions",
    "Clicks",
    "Spend",
    "ConversionsQualified",
    "Revenue",
]

with DAG(
    dag_id="msads_reports_to_sql",
    description="Microsoft Advertising daily account performance -> warehouse table (deferrable, restated)",
    schedule="@daily",
    start_date=datetime(2024, 1, 1),
    catchup=False,
    max_active_runs=1,
    params={
        "batch_size": Param(1000, type="integer", minimum=1, maximum=1000, description="accounts per task"),
        "poll_interval": Param(30, type="number", exclusiveMinimum=0, description="first poll after (s)"),
    },
    tags=["msads", "example"],
) as dag:
    list_account_batches = MicrosoftAdsListAccountsOperator(
        task_id="list_account_batches",
        msads_conn_id="msads_default",
        fields=["account_id"],
        output_format="batches",
        batch_size="{{ params.batch_size }}",
    )

    account_performance = MicrosoftAdsReportToSqlOperator.partial(
        task_id="account_performance",
        msads_conn_id="msads_default",
        report="AccountPerformance",
        columns=COLUMNS,
        aggregation="Daily",
        sql_conn_id=WAREHOUSE_CONN_ID,
        table=TABLE,
        lookback_days=7,
        poll_interval="{{ params.poll_interval }}",
        outlets=[report_table_asset(TABLE, sql_conn_id=WAREHOUSE_CONN_ID)],
    ).expand(account_ids=list_account_batches.output)
