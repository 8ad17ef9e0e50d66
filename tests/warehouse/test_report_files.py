"""A downloaded Report (files in Microsoft's layout) into every database, as the report operator loads it.

PostgreSQL COPYs the report's text as it is (no Python object per value); the other databases, and
PostgreSQL's generic path, load its typed rows. Either way the table must hold the typed rows' values,
and a bad file must leave the previous contents.
"""

from __future__ import annotations

import csv
from datetime import date, datetime, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from msads_warehouse_helpers import Database

from airflow_provider_msads.client.reporting import (
    MalformedReportError,
    Report,
    ReportFile,
    ReportRowCountError,
)
from airflow_provider_msads.warehouse.reports import (
    IS_COMPLETE,
    LOADED_AT,
    WINDOW_END,
    WINDOW_START,
    ReportColumn,
    ReportTableWriter,
    ReportWriteStats,
)

START, END = date(2025, 3, 1), date(2025, 3, 3)  # the files say complete through 3/2/2025
LOADED = datetime(2025, 3, 8, 6, 0, 0, 250000, tzinfo=timezone.utc)
NAMES = ["Contoso", 'tab\there "q"', "line\nbreak\r", "back\\slash \\N", "Käse ✓", "--", ""]
DEVICES = ["Computer", "--", "Tablet"]  # "--" in a text key is stored as ''


def report_file(path: Path, columns: list[str], rows: list[list[str]], aggregation: str,
                rows_line: int | None = None) -> Report:  # fmt: skip
    """``rows`` as a report file in Microsoft's layout, opened as ``download_report`` opens it."""
    header = [
        "Report Name: warehouse test",
        "Report Time: 3/1/2025,3/3/2025",
        "Time Zone: (GMT-08:00) Pacific Time (US & Canada); Tijuana",
        "Last Completed Available Day: 3/2/2025 10:15:00 PM (GMT)",
        "Last Completed Available Hour: 3/2/2025 10:15:00 PM (GMT)",
        f"Report Aggregation: {aggregation}",
        "Report Filter: ",
        "Potential Incomplete Data: false",
        f"Rows: {len(rows) if rows_line is None else rows_line}",
    ]
    with path.open("w", newline="", encoding="utf-8") as f:
        f.write("\ufeff")
        out = csv.writer(f, quoting=csv.QUOTE_ALL, lineterminator="\r\n")
        out.writerows([line] for line in header)
        f.write("\r\n")
        out.writerow(columns)
        out.writerows(rows)
        f.write("\r\n")
        out.writerow(["\u00a92025 Microsoft Corporation. All rights reserved."])
    return Report.from_files(
        [ReportFile(path, aggregation=aggregation, expected_columns=columns, require_header=True)]
    )


