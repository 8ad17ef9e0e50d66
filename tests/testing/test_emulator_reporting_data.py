"""What the emulator's reports contain: aggregations, time zones, restatement, all 48 report types."""

from __future__ import annotations

import itertools
import json
import re
from collections import defaultdict
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from importlib import resources
from pathlib import Path

import httpx
import pytest
from reporting_helpers import active_accounts, body, download, read_report, run, schema_errors

from airflow_provider_msads.testing import Emulator

TODAY = date(2026, 6, 10)
SUMMED = ("Impressions", "Clicks", "Spend", "ConversionsQualified", "Revenue")


@pytest.fixture
def emu(msads_emulator: Emulator) -> Emulator:
    msads_emulator.reporting.set_today(TODAY)
    msads_emulator.reporting.pending_polls = 0
    return msads_emulator


def _rows(
    http: httpx.Client, emu: Emulator, request: dict[str, object]
) -> tuple[dict[str, str], list[dict[str, str]]]:
    report = read_report(download(http, run(http, emu, request)["ReportDownloadUrl"]))
    return report.meta, report.dicts()


def _totals(rows: list[dict[str, str]], key: str | None = None) -> dict[object, tuple[Decimal, ...]]:
    out: dict[object, list[Decimal]] = defaultdict(lambda: [Decimal(0)] * len(SUMMED))
    for row in rows:
        bucket = out[row[key] if key else None]
        for i, col in enumerate(SUMMED):
            bucket[i] += Decimal(row[col])
    return {k: tuple(v) for k, v in out.items()}


# ---------------------------------------------------------------------- aggregations
@pytest.mark.parametrize("report", ["AccountPerformance", "CampaignPerformance", "KeywordPerformance"])
def test_coarser_aggregations_are_exact_sums_of_days(emu: Emulator, http: httpx.Client, report: str) -> None:
    accounts = active_accounts(emu)[:2]
    start, end = date(2026, 5, 24), date(2026, 6, 6)  # two full Sunday-weeks, two months
    key = {
        "AccountPerformance": "AccountId",
        "CampaignPerformance": "CampaignId",
        "KeywordPerformance": "KeywordId",
    }[report]
    columns = (
        ["TimePeriod", "AccountId", key, *SUMMED]
        if key != "AccountId"
        else ["TimePeriod", "AccountId", *SUMMED]
    )
    _, daily = _rows(http, emu, body(report, columns=columns, start=start, end=end, account_ids=accounts))
    assert len({r["TimePeriod"] for r in daily}) == 14
    for aggregation, bucket in (
        ("Weekly", lambda d: (d - timedelta(days=(d.weekday() + 1) % 7)).isoformat()),
        ("WeeklyStartingMonday", lambda d: (d - timedelta(days=d.weekday())).isoformat()),
        ("Monthly", lambda d: d.replace(day=1).isoformat()),
    ):
        _, coarse = _rows(
            http,
            emu,
            body(
                report, columns=columns, aggregation=aggregation, start=start, end=end, account_ids=accounts
            ),
        )
        expected: dict[tuple[str, str], list[Decimal]] = defaultdict(lambda: [Decimal(0)] * len(SUMMED))
        for r in daily:
            acc = expected[(bucket(date.fromisoformat(r["TimePeriod"])), r[key])]
            for i, col in enumerate(SUMMED):
                acc[i] += Decimal(r[col])
        got = {(r["TimePeriod"], r[key]): [Decimal(r[c]) for c in SUMMED] for r in coarse}
        assert got == dict(expected), aggregation
    summary_columns = [c for c in columns if c != "TimePeriod"]
    meta, summary = _rows(
        http,
        emu,
        body(
            report, columns=summary_columns, aggregation="Summary", start=start, end=end, account_ids=accounts
        ),
    )
    assert meta["Report Aggregation"] == "Summary"
    assert _totals(summary) == _totals(daily)


