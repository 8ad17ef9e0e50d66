"""What both report operators share: check the parameters, submit, wait (deferred or not), download.

:class:`ReportOperatorBase` runs steps 1-3 and the download of step 4 (see
:mod:`airflow_provider_msads.operators.reports`); a subclass says only what to check before the first
call (``_prepare``), how far back to pull (``_plan_window``) and where the rows go (``_finish``).
"""

from __future__ import annotations

import abc
import contextlib
import json
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator

from airflow_provider_msads.client.reporting.columns import ACCOUNT_ID
from airflow_provider_msads.hooks.msads import MicrosoftAdsHook, _fail_exception, fail_without_retries
from airflow_provider_msads.operators.accounts import _literal
from airflow_provider_msads.operators.report_plan import (
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
    chunk_accounts,
    normalise_account_ids,
)
from airflow_provider_msads.triggers.reports import MicrosoftAdsReportTrigger

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_provider_msads.client import MicrosoftAdsClient

#: XCom key under which a deferred task keeps its plan (window, accounts, report request ids; no secrets).
PLAN_XCOM_KEY = "msads_report_plan"
#: Downloads of one report tried this often when the file arrives broken (truncated, reset).
DOWNLOAD_ATTEMPTS = 3


class ReportOperatorBase(BaseOperator):
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
        positive_seconds(poll_timeout, "poll_timeout")
        if isinstance(report_attempts, bool) or not isinstance(report_attempts, int) or report_attempts < 1:
            raise ValueError(f"report_attempts must be a whole number of at least 1, got {report_attempts!r}")

    # -- steps 1 and 2: check, then submit ------------------------------------------------------------

    def execute(self, context: Context) -> Any:
        with fail_without_retries():
            try:
                window = self._window(context)
                self._schedule()
                positive_seconds(self.poll_timeout, "poll_timeout")
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
        plan = ReportPlan(plan_window.pulled, plan_window.requested, chunks, loaded_at(context))
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
        return names if ACCOUNT_ID in names else (ACCOUNT_ID, *names)

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
            poll_seconds(self.poll_interval, "poll_interval"),
            poll_seconds(self.max_poll_interval, "max_poll_interval"),
        )

    def _deadline(self) -> float:
        return time.time() + positive_seconds(self.poll_timeout, "poll_timeout")

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


# -- parameters and plan helpers -----------------------------------------------------------------------


def assert_no_secret(payload: Any, secrets: Iterable[str], what: str) -> None:
    """Refuse to store ``payload`` (trigger kwargs, XCom) if any connection secret is in it."""
    text = json.dumps(payload, default=str)
    if any(s and s in text for s in secrets):
        raise RuntimeError(
            f"refusing to store {what}: a connection secret would be written to the metadata database"
        )


def one_report(reports: Sequence[Any]) -> Any:
    """Every downloaded report as one ``Report`` (a request split by accounts is one load)."""
    from airflow_provider_msads.client.reporting import Report

    return Report.combine(reports)


def loaded_at(context: Context) -> datetime:
    """The DAG run's ``run_after``: stable across retries and clears, so reruns write identical rows."""
    dag_run = context.get("dag_run")
    run_after = getattr(dag_run, "run_after", None)
    if isinstance(run_after, datetime) and run_after.tzinfo is not None:
        return run_after.astimezone(timezone.utc)
    return datetime.now(timezone.utc)


def whole_number(value: Any, name: str) -> int:
    """An integer parameter, also given as text when templated (``"7"``)."""
    if isinstance(value, bool):
        raise ValueError(f"{name} must be a whole number, got {value!r}")
    if isinstance(value, int):
        return value
    text = str(value).strip()
    if text.lstrip("-").isdigit():
        return int(text)
    raise ValueError(f"{name} must be a whole number, got {value!r}")


def poll_seconds(value: Any, name: str) -> float:
    """A poll interval: a number (or its text, when templated) of seconds above 0."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number of seconds, got {value!r}") from None
    if isinstance(value, bool) or not number > 0:
        raise ValueError(f"{name} must be more than 0 seconds, got {value!r}")
    return number


def positive_seconds(value: Any, name: str) -> float:
    """A timeout: a positive number of seconds or a timedelta (not templated)."""
    number = value.total_seconds() if isinstance(value, timedelta) else value
    if isinstance(number, bool) or not isinstance(number, (int, float)) or not number > 0:
        raise ValueError(f"{name} must be a positive number of seconds or a timedelta, got {value!r}")
    return float(number)
