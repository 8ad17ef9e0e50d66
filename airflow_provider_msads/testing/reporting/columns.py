"""How each report column is rendered in the emulator's files (value by column name).

Formats follow the reporting README §3.3 and the sample files: integers plain, money with two decimals
(currency in its own ``CurrencyCode`` column), rates and shares with two decimals and a ``%`` sign
(``2.24%``), ``--`` for values Microsoft does not compute (the quality-score family above keyword level,
``Historical*``), ``""`` for a cost per conversion without conversions, ``"0"`` for the deprecated
columns (``AveragePosition``, ``Conversions``, ``AllConversions``, ``ViewThroughConversions``,
``LowQualityConversions``). FormatVersion 1.0 puts thousands separators into AllRevenue, Assists,
ExtendedCost and Revenue; 2.0 does not.

The five reports with a real model (account, campaign, ad group, keyword, search query) use the metrics of
:mod:`.world`; every other column gets a plausible deterministic value from its name, so all 48 report
types produce well-formed files.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

from airflow_provider_msads.testing.data import _mix
from airflow_provider_msads.testing.reporting.world import (
    Entity,
    ad_group_name,
    campaign_name,
    campaign_status,
    campaign_type,
    device_type,
    keyword_text,
    match_type,
    search_query,
)

Metrics = tuple[int, int, int, int, int]  # impressions, clicks, spend c, conversions /100, revenue c
Formatter = Callable[[Entity, str, Metrics], str]

DEPRECATED_ZERO = frozenset(
    {"AveragePosition", "Conversions", "AllConversions", "ViewThroughConversions", "LowQualityConversions"}
)
QUALITY_FAMILY = frozenset({"QualityScore", "ExpectedCtr", "AdRelevance", "LandingPageExperience"})
THOUSANDS_IN_V1 = frozenset({"AllRevenue", "Assists", "ExtendedCost", "Revenue"})
_TEXT_IDS = frozenset(
    {"MSClickId", "MerchantProductId", "AdvertiserHotelId", "CampaignHotelId", "SourceHotelId"}
)
_COUNT_WORDS = (
    "Impressions",
    "Clicks",
    "Conversions",
    "ConversionsQualified",
    "Installs",
    "Downloads",
    "Purchases",
    "Subscriptions",
    "Sales",
    "Calls",
    "Views",
    "VideoViews",
    "Assists",
    "Searches",
    "Volume",
    "Count",
    "Bought",
    "InMS",
    "NumOfCampaigns",
    "Products",
    "Duration",
)
_RATIO_WORDS = ("Roas", "ROAS", "ReturnOnAdSpend", "Indexed", "Coverage", "ImpressionShare", "Share")
_MONEY_WORDS = (
    "Spend",
    "Revenue",
    "Cost",
    "Cpc",
    "Cpm",
    "CPV",
    "CPA",
    "CPI",
    "CPP",
    "CPS",
    "Bid",
    "Budget",
    "Price",
)


def _money(cents: int) -> str:
    return f"{cents // 100}.{cents % 100:02d}"


def _money_v1(cents: int) -> str:
    return f"{cents // 100:,}.{cents % 100:02d}"


def _ratio(num: int, den: int, scale: int = 1) -> str:
    """num/den*scale with two decimals, half up; 0.00 when den is 0."""
    if den == 0:
        return "0.00"
    hundredths = (num * scale * 100 * 2 + den) // (2 * den)
    return f"{hundredths // 100}.{hundredths % 100:02d}"


def is_percent_column(name: str) -> bool:
    if name.startswith("VideoViewsAt"):
        return False  # VideoViewsAt25Percent is a count of views
    return (
        name.endswith("Percent")
        or name.endswith("Rate")
        or name in ("Ctr", "Ptr", "RelativeCtr", "BenchmarkCtr", "ClickShare", "ImpressionShare")
    )


def _name_hash(name: str) -> int:
    return sum(ord(ch) * (i + 1) for i, ch in enumerate(name))


def _hash(e: Entity, name: str) -> int:
    return _mix(e.key, _name_hash(name))


def _generic(name: str) -> Formatter:
    """A plausible deterministic value for a column without a dedicated rule (a function of the entity;
    the date-like ones also of the period)."""
    if is_percent_column(name):
        return lambda e, p, m: _ratio(_hash(e, name) % 10_000, 100) + "%"
    if name.endswith("Id") and name not in _TEXT_IDS:
        return lambda e, p, m: str(9_000_000_000 + _hash(e, name) % 1_000_000_000)
    if name.startswith("Historical"):
        return lambda e, p, m: "--"
    if any(name.endswith(w) for w in _COUNT_WORDS) or name.startswith(
        ("Missed", "Total", "Eligible", "VideoViewsAt", "MatchedProductsAt")
    ):
        return lambda e, p, m: str(_hash(e, name) % 5000)
    if any(w in name for w in _MONEY_WORDS):
        return lambda e, p, m: _money(_hash(e, name) % 100_000)
    if any(w in name for w in _RATIO_WORDS) or name.startswith(("Avg", "Average", "Booked")):
        return lambda e, p, m: _ratio(_hash(e, name) % 100_000, 100)
    if name.endswith("Status"):
        return lambda e, p, m: "Active"
    if name.endswith("Url"):
        return lambda e, p, m: f"https://www.contoso-emulator.example/{name.lower()}/{e.key % 1000}"
    if name in ("Date", "CheckInDate"):
        return lambda e, p, m: p.split("|")[0] if p[:4].isdigit() else "2026-01-01"
    if name in ("DateTime", "StartTime", "EndTime"):
        return lambda e, p, m: (p.split("|")[0] if p[:4].isdigit() else "2026-01-01") + " 10:00:00"
    if name == "DeviceType":
        return lambda e, p, m: device_type(e)
    if name == "DeviceOS":
        return lambda e, p, m: ("Windows", "iOS", "Android")[e.key % 3]
    if name == "Network":
        return lambda e, p, m: "Microsoft sites and select traffic"
    if name == "TopVsOther":
        return lambda e, p, m: "Microsoft sites and select traffic - top"
    if name in ("Language", "OfferLanguage"):
        return lambda e, p, m: "English"
    if name in ("Country", "CountryName", "UserCountry", "QueryIntentCountry", "POSCountry", "CountryOfSale"):
        return lambda e, p, m: "United States"
    if name == "AdDistribution":
        return lambda e, p, m: "Search"
    if name in ("BidMatchType", "DeliveredMatchType", "NegativeKeywordMatchType"):
        return lambda e, p, m: match_type(e)
    if name.endswith("Type"):
        return lambda e, p, m: "Standard"
    if name.endswith("Name") or name.endswith("Title") or name.startswith(("Headline", "Description")):
        return lambda e, p, m: f"{name} {e.key % 97 + 1}"
    return lambda e, p, m: f"{name.lower()}-{_hash(e, name) % 1000}"


#: What a column's value depends on: the entity only (rendered once per entity and report), the time
#: period only, the metrics only, or the whole row.
Dependency = Literal["entity", "period", "metrics", "row"]
_METRIC_COLUMNS = frozenset(
    {
        "Impressions",
        "Clicks",
        "Spend",
        "ConversionsQualified",
        "AllConversionsQualified",
        "Revenue",
        "AllRevenue",
        "Ctr",
        "AverageCpc",
        "AverageCpm",
        "ConversionRate",
        "AllConversionRate",
        "CostPerConversion",
        "CostPerConversionQualified",
        "AllCostPerConversion",
        "ReturnOnAdSpend",
        "AllReturnOnAdSpend",
        "RevenuePerConversion",
        "AllRevenuePerConversion",
        "LowQualityClicks",
        "LowQualityImpressions",
        "LowQualityClicksPercent",
        "LowQualityImpressionsPercent",
    }
)
_ROW_COLUMNS = frozenset({"Date", "CheckInDate", "DateTime", "StartTime", "EndTime"})


def dependency(name: str) -> Dependency:
    if name == "TimePeriod":
        return "period"
    if name in _METRIC_COLUMNS:
        return "metrics"
    if name in _ROW_COLUMNS:
        return "row"
    return "entity"


def formatter(name: str, level: str, format_version: str) -> Formatter:
    """The renderer of column ``name`` for entities at ``level`` (see :func:`dependency`)."""
    v1 = format_version != "2.0"
    money = _money_v1 if v1 and name in THOUSANDS_IN_V1 else _money
    rules: dict[str, Formatter] = {
        "AccountId": lambda e, p, m: str(e.account.id),
        "AccountName": lambda e, p, m: e.account.name,
        "AccountNumber": lambda e, p, m: e.account.number,
        "AccountStatus": lambda e, p, m: e.account.lifecycle_status,
        "CurrencyCode": lambda e, p, m: e.account.currency_code,
        "Currency": lambda e, p, m: e.account.currency_code,
        "CustomerId": lambda e, p, m: str(e.account.parent_customer_id),
        "CampaignId": lambda e, p, m: str(e.campaign_id),
        "CampaignName": lambda e, p, m: campaign_name(e),
        "CampaignStatus": lambda e, p, m: campaign_status(e),
        "CampaignType": lambda e, p, m: campaign_type(e),
        "AdGroupId": lambda e, p, m: str(e.ad_group_id),
        "AdGroupName": lambda e, p, m: ad_group_name(e),
        "AdGroupStatus": lambda e, p, m: "Active",
        "KeywordId": lambda e, p, m: str(e.keyword_id),
        "Keyword": lambda e, p, m: keyword_text(e),
        "KeywordStatus": lambda e, p, m: "Active",
        "SearchQuery": lambda e, p, m: search_query(e),
        "TimePeriod": lambda e, p, m: p,
        "Impressions": lambda e, p, m: str(m[0]),
        "Clicks": lambda e, p, m: str(m[1]),
        "Spend": lambda e, p, m: _money(m[2]),
        "ConversionsQualified": lambda e, p, m: _money(m[3]),
        "AllConversionsQualified": lambda e, p, m: _money(m[3]),
        "Revenue": lambda e, p, m: money(m[4]),
        "AllRevenue": lambda e, p, m: money(m[4]),
        "Ctr": lambda e, p, m: _ratio(m[1], m[0], 100) + "%",
        "AverageCpc": lambda e, p, m: _ratio(m[2], m[1] * 100),
        "AverageCpm": lambda e, p, m: _ratio(m[2] * 10, m[0]),
        "ConversionRate": lambda e, p, m: _ratio(m[3], m[1]) + "%",
        "AllConversionRate": lambda e, p, m: _ratio(m[3], m[1]) + "%",
        "CostPerConversion": lambda e, p, m: _ratio(m[2], m[3]) if m[3] else "",
        "CostPerConversionQualified": lambda e, p, m: _ratio(m[2], m[3]) if m[3] else "",
        "AllCostPerConversion": lambda e, p, m: _ratio(m[2], m[3]) if m[3] else "",
        "ReturnOnAdSpend": lambda e, p, m: _ratio(m[4], m[2], 100) + "%",
        "AllReturnOnAdSpend": lambda e, p, m: _ratio(m[4], m[2], 100) + "%",
        "RevenuePerConversion": lambda e, p, m: _ratio(m[4], m[3]) if m[3] else "",
        "AllRevenuePerConversion": lambda e, p, m: _ratio(m[4], m[3]) if m[3] else "",
        "LowQualityClicks": lambda e, p, m: str(m[1] // 20),
        "LowQualityImpressions": lambda e, p, m: str(m[0] // 15),
        "LowQualityClicksPercent": lambda e, p, m: _ratio(m[1] // 20, m[1] + m[1] // 20, 100) + "%",
        "LowQualityImpressionsPercent": lambda e, p, m: _ratio(m[0] // 15, m[0] + m[0] // 15, 100) + "%",
    }
    rule = rules.get(name)
    if rule is not None:
        return rule
    if name in DEPRECATED_ZERO:
        return lambda e, p, m: "0"
    if name in QUALITY_FAMILY:
        if level not in ("keyword", "search_term"):
            return lambda e, p, m: "--"
        if name == "QualityScore":
            return lambda e, p, m: "--" if e.keyword_id % 5 == 0 else str(1 + _hash(e, name) % 10)
        return lambda e, p, m: "--" if e.keyword_id % 5 == 0 else str(1 + _hash(e, name) % 3)
    if name == "DeviceType":
        return lambda e, p, m: device_type(e)
    return _generic(name)
