"""Big reports: generated and served streamed, memory flat in the report's size."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
import tracemalloc
import zipfile
from pathlib import Path

import httpx
import pytest
from reporting_helpers import api_headers, poll, submit

from airflow_provider_msads.testing import Emulator

ROOT = Path(__file__).resolve().parents[2]


def _count_rows(path: Path) -> tuple[int, str]:
    """Rows of a downloaded report zip, read streaming; and its 'Rows:' header value."""
    with zipfile.ZipFile(path) as archive, archive.open(archive.namelist()[0]) as raw:
        reader = csv.reader(io.TextIOWrapper(raw, encoding="utf-8-sig", newline=""))
        header = [next(reader)[0] for _ in range(9)]
        assert next(reader) == []  # blank line
        next(reader)  # column names
        rows = 0
        for row in reader:
            if not row:
                break
            rows += 1
        footer = next(reader)
        assert footer[0].startswith("\u00a9")
    return rows, header[8]


def _peak(emu: Emulator, rows: int, directory: Path) -> int:
    body = emu.reporting.sized_report_body(rows, days=10)
    tracemalloc.start()
    try:
        report = emu.reporting.write_report(body, directory)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
        assert report.rows == rows


def test_generation_memory_does_not_grow_with_rows(msads_emulator: Emulator, tmp_path: Path) -> None:
    _peak(msads_emulator, 100, tmp_path)  # warm-up: one-time imports and caches are not per-row costs
    small = _peak(msads_emulator, 500, tmp_path)
    big = _peak(msads_emulator, 8_000, tmp_path)
    # 16x the rows: the peak of Python allocations stays the same (buffers, one account's entities);
    # keeping the rows would add > 1 KB per row (17 cells), i.e. > 8 MB between the two
    assert big < small + 2 * 1024 * 1024, (small, big)
    assert big < 4 * 1024 * 1024, big


def test_big_report_is_built_in_the_background_and_streamed(
    msads_emulator: Emulator, http: httpx.Client, tmp_path: Path
) -> None:
    emu = msads_emulator
    emu.reporting.pending_polls = 0
    body = emu.reporting.sized_report_body(25_000, days=5)
    rid = submit(http, emu, body).json()["ReportRequestId"]
    assert emu.reporting.job(rid).state in ("building", "ready")  # > SYNC_ROWS: not built inside Submit
    for _ in range(600):
        status = poll(http, emu, rid)
        if status["Status"] != "Pending":
            break
        emu.reporting.job(rid)  # still there
        import time

        time.sleep(0.05)
    assert status["Status"] == "Success", status
    target = tmp_path / "report.zip"
    with http.stream("GET", status["ReportDownloadUrl"]) as response, open(target, "wb") as out:
        assert response.status_code == 200
        assert int(response.headers["Content-Length"]) == emu.reporting.job(rid).file.size  # type: ignore[union-attr]
        for chunk in response.iter_bytes():
            out.write(chunk)
    assert _count_rows(target) == (25_000, "Rows: 25000")
    assert api_headers  # the download above carried no API header
    assert emu.reporting.counters["credential_rejections"] == 0


_MILLION = r"""
import json, resource, sys, tempfile, time, zipfile
from pathlib import Path
import httpx
from airflow_provider_msads.testing import Emulator, DEMO_DEVELOPER_TOKEN

def rss():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
emu = Emulator(accounts=25, report_pending_polls=0)
with emu.serve():
    body = emu.reporting.sized_report_body(1_000_000)
    headers = {"Authorization": "Bearer " + emu.issue_access_token(), "DeveloperToken": DEMO_DEVELOPER_TOKEN}
    before = rss()
    started = time.perf_counter()
    with httpx.Client(timeout=60) as http:
        rid = http.post(emu.url + "/Reporting/v13/GenerateReport/Submit", json=body, headers=headers).json()["ReportRequestId"]
        while True:
            status = http.post(emu.url + "/Reporting/v13/GenerateReport/Poll", json={"ReportRequestId": rid}, headers=headers).json()["ReportRequestStatus"]
            if status["Status"] != "Pending":
                break
            time.sleep(0.5)
        built = time.perf_counter() - started
        target = Path(sys.argv[1])
        with http.stream("GET", status["ReportDownloadUrl"]) as response, open(target, "wb") as out:
            for chunk in response.iter_bytes():
                out.write(chunk)
    print(json.dumps({"before": before, "after": rss(), "built_s": built, "size": target.stat().st_size}))
"""


@pytest.mark.scale
@pytest.mark.timeout(900)
def test_million_row_report_over_http_with_flat_memory(tmp_path: Path) -> None:
    target = tmp_path / "million.zip"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run(
        [sys.executable, "-c", _MILLION, str(target)], capture_output=True, text=True, env=env, timeout=880
    )
    assert done.returncode == 0, done.stderr[-3000:]
    measured = json.loads(done.stdout.strip().splitlines()[-1])
    growth = measured["after"] - measured["before"]
    # the CSV is ~190 MB; generating and serving it must not hold it (or its rows) in memory
    assert growth < 60 * 1024 * 1024, measured
    assert _count_rows(target) == (1_000_000, "Rows: 1000000")


def test_reset_restores_the_volume(msads_emulator: Emulator) -> None:
    default = msads_emulator.reporting.volume
    msads_emulator.reporting.sized_report_body(200_000, days=1)
    assert msads_emulator.reporting.volume.keywords_per_ad_group > default.keywords_per_ad_group
    msads_emulator.reset()
    assert msads_emulator.reporting.volume == default
