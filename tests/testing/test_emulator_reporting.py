"""Reporting v13 on the emulator, over real HTTP: Submit/Poll, the storage origin, files, faults."""

from __future__ import annotations

import re
from datetime import date, timedelta
from urllib.parse import urlsplit

import httpx
import pytest
from reporting_helpers import (
    ACCOUNT_COLUMNS,
    POLL,
    SUBMIT,
    active_accounts,
    api_headers,
    body,
    download,
    poll,
    read_report,
    run,
    schema_errors,
    submit,
)

from airflow_provider_msads.testing import Emulator

TODAY = date(2026, 6, 5)

HEADER_KEYS = [
    "Report Name",
    "Report Time",
    "Time Zone",
    "Last Completed Available Day",
    "Last Completed Available Hour",
    "Report Aggregation",
    "Report Filter",
    "Potential Incomplete Data",
    "Rows",
]


@pytest.fixture
def emu(msads_emulator: Emulator) -> Emulator:
    msads_emulator.reporting.set_today(TODAY)
    return msads_emulator


def account_daily(emu: Emulator, n: int = 2, days: int = 3, **extra: object) -> dict[str, object]:
    end = TODAY - timedelta(days=2)
    return body(account_ids=active_accounts(emu)[:n], start=end - timedelta(days=days - 1), end=end, **extra)


# ---------------------------------------------------------------------- the happy path
def test_submit_poll_download_account_performance_daily(emu: Emulator, http: httpx.Client) -> None:
    request = account_daily(emu, ReportName="Account performance daily")
    assert schema_errors(request, "SubmitGenerateReportRequest") == []
    response = submit(http, emu, request)
    assert response.status_code == 200, response.text
    assert response.headers["TrackingId"]
    rid = response.json()["ReportRequestId"]
    assert re.fullmatch(r"\d{11}_\d{12}", rid), rid  # observed shape, e.g. 15012345678_161234567890

    assert poll(http, emu, rid) == {"ReportDownloadUrl": None, "Status": "Pending"}  # default: 1 Pending
    status = poll(http, emu, rid)
    assert status["Status"] == "Success"
    url = status["ReportDownloadUrl"]
    assert urlsplit(url).netloc == urlsplit(emu.storage_url).netloc != urlsplit(emu.url).netloc
    assert "sig=" in url and "se=" in url

    report = read_report(download(http, url))
    assert report.entry == rid.split("_")[0] + ".csv"
    assert [k for k, _ in report.header] == HEADER_KEYS
    meta = report.meta
    assert meta["Report Name"] == "Account performance daily"
    assert meta["Report Time"] == "6/1/2026,6/3/2026"
    assert meta["Time Zone"] == "(GMT-08:00) Pacific Time (US & Canada); Tijuana"
    assert meta["Last Completed Available Day"] == "6/4/2026 10:15:00 PM (GMT)"
    assert meta["Report Aggregation"] == "Daily"
    assert meta["Report Filter"] == ""
    assert meta["Potential Incomplete Data"] == "false"
    assert meta["Rows"] == "6" == str(len(report.rows))
    assert report.columns == ACCOUNT_COLUMNS
    assert report.footer == "\u00a92026 Microsoft Corporation. All rights reserved. "

    accounts = {a: emu.data.account_by_id[a] for a in active_accounts(emu)[:2]}
    days = {"2026-06-01", "2026-06-02", "2026-06-03"}
    assert {(r["TimePeriod"], int(r["AccountId"])) for r in report.dicts()} == {
        (d, a) for d in days for a in accounts
    }
    for row in report.dicts():
        account = accounts[int(row["AccountId"])]
        assert row["AccountName"] == account.name
        assert row["CurrencyCode"] == account.currency_code
        impressions, clicks = int(row["Impressions"]), int(row["Clicks"])
        assert 0 <= clicks <= impressions
        assert re.fullmatch(r"\d+\.\d\d%", row["Ctr"])
        expected_ctr = round(100 * clicks / impressions, 2) if impressions else 0.0
        assert abs(float(row["Ctr"][:-1]) - expected_ctr) < 0.006
        assert re.fullmatch(r"\d+\.\d\d", row["Spend"]) and re.fullmatch(r"\d+\.\d\d", row["Revenue"])

    counters = emu.reporting.counters
    assert (counters["submits"], counters["polls"], counters["downloads"]) == (1, 2, 1)
    assert counters["credential_rejections"] == 0
    assert emu.counters["SubmitGenerateReport"] == 1 and emu.counters["PollGenerateReport"] == 2


