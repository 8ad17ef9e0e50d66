"""The report's text view (``text_blocks``: SQL literals a column at a time, what PostgreSQL's COPY loads)
against the typed rows of the same file: same values, same errors, on the pack's samples and on every
value shape the parser knows (markers, '%', thousands separators, Yearly and Hourly TimePeriods)."""

from __future__ import annotations

import re
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from reporting_contract import DATA
from reporting_fakes import csv_report, write, zipped

from airflow_provider_msads.client.reporting import (
    MalformedReportError,
    Report,
    ReportFile,
    ReportMetadata,
    ReportRowCountError,
)
from airflow_provider_msads.client.reporting.parser import BLOCK_ROWS

SAMPLES = sorted(p.name for p in DATA.glob("*.zip"))
#: What a database is given: plain digits (no exponent, no separators), ISO days and hours.
CANONICAL = {
    "integer": re.compile(r"-?[0-9]+"),
    "decimal": re.compile(r"-?[0-9]*\.?[0-9]+|-?[0-9]+\."),
    "date": re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}"),
    "datetime": re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:00:00"),
}
PARSE = {
    "integer": int,
    "decimal": Decimal,
    "date": date.fromisoformat,
    "datetime": datetime.fromisoformat,
    "text": str,
}


def literal_rows(report: ReportFile | Report) -> list[dict[str, Any]]:
    """The text view as rows: each literal read back the way a database reads it."""
    out: list[dict[str, Any]] = []
    for block in report.text_blocks():
        assert len(block) == len(report.columns)
        assert len({len(column) for column in block}) == 1
        for cells in zip(*block, strict=True):
            row = {}
            for name, cell in zip(report.columns, cells, strict=True):
                kind = report.kinds[name]
                if cell is not None and kind != "text":
                    assert CANONICAL[kind].fullmatch(cell), (name, cell)
                row[name] = None if cell is None else PARSE[kind](cell)
            out.append(row)
    return out


@pytest.mark.parametrize("name", SAMPLES)
def test_sample_files_give_the_typed_values(name: str) -> None:
    report = ReportFile(DATA / name)
    typed = list(report)
    assert literal_rows(report) == typed


COLUMNS = ["TimePeriod", "AccountId", "CampaignName", "Impressions", "Ctr", "Spend", "Conversions"]


def shaped_row(i: int) -> list[str]:
    """Every value shape, cycling so that blocks are sometimes canonical and sometimes not."""
    return [
        f"2026-06-{1 + i % 3:02d}",
        str(100_000_000 + i % 7) if i % 50 else "\u0661\u0662",  # Arabic-Indic digits: int() reads them
        ["Brand", "--", "", 'tab\tnew\nline "q" \\N back\\slash', "Käse ✓"][i % 5] if i > BLOCK_ROWS else "x",
        "--" if i % 97 == 0 else str(i * 13),
        f"{i % 100}.{i % 10}0%" if i % 89 else "--",
        ["1,234.50", ".5", "5.", "-2.25", "0.000000001", "12"][i % 6] if i > 2 * BLOCK_ROWS else f"{i}.25",
        "" if i % 31 == 0 else f"{i % 4}.5",
    ]


def test_every_value_shape_across_blocks(tmp_path: Path) -> None:
    rows = [shaped_row(i) for i in range(BLOCK_ROWS * 4 + 17)]
    report = ReportFile(write(tmp_path, zipped(csv_report(rows, COLUMNS))))
    typed = list(report)
    assert literal_rows(report) == typed
    assert typed[0]["AccountId"] == 12 and typed[BLOCK_ROWS * 3]["Spend"] == Decimal("1234.50")
    assert {r["CampaignName"] for r in typed} >= {None, "Brand", 'tab\tnew\nline "q" \\N back\\slash'}


