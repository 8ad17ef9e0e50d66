"""Helpers for the emulator's Reporting tests: request bodies, Submit/Poll calls, a strict file reader."""

from __future__ import annotations

import csv
import importlib.util
import io
import zipfile
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import httpx

from airflow_provider_msads.testing import DEMO_DEVELOPER_TOKEN, Emulator

CONTRACT = Path(__file__).resolve().parents[1] / "contract" / "reporting"
SAMPLES = Path(__file__).resolve().parents[1] / "client" / "reporting" / "data"
SUBMIT = "/Reporting/v13/GenerateReport/Submit"
POLL = "/Reporting/v13/GenerateReport/Poll"
ACCOUNT_COLUMNS = [
    "TimePeriod",
    "AccountId",
    "AccountName",
    "CurrencyCode",
    "Impressions",
    "Clicks",
    "Ctr",
    "AverageCpc",
    "Spend",
    "ConversionsQualified",
    "Revenue",
]

_spec = importlib.util.spec_from_file_location("msads_validate_rest", CONTRACT / "validate_rest.py")
assert _spec is not None and _spec.loader is not None
validate_rest: Any = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(validate_rest)


def schema_errors(instance: Any, schema: str) -> list[str]:
    return list(validate_rest.schema_errors(instance, schema, CONTRACT / "schemas"))


def api_headers(emu: Emulator, *, customer: bool = True) -> dict[str, str]:
    """What a real client sends to Submit/Poll (the SDK's header set, reporting README §1.2)."""
    headers = {
        "Authorization": "Bearer " + emu.issue_access_token(),
        "DeveloperToken": DEMO_DEVELOPER_TOKEN,
        "Content-Type": "application/json",
    }
    if customer:
        account = emu.data.account_by_id[active_accounts(emu)[0]]
        headers["CustomerId"] = str(account.parent_customer_id)
        headers["CustomerAccountId"] = str(account.id)
    return headers


def active_accounts(emu: Emulator) -> list[int]:
    """Demo accounts with performance data (Draft/Pending accounts never served ads)."""
    return [
        a
        for a in emu.expected_account_ids
        if emu.data.account_by_id[a].lifecycle_status not in ("Draft", "Pending")
    ]


def ymd(day: date) -> dict[str, int]:
    return {"Day": day.day, "Month": day.month, "Year": day.year}


def body(
    report: str = "AccountPerformance",
    *,
    columns: list[str] | None = None,
    aggregation: str | None = "Daily",
    start: date | None = None,
    end: date | None = None,
    predefined: str | None = None,
    account_ids: list[int] | None = None,
    time_zone: str | None = "PacificTimeUSCanadaTijuana",
    **extra: Any,
) -> dict[str, Any]:
    rr: dict[str, Any] = {
        "Type": f"{report}ReportRequest",
        "Format": "Csv",
        "FormatVersion": "2.0",
        "Columns": columns or ACCOUNT_COLUMNS,
        "Scope": {"AccountIds": [str(a) for a in account_ids or []]},
    }
    if aggregation is not None:
        rr["Aggregation"] = aggregation
    time: dict[str, Any] = {}
    if predefined is not None:
        time["PredefinedTime"] = predefined
    if start is not None:
        time["CustomDateRangeStart"] = ymd(start)
    if end is not None:
        time["CustomDateRangeEnd"] = ymd(end)
    if time_zone is not None:
        time["ReportTimeZone"] = time_zone
    rr["Time"] = time
    rr.update(extra)
    return {"ReportRequest": rr}


def submit(http: httpx.Client, emu: Emulator, request: dict[str, Any]) -> httpx.Response:
    return http.post(emu.url + SUBMIT, json=request, headers=api_headers(emu))


def poll(http: httpx.Client, emu: Emulator, report_request_id: str) -> dict[str, Any]:
    response = http.post(
        emu.url + POLL, json={"ReportRequestId": report_request_id}, headers=api_headers(emu)
    )
    assert response.status_code == 200, response.text
    payload = response.json()
    assert schema_errors(payload, "PollGenerateReportResponse") == []
    status: dict[str, Any] = payload["ReportRequestStatus"]
    return status


def run(http: httpx.Client, emu: Emulator, request: dict[str, Any], max_polls: int = 50) -> dict[str, Any]:
    """Submit, then poll until not Pending; returns the final ReportRequestStatus."""
    response = submit(http, emu, request)
    assert response.status_code == 200, response.text
    assert schema_errors(response.json(), "SubmitGenerateReportResponse") == []
    rid = response.json()["ReportRequestId"]
    for _ in range(max_polls):
        status = poll(http, emu, rid)
        if status["Status"] != "Pending":
            status["ReportRequestId"] = rid
            return status
    raise AssertionError(f"report {rid} still Pending after {max_polls} polls")


def download(http: httpx.Client, url: str) -> bytes:
    response = http.get(url)  # no API headers: a fresh request with only httpx's defaults
    assert response.status_code == 200, response.text
    return response.content


@dataclass(frozen=True)
class ParsedReport:
    """A report file read strictly: every byte accounted for."""

    entry: str
    header: list[tuple[str, str]]  # key, value in file order ([] when excluded)
    columns: list[str] | None
    rows: list[list[str]]
    footer: str | None
    raw: bytes

    @property
    def meta(self) -> dict[str, str]:
        return dict(self.header)

    def dicts(self) -> list[dict[str, str]]:
        assert self.columns is not None
        return [dict(zip(self.columns, r, strict=True)) for r in self.rows]


def read_report(zip_bytes: bytes, *, column_headers: bool = True, delimiter: str = ",") -> ParsedReport:
    """Parse a report zip in Microsoft's layout and check its framing (BOM, CRLF, quotes, blank lines)."""
    with zipfile.ZipFile(io.BytesIO(zip_bytes)) as archive:
        names = archive.namelist()
        assert len(names) == 1, names
        raw = archive.read(names[0])
    assert raw.startswith(b"\xef\xbb\xbf"), "UTF-8 BOM missing"
    text = raw.decode("utf-8")[1:]
    assert text.endswith("\r\n"), "the last line must end with CRLF"
    assert "\n" not in text.replace("\r\n", ""), "bare LF found: lines must end with CRLF"
    lines = text[:-2].split("\r\n")
    for line in lines:
        if line:
            assert line.startswith('"') and line.endswith('"'), f"unquoted field in {line!r}"

    def cells(line: str) -> list[str]:
        return next(csv.reader([line], delimiter=delimiter))

    header: list[tuple[str, str]] = []
    i = 0
    if lines and lines[0].startswith('"Report Name: '):
        while lines[i] != "":
            key, _, value = cells(lines[i])[0].partition(": ")
            header.append((key, value))
            i += 1
        i += 1  # the blank line after the header block
    footer = None
    end = len(lines)
    if len(lines) >= 2 and lines[-2] == "" and cells(lines[-1])[0].startswith("\u00a9"):
        footer = cells(lines[-1])[0]
        end -= 2
    columns = cells(lines[i]) if column_headers else None
    body_lines = lines[i + 1 if column_headers else i : end]
    assert "" not in body_lines, "blank line among the data rows"
    return ParsedReport(names[0], header, columns, [cells(line) for line in body_lines], footer, raw)