def test_hourly_rows_split_each_day_exactly(emu: Emulator, http: httpx.Client) -> None:
    accounts = active_accounts(emu)[:1]
    day = date(2026, 6, 3)
    columns = ["TimePeriod", "AccountId", *SUMMED]
    _, daily = _rows(http, emu, body(columns=columns, start=day, end=day, account_ids=accounts))
    _, hourly = _rows(
        http, emu, body(columns=columns, aggregation="Hourly", start=day, end=day, account_ids=accounts)
    )
    assert [r["TimePeriod"] for r in hourly] == [f"2026-06-03|{h}" for h in range(24)]
    assert _totals(hourly) == _totals(daily)
    _, by_hour = _rows(
        http,
        emu,
        body(columns=columns, aggregation="HourOfDay", predefined="Yesterday", account_ids=accounts),
    )
    assert [r["TimePeriod"] for r in by_hour] == [str(h) for h in range(24)]


def test_day_of_week_and_yearly_labels(emu: Emulator, http: httpx.Client) -> None:
    accounts = active_accounts(emu)[:1]
    columns = ["TimePeriod", "AccountId", "Impressions"]
    _, by_day = _rows(
        http,
        emu,
        body(columns=columns, aggregation="DayOfWeek", predefined="LastSevenDays", account_ids=accounts),
    )
    assert sorted(r["TimePeriod"] for r in by_day) == [str(i) for i in range(1, 8)]
    _, yearly = _rows(
        http,
        emu,
        body(
            columns=columns,
            aggregation="Yearly",
            start=date(2025, 12, 30),
            end=date(2026, 1, 2),
            account_ids=accounts,
        ),
    )
    assert [r["TimePeriod"] for r in yearly] == ["2025", "2026"]


# ---------------------------------------------------------------------- time zones
def test_time_zone_decides_today_and_is_named_in_the_header(emu: Emulator, http: httpx.Client) -> None:
    emu.reporting.set_now(datetime(2026, 6, 5, 3, 0, tzinfo=timezone.utc))  # Pacific: still June 4th
    accounts = active_accounts(emu)[:1]
    columns = ["AccountId", "Impressions"]
    meta, _ = _rows(
        http, emu, body(columns=columns, aggregation="Summary", predefined="Yesterday", account_ids=accounts)
    )
    assert meta["Report Time"] == "6/3/2026"
    assert meta["Time Zone"] == "(GMT-08:00) Pacific Time (US & Canada); Tijuana"
    meta, _ = _rows(
        http,
        emu,
        body(
            columns=columns,
            aggregation="Summary",
            predefined="Yesterday",
            account_ids=accounts,
            time_zone="OsakaSapporoTokyo",
        ),
    )
    assert meta["Report Time"] == "6/4/2026"
    assert meta["Time Zone"] == "(GMT+09:00) Osaka, Sapporo, Tokyo"
    meta, _ = _rows(
        http,
        emu,
        body(
            columns=columns,
            aggregation="Summary",
            predefined="LastSevenDays",
            account_ids=accounts,
            time_zone=None,
        ),
    )
    assert meta["Report Time"] == "5/28/2026,6/3/2026"
    assert meta["Time Zone"].startswith("(GMT-08:00) Pacific")


def test_every_report_time_zone_has_a_display_name() -> None:
    from airflow_provider_msads.testing.reporting.catalogue import report_catalogue
    from airflow_provider_msads.testing.reporting.timezones import TIME_ZONES, display_name

    assert set(report_catalogue().time_zones) == TIME_ZONES
    for zone in TIME_ZONES:
        assert re.fullmatch(r"\(GMT[+-]\d\d:\d\d\) .+", display_name(zone)), zone