def test_same_request_same_file_content(emu: Emulator, http: httpx.Client) -> None:
    emu.reporting.pending_polls = 0
    first = read_report(download(http, run(http, emu, account_daily(emu))["ReportDownloadUrl"]))
    second = read_report(download(http, run(http, emu, account_daily(emu))["ReportDownloadUrl"]))
    assert first.rows == second.rows and first.rows


@pytest.mark.parametrize("pending", [0, 3])
def test_pending_polls_are_scriptable(emu: Emulator, http: httpx.Client, pending: int) -> None:
    emu.reporting.script(pending=pending)
    rid = submit(http, emu, account_daily(emu)).json()["ReportRequestId"]
    statuses = [poll(http, emu, rid)["Status"] for _ in range(pending + 1)]
    assert statuses == ["Pending"] * pending + ["Success"]
    assert emu.reporting.job(rid).polls == pending + 1


def test_scripted_error_and_empty_outcomes(emu: Emulator, http: httpx.Client) -> None:
    emu.reporting.pending_polls = 0
    emu.reporting.script(outcome="error")
    emu.reporting.script(outcome="empty")
    assert run(http, emu, account_daily(emu))["Status"] == "Error"
    empty = run(http, emu, account_daily(emu))
    assert (empty["Status"], empty["ReportDownloadUrl"]) == ("Success", None)
    normal = run(http, emu, account_daily(emu))
    assert normal["Status"] == "Success" and normal["ReportDownloadUrl"]


def test_no_rows_means_success_without_url(emu: Emulator, http: httpx.Client) -> None:
    idle = [
        a
        for a in emu.expected_account_ids
        if emu.data.account_by_id[a].lifecycle_status in ("Draft", "Pending")
    ]
    assert idle, "the 25-account world has Draft/Pending accounts"
    emu.reporting.pending_polls = 0
    status = run(
        http,
        emu,
        body(
            account_ids=idle[:1],
            predefined="Yesterday",
            aggregation="Summary",
            columns=["AccountId", "AccountName", "Impressions", "Clicks", "Spend"],
        ),
    )
    assert status["Status"] == "Success" and status["ReportDownloadUrl"] is None
    assert emu.reporting.job(status["ReportRequestId"]).file.rows == 0  # type: ignore[union-attr]


# ---------------------------------------------------------------------- the storage origin
@pytest.mark.parametrize(
    "header",
    [
        {"Authorization": "Bearer x"},
        {"DeveloperToken": "EMUDEMO0DEVTOKEN42"},
        {"CustomerId": "1"},
        {"CustomerAccountId": "2"},
        {"AuthenticationToken": "x"},
    ],
)
def test_storage_rejects_credential_headers(
    emu: Emulator, http: httpx.Client, header: dict[str, str]
) -> None:
    emu.reporting.pending_polls = 0
    url = run(http, emu, account_daily(emu))["ReportDownloadUrl"]
    rejected = http.get(url, headers=header)
    assert rejected.status_code == 403
    assert b"AuthenticationFailed" in rejected.content
    counters = emu.reporting.counters
    assert counters["credential_rejections"] == 1 and counters["downloads"] == 0
    assert emu.reporting.rejected_headers == [tuple(h.lower() for h in header)]
    assert download(http, url)  # the same URL works without the header
    assert emu.reporting.counters["downloads"] == 1


