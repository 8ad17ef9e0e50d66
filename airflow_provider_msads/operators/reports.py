"""Performance reports into a warehouse table or a file, waiting on the triggerer while Microsoft builds them.

Both operators follow the same steps; only the last one differs:

1. **Check everything** (window, columns, table name, poll settings) before any API call: bad input fails
   in seconds with the parameter's name and the fix, and nothing is written.
2. **Submit** one report request per 1,000 accounts (the documented limit) from the worker.
3. **Wait** (``deferrable=True``, the default) on the triggerer: :class:`MicrosoftAdsReportTrigger` polls
   with backoff and frees the worker slot; with ``deferrable=False`` the worker polls itself. A request
   that ends in status ``Error`` is submitted again (``report_attempts`` in all).
4. **Download and load** in the worker: every request's file is downloaded first (no API credentials go
   to the storage host; an expired link is refreshed by polling again), then all rows are written in one
   go — one transaction for :class:`MicrosoftAdsReportToSqlOperator`, one atomic file replace for
   :class:`MicrosoftAdsReportOperator`.

The date window defaults to the DAG run's data interval (a daily run of 2024-06-01 reports 2024-06-01),
so catch-up and backfill runs each load their own days, and reruns replace exactly those days.

**Restatement** (:class:`MicrosoftAdsReportToSqlOperator` only): Microsoft revises recent days for a
while (late conversions, invalid-traffic credits) and says how far it has finished in each report's
"Last Completed Available Day". Every row stores ``is_complete`` (its day was at or before that day)
and ``loaded_at``. Each run first asks the table for the earliest day it still holds as not complete
for the run's accounts, at most ``lookback_days`` back, and pulls from that day on, replacing the
revised days in the same transaction as its own. See ``docs/reports.md``.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from airflow.sdk import Asset

from airflow_provider_msads.hooks.msads import MicrosoftAdsHook
from airflow_provider_msads.operators.accounts import _literal, sql_table_asset
from airflow_provider_msads.operators.report_base import (
    PLAN_XCOM_KEY,
    ReportOperatorBase,
    assert_no_secret,
    one_report,
    whole_number,
)
from airflow_provider_msads.operators.report_files import FILE_FORMATS, publish, write_rows
from airflow_provider_msads.operators.report_plan import (
    DEFAULT_LOOKBACK_DAYS,
    DateWindow,
    ReportPlan,
    RestatedWindow,
    Restatement,
)
from airflow_provider_msads.warehouse.dialect import validate_identifier

if TYPE_CHECKING:
    from airflow.sdk import Context

__all__ = [
    "PLAN_XCOM_KEY",
    "MicrosoftAdsReportOperator",
    "MicrosoftAdsReportToSqlOperator",
    "assert_no_secret",
    "report_file_asset",
    "report_table_asset",
]


def report_table_asset(
    table: str, *, sql_conn_id: str = "msads_warehouse", schema: str | None = None
) -> Asset:
    """An Asset naming a report table, for ``outlets=[...]`` here and ``schedule=[...]`` downstream.

    Same URI scheme as :func:`~airflow_provider_msads.operators.accounts.accounts_table_asset`
    (``x-msads-sql://<conn id>/<schema or _>/<table>``), built from names only (no lookup at parse time).

    :param table: table name, as given to :class:`MicrosoftAdsReportToSqlOperator`.
    :param sql_conn_id: the SQL connection id.
    :param schema: the schema, if any.
    """
    return sql_table_asset("msads_report", table, sql_conn_id=sql_conn_id, schema=schema)


def report_file_asset(path: str | os.PathLike[str]) -> Asset:
    """An Asset for the output of :class:`MicrosoftAdsReportOperator`.

    Give the literal destination (``s3://bucket/msads/account_performance.csv`` or a local path); when
    the path is templated per run, give the fixed folder it is written under.

    :param path: an object-storage URI or a local path (made absolute, as ``file://``).
    """
    text = os.fspath(path)
    if "{{" in text:
        raise ValueError(
            f"report_file_asset: {text!r} is templated; an Asset needs a fixed URI (e.g. the folder the "
            "files are written to)"
        )
    uri = text if "://" in text else Path(text).resolve().as_uri()
    return Asset(name=f"msads_report_file:{uri}", uri=uri, group="msads")


class MicrosoftAdsReportToSqlOperator(ReportOperatorBase):
    """Load a performance report into a SQL table through any common-sql connection, atomically.

    The table is created when missing, typed from the report's columns (ids BIGINT, money NUMERIC,
    TimePeriod DATE, ...), keyed by the report's dimension columns, plus ``loaded_at`` (the DAG run's
    ``run_after``) and ``is_complete``. Each run replaces the rows of its accounts x days in ONE
    transaction: reruns and retries give identical tables, a failure leaves the previous contents, and
    more than 1,000 accounts (several report requests) still load as one write.

    Restatement: before submitting, the operator asks the table for the earliest day it holds as not
    complete (after Microsoft's "Last Completed Available Day" when it was loaded) for these accounts,
    at most ``lookback_days`` before the window, and pulls from that day on, so late revisions replace
    the stale rows. ``lookback_days=0`` turns this off. Only Daily and Hourly reports with a TimePeriod
    restate (coarser periods are re-pulled as a whole by their own runs).

    Deferrable by default: the wait happens on the triggerer (run ``airflow triggerer``); with
    ``deferrable=False`` the worker polls. Returns (XCom) the write's counts and the days loaded.

    :param report: report type without the ``ReportRequest`` suffix, e.g. ``"AccountPerformance"``. (templated)
    :param columns: the report's columns; ``AccountId`` is added when missing (rows are replaced per
        account). (templated)
    :param aggregation: ``Daily`` (default), ``Hourly``, ``Weekly``, ``Monthly``, ``Summary``, ... (templated)
    :param account_ids: the accounts: ids, discovery rows or batches (e.g. a mapped
        ``MicrosoftAdsListAccountsOperator`` output), or None for every account the connection reaches. (templated)
    :param window_start: first day to report (date or ``YYYY-MM-DD``); default: the data interval's start. (templated)
    :param window_end: last day to report, inclusive; default: the data interval's last day. (templated)
    :param time_zone: ``ReportTimeZone`` of the report (service default: Pacific Time). (templated)
    :param msads_conn_id: the ``msads`` connection. (templated)
    :param deferrable: wait on the triggerer (default) instead of in the worker.
    :param poll_interval: seconds before the first poll; later polls back off. (templated)
    :param max_poll_interval: longest wait between polls, in seconds. (templated)
    :param poll_timeout: give up after this long (seconds or a timedelta).
    :param report_attempts: how often one report request may be submitted (status Error is retried).
    :param sql_conn_id: any Airflow SQL connection (SQLite, PostgreSQL, MySQL/MariaDB, ...). (templated)
    :param table: target table; letters, digits and ``_`` only. (templated)
    :param schema: optional schema. (templated)
    :param lookback_days: restatement bound in days; 0 turns restatement off. (templated)
    """

    template_fields: Sequence[str] = (
        *ReportOperatorBase.template_fields,
        "sql_conn_id",
        "table",
        "schema",
        "lookback_days",
    )
    ui_color = "#d4f1df"
    default_sql_conn_id: ClassVar[str] = "msads_warehouse"

    def __init__(
        self,
        *,
        table: str,
        sql_conn_id: str = default_sql_conn_id,
        schema: str | None = None,
        lookback_days: int | str = DEFAULT_LOOKBACK_DAYS,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        # Literal values fail at parse time; templated ones and XComArgs are checked in execute().
        if _literal(table):
            validate_identifier(table, "table name")
        if schema and _literal(schema):
            validate_identifier(schema, "schema name")
        if isinstance(lookback_days, int) or _literal(lookback_days):
            Restatement(whole_number(lookback_days, "lookback_days"))
        self.table = table
        self.sql_conn_id = sql_conn_id
        self.schema = schema
        self.lookback_days = lookback_days

    def _prepare(self, context: Context, request: Any) -> None:
        validate_identifier(self.table, "table name")
        if self.schema:
            validate_identifier(self.schema, "schema name")
        self._restatement = Restatement(whole_number(self.lookback_days, "lookback_days"))
        self._db_hook = _sql_hook(self.sql_conn_id)
        # An existing table with other columns fails now, not after waiting for Microsoft.
        self._writer(request).check_table()

    def _writer(self, request: Any) -> Any:
        from airflow_provider_msads.client.reporting import column_kind, key_columns
        from airflow_provider_msads.warehouse.reports import ReportColumn, ReportTableWriter

        hook = getattr(self, "_db_hook", None) or _sql_hook(self.sql_conn_id)
        columns = [
            ReportColumn(c, column_kind(request.report, c, request.aggregation)) for c in request.columns
        ]
        return ReportTableWriter(
            hook, self.table, schema=self.schema or None, columns=columns, key=tuple(key_columns(request))
        )

    def _restates(self) -> bool:
        return self.aggregation in ("Daily", "Hourly")

    def _plan_window(self, window: DateWindow, account_ids: Sequence[int]) -> RestatedWindow:
        rule: Restatement = self._restatement
        if not rule.enabled or not self._restates():
            return RestatedWindow(window, window)
        writer = self._writer(self._request(self._columns(), account_ids, window))
        earliest = writer.earliest_incomplete_day(list(account_ids), since=rule.since(window))
        return rule.plan(window, earliest)

    def _finish(self, context: Context, hook: MicrosoftAdsHook, plan: ReportPlan) -> dict[str, Any]:
        request = self._request(self._columns(), plan.account_ids, plan.window)
        writer = self._writer(request)
        with self._reports(hook, plan) as reports:
            report = one_report(reports)
            complete = report.metadata.last_completed_day
            stats = writer.replace_window(
                report,
                account_ids=list(plan.account_ids),
                start=plan.window.start,
                end=plan.window.end,
                complete_through=complete,
                loaded_at=plan.loaded_at,
            )
        result = {
            "table": self.table,
            "schema": self.schema or None,
            "window_start": plan.window.start.isoformat(),
            "window_end": plan.window.end.isoformat(),
            "requested_start": plan.requested.start.isoformat(),
            "restated_days": (plan.requested.start - plan.window.start).days,
            "complete_through": complete.isoformat() if complete else None,
            "accounts": len(plan.account_ids),
            "report_requests": len(plan.chunks),
            **_stats_dict(stats),
        }
        self.log.info("Loaded %s: %s", self.table, result)
        return result


class MicrosoftAdsReportOperator(ReportOperatorBase):
    """Write a performance report to a file (local path or ObjectStoragePath) for loading elsewhere.

    Rows of every report request go to one file with a header line (``csv``) or one JSON object per line
    (``jsonl``): ids as integers, money as exact decimals, days as ``YYYY-MM-DD``, missing values empty /
    null. The file is written to a temporary file first and moved into place only when every download
    succeeded, so readers never see half a report. Returns (XCom) the path, row count and window.

    :param report: report type without the ``ReportRequest`` suffix, e.g. ``"AccountPerformance"``. (templated)
    :param columns: the report's columns; ``AccountId`` is added when missing. (templated)
    :param aggregation: ``Daily`` (default), ``Hourly``, ``Weekly``, ``Monthly``, ``Summary``, ... (templated)
    :param account_ids: the accounts (ids, discovery rows or batches), or None for every account the
        connection reaches. (templated)
    :param window_start: first day to report; default: the data interval's start. (templated)
    :param window_end: last day to report, inclusive; default: the data interval's last day. (templated)
    :param time_zone: ``ReportTimeZone`` of the report (service default: Pacific Time). (templated)
    :param msads_conn_id: the ``msads`` connection. (templated)
    :param deferrable: wait on the triggerer (default) instead of in the worker.
    :param poll_interval: seconds before the first poll; later polls back off. (templated)
    :param max_poll_interval: longest wait between polls, in seconds. (templated)
    :param poll_timeout: give up after this long (seconds or a timedelta).
    :param report_attempts: how often one report request may be submitted (status Error is retried).
    :param path: destination: a local path, a URI such as ``s3://bucket/key.csv`` (written through
        Airflow's ObjectStoragePath with ``storage_conn_id``) or an ObjectStoragePath. (templated)
    :param file_format: ``csv`` or ``jsonl``. (templated)
    :param storage_conn_id: Airflow connection for the object store of ``path`` (not needed for local paths).
    """

    template_fields: Sequence[str] = (*ReportOperatorBase.template_fields, "path", "file_format")
    ui_color = "#fbe7cd"

    def __init__(
        self,
        *,
        path: Any,
        file_format: str = "csv",
        storage_conn_id: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if _literal(file_format) and file_format not in FILE_FORMATS:
            raise ValueError(f"file_format must be one of {', '.join(FILE_FORMATS)}, got {file_format!r}")
        self.path = path
        self.file_format = file_format
        self.storage_conn_id = storage_conn_id

    def _prepare(self, context: Context, request: Any) -> None:
        if self.file_format not in FILE_FORMATS:
            raise ValueError(
                f"file_format must be one of {', '.join(FILE_FORMATS)}, got {self.file_format!r}"
            )
        if not str(self.path).strip():
            raise ValueError("path is empty: give a local path or a URI such as s3://bucket/report.csv")

    def _finish(self, context: Context, hook: MicrosoftAdsHook, plan: ReportPlan) -> dict[str, Any]:
        with self._reports(hook, plan) as reports, tempfile.TemporaryDirectory(prefix="msads-report-") as tmp:
            columns = list(reports[0].columns) if reports else []
            local = Path(tmp) / f"report.{self.file_format}"
            rows = write_rows(local, columns, one_report(reports), self.file_format)
            destination = publish(local, self.path, self.storage_conn_id)
        result = {
            "path": destination,
            "rows": rows,
            "format": self.file_format,
            "window_start": plan.window.start.isoformat(),
            "window_end": plan.window.end.isoformat(),
            "accounts": len(plan.account_ids),
            "report_requests": len(plan.chunks),
        }
        self.log.info("Wrote %s", result)
        return result


# -- helpers --------------------------------------------------------------------------------------------


def _stats_dict(stats: Any) -> dict[str, Any]:
    if hasattr(stats, "as_dict"):
        return dict(stats.as_dict())
    if isinstance(stats, Mapping):
        return dict(stats)
    import dataclasses

    if dataclasses.is_dataclass(stats) and not isinstance(stats, type):
        return dataclasses.asdict(stats)
    return {"stats": str(stats)}


def _sql_hook(conn_id: str) -> Any:
    from airflow.providers.common.sql.hooks.sql import DbApiHook
    from airflow.sdk import BaseHook

    db_hook = BaseHook.get_hook(conn_id)
    if not isinstance(db_hook, DbApiHook):
        raise TypeError(
            f"sql_conn_id {conn_id!r} gives a {type(db_hook).__name__}, not a SQL (DbApiHook) connection: use a "
            "SQLite, PostgreSQL, MySQL or other common-sql connection"
        )
    return db_hook