@pytest.mark.parametrize(
    ("aggregation", "texts"),
    [
        ("Yearly", ["2025", "2026"]),
        ("Hourly", ["2026-06-01|7", "2026-06-01|07", "6/1/2026 12:00:00 AM|23", "6/2/2026|0"]),
        ("Daily", ["2026-06-01", "2026-06-02"]),
        ("Summary", []),
    ],
)
def test_time_periods_by_aggregation(tmp_path: Path, aggregation: str, texts: list[str]) -> None:
    if texts:
        rows, columns = [[t, str(i)] for i, t in enumerate(texts)], ["TimePeriod", "Clicks"]
    else:
        rows, columns = [["1", "2"]], ["AccountId", "Clicks"]
    report = ReportFile(write(tmp_path, zipped(csv_report(rows, columns, aggregation=aggregation))))
    assert literal_rows(report) == list(report)


@pytest.mark.parametrize(
    ("cell", "column", "message"),
    [
        ("1.5", "Impressions", "'1.5' is not a valid integer"),
        ("-", "Impressions", "'-' is not a valid integer"),
        ("1.2.3", "Spend", "'1.2.3' is not a valid decimal"),
        (".", "Spend", "'.' is not a valid decimal"),
        ("2026-02-30", "TimePeriod", "'2026-02-30' is not a valid date"),
        ("2026-6-1", "TimePeriod", "'2026-6-1' is not a valid date"),
    ],
)
def test_a_bad_value_fails_the_same_way_in_both_views(
    tmp_path: Path, cell: str, column: str, message: str
) -> None:
    """A value the typed rows refuse is refused by the text view too (before the database sees it)."""
    rows = [shaped_row(i) for i in range(BLOCK_ROWS + 9)]
    rows[BLOCK_ROWS + 3][COLUMNS.index(column)] = cell
    report = ReportFile(write(tmp_path, zipped(csv_report(rows, COLUMNS))))
    for view in (lambda: list(report), lambda: list(report.text_blocks())):
        with pytest.raises(MalformedReportError, match=re.escape(f"column {column!r}: {message}")):
            view()


def test_the_row_count_is_checked_in_the_text_view(tmp_path: Path) -> None:
    rows = [shaped_row(i) for i in range(BLOCK_ROWS * 2)]
    report = ReportFile(write(tmp_path, zipped(csv_report(rows, COLUMNS, rows_line=len(rows) + 1))))
    with pytest.raises(ReportRowCountError, match=f"Rows: {len(rows) + 1} but the file holds {len(rows)}"):
        list(report.text_blocks())


def test_combine_keeps_parts_in_order_and_the_least_complete_metadata(tmp_path: Path) -> None:
    parts = []
    for n, name in ((3, "a.zip"), (BLOCK_ROWS + 1, "b.zip")):
        file = ReportFile(
            write(tmp_path, zipped(csv_report([shaped_row(i) for i in range(n)], COLUMNS)), name)
        )
        parts.append(Report.from_files([file]))
    sample = ReportFile(DATA / "AccountPerformance.daily.header-footer.zip")
    complete = Report([], columns=parts[0].columns, kinds=parts[0].kinds, metadata=sample.metadata)
    combined = Report.combine([*parts, complete])
    assert combined.parts == 2 and combined.metadata.rows == 3 + BLOCK_ROWS + 1 + (sample.metadata.rows or 0)
    assert combined.metadata.last_completed_day == min(
        p.metadata.last_completed_day for p in [*parts, complete] if p.metadata.last_completed_day
    )
    assert list(combined) == list(parts[0]) + list(parts[1]) == literal_rows(combined)
    assert Report.combine([parts[0]]) is parts[0]
    assert list(Report.combine([])) == [] and Report.combine([]).metadata == ReportMetadata(rows=0)
    other = Report([], columns=("AccountId",), kinds={"AccountId": "integer"}, metadata=ReportMetadata())
    with pytest.raises(ValueError, match="cannot combine reports of different columns"):
        Report.combine([parts[0], other])
