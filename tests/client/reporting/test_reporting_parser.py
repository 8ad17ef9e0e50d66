"""The report file parser: the pack's sample files and every layout rule (BOM, header, footer, markers)."""

from __future__ import annotations

import json
import tracemalloc
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from reporting_contract import DATA
from reporting_fakes import csv_report, write, zipped

from airflow_provider_msads.client.reporting import MalformedReportError, ReportFile, ReportRowCountError
from airflow_provider_msads.client.reporting.parser import BLOCK_ROWS, merge_metadata

SAMPLES = sorted(p.name for p in DATA.glob("*.zip"))
COLS = ["TimePeriod", "AccountId", "CampaignName", "Impressions", "Ctr", "Spend", "QualityScore"]


@pytest.mark.parametrize("name", SAMPLES)
def test_sample_files_read_the_rows_the_sdk_reads(name: str) -> None:
    """Same rows and metadata as the SDK's ReportFileReader printed for these files (pack README §6.1)."""
    expected = json.loads((DATA / "expected" / name.replace(".zip", ".json")).read_text())
    report = ReportFile(DATA / name)
    assert list(report.columns) == expected["metadata"]["report_columns"]
    rows = list(report)
    assert len(rows) == len(expected["rows_in_file"])
    for ours, raw in zip(rows, expected["rows_in_file"], strict=False):
        assert set(ours) == set(raw)
        for column, text in raw.items():
            value = ours[column]
            if text in ("--", ""):
                assert value is None
            else:
                assert str(value) == text.rstrip("%"), (column, text, value)
    assert report.metadata.rows == expected["metadata"]["record_count"]
    assert report.metadata.aggregation == expected["metadata"]["report_aggregation"]
    assert report.metadata.time_zone == expected["metadata"]["time_zone"]


def test_quoting_markers_and_total_as_first_cell() -> None:
    rows = list(ReportFile(DATA / "CampaignPerformance.summary.no-header-footer.zip"))
    assert rows[0]["CampaignName"] == "Brand, exact"
    assert rows[1]["CampaignName"] == 'Generic "running" shoes' and rows[1]["QualityScore"] is None
    assert rows[2]["CampaignName"] == "Total Sale (summer)"


def test_a_row_starting_with_total_is_data(tmp_path: Path) -> None:
    cols = ["CampaignName", "Clicks"]
    path = write(
        tmp_path,
        zipped(csv_report([["Total Sale (summer)", "5"], ["Brand", "3"]], cols, aggregation="Summary")),
    )
    assert [r["CampaignName"] for r in ReportFile(path)] == ["Total Sale (summer)", "Brand"]


def test_values_by_kind(tmp_path: Path) -> None:
    rows = [
        ["2026-06-01", "100000001", "A", "10", "2.24%", "1.50", "7"],
        ["2026-06-02", "100000001", "--", "", "--", "", "--"],
        ["2026-06-03", "9223372036854775807", "", "0", "100.00%", "1,234.50", "10"],
    ]
    report = ReportFile(write(tmp_path, zipped(csv_report(rows, COLS))))
    out = list(report)
    assert out[0] == {"TimePeriod": date(2026, 6, 1), "AccountId": 100000001, "CampaignName": "A", "Impressions": 10,
                      "Ctr": Decimal("2.24"), "Spend": Decimal("1.50"), "QualityScore": 7}  # fmt: skip
    assert out[1] == {"TimePeriod": date(2026, 6, 2), "AccountId": 100000001, "CampaignName": None,
                      "Impressions": None, "Ctr": None, "Spend": None, "QualityScore": None}  # fmt: skip
    assert (
        out[2]["AccountId"] == 2**63 - 1
        and out[2]["Spend"] == Decimal("1234.50")
        and out[2]["CampaignName"] is None
    )
    assert report.metadata.potential_incomplete_data is True
    assert (
        report.metadata.last_completed_day == date(2026, 6, 2) and report.metadata.last_completed_hour == 22
    )
    assert (report.metadata.start, report.metadata.end) == (date(2026, 6, 1), date(2026, 6, 3))


