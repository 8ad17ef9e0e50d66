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

import abc
import contextlib
import csv
import json
import os
import shutil
import tempfile
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from airflow.sdk import Asset, BaseOperator

from airflow_provider_msads.hooks.msads import MicrosoftAdsHook, _fail_exception, fail_without_retries
from airflow_provider_msads.operators.accounts import _literal, sql_table_asset
from airflow_provider_msads.operators.report_plan import (
    DEFAULT_LOOKBACK_DAYS,
    DEFAULT_MAX_POLL_INTERVAL,
    DEFAULT_POLL_INTERVAL,
    DEFAULT_POLL_TIMEOUT,
    DEFAULT_REPORT_ATTEMPTS,
    MAX_ACCOUNTS_PER_REQUEST,
    DateWindow,
    PollSchedule,
    ReportChunk,
    ReportPlan,
    RestatedWindow,
    Restatement,
    chunk_accounts,
    normalise_account_ids,
)
from airflow_provider_msads.triggers.reports import MicrosoftAdsReportTrigger
from airflow_provider_msads.warehouse.dialect import validate_identifier

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_provider_msads.client import MicrosoftAdsClient

#: XCom key under which a deferred task keeps its plan (window, accounts, report request ids; no secrets).
PLAN_XCOM_KEY = "msads_report_plan"
#: Downloads of one report tried this often when the file arrives broken (truncated, reset).
DOWNLOAD_ATTEMPTS = 3
FILE_FORMATS = ("csv", "jsonl")
_ACCOUNT_ID = "AccountId"


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


