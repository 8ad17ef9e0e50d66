"""The official SDK's reporting path against the emulator, and the same report through our client.

    python bench/sdk_against_emulator.py --sdk-python /path/to/venv/bin/python [--rows 5000]

The SDK venv is a throwaway one (``python -m venv v && v/bin/pip install msads==13.0.30.1``); the SDK is
never a dependency of this project. What runs:

1. the emulator, in this process (API origin + storage origin, 2 Pending polls per report);
2. in the SDK's interpreter: ``ReportingServiceManager.submit_download`` -> ``track`` ->
   ``download_result_file`` -> ``ReportFileReader`` (the SDK's own code, its endpoint pointed at the
   emulator), rows printed as JSON;
3. ``MicrosoftAdsClient.run_report`` for the same request (refresh-token auth, connection as a user has it);
4. a cell-by-cell comparison: every SDK string converted with the client's column kinds must equal our
   typed value. Also printed: the headers the SDK sent to Submit/Poll, and whether any download carried
   credentials (the storage origin would have refused it with 403).

Exit status 0 when both read the same rows and no credential reached the storage origin.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

_SDK_WORKER = r"""
import json, sys, tempfile
from pathlib import Path
args = json.loads(sys.argv[1])
from bingads.authorization import AuthorizationData, OAuthDesktopMobileAuthCodeGrant, OAuthTokens
from bingads.service_client import ServiceClient
from bingads.v13.reporting import ReportFileReader, ReportingServiceManager
from openapi_client.models.reporting import KeywordPerformanceReportRequest

ServiceClient.endpoints["production"]["reporting"] = args["url"]
auth = OAuthDesktopMobileAuthCodeGrant(
    client_id=args["client_id"],
    oauth_tokens=OAuthTokens(access_token=args["token"], access_token_expires_in_seconds=3600),
)
data = AuthorizationData(account_id=args["account_id"], customer_id=args["customer_id"],
                         developer_token=args["developer_token"], authentication=auth)
with tempfile.TemporaryDirectory() as tmp:
    manager = ReportingServiceManager(authorization_data=data, poll_interval_in_milliseconds=1000,
                                      working_directory=tmp)
    request = KeywordPerformanceReportRequest.from_dict(args["body"]["ReportRequest"])
    operation = manager.submit_download(request)
    operation.track(timeout_in_milliseconds=600000)
    path = operation.download_result_file(result_file_directory=tmp, result_file_name="result.csv",
                                          decompress=True, overwrite=True)
    report = ReportFileReader(file_path=str(path), format="Csv").get_report()
    meta = {"record_count": report.record_count, "report_columns": report.report_columns,
            "last_completed_available_date": str(report.last_completed_available_date),
            "potential_incomplete_data": report.potential_incomplete_data}
    with open(args["out"], "w", encoding="utf-8") as out:
        out.write(json.dumps(meta) + "\n")
        for record in report.report_records:
            out.write(json.dumps(record._row_values.to_dict()) + "\n")
    report.close()