@pytest.mark.parametrize(
    ("aggregation", "text", "value"),
    [
        ("Hourly", "2026-06-01|7", datetime(2026, 6, 1, 7)),
        ("Hourly", "2026-06-01|07", datetime(2026, 6, 1, 7)),
        ("Hourly", "6/1/2026 12:00:00 AM|23", datetime(2026, 6, 1, 23)),
        ("Yearly", "2026", date(2026, 1, 1)),
        ("Monthly", "2026-06-01", date(2026, 6, 1)),
        ("DayOfWeek", "7", 7),
        ("HourOfDay", "0", 0),
    ],
)
def test_time_period_by_aggregation(tmp_path: Path, aggregation: str, text: str, value: object) -> None:
    path = write(
        tmp_path, zipped(csv_report([[text, "1"]], ["TimePeriod", "Clicks"], aggregation=aggregation))
    )
    assert [r["TimePeriod"] for r in ReportFile(path)] == [value]


def test_bare_csv_and_docs_footer_and_report_time_with_space(tmp_path: Path) -> None:
    text = (
        csv_report([["1", "2"]], ["AccountId", "Clicks"], aggregation="Summary")
        .replace("\u00a92026".encode(), b"@2020")
        .replace(b"6/1/2026,6/3/2026", b"6/1/2026, 6/3/2026")
    )
    report = ReportFile(write(tmp_path, text, "r.csv"))
    assert list(report) == [{"AccountId": 1, "Clicks": 2}]
    assert report.metadata.end == date(2026, 6, 3)


@pytest.mark.parametrize(("declared", "actual"), [(4, 3), (2, 3), (0, 1)])
def test_rows_header_must_match(tmp_path: Path, declared: int, actual: int) -> None:
    rows = [["1", "2"]] * actual
    report = ReportFile(
        write(tmp_path, zipped(csv_report(rows, ["AccountId", "Clicks"], rows_line=declared)))
    )
    with pytest.raises(ReportRowCountError, match=f"Rows: {declared} but the file holds {actual}"):
        list(report)


def test_rows_header_checked_across_blocks(tmp_path: Path) -> None:
    n = BLOCK_ROWS * 2 + 5
    rows = [[str(i), "1"] for i in range(n)]
    path = write(tmp_path, zipped(csv_report(rows, ["AccountId", "Clicks"])))
    assert sum(1 for _ in ReportFile(path)) == n
    bad = write(tmp_path, zipped(csv_report(rows, ["AccountId", "Clicks"], rows_line=n + 1)), "bad.zip")
    with pytest.raises(ReportRowCountError):
        list(ReportFile(bad))


def test_text_across_read_chunks_and_blocks(tmp_path: Path) -> None:
    """Multi-byte UTF-8, quoted newlines/commas/quotes and markers in a file spanning many decode chunks
    and row blocks: every cell comes back exactly, markers as None only where they are."""
    n = BLOCK_ROWS * 9 + 3
    texts = [f'Käse €{i}, "x"\r\nline ✓ {"ü" * (i % 61)}' for i in range(n)]
    rows = [
        [str(i), texts[i], "--" if i % 301 == 0 else f"{i}.5", "" if i % 997 == 0 else "7"] for i in range(n)
    ]
    text = csv_report(rows, ["AccountId", "CampaignName", "Spend", "QualityScore"])
    assert len(text) > 3 * 65536  # several decode chunks
    got = list(ReportFile(write(tmp_path, zipped(text))))
    assert [r["CampaignName"] for r in got] == texts
    assert [r["AccountId"] for r in got] == list(range(n))
    assert [r["Spend"] for r in got] == [None if i % 301 == 0 else Decimal(f"{i}.5") for i in range(n)]
    assert [r["QualityScore"] for r in got] == [None if i % 997 == 0 else 7 for i in range(n)]


