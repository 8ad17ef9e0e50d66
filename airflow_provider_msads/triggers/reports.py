"""Wait for Microsoft to build reports on the triggerer, not in a worker slot.

:class:`MicrosoftAdsReportTrigger` polls ``GenerateReport/Poll`` for a few report request ids until
each is ``Success`` or ``Error`` and then fires one event; the worker resumes, downloads and loads.

What it is built from, and why:

* **Ids only in its arguments.** Trigger kwargs are stored in the metadata database and echoed by
  DEBUG logs: they hold the connection id, the report request ids and the poll schedule (with an
  absolute deadline), never a token or a URL. The trigger reads the connection itself.
* **Async, one HTTP client.** Every report trigger on one event loop (one triggerer process) shares a
  single async HTTP client (reference-counted, closed when the last trigger ends); a poll is a
  coroutine, never a thread.
* **The wire stays in** ``client/``: :mod:`airflow_provider_msads.client.reporting.async_poll` sends
  the Poll, built from the sans-IO pieces of :mod:`~airflow_provider_msads.client.reporting.protocol`
  (URL and body, the headers from the same assembly the synchronous client uses, the meaning of the
  answer). The trigger decides only when to poll and what an answer means for the wait.
* **Tokens through the project's token store.** The access token is the one all tasks of the connection
  share (encrypted in the Variable ``msads_oauth_token__<conn_id>``), refreshed by the same
  :class:`~airflow_provider_msads.client.auth.RefreshTokenAuth` the workers use, so rotated refresh
  tokens are persisted the same way. That code is synchronous (Variable access through the task SDK, a
  file lock, the token endpoint), so it runs through ``asgiref.sync.sync_to_async`` — the pattern
  Airflow documents for blocking calls in triggers, and the one its own async connection lookup uses
  for synchronous secrets backends. The trigger keeps the token and its expiry in memory, so that hop
  happens once per token lifetime per connection and triggerer (plus once when the API rejects a
  token), not once per poll. An async re-implementation of the refresh and of the Variable protocol
  would have been a second home for the same rules.
* **Restart-safe.** All state is in the kwargs and polling is idempotent: a restarted triggerer polls
  again from the first interval, and the deadline (epoch seconds) does not move.
"""

from __future__ import annotations

import asyncio
import time
import weakref
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_provider_msads.operators.report_plan import PollSchedule

if TYPE_CHECKING:
    from airflow_provider_msads.client.reporting.async_poll import AsyncHttpClient
    from airflow_provider_msads.client.settings import ConnectionSettings

CLASSPATH = "airflow_provider_msads.triggers.reports.MicrosoftAdsReportTrigger"
#: Re-read the shared access token at least this often even if it claims to live longer.
_MAX_TOKEN_REUSE = 600.0
#: If the shared store cannot tell the expiry, reuse a token this long before asking again.
_UNKNOWN_EXPIRY_REUSE = 60.0
#: Concurrent polls one trigger runs at a time (a trigger holds at most a few report requests).
_MAX_CONCURRENT_POLLS = 8