# ---------------------------------------------------------------------- restatement
def test_provisional_days_change_as_the_clock_advances_then_settle(emu: Emulator, http: httpx.Client) -> None:
    emu.reporting.completion_lag_days = 3
    accounts = active_accounts(emu)[:3]
    columns = ["TimePeriod", "AccountId", *SUMMED]
    request = body(columns=columns, start=date(2026, 6, 1), end=date(2026, 6, 9), account_ids=accounts)

    def by_day(rows: list[dict[str, str]]) -> dict[str, tuple[Decimal, ...]]:
        return {k: v for k, v in _totals(rows, "TimePeriod").items() if isinstance(k, str)}

    meta1, rows1 = _rows(http, emu, request)
    assert meta1["Last Completed Available Day"] == "6/7/2026 10:15:00 PM (GMT)"
    assert meta1["Potential Incomplete Data"] == "true"
    assert _rows(http, emu, request)[1] == rows1  # same clock, same numbers

    emu.reporting.advance_days(1)  # today 6/11: 6/8 completes, 6/9 matures
    meta2, rows2 = _rows(http, emu, request)
    assert meta2["Last Completed Available Day"] == "6/8/2026 10:15:00 PM (GMT)"
    assert meta2["Potential Incomplete Data"] == "true"
    day1, day2 = by_day(rows1), by_day(rows2)
    for d in ("2026-06-01", "2026-06-04", "2026-06-07"):
        assert day1[d] == day2[d], d  # complete days never change
    for d in ("2026-06-08", "2026-06-09"):
        assert day1[d] != day2[d], d  # provisional days are restated
        assert all(a <= b for a, b in zip(day1[d], day2[d], strict=True)), d  # late data only adds
    assert day1["2026-06-08"][3] < day2["2026-06-08"][3]  # late conversions arrived

    emu.reporting.advance_days(1)  # today 6/12: everything up to 6/9 complete
    meta3, rows3 = _rows(http, emu, request)
    assert meta3["Potential Incomplete Data"] == "false"
    day3 = by_day(rows3)
    assert day3["2026-06-08"] == day2["2026-06-08"]
    assert day3["2026-06-09"] != day2["2026-06-09"]
    emu.reporting.advance_days(5)
    assert by_day(_rows(http, emu, request)[1]) == day3  # final numbers are final


def test_return_only_complete_data(emu: Emulator, http: httpx.Client) -> None:
    emu.reporting.completion_lag_days = 2  # last complete 6/8
    accounts = active_accounts(emu)[:1]
    ok = body(start=date(2026, 6, 1), end=date(2026, 6, 8), account_ids=accounts, ReturnOnlyCompleteData=True)
    meta, _ = _rows(http, emu, ok)
    assert meta["Potential Incomplete Data"] == "false"
    late = body(
        start=date(2026, 6, 1), end=date(2026, 6, 9), account_ids=accounts, ReturnOnlyCompleteData=True
    )
    response = http.post(
        emu.url + "/Reporting/v13/GenerateReport/Submit",
        json=late,
        headers={
            "Authorization": "Bearer " + emu.issue_access_token(),
            "DeveloperToken": "EMUDEMO0DEVTOKEN42",
        },
    )
    assert response.json()["OperationErrors"][0]["Code"] == 2004


# ---------------------------------------------------------------------- all 48 report types
def _catalogue() -> dict[str, dict[str, object]]:
    text = (
        resources.files("airflow_provider_msads.client.reporting")
        .joinpath("report_types.json")
        .read_text("utf-8")
    )
    types: dict[str, dict[str, object]] = json.loads(text)["report_types"]
    return types


def _type_body(emu: Emulator, wire: str, entry: dict[str, object]) -> dict[str, object]:
    columns = list(entry["columns"])  # type: ignore[call-overload]
    required = [c for c in entry["required_columns"] if c in columns]  # type: ignore[attr-defined]
    chosen = list(dict.fromkeys([*required, *columns]))  # every column of the type
    rr: dict[str, object] = {
        "Type": wire,
        "Format": "Csv",
        "FormatVersion": "2.0",
        "Columns": chosen,
        "Scope": {"AccountIds": [str(a) for a in active_accounts(emu)[:2]]},
    }
    if entry["supports_aggregation"]:
        aggregations = entry["aggregations"]
        rr["Aggregation"] = "Daily" if "Daily" in aggregations else aggregations[0]  # type: ignore[index, operator]
        if rr["Aggregation"] == "Summary" and "TimePeriod" in chosen:
            chosen.remove("TimePeriod")
    if entry["supports_time"]:
        rr["Time"] = {
            "CustomDateRangeStart": {"Day": 1, "Month": 6, "Year": 2026},
            "CustomDateRangeEnd": {"Day": 2, "Month": 6, "Year": 2026},
        }
    return {"ReportRequest": rr}