def test_repeated_and_distinct_values_across_blocks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Numbers repeat (ids, counts: served from the column's memo) or never do (a per-row id, money: the
    memo fills up and is dropped): both convert exactly, '%' and markers included, and a bad value after
    many good ones still fails naming the column."""
    from airflow_provider_msads.client.reporting import parser

    monkeypatch.setattr(parser, "MEMO_MAX", 100)  # so the drop happens within a few blocks
    n = BLOCK_ROWS * 6 + 7
    rows = [
        [str(1000 + i % 3), str(5_000_000 + i), f"{i % 50}.25%", f"{i}.{i % 100:02d}", "--" if i % 9 else "4"]
        for i in range(n)
    ]
    cols = ["AccountId", "KeywordId", "Ctr", "Spend", "QualityScore"]
    got = list(ReportFile(write(tmp_path, zipped(csv_report(rows, cols)))))
    assert [r["AccountId"] for r in got] == [1000 + i % 3 for i in range(n)]
    assert [r["KeywordId"] for r in got] == [5_000_000 + i for i in range(n)]
    assert [r["Ctr"] for r in got] == [Decimal(f"{i % 50}.25") for i in range(n)]
    assert [r["Spend"] for r in got] == [Decimal(f"{i}.{i % 100:02d}") for i in range(n)]
    assert [r["QualityScore"] for r in got] == [None if i % 9 else 4 for i in range(n)]
    assert all(list(r) == cols for r in got)  # every row has every column, in file order

    rows[n - 2][0] = "10O1"  # a letter O among thousands of repeated ids
    bad = write(tmp_path, zipped(csv_report(rows, cols)), "bad.zip")
    with pytest.raises(MalformedReportError, match="column 'AccountId': '10O1' is not a valid integer"):
        list(ReportFile(bad))


@pytest.mark.parametrize(
    ("content", "match"),
    [
        (zipped(csv_report([["1", "2", "3"]], ["AccountId", "Clicks"])), "data row 1 has 3 fields"),
        (zipped(csv_report([["x1", "2"]], ["AccountId", "Clicks"])), "'x1' is not a valid integer"),
        (
            zipped(csv_report([["1", "2"]], ["AccountId", "Clicks"]) + b'"extra","stuff"\r\n'),
            "after the data rows",
        ),
        (b"PK\x03\x04not really a zip", "not a readable zip"),
        (zipped(b'\xef\xbb\xbf"AccountId"\r\n"\xff\xfe"\r\n'), "not UTF-8"),
        (zipped(csv_report([], ["AccountId"]).split(b'"AccountId"')[0]), "no column row"),
    ],
    ids=["width", "integer", "trailing", "zip", "utf8", "no-columns"],
)
def test_malformed_files(tmp_path: Path, content: bytes, match: str) -> None:
    with pytest.raises(MalformedReportError, match=match):
        list(ReportFile(write(tmp_path, content)))


def test_zip_with_two_files_is_refused(tmp_path: Path) -> None:
    import io
    import zipfile

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("a.csv", "x")
        z.writestr("b.csv", "y")
    with pytest.raises(MalformedReportError, match="holds 2 files"):
        ReportFile(write(tmp_path, buf.getvalue()))


def test_expected_columns_and_required_header(tmp_path: Path) -> None:
    path = write(tmp_path, zipped(csv_report([["1", "2"]], ["AccountId", "Clicks"], header=False)))
    with pytest.raises(MalformedReportError, match="no header block"):
        ReportFile(path, require_header=True)
    with pytest.raises(MalformedReportError, match="differ from the requested"):
        ReportFile(path, expected_columns=["Clicks", "AccountId"])


def _peak_while_streaming(tmp_path: Path, n: int) -> int:
    rows = [
        ["2026-06-01", str(100000000 + i), f"campaign {i}", str(i), "1.00%", "2.50", "5"] for i in range(n)
    ]
    path = write(tmp_path, zipped(csv_report(rows, COLS)), f"r{n}.zip")
    del rows
    tracemalloc.start()
    count = sum(1 for _ in ReportFile(path))
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert count == n
    return peak


def test_memory_stays_flat(tmp_path: Path) -> None:
    """Peak Python allocations do not grow with the report: 5x the rows, about the same peak (one block)."""
    small = _peak_while_streaming(tmp_path, 12_000)
    large = _peak_while_streaming(tmp_path, 60_000)
    assert large < small * 1.3, (small, large)
    assert large < 8 * 1024 * 1024


def test_merge_metadata_takes_the_least_complete_part(tmp_path: Path) -> None:
    a = ReportFile(
        write(tmp_path, zipped(csv_report([["1", "2"]], ["AccountId", "Clicks"])), "a.zip")
    ).metadata
    b = ReportFile(
        write(tmp_path, DATA.joinpath("AccountPerformance.daily.header-footer.zip").read_bytes(), "b.zip")
    ).metadata
    merged = merge_metadata([b, a])
    assert merged.last_completed_day == date(2026, 6, 2) and merged.rows == 7
    assert merged.potential_incomplete_data is True
