"""One measured report load: N generated report rows into a fresh table, or ``psql \\copy`` of the same CSV.

Runs in its own interpreter (peak RSS is per load). ``--mode writer`` times
:meth:`ReportTableWriter.replace_window` (create table + delete window + stream every row + commit) with
rows generated lazily (a daily AccountPerformance-like report: 1,000 accounts x days x 3 devices, 10
columns); ``--mode psql`` (PostgreSQL) writes the same rows as CSV first (untimed), then times
``psql -c "\\copy table FROM file CSV"`` into the same table definition: the floor for a bulk load;
``--mode e2e`` writes the same rows as a report file in Microsoft's layout first (untimed), then times
the writer loading it as the ``Report`` that ``download_report`` yields (PostgreSQL: COPY of the parser's
text view, ``Report.text_blocks``; generate_seconds is reading that view alone).

Prints one JSON line: seconds (the load, generating the rows included), generate_seconds (generating
them alone, measured first in the same process), write_seconds (the difference), rows, peak_rss.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine
from sqlalchemy.engine import Engine

from airflow_provider_msads.client.reporting import Report, ReportFile, column_kind
from airflow_provider_msads.warehouse.reports import ReportColumn, ReportTableWriter

URLS = {
    "postgresql": "postgresql+psycopg://postgres@127.0.0.1:5432/test",
    "mysql": "mysql://root@127.0.0.1:3306/test",
}
PSQL = ["psql", "-h", "127.0.0.1", "-U", "postgres", "-d", "test", "-q", "-v", "ON_ERROR_STOP=1"]
NAMES = (
    "AccountId",
    "TimePeriod",
    "DeviceType",
    "AccountName",
    "Impressions",
    "Clicks",
    "Spend",
    "Ctr",
    "Conversions",
    "Revenue",
)
#: Kinds from the report-type catalogue, as the operator builds its table (Conversions is a decimal).
COLUMNS = tuple(ReportColumn(n, column_kind("AccountPerformance", n)) for n in NAMES)
KEY = ("AccountId", "TimePeriod", "DeviceType")
ACCOUNTS = 1000
DEVICES = ("Computer", "Smartphone", "Tablet")
START = date(2025, 1, 1)
LOADED_AT = datetime(2025, 12, 1, 6, 0, tzinfo=timezone.utc)


def days_for(n: int) -> int:
    return max(1, -(-n // (ACCOUNTS * len(DEVICES))))


def generate(n: int) -> Iterator[dict[str, Any]]:
    """``n`` typed rows (as the report parser yields them), deterministic, never held in memory."""
    count = 0
    for d in range(days_for(n)):
        day = START + timedelta(days=d)
        for a in range(ACCOUNTS):
            for i, device in enumerate(DEVICES):
                if count == n:
                    return
                clicks = (a * 7 + d * 3 + i) % 97
                yield {
                    "AccountId": 150_000_000 + a,
                    "TimePeriod": day,
                    "DeviceType": device,
                    "AccountName": f"Contoso Outdoor Gear {a:05d}",
                    "Impressions": clicks * 41 + 7,
                    "Clicks": clicks,
                    "Spend": Decimal(clicks * 37 + a % 100) / 100,
                    "Ctr": Decimal(clicks * 100) / (clicks * 41 + 7),
                    "Conversions": clicks // 9,
                    "Revenue": Decimal(clicks * 113) / 100,
                }
                count += 1


def write_report_file(path: Path, n: int, end: date) -> None:
    """The same rows as a report file in Microsoft's layout (BOM, quoted header block, column row, rows,
    footer; README section 3.2 of the reporting contract), as the client downloads it (a bare CSV)."""
    us = f"{end.month}/{end.day}/{end.year}"
    header = [
        "Report Name: bench",
        f"Report Time: {START.month}/{START.day}/{START.year},{us}",
        "Time Zone: (GMT-08:00) Pacific Time (US & Canada); Tijuana",
        f"Last Completed Available Day: {us} 10:15:00 PM (GMT)",
        f"Last Completed Available Hour: {us} 10:15:00 PM (GMT)",
        "Report Aggregation: Daily",
        "Report Filter: ",
        "Potential Incomplete Data: false",
        f"Rows: {n}",
    ]
    with path.open("w", newline="", encoding="utf-8") as f:
        f.write("\ufeff")
        out = csv.writer(f, quoting=csv.QUOTE_ALL, lineterminator="\r\n")
        for line in header:
            out.writerow([line])
        f.write("\r\n")
        out.writerow([c.name for c in COLUMNS])
        for row in generate(n):
            cells = [row[c.name] for c in COLUMNS]
            cells[7] = f"{row['Ctr']:.2f}%"  # Ctr: Microsoft writes percentages with "%"
            out.writerow(cells)
        f.write("\r\n")
        out.writerow(["\u00a92025 Microsoft Corporation. All rights reserved. "])


def engine_for(dialect: str, workdir: Path) -> Engine:
    if dialect == "sqlite":
        return create_engine(f"sqlite:///{workdir / 'report.db'}")
    if dialect == "duckdb":
        return create_engine(f"duckdb:///{workdir / 'report.duckdb'}")
    return create_engine(URLS[dialect])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dialect", choices=("sqlite", "postgresql", "mysql", "duckdb"), required=True)
    parser.add_argument("--rows", type=int, required=True)
    parser.add_argument("--mode", choices=("writer", "psql", "e2e"), default="writer")
    parser.add_argument("--path", choices=("fast", "generic"), default="fast")
    args = parser.parse_args()
    generate_seconds = 0.0
    table = f"msads_rbench_{os.getpid()}_{time.time_ns() % 1_000_000}"
    end = START + timedelta(days=days_for(args.rows) - 1)
    ids = [150_000_000 + a for a in range(ACCOUNTS)]
    with tempfile.TemporaryDirectory(prefix="msads-rbench-") as tmp:
        engine = engine_for(args.dialect, Path(tmp))
        writer = ReportTableWriter(engine, table, None, COLUMNS, KEY, fast_path=args.path == "fast")
        try:
            if args.mode == "psql":
                csv_path = Path(tmp) / "report.csv"
                with csv_path.open("w", newline="") as f:
                    out = csv.writer(f)
                    for row in generate(args.rows):
                        out.writerow([*(row[c.name] for c in COLUMNS), LOADED_AT.isoformat(), "t"])
                with engine.begin() as conn:
                    writer.table.create(conn)
                started = time.perf_counter()
                subprocess.run([*PSQL, "-c", f"\\copy {table} FROM '{csv_path}' CSV"], check=True)
                seconds = time.perf_counter() - started
                inserted = args.rows
            elif args.mode == "e2e":
                report_path = Path(tmp) / "report.csv"
                write_report_file(report_path, args.rows, end)
                started = time.perf_counter()
                for _ in ReportFile(report_path, aggregation="Daily").text_blocks():  # parsing alone
                    pass
                generate_seconds = time.perf_counter() - started
                started = time.perf_counter()
                # What ``download_report`` yields and the operator loads.
                report = Report.from_files(
                    [ReportFile(report_path, aggregation="Daily", require_header=True)]
                )
                stats = writer.replace_window(
                    report,
                    account_ids=ids,
                    start=START,
                    end=end,
                    complete_through=report.metadata.last_completed_day,
                    loaded_at=LOADED_AT,
                )
                seconds = time.perf_counter() - started
                inserted = stats.inserted
            else:
                started = time.perf_counter()
                for _ in generate(args.rows):  # what producing the rows costs (the parser's share)
                    pass
                generate_seconds = time.perf_counter() - started
                started = time.perf_counter()
                stats = writer.replace_window(
                    generate(args.rows),
                    account_ids=ids,
                    start=START,
                    end=end,
                    complete_through=end,
                    loaded_at=LOADED_AT,
                )
                seconds = time.perf_counter() - started
                inserted = stats.inserted
            with engine.connect() as conn:
                stored = conn.exec_driver_sql(f"SELECT COUNT(*) FROM {table}").scalar()
        finally:
            with engine.begin() as conn:
                writer.table.drop(conn, checkfirst=True)
            engine.dispose()
    if stored != args.rows or inserted != args.rows:
        raise SystemExit(f"stored {stored} / inserted {inserted} of {args.rows} rows")
    print(
        json.dumps(
            {
                "dialect": args.dialect,
                "mode": args.mode,
                "path": args.path,
                "rows": args.rows,
                "seconds": seconds,
                "generate_seconds": generate_seconds,
                "write_seconds": seconds - generate_seconds,
                "peak_rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
