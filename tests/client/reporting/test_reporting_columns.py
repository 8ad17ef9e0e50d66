"""Column kinds and natural keys: every column of all 48 report types, plus the sample files' values."""

from __future__ import annotations

import json
from datetime import date

import pytest
from reporting_contract import CONTRACT, DATA

from airflow_provider_msads.client.errors import ConfigurationError
from airflow_provider_msads.client.reporting import ReportRequest, column_kind, key_columns
from airflow_provider_msads.client.reporting.catalogue import catalogue
from airflow_provider_msads.client.reporting.columns import COLUMN_KINDS, is_statistic

ALL = [(t.name, c) for t in catalogue().report_types.values() for c in t.columns]


def test_catalogue_matches_the_contract_pack() -> None:
    pack = json.loads((CONTRACT / "report-types.json").read_text())
    assert {e["type"] for e in pack["report_types"]} == {t.type for t in catalogue().report_types.values()}
    assert len(catalogue().report_types) == 48
    for entry in pack["report_types"]:
        ours = catalogue().get(entry["type"])
        assert list(ours.columns) == entry["columns"]["values"]
        assert ours.supports_aggregation == entry["supports_aggregation"]


@pytest.mark.parametrize(("report", "column"), ALL, ids=[f"{r}.{c}" for r, c in ALL])
def test_every_column_has_a_kind_consistent_with_its_name(report: str, column: str) -> None:
    kind = column_kind(report, column)
    assert kind in COLUMN_KINDS
    if column.endswith("Id") and column not in {"MSClickId", "MerchantProductId"} and "Hotel" not in column:
        assert kind == "integer", column
        assert not is_statistic(column)
    if column.endswith(("Percent", "Rate", "Spend", "Revenue", "Cpc")) and not column.startswith(
        "VideoViewsAt"
    ):
        assert kind == "decimal", column
    if column.endswith(("Name", "Status", "Url", "Labels")):
        assert kind == "text", column
    if kind == "text" or column == "TimePeriod":
        assert not is_statistic(column)
    if kind == "decimal":
        assert is_statistic(column)


def test_kind_counts_over_all_columns() -> None:
    """A rule change that moves many columns at once shows up here (numbers from the first review)."""
    kinds = {c: column_kind(r, c) for r, c in ALL}
    counts = {k: sum(1 for v in kinds.values() if v == k) for k in COLUMN_KINDS}
    assert counts == {"integer": 71, "decimal": 133, "date": 1, "datetime": 0, "text": 211}


@pytest.mark.parametrize(
    ("aggregation", "kind"),
    [
        ("Daily", "date"),
        ("Weekly", "date"),
        ("Monthly", "date"),
        ("Yearly", "date"),
        ("Hourly", "datetime"),
        ("DayOfWeek", "integer"),
        ("HourOfDay", "integer"),
        (None, "date"),
    ],
)
def test_time_period_kind_follows_the_aggregation(aggregation: str | None, kind: str) -> None:
    assert column_kind("KeywordPerformance", "TimePeriod", aggregation) == kind


def test_sample_file_columns() -> None:
    """The kinds of the sample files' columns match what their values look like."""
    expected = {
        "TimePeriod": "date",
        "AccountId": "integer",
        "AccountName": "text",
        "CurrencyCode": "text",
        "Impressions": "integer",
        "Clicks": "integer",
        "Ctr": "decimal",
        "AverageCpc": "decimal",
        "Spend": "decimal",
        "ConversionsQualified": "decimal",
        "Revenue": "decimal",
    }
    doc = json.loads((DATA / "expected" / "AccountPerformance.daily.header-footer.json").read_text())
    for column in doc["metadata"]["report_columns"]:
        assert column_kind("AccountPerformance", column, "Daily") == expected[column]
    campaign = {
        "CampaignId": "integer",
        "CampaignName": "text",
        "CampaignStatus": "text",
        "QualityScore": "integer",
    }
    for column, kind in campaign.items():
        assert column_kind("CampaignPerformance", column) == kind


def test_unknown_column_names_close_matches() -> None:
    with pytest.raises(ConfigurationError, match=r"'Clickz' is not a column.*did you mean 'Clicks'"):
        column_kind("AccountPerformance", "Clickz")


def test_key_columns_are_the_requested_attributes_in_order() -> None:
    request = ReportRequest(
        report="CampaignPerformance",
        columns=["CampaignName", "Clicks", "AccountId", "Spend", "CampaignId", "DeviceType", "QualityScore"],
        aggregation="Daily",
        start=date(2026, 6, 1),
        end=date(2026, 6, 3),
        account_ids=[1],
    )
    assert request.columns[0] == "TimePeriod"  # added: Daily needs it
    assert key_columns(request) == ("TimePeriod", "CampaignName", "AccountId", "CampaignId", "DeviceType")
