"""MicrosoftAdsReportOperator against the emulator: every row once, in CSV or JSON lines, no leftovers."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from msads_report_helpers import (
    COLUMNS,
    DAY,
    FAST,
    context,
    emulator_conn,
    expected,
    norm,
    number,
)

from airflow_provider_msads.operators.reports import MicrosoftAdsReportOperator


@pytest.fixture
def conn_id(msads_emulator: Any, monkeypatch: pytest.MonkeyPatch, airflow_db: Path) -> Iterator[str]:
    yield from emulator_conn(msads_emulator, monkeypatch)


@pytest.mark.parametrize("file_format", ["csv", "jsonl"])
def test_file_operator_writes_every_row_once(
    conn_id: str, msads_emulator: Any, tmp_path: Path, file_format: str
) -> None:
    path = tmp_path / "out" / f"perf.{file_format}"
    op = MicrosoftAdsReportOperator(
        task_id="file",
        msads_conn_id=conn_id,
        report="AccountPerformance",
        columns=COLUMNS,
        path=str(path),
        file_format=file_format,
        deferrable=False,
        **FAST,
    )
    result = op.execute(context())  # type: ignore[arg-type]
    assert result["path"] == str(path.resolve()) and result["format"] == file_format
    if file_format == "csv":
        with path.open(newline="") as fh:
            rows = list(csv.reader(fh))
        assert rows[0] == ["AccountId", *[c for c in COLUMNS if c != "AccountId"]] or rows[0] == COLUMNS
        header, data = rows[0], rows[1:]
    else:
        data_dicts = [json.loads(line) for line in path.read_text().splitlines()]
        header = list(data_dicts[0])
        data = [[d[c] for c in header] for d in data_dicts]
    got = sorted(norm([number(dict(zip(header, r, strict=True))[c]) for c in COLUMNS]) for r in data)
    assert got == expected(msads_emulator, DAY, DAY) and result["rows"] == len(got)
    assert list(path.parent.iterdir()) == [path], "no temporary file left behind"
