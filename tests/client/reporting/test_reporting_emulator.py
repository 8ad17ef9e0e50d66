"""run_report against the bundled emulator over real HTTP: API origin + a second storage origin that
rejects (and counts) any request carrying API credentials, scripted statuses and download faults."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest
from msads_client_fakes import Sleeps

from airflow_provider_msads.client.auth import RefreshTokenAuth
from airflow_provider_msads.client.client import MicrosoftAdsClient
from airflow_provider_msads.client.reporting import (
    ReportFailedError,
    ReportingOptions,
    ReportRequest,
    ReportThrottledError,
)
from airflow_provider_msads.client.retry import RetryPolicy
from airflow_provider_msads.client.settings import ConnectionSettings
from airflow_provider_msads.testing import DEMO_CLIENT_ID, DEMO_REFRESH_TOKEN, Emulator

COLUMNS = ["TimePeriod", "AccountId", "AccountName", "CurrencyCode", "Impressions", "Clicks", "Ctr", "Spend"]


@pytest.fixture
def client(msads_emulator: Emulator) -> Iterator[MicrosoftAdsClient]:
    settings = ConnectionSettings.from_connection_fields(
        login=DEMO_CLIENT_ID, password=DEMO_REFRESH_TOKEN, extra=msads_emulator.connection_extra()
    )
    http = httpx.Client(timeout=10.0)
    auth = RefreshTokenAuth.from_settings(settings, http=http)
    patient = RetryPolicy(max_attempts=3, max_total_seconds=600.0, backoff_base=0.001, backoff_max=0.002)
    with MicrosoftAdsClient(
        auth,
        settings.developer_token,
        settings.endpoints,
        customer_id=settings.customer_id,
        account_id=settings.account_id,
        http=http,
        retry=patient,
        sleep=Sleeps(),
        reporting=ReportingOptions(poll_intervals=(0.0,)),
    ) as made:
        yield made
    http.close()


def active(emu: Emulator) -> list[int]:
    return [
        a
        for a in emu.expected_account_ids
        if emu.data.account_by_id[a].lifecycle_status not in ("Draft", "Pending")
    ]


def request_for(emu: Emulator, **kw: Any) -> ReportRequest:
    today = emu.reporting.today
    args: dict[str, Any] = {
        "report": "AccountPerformance", "columns": COLUMNS, "aggregation": "Daily",
        "start": today - timedelta(days=3), "end": today - timedelta(days=1), "account_ids": active(emu),
    }  # fmt: skip
    args.update(kw)
    return ReportRequest(**args)


def test_run_report_against_the_emulator(msads_emulator: Emulator, client: MicrosoftAdsClient) -> None:
    emu = msads_emulator
    request = request_for(emu)
    with client.run_report(request) as report:
        rows = list(report)
        metadata = report.metadata
    job = emu.reporting.jobs[0]
    assert len(rows) == job.file.rows == metadata.rows == 3 * len(active(emu))
    assert {r["AccountId"] for r in rows} == set(active(emu))
    accounts = emu.data.account_by_id
    for row in rows:
        assert isinstance(row["TimePeriod"], date) and isinstance(row["Impressions"], int)
        assert isinstance(row["Spend"], Decimal) and isinstance(row["Ctr"], Decimal)
        assert row["AccountName"] == accounts[row["AccountId"]].name
        assert row["CurrencyCode"] == accounts[row["AccountId"]].currency_code
    assert metadata.last_completed_day == emu.reporting.last_completed_day
    counters = emu.reporting.counters
    assert counters["credential_rejections"] == 0 and counters["downloads"] == 1


@pytest.mark.parametrize(
    "fault",
    [{"kind": "truncate"}, {"kind": "reset"}, {"kind": "corrupt"}, {"kind": "expired"}, {"status": 503}],
    ids=["truncate", "reset", "corrupt", "expired", "503"],
)
def test_download_faults_recover(
    msads_emulator: Emulator,
    client: MicrosoftAdsClient,
    fault: dict[str, Any],
    caplog: pytest.LogCaptureFixture,
) -> None:
    emu = msads_emulator
    caplog.set_level(logging.INFO)
    emu.faults.inject("download", **fault)
    with client.run_report(request_for(emu)) as report:
        assert sum(1 for _ in report) == 3 * len(active(emu))
    retried = [r for r in caplog.records if "retrying" in r.getMessage() or "expired" in r.getMessage()]
    assert len(retried) == 1, [r.getMessage() for r in caplog.records]
    assert "sig=" not in caplog.text
    assert emu.reporting.counters["credential_rejections"] == 0


def test_expired_urls_are_refreshed_by_polling(msads_emulator: Emulator, client: MicrosoftAdsClient) -> None:
    emu = msads_emulator
    request = request_for(emu)
    report_id = client.submit_report(request)
    status = client.poll_report(report_id)
    while status.status == "Pending":
        status = client.poll_report(report_id)
    polls = emu.reporting.counters["polls"]
    emu.reporting.expire_urls()
    with client.download_report(report_id, status, request) as report:
        assert sum(1 for _ in report) == 3 * len(active(emu))
    assert emu.reporting.counters["expired_url_hits"] == 1
    assert emu.reporting.counters["polls"] == polls + 1


def test_scripted_statuses(msads_emulator: Emulator, client: MicrosoftAdsClient) -> None:
    emu = msads_emulator
    emu.reporting.script(outcome="empty", pending=3)
    with client.run_report(request_for(emu)) as report:
        assert list(report) == [] and report.metadata.rows == 0
    assert emu.reporting.counters["downloads"] == 0
    emu.reporting.script(outcome="error")
    with pytest.raises(ReportFailedError), client.run_report(request_for(emu)):
        pass


def test_throttling_and_service_errors(msads_emulator: Emulator, client: MicrosoftAdsClient) -> None:
    emu = msads_emulator
    emu.faults.inject("SubmitGenerateReport", error_code=207)
    emu.faults.inject("PollGenerateReport", status=503, times=1)
    with client.run_report(request_for(emu)) as report:
        assert sum(1 for _ in report) > 0
    emu.faults.inject("SubmitGenerateReport", error_code=207, times=None)
    with pytest.raises(ReportThrottledError):
        client.submit_report(request_for(emu))


def test_other_report_types_and_grains(msads_emulator: Emulator, client: MicrosoftAdsClient) -> None:
    """Every row of a few report types parses with its column kinds (hourly, weekly, summary)."""
    emu = msads_emulator
    today = emu.reporting.today
    cases = [
        ("KeywordPerformance", ["AccountId", "CampaignId", "AdGroupId", "KeywordId", "Keyword", "Clicks", "Spend",
                                "QualityScore", "Ctr"], "Hourly"),
        ("CampaignPerformance", ["CampaignId", "CampaignName", "Impressions", "ConversionRate"], "Weekly"),
        ("SearchQueryPerformance", ["AccountId", "SearchQuery", "Clicks", "AverageCpc"], "Summary"),
    ]  # fmt: skip
    for report_name, columns, aggregation in cases:
        request = ReportRequest(
            report=report_name, columns=columns, aggregation=aggregation, start=today - timedelta(days=1),
            end=today - timedelta(days=1), account_ids=active(emu)[:2],
        )  # fmt: skip
        with client.run_report(request) as report:
            rows = list(report)
        assert rows, report_name
        kinds = report.kinds
        for row in rows:
            for column, value in row.items():
                expected = {"integer": int, "decimal": Decimal, "date": date, "text": str}.get(kinds[column])
                if value is not None and expected is not None:
                    assert isinstance(value, expected), (report_name, column, value)
        if aggregation == "Hourly":
            assert all(r["TimePeriod"].hour in range(24) for r in rows)
    assert emu.reporting.counters["credential_rejections"] == 0
