"""Proof against the official SDK: its own reporting code reads the same rows we read.

A throwaway venv with ``msads==13.0.30.1`` (the REST SDK; it carries ``bingads.v13.reporting`` with
ReportingServiceManager and ReportFileReader) is built once under the temp dir and reused; the SDK never
becomes a dependency of this package. ``sdk_reporting_worker.py`` runs in that venv: for the emulator
cases it uses the SDK's submit -> poll -> download -> ReportFileReader against the emulator (the same
request we run through ``MicrosoftAdsClient.run_report``); for the contract pack's sample files it only
reads. Rows are compared cell by cell: the SDK's raw strings against our typed values.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from msads_client_fakes import Sleeps
from reporting_contract import DATA

from airflow_provider_msads.client.auth import RefreshTokenAuth
from airflow_provider_msads.client.client import MicrosoftAdsClient
from airflow_provider_msads.client.reporting import ReportFile, ReportingOptions, ReportRequest
from airflow_provider_msads.client.settings import ConnectionSettings
from airflow_provider_msads.testing import DEMO_CLIENT_ID, DEMO_DEVELOPER_TOKEN, DEMO_REFRESH_TOKEN, Emulator

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

SDK_REQUIREMENT = "msads==13.0.30.1"
WORKER = Path(__file__).resolve().parent / "sdk_reporting_worker.py"


@pytest.fixture(scope="session")
def sdk_python() -> Path:
    """The SDK venv's python, built on first use (pip, bounded to 10 minutes) and cached in the temp dir."""
    venv = Path(tempfile.gettempdir()) / f"msads-sdk-venv-{SDK_REQUIREMENT.split('==')[1]}"
    python = venv / "bin" / "python"
    ready = venv / ".ready"
    if not ready.exists():
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True, timeout=120)
        pip = subprocess.run(
            [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", SDK_REQUIREMENT],
            capture_output=True, text=True, timeout=600, check=False,
        )  # fmt: skip
        assert pip.returncode == 0, (
            f"could not install the official SDK for the parity proof: {pip.stderr[-2000:]}"
        )
        ready.touch()
    return python


def sdk(python: Path, job: dict[str, Any]) -> dict[str, Any]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    out = subprocess.run(
        [str(python), str(WORKER), json.dumps(job)],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        check=False,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    result: dict[str, Any] = json.loads(out.stdout)
    return result


def same_value(ours: Any, raw: str | None) -> bool:
    """Our typed value against the SDK's raw string for the same cell."""
    if raw is None or raw in ("--", ""):
        return ours is None
    if isinstance(ours, bool) or ours is None:
        return False
    if isinstance(ours, int):
        return ours == int(raw)
    if isinstance(ours, Decimal):
        return ours == Decimal(raw.rstrip("%").replace(",", ""))
    if isinstance(ours, datetime):
        day, _, hour = raw.rpartition("|")
        return ours == datetime.fromisoformat(day) + timedelta(hours=int(hour))
    if isinstance(ours, date):
        return ours.isoformat() == raw or (len(raw) == 4 and ours == date(int(raw), 1, 1))
    return bool(ours == raw)


def assert_same_rows(ours: list[dict[str, Any]], theirs: dict[str, Any]) -> None:
    assert len(ours) == len(theirs["rows"]) > 0
    for index, (mine, raw) in enumerate(zip(ours, theirs["rows"], strict=True)):
        assert list(mine) == list(raw), index
        bad = {c: (mine[c], raw[c]) for c in raw if not same_value(mine[c], raw[c])}
        assert not bad, (index, bad)


@pytest.mark.parametrize(
    "name", ["AccountPerformance.daily.header-footer.zip", "CampaignPerformance.summary.no-header-footer.zip"]
)
def test_sample_files_same_rows_as_the_sdk_reader(sdk_python: Path, tmp_path: Path, name: str) -> None:
    with zipfile.ZipFile(DATA / name) as archive:
        csv_path = archive.extract(archive.namelist()[0], tmp_path)
    theirs = sdk(sdk_python, {"csv": csv_path})
    ours = list(ReportFile(DATA / name))
    assert_same_rows(ours, theirs)


@pytest.fixture
def client(msads_emulator: Emulator) -> Iterator[MicrosoftAdsClient]:
    settings = ConnectionSettings.from_connection_fields(
        login=DEMO_CLIENT_ID, password=DEMO_REFRESH_TOKEN, extra=msads_emulator.connection_extra()
    )
    http = httpx.Client(timeout=30.0)
    with MicrosoftAdsClient(
        RefreshTokenAuth.from_settings(settings, http=http),
        settings.developer_token,
        settings.endpoints,
        http=http,
        sleep=Sleeps(),
        reporting=ReportingOptions(poll_intervals=(0.0,)),
    ) as made:
        yield made
    http.close()


CASES = [
    ("AccountPerformance", ["TimePeriod", "AccountId", "AccountName", "CurrencyCode", "Impressions", "Clicks", "Ctr",
                            "AverageCpc", "Spend", "ConversionsQualified", "Revenue", "CostPerConversion"], "Daily"),
    ("KeywordPerformance", ["TimePeriod", "AccountId", "CampaignId", "AdGroupId", "KeywordId", "Keyword", "Impressions",
                            "Clicks", "Ctr", "Spend", "QualityScore", "ExpectedCtr"], "Hourly"),
]  # fmt: skip


@pytest.mark.parametrize(("report", "columns", "aggregation"), CASES, ids=[c[0] for c in CASES])
def test_sdk_end_to_end_against_the_emulator_reads_our_rows(
    sdk_python: Path,
    msads_emulator: Emulator,
    client: MicrosoftAdsClient,
    report: str,
    columns: list[str],
    aggregation: str,
) -> None:
    emu = msads_emulator
    accounts = [
        a
        for a in emu.expected_account_ids
        if emu.data.account_by_id[a].lifecycle_status not in ("Draft", "Pending")
    ]
    accounts = accounts[:3]
    end = emu.reporting.today - timedelta(days=1)
    start = end - timedelta(days=1 if aggregation == "Hourly" else 6)
    request = ReportRequest(
        report=report, columns=columns, aggregation=aggregation, start=start, end=end, account_ids=accounts
    )
    with client.run_report(request) as result:
        ours = list(result)
    first = emu.data.account_by_id[accounts[0]]
    theirs = sdk(
        sdk_python,
        {
            "reporting_url": emu.url, "access_token": emu.issue_access_token(), "developer_token": DEMO_DEVELOPER_TOKEN,
            "customer_id": first.parent_customer_id, "account_id": first.id, "report": report, "columns": columns,
            "aggregation": aggregation, "start": [start.year, start.month, start.day],
            "end": [end.year, end.month, end.day], "account_ids": accounts,
        },
    )  # fmt: skip
    assert theirs["record_count"] == len(ours)
    assert_same_rows(ours, theirs)
    assert emu.reporting.counters["credential_rejections"] == 0
    assert emu.reporting.counters["submits"] == 2  # ours and the SDK's
