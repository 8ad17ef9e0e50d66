"""MicrosoftAdsClient reporting: submit -> poll -> download -> rows, over an httpx.MockTransport fake.

The fake validates every Submit body against the contract schema and fails any storage request that
carries an API credential (``fake.violations``, asserted empty).
"""

from __future__ import annotations

import logging
from datetime import date
from decimal import Decimal

import httpx
import pytest
from msads_client_fakes import ACCESS_TOKENS, DEVELOPER_TOKEN, Sleeps
from reporting_fakes import SAS, STORAGE, FakeReporting, csv_report, make_client, sample, zipped

from airflow_provider_msads.client.errors import ApiError, ThrottledError, TransportError
from airflow_provider_msads.client.reporting import (
    InvalidColumnError,
    ReportDownloadError,
    ReportFailedError,
    ReportNotFoundError,
    ReportRequest,
    ReportRowCountError,
    ReportStatus,
    ReportThrottledError,
    ReportTimeoutError,
    TooManyAccountsError,
)
from airflow_provider_msads.client.reporting.protocol import parse_poll_response, poll_request
from airflow_provider_msads.client.retry import RetryPolicy

DAILY_COLUMNS = ["TimePeriod", "AccountId", "AccountName", "CurrencyCode", "Impressions", "Clicks", "Ctr",
                 "AverageCpc", "Spend", "ConversionsQualified", "Revenue"]  # fmt: skip


def daily_request(accounts: list[int] | range = (100000001, 100000002)) -> ReportRequest:  # type: ignore[assignment]
    return ReportRequest(
        report="AccountPerformance",
        columns=DAILY_COLUMNS,
        aggregation="Daily",
        start=date(2026, 6, 1),
        end=date(2026, 6, 3),
        account_ids=list(accounts),
    )


def test_run_report_end_to_end_with_the_sample_file() -> None:
    fake = FakeReporting(
        pending_polls=2, file_for_submit=lambda body, i: sample("AccountPerformance.daily.header-footer.zip")
    )
    sleeps = Sleeps()
    with make_client(fake, sleeps) as client, client.run_report(daily_request()) as report:
        rows = list(report)
        assert report.metadata.rows == 6
        assert report.metadata.last_completed_day == date(2026, 6, 4)
        assert report.metadata.aggregation == "Daily"
        assert report.kinds["Ctr"] == "decimal" and report.kinds["TimePeriod"] == "date"
        assert list(report) == rows  # re-iterable inside the block
    assert rows[0] == {
        "TimePeriod": date(2026, 6, 1), "AccountId": 100000001, "AccountName": "Fictitious Shoes Ltd",
        "CurrencyCode": "USD", "Impressions": 1520, "Clicks": 34, "Ctr": Decimal("2.24"),
        "AverageCpc": Decimal("0.41"), "Spend": Decimal("13.94"), "ConversionsQualified": Decimal("2.00"),
        "Revenue": Decimal("180.00"),
    }  # fmt: skip
    assert len(rows) == 6
    assert fake.violations == []
    assert len(fake.submits) == 1 and len(fake.polls) == 3 and len(fake.downloads) == 1
    assert sleeps == [1.0, 2.0]  # the poll schedule, no sleep before the first poll
    # The API calls carry the account context; the storage request nothing but ordinary headers.
    assert fake.api_requests[0].headers["CustomerAccountId"] == "100000001"
    assert fake.api_requests[0].headers["CustomerId"] == "900000001"
    assert set(fake.downloads[0].headers) <= {"host", "accept", "accept-encoding", "connection", "user-agent"}


def test_files_are_deleted_after_the_block() -> None:
    fake = FakeReporting(file_for_submit=lambda body, i: sample("AccountPerformance.daily.header-footer.zip"))
    with make_client(fake) as client:
        with client.run_report(daily_request()) as report:
            path = report._files[0].path
            assert path.exists()
        assert not path.exists()


def test_more_than_1000_accounts_are_split_and_merged() -> None:
    def file_for(body: dict, index: int) -> bytes:
        ids = body["ReportRequest"]["Scope"]["AccountIds"]
        rows = [
            ["2026-06-01", i, f"acct {i}", "USD", "10", "1", "10.00%", "0.10", "0.10", "0.00", "0.00"]
            for i in ids[:3]
        ]
        text = csv_report(rows, DAILY_COLUMNS)
        if index == 1:  # the second part is less complete: the merged metadata must say so
            text = text.replace(b"Day: 6/2/2026", b"Day: 6/1/2026")
        return zipped(text)

    fake = FakeReporting(file_for_submit=file_for)
    with make_client(fake) as client, client.run_report(daily_request(range(1, 2501))) as report:
        rows = list(report)
        metadata = report.metadata
    assert [len(b["ReportRequest"]["Scope"]["AccountIds"]) for b in fake.submits] == [1000, 1000, 500]
    assert [r["AccountId"] for r in rows] == [1, 2, 3, 1001, 1002, 1003, 2001, 2002, 2003]
    assert metadata.rows == 9 and metadata.last_completed_day == date(2026, 6, 1)
    assert metadata.potential_incomplete_data is True
    assert fake.violations == []
    # All parts were submitted before the first poll (Microsoft builds them in parallel).
    kinds = [str(r.url).rsplit("/", 1)[-1] for r in fake.api_requests]
    assert kinds[:3] == ["Submit", "Submit", "Submit"]


