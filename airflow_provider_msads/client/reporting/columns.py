"""Column kinds: the ONE home of "what Python type does this report column hold".

The catalogue has no per-column type (neither the XSD nor the SDK types columns: every value is CSV
text), so the kind follows from the column's name, by the rules below, written once and tested over every
column of all 48 report types. Each rule mirrors a naming convention of the Reporting docs' column pages:

* ``TimePeriod`` depends on the aggregation (``guides/reports.md#timeperiod``): ``date`` for Daily, Weekly,
  WeeklyStartingMonday, Monthly, Yearly (a Yearly ``yyyy`` becomes January 1st) and Summary; ``datetime``
  for Hourly (``yyyy-mm-dd|H``: naive, the hour's start); ``integer`` for DayOfWeek (1-7) and HourOfDay (0-23).
* ids (a name ending in ``Id``) are ``integer`` (signed 64-bit), except the ones that are not numeric
  (``MSClickId``, ``MerchantProductId`` and the advertiser-supplied hotel ids): ``text``.
* counts (impressions, clicks, video views, phone calls, scores) are ``integer``.
* money, rates, ratios, percentages (the ``%`` sign is stripped), conversions (fractional since
  conversion-value attribution, e.g. ``"2.00"``) and other averages are ``decimal``.
* everything else (names, statuses, labels, URLs, and the few date-like columns whose format the docs do not
  give: ``Date``, ``DateTime``, ``StartTime``, ``EndTime``, ``CheckInDate``, ``*PeakWeek``) is ``text``.

A cell of ``"--"`` (not computed) or ``""`` (not applicable) is None whatever the kind.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Literal

from airflow_provider_msads.client.errors import ConfigurationError
from airflow_provider_msads.client.reporting.catalogue import did_you_mean, report_type

if TYPE_CHECKING:
    from airflow_provider_msads.client.reporting.request import ReportRequest

ColumnKind = Literal["integer", "decimal", "date", "datetime", "text"]
COLUMN_KINDS: tuple[ColumnKind, ...] = ("integer", "decimal", "date", "datetime", "text")

TIME_PERIOD = "TimePeriod"
#: Every report the provider loads carries it: rows are replaced per account.
ACCOUNT_ID = "AccountId"
#: TimePeriod's kind per aggregation (the docs' TimePeriod formats).
TIME_PERIOD_KINDS: dict[str, ColumnKind] = {
    "Summary": "date",
    "Daily": "date",
    "Weekly": "date",
    "WeeklyStartingMonday": "date",
    "Monthly": "date",
    "Yearly": "date",
    "Hourly": "datetime",
    "DayOfWeek": "integer",
    "HourOfDay": "integer",
}

#: Columns named like an id that do not hold a number.
_TEXT_IDS = frozenset(
    {"MSClickId", "MerchantProductId", "AdvertiserHotelId", "CampaignHotelId", "SourceHotelId"}
)
#: Names that end like a count but are week-over-week / month-over-month / year-over-year changes.
_CHANGE = re.compile(r"^(MoM|WoW|YoY)")
_DECIMAL_NAMES = frozenset(
    {
        "Assists",
        "ExtendedCost",
        "ImpressionShare",
        "ClickShare",
        "CPI",
        "CPP",
        "CPS",
        "Ptr",
        "ProportionOfSpend",
        "Installs",
        "AppInstalls",
        "Downloads",
        "Purchases",
        "Subscriptions",
        "Sales",
        "QuantityBought",
        "NewCustomerCount",
        "AveragePosition",
        "AverageWatchTimePerImpression",
        "AverageWatchTimePerVideoView",
        "AvgBookedNights",
        "AvgBookedABW",
        "BookedABW",
        "BookedLengthOfStay",
        "BidAdjustment",
        "MarketplaceClickCoverage",
        "WebsiteCoverage",
        "SearchesIndexed",
        "ClicksIndexed",
        "Price",
    }
)
#: money, rates, ratios and percentages by name ending (checked after the exceptions above and below).
_DECIMAL_SUFFIX = re.compile(
    r"(Percent|Rate|Ctr|Cpc|Cpm|CPV|CPA|Spend|Revenue|Cost|Bid|Budget|Roas|ROAS|ReturnOnAdSpend|"
    r"ImpressionShare|Conversions|ConversionsQualified|PerConversion|PerAssist|PerDownload|PerInstall|"
    r"PerSale|PerConversionQualified)$"
)
_DECIMAL_PREFIX = re.compile(r"^(CostPer|RevenuePer|Average)")
_COUNT_NAMES = frozenset(
    {
        "PhoneCalls",
        "VideoViews",
        "CompletedVideoViews",
        "TotalWatchTimeInMS",
        "TotalClicksOnAdElements",
        "NumOfCampaigns",
        "SearchVolume",
        "QualityScore",
        "ExpectedCtr",  # docs: a score 1 (below average) .. 3 (above average), not a rate
        "AdRelevance",
        "LandingPageExperience",
        "HistoricalQualityScore",
        "HistoricalExpectedCtr",
        "HistoricalAdRelevance",
        "HistoricalLandingPageExperience",
    }
)
_COUNT_PATTERN = re.compile(
    r"(Impressions|Clicks)$|^MissedImpressions|^VideoViewsAt\d+Percent$|^MatchedProductsAt"
)


def name_kind(column: str) -> ColumnKind:
    """The kind a column name implies (TimePeriod excluded); see the module docstring for the rules."""
    if column in _TEXT_IDS:
        return "text"
    if column.endswith("Id"):
        return "integer"
    if column in _COUNT_NAMES or (_COUNT_PATTERN.search(column) and not _CHANGE.match(column)):
        return "integer"
    if column in _DECIMAL_NAMES or _CHANGE.match(column):
        return "decimal"
    if _DECIMAL_SUFFIX.search(column) or _DECIMAL_PREFIX.match(column):
        return "decimal"
    return "text"


def column_kind(report: str, column: str, aggregation: str | None = None) -> ColumnKind:
    """The kind of one column of one report type.

    :param report: the report name (``"AccountPerformance"``) or wire type (``...ReportRequest``).
    :param column: a column of that report type (unknown columns raise, naming close matches).
    :param aggregation: only changes ``TimePeriod``; None means a day-or-coarser aggregation (``date``).
    """
    spec = report_type(report)
    if column not in spec.columns:
        raise ConfigurationError(
            "columns",
            f"{column!r} is not a column of {spec.type}",
            "use a column from the report's column list" + did_you_mean(column, spec.columns),
        )
    if column == TIME_PERIOD:
        return TIME_PERIOD_KINDS.get(aggregation or "Daily", "date")
    return name_kind(column)


def is_statistic(column: str) -> bool:
    """True for a performance statistic (a measured number), False for an attribute (a dimension).

    Numbers that are not ids and not TimePeriod are statistics — including bids, budgets and quality
    scores, which change over time and are values of a row, not part of its identity.
    """
    return (
        column != TIME_PERIOD
        and name_kind(column) in ("integer", "decimal")
        and not (column.endswith("Id") and column not in _TEXT_IDS)
    )


def key_columns(request: ReportRequest) -> tuple[str, ...]:
    """The natural key of a report's rows: the request's attribute columns, in request order."""
    return tuple(c for c in request.columns if not is_statistic(c))
