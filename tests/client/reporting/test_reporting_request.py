"""ReportRequest: validation before any call, and bodies that validate against the contract schemas."""

from __future__ import annotations

import json
from datetime import date

import pytest
from reporting_contract import DATA, body_errors

from airflow_provider_msads.client.errors import ConfigurationError
from airflow_provider_msads.client.reporting import ReportRequest
from airflow_provider_msads.client.reporting.catalogue import catalogue

TYPES = list(catalogue().report_types.values())
START, END = date(2026, 6, 1), date(2026, 6, 3)


def _minimal(spec_name: str, **kw: object) -> ReportRequest:
    spec = catalogue().get(spec_name)
    stat = next((c for c in spec.columns if c in ("Impressions", "Clicks", "Spend")), spec.columns[-1])
    attribute = "AccountName" if "AccountName" in spec.columns else spec.columns[0]
    columns = list(dict.fromkeys([attribute, stat]))
    args: dict[str, object] = {"report": spec_name, "columns": columns, "account_ids": [100000001]}
    if spec.supports_aggregation:
        args["aggregation"] = "Daily" if "Daily" in spec.aggregations else spec.aggregations[0]
    if spec.supports_time:
        args.update(start=START, end=END)
    args.update(kw)
    return ReportRequest(**args)  # type: ignore[arg-type]


@pytest.mark.parametrize("spec", TYPES, ids=[t.name for t in TYPES])
def test_every_report_type_builds_a_valid_body(spec: object) -> None:
    request = _minimal(spec.name)  # type: ignore[attr-defined]
    body = request.to_rest_body()
    assert body["ReportRequest"]["Type"] == spec.type  # type: ignore[attr-defined]
    assert body_errors(body) == []


@pytest.mark.parametrize("spec", TYPES, ids=[t.name for t in TYPES])
def test_every_report_type_with_all_its_columns_is_valid(spec: object) -> None:
    """All columns at once (the schema checks each against the enum; required ones are present)."""
    name = spec.name  # type: ignore[attr-defined]
    columns = [c for c in spec.columns if c != "TimePeriod"]  # type: ignore[attr-defined]
    request = _minimal(name, columns=columns)
    assert body_errors(request.to_rest_body()) == []


def test_sample_request_body_round_trip() -> None:
    """The pack's sample request, rebuilt through the public API, carries the same facts."""
    sample = json.loads((DATA / "AccountPerformance.daily.header-footer.request.json").read_text())[
        "ReportRequest"
    ]
    request = ReportRequest(
        report="AccountPerformance",
        columns=sample["Columns"],
        aggregation="Daily",
        start=START,
        end=END,
        time_zone="PacificTimeUSCanadaTijuana",
        account_ids=[int(i) for i in sample["Scope"]["AccountIds"]],
        report_name=sample["ReportName"],
    )
    body = request.to_rest_body()["ReportRequest"]
    for key in ("Type", "Format", "FormatVersion", "Aggregation", "Columns", "Scope", "Time", "ReportName"):
        assert body[key] == sample[key], key
    assert body["ExcludeReportHeader"] is False and body["ExcludeColumnHeaders"] is False
    assert body_errors({"ReportRequest": body}) == []


def test_predefined_time_and_time_zone() -> None:
    request = ReportRequest(
        "AccountPerformance", ["AccountId", "Clicks"], [5], predefined_time="Yesterday", time_zone="Hawaii"
    )
    body = request.to_rest_body()
    assert body["ReportRequest"]["Time"] == {"PredefinedTime": "Yesterday", "ReportTimeZone": "Hawaii"}
    assert body["ReportRequest"]["Aggregation"] == "Summary"
    assert body_errors(body) == []


def test_required_columns_are_added() -> None:
    daily = ReportRequest("AccountPerformance", ["Clicks"], [1], aggregation="Daily", start=START, end=END)
    assert daily.columns == ("AccountId", "TimePeriod", "Clicks")  # "AccountId or any other attribute"
    summary = ReportRequest("AccountPerformance", ["AccountName", "Clicks"], [1], start=START, end=END)
    assert summary.columns == ("AccountName", "Clicks")  # an attribute is there; no TimePeriod for Summary
    query = ReportRequest(
        "SearchQueryPerformance", ["Clicks"], [1], aggregation="Weekly", start=START, end=END
    )
    assert query.columns == ("SearchQuery", "TimePeriod", "Clicks")
    assert body_errors(query.to_rest_body()) == []


