"""One measured warehouse write: N accounts into a fresh table, then the idempotent rerun.

Runs in its own interpreter (peak RSS is per write, and a driver's caches never carry over). Uses the
same SQLAlchemy engines the Airflow hooks hand out here (sqlite3, psycopg 3, mysqlclient, duckdb-engine),
without the hook layer: what is timed is :meth:`AccountTableWriter.write` alone, on its fast path or
(``--path generic``) on the generic SQLAlchemy path. The table name is unique per
process and dropped at the end, because other test suites share the ``test`` databases.

Prints one JSON line: first_seconds, rerun_seconds, the WriteStats of both, peak_rss.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine
from sqlalchemy.engine import Engine

from airflow_provider_msads.client.models import Account
from airflow_provider_msads.warehouse import AccountTableWriter


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


URLS = {
    "postgresql": "postgresql+psycopg://postgres@127.0.0.1:5432/test",
    "mysql": "mysql://root@127.0.0.1:3306/test",
}


def engine_for(dialect: str, workdir: Path) -> Engine:
    """The engine Airflow's hooks build for these connections (same dialect and driver)."""
    if dialect == "sqlite":
        return create_engine(f"sqlite:///{workdir / 'warehouse.db'}")
    if dialect == "duckdb":
        return create_engine(f"duckdb:///{workdir / 'warehouse.duckdb'}")
    return create_engine(URLS[dialect])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dialect", choices=("sqlite", "postgresql", "mysql", "duckdb"), required=True)
    parser.add_argument("--n", type=int, required=True)
    parser.add_argument("--path", choices=("fast", "generic"), default="fast", help="fast path or generic")
    args = parser.parse_args()

    rows = synthetic_accounts(args.n)
    seen_at = datetime(2025, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
    table = f"msads_bench_{os.getpid()}_{time.time_ns() % 1_000_000}"
    with tempfile.TemporaryDirectory(prefix="msads-bench-") as tmp:
        engine = engine_for(args.dialect, Path(tmp))
        writer = AccountTableWriter(engine, table, fast_path=args.path == "fast")
        try:
            timings: dict[str, float] = {}
            stats: dict[str, Any] = {}
            for label in ("first", "rerun"):
                started = time.perf_counter()
                result = writer.write(iter(rows), seen_at)
                timings[label] = time.perf_counter() - started
                stats[label] = result.as_dict()
            used = writer.describe_path()
        finally:
            with contextlib.suppress(Exception), engine.begin() as conn:
                writer.table.drop(conn, checkfirst=True)
            engine.dispose()
    print(
        json.dumps(
            {
                "dialect": args.dialect,
                "path": used,
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
