"""An in-process fake of the Reporting service + storage host (httpx.MockTransport), scriptable.

Every Submit body is validated against the vendored contract schema; every storage request is checked
for API credentials (any of them fails the test through ``violations``). Not the emulator: that one is
``airflow_provider_msads.testing`` (integration tests); this fake makes failure paths cheap to script.
"""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from msads_client_fakes import DEVELOPER_TOKEN, FAST_RETRY, FakeAuth, Sleeps
from reporting_contract import DATA, body_errors

from airflow_provider_msads.client.client import MicrosoftAdsClient
from airflow_provider_msads.client.environments import resolve_endpoints
from airflow_provider_msads.client.reporting.service import ReportingOptions
from airflow_provider_msads.client.retry import RetryPolicy

API = "http://127.0.0.1:9"  # never connected: MockTransport answers
STORAGE = "https://storage.example.test"
SAS = "sv=2023-11-03&se=2026-06-05T00%3A00%3A00Z&sp=r&sig=SECRETSIGNATURE0123456789"
CREDENTIAL_HEADERS = ("authorization", "developertoken", "customerid", "customeraccountid")


def csv_report(rows: list[list[str]], columns: list[str], *, aggregation: str = "Daily", header: bool = True,
               footer: bool = True, rows_line: int | None = None) -> bytes:  # fmt: skip
    """A CSV in Microsoft's layout (BOM, quoted, CRLF)."""
    out = io.StringIO()
    q = lambda cells: ",".join('"' + c.replace('"', '""') + '"' for c in cells) + "\r\n"  # noqa: E731
    out.write("\ufeff")
    if header:
        for line in (
            "Report Name: fake", "Report Time: 6/1/2026,6/3/2026",
            "Time Zone: (GMT-08:00) Pacific Time (US & Canada); Tijuana",
            "Last Completed Available Day: 6/2/2026 10:15:00 PM (GMT)",
            "Last Completed Available Hour: 6/2/2026 10:15:00 PM (GMT)",
            f"Report Aggregation: {aggregation}", "Report Filter: ", "Potential Incomplete Data: true",
            f"Rows: {len(rows) if rows_line is None else rows_line}",
        ):  # fmt: skip
            out.write(q([line]))
        out.write("\r\n")
    out.write(q(columns))
    for row in rows:
        out.write(q(row))
    if footer:
        out.write("\r\n" + q(["\u00a92026 Microsoft Corporation. All rights reserved. "]))
    return out.getvalue().encode("utf-8")


def write(tmp_path: Path, content: bytes, name: str = "r.zip") -> Path:
    """``content`` as a downloaded file in ``tmp_path``."""
    path = tmp_path / name
    path.write_bytes(content)
    return path


def zipped(csv_bytes: bytes, name: str = "1.csv") -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(name, csv_bytes)
    return buf.getvalue()


