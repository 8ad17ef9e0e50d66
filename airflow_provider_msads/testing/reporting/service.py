"""Reporting v13 (REST) of the emulator: Submit, Poll, report jobs, the reporting clock, scripting.

This is the public handle tests use as ``emu.reporting``. It validates Submit bodies like the service
(:mod:`.request`), builds the file from the synthetic :class:`~.world.World` (:mod:`.files`), hands it to
the storage origin (:mod:`.storage`) and answers Poll with Pending / Success + URL / Success without URL /
Error, as scripted.

Clock: the reporting "now" follows the emulator's :class:`~airflow_provider_msads.testing.identity.Clock`
(wall clock + the offset tests advance), optionally pinned to a date with :meth:`ReportingService.set_today`.
"Last Completed Available Day" is ``today - completion_lag_days``; days after it are provisional and their
numbers change as the clock advances (restatement; see :mod:`.world`).
"""

from __future__ import annotations

import json
import math
import secrets
import shutil
import tempfile
import threading
from collections import Counter, deque
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path
from typing import Any, Literal

from airflow_provider_msads.testing.customer_management import ApiFaultError, Caller, CustomerManagement
from airflow_provider_msads.testing.faults import FaultInjector
from airflow_provider_msads.testing.identity import Clock
from airflow_provider_msads.testing.reporting.errors import ReportingFault
from airflow_provider_msads.testing.reporting.files import ReportFile, ReportWriter
from airflow_provider_msads.testing.reporting.request import ReportSpec, ScopeChecker, parse_submit
from airflow_provider_msads.testing.reporting.storage import Storage
from airflow_provider_msads.testing.reporting.timezones import utc_offset
from airflow_provider_msads.testing.reporting.world import Volume, World, has_activity
from airflow_provider_msads.testing.rest import bearer_token

Outcome = Literal["success", "error", "empty"]
OUTCOMES = ("success", "error", "empty")
#: Reports up to this many rows are built inside Submit (deterministic for tests); bigger ones in a
#: background thread while Poll answers Pending, as the real service does.
SYNC_ROWS = 20_000
DEFAULT_URL_LIFETIME = 300.0  # "valid for 5 minutes" (reportrequeststatus.md)
DEFAULT_COMPLETION_LAG_DAYS = 1
#: "valid for a maximum of one day" (submitgeneratereport.md; the guide says two days). After that a Poll
#: answers Success WITHOUT a URL, as observed for stale ids (tap-bing-ads PR 18): a client that polls an
#: old id must not take that for "no data".
DEFAULT_REQUEST_ID_LIFETIME = 86400.0


@dataclass(slots=True)
class ReportJob:
    """One submitted report request (read it with :meth:`ReportingService.job`)."""

    report_request_id: str
    user_id: int
    spec: ReportSpec
    now: datetime
    last_completed_day: date
    pending_left: int
    outcome: Outcome
    polls: int = 0
    state: Literal["building", "ready", "failed"] = "building"
    file: ReportFile | None = None
    error: str | None = None
    finished: bool = False  # a poll has reported Success or Error
    urls: list[str] = field(default_factory=list, repr=False)
    submitted_at: float = 0.0  # emulator clock (seconds)


@dataclass(slots=True)
class _Script:
    pending: int | None
    outcome: Outcome
    left: int | None