class MicrosoftAdsReportTrigger(BaseTrigger):
    """Poll report requests until each is ``Success`` or ``Error``; fire one event with their statuses.

    The event payload is ``{"status": "done" | "failed" | "timeout", "reports": {id: "Success" |
    "Error" | "Pending"}, "polls": int, "error": str | None}``. It carries no download URL (those are
    short-lived bearer links): the worker polls once more for a fresh one when it resumes.

    :param msads_conn_id: the ``msads`` connection (read by the trigger itself).
    :param report_request_ids: the ``ReportRequestId`` values returned by Submit.
    :param deadline: epoch seconds after which the trigger gives up (``status: "timeout"``).
    :param poll_interval: first wait before polling, in seconds.
    :param max_poll_interval: the longest wait between polls (backoff bound).
    :param poll_factor: growth of the wait after each round of Pending answers.
    """

    def __init__(
        self,
        *,
        msads_conn_id: str,
        report_request_ids: Sequence[str],
        deadline: float,
        poll_interval: float,
        max_poll_interval: float,
        poll_factor: float = 1.5,
    ) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.msads_conn_id = str(msads_conn_id)
        self.report_request_ids = [str(i) for i in report_request_ids]
        if not self.report_request_ids:
            raise ValueError("report_request_ids is empty: nothing to wait for")
        self.deadline = float(deadline)
        self.schedule = PollSchedule(float(poll_interval), float(max_poll_interval), float(poll_factor))

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            CLASSPATH,
            {
                "msads_conn_id": self.msads_conn_id,
                "report_request_ids": list(self.report_request_ids),
                "deadline": self.deadline,
                "poll_interval": self.schedule.interval,
                "max_poll_interval": self.schedule.max_interval,
                "poll_factor": self.schedule.factor,
            },
        )

    def __repr__(self) -> str:
        return (
            f"MicrosoftAdsReportTrigger(msads_conn_id={self.msads_conn_id!r}, "
            f"report_request_ids={self.report_request_ids!r}, deadline={self.deadline!r})"
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        statuses = dict.fromkeys(self.report_request_ids, "Pending")
        poller: ReportPoller | None = None
        try:
            settings = await load_settings(self.msads_conn_id)
            async with shared_resources() as http:
                poller = ReportPoller(
                    self.msads_conn_id, settings, http, self.schedule, self.deadline, self.log
                )
                event = await poller.wait_all(statuses)
        except Exception as err:  # every failure becomes an event: the worker raises it with context
            event = _event("failed", statuses, poller.polls if poller else 0, _describe(err))
        yield TriggerEvent(event)  # type: ignore[no-untyped-call]


@dataclass
class ReportPoller:
    """Polls until done; separate from the trigger so tests can drive it with a fake clock."""

    conn_id: str
    settings: ConnectionSettings
    http: AsyncHttpClient
    schedule: PollSchedule
    deadline: float
    log: Any
    clock: Any = time.time
    sleep: Any = asyncio.sleep
    polls: int = 0
    rounds: int = field(default=0)
    _announced: set[str] = field(default_factory=set)  # ids whose Pending was logged at INFO

    async def wait_all(self, statuses: dict[str, str]) -> dict[str, Any]:
        """Poll every Pending id each round, wait per the schedule, stop when none is Pending."""
        tokens = token_source(self.conn_id, self.settings)
        semaphore = asyncio.Semaphore(_MAX_CONCURRENT_POLLS)
        retry_after: float | None = None

        async def one(rid: str) -> tuple[str, str, float | None]:
            async with semaphore:
                return await self._poll_once(rid, tokens)

        while True:
            pending = [rid for rid, status in statuses.items() if status == "Pending"]
            if not pending:
                return _event("done", statuses, self.polls)
            now = self.clock()
            if now >= self.deadline:
                return _event(
                    "timeout",
                    statuses,
                    self.polls,
                    f"{len(pending)} report(s) still Pending at the deadline after {self.polls} polls: "
                    "raise poll_timeout, or ask for fewer accounts/days per request",
                )
            wait = self.schedule.wait(self.rounds, now, self.deadline, retry_after)
            if wait > 0:
                await self.sleep(wait)
            self.rounds += 1
            results = await asyncio.gather(*(one(rid) for rid in pending))
            for rid, status, _ in results:
                statuses[rid] = status
            retry_after = max((hint for _, _, hint in results if hint is not None), default=None)

    async def _poll_once(self, rid: str, tokens: AsyncTokenSource) -> tuple[str, str, float | None]:
        """One Poll call; transient trouble counts as Pending (the next round asks again)."""
        from airflow_provider_msads.client.errors import (
            MalformedResponseError,
            NetworkError,
            ThrottledError,
            TokenExpiredError,
            TransientApiError,
            TransientAuthError,
        )
        from airflow_provider_msads.hooks.msads import TERMINAL_ERRORS

        retried_token = False
        while True:
            token: str | None = None
            try:
                token = await tokens.get()
                self.polls += 1
                status = await poll_once(self.http, self.settings, rid, token)
            except TokenExpiredError:
                if retried_token or token is None:
                    raise
                retried_token = True
                await tokens.reject(token)
                continue
            except TERMINAL_ERRORS:
                raise
            except (ThrottledError, TransientApiError) as err:
                self.log.warning("report %s: poll failed, will poll again: %s", rid, err)
                return rid, "Pending", err.retry_after
            except (TransientAuthError, MalformedResponseError, NetworkError) as err:
                self.log.warning("report %s: poll failed, will poll again: %s", rid, err)
                return rid, "Pending", None
            # Pending is the common case (1,000 waits at 30 s = 33 polls/s on one triggerer): log it at
            # INFO once per report, then at DEBUG; the final status is always logged at INFO.
            quiet = status.status == "Pending" and rid in self._announced
            self._announced.add(rid)
            (self.log.debug if quiet else self.log.info)(
                "report %s: %s (poll %d)", rid, status.status, self.polls
            )
            return rid, status.status, None


async def poll_once(http: AsyncHttpClient, settings: ConnectionSettings, rid: str, token: str) -> Any:
    """One ``GenerateReport/Poll`` through :mod:`airflow_provider_msads.client.reporting.async_poll`."""
    from airflow_provider_msads.client.reporting.async_poll import poll_report_async
    from airflow_provider_msads.client.wire import Credentials

    credentials = Credentials(token, settings.developer_token, settings.customer_id, settings.account_id)
    return await poll_report_async(
        http, settings.endpoints, credentials, rid, environment=settings.environment
    )


# -- connection -----------------------------------------------------------------------------------------


async def get_connection(conn_id: str) -> Any:
    """The Airflow connection, without blocking the event loop.

    Airflow 3.3 (and 3.2) have ``BaseHook.aget_connection``; where it is missing (the 3.1 floor may
    lack it) the synchronous lookup runs through ``sync_to_async``, as common-compat's
    ``get_async_connection`` does.
    """
    from airflow.sdk import BaseHook

    aget = getattr(BaseHook, "aget_connection", None)
    if aget is not None:
        return await aget(conn_id)
    from asgiref.sync import sync_to_async

    return await sync_to_async(BaseHook.get_connection)(conn_id)


async def load_settings(conn_id: str) -> ConnectionSettings:
    """Validated settings of the connection; its secrets registered with the log masker first."""
    from asgiref.sync import sync_to_async

    conn = await get_connection(conn_id)
    return await sync_to_async(_settings_of)(conn)


def _settings_of(conn: Any) -> ConnectionSettings:
    # Runs in a worker thread: extra_dejson and mask_secret talk to the supervisor synchronously.
    from airflow_provider_msads.hooks.msads import MicrosoftAdsHook

    return MicrosoftAdsHook.settings_from_connection(conn)


# -- one token source per connection and event loop ------------------------------------------------------


@dataclass
class _LoopTokens:
    users: int = 0
    sources: dict[tuple[str, ...], AsyncTokenSource] = field(default_factory=dict)


_PER_LOOP: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _LoopTokens] = weakref.WeakKeyDictionary()