def test_download_url_expires_and_poll_gives_a_fresh_one(emu: Emulator, http: httpx.Client) -> None:
    emu.reporting.pending_polls = 0
    status = run(http, emu, account_daily(emu))
    url = status["ReportDownloadUrl"]
    assert emu.reporting.expire_urls() == 1
    assert http.get(url).status_code == 403
    fresh = poll(http, emu, status["ReportRequestId"])
    assert fresh["Status"] == "Success" and fresh["ReportDownloadUrl"] != url
    assert read_report(download(http, fresh["ReportDownloadUrl"])).rows
    assert emu.reporting.counters["expired_url_hits"] == 1


def test_url_lifetime_follows_the_emulator_clock(emu: Emulator, http: httpx.Client) -> None:
    emu.reporting.pending_polls = 0
    assert emu.reporting.url_lifetime == 300.0  # Microsoft: valid for 5 minutes
    url = run(http, emu, account_daily(emu))["ReportDownloadUrl"]
    emu.advance_clock(299)
    assert http.get(url).status_code == 200
    emu.advance_clock(2)
    assert http.get(url).status_code == 403
    emu.reporting.url_lifetime = 0.5
    short = poll(http, emu, emu.reporting.jobs[0].report_request_id)["ReportDownloadUrl"]
    emu.advance_clock(1)
    assert http.get(short).status_code == 403
    assert emu.reporting.counters["expired_url_hits"] == 2


def test_forged_signature_is_rejected(emu: Emulator, http: httpx.Client) -> None:
    emu.reporting.pending_polls = 0
    url = run(http, emu, account_daily(emu))["ReportDownloadUrl"]
    assert http.get(re.sub(r"sig=[^&]+", "sig=AAAA", url)).status_code == 403
    assert http.get(url.split("?")[0]).status_code == 403
    assert emu.reporting.counters["bad_signature"] == 2


# ---------------------------------------------------------------------- validation like the service
def _fault(response: httpx.Response) -> tuple[int, str, int, str | None]:
    payload = response.json()
    assert schema_errors(payload, "ApplicationFault") == [], payload
    assert payload["TrackingId"] == response.headers["TrackingId"]
    errors = payload.get("OperationErrors") or payload.get("Errors")
    error = errors[0]
    return response.status_code, payload["Type"], error["Code"], error.get("ErrorCode")


def _with(request: dict[str, object], **changes: object) -> dict[str, object]:
    rr = dict(request["ReportRequest"])  # type: ignore[call-overload]
    for key, value in changes.items():
        if value is None:
            rr.pop(key, None)
        else:
            rr[key] = value
    return {"ReportRequest": rr}