def test_every_report_type_gives_a_well_formed_file_the_client_can_type(
    emu: Emulator, tmp_path: Path
) -> None:
    """All 48 types with ALL their columns: valid request, a file in the layout, every cell of the kind
    the client's one home of column kinds expects (the emulator does not import it; the test compares)."""
    from airflow_provider_msads.client.reporting.columns import column_kind

    catalogue = _catalogue()
    assert len(catalogue) == 48
    problems: list[str] = []
    for wire, entry in catalogue.items():
        request = _type_body(emu, wire, entry)
        assert schema_errors(request, "SubmitGenerateReportRequest") == [], wire
        report_file = emu.reporting.write_report(request, tmp_path)
        assert report_file.path is not None and report_file.rows > 0, wire
        report = read_report(report_file.path.read_bytes())
        rr = request["ReportRequest"]
        assert report.columns == rr["Columns"], wire  # type: ignore[index]
        assert int(report.meta["Rows"]) == len(report.rows) == report_file.rows
        for row in report.dicts():
            for column, cell in row.items():
                if cell in ("", "--"):
                    continue
                kind = column_kind(wire, column, rr.get("Aggregation"))  # type: ignore[union-attr]
                if not _parses(kind, cell):
                    problems.append(f"{wire}.{column} ({kind}): {cell!r}")
    assert sorted(set(problems)) == []


def _parses(kind: str, cell: str) -> bool:
    try:
        if kind == "integer":
            int(cell)
        elif kind == "decimal":
            Decimal(cell.removesuffix("%").replace(",", ""))
        elif kind == "date":
            date.fromisoformat(cell if len(cell) > 4 else cell + "-01-01")
        elif kind == "datetime":
            day, _, hour = cell.partition("|")
            date.fromisoformat(day)
            assert 0 <= int(hour) <= 23
    except (ValueError, AssertionError, ArithmeticError):
        return False
    return True


# ---------------------------------------------------------------------- levels add up; scopes
LEVELS = [
    ("AccountPerformance", ["AccountId"]),
    ("CampaignPerformance", ["AccountId", "CampaignId"]),
    ("AdGroupPerformance", ["AccountId", "CampaignId", "AdGroupId"]),
    ("KeywordPerformance", ["AccountId", "CampaignId", "AdGroupId", "KeywordId"]),
    ("SearchQueryPerformance", ["AccountId", "CampaignId", "AdGroupId", "KeywordId", "SearchQuery"]),
]


def test_every_level_adds_up_to_its_parent(emu: Emulator, http: httpx.Client) -> None:
    """Campaign rows sum to their account's row, keyword rows to their ad group's, search terms to their
    keyword's: per day, including provisional days (restated consistently)."""
    emu.reporting.completion_lag_days = 2
    accounts = active_accounts(emu)[:2]
    start, end = date(2026, 6, 7), date(2026, 6, 9)
    tables: list[dict[tuple[str, ...], tuple[Decimal, ...]]] = []
    for report, keys in LEVELS:
        columns = ["TimePeriod", *keys, *SUMMED]
        _, rows = _rows(http, emu, body(report, columns=columns, start=start, end=end, account_ids=accounts))
        table = {}
        for r in rows:
            impressions, clicks, conversions = (
                int(r["Impressions"]),
                int(r["Clicks"]),
                Decimal(r["ConversionsQualified"]),
            )
            assert min(impressions, clicks, conversions) >= 0, (report, r)
            if report in ("AccountPerformance", "CampaignPerformance"):
                assert clicks <= impressions and conversions <= clicks, (report, r)
            # below that, tiny rows may show a click without an impression (or a conversion without a
            # click) on a day, as Microsoft documents for zero-impression rows
            table[(r["TimePeriod"], *(r[k] for k in keys))] = tuple(Decimal(r[c]) for c in SUMMED)
        tables.append(table)
    for parent, child in itertools.pairwise(tables):
        sums: dict[tuple[str, ...], list[Decimal]] = defaultdict(lambda: [Decimal(0)] * len(SUMMED))
        for key, values in child.items():
            acc = sums[key[:-1]]
            for i, v in enumerate(values):
                acc[i] += v
        assert {k: tuple(v) for k, v in sums.items()} == parent
    assert (
        len(tables[-1]) == 3 * 2 * 3 * 2 * 4 * 2
    )  # days x accounts x campaigns x ad groups x keywords x terms


