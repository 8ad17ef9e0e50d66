"""One measured warehouse write: N accounts into a fresh table, then the idempotent rerun.

Runs in its own interpreter (peak RSS is per write, and a driver's caches never carry over). Uses the
same DB-API drivers the Airflow hooks hand out here (sqlite3, psycopg 3, mysqlclient), without the
hook layer: what is timed is :meth:`AccountTableWriter.write` alone. The table name is unique per
process and dropped at the end, because other test suites share the ``test`` databases.

Prints one JSON line: first_seconds, rerun_seconds, the WriteStats of both, peak_rss.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from airflow_provider_msads.client.models import Account
from airflow_provider_msads.warehouse import MYSQL, POSTGRESQL, SQLITE, AccountTableWriter, SqlDialect

PG_DSN = "host=127.0.0.1 port=5432 user=postgres dbname=test"
MYSQL_ARGS: dict[str, Any] = {
    "host": "127.0.0.1",
    "port": 3306,
    "user": "root",
    "password": "",
    "database": "test",
}


def synthetic_accounts(n: int) -> list[Account]:
    """N realistic accounts (field sizes as the emulator's), 100 per customer, deterministic."""
    statuses = ("Active", "Active", "Active", "Pause", "Inactive", "Draft")
    return [
        Account(
            id=3_000_000_000 + i,
            number=f"F{i:07X}",
            name=f"Contoso Outdoor Gear Audience {i:06d}",
            parent_customer_id=2_100_000_000 + i // 100,
            lifecycle_status=statuses[i % len(statuses)],
            currency_code="USD",
            time_zone="PacificTimeUSCanadaTijuana",
            language="English",
            financial_status="ClearFinancialStatus",
            pause_reason=1 if i % len(statuses) == 3 else None,
            bill_to_customer_id=2_100_000_000 + i // 100,
            primary_user_id=2_900_000_001,
            payment_method_type="CreditCard" if i % 2 else "Invoice",
            account_mode="Expert",
            last_modified_time=f"2024-04-03T18:27:{i % 60:02d}.770",
            customer_name=f"Contoso {i // 100:05d}",
        )
        for i in range(n)
    ]


def connector(dialect: str, workdir: Path) -> tuple[Callable[[], Any], SqlDialect]:
    if dialect == "sqlite":
        path = workdir / "warehouse.db"
        return lambda: sqlite3.connect(path), SQLITE
    if dialect == "postgresql":
        import psycopg

        return lambda: psycopg.connect(PG_DSN, connect_timeout=5), POSTGRESQL
    import MySQLdb

    return lambda: MySQLdb.connect(connect_timeout=5, **MYSQL_ARGS), MYSQL


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dialect", choices=("sqlite", "postgresql", "mysql"), required=True)
    parser.add_argument("--n", type=int, required=True)
    args = parser.parse_args()

    rows = synthetic_accounts(args.n)
    seen_at = datetime(2025, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
    table = f"msads_bench_{os.getpid()}_{time.time_ns() % 1_000_000}"
    with tempfile.TemporaryDirectory(prefix="msads-bench-") as tmp:
        connect, dialect = connector(args.dialect, Path(tmp))
        conn = connect()
        try:
            timings: dict[str, float] = {}
            stats: dict[str, Any] = {}
            for label in ("first", "rerun"):
                writer = AccountTableWriter(conn, dialect, table)
                started = time.perf_counter()
                result = writer.write(iter(rows), seen_at)
                timings[label] = time.perf_counter() - started
                stats[label] = result.as_dict()
        finally:
            with contextlib.suppress(Exception):
                conn.rollback()
                cur = conn.cursor()
                cur.execute(f"DROP TABLE IF EXISTS {dialect.qualified(table)}")
                conn.commit()
            conn.close()
    print(
        json.dumps(
            {
                "dialect": args.dialect,
                "n": args.n,
                "first_seconds": timings["first"],
                "rerun_seconds": timings["rerun"],
                "stats": stats,
                "peak_rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
