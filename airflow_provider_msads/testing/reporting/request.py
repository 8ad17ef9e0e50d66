"""Parse and validate a ``SubmitGenerateReportRequest`` body the way the service does.

Each rule answers with the documented code (reporting README §1.3-§1.7, §2; ``error-codes.json``):
null request 2001, unknown ``Type`` 2002, columns null/empty 2014, duplicate 2016, documented required
columns missing 2015, an unknown column or member value 201 (the service's deserializer rejects it; the
code is not documented), Aggregation missing/invalid 2007, unsupported grain 2059, ``TimePeriod`` with
Summary 2034, Time null or ambiguous 2008, bad dates 2009/2010, end before start 2011, start in the future
2041, ``ReturnOnlyCompleteData`` with a period containing today 2005 (with data still incomplete 2004),
scope empty 2026/2027/2028, more than 1,000 accounts 2029 / 300 campaigns 2030 / 300 ad groups 2031,
ids that are not valid 2035, accounts the user cannot access 2003, ReportName over 200 chars 2006.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from airflow_provider_msads.testing.reporting.catalogue import ReportTypeInfo, report_catalogue
from airflow_provider_msads.testing.reporting.errors import ReportingFault
from airflow_provider_msads.testing.reporting.timezones import DEFAULT_TIME_ZONE, TIME_ZONES

MAX_ACCOUNTS = 1000
MAX_CAMPAIGNS = 300
MAX_AD_GROUPS = 300
MAX_REPORT_NAME = 200
FORMATS = ("Csv", "Tsv")  # Xml is valid in v13 but not emulated (reporting README §3.4 has no sample)
_BASE_MEMBERS = frozenset(
    {
        "Type",
        "ReportName",
        "Format",
        "FormatVersion",
        "ExcludeColumnHeaders",
        "ExcludeReportHeader",
        "ExcludeReportFooter",
        "ReturnOnlyCompleteData",
        "Aggregation",
        "Columns",
        "Filter",
        "Scope",
        "Time",
    }
)
_INCLUDES_TODAY = frozenset({"Today", "ThisWeek", "ThisWeekStartingMonday", "ThisMonth", "ThisYear"})

#: Which level of the entity tree a report's rows come from, for the five modelled reports.
MODELLED_LEVELS = {
    "AccountPerformanceReportRequest": "account",
    "CampaignPerformanceReportRequest": "campaign",
    "AdGroupPerformanceReportRequest": "ad_group",
    "KeywordPerformanceReportRequest": "keyword",
    "SearchQueryPerformanceReportRequest": "search_term",
}


@dataclass(frozen=True, slots=True)
class ReportSpec:
    """A validated report request: everything the file generator needs."""

    type: str
    report_name: str | None
    format: str
    format_version: str
    exclude_column_headers: bool
    exclude_report_header: bool
    exclude_report_footer: bool
    return_only_complete_data: bool
    aggregation: str  # effective: "Summary" when TimePeriod is not requested
    requested_aggregation: str | None
    columns: tuple[str, ...]
    start: date | None
    end: date | None
    predefined_time: str | None
    time_zone: str
    account_ids: tuple[int, ...]  # every account in scope (whole accounts, campaigns, ad groups)
    whole_accounts: frozenset[int]
    campaigns: frozenset[tuple[int, int]]
    ad_groups: frozenset[tuple[int, int, int]]
    max_rows: int | None
    level: str


@dataclass(frozen=True, slots=True)
class ScopeChecker:
    """What validation needs to know about the caller's world."""

    exists: Callable[[int], bool]
    reachable: Callable[[int], bool]
    campaign_exists: Callable[[int, int], bool]
    ad_group_exists: Callable[[int, int, int], bool]


def _bool(rr: dict[str, Any], name: str) -> bool:
    value = rr.get(name)
    if value is None:
        return False
    if not isinstance(value, bool):
        raise ReportingFault(201, f"{name} must be true or false.")
    return value