"""


def _typed(kind: str, cell: str) -> Any:
    """The SDK's string as our client types it (the client's column kinds are the reference)."""
    if cell in ("", "--"):
        return None
    if kind == "integer":
        return int(cell)
    if kind == "decimal":
        return Decimal(cell.removesuffix("%").replace(",", ""))
    if kind == "date":
        return date.fromisoformat(cell if len(cell) > 4 else cell + "-01-01")
    if kind == "datetime":
        day, _, hour = cell.partition("|")
        return datetime.fromisoformat(day).replace(hour=int(hour))
    return cell


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--sdk-python", required=True, help="python of a venv with msads (or bingads) installed"
    )
    parser.add_argument(
        "--rows", type=int, default=5000, help="at least this many report rows (default 5000)"
    )
    args = parser.parse_args()

    import httpx

    from airflow_provider_msads.client.auth import RefreshTokenAuth
    from airflow_provider_msads.client.client import MicrosoftAdsClient
    from airflow_provider_msads.client.reporting import ReportingOptions, ReportRequest
    from airflow_provider_msads.client.reporting.columns import column_kind
    from airflow_provider_msads.client.settings import ConnectionSettings
    from airflow_provider_msads.testing import (
        DEMO_CLIENT_ID,
        DEMO_DEVELOPER_TOKEN,
        DEMO_REFRESH_TOKEN,
        Emulator,
    )

    with Emulator(accounts=25, report_pending_polls=2).serve() as emu:
        body = emu.reporting.sized_report_body(args.rows, days=7)
        rr = body["ReportRequest"]
        del rr["MaxRows"]  # our ReportRequest has no MaxRows: both read the whole (>= rows) report
        account = emu.data.account_by_id[int(rr["Scope"]["AccountIds"][0])]
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "sdk.jsonl"
            worker_args = {
                "url": emu.url,
                "token": emu.issue_access_token(),
                "client_id": DEMO_CLIENT_ID,
                "developer_token": DEMO_DEVELOPER_TOKEN,
                "customer_id": account.parent_customer_id,
                "account_id": account.id,
                "body": body,
                "out": str(out),
            }
            started = time.perf_counter()
            done = subprocess.run(
                [args.sdk_python, "-c", _SDK_WORKER, json.dumps(worker_args)], capture_output=True, text=True
            )
            sdk_seconds = time.perf_counter() - started
            if done.returncode != 0:
                print(done.stderr[-4000:], file=sys.stderr)
                return 1
            lines = out.read_text(encoding="utf-8").splitlines()
        sdk_meta = json.loads(lines[0])
        sdk_rows = [json.loads(line) for line in lines[1:]]
        sdk_log = [r for r in emu.request_log if r.route in ("SubmitGenerateReport", "PollGenerateReport")]

        settings = ConnectionSettings.from_connection_fields(
            login=DEMO_CLIENT_ID, password=DEMO_REFRESH_TOKEN, extra=emu.connection_extra()
        )
        request = ReportRequest(
            report="KeywordPerformance",
            columns=rr["Columns"],
            aggregation="Daily",
            start=date(**{k.lower(): v for k, v in rr["Time"]["CustomDateRangeStart"].items()}),
            end=date(**{k.lower(): v for k, v in rr["Time"]["CustomDateRangeEnd"].items()}),
            account_ids=[int(a) for a in rr["Scope"]["AccountIds"]],
        )
        started = time.perf_counter()
        with httpx.Client(timeout=60) as http:
            auth = RefreshTokenAuth.from_settings(settings, http=http)
            with (
                MicrosoftAdsClient(
                    auth, settings.developer_token, settings.endpoints, http=http,
                    reporting=ReportingOptions(poll_intervals=(0.2,)),
                ) as client,
                client.run_report(request) as report,
            ):  # fmt: skip
                ours = list(report)
                our_meta = report.metadata
        our_seconds = time.perf_counter() - started
        counters = emu.reporting.counters

    kinds = {c: column_kind("KeywordPerformance", c, "Daily") for c in rr["Columns"]}
    mismatches = []
    for i, (theirs, mine) in enumerate(zip(sdk_rows, ours, strict=False)):
        for column in rr["Columns"]:
            if _typed(kinds[column], theirs[column]) != mine[column]:
                mismatches.append((i, column, theirs[column], mine[column]))
    print(f"emulator: {args.rows} rows requested; Submit/Poll calls by the SDK: {len(sdk_log)}")
    print(
        "SDK headers on Submit:", sorted(k for k in sdk_log[0].headers if k not in ("host", "content-length"))
    )
    print(
        f"SDK (submit, track, download, ReportFileReader): {len(sdk_rows)} rows in {sdk_seconds:.2f}s; "
        f"metadata {sdk_meta}"
    )
    print(
        f"ours (run_report): {len(ours)} rows in {our_seconds:.2f}s; rows header {our_meta.rows}, "
        f"last completed day {our_meta.last_completed_day}"
    )
    print(
        f"storage origin: downloads {counters['downloads']}, credential-carrying requests refused "
        f"{counters['credential_rejections']}"
    )
    same = len(sdk_rows) == len(ours) == our_meta.rows and len(ours) >= args.rows and not mismatches
    print(
        f"same rows, cell by cell: {same}" + (f" (first mismatches: {mismatches[:5]})" if mismatches else "")
    )
    return 0 if same and counters["credential_rejections"] == 0 and counters["downloads"] == 2 else 1


if __name__ == "__main__":
    sys.exit(main())
