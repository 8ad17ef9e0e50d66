"""``ReportRequest``: one report to build, validated against the catalogue when it is constructed.

Bad input fails here, before any call, with the field and the fix (``ConfigurationError``). What
``to_rest_body()`` produces validates against the contract's ``SubmitGenerateReportRequest`` schema.

Fixed choices (the parser relies on them, so they are not options): ``Format`` Csv, ``FormatVersion`` 2.0
(no thousands separators, hourly ``TimePeriod`` as ``yyyy-mm-dd|H``), ``ExcludeReportHeader`` false (the
header's ``Rows: N`` is checked against the rows read, and it carries Last Completed Available Day),
``ExcludeColumnHeaders`` false (rows are keyed by the file's own column names), ``ExcludeReportFooter``
true (the copyright line carries nothing; the parser still accepts a footer when a file has one).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from airflow_provider_msads.client.errors import ConfigurationError
from airflow_provider_msads.client.ids import parse_id
from airflow_provider_msads.client.reporting.catalogue import (
    ReportType,
    catalogue,
    did_you_mean,
)
from airflow_provider_msads.client.reporting.columns import TIME_PERIOD, is_statistic

#: Documented per-request scope limit (AccountReportScope and the AccountThrough*ReportScope types).
MAX_ACCOUNTS = 1000
MAX_REPORT_NAME = 200
FORMAT_VERSION = "2.0"
CUSTOM_RANGE = "Custom date range"  # how the docs' Aggregation/Time table names a custom range
_ANY_ATTRIBUTE = " or any other attribute"
#: Predefined periods that contain today: ReturnOnlyCompleteData cannot be true with them (error 2005).
_PERIODS_WITH_TODAY = frozenset({"Today", "ThisWeek", "ThisMonth", "ThisYear", "ThisWeekStartingMonday"})
_FLAGS = "flags"


@dataclass(frozen=True, slots=True)
class ReportRequest:
    """One report: type, columns, time, aggregation and accounts (frozen; validated when built).

    :param report: the report type without the ``ReportRequest`` suffix (``"AccountPerformance"``).
    :param columns: column names of that type; documented required columns are added (``TimePeriod``
        when the aggregation is not Summary, plain required columns such as ``Keyword``, ``AccountId``
        when no attribute is requested where the docs say "AccountId or any other attribute").
    :param account_ids: the accounts (positive 64-bit ids); more than 1,000 are sent as several requests
        by ``MicrosoftAdsClient.run_report`` (see :meth:`split`).
    :param aggregation: ``Summary`` (the docs' default), ``Daily``, ``Hourly``, ...; must be None for the
        types that have no Aggregation element (BudgetSummary, CategoryInsights, ...).
    :param start: first day of a custom range (with ``end``), or None with ``predefined_time``.
    :param end: last day of a custom range (inclusive).
    :param predefined_time: ``Yesterday``, ``LastSevenDays``, ... instead of ``start``/``end``.
    :param time_zone: a ``ReportTimeZone`` value (service default ``PacificTimeUSCanadaTijuana``); it decides
        what "today" means for predefined periods.
    :param return_only_complete_data: ask the service to fail (error 2004) rather than return incomplete data.
    :param report_name: optional name shown in the file header (at most 200 characters).
    :param filter: optional Filter members, e.g. ``{"DeviceType": ["Computer", "Tablet"]}``.
    """

    report: str
    columns: tuple[str, ...]
    account_ids: tuple[int, ...]
    aggregation: str | None = None
    start: date | None = None
    end: date | None = None
    predefined_time: str | None = None
    time_zone: str | None = None
    return_only_complete_data: bool = False
    report_name: str | None = None
    filter: Mapping[str, Any] | None = field(default=None, hash=False)

    def __init__(
        self,
        report: str,
        columns: Iterable[str],
        account_ids: Iterable[int | str] = (),
        aggregation: str | None = None,
        start: date | None = None,
        end: date | None = None,
        predefined_time: str | None = None,
        time_zone: str | None = None,
        return_only_complete_data: bool = False,
        report_name: str | None = None,
        filter: Mapping[str, Any] | None = None,
    ) -> None:
        spec = catalogue().get(report)
        set_ = object.__setattr__
        set_(self, "report", spec.name)
        aggregation = _aggregation(spec, aggregation)
        set_(self, "aggregation", aggregation)
        set_(self, "columns", _columns(spec, columns, aggregation))
        set_(self, "account_ids", _account_ids(account_ids))
        start, end, predefined_time = _time(spec, start, end, predefined_time, aggregation)
        set_(self, "start", start)
        set_(self, "end", end)
        set_(self, "predefined_time", predefined_time)
        set_(self, "time_zone", _time_zone(spec, time_zone))
        if not isinstance(return_only_complete_data, bool):
            raise ConfigurationError(
                "return_only_complete_data",
                f"{return_only_complete_data!r} is not a boolean",
                "pass True or False",
            )
        if return_only_complete_data and predefined_time in _PERIODS_WITH_TODAY:
            raise ConfigurationError(
                "return_only_complete_data",
                f"cannot be true with predefined_time {predefined_time!r}: the period includes today, "
                "which is never complete (service error 2005)",
                "choose a period that ends yesterday, or set return_only_complete_data=False",
            )
        set_(self, "return_only_complete_data", return_only_complete_data)
        if report_name is not None and (
            not isinstance(report_name, str) or len(report_name) > MAX_REPORT_NAME
        ):
            raise ConfigurationError(
                "report_name",
                f"must be text of at most {MAX_REPORT_NAME} characters",
                "shorten it, or pass None",
            )
        set_(self, "report_name", report_name)
        set_(self, "filter", _filter(spec, filter))

    def __repr__(self) -> str:
        ids = self.account_ids
        accounts = f"{list(ids)!r}" if len(ids) <= 5 else f"[{ids[0]}, {ids[1]}, ... {len(ids)} accounts]"
        time = (
            f"predefined_time={self.predefined_time!r}"
            if self.predefined_time
            else f"start={self.start!s}, end={self.end!s}"
        )
        return (
            f"ReportRequest(report={self.report!r}, columns={list(self.columns)!r}, "
            f"aggregation={self.aggregation!r}, {time}, account_ids={accounts})"
        )

    # -- derived ------------------------------------------------------------------------------------

    @property
    def report_type(self) -> str:
        """The wire ``Type``, e.g. ``AccountPerformanceReportRequest``."""
        return catalogue().get(self.report).type

    @property
    def attribute_columns(self) -> tuple[str, ...]:
        """The requested dimension columns (the natural key of a row), in request order."""
        return tuple(c for c in self.columns if not is_statistic(c))

    def split(self, max_accounts: int = MAX_ACCOUNTS) -> tuple[ReportRequest, ...]:
        """This request as several of at most ``max_accounts`` accounts each (one when it already fits)."""
        if (
            isinstance(max_accounts, bool)
            or not isinstance(max_accounts, int)
            or not 1 <= max_accounts <= MAX_ACCOUNTS
        ):
            raise ConfigurationError(
                "max_accounts", f"{max_accounts!r} is out of range", f"use 1..{MAX_ACCOUNTS}"
            )
        ids = self.account_ids
        if len(ids) <= max_accounts:
            return (self,)
        return tuple(
            _replace_accounts(self, ids[i : i + max_accounts]) for i in range(0, len(ids), max_accounts)
        )

    def to_rest_body(self) -> dict[str, Any]:
        """The ``SubmitGenerateReportRequest`` JSON body (ids as strings, as the REST API expects)."""
        if len(self.account_ids) > MAX_ACCOUNTS:
            raise ConfigurationError(
                "account_ids",
                f"{len(self.account_ids)} accounts in one request, over the documented limit of {MAX_ACCOUNTS}",
                "call split() (run_report does this for you) and submit each part",
            )
        spec = catalogue().get(self.report)
        body: dict[str, Any] = {
            "Type": spec.type,
            "Format": "Csv",
            "FormatVersion": FORMAT_VERSION,
            "ExcludeColumnHeaders": False,
            "ExcludeReportHeader": False,
            "ExcludeReportFooter": True,
            "ReturnOnlyCompleteData": self.return_only_complete_data,
        }
        if self.report_name is not None:
            body["ReportName"] = self.report_name
        if spec.supports_aggregation:
            body["Aggregation"] = self.aggregation
        body["Columns"] = list(self.columns)
        if self.filter:
            body["Filter"] = dict(self.filter)
        body["Scope"] = {"AccountIds": [str(i) for i in self.account_ids]}
        if spec.supports_time:
            time: dict[str, Any] = {}
            if self.predefined_time is not None:
                time["PredefinedTime"] = self.predefined_time
            else:
                assert self.start is not None and self.end is not None
                time["CustomDateRangeStart"] = _wire_date(self.start)
                time["CustomDateRangeEnd"] = _wire_date(self.end)
            if self.time_zone is not None:
                time["ReportTimeZone"] = self.time_zone
            body["Time"] = time
        return {"ReportRequest": body}


def _replace_accounts(request: ReportRequest, ids: Sequence[int]) -> ReportRequest:
    copy = dataclasses.replace(request)  # runs __init__ again: cheap, and keeps the object valid
    object.__setattr__(copy, "account_ids", tuple(ids))
    return copy


def _wire_date(day: date) -> dict[str, int]:
    return {"Day": day.day, "Month": day.month, "Year": day.year}


def _aggregation(spec: ReportType, aggregation: str | None) -> str | None:
    if not spec.supports_aggregation:
        if aggregation is not None:
            raise ConfigurationError(
                "aggregation",
                f"{spec.type} has no aggregation (the service decides its time grain)",
                "leave aggregation unset (None)",
            )
        return None
    allowed = spec.aggregations or catalogue().aggregations
    if aggregation is None:
        if "Summary" in allowed:
            return "Summary"
        raise ConfigurationError(
            "aggregation", f"{spec.type} needs an aggregation", f"choose one of {', '.join(allowed)}"
        )
    if aggregation not in allowed:
        raise ConfigurationError(
            "aggregation",
            f"{aggregation!r} is not an aggregation of {spec.type}",
            f"choose one of {', '.join(allowed)}" + did_you_mean(str(aggregation), allowed),
        )
    return aggregation


def _columns(spec: ReportType, columns: Iterable[str], aggregation: str | None) -> tuple[str, ...]:
    if isinstance(columns, str) or not isinstance(columns, Iterable):
        raise ConfigurationError(
            "columns", "expected a list of column names", 'pass e.g. ["AccountId", "Clicks"]'
        )
    wanted = list(columns)
    if not wanted:
        raise ConfigurationError("columns", "is empty", f"name at least one column of {spec.type}")
    known = frozenset(spec.columns)
    seen: set[str] = set()
    for column in wanted:
        if not isinstance(column, str) or column not in known:
            raise ConfigurationError(
                "columns",
                f"{column!r} is not a column of {spec.type}",
                "use the exact column name (case-sensitive)" + did_you_mean(str(column), spec.columns),
            )
        if column in seen:
            raise ConfigurationError("columns", f"{column!r} is listed twice", "list each column once")
        seen.add(column)
    summary = aggregation in (None, "Summary")
    if TIME_PERIOD in seen and spec.supports_aggregation and summary:
        raise ConfigurationError(
            "columns",
            "TimePeriod cannot be used with Summary aggregation (service error 2034)",
            "remove TimePeriod, or choose an aggregation such as Daily",
        )
    added: list[str] = []
    for required in spec.required_columns:
        if required.endswith(_ANY_ATTRIBUTE):
            fallback = required[: -len(_ANY_ATTRIBUTE)]
            if not any(not is_statistic(c) for c in wanted) and fallback in known:
                added.append(fallback)
        elif required == TIME_PERIOD:
            if spec.supports_aggregation and not summary and TIME_PERIOD not in seen:
                added.append(TIME_PERIOD)
        elif required in known and required not in seen:
            added.append(required)
    return tuple(added + wanted)


def _account_ids(account_ids: Iterable[int | str]) -> tuple[int, ...]:
    if isinstance(account_ids, (str, bytes, int)) or not isinstance(account_ids, Iterable):
        raise ConfigurationError("account_ids", "expected a list of account ids", "pass e.g. [123456789]")
    ids: dict[int, None] = {}
    for value in account_ids:
        parsed = parse_id(value, "account_ids")
        if parsed is None:
            raise ConfigurationError("account_ids", "contains an empty id", "remove it")
        ids[parsed] = None
    if not ids:
        raise ConfigurationError(
            "account_ids", "is empty", "pass the accounts to report on (e.g. from discover_accounts())"
        )
    return tuple(ids)


def _time(
    spec: ReportType,
    start: date | None,
    end: date | None,
    predefined_time: str | None,
    aggregation: str | None,
) -> tuple[date | None, date | None, str | None]:
    if not spec.supports_time:
        if start is not None or end is not None or predefined_time is not None:
            raise ConfigurationError(
                "start", f"{spec.type} has no time period", "leave start, end and predefined_time unset"
            )
        return None, None, None
    custom = start is not None or end is not None
    if custom and predefined_time is not None:
        raise ConfigurationError(
            "predefined_time",
            "is set together with start/end (service error 2008)",
            "give either start and end, or predefined_time",
        )
    table = catalogue().aggregation_time_periods.get(aggregation or "")
    if predefined_time is not None:
        periods = catalogue().time_periods
        if predefined_time not in periods:
            raise ConfigurationError(
                "predefined_time",
                f"unknown period {predefined_time!r}",
                f"use one of {', '.join(periods)}" + did_you_mean(str(predefined_time), periods),
            )
        mentioned = {p for ps in catalogue().aggregation_time_periods.values() for p in ps}
        if table is not None and predefined_time in mentioned and predefined_time not in table:
            raise ConfigurationError(
                "predefined_time",
                f"{predefined_time!r} cannot be used with {aggregation} aggregation (service error 2007)",
                f"with {aggregation} use one of: {', '.join(table)}",
            )
        return None, None, predefined_time
    if start is None or end is None:
        raise ConfigurationError(
            "start" if start is None else "end",
            "a custom date range needs both start and end" if custom else "no time period given",
            "pass start and end dates (end inclusive), or predefined_time such as 'Yesterday'",
        )
    for name, value in (("start", start), ("end", end)):
        if not isinstance(value, date) or hasattr(value, "hour"):
            raise ConfigurationError(name, f"{value!r} is not a date", "pass a datetime.date")
    if end < start:
        raise ConfigurationError(
            "end", f"{end.isoformat()} is before start {start.isoformat()} (service error 2011)", "swap them"
        )
    if table is not None and CUSTOM_RANGE not in table:
        raise ConfigurationError(
            "start",
            f"{aggregation} aggregation does not accept a custom date range (service error 2007)",
            f"use predefined_time, one of: {', '.join(table)}",
        )
    return start, end, None


def _time_zone(spec: ReportType, time_zone: str | None) -> str | None:
    if time_zone is None:
        return None
    if not spec.supports_time:
        raise ConfigurationError("time_zone", f"{spec.type} has no time period", "leave time_zone unset")
    zones = catalogue().time_zones
    if time_zone not in zones:
        raise ConfigurationError(
            "time_zone",
            f"unknown ReportTimeZone {time_zone!r}",
            "use a ReportTimeZone name such as 'PacificTimeUSCanadaTijuana'"
            + did_you_mean(str(time_zone), zones),
        )
    return time_zone


def _filter(spec: ReportType, value: Mapping[str, Any] | None) -> Mapping[str, Any] | None:
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise ConfigurationError("filter", "expected a mapping", 'pass e.g. {"DeviceType": ["Computer"]}')
    if value and not spec.filters:
        raise ConfigurationError("filter", f"{spec.type} has no filter members", "leave filter unset")
    out: dict[str, Any] = {}
    for name, given in value.items():
        member = spec.filters.get(name)
        if member is None:
            raise ConfigurationError(
                "filter",
                f"{name!r} is not a filter of {spec.type}",
                f"use one of {', '.join(spec.filters)}" + did_you_mean(str(name), spec.filters),
            )
        items = [given] if isinstance(given, (str, int)) else list(given)
        if member.kind and member.kind.startswith(_FLAGS):
            names = [s.strip() for item in items for s in str(item).split(",") if s.strip()]
            allowed = member.values or ()
            for flag in names:
                if flag not in allowed:
                    raise ConfigurationError(
                        "filter",
                        f"{flag!r} is not a value of {name}",
                        f"use {', '.join(allowed)}" + did_you_mean(flag, allowed),
                    )
            out[name] = ", ".join(dict.fromkeys(names))
        elif member.kind in ("array of int", "array of long"):
            numbers: list[int | str] = []
            for item in items:
                if isinstance(item, bool) or not str(item).strip().isdigit():
                    raise ConfigurationError(
                        "filter", f"{name}: {item!r} is not a whole number", "pass numbers"
                    )
                numbers.append(int(item) if member.kind == "array of int" else str(int(item)))
            out[name] = numbers
        else:
            out[name] = [str(item) for item in items]
    return out