def test_success_without_url_is_an_empty_report_without_download() -> None:
    fake = FakeReporting(file_for_submit=lambda body, i: None)
    with make_client(fake) as client, client.run_report(daily_request()) as report:
        assert list(report) == []
        assert report.columns == tuple(DAILY_COLUMNS)
        assert report.metadata.rows == 0
    assert fake.downloads == []


def test_error_status_is_a_typed_error() -> None:
    fake = FakeReporting()
    fake.script.append(
        ("poll", lambda r: httpx.Response(200, json={"ReportRequestStatus": {"Status": "Error"}}))
    )
    fake.file_for_submit = lambda body, i: b""
    client = make_client(fake)
    with (
        client,
        pytest.raises(ReportFailedError, match="submit it again"),
        client.run_report(daily_request()),
    ):
        pass


def test_pending_beyond_the_total_wait_times_out_with_the_id() -> None:
    fake = FakeReporting(pending_polls=1000, file_for_submit=lambda body, i: b"")
    sleeps = Sleeps()
    client = make_client(fake, sleeps, max_wait=20.0, poll_intervals=(1.0, 5.0))
    with client, pytest.raises(ReportTimeoutError) as info, client.run_report(daily_request()):
        pass
    assert info.value.report_request_id == "1_100001"
    assert sum(sleeps) <= 20.0 and len(fake.polls) == len(sleeps) + 1
    assert isinstance(info.value, TransportError)


def test_expired_url_is_refreshed_by_polling_again() -> None:
    fake = FakeReporting(file_for_submit=lambda body, i: sample("AccountPerformance.daily.header-footer.zip"))
    fake.script.append(
        ("storage", lambda r: httpx.Response(403, text="AuthenticationFailed: Signed expiry time"))
    )
    with make_client(fake) as client, client.run_report(daily_request()) as report:
        assert len(list(report)) == 6
    assert len(fake.downloads) == 2 and len(fake.polls) == 2
    assert fake.violations == []


def test_url_that_keeps_expiring_fails_after_the_refreshes() -> None:
    fake = FakeReporting(file_for_submit=lambda body, i: sample("AccountPerformance.daily.header-footer.zip"))
    for _ in range(5):
        fake.script.append(("storage", lambda r: httpx.Response(404)))
    with (
        make_client(fake, url_refreshes=2) as client,
        pytest.raises(ReportDownloadError, match="expired 3 times"),
        client.run_report(daily_request()),
    ):
        pass
    assert len(fake.downloads) == 3


@pytest.mark.parametrize(
    "failure",
    [
        lambda r: httpx.Response(503),
        lambda r: (_ for _ in ()).throw(httpx.ReadError("connection reset", request=r)),
        lambda r: httpx.Response(200, content=sample("AccountPerformance.daily.header-footer.zip")[:300]),
        lambda r: httpx.Response(200, content=b"PK\x03\x04garbage" * 10),
    ],
    ids=["5xx", "reset", "truncated", "corrupt"],
)
def test_download_failures_are_retried(failure: object) -> None:
    fake = FakeReporting(file_for_submit=lambda body, i: sample("AccountPerformance.daily.header-footer.zip"))
    fake.script.append(("storage", failure))  # type: ignore[arg-type]
    sleeps = Sleeps()
    with make_client(fake, sleeps) as client, client.run_report(daily_request()) as report:
        assert len(list(report)) == 6
    assert len(fake.downloads) == 2 and len(sleeps) == 1


def test_download_failing_every_time_raises_after_the_attempts() -> None:
    fake = FakeReporting(file_for_submit=lambda body, i: sample("AccountPerformance.daily.header-footer.zip"))
    for _ in range(3):
        fake.script.append(("storage", lambda r: httpx.Response(500)))
    with (
        make_client(fake, download_attempts=3) as client,
        pytest.raises(ReportDownloadError, match="HTTP 500"),
        client.run_report(daily_request()),
    ):
        pass
    assert len(fake.downloads) == 3