class _ReportOperator(BaseOperator):
    """What both report operators share: parameters, submit, wait (deferred or not), download."""

    template_fields: Sequence[str] = (
        "msads_conn_id",
        "report",
        "columns",
        "aggregation",
        "account_ids",
        "window_start",
        "window_end",
        "time_zone",
        "poll_interval",
        "max_poll_interval",
    )

    def __init__(
        self,
        *,
        report: str,
        columns: Sequence[str] | str,
        aggregation: str | None = "Daily",
        account_ids: Any = None,
        window_start: Any = None,
        window_end: Any = None,
        time_zone: str | None = None,
        msads_conn_id: str = MicrosoftAdsHook.default_conn_name,
        deferrable: bool = True,
        poll_interval: float | str = DEFAULT_POLL_INTERVAL,
        max_poll_interval: float | str = DEFAULT_MAX_POLL_INTERVAL,
        poll_timeout: float | timedelta = DEFAULT_POLL_TIMEOUT,
        report_attempts: int = DEFAULT_REPORT_ATTEMPTS,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.report = report
        self.columns = columns
        self.aggregation = aggregation
        self.account_ids = account_ids
        self.window_start = window_start
        self.window_end = window_end
        self.time_zone = time_zone
        self.msads_conn_id = msads_conn_id
        self.deferrable = deferrable
        self.poll_interval = poll_interval
        self.max_poll_interval = max_poll_interval
        self.poll_timeout = poll_timeout
        self.report_attempts = report_attempts
        # Literal values that cannot change at run time are checked now, at DAG parse time.
        if all(isinstance(v, (int, float)) or _literal(v) for v in (poll_interval, max_poll_interval)):
            self._schedule()
        _positive_seconds(poll_timeout, "poll_timeout")
        if isinstance(report_attempts, bool) or not isinstance(report_attempts, int) or report_attempts < 1:
            raise ValueError(f"report_attempts must be a whole number of at least 1, got {report_attempts!r}")

    # -- steps 1 and 2: check, then submit ------------------------------------------------------------

    def execute(self, context: Context) -> Any:
        with fail_without_retries():
            try:
                window = self._window(context)
                self._schedule()
                _positive_seconds(self.poll_timeout, "poll_timeout")
                account_ids = normalise_account_ids(self.account_ids)
                columns = self._columns()
                probe = self._request(columns, account_ids or (1,), window)  # report, columns, aggregation
                self._prepare(context, probe)
            except (ValueError, TypeError) as err:
                # Bad input (ConfigurationError included): fail now, Airflow's retries cannot fix it.
                raise _fail_exception()(f"{type(err).__name__}: {err}") from err
            return self._submit_and_wait(context, window, account_ids, columns)

    def _submit_and_wait(
        self,
        context: Context,
        window: DateWindow,
        account_ids: tuple[int, ...] | None,
        columns: tuple[str, ...],
    ) -> Any:
        hook = MicrosoftAdsHook(self.msads_conn_id)
        with hook.get_client() as client:
            if account_ids is None:
                account_ids = self._discover(client)
            plan_window = self._plan_window(window, account_ids)
            if plan_window.restated_days:
                self.log.info(
                    "Restatement: %d earlier day(s) were not complete when loaded; pulling %s..%s",
                    plan_window.restated_days,
                    plan_window.pulled.start,
                    plan_window.requested.start - timedelta(days=1),
                )
            chunks = tuple(
                ReportChunk(ids, self._submit(client, self._request(columns, ids, plan_window.pulled)))
                for ids in chunk_accounts(account_ids, MAX_ACCOUNTS_PER_REQUEST)
            )
        plan = ReportPlan(plan_window.pulled, plan_window.requested, chunks, _loaded_at(context))
        self.log.info(
            "Submitted %d report request(s) for %d account(s), %s..%s: %s",
            len(chunks),
            len(account_ids),
            plan.window.start,
            plan.window.end,
            ", ".join(plan.report_request_ids),
        )
        return self._wait(context, hook, plan)

    def _window(self, context: Context) -> DateWindow:
        if self.window_start is None and self.window_end is None:
            dag_run = context.get("dag_run")
            return DateWindow.from_data_interval(
                context.get("data_interval_start"),  # type: ignore[arg-type]
                context.get("data_interval_end"),  # type: ignore[arg-type]
                getattr(dag_run, "run_after", None),
            )
        if self.window_start is None or self.window_end is None:
            missing = "window_start" if self.window_start is None else "window_end"
            raise ValueError(
                f"{missing} is not set: give both window_start and window_end, or neither (then the DAG "
                "run's data interval is used)"
            )
        return DateWindow.from_values(self.window_start, self.window_end)

    def _columns(self) -> tuple[str, ...]:
        columns = self.columns
        if isinstance(columns, str):
            columns = [c for c in columns.replace(",", " ").split() if c]
        names = tuple(str(c).strip() for c in columns)
        return names if _ACCOUNT_ID in names else (_ACCOUNT_ID, *names)

    def _request(self, columns: Sequence[str], account_ids: Sequence[int], window: DateWindow) -> Any:
        from airflow_provider_msads.client.reporting import ReportRequest

        return ReportRequest(
            report=self.report,
            columns=list(columns),
            aggregation=self.aggregation,
            start=window.start,
            end=window.end,
            time_zone=self.time_zone or None,
            account_ids=list(account_ids),
        )

    def _prepare(self, context: Context, request: Any) -> None:
        """Subclass checks that need no API call (e.g. the SQL table); runs before the first call."""

    def _plan_window(self, window: DateWindow, account_ids: Sequence[int]) -> RestatedWindow:
        return RestatedWindow(window, window)

    def _discover(self, client: MicrosoftAdsClient) -> tuple[int, ...]:
        ids = tuple(sorted({a.id for a in client.discover_accounts()}))
        if not ids:
            raise ValueError(
                f"connection {self.msads_conn_id!r} reaches no accounts: nothing to report on; check the "
                "signed-in user's roles, or pass account_ids"
            )
        self.log.info("No account_ids given: reporting on all %d account(s) the connection reaches", len(ids))
        return ids

    def _submit(self, client: MicrosoftAdsClient, request: Any) -> str:
        rid: str = client.submit_report(request)
        return rid

    # -- step 3: wait ------------------------------------------------------------------------------------

    def _schedule(self) -> PollSchedule:
        return PollSchedule(
            _seconds(self.poll_interval, "poll_interval"),
            _seconds(self.max_poll_interval, "max_poll_interval"),
        )

    def _deadline(self) -> float:
        return time.time() + _positive_seconds(self.poll_timeout, "poll_timeout")

    def _wait(self, context: Context, hook: MicrosoftAdsHook, plan: ReportPlan) -> Any:
        if not self.deferrable:
            return self._wait_in_worker(context, hook, plan)
        deadline = self._deadline()
        schedule = self._schedule()
        trigger = MicrosoftAdsReportTrigger(
            msads_conn_id=self.msads_conn_id,
            report_request_ids=[c.report_request_id for c in plan.chunks],
            deadline=deadline,
            poll_interval=schedule.interval,
            max_poll_interval=schedule.max_interval,
            poll_factor=schedule.factor,
        )
        assert_no_secret(trigger.serialize()[1], hook.settings.secrets, "trigger arguments")
        assert_no_secret(plan.to_json(), hook.settings.secrets, "the saved plan")
        context["ti"].xcom_push(key=PLAN_XCOM_KEY, value=plan.to_json())
        self.defer(
            trigger=trigger,
            method_name="execute_complete",
            timeout=timedelta(seconds=max(1.0, deadline - time.time()) + 300),
        )

    def execute_complete(self, context: Context, event: Mapping[str, Any] | None = None) -> Any:
        """Resume after the trigger fired: resubmit reports that ended in Error, or download and load."""
        with fail_without_retries():
            return self._resume(context, event)

    def _resume(self, context: Context, event: Mapping[str, Any] | None) -> Any:
        ti = context["ti"]
        saved = ti.xcom_pull(task_ids=ti.task_id, key=PLAN_XCOM_KEY, map_indexes=ti.map_index)
        if not isinstance(saved, Mapping):
            raise RuntimeError(
                f"the report plan (XCom {PLAN_XCOM_KEY!r}) of this task is missing; clear the task to submit again"
            )
        plan = ReportPlan.from_json(saved)
        if not isinstance(event, Mapping) or event.get("status") not in ("done", "failed", "timeout"):
            raise RuntimeError(f"unexpected trigger event {event!r}; clear the task to submit again")
        if event["status"] != "done":
            raise RuntimeError(
                f"waiting for report(s) {', '.join(plan.report_request_ids)} {event['status']}: {event.get('error')}"
            )
        statuses = {str(k): str(v) for k, v in dict(event.get("reports") or {}).items()}
        hook = MicrosoftAdsHook(self.msads_conn_id)
        resubmitted = self._resubmit_errors(hook, plan, statuses)
        if resubmitted is not None:
            return self._wait(context, hook, resubmitted)
        return self._finish(context, hook, plan)

    def _wait_in_worker(self, context: Context, hook: MicrosoftAdsHook, plan: ReportPlan) -> Any:
        schedule = self._schedule()
        while True:
            deadline = self._deadline()
            statuses = dict.fromkeys(plan.report_request_ids, "Pending")
            rounds = 0
            with hook.get_client() as client:
                while any(s == "Pending" for s in statuses.values()):
                    now = time.time()
                    if now >= deadline:
                        raise RuntimeError(
                            f"report(s) still Pending after poll_timeout ({self.poll_timeout}): raise "
                            "poll_timeout, or ask for fewer accounts/days per request"
                        )
                    time.sleep(schedule.wait(rounds, now, deadline))
                    rounds += 1
                    for rid in [r for r, s in statuses.items() if s == "Pending"]:
                        statuses[rid] = client.poll_report(rid).status
                        self.log.info("report %s: %s (round %d)", rid, statuses[rid], rounds)
            resubmitted = self._resubmit_errors(hook, plan, statuses)
            if resubmitted is None:
                return self._finish(context, hook, plan)
            plan = resubmitted

    def _resubmit_errors(
        self, hook: MicrosoftAdsHook, plan: ReportPlan, statuses: Mapping[str, str]
    ) -> ReportPlan | None:
        """Submit again each request that ended in Error (None when all succeeded)."""
        failed = [c for c in plan.chunks if statuses.get(c.report_request_id) != "Success"]
        if not failed:
            return None
        exhausted = [c for c in failed if c.attempt >= int(self.report_attempts)]
        if exhausted:
            raise RuntimeError(
                f"report request(s) {', '.join(c.report_request_id for c in exhausted)} ended in status "
                f"{statuses.get(exhausted[0].report_request_id)} {exhausted[0].attempt} time(s) (report_attempts="
                f"{self.report_attempts}); Microsoft gives no reason for status Error: retry later, or split "
                "the window or the accounts"
            )
        columns = self._columns()
        replaced: dict[str, str] = {}
        with hook.get_client() as client:
            for chunk in failed:
                new = self._submit(client, self._request(columns, chunk.account_ids, plan.window))
                self.log.warning(
                    "report request %s ended in status %s: submitted again as %s (attempt %d of %d)",
                    chunk.report_request_id,
                    statuses.get(chunk.report_request_id),
                    new,
                    chunk.attempt + 1,
                    self.report_attempts,
                )
                replaced[chunk.report_request_id] = new
        return plan.resubmitted(replaced)

    # -- step 4: download and write ----------------------------------------------------------------------

    @abc.abstractmethod
    def _finish(self, context: Context, hook: MicrosoftAdsHook, plan: ReportPlan) -> Any:
        """Download every report of ``plan`` and write the output; returns the task's XCom value."""

    @contextlib.contextmanager
    def _reports(self, hook: MicrosoftAdsHook, plan: ReportPlan) -> Iterator[list[Any]]:
        """Every chunk's report, downloaded (to temporary files) before the caller writes anything."""
        columns = self._columns()
        with contextlib.ExitStack() as stack:
            client = stack.enter_context(hook.get_client())
            yield [
                self._download(
                    stack, client, c.report_request_id, self._request(columns, c.account_ids, plan.window)
                )
                for c in plan.chunks
            ]

    def _download(
        self, stack: contextlib.ExitStack, client: MicrosoftAdsClient, rid: str, request: Any
    ) -> Any:
        """One report: a fresh poll (for a fresh link), then the download (checked against ``request``).

        The client already refreshes an expired link and retries a broken transfer; when even that fails
        the whole download is started again from a new poll, ``DOWNLOAD_ATTEMPTS`` times in all.
        """
        from airflow_provider_msads.client.errors import NetworkError

        for attempt in range(1, DOWNLOAD_ATTEMPTS + 1):
            status = client.poll_report(rid)
            if status.status != "Success":
                raise RuntimeError(
                    f"report {rid} is {status.status} on resume; clear the task to submit again"
                )
            try:
                return stack.enter_context(client.download_report(rid, status, request))
            except NetworkError as err:
                if attempt == DOWNLOAD_ATTEMPTS:
                    raise
                self.log.warning("report %s: download failed (%s); downloading again", rid, err)
        raise AssertionError("unreachable")


class MicrosoftAdsReportToSqlOperator(_ReportOperator):
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
        *_ReportOperator.template_fields,
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
            Restatement(_int(lookback_days, "lookback_days"))
        self.table = table
        self.sql_conn_id = sql_conn_id
        self.schema = schema
        self.lookback_days = lookback_days

    def _prepare(self, context: Context, request: Any) -> None:
        validate_identifier(self.table, "table name")
        if self.schema:
            validate_identifier(self.schema, "schema name")
        self._restatement = Restatement(_int(self.lookback_days, "lookback_days"))
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
            complete = _complete_through(reports)
            stats = writer.replace_window(
                _rows(reports),
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


class MicrosoftAdsReportOperator(_ReportOperator):
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

    template_fields: Sequence[str] = (*_ReportOperator.template_fields, "path", "file_format")
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
            rows = _write_file(local, columns, _rows(reports), self.file_format)
            destination = _publish(local, self.path, self.storage_conn_id)
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


def assert_no_secret(payload: Any, secrets: Iterable[str], what: str) -> None:
    """Refuse to store ``payload`` (trigger kwargs, XCom) if any connection secret is in it."""
    text = json.dumps(payload, default=str)
    if any(s and s in text for s in secrets):
        raise RuntimeError(
            f"refusing to store {what}: a connection secret would be written to the metadata database"
        )


def _rows(reports: Sequence[Any]) -> Iterator[Mapping[str, Any]]:
    for report in reports:
        yield from report


def _complete_through(reports: Sequence[Any]) -> date | None:
    """The earliest Last Completed Available Day of the reports that carry one (None when none does)."""
    days = [d for r in reports if (d := getattr(getattr(r, "metadata", None), "last_completed_day", None))]
    return min(days) if days else None


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


def _loaded_at(context: Context) -> datetime:
    """The DAG run's ``run_after``: stable across retries and clears, so reruns write identical rows."""
    dag_run = context.get("dag_run")
    run_after = getattr(dag_run, "run_after", None)
    if isinstance(run_after, datetime) and run_after.tzinfo is not None:
        return run_after.astimezone(timezone.utc)
    return datetime.now(timezone.utc)


def _int(value: Any, name: str) -> int:
    if isinstance(value, bool):
        raise ValueError(f"{name} must be a whole number, got {value!r}")
    if isinstance(value, int):
        return value
    text = str(value).strip()
    if text.lstrip("-").isdigit():
        return int(text)
    raise ValueError(f"{name} must be a whole number, got {value!r}")


def _seconds(value: Any, name: str) -> float:
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number of seconds, got {value!r}") from None
    if isinstance(value, bool) or not seconds > 0:
        raise ValueError(f"{name} must be more than 0 seconds, got {value!r}")
    return seconds


def _positive_seconds(value: Any, name: str) -> float:
    seconds = value.total_seconds() if isinstance(value, timedelta) else value
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not seconds > 0:
        raise ValueError(f"{name} must be a positive number of seconds or a timedelta, got {value!r}")
    return float(seconds)


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    return value


def _json_value(value: Any) -> Any:
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


def _write_file(
    path: Path, columns: Sequence[str], rows: Iterable[Mapping[str, Any]], file_format: str
) -> int:
    count = 0
    with path.open("w", encoding="utf-8", newline="") as out:
        if file_format == "csv":
            writer = csv.writer(out, lineterminator="\n")
            writer.writerow(columns)
            for row in rows:
                writer.writerow([_cell(row.get(c)) for c in columns])
                count += 1
        else:
            for row in rows:
                out.write(json.dumps({c: _json_value(row.get(c)) for c in columns}, separators=(",", ":")))
                out.write("\n")
                count += 1
    return count


def _publish(local: Path, destination: Any, conn_id: str | None) -> str:
    """Move the finished file into place: ``os.replace`` locally, one upload for object storage."""
    text = os.fspath(destination) if isinstance(destination, (str, os.PathLike)) else str(destination)
    if "://" not in text or text.startswith("file://"):
        target = Path(text.removeprefix("file://")).expanduser().resolve()
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        shutil.copyfile(local, staging)
        os.replace(staging, target)
        return str(target)
    from airflow.sdk import ObjectStoragePath

    target_path = (
        destination
        if isinstance(destination, ObjectStoragePath)
        else ObjectStoragePath(text, conn_id=conn_id)
    )
    with local.open("rb") as source, target_path.open("wb") as sink:  # type: ignore[no-untyped-call]
        while chunk := source.read(1024 * 1024):
            sink.write(chunk)
    return str(target_path)