class ReportingService:
    """Reporting v13 for one emulator. Tests reach it as ``emu.reporting``.

    :param completion_lag_days: Last Completed Available Day = today - this (default 1).
    :param pending_polls: polls answered Pending before the outcome, per report (default 1).
    :param url_lifetime: seconds a download URL stays valid (default 300, like Microsoft's 5 minutes).
    :param volume: entities per account (:class:`~.world.Volume`), the knob for big reports.
    :param max_concurrent_reports: more unfinished reports than this per user -> Submit fails with 207.
    """

    def __init__(
        self,
        service: CustomerManagement,
        clock: Clock,
        faults: FaultInjector,
        *,
        completion_lag_days: int = DEFAULT_COMPLETION_LAG_DAYS,
        pending_polls: int = 1,
        url_lifetime: float = DEFAULT_URL_LIFETIME,
        volume: Volume | None = None,
        max_concurrent_reports: int | None = None,
    ) -> None:
        self.service = service
        self.data = service.data
        self.clock = clock
        self.world = World(self.data, volume)
        self.storage = Storage(clock.now, faults, url_lifetime)
        self._defaults = (completion_lag_days, pending_polls, url_lifetime, max_concurrent_reports)
        self._default_volume = self.world.volume
        self.completion_lag_days = completion_lag_days
        self.pending_polls = pending_polls
        self.max_concurrent_reports = max_concurrent_reports
        #: seconds a ReportRequestId stays pollable (then: Success without URL, the file is gone)
        self.request_id_lifetime = DEFAULT_REQUEST_ID_LIFETIME
        self._pinned: tuple[datetime, float] | None = None
        self._jobs: dict[str, ReportJob] = {}
        self._scripts: deque[_Script] = deque()
        self._counters: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._seq = 15_000_000_000 + (self.data.seed % 1000) * 1_000_000
        self._dir: Path | None = None
        self._cancel = threading.Event()
        self._threads: list[threading.Thread] = []
        self._customers: dict[int, frozenset[int]] = {}

    # ------------------------------------------------------------------ clock
    def now(self) -> datetime:
        """The reporting clock (UTC, aware)."""
        wall = self.clock.now()
        if self._pinned is not None:
            pinned, at = self._pinned
            return pinned + timedelta(seconds=wall - at)
        return datetime.fromtimestamp(wall, timezone.utc)

    @property
    def today(self) -> date:
        """Today in UTC on the reporting clock."""
        return self.now().date()

    def today_in(self, time_zone: str) -> date:
        """Today in a ``ReportTimeZone`` (what predefined periods are relative to)."""
        return (self.now() + utc_offset(time_zone)).date()

    @property
    def last_completed_day(self) -> date:
        """The "Last Completed Available Day" of reports submitted now."""
        return self.today - timedelta(days=self.completion_lag_days)

    def set_today(self, day: date, at: time = time(12, 0)) -> None:
        """Pin the reporting clock to ``day`` (at ``at`` UTC); it keeps running from there."""
        self.set_now(datetime.combine(day, at, tzinfo=timezone.utc))

    def set_now(self, moment: datetime) -> None:
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=timezone.utc)
        self._pinned = (moment.astimezone(timezone.utc), self.clock.now())

    def advance_days(self, days: float) -> None:
        """Move the emulator clock forward (reports, URLs AND tokens see the time pass)."""
        self.clock.advance(days * 86400.0)

    # ------------------------------------------------------------------ scripting
    @property
    def url_lifetime(self) -> float:
        return self.storage.url_lifetime

    @url_lifetime.setter
    def url_lifetime(self, seconds: float) -> None:
        self.storage.url_lifetime = float(seconds)

    def script(
        self, *, outcome: Outcome = "success", pending: int | None = None, times: int | None = 1
    ) -> None:
        """What the next submitted report(s) do: ``outcome`` after ``pending`` Pending polls.

        :param outcome: ``"success"`` (a file, or no URL when it has no rows), ``"error"`` (Status Error),
            ``"empty"`` (Success without a download URL, whatever the data).
        :param pending: Pending polls before the outcome (default: :attr:`pending_polls`).
        :param times: how many submits this applies to (``None``: all from now on).
        """
        if outcome not in OUTCOMES:
            raise ValueError(f"outcome must be one of {', '.join(OUTCOMES)}, got {outcome!r}")
        if pending is not None and pending < 0:
            raise ValueError("pending must be >= 0")
        if times is not None and times < 1:
            raise ValueError("times must be >= 1 (or None for every report)")
        with self._lock:
            self._scripts.append(_Script(pending, outcome, times))

    def expire_urls(self) -> int:
        """Expire every download URL issued so far; the next download of one gets 403 (poll again)."""
        return self.storage.expire_all()

    @property
    def volume(self) -> Volume:
        return self.world.volume

    @volume.setter
    def volume(self, value: Volume) -> None:
        self.world.volume = value

    # ------------------------------------------------------------------ observation
    @property
    def counters(self) -> Counter[str]:
        """A snapshot: submits, polls, downloads, credential_rejections, expired_url_hits, bad_signature,
        not_found, throttled (207 from the concurrency limit), stale_polls (ids older than
        :attr:`request_id_lifetime`)."""
        with self._lock:
            merged = Counter(self._counters)
        merged.update(self.storage.counters)
        for key in ("submits", "polls", "downloads", "credential_rejections", "expired_url_hits"):
            merged.setdefault(key, 0)
        return merged

    @property
    def rejected_headers(self) -> list[tuple[str, ...]]:
        """Header names of every credential-carrying request the storage host rejected."""
        return list(self.storage.rejected_headers)

    def job(self, report_request_id: str) -> ReportJob:
        with self._lock:
            return self._jobs[report_request_id]

    @property
    def jobs(self) -> list[ReportJob]:
        with self._lock:
            return list(self._jobs.values())

    def reset(self) -> None:
        """Forget jobs, scripts, files, counters and the pinned date; restore the constructor settings
        (lag, pending polls, URL lifetime, concurrency limit, volume)."""
        self._cancel.set()
        for thread in self._threads:
            thread.join(timeout=10)
        self._threads.clear()
        self._cancel = threading.Event()
        self.storage.clear()
        lag, pending, lifetime, concurrent = self._defaults
        with self._lock:
            self._jobs.clear()
            self._scripts.clear()
            self._counters.clear()
            self._pinned = None
            self.completion_lag_days = lag
            self.pending_polls = pending
            self.max_concurrent_reports = concurrent
            self.request_id_lifetime = DEFAULT_REQUEST_ID_LIFETIME
            self.world.volume = self._default_volume
        self.storage.url_lifetime = lifetime

    def close(self) -> None:
        """Stop background builds and delete every file (called by ``Emulator.stop``)."""
        self.reset()
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None

    # ------------------------------------------------------------------ building files without HTTP
    def checker(self, user_id: int | None = None) -> ScopeChecker:
        reach = set(self.data.reachable_account_ids(user_id or self.data.demo_user.id))
        accounts = self.data.account_by_id
        return ScopeChecker(
            exists=lambda a: a in accounts,
            reachable=lambda a: a in reach,
            campaign_exists=lambda a, c: self.world.campaign_exists(accounts[a], c),
            ad_group_exists=lambda a, c, g: self.world.ad_group_exists(accounts[a], c, g),
        )

    def parse(self, body: object, user_id: int | None = None) -> ReportSpec:
        """Validate a Submit body as the service would (raises :class:`ReportingFault`)."""
        return parse_submit(
            body, checker=self.checker(user_id), today_in=self.today_in, last_complete=self.last_completed_day
        )

    def write_report(
        self, body: dict[str, Any], directory: str | Path, report_request_id: str | None = None
    ) -> ReportFile:
        """Build the report file of a Submit body straight into ``directory`` (no HTTP, demo user's access).

        The bench-friendly path: ``emu.reporting.write_report(emu.reporting.sized_report_body(1_000_000),
        tmp_path)`` writes a 1,000,000-row zip in Microsoft's layout, streaming (flat memory).
        """
        spec = self.parse(body)
        writer = self._writer(spec)
        rid = report_request_id or self._new_id()
        return writer.write(Path(directory), rid)

    def sized_report_body(
        self,
        rows: int,
        *,
        days: int = 30,
        columns: tuple[str, ...] = (
            "TimePeriod",
            "AccountId",
            "AccountName",
            "CampaignId",
            "CampaignName",
            "AdGroupId",
            "KeywordId",
            "Keyword",
            "CurrencyCode",
            "Impressions",
            "Clicks",
            "Ctr",
            "AverageCpc",
            "Spend",
            "ConversionsQualified",
            "Revenue",
            "QualityScore",
        ),
        account_ids: list[int] | None = None,
    ) -> dict[str, Any]:
        """A daily KeywordPerformance Submit body with exactly ``rows`` data rows (via ``MaxRows``).

        Raises the :attr:`volume` (keywords per ad group) when the accounts x keywords x days of the
        default tree are too few. Ends on the last completed day, so the file is stable.
        """
        if rows < 1:
            raise ValueError("rows must be >= 1")
        ids = (
            account_ids
            or [a for a in self.data.demo_account_ids if has_activity(self.data.account_by_id[a])][:1000]
        )
        if not ids:
            raise ValueError("the emulator has no active account for the demo user")
        v = self.world.volume
        per_keyword_group = v.campaigns_per_account * v.ad_groups_per_campaign
        needed = math.ceil(rows / (len(ids) * days * per_keyword_group))
        if needed > v.keywords_per_ad_group:
            if needed > 9999:
                raise ValueError("too many rows for these accounts and days: pass more days or accounts")
            self.world.volume = Volume(
                v.campaigns_per_account, v.ad_groups_per_campaign, needed, v.search_terms_per_keyword
            )
        end = self.last_completed_day
        start = end - timedelta(days=days - 1)
        return {
            "ReportRequest": {
                "Type": "KeywordPerformanceReportRequest",
                "ReportName": f"Keyword performance, {rows} rows",
                "Format": "Csv",
                "FormatVersion": "2.0",
                "Aggregation": "Daily",
                "Columns": list(columns),
                "MaxRows": rows,
                "Scope": {"AccountIds": [str(i) for i in ids]},
                "Time": {
                    "CustomDateRangeStart": {"Day": start.day, "Month": start.month, "Year": start.year},
                    "CustomDateRangeEnd": {"Day": end.day, "Month": end.month, "Year": end.year},
                    "ReportTimeZone": "PacificTimeUSCanadaTijuana",
                },
            }
        }

    def _writer(self, spec: ReportSpec) -> ReportWriter:
        accounts = [self.data.account_by_id[a] for a in spec.account_ids]
        return ReportWriter(self.world, spec, accounts, now=self.now(), last_complete=self.last_completed_day)

    def _new_id(self) -> str:
        with self._lock:
            self._seq += 1
            number = self._seq
        return f"{number}_{100_000_000_000 + secrets.randbelow(900_000_000_000)}"

    def _directory(self) -> Path:
        if self._dir is None:
            self._dir = Path(tempfile.mkdtemp(prefix="msads-emulator-reports-"))
        return self._dir

    # ------------------------------------------------------------------ operations (HTTP layer calls these)
    def authenticate(self, headers: dict[str, str]) -> Caller:
        try:
            caller = self.service.authenticate(
                bearer_token(headers.get("authorization")), headers.get("developertoken")
            )
        except ApiFaultError as err:
            raise ReportingFault(
                err.code, err.detail, http_status=err.http_status, message=err.message
            ) from None
        customer = headers.get("customerid")
        if customer is not None and (
            not customer.strip().isdigit() or int(customer) not in self._customers_of(caller)
        ):
            raise ReportingFault(106, f"CustomerId {customer!r} is not a customer this user can access.")
        account = headers.get("customeraccountid")
        if account is not None and (
            not account.strip().isdigit()
            or int(account) not in set(self.data.reachable_account_ids(caller.user.id))
        ):
            raise ReportingFault(
                106, f"CustomerAccountId {account!r} is not an account this user can access."
            )
        return caller

    def _customers_of(self, caller: Caller) -> frozenset[int]:
        uid = caller.user.id
        known = self._customers.get(uid)
        if known is None:
            ids = set(self.data.customer_ids_of(uid))
            ids.update(
                self.data.account_by_id[a].parent_customer_id for a in self.data.reachable_account_ids(uid)
            )
            known = self._customers[uid] = frozenset(ids)
        return known

    def submit(self, headers: dict[str, str], body: bytes) -> dict[str, Any]:
        caller = self.authenticate(headers)
        parsed = _json(body)
        spec = parse_submit(
            parsed,
            checker=self.checker(caller.user.id),
            today_in=self.today_in,
            last_complete=self.last_completed_day,
        )
        with self._lock:
            if self.max_concurrent_reports is not None:
                open_jobs = sum(
                    1 for j in self._jobs.values() if j.user_id == caller.user.id and not j.finished
                )
                if open_jobs >= self.max_concurrent_reports:
                    self._counters["throttled"] += 1
                    raise ReportingFault(207)
            script = self._scripts[0] if self._scripts else None
            if script is not None and script.left is not None:
                script.left -= 1
                if script.left <= 0:
                    self._scripts.popleft()
            self._counters["submits"] += 1
        rid = self._new_id()
        writer = self._writer(spec)
        job = ReportJob(
            rid,
            caller.user.id,
            spec,
            writer.now,
            writer.last_complete,
            pending_left=script.pending
            if script is not None and script.pending is not None
            else self.pending_polls,
            outcome=script.outcome if script is not None else "success",
            submitted_at=self.clock.now(),
        )
        with self._lock:
            self._jobs[rid] = job
        if writer.count_rows() <= SYNC_ROWS:
            self._build(job, writer)
        else:
            thread = threading.Thread(
                target=self._build, args=(job, writer), daemon=True, name=f"report-{rid}"
            )
            self._threads.append(thread)
            thread.start()
        return {"ReportRequestId": rid}

    def _build(self, job: ReportJob, writer: ReportWriter) -> None:
        cancel = self._cancel
        try:
            result = writer.write(self._directory(), job.report_request_id, cancel=cancel)
        except Exception as exc:  # a failed build is the report's Error status
            job.error = f"{type(exc).__name__}: {exc}"
            job.state = "failed"
            return
        if cancel.is_set():
            return
        if result.path is not None:
            self.storage.add(job.report_request_id, result.path)
        job.file = result
        job.state = "ready"

    def poll(self, headers: dict[str, str], body: bytes) -> dict[str, Any]:
        caller = self.authenticate(headers)
        parsed = _json(body)
        rid = parsed.get("ReportRequestId")
        if not isinstance(rid, str) or not rid.strip() or len(rid) > 40:
            raise ReportingFault(2100, "ReportRequestId must be the string Submit returned.")
        with self._lock:
            self._counters["polls"] += 1
            job = self._jobs.get(rid)
        if job is None or job.user_id != caller.user.id:
            raise ReportingFault(2101, "Poll with the same user credentials that submitted the report.")
        url = None
        stale = self.clock.now() - job.submitted_at > self.request_id_lifetime
        if stale and job.file is not None and job.file.path is not None:
            self.storage.remove(rid)  # "removed from the download site"
        with self._lock:  # concurrent polls of one report see each Pending exactly once
            job.polls += 1
            if stale:
                self._counters["stale_polls"] += 1
                status = "Success"
            elif job.pending_left > 0:
                job.pending_left -= 1
                status = "Pending"
            elif job.state == "building":
                status = "Pending"
            elif job.state == "failed" or job.outcome == "error":
                status = "Error"
            else:
                status = "Success"
            if status != "Pending":
                job.finished = True
        if (
            status == "Success"
            and not stale
            and job.outcome == "success"
            and job.file is not None
            and job.file.path is not None
        ):
            url = self.storage.sign(rid)
            job.urls.append(url)
        return {"ReportRequestStatus": {"ReportDownloadUrl": url, "Status": status}}


def _json(body: bytes) -> dict[str, Any]:
    if not body.strip():
        raise ReportingFault(100)
    try:
        parsed = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise ReportingFault(201, "The request body is not valid JSON.") from None
    if not isinstance(parsed, dict):
        raise ReportingFault(201, "The request body must be a JSON object.")
    return parsed
