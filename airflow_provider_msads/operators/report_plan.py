"""The plain logic behind the report operators: date windows, restatement, poll schedule, the run plan.

Airflow-free and API-free, so each rule is unit-tested on its own. The operators only feed it the DAG
run's values and the warehouse's answer to "which stored days were not complete yet".

**Restatement.** Microsoft keeps revising recent days (late conversions, invalid-traffic credits) and
says how far it has finished in each report's header: the "Last Completed Available Day". The report
table stores, per row, ``is_complete`` (the row's day was at or before that day when it was loaded). A
run asks the table for the earliest day still stored as *not* complete for its accounts, at most
``lookback_days`` before the run's own window, and widens its window back to that day, so those days
are pulled again and replaced in the same transaction as the run's own days. Nothing is pulled twice
once Microsoft has completed it; a run whose predecessors failed for a few days catches up by itself,
bounded by ``lookback_days``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

#: Re-pull at most this many days before the run's own window (restatement bound), unless told.
DEFAULT_LOOKBACK_DAYS = 7
#: Poll schedule defaults: Microsoft advises 2-15 minutes for big reports; small ones finish in seconds.
DEFAULT_POLL_INTERVAL = 30.0
DEFAULT_MAX_POLL_INTERVAL = 900.0
DEFAULT_POLL_TIMEOUT = 6 * 3600.0
#: How often one report request may end in status Error before the task fails.
DEFAULT_REPORT_ATTEMPTS = 3
#: The documented limit of account ids in one report request.
MAX_ACCOUNTS_PER_REQUEST = 1000


def parse_day(value: Any, name: str) -> date:
    """A calendar day from a ``date``, a ``datetime`` (its own date) or an ISO string (``2024-06-01``,
    ``2024-06-01T00:00:00+00:00``, as ``{{ ds }}`` or ``{{ data_interval_start }}`` render)."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str) and value.strip():
        text = value.strip()
        try:
            return date.fromisoformat(text[:10]) if len(text) > 10 else date.fromisoformat(text)
        except ValueError:
            pass
    raise ValueError(f"{name}: {value!r} is not a date; give YYYY-MM-DD (e.g. '{{{{ ds }}}}') or a date")


@dataclass(frozen=True, slots=True)
class DateWindow:
    """An inclusive range of calendar days, ``start <= end``."""

    start: date
    end: date

    def __post_init__(self) -> None:
        if self.end < self.start:
            raise ValueError(
                f"window_end {self.end.isoformat()} is before window_start {self.start.isoformat()}: "
                "the report window must end on or after the day it starts"
            )

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    @classmethod
    def from_values(cls, start: Any, end: Any) -> DateWindow:
        """From templated values (strings, dates or datetimes), naming the parameter on bad input."""
        return cls(parse_day(start, "window_start"), parse_day(end, "window_end"))

    @classmethod
    def from_data_interval(
        cls, interval_start: datetime | None, interval_end: datetime | None, run_after: datetime | None
    ) -> DateWindow:
        """The days a DAG run covers: ``[data_interval_start, data_interval_end)`` as whole days.

        A daily run for 2024-06-01 (interval 06-01 00:00 to 06-02 00:00) reports 2024-06-01. An empty
        interval (a manual run of an unscheduled DAG) reports its start day. Without any interval: the
        day before ``run_after`` (yesterday: today is never complete).
        """
        if interval_start is not None and interval_end is not None:
            start = interval_start.date()
            last = (interval_end - timedelta(microseconds=1)).date()
            return cls(start, max(start, last))
        anchor = (run_after or datetime.now().astimezone()).date() - timedelta(days=1)
        return cls(anchor, anchor)


@dataclass(frozen=True, slots=True)
class RestatedWindow:
    """The run's own window and the one it actually pulls (widened back for restatement)."""

    requested: DateWindow
    pulled: DateWindow

    @property
    def restated_days(self) -> int:
        """Days pulled again before the requested window."""
        return (self.requested.start - self.pulled.start).days