def test_invalid_requests_get_the_documented_codes(emu: Emulator, http: httpx.Client) -> None:
    good = account_daily(emu)
    rr = good["ReportRequest"]
    foreign = next(a.id for a in emu.data.accounts if a.id not in set(emu.expected_account_ids))
    cases = {
        "no ReportRequest": ({"Nothing": 1}, 2001),
        "unknown type": (_with(good, Type="AccountPerformanceReportRequestX"), 2002),
        "base type": (_with(good, Type="ReportRequest"), 2002),
        "unknown column": (_with(good, Columns=[*ACCOUNT_COLUMNS[:-1], "Impression"]), 201),
        "no columns": (_with(good, Columns=[]), 2014),
        "duplicate column": (_with(good, Columns=[*ACCOUNT_COLUMNS, "Clicks"]), 2016),
        "missing aggregation": (_with(good, Aggregation=None), 2007),
        "timeperiod with summary": (_with(good, Aggregation="Summary"), 2034),
        "missing time": (_with(good, Time=None), 2008),
        "predefined and custom": (
            _with(good, Time={**rr["Time"], "PredefinedTime": "Yesterday"}),  # type: ignore[dict-item]
            2008,
        ),
        "end before start": (
            _with(good, Time={**rr["Time"], "CustomDateRangeEnd": {"Day": 1, "Month": 5, "Year": 2026}}),  # type: ignore[dict-item]
            2011,
        ),
        "month 13": (
            _with(good, Time={**rr["Time"], "CustomDateRangeEnd": {"Day": 1, "Month": 13, "Year": 2026}}),  # type: ignore[dict-item]
            2010,
        ),
        "start in the future": (
            _with(
                good,
                Time={  # type: ignore[dict-item]
                    "CustomDateRangeStart": {"Day": 7, "Month": 6, "Year": 2026},
                    "CustomDateRangeEnd": {"Day": 8, "Month": 6, "Year": 2026},
                },
            ),
            2041,
        ),
        "no scope": (_with(good, Scope=None), 2026),
        "empty scope": (_with(good, Scope={"AccountIds": []}), 2026),
        "1001 accounts": (_with(good, Scope={"AccountIds": [str(10**9 + i) for i in range(1001)]}), 2029),
        "not an id": (_with(good, Scope={"AccountIds": ["12x"]}), 2035),
        "foreign account": (_with(good, Scope={"AccountIds": [str(foreign)]}), 2003),
        "report name too long": (_with(good, ReportName="x" * 201), 2006),
        "complete data for today": (
            _with(good, ReturnOnlyCompleteData=True, Time={"PredefinedTime": "Today"}),
            2005,
        ),
    }
    for name, (request, code) in cases.items():
        response = http.post(emu.url + SUBMIT, json=request, headers=api_headers(emu))
        status, fault_type, got, error_code = _fault(response)
        assert got == code, f"{name}: {response.text}"
        assert status == 400, name
        assert fault_type == ("ApiFaultDetail" if code >= 2000 else "AdApiFaultDetail"), name
        assert error_code, name
    assert emu.reporting.counters["submits"] == 0


def test_unknown_column_fault_names_it(emu: Emulator, http: httpx.Client) -> None:
    response = submit(http, emu, _with(account_daily(emu), Columns=["TimePeriod", "AccountId", "Impression"]))
    assert "'Impression'" in response.json()["Errors"][0]["Detail"]


def test_credentials_are_checked_like_customer_management(emu: Emulator, http: httpx.Client) -> None:
    request = account_daily(emu)
    headers = api_headers(emu)
    cases = [
        ({k: v for k, v in headers.items() if k != "Authorization"}, 105),
        ({**headers, "Authorization": "Bearer nope"}, 105),
        ({k: v for k, v in headers.items() if k != "DeveloperToken"}, 105),
        ({**headers, "DeveloperToken": "BBD37VB98"}, 105),  # sandbox token with a production access token
        ({**headers, "CustomerId": "1"}, 106),
        ({**headers, "CustomerAccountId": "1"}, 106),
    ]
    for sent, code in cases:
        response = http.post(emu.url + SUBMIT, json=request, headers=sent)
        assert _fault(response)[2] == code, response.text
    emu.expire_access_tokens()
    assert _fault(http.post(emu.url + SUBMIT, json=request, headers=headers))[2:3] == (109,)
    without_customer = api_headers(emu, customer=False)
    assert http.post(emu.url + SUBMIT, json=request, headers=without_customer).status_code == 200


def test_poll_of_an_unknown_or_foreign_id(emu: Emulator, http: httpx.Client) -> None:
    headers = api_headers(emu)
    assert _fault(http.post(emu.url + POLL, json={"ReportRequestId": "1_2"}, headers=headers))[2] == 2101
    assert _fault(http.post(emu.url + POLL, json={}, headers=headers))[2] == 2100
    rid = submit(http, emu, account_daily(emu)).json()["ReportRequestId"]
    other_user = next(u.id for u in emu.data.users if u.id != emu.demo_user_id)
    other = {**headers, "Authorization": "Bearer " + emu.issue_access_token(other_user)}
    other.pop("CustomerId")
    other.pop("CustomerAccountId")
    assert _fault(http.post(emu.url + POLL, json={"ReportRequestId": rid}, headers=other))[2] == 2101