def _long(value: object) -> int | None:
    """A 64-bit id: JSON string of digits (documented) or a JSON integer (tolerated); None if invalid."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if value > 0 else None
    if isinstance(value, str) and value.strip().isdigit() and len(value.strip()) <= 19:
        n = int(value.strip())
        return n if n > 0 else None
    return None


def _date(raw: object, code: int, name: str) -> date:
    if not isinstance(raw, dict):
        raise ReportingFault(code, f"{name} must be an object with Day, Month and Year.")
    try:
        y, m, d = raw["Year"], raw["Month"], raw["Day"]
        if not all(isinstance(x, int) and not isinstance(x, bool) for x in (y, m, d)):
            raise TypeError
        return date(y, m, d)
    except (KeyError, TypeError, ValueError):
        raise ReportingFault(code, f"{name} {raw!r} is not a calendar date.") from None


def _start_of_week(day: date, monday: bool) -> date:
    # Python: Monday = 0 ... Sunday = 6
    return day - timedelta(days=day.weekday() if monday else (day.weekday() + 1) % 7)


def _add_months(day: date, months: int) -> date:
    y, m = divmod(day.year * 12 + day.month - 1 + months, 12)
    return date(y, m + 1, 1)


def resolve_period(period: str, today: date) -> tuple[date, date]:
    """Dates of a ``PredefinedTime`` value, given "today" in the report's time zone."""
    yesterday = today - timedelta(days=1)
    month_start = today.replace(day=1)
    if period == "Today":
        return today, today
    if period == "Yesterday":
        return yesterday, yesterday
    if period == "LastSevenDays":
        return today - timedelta(days=7), yesterday
    if period == "Last14Days":
        return today - timedelta(days=14), yesterday
    if period == "Last30Days":
        return today - timedelta(days=30), yesterday
    if period in ("ThisWeek", "ThisWeekStartingMonday"):
        return _start_of_week(today, period.endswith("Monday")), today
    if period in ("LastWeek", "LastWeekStartingMonday"):
        start = _start_of_week(today, period.endswith("Monday")) - timedelta(days=7)
        return start, start + timedelta(days=6)
    if period in ("LastFourWeeks", "LastFourWeeksStartingMonday"):
        this_week = _start_of_week(today, period.endswith("Monday"))
        return this_week - timedelta(days=28), this_week - timedelta(days=1)
    if period == "ThisMonth":
        return month_start, today
    if period == "LastMonth":
        return _add_months(month_start, -1), month_start - timedelta(days=1)
    if period == "LastThreeMonths":
        return _add_months(month_start, -3), month_start - timedelta(days=1)
    if period == "LastSixMonths":
        return _add_months(month_start, -6), month_start - timedelta(days=1)
    if period == "ThisYear":
        return date(today.year, 1, 1), today
    if period == "LastYear":
        return date(today.year - 1, 1, 1), date(today.year - 1, 12, 31)
    raise ReportingFault(2008, f"PredefinedTime {period!r} is not a ReportTimePeriod value.")


def _level(info: ReportTypeInfo, columns: tuple[str, ...]) -> str:
    modelled = MODELLED_LEVELS.get(info.type)
    if modelled is not None:
        return modelled
    cols = set(columns)
    if "SearchQuery" in cols:
        return "search_term"
    if cols & {"KeywordId", "Keyword"}:
        return "keyword"
    if cols & {"AdGroupId", "AdGroupName"}:
        return "ad_group"
    if cols & {"CampaignId", "CampaignName"}:
        return "campaign"
    return "account"