@dataclass(frozen=True, slots=True)
class Restatement:
    """How far back a run re-pulls days that earlier runs stored as not complete.

    :param lookback_days: the bound; 0 turns restatement off.
    """

    lookback_days: int = DEFAULT_LOOKBACK_DAYS

    def __post_init__(self) -> None:
        if isinstance(self.lookback_days, bool) or not isinstance(self.lookback_days, int):
            raise ValueError(f"lookback_days must be a whole number of days, got {self.lookback_days!r}")
        if not 0 <= self.lookback_days <= 366:
            raise ValueError(
                f"lookback_days must be between 0 (no restatement) and 366, got {self.lookback_days}"
            )

    @property
    def enabled(self) -> bool:
        return self.lookback_days > 0

    def since(self, window: DateWindow) -> date:
        """The earliest day a run for ``window`` may re-pull (ask the table from here on)."""
        return window.start - timedelta(days=self.lookback_days)

    def plan(self, window: DateWindow, earliest_incomplete: date | None) -> RestatedWindow:
        """Widen ``window`` back to ``earliest_incomplete`` (the table's answer), within the bound.

        Days after the window's start are already pulled, so an incomplete day there changes nothing.
        """
        start = window.start
        if self.enabled and earliest_incomplete is not None:
            start = min(start, max(earliest_incomplete, self.since(window)))
        return RestatedWindow(window, DateWindow(start, window.end))