def test_split_by_accounts() -> None:
    request = ReportRequest(
        "AccountPerformance", ["AccountId", "Clicks"], range(1, 2502), start=START, end=END
    )
    parts = request.split()
    assert [len(p.account_ids) for p in parts] == [1000, 1000, 501]
    assert sum((p.account_ids for p in parts), ()) == request.account_ids
    assert all(p.columns == request.columns and p.start == START for p in parts)
    assert all(body_errors(p.to_rest_body()) == [] for p in parts)
    with pytest.raises(ConfigurationError, match=r"account_ids: 2501 accounts.*call split"):
        request.to_rest_body()
    assert request.split(5000 // 5) == parts
    small = ReportRequest("AccountPerformance", ["AccountId"], [1, 2], start=START, end=END)
    assert small.split() == (small,)


def test_filter_values_are_checked_and_joined() -> None:
    request = ReportRequest(
        "KeywordPerformance",
        ["Keyword", "Clicks"],
        [1],
        start=START,
        end=END,
        filter={"DeviceType": ["Computer", "Tablet"], "Keywords": ["red shoes"], "QualityScore": [7, 8]},
    )
    body = request.to_rest_body()
    assert body["ReportRequest"]["Filter"]["DeviceType"] == "Computer, Tablet"
    assert body_errors(body) == []
    with pytest.raises(ConfigurationError, match="'Desktop' is not a value of DeviceType"):
        ReportRequest(
            "KeywordPerformance", ["Keyword"], [1], start=START, end=END, filter={"DeviceType": "Desktop"}
        )


@pytest.mark.parametrize(
    ("kwargs", "field", "text"),
    [
        ({"report": "KeywordPerf"}, "report", "did you mean 'KeywordPerformance'"),
        ({"columns": ["Impresions"]}, "columns", "did you mean 'Impressions'"),
        ({"columns": []}, "columns", "is empty"),
        ({"columns": "Clicks"}, "columns", "list of column names"),
        ({"columns": ["Clicks", "Clicks"]}, "columns", "listed twice"),
        ({"columns": ["TimePeriod", "Clicks"], "aggregation": "Summary"}, "columns", "2034"),
        ({"aggregation": "Dayly"}, "aggregation", "did you mean 'Daily'"),
        ({"start": END, "end": START}, "end", "before start"),
        ({"end": None}, "end", "needs both start and end"),
        ({"start": None, "end": None}, "start", "no time period"),
        ({"predefined_time": "Yesterday"}, "predefined_time", "together with start/end"),
        (
            {"start": None, "end": None, "predefined_time": "Yesteday"},
            "predefined_time",
            "did you mean 'Yesterday'",
        ),
        (
            {"start": None, "end": None, "predefined_time": "LastYear", "aggregation": "Daily"},
            "predefined_time",
            "2007",
        ),
        ({"aggregation": "DayOfWeek"}, "start", "does not accept a custom date range"),
        ({"time_zone": "Pacific"}, "time_zone", "ReportTimeZone"),
        ({"account_ids": []}, "account_ids", "is empty"),
        ({"account_ids": ["12-34"]}, "account_ids", "not a numeric id"),
        ({"account_ids": [2**63]}, "account_ids", "out of range"),
        ({"account_ids": 5}, "account_ids", "list of account ids"),
        (
            {"start": None, "end": None, "predefined_time": "Today", "return_only_complete_data": True},
            "return_only_complete_data",
            "2005",
        ),
        ({"report_name": "x" * 201}, "report_name", "at most 200"),
        ({"filter": {"Device": "Computer"}}, "filter", "'DeviceType'?"),
    ],
)
def test_bad_input_names_the_field_and_the_fix(kwargs: dict[str, object], field: str, text: str) -> None:
    args: dict[str, object] = {
        "report": "AccountPerformance",
        "columns": ["AccountId", "Clicks"],
        "account_ids": [1],
        "aggregation": "Daily",
        "start": START,
        "end": END,
    }
    args.update(kwargs)
    with pytest.raises(ConfigurationError) as info:
        ReportRequest(**args)  # type: ignore[arg-type]
    assert info.value.field == field
    assert text in str(info.value)
    assert info.value.fix


def test_types_without_aggregation_or_time() -> None:
    with pytest.raises(
        ConfigurationError, match="aggregation: BudgetSummaryReportRequest has no aggregation"
    ):
        ReportRequest("BudgetSummary", ["AccountName"], [1], aggregation="Daily", start=START, end=END)
    conflict = ReportRequest("NegativeKeywordConflict", ["AccountName", "Keyword"], [1])
    body = conflict.to_rest_body()["ReportRequest"]
    assert "Time" not in body and "Aggregation" not in body
    assert body_errors({"ReportRequest": body}) == []
    with pytest.raises(ConfigurationError, match="has no time period"):
        ReportRequest("NegativeKeywordConflict", ["AccountName"], [1], predefined_time="Yesterday")


def test_request_is_frozen_hashable_and_repr_is_short() -> None:
    request = ReportRequest("AccountPerformance", ["AccountId"], [1], start=START, end=END)
    with pytest.raises(AttributeError):
        request.columns = ()  # type: ignore[misc]
    assert request.report_type == "AccountPerformanceReportRequest"
    assert request == ReportRequest(
        "AccountPerformanceReportRequest", ["AccountId"], ["1"], start=START, end=END
    )


def test_repr_stays_short_for_many_accounts() -> None:
    request = ReportRequest("AccountPerformance", ["AccountId"], range(1, 3001), start=START, end=END)
    text = repr(request)
    assert "3000 accounts" in text and len(text) < 300
    assert "start=2026-06-01, end=2026-06-03" in text