def test_download_size_is_bounded() -> None:
    fake = FakeReporting(file_for_submit=lambda body, i: sample("AccountPerformance.daily.header-footer.zip"))
    with (
        make_client(fake, max_download_bytes=100) as client,
        pytest.raises(ReportDownloadError, match="100-byte"),
        client.run_report(daily_request()),
    ):
        pass
    assert len(fake.downloads) == 1  # a size limit is not retried


def test_row_count_mismatch_is_an_error_never_a_short_table() -> None:
    rows = [["2026-06-01", "1", "a", "USD", "1", "0", "0.00%", "0", "0", "0", "0"]] * 3
    fake = FakeReporting(file_for_submit=lambda body, i: zipped(csv_report(rows, DAILY_COLUMNS, rows_line=4)))
    client = make_client(fake)
    with (
        client,
        client.run_report(daily_request()) as report,
        pytest.raises(ReportRowCountError, match="Rows: 4 but"),
    ):
        list(report)


def test_throttling_207_on_submit_is_retried_after_a_wait() -> None:
    fault = {"Type": "AdApiFaultDetail", "Errors": [{"Code": 207, "ErrorCode": "ConcurrentRequestOverLimit",
                                                     "Message": "too many"}]}  # fmt: skip
    fake = FakeReporting(file_for_submit=lambda body, i: sample("AccountPerformance.daily.header-footer.zip"))
    fake.script.append(("submit", lambda r: httpx.Response(400, json=fault, headers={"TrackingId": "t207"})))
    sleeps = Sleeps()
    patient = RetryPolicy(max_attempts=3, max_total_seconds=600.0, backoff_base=0.001, backoff_max=0.002)
    with make_client(fake, sleeps, retry=patient) as client, client.run_report(daily_request()) as report:
        assert len(list(report)) == 6
    assert sleeps[0] == 60.0  # the documented throttle: wait, then retry


def test_throttling_207_that_persists_is_typed_and_transient() -> None:
    fault = {"Type": "AdApiFaultDetail", "Errors": [{"Code": 207, "Message": "too many"}]}
    fake = FakeReporting()
    for _ in range(10):
        fake.script.append(
            ("submit", lambda r: httpx.Response(400, json=fault, headers={"TrackingId": "t207"}))
        )
    with make_client(fake) as client, pytest.raises(ReportThrottledError) as info:
        client.submit_report(daily_request())
    assert isinstance(info.value, ThrottledError)
    assert info.value.tracking_id == "t207" and "207" in str(info.value)


@pytest.mark.parametrize(
    ("code", "cls", "fix"),
    [
        (2015, InvalidColumnError, "column list"),
        (2034, InvalidColumnError, "TimePeriod cannot be requested with Summary"),
        (2029, TooManyAccountsError, "split"),
        (2003, ApiError, "may not report on an account"),
        (2011, ApiError, "fix the dates"),
    ],
)
def test_reporting_fault_codes_are_typed_with_a_fix(code: int, cls: type[Exception], fix: str) -> None:
    secret = ACCESS_TOKENS[0]
    fault = {"Type": "AdApiFaultDetail", "TrackingId": "trk-x",
             "Errors": [{"Code": code, "ErrorCode": "X", "Message": f"echo {secret} {DEVELOPER_TOKEN}"}]}  # fmt: skip
    fake = FakeReporting()
    fake.script.append(("submit", lambda r: httpx.Response(400, json=fault, headers={"TrackingId": "trk-h"})))
    with make_client(fake) as client, pytest.raises(cls) as info:
        client.submit_report(daily_request())
    text = str(info.value)
    assert fix in text and "trk-h" in text and str(code) in text
    assert secret not in text and DEVELOPER_TOKEN not in text
    assert len(fake.api_requests) == 1  # terminal: not retried


def test_unknown_report_id_on_poll() -> None:
    fake = FakeReporting()
    with make_client(fake) as client, pytest.raises(ReportNotFoundError, match="submit the report again"):
        client.poll_report("does-not-exist")


def test_token_expired_109_on_poll_refreshes_once() -> None:
    fault = {"Type": "AdApiFaultDetail", "Errors": [{"Code": 109, "Message": "expired"}]}
    fake = FakeReporting(files={"r1": sample("AccountPerformance.daily.header-footer.zip")})
    fake.script.append(("poll", lambda r: httpx.Response(401, json=fault)))
    with make_client(fake) as client:
        status = client.poll_report("r1")
    assert status.status == "Success"
    tokens = [r.headers["Authorization"] for r in fake.api_requests]
    assert tokens == [f"Bearer {ACCESS_TOKENS[0]}", f"Bearer {ACCESS_TOKENS[1]}"]