def parse_submit(
    body: object,
    *,
    checker: ScopeChecker,
    today_in: Callable[[str], date],
    last_complete: date,
) -> ReportSpec:
    """Validate a Submit body; raise :class:`ReportingFault` with the service's code on the first problem.

    :param today_in: "today" in a ``ReportTimeZone`` (predefined periods and future checks use it).
    :param last_complete: the Last Completed Available Day (for ReturnOnlyCompleteData -> 2004).
    """
    if not isinstance(body, dict):
        raise ReportingFault(201, "The request body must be a JSON object.")
    rr = body.get("ReportRequest")
    if rr is None:
        raise ReportingFault(2001)
    if not isinstance(rr, dict):
        raise ReportingFault(201, "ReportRequest must be an object.")
    type_name = rr.get("Type")
    info = report_catalogue().types.get(type_name) if isinstance(type_name, str) else None
    if info is None:
        raise ReportingFault(2002, f"Type {type_name!r} is not one of the 48 <Name>ReportRequest subtypes.")
    allowed = set(_BASE_MEMBERS) | set(info.other_elements)
    if not info.supports_aggregation:
        allowed.discard("Aggregation")
    if not info.supports_time:
        allowed.discard("Time")
    if not info.has_filter:
        allowed.discard("Filter")
    unknown = sorted(k for k in rr if k not in allowed)
    if unknown:
        raise ReportingFault(201, f"{info.type} has no member {unknown[0]!r}.")

    report_name = rr.get("ReportName")
    if report_name is not None and (not isinstance(report_name, str) or len(report_name) > MAX_REPORT_NAME):
        raise ReportingFault(2006, f"ReportName must be a string of at most {MAX_REPORT_NAME} characters.")
    fmt = rr.get("Format") or "Csv"
    if fmt not in FORMATS:
        if fmt == "Xml":
            raise ReportingFault(201, "Format Xml is valid in v13 but not emulated; use Csv or Tsv.")
        raise ReportingFault(201, f"Format {fmt!r} is not one of Csv, Tsv, Xml.")
    format_version = rr.get("FormatVersion") or "1.0"
    if format_version not in ("1.0", "2.0"):
        raise ReportingFault(201, f"FormatVersion {format_version!r} is not 1.0 or 2.0.")

    # ---- columns
    columns_raw = rr.get("Columns")
    if not columns_raw:
        raise ReportingFault(2014)
    if not isinstance(columns_raw, list) or not all(isinstance(c, str) for c in columns_raw):
        raise ReportingFault(201, "Columns must be an array of column names.")
    bad = [c for c in columns_raw if c not in info.columns]
    if bad:
        raise ReportingFault(201, f"Columns: {bad[0]!r} is not a column of {info.type}.")
    seen: set[str] = set()
    duplicates = [c for c in columns_raw if c in seen or seen.add(c)]  # type: ignore[func-returns-value]
    if duplicates:
        raise ReportingFault(2016, ",".join(dict.fromkeys(duplicates)))
    missing = [c for c in info.required_columns if c not in seen]
    if missing:
        raise ReportingFault(2015, ",".join(missing))
    columns = tuple(columns_raw)

    # ---- aggregation
    requested = rr.get("Aggregation")
    if info.supports_aggregation:
        if requested is None:
            raise ReportingFault(2007, "Aggregation is required for " + info.type + ".")
        if requested not in report_catalogue().aggregations:
            raise ReportingFault(2007, f"Aggregation {requested!r} is not a ReportAggregation value.")
        if info.aggregations and requested not in info.aggregations:
            raise ReportingFault(2059, f"{info.type} does not support {requested} aggregation.")
        if requested == "Summary" and "TimePeriod" in seen:
            raise ReportingFault(2034)
    aggregation = requested if (requested and "TimePeriod" in seen) else "Summary"
    if not info.supports_aggregation:
        aggregation = "Daily" if "TimePeriod" in seen else "Summary"

    # ---- time
    start = end = None
    predefined = None
    zone = DEFAULT_TIME_ZONE
    complete_only = _bool(rr, "ReturnOnlyCompleteData")
    if info.supports_time:
        time = rr.get("Time")
        if not isinstance(time, dict):
            raise ReportingFault(2008, "Time is required.")
        zone = time.get("ReportTimeZone") or DEFAULT_TIME_ZONE
        if zone not in TIME_ZONES:
            raise ReportingFault(201, f"ReportTimeZone {zone!r} is not a ReportTimeZone value.")
        predefined = time.get("PredefinedTime")
        raw_start, raw_end = time.get("CustomDateRangeStart"), time.get("CustomDateRangeEnd")
        has_custom = raw_start is not None or raw_end is not None
        if (predefined is None) == (not has_custom) or (
            has_custom and (raw_start is None or raw_end is None)
        ):
            raise ReportingFault(
                2008, "Set either PredefinedTime or both CustomDateRangeStart and CustomDateRangeEnd."
            )
        today = today_in(zone)
        if predefined is not None:
            if not isinstance(predefined, str):
                raise ReportingFault(2008, "PredefinedTime must be a ReportTimePeriod value.")
            start, end = resolve_period(predefined, today)
            table = report_catalogue().aggregation_time_periods.get(requested or "")
            known = set().union(*report_catalogue().aggregation_time_periods.values()) - {"custom"}
            if table is not None and predefined in known and predefined not in table:
                raise ReportingFault(2007, f"{predefined} is not available with {requested} aggregation.")
            if complete_only and predefined in _INCLUDES_TODAY:
                raise ReportingFault(2005, f"PredefinedTime {predefined} includes today.")
        else:
            start = _date(raw_start, 2009, "CustomDateRangeStart")
            end = _date(raw_end, 2010, "CustomDateRangeEnd")
            if end < start:
                raise ReportingFault(2011)
            if start > today:
                raise ReportingFault(2041, f"The start date {start.isoformat()} is after today ({today}).")
            if end > today:
                raise ReportingFault(
                    2010, f"The end date {end.isoformat()} cannot be later than today ({today})."
                )
            table = report_catalogue().aggregation_time_periods.get(requested or "")
            if table is not None and "custom" not in table:
                raise ReportingFault(
                    2007, f"A custom date range is not available with {requested} aggregation."
                )
            if complete_only and end >= today:
                raise ReportingFault(2005, "The custom date range includes today.")
        if complete_only and end is not None and end > last_complete:
            raise ReportingFault(2004, f"Data after {last_complete.isoformat()} is not complete yet.")
    if aggregation == "Hourly" and start is not None and end is not None and (end - start).days > 400:
        raise ReportingFault(2007, "Hourly reports cover at most about a year.")

    # ---- scope
    whole, campaigns, ad_groups = _scope(rr.get("Scope"), info, checker)
    in_scope = sorted(whole | {a for a, _ in campaigns} | {a for a, _, _ in ad_groups})

    max_rows = rr.get("MaxRows")
    if max_rows is not None and (not isinstance(max_rows, int) or isinstance(max_rows, bool) or max_rows < 1):
        raise ReportingFault(201, "MaxRows must be a positive integer.")
    sort = rr.get("Sort")
    if sort:
        if not isinstance(sort, list):
            raise ReportingFault(201, "Sort must be an array of {SortColumn, SortOrder}.")
        for item in sort:
            column = item.get("SortColumn") if isinstance(item, dict) else None
            if column not in seen:
                raise ReportingFault(2061, str(column))

    return ReportSpec(
        type=info.type,
        report_name=report_name,
        format=fmt,
        format_version=format_version,
        exclude_column_headers=_bool(rr, "ExcludeColumnHeaders"),
        exclude_report_header=_bool(rr, "ExcludeReportHeader"),
        exclude_report_footer=_bool(rr, "ExcludeReportFooter"),
        return_only_complete_data=complete_only,
        aggregation=aggregation,
        requested_aggregation=requested,
        columns=columns,
        start=start,
        end=end,
        predefined_time=predefined,
        time_zone=zone,
        account_ids=tuple(in_scope),
        whole_accounts=frozenset(whole),
        campaigns=frozenset(campaigns),
        ad_groups=frozenset(ad_groups),
        max_rows=max_rows,
        level=_level(info, columns),
    )


