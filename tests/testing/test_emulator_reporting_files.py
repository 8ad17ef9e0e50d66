"""The emulator's report files against Microsoft's layout (the sample files) and the request switches."""

from __future__ import annotations

import json
import re
import zipfile
from datetime import date, timedelta
from pathlib import Path

import httpx
import pytest
from reporting_helpers import (
    SAMPLES,
    active_accounts,
    body,
    download,
    read_report,
    run,
)

from airflow_provider_msads.testing import Emulator

TODAY = date(2026, 6, 5)  # the samples' Last Completed Available Day is 6/4/2026
_FIELD = re.compile(r'"(?:[^"]|"")*"')


@pytest.fixture
def emu(msads_emulator: Emulator) -> Emulator:
    msads_emulator.reporting.set_today(TODAY)
    msads_emulator.reporting.pending_polls = 0
    return msads_emulator


def _sample(name: str) -> tuple[dict[str, object], bytes]:
    request = json.loads((SAMPLES / f"{name}.request.json").read_text(encoding="utf-8"))
    with zipfile.ZipFile(SAMPLES / f"{name}.zip") as archive:
        raw = archive.read(archive.namelist()[0])
    return request, raw


def _skeleton(raw: bytes) -> list[str]:
    """Each line with every quoted field replaced by F: framing without values."""
    text = raw.decode("utf-8")
    assert text.startswith("\ufeff")
    return [_FIELD.sub("F", line) for line in text[1:].split("\r\n")]


def _ours(http: httpx.Client, emu: Emulator, request: dict[str, object]) -> bytes:
    rr = request["ReportRequest"]
    assert isinstance(rr, dict)
    rr["Scope"] = {"AccountIds": [str(a) for a in active_accounts(emu)[: len(rr["Scope"]["AccountIds"])]]}
    status = run(http, emu, request)
    with zipfile.ZipFile(__import__("io").BytesIO(download(http, status["ReportDownloadUrl"]))) as archive:
        assert archive.namelist() == [status["ReportRequestId"].split("_")[0] + ".csv"]
        return archive.read(archive.namelist()[0])


def test_daily_file_has_the_sample_layout(emu: Emulator, http: httpx.Client) -> None:
    request, sample = _sample("AccountPerformance.daily.header-footer")
    ours = _ours(http, emu, request)
    assert ours[:3] == sample[:3] == b"\xef\xbb\xbf"
    assert _skeleton(ours) == _skeleton(sample)  # same lines, same quoting, same blank lines, CRLF
    theirs_lines = sample.decode("utf-8")[1:].split("\r\n")
    our_lines = ours.decode("utf-8")[1:].split("\r\n")
    keys = [line.split(":", 1)[0] for line in theirs_lines[:9]]
    assert [line.split(":", 1)[0] for line in our_lines[:9]] == keys
    # Identical header values where the request fixes them (not Rows: the values are ours)
    for i in range(1, 8):
        assert our_lines[i] == theirs_lines[i], (our_lines[i], theirs_lines[i])
    assert our_lines[0] == theirs_lines[0]  # ReportName of the request
    assert our_lines[9] == theirs_lines[9] == ""  # blank line after the header block
    assert our_lines[10] == theirs_lines[10]  # column header row
    assert our_lines[-2] == theirs_lines[-2]  # footer
    parsed = read_report(zipfile_bytes(ours))
    assert parsed.meta["Rows"] == "6"


def zipfile_bytes(csv_bytes: bytes) -> bytes:
    import io

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("x.csv", csv_bytes)
    return buffer.getvalue()


def test_no_header_no_footer_file_has_the_sample_layout(emu: Emulator, http: httpx.Client) -> None:
    request, sample = _sample("CampaignPerformance.summary.no-header-footer")
    ours = _ours(http, emu, request)
    ours_skeleton, sample_skeleton = _skeleton(ours), _skeleton(sample)
    assert ours_skeleton[0] == sample_skeleton[0]  # the column row first
    assert ours.decode("utf-8").split("\r\n")[0] == sample.decode("utf-8").split("\r\n")[0]
    assert set(ours_skeleton[1:-1]) == set(sample_skeleton[1:-1]) == {"F,F,F,F,F,F,F,F"}
    assert ours_skeleton[-1] == sample_skeleton[-1] == ""  # ends with the last row's CRLF
    rows = read_report(zipfile_bytes(ours)).dicts()
    assert {r["QualityScore"] for r in rows} == {"--"}  # not computed at campaign level
    names = {r["CampaignName"] for r in rows}
    assert {"Brand, exact", 'Generic "running" shoes', "Total Sale (summer)"} <= names


@pytest.mark.parametrize(
    ("flags", "header", "columns", "footer"),
    [
        ({}, True, True, True),
        ({"ExcludeReportHeader": True}, False, True, True),
        ({"ExcludeColumnHeaders": True}, True, False, True),
        ({"ExcludeReportFooter": True}, True, True, False),
        (
            {"ExcludeReportHeader": True, "ExcludeColumnHeaders": True, "ExcludeReportFooter": True},
            False,
            False,
            False,
        ),
    ],
)
def test_exclude_flags(
    emu: Emulator, http: httpx.Client, flags: dict[str, bool], header: bool, columns: bool, footer: bool
) -> None:
    accounts = active_accounts(emu)[:2]
    request = body(
        account_ids=accounts, start=TODAY - timedelta(days=3), end=TODAY - timedelta(days=2), **flags
    )
    report = read_report(download(http, run(http, emu, request)["ReportDownloadUrl"]), column_headers=columns)
    assert bool(report.header) is header
    assert (report.columns is not None) is columns
    assert (report.footer is not None) is footer
    assert len(report.rows) == 4
    assert all(r[0] in ("2026-06-02", "2026-06-03") for r in report.rows)


def test_tsv_format(emu: Emulator, http: httpx.Client) -> None:
    request = body(
        account_ids=active_accounts(emu)[:1],
        start=TODAY - timedelta(days=2),
        end=TODAY - timedelta(days=2),
        Format="Tsv",
    )
    report = read_report(download(http, run(http, emu, request)["ReportDownloadUrl"]), delimiter="\t")
    assert report.entry.endswith(".tsv")
    assert len(report.rows) == 1 and len(report.rows[0]) == len(report.columns or [])


def test_format_version_1_hourly_and_thousands(emu: Emulator, http: httpx.Client) -> None:
    day = TODAY - timedelta(days=2)
    request = body(
        account_ids=active_accounts(emu)[:1], start=day, end=day, aggregation="Hourly", FormatVersion="1.0"
    )
    report = read_report(download(http, run(http, emu, request)["ReportDownloadUrl"]))
    assert [r[0] for r in report.rows] == [f"6/3/2026 12:00:00 AM|{h}" for h in range(24)]
    request["ReportRequest"]["FormatVersion"] = "2.0"  # type: ignore[index]
    report2 = read_report(download(http, run(http, emu, request)["ReportDownloadUrl"]))
    assert [r[0] for r in report2.rows] == [f"2026-06-03|{h}" for h in range(24)]


def test_sample_requests_validate(emu: Emulator) -> None:
    for path in sorted(Path(SAMPLES).glob("*.request.json")):
        request = json.loads(path.read_text(encoding="utf-8"))
        request["ReportRequest"]["Scope"] = {"AccountIds": [str(active_accounts(emu)[0])]}
        spec = emu.reporting.parse(request)
        assert spec.type == request["ReportRequest"]["Type"]