def test_submit_poll_download_step_by_step_and_url_never_logged(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    fake = FakeReporting(file_for_submit=lambda body, i: sample("AccountPerformance.daily.header-footer.zip"))
    fake.script.append(("storage", lambda r: httpx.Response(503)))
    request = daily_request()
    with make_client(fake) as client:
        report_id = client.submit_report(request)
        status = client.poll_report(report_id)
        assert status.status == "Success" and status.download_url is not None
        assert "sig=" not in repr(status) and "?<redacted>" in repr(status) and "sig=" not in str(status)
        with client.download_report(report_id, status, request) as report:
            assert len(list(report)) == 6
        with client.download_report(report_id, status) as report:  # without the request: kinds from the file
            assert report.kinds["AccountId"] == "integer" and len(list(report)) == 6
    assert SAS.split("&")[-1] not in caplog.text and "SECRETSIGNATURE" not in caplog.text
    assert any("503" in r.getMessage() for r in caplog.records)


def test_download_report_with_success_and_no_url_is_empty() -> None:
    fake = FakeReporting()
    with make_client(fake) as client, client.download_report("r1", ReportStatus("Success", None)) as report:
        assert list(report) == [] and report.metadata.rows == 0
    assert fake.downloads == []


def test_storage_never_sees_credentials_even_from_client_defaults() -> None:
    """A caller's httpx.Client with default auth headers still sends none of them to storage."""
    fake = FakeReporting(file_for_submit=lambda body, i: sample("AccountPerformance.daily.header-footer.zip"))
    client = make_client(fake)
    client._http.headers.update({"Authorization": "Bearer LEAK-LEAK-LEAK", "CustomerId": "1"})
    with client, client.run_report(daily_request()) as report:
        list(report)
    assert fake.violations == []
    assert all("authorization" not in r.headers for r in fake.downloads)


def test_non_https_download_url_is_refused() -> None:
    with pytest.raises(Exception, match="not https"):
        parse_poll_response(
            200,
            {},
            b'{"ReportRequestStatus": {"Status": "Success", "ReportDownloadUrl": "http://evil.example/x.zip"}}',
        )
    ok = parse_poll_response(
        200,
        {},
        b'{"ReportRequestStatus": {"Status": "Success", "ReportDownloadUrl": "http://127.0.0.1:5/x.zip"}}',
    )
    assert ok.download_url == "http://127.0.0.1:5/x.zip"


def test_sans_io_poll_pieces() -> None:
    from airflow_provider_msads.client.environments import resolve_endpoints

    endpoints = resolve_endpoints("sandbox")
    url, body = poll_request(endpoints, "15012345678_161234567890")
    assert url == "https://reporting.api.sandbox.bingads.microsoft.com/Reporting/v13/GenerateReport/Poll"
    assert body == {"ReportRequestId": "15012345678_161234567890"}
    pending = parse_poll_response(200, {"TrackingId": "t"}, b'{"ReportRequestStatus": {"Status": "Pending"}}')
    assert pending == ReportStatus("Pending", None)
    done = parse_poll_response(
        200,
        {},
        f'{{"ReportRequestStatus": {{"Status": "Success", "ReportDownloadUrl": "{STORAGE}/b.zip?{SAS}"}}}}'.encode(),
    )
    assert done.download_url == f"{STORAGE}/b.zip?{SAS}"
    fault = b'{"Type": "AdApiFaultDetail", "Errors": [{"Code": 207, "Message": "busy"}]}'
    with pytest.raises(ReportThrottledError):
        parse_poll_response(400, {"TrackingId": "t207"}, fault)
    with pytest.raises(ReportNotFoundError):
        parse_poll_response(400, {}, b'{"Type": "AdApiFaultDetail", "Errors": [{"Code": 2101}]}')
    with pytest.raises(TransportError):  # an HTML error page from a proxy
        parse_poll_response(200, {}, b"<html>gateway</html>")


def test_report_request_over_1000_accounts_is_refused_by_submit_report() -> None:
    fake = FakeReporting()
    with make_client(fake) as client, pytest.raises(Exception, match="call split"):
        client.submit_report(daily_request(range(1, 1002)))
    assert fake.api_requests == []


def test_reporting_endpoints() -> None:
    from airflow_provider_msads.client.environments import resolve_endpoints

    assert (
        resolve_endpoints("production").reporting_rest_url
        == "https://reporting.api.bingads.microsoft.com/Reporting/v13/"
    )
    assert resolve_endpoints("production", api_base_url="http://127.0.0.1:8080").reporting_rest_url == (
        "http://127.0.0.1:8080/Reporting/v13/"
    )