# ---------------------------------------------------------------------- faults
def test_submit_throttling_and_5xx(emu: Emulator, http: httpx.Client) -> None:
    emu.faults.inject("SubmitGenerateReport", error_code=207)
    emu.faults.inject("SubmitGenerateReport", status=503, after=1)
    emu.faults.inject("SubmitGenerateReport", status=429, retry_after=3, after=2)
    throttled = submit(http, emu, account_daily(emu))
    assert _fault(throttled)[1:] == ("ApiFaultDetail", 207, "ConcurrentRequestOverLimit")
    unavailable = submit(http, emu, account_daily(emu))
    assert _fault(unavailable)[:3] == (503, "AdApiFaultDetail", 0)
    too_many = submit(http, emu, account_daily(emu))
    assert too_many.status_code == 429 and too_many.headers["Retry-After"] == "3"
    assert submit(http, emu, account_daily(emu)).status_code == 200
    assert emu.faults.pending == []


def test_concurrency_limit_answers_207(emu: Emulator, http: httpx.Client) -> None:
    emu.reporting.max_concurrent_reports = 1
    rid = submit(http, emu, account_daily(emu)).json()["ReportRequestId"]
    assert _fault(submit(http, emu, account_daily(emu)))[2] == 207
    while poll(http, emu, rid)["Status"] == "Pending":
        pass
    assert submit(http, emu, account_daily(emu)).status_code == 200
    assert emu.reporting.counters["throttled"] == 1


def test_poll_faults(emu: Emulator, http: httpx.Client) -> None:
    emu.reporting.pending_polls = 0
    rid = submit(http, emu, account_daily(emu)).json()["ReportRequestId"]
    emu.faults.inject("PollGenerateReport", status=500, times=2)
    emu.faults.inject("PollGenerateReport", kind="reset", after=2)
    headers = api_headers(emu)
    for _ in range(2):
        assert http.post(emu.url + POLL, json={"ReportRequestId": rid}, headers=headers).status_code == 500
    with pytest.raises(httpx.TransportError):
        http.post(emu.url + POLL, json={"ReportRequestId": rid}, headers=headers)
    assert poll(http, emu, rid)["Status"] == "Success"


@pytest.mark.parametrize("kind", ["truncate", "reset", "corrupt", "expired"])
def test_download_faults(emu: Emulator, http: httpx.Client, kind: str) -> None:
    emu.reporting.pending_polls = 0
    url = run(http, emu, account_daily(emu))["ReportDownloadUrl"]
    emu.faults.inject("download", kind=kind)  # type: ignore[arg-type]
    if kind in ("truncate", "reset"):
        with pytest.raises(httpx.TransportError):
            http.get(url)
    elif kind == "corrupt":
        damaged = http.get(url)
        assert damaged.status_code == 200
        import zipfile

        with pytest.raises(zipfile.BadZipFile):
            read_report(damaged.content)
    else:
        assert http.get(url).status_code == 403
        assert emu.reporting.counters["expired_url_hits"] == 1
    assert read_report(download(http, url)).rows  # the fault was one-shot


def test_download_5xx(emu: Emulator, http: httpx.Client) -> None:
    emu.reporting.pending_polls = 0
    url = run(http, emu, account_daily(emu))["ReportDownloadUrl"]
    emu.faults.inject("download", status=503)
    response = http.get(url)
    assert response.status_code == 503 and b"ServerBusy" in response.content


def test_download_only_kinds_are_refused_elsewhere() -> None:
    from airflow_provider_msads.testing.faults import FaultInjector

    with pytest.raises(ValueError, match="download"):
        FaultInjector().inject("PollGenerateReport", kind="corrupt")