@dataclass
class FakeReporting:
    """Scriptable Submit / Poll / storage. Files are served per report id (bytes)."""

    files: dict[str, bytes | None] = field(default_factory=dict)  # None -> Success without URL
    pending_polls: int = 0
    submits: list[dict[str, Any]] = field(default_factory=list)
    polls: list[str] = field(default_factory=list)
    downloads: list[httpx.Request] = field(default_factory=list)
    api_requests: list[httpx.Request] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)
    #: scripted answers, consumed first: (kind, callable(request) -> response) with kind submit/poll/storage
    script: list[tuple[str, Callable[[httpx.Request], httpx.Response]]] = field(default_factory=list)
    file_for_submit: Callable[[dict[str, Any], int], bytes | None] | None = None
    _poll_counts: dict[str, int] = field(default_factory=dict)

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)

    def handle(self, request: httpx.Request) -> httpx.Response:
        url = str(request.url)
        if url.startswith(STORAGE):
            return self._storage(request)
        self.api_requests.append(request)
        if not url.startswith(API + "/Reporting/v13/GenerateReport/"):
            self.violations.append(f"unexpected API URL {url}")
            return httpx.Response(404)
        if request.headers.get("Authorization", "").startswith("Bearer ") is False:
            self.violations.append("API request without a Bearer token")
        if request.headers.get("DeveloperToken") != DEVELOPER_TOKEN:
            self.violations.append("API request without the developer token")
        kind = "submit" if url.endswith("/Submit") else "poll"
        for i, (script_kind, answer) in enumerate(self.script):
            if script_kind == kind:
                del self.script[i]
                return answer(request)
        body = json.loads(request.content)
        if kind == "submit":
            errors = body_errors(body)
            if errors:
                self.violations.extend(errors)
            self.submits.append(body)
            report_id = f"{len(self.submits)}_{100000 + len(self.submits)}"
            if self.file_for_submit is not None:
                self.files[report_id] = self.file_for_submit(body, len(self.submits) - 1)
            return httpx.Response(
                200, json={"ReportRequestId": report_id}, headers={"TrackingId": "trk-submit"}
            )
        report_id = body["ReportRequestId"]
        self.polls.append(report_id)
        seen = self._poll_counts.get(report_id, 0)
        self._poll_counts[report_id] = seen + 1
        if seen < self.pending_polls:
            status = {"Status": "Pending", "ReportDownloadUrl": None}
        elif report_id not in self.files:
            return httpx.Response(
                400,
                json={
                    "Type": "AdApiFaultDetail",
                    "Errors": [{"Code": 2100, "ErrorCode": "InvalidReportId", "Message": "bad id"}],
                },
                headers={"TrackingId": "trk-poll"},
            )
        elif self.files[report_id] is None:
            status = {"Status": "Success", "ReportDownloadUrl": None}
        else:
            status = {"Status": "Success", "ReportDownloadUrl": f"{STORAGE}/blob/{report_id}.zip?{SAS}"}
        return httpx.Response(200, json={"ReportRequestStatus": status}, headers={"TrackingId": "trk-poll"})

    def _storage(self, request: httpx.Request) -> httpx.Response:
        self.downloads.append(request)
        leaked = [h for h in CREDENTIAL_HEADERS if h in request.headers]
        if leaked:
            self.violations.append(f"storage request carried {leaked}")
            return httpx.Response(403)
        for i, (script_kind, answer) in enumerate(self.script):
            if script_kind == "storage":
                del self.script[i]
                return answer(request)
        report_id = request.url.path.rsplit("/", 1)[-1].removesuffix(".zip")
        content = self.files.get(report_id)
        if content is None:
            return httpx.Response(404)
        return httpx.Response(200, content=content, headers={"Content-Type": "application/octet-stream"})


#: FAST_RETRY's waits, with a budget that survives a busy machine: the fake validates every Submit body
#: against the contract schema inside the request, which counts against the runner's total deadline.
REPORTING_RETRY = RetryPolicy(
    max_attempts=FAST_RETRY.max_attempts,
    max_total_seconds=120.0,
    backoff_base=FAST_RETRY.backoff_base,
    backoff_max=FAST_RETRY.backoff_max,
    throttle_wait=FAST_RETRY.throttle_wait,
)


def make_client(
    fake: FakeReporting, sleeps: Sleeps | None = None, *, retry: RetryPolicy = REPORTING_RETRY, **options: Any
) -> MicrosoftAdsClient:
    http = httpx.Client(transport=fake.transport(), headers={"User-Agent": "test"})
    return MicrosoftAdsClient(
        auth=FakeAuth(),
        developer_token=DEVELOPER_TOKEN,
        endpoints=resolve_endpoints("production", api_base_url=API),
        customer_id=900000001,
        account_id=100000001,
        http=http,
        retry=retry,
        sleep=sleeps if sleeps is not None else Sleeps(),
        reporting=ReportingOptions(**options) if options else None,
    )


def sample(name: str) -> bytes:
    return (DATA / name).read_bytes()


__all__ = ["API", "SAS", "STORAGE", "FakeReporting", "Path", "csv_report", "make_client", "sample", "zipped"]