@dataclass(frozen=True, slots=True)
class PollSchedule:
    """When to poll a pending report: ``interval``, growing by ``factor`` up to ``max_interval``.

    Polling is idempotent, so a restarted triggerer simply starts again at ``interval``; the deadline
    is absolute (epoch seconds in the trigger's arguments), so a restart never extends it.
    """

    interval: float = DEFAULT_POLL_INTERVAL
    max_interval: float = DEFAULT_MAX_POLL_INTERVAL
    factor: float = 1.5

    def __post_init__(self) -> None:
        for name in ("interval", "max_interval", "factor"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise ValueError(f"poll {name} must be a number, got {value!r}")
        if self.interval <= 0:
            raise ValueError(f"poll_interval must be more than 0 seconds, got {self.interval}")
        if self.max_interval < self.interval:
            raise ValueError(
                f"max_poll_interval ({self.max_interval}) must be at least poll_interval ({self.interval})"
            )
        if self.factor < 1:
            raise ValueError(f"poll backoff factor must be at least 1, got {self.factor}")

    def delay(self, polls_done: int) -> float:
        """Seconds to wait before poll number ``polls_done + 1`` (the first poll waits ``interval``)."""
        exponent = min(max(polls_done, 0), 64)
        return float(min(self.max_interval, self.interval * self.factor**exponent))

    def wait(self, polls_done: int, now: float, deadline: float, retry_after: float | None = None) -> float:
        """The next wait, honouring a server's Retry-After and never sleeping past the deadline."""
        delay = self.delay(polls_done)
        if retry_after is not None and retry_after > delay:
            delay = min(retry_after, self.max_interval)
        return max(0.0, min(delay, deadline - now))


@dataclass(frozen=True, slots=True)
class ReportChunk:
    """One report request of at most 1,000 accounts, and how often it was submitted."""

    account_ids: tuple[int, ...]
    report_request_id: str
    attempt: int = 1


@dataclass(frozen=True, slots=True)
class ReportPlan:
    """What a deferred report task must remember until it resumes (kept in XCom, no secrets).

    :param window: the days pulled (after restatement).
    :param requested: the run's own days.
    :param chunks: one entry per report request.
    :param loaded_at: the ``loaded_at`` value of the rows (the DAG run's ``run_after``).
    """

    window: DateWindow
    requested: DateWindow
    chunks: tuple[ReportChunk, ...]
    loaded_at: datetime
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def account_ids(self) -> tuple[int, ...]:
        return tuple(a for c in self.chunks for a in c.account_ids)

    @property
    def report_request_ids(self) -> tuple[str, ...]:
        return tuple(c.report_request_id for c in self.chunks)

    def resubmitted(self, replaced: Mapping[str, str]) -> ReportPlan:
        """The plan after the chunks in ``replaced`` (old id -> new id) were submitted again."""
        chunks = tuple(
            ReportChunk(c.account_ids, replaced[c.report_request_id], c.attempt + 1)
            if c.report_request_id in replaced
            else c
            for c in self.chunks
        )
        return ReportPlan(self.window, self.requested, chunks, self.loaded_at, self.extra)

    def to_json(self) -> dict[str, Any]:
        return {
            "window": [self.window.start.isoformat(), self.window.end.isoformat()],
            "requested": [self.requested.start.isoformat(), self.requested.end.isoformat()],
            "chunks": [
                {
                    "account_ids": list(c.account_ids),
                    "report_request_id": c.report_request_id,
                    "attempt": c.attempt,
                }
                for c in self.chunks
            ],
            "loaded_at": self.loaded_at.isoformat(),
            "extra": dict(self.extra),
        }

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> ReportPlan:
        try:
            window = DateWindow.from_values(*doc["window"])
            requested = DateWindow.from_values(*doc["requested"])
            chunks = tuple(
                ReportChunk(
                    tuple(int(a) for a in c["account_ids"]), str(c["report_request_id"]), int(c["attempt"])
                )
                for c in doc["chunks"]
            )
            loaded_at = datetime.fromisoformat(str(doc["loaded_at"]))
        except (KeyError, TypeError, ValueError) as err:
            raise ValueError(
                f"the saved report plan is unreadable ({type(err).__name__}: {err}); clear the task to start over"
            ) from None
        return cls(window, requested, chunks, loaded_at, dict(doc.get("extra") or {}))


def chunk_accounts(account_ids: Sequence[int], size: int = MAX_ACCOUNTS_PER_REQUEST) -> list[tuple[int, ...]]:
    """Consecutive groups of at most ``size`` account ids (one report request each)."""
    return [tuple(account_ids[i : i + size]) for i in range(0, len(account_ids), size)]


def normalise_account_ids(value: Any, name: str = "account_ids") -> tuple[int, ...] | None:
    """Account ids from what a DAG hands over: ints, digit strings, one comma/space separated string,
    discovery rows (dicts with ``account_id``), or batches (lists) of any of those. ``None`` = all.

    The result is de-duplicated and sorted, so the same accounts always make the same requests.
    """
    if value is None:
        return None
    found: list[int] = []
    for item in _flatten(value):
        found.append(_account_id(item, name))
    if not found:
        raise ValueError(
            f"{name} is empty: pass at least one account id, or leave it unset (None) to report on "
            "every account the connection can reach"
        )
    return tuple(sorted(set(found)))


def _flatten(value: Any) -> Iterable[Any]:
    if isinstance(value, str):
        yield from (p for p in value.replace(",", " ").replace(";", " ").strip("[] ").split() if p)
    elif isinstance(value, Mapping):
        yield value
    elif isinstance(value, Iterable):
        for item in value:
            if isinstance(item, (list, tuple, set, frozenset)) or (
                isinstance(item, Iterable) and not isinstance(item, (str, bytes, Mapping))
            ):
                yield from _flatten(item)
            else:
                yield item
    else:
        yield value


def _account_id(item: Any, name: str) -> int:
    if isinstance(item, Mapping):
        if "account_id" not in item:
            raise ValueError(
                f"{name}: a row without 'account_id' ({sorted(item)[:5]}); map over discovery rows "
                "or batches that include the account_id field"
            )
        item = item["account_id"]
    if isinstance(item, int) and not isinstance(item, bool) and item > 0:
        return item
    text = item.strip().strip("'\"") if isinstance(item, str) else ""
    if text.isascii() and text.isdigit() and 0 < len(text) <= 19:
        return int(text)
    raise ValueError(f"{name}: {item!r} is not an account id; use the numeric AccountId, e.g. 123456789")