# ---------------------------------------------------------------------- the command line
def test_cli_serves_reporting_behind_the_same_url(http: httpx.Client) -> None:
    import json
    import os
    import shlex
    import signal
    import subprocess
    import sys

    from msads_emulator_helpers import access_token

    from airflow_provider_msads.testing import DEMO_USER_ID

    proc = subprocess.Popen(
        [sys.executable, "-m", "airflow_provider_msads.testing.cli", "--report-pending-polls", "0",
         "--report-lag-days", "2", "--report-url-lifetime", "60", "--report-today", "2026-06-10"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        lines = [proc.stdout.readline().strip() for _ in range(4)]
        assert lines[0].startswith("export MSADS_EMULATOR_URL=") and lines[1].startswith("export ")
        url = lines[0].partition("=")[2]
        conn = json.loads(shlex.split(lines[1].partition("=")[2])[0])
        assert conn["extra"]["api_base_url"] == url
        storage = lines[3].rsplit(" ", 1)[1]
        assert storage.startswith("http://127.0.0.1:") and storage != url

        class _Cli:  # what the helpers need of an Emulator: url and a token
            pass

        cli = _Cli()
        cli.url = url  # type: ignore[attr-defined]
        token = access_token(http, cli)  # type: ignore[arg-type]
        headers = {"Authorization": f"Bearer {token}", "DeveloperToken": conn["extra"]["developer_token"]}
        accounts = http.post(
            url + "/CustomerManagement/v13/Accounts/Search",
            json={"Predicates": [{"Field": "UserId", "Operator": "Equals", "Value": str(DEMO_USER_ID)}],
                  "PageInfo": {"Index": 0, "Size": 10}},
            headers=headers,
        ).json()["Accounts"]  # fmt: skip
        ids = [a["Id"] for a in accounts if a["AccountLifeCycleStatus"] not in ("Draft", "Pending")][:2]
        request = body(account_ids=[int(i) for i in ids], predefined="LastSevenDays")
        rid = http.post(url + SUBMIT, json=request, headers=headers).json()["ReportRequestId"]
        status = http.post(url + POLL, json={"ReportRequestId": rid}, headers=headers).json()[
            "ReportRequestStatus"
        ]
        assert status["Status"] == "Success" and status["ReportDownloadUrl"].startswith(storage)
        report = read_report(download(http, status["ReportDownloadUrl"]))
        assert len(report.rows) == 14
        assert report.meta["Potential Incomplete Data"] == "true"  # lag 2: yesterday is provisional
        assert report.meta["Report Time"] == "6/3/2026,6/9/2026"  # LastSevenDays of the pinned 2026-06-10
        assert report.meta["Last Completed Available Day"] == "6/8/2026 10:15:00 PM (GMT)"
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=10)


def test_a_stale_report_request_id_gives_success_without_url(emu: Emulator, http: httpx.Client) -> None:
    emu.reporting.pending_polls = 0
    status = run(http, emu, account_daily(emu))
    url = status["ReportDownloadUrl"]
    assert emu.reporting.request_id_lifetime == 86400.0  # "valid for a maximum of one day"
    emu.advance_clock(86401)
    stale = poll(http, emu, status["ReportRequestId"])
    assert stale == {"ReportDownloadUrl": None, "Status": "Success"}  # as observed: not "no data"!
    assert http.get(url).status_code == 403  # the old URL expired long ago; the file is gone too
    assert emu.reporting.counters["stale_polls"] == 1


def test_a_report_whose_build_fails_polls_as_error(
    emu: Emulator, http: httpx.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    from airflow_provider_msads.testing.reporting.files import ReportWriter

    def broken(*args: object, **kwargs: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(ReportWriter, "write", broken)
    emu.reporting.pending_polls = 0
    status = run(http, emu, account_daily(emu))
    assert status == {
        "ReportDownloadUrl": None,
        "Status": "Error",
        "ReportRequestId": status["ReportRequestId"],
    }
    assert emu.reporting.job(status["ReportRequestId"]).error == "OSError: disk full"