def _scope(
    scope: object, info: ReportTypeInfo, checker: ScopeChecker
) -> tuple[set[int], set[tuple[int, int]], set[tuple[int, int, int]]]:
    empty_code = {
        "AccountReportScope": 2026,
        "AccountThroughCampaignReportScope": 2027,
        "AccountThroughAdGroupReportScope": 2028,
    }.get(info.scope_type or "", 2028)
    if not isinstance(scope, dict):
        raise ReportingFault(empty_code, "Scope is required.")
    unknown = [k for k in scope if k not in info.scope_members]
    if unknown:
        raise ReportingFault(201, f"{info.scope_type} has no member {unknown[0]!r}.")
    raw_accounts = scope.get("AccountIds") or []
    raw_campaigns = scope.get("Campaigns") or [] if "Campaigns" in info.scope_members else []
    raw_groups = scope.get("AdGroups") or [] if "AdGroups" in info.scope_members else []
    if (
        not isinstance(raw_accounts, list)
        or not isinstance(raw_campaigns, list)
        or not isinstance(raw_groups, list)
    ):
        raise ReportingFault(201, "Scope members must be arrays.")
    if not raw_accounts and not raw_campaigns and not raw_groups:
        raise ReportingFault(empty_code, "The scope names no account, campaign or ad group.")
    if len(raw_accounts) > MAX_ACCOUNTS:
        raise ReportingFault(2029, f"{len(raw_accounts)} account ids; the limit is {MAX_ACCOUNTS}.")
    if len(raw_campaigns) > MAX_CAMPAIGNS:
        raise ReportingFault(2030, f"{len(raw_campaigns)} campaigns; the limit is {MAX_CAMPAIGNS}.")
    if len(raw_groups) > MAX_AD_GROUPS:
        raise ReportingFault(2031, f"{len(raw_groups)} ad groups; the limit is {MAX_AD_GROUPS}.")

    accounts: set[int] = set()
    invalid: list[str] = []
    for raw in raw_accounts:
        n = _long(raw)
        if n is None or not checker.exists(n):
            invalid.append(str(raw))
        else:
            accounts.add(n)
    campaigns: set[tuple[int, int]] = set()
    for item in raw_campaigns:
        acct = _long(item.get("AccountId") if isinstance(item, dict) else None)
        camp = _long(item.get("CampaignId") if isinstance(item, dict) else None)
        if acct is None or not checker.exists(acct):
            invalid.append(str(item.get("AccountId") if isinstance(item, dict) else item))
            continue
        if camp is None or not checker.campaign_exists(acct, camp):
            code = 2019 if info.scope_type == "AccountThroughCampaignReportScope" else 2021
            raise ReportingFault(code, str(item.get("CampaignId")))
        campaigns.add((acct, camp))
    groups: set[tuple[int, int, int]] = set()
    for item in raw_groups:
        if not isinstance(item, dict):
            raise ReportingFault(2028, "AdGroups items must be objects.")
        acct = _long(item.get("AccountId"))
        camp = _long(item.get("CampaignId"))
        group = _long(item.get("AdGroupId"))
        if acct is None or not checker.exists(acct):
            invalid.append(str(item.get("AccountId")))
            continue
        if camp is None or not checker.campaign_exists(acct, camp):
            raise ReportingFault(2021, str(item.get("CampaignId")))
        if group is None or not checker.ad_group_exists(acct, camp, group):
            raise ReportingFault(2022, str(item.get("AdGroupId")))
        groups.add((acct, camp, group))
    if invalid:
        raise ReportingFault(2035, ",".join(invalid[:20]))
    every = accounts | {a for a, _ in campaigns} | {a for a, _, _ in groups}
    if any(not checker.reachable(a) for a in every):
        raise ReportingFault(2003)
    return accounts, campaigns, groups