def test_campaign_and_ad_group_scopes(emu: Emulator, http: httpx.Client) -> None:
    account = active_accounts(emu)[0]
    other = active_accounts(emu)[1]
    day = date(2026, 6, 3)
    campaign = 7_000_000_000 + emu.data.account_by_id[account].index * 1000 + 1
    scope = {
        "AccountIds": [str(other)],
        "Campaigns": [{"AccountId": str(account), "CampaignId": str(campaign)}],
    }
    _, rows = _rows(
        http,
        emu,
        body(
            "CampaignPerformance",
            columns=["TimePeriod", "AccountId", "CampaignId", "Clicks"],
            start=day,
            end=day,
            Scope=scope,
        ),
    )
    assert {(int(r["AccountId"]), int(r["CampaignId"])) for r in rows} == {(account, campaign)} | {
        (other, 7_000_000_000 + emu.data.account_by_id[other].index * 1000 + c) for c in range(3)
    }
    ad_group = campaign * 1000 + 1
    groups = {
        "AdGroups": [{"AccountId": str(account), "CampaignId": str(campaign), "AdGroupId": str(ad_group)}]
    }
    _, keywords = _rows(
        http,
        emu,
        body(
            "KeywordPerformance",
            columns=["TimePeriod", "AdGroupId", "KeywordId", "Clicks"],
            start=day,
            end=day,
            Scope=groups,
        ),
    )
    assert {int(r["AdGroupId"]) for r in keywords} == {ad_group}
    assert sorted(int(r["KeywordId"]) for r in keywords) == [ad_group * 10_000 + k for k in range(4)]

    headers = {"Authorization": "Bearer " + emu.issue_access_token(), "DeveloperToken": "EMUDEMO0DEVTOKEN42"}

    def code(request: dict[str, object]) -> int:
        fault = http.post(
            emu.url + "/Reporting/v13/GenerateReport/Submit", json=request, headers=headers
        ).json()
        return int((fault.get("OperationErrors") or fault["Errors"])[0]["Code"])

    bad_campaign = {"Campaigns": [{"AccountId": str(account), "CampaignId": str(campaign + 50)}]}
    assert (
        code(
            body(
                "CampaignPerformance",
                columns=["AccountId", "Clicks"],
                aggregation="Summary",
                start=day,
                end=day,
                Scope=bad_campaign,
            )
        )
        == 2019
    )
    bad_group = {"AdGroups": [{"AccountId": str(account), "CampaignId": str(campaign), "AdGroupId": "5"}]}
    assert (
        code(
            body(
                "KeywordPerformance",
                columns=["AccountId", "Keyword", "Clicks"],
                aggregation="Summary",
                start=day,
                end=day,
                Scope=bad_group,
            )
        )
        == 2022
    )
    many = {"Campaigns": [{"AccountId": str(account), "CampaignId": str(campaign)}] * 301}
    assert (
        code(
            body(
                "CampaignPerformance",
                columns=["AccountId", "Clicks"],
                aggregation="Summary",
                start=day,
                end=day,
                Scope=many,
            )
        )
        == 2030
    )
    sort = [{"SortColumn": "Spend", "SortOrder": "Descending"}]
    assert (
        code(
            body(
                "KeywordPerformance",
                columns=["AccountId", "Keyword", "Clicks"],
                aggregation="Summary",
                start=day,
                end=day,
                account_ids=[account],
                Sort=sort,
            )
        )
        == 2061
    )