@asynccontextmanager
async def shared_resources() -> AsyncIterator[AsyncHttpClient]:
    """The loop's shared HTTP client (from ``client/``) and token sources, released by the last user."""
    from airflow_provider_msads.client.reporting.async_poll import shared_async_http_client

    loop = asyncio.get_running_loop()
    tokens = _PER_LOOP.get(loop)
    if tokens is None:
        tokens = _PER_LOOP[loop] = _LoopTokens()
    tokens.users += 1
    try:
        async with shared_async_http_client() as http:
            yield http
    finally:
        tokens.users -= 1
        if tokens.users == 0:
            if _PER_LOOP.get(loop) is tokens:
                del _PER_LOOP[loop]
            for source in tokens.sources.values():
                source.close()


def token_source(conn_id: str, settings: ConnectionSettings) -> AsyncTokenSource:
    """The loop's token source for this connection (a changed connection gets a new one)."""
    from airflow_provider_msads.client.token_cache import fingerprint

    endpoints = settings.endpoints
    key = (
        conn_id,
        settings.client_id,
        endpoints.token_url,
        endpoints.scope,
        fingerprint(settings.refresh_token),
    )
    loop = asyncio.get_running_loop()
    tokens = _PER_LOOP.get(loop)
    if tokens is None:
        tokens = _PER_LOOP[loop] = _LoopTokens()
    source = tokens.sources.get(key)
    if source is None:
        source = tokens.sources[key] = AsyncTokenSource(conn_id, settings)
    return source