def daily(i: int) -> list[str]:
    day, device, account = i % 3, (i // 3) % 3, 1000 + i // 9
    return [
        str(account),
        f"2025-03-{1 + day:02d}",
        DEVICES[device],
        NAMES[i % len(NAMES)],
        "--" if i % 11 == 0 else str(i * 7),
        ["1,234.50", ".5", "12", "-2.25", f"{i}.01"][i % 5],
        "--" if i % 13 == 0 else f"{i % 100}.{i % 10}0%",
    ]


def hourly(i: int) -> list[str]:
    day, hour = i % 3, (i // 3) % 24
    text = f"2025-03-{1 + day:02d}|{hour}" if i % 2 else f"3/{1 + day}/2025 12:00:00 AM|{hour:02d}"
    return [str(2000 + i // 72), text, str(i % 5), f"{i % 9}.5"]


def summary(i: int) -> list[str]:
    return [str(3000 + i // 2), ["Microsoft sites and select traffic", "--"][i % 2], f"{i}.75"]


SHAPES = {
    "daily": (
        ["AccountId", "TimePeriod", "DeviceType", "AccountName", "Impressions", "Spend", "Ctr"],
        ("AccountId", "TimePeriod", "DeviceType"),
        "Daily",
        daily,
        900,
    ),
    "hourly": (
        ["AccountId", "TimePeriod", "Clicks", "Spend"],
        ("AccountId", "TimePeriod"),
        "Hourly",
        hourly,
        720,
    ),
    "summary": (["AccountId", "Network", "Spend"], ("AccountId", "Network"), "Summary", summary, 600),
}


def table_writer(db: Database, report: Report, key: tuple[str, ...]) -> ReportTableWriter:
    columns = [ReportColumn(c, report.kinds[c]) for c in report.columns]
    return ReportTableWriter(db.engine, db.table, db.schema, columns, key, fast_path=db.fast_path)


def load(writer: ReportTableWriter, report: Report, accounts: list[int]) -> ReportWriteStats:
    return writer.replace_window(
        report,
        account_ids=accounts,
        start=START,
        end=END,
        complete_through=report.metadata.last_completed_day,
        loaded_at=LOADED,
    )


def stored(db: Database, writer: ReportTableWriter) -> list[tuple[Any, ...]]:
    """The table's rows as sorted tuples (decimals normalised: SQLite hands back floats' digits)."""
    with db.engine.connect() as c:
        rows = [dict(r._mapping) for r in c.execute(writer.table.select())]
    return sorted(tuple(_norm(row[name]) for name in writer.data_columns) for row in rows)


def _norm(value: Any) -> Any:
    return value.normalize() if isinstance(value, Decimal) else value


def expected(report: Report, key: tuple[str, ...], writer: ReportTableWriter) -> list[tuple[Any, ...]]:
    """The typed rows as the table must hold them."""
    out = []
    through = report.metadata.last_completed_day
    for row in report:
        row = {k: ("" if v is None and k in key else v) for k, v in row.items()}
        period = row.get("TimePeriod")
        if period is None:
            row.update({WINDOW_START: START, WINDOW_END: END})
            complete = through >= END if through else False
        else:
            day = period.date() if hasattr(period, "date") else period
            complete = through is not None and day <= through
        row.update({LOADED_AT: LOADED, IS_COMPLETE: complete})
        out.append(tuple(_norm(row[name]) for name in writer.data_columns))
    return sorted(out)


@pytest.mark.parametrize("shape", SHAPES)
def test_a_report_is_stored_with_its_typed_values(
    db: Database, shape: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    columns, key, aggregation, make, n = SHAPES[shape]
    rows = [make(i) for i in range(n)]
    report = report_file(tmp_path / "r.csv", columns, rows, aggregation)
    writer = table_writer(db, report, key)
    want = expected(report, key, writer)
    if db.name == "postgresql" and db.fast_path:  # proves PostgreSQL loads the text, not the typed rows
        monkeypatch.setattr(ReportFile, "__iter__", lambda self: pytest.fail("typed rows were built"))
    accounts = sorted({int(r[0]) for r in rows})
    stats = load(writer, report, accounts)
    assert stats.inserted == n and stats.complete == sum(1 for row in want if row[-1] is True)
    assert stored(db, writer) == want
    again = load(writer, report, accounts)  # a rerun: identical table
    assert again.deleted == n and stored(db, writer) == want


BAD = {
    "outside-window": (lambda row: row.__setitem__(1, "2025-03-09"), ValueError, "outside the window"),
    "empty-id-key": (lambda row: row.__setitem__(0, "--"), ValueError, "key column AccountId is empty"),
    "bad-value": (lambda row: row.__setitem__(4, "1.5"), MalformedReportError, "not a valid integer"),
    "row-count": (None, ReportRowCountError, "Rows: 901 but the file holds 900"),
}


@pytest.mark.parametrize("case", BAD)
def test_a_bad_report_leaves_the_previous_contents(db: Database, case: str, tmp_path: Path) -> None:
    columns, key, aggregation, make, n = SHAPES["daily"]
    good = [make(i) for i in range(n)]
    report = report_file(tmp_path / "good.csv", columns, good, aggregation)
    writer = table_writer(db, report, key)
    accounts = sorted({int(r[0]) for r in good})
    load(writer, report, accounts)
    before = stored(db, writer)
    spoil, error, message = BAD[case]
    bad = [make(i + 1) for i in range(n)]  # other values, so a partial write would show
    if spoil is not None:
        spoil(bad[700])  # after whole blocks have gone to the database
    bad_report = report_file(
        tmp_path / "bad.csv", columns, bad, aggregation, rows_line=None if spoil else n + 1
    )
    with pytest.raises(error, match=message):
        load(writer, bad_report, accounts)
    assert stored(db, writer) == before
