"""Runs INSIDE a throwaway venv with the official SDK (msads 13.0.30.1), never with this package.

    <sdk venv>/python sdk_reporting_worker.py '<json job>'

job = {"reporting_url", "access_token", "developer_token", "customer_id", "account_id", "report",
       "columns", "aggregation", "start": [y, m, d], "end": [y, m, d], "account_ids": [...]}   (all strings
       / ints as named) — or {"csv": "<path>"} to only read a file.

Uses the SDK's own reporting code end to end: ReportingServiceManager.submit_download -> track (poll) ->
download_result_file (unzip) -> ReportFileReader, with the reporting endpoint pointed at the emulator
(``ServiceClient.endpoints``, as the contract pack's download_headers_probe.py does). Prints one JSON
document: {"columns": [...], "rows": [{column: raw string}], "record_count": N}.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path
from typing import Any


def read(csv_path: str) -> dict[str, Any]:
    from bingads.v13.reporting import ReportFileReader

    reader = ReportFileReader(file_path=csv_path, format="Csv")
    try:
        report = reader.get_report()
        columns = list(report.report_columns)
        rows = [{c: record.value(c) for c in columns} for record in report.report_records]
        return {"columns": columns, "rows": rows, "record_count": report.record_count}
    finally:
        reader.close()


def run(job: dict[str, Any]) -> dict[str, Any]:
    from bingads.authorization import AuthorizationData, OAuthDesktopMobileAuthCodeGrant, OAuthTokens
    from bingads.service_client import ServiceClient
    from bingads.v13.reporting import ReportingServiceManager
    from openapi_client.models import reporting as models

    ServiceClient.endpoints["production"]["reporting"] = job["reporting_url"]
    auth = OAuthDesktopMobileAuthCodeGrant(
        client_id="00000000-0000-0000-0000-000000000000",
        oauth_tokens=OAuthTokens(access_token=job["access_token"], access_token_expires_in_seconds=3600),
    )
    data = AuthorizationData(
        account_id=job["account_id"],
        customer_id=job["customer_id"],
        developer_token=job["developer_token"],
        authentication=auth,
    )
    request_class = getattr(models, job["report"] + "ReportRequest")
    scope_class = models.AccountReportScope if job["report"] == "AccountPerformance" else (
        models.AccountThroughCampaignReportScope if job["report"] == "CampaignPerformance"
        else models.AccountThroughAdGroupReportScope
    )  # fmt: skip
    (y1, m1, d1), (y2, m2, d2) = job["start"], job["end"]
    request = request_class(
        ReportName="sdk-proof",
        Format="Csv",
        FormatVersion="2.0",
        Aggregation=job["aggregation"],
        Columns=job["columns"],
        Scope=scope_class(AccountIds=[str(a) for a in job["account_ids"]]),
        Time=models.ReportTime(
            CustomDateRangeStart=models.Date(Day=d1, Month=m1, Year=y1),
            CustomDateRangeEnd=models.Date(Day=d2, Month=m2, Year=y2),
        ),
    )
    with tempfile.TemporaryDirectory() as tmp:
        manager = ReportingServiceManager(
            authorization_data=data, poll_interval_in_milliseconds=200, working_directory=tmp
        )
        operation = manager.submit_download(request)
        operation.track(timeout_in_milliseconds=60000)
        path = operation.download_result_file(
            result_file_directory=tmp, result_file_name="sdk.csv", decompress=True, overwrite=True
        )
        return read(str(path))


def main() -> int:
    job = json.loads(sys.argv[1])
    out = read(job["csv"]) if "csv" in job else run(job)
    sys.stdout.write(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.path[:] = [p for p in sys.path if Path(p).resolve() != Path(__file__).resolve().parent]
    raise SystemExit(main())