class AsyncTokenSource:
    """Access tokens of one connection for the triggers of one event loop.

    Holds the current token and until when to trust it; only when that runs out (or the API rejects
    the token) does it call the synchronous ``RefreshTokenAuth`` through ``sync_to_async``, one call
    at a time (an ``asyncio.Lock``), so fifty triggers of one connection cause one refresh, and the
    refresh goes through the shared Variable store like every worker's.
    """

    def __init__(self, conn_id: str, settings: ConnectionSettings) -> None:
        self._conn_id = conn_id
        self._settings = settings
        self._lock = asyncio.Lock()
        self._token: str | None = None
        self._until = 0.0
        self._auth: Any = None
        self._store: Any = None
        self._http: Any = None
        self.refreshes = 0  # sync hops made (for tests and the triggerer bench)

    def __repr__(self) -> str:
        return f"AsyncTokenSource(conn_id={self._conn_id!r})"

    async def get(self) -> str:
        if self._token is not None and time.time() < self._until:
            return self._token
        async with self._lock:
            if self._token is not None and time.time() < self._until:
                return self._token
            from asgiref.sync import sync_to_async

            token, until = await sync_to_async(self._obtain)()
            self._token, self._until = token, until
            return token

    async def reject(self, token: str) -> None:
        """The API refused ``token``: forget it here and in the shared store."""
        async with self._lock:
            if self._token == token:
                self._token, self._until = None, 0.0
            if self._auth is not None:
                from asgiref.sync import sync_to_async

                await sync_to_async(self._auth.invalidate)(token)

    def close(self) -> None:
        if self._http is not None:
            self._http.close()
            self._http = None

    def _obtain(self) -> tuple[str, float]:
        """Runs in a worker thread: the synchronous token code, then how long to trust the token."""
        from airflow_provider_msads.client.auth import RefreshTokenAuth
        from airflow_provider_msads.client.client import DEFAULT_TIMEOUT, needs_tls, new_http_client
        from airflow_provider_msads.hooks.token_store import VariableTokenStore

        self.refreshes += 1
        if self._auth is None:
            self._http = new_http_client(DEFAULT_TIMEOUT, tls=needs_tls(self._settings.endpoints))
            self._store = VariableTokenStore(self._conn_id, self._settings)
            self._auth = RefreshTokenAuth.from_settings(
                self._settings, http=self._http, token_store=self._store
            )
        token: str = self._auth.get_access_token()
        now = time.time()
        until = now + _UNKNOWN_EXPIRY_REUSE
        shared = self._store.load_access_token()
        if shared is not None and shared.access_token == token:
            until = min(shared.usable_until, now + _MAX_TOKEN_REUSE)
        return token, until


# -- helpers --------------------------------------------------------------------------------------------


def _event(status: str, statuses: Mapping[str, str], polls: int, error: str | None = None) -> dict[str, Any]:
    return {"status": status, "reports": dict(statuses), "polls": polls, "error": error}


def _describe(err: BaseException) -> str:
    """Our errors never carry secrets; anything else is reduced to its type and first line."""
    from airflow_provider_msads.client.errors import MicrosoftAdsError

    text = str(err).strip().splitlines()[0] if str(err).strip() else ""
    if not isinstance(err, (MicrosoftAdsError, ValueError, LookupError)):
        text = text[:200]
    return f"{type(err).__name__}: {text}" if text else type(err).__name__
