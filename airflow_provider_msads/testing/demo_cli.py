"""``msads-demo``: the whole pipeline on one machine, no credentials needed.

Part of the testing side (it drives the emulator; product code never imports it). Starts the bundled
emulator, points an ``msads`` connection at it and a SQLite connection at a local file, runs the example
DAGs ``msads_accounts_to_sql`` and ``msads_reports_to_sql`` (yesterday's AccountPerformance, deferred
report tasks) with ``airflow dags test``, and prints the accounts and yesterday's spend per account it
wrote. Against the real API only the two connections change.
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

DAG_ID = "msads_accounts_to_sql"
TABLE = "msads_accounts"
REPORT_DAG_ID = "msads_reports_to_sql"
REPORT_TABLE = "msads_account_performance_daily"
_DESCRIPTION = (
    "Run the example DAGs msads_accounts_to_sql and msads_reports_to_sql against the bundled emulator "
    "with `airflow dags test` and print the accounts and yesterday's spend per account they wrote into a "
    "local SQLite warehouse. No credentials needed."
)


def example_dags_folder() -> Path:
    """The example DAGs: ``example_dags/`` of the checkout, else the copy a wheel carries.

    The files live once, at the top of the repository; the wheel ships them as the package
    ``airflow_provider_msads.example_dags`` (see setup.py).
    """
    import importlib.util

    import airflow_provider_msads

    checkout = Path(airflow_provider_msads.__file__).resolve().parent.parent / "example_dags"
    if (checkout / "msads_accounts_to_sql.py").is_file():
        return checkout
    spec = importlib.util.find_spec("airflow_provider_msads.example_dags")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit(
            "msads-demo: the example DAGs are neither in a checkout nor in the installed package"
        )
    return Path(next(iter(spec.submodule_search_locations)))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="msads-demo",
        description=_DESCRIPTION,
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument(
        "--home",
        default="msads-demo",
        help="folder for AIRFLOW_HOME, the Airflow log and the SQLite warehouse",
    )
    parser.add_argument("--accounts", type=int, default=25, help="accounts the emulated user can reach")
    parser.add_argument("--seed", type=int, default=1, help="seed of the emulator's synthetic data set")
    parser.add_argument(
        "--transport", choices=("rest", "soap"), default="rest", help="API transport the connection uses"
    )
    args = parser.parse_args(argv)

    from airflow_provider_msads.testing import Emulator

    home = Path(args.home).resolve()
    home.mkdir(parents=True, exist_ok=True)
    warehouse = home / "warehouse.sqlite"
    env = _airflow_env(home, example_dags_folder())

    emulator = Emulator(accounts=args.accounts, seed=args.seed)
    with emulator.serve(host="127.0.0.1", port=0):
        conn = json.loads(emulator.airflow_conn_json())
        conn["extra"]["transport"] = args.transport
        env["AIRFLOW_CONN_MSADS_DEFAULT"] = json.dumps(conn)
        env["AIRFLOW_CONN_MSADS_WAREHOUSE"] = json.dumps({"conn_type": "sqlite", "host": str(warehouse)})
        print(f"emulator:  {emulator.url} ({args.accounts} accounts, {args.transport})", flush=True)
        print(f"airflow:   AIRFLOW_HOME={home}", flush=True)
        _run(env, "db", "migrate", quiet=True)
        print(f"running:   airflow dags test {DAG_ID}", flush=True)
        _run(env, "dags", "test", DAG_ID, quiet=True)
        day = (datetime.now(timezone.utc) - timedelta(days=1)).date()
        print(f"running:   airflow dags test {REPORT_DAG_ID} {day}", flush=True)
        conf = json.dumps({"poll_interval": 0.5})
        _run(env, "dags", "test", REPORT_DAG_ID, day.isoformat(), "--conf", conf, quiet=True)
    _print_table(warehouse)
    _print_spend(warehouse, day)
    return 0


def _airflow_env(home: Path, dags_folder: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        AIRFLOW_HOME=str(home),
        AIRFLOW__CORE__DAGS_FOLDER=str(dags_folder),
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=f"sqlite:///{home / 'airflow.db'}",
    )
    return env


def _run(env: dict[str, str], *args: str, quiet: bool) -> None:
    log = Path(env["AIRFLOW_HOME"]) / "demo-airflow.log"
    with log.open("a") as out:
        result = subprocess.run(  # noqa: S603 (our own interpreter running airflow)
            [sys.executable, "-m", "airflow", *args],
            env=env,
            stdout=out if quiet else None,
            stderr=subprocess.STDOUT if quiet else None,
            check=False,
        )
    if result.returncode != 0:
        raise SystemExit(f"`airflow {' '.join(args)}` failed (exit {result.returncode}); see {log}")


def _print_table(warehouse: Path) -> None:
    with sqlite3.connect(warehouse) as db:
        rows = db.execute(
            f"SELECT account_id, account_number, account_name, customer_id, customer_name, status, currency "  # noqa: S608
            f"FROM {TABLE} ORDER BY account_id"
        ).fetchall()
    customers = {row[3] for row in rows}
    print(f"\nfound {len(rows)} accounts across {len(customers)} customers -> {warehouse} table {TABLE}\n")
    header = ("account_id", "number", "name", "customer_id", "customer", "status", "currency")
    widths = [max(len(str(v)) for v in col) for col in zip(header, *rows, strict=True)]
    for line in (header, *rows):
        print("  ".join(str(v if v is not None else "").ljust(w) for v, w in zip(line, widths, strict=True)))
    unnamed = sorted({row[3] for row in rows if row[3] is not None and not row[4]})
    if unnamed:
        print(
            f"\nblank customer names: the demo user may see accounts of customer(s) "
            f"{', '.join(map(str, unnamed))} but not read the customer itself (GetCustomer answers 106 "
            "UserIsNotAuthorized); those accounts are complete, only the name is unknown."
        )


def _print_spend(warehouse: Path, day: object) -> None:
    """Spend per account on ``day`` from the report table (lines indented: they are not account rows)."""
    with sqlite3.connect(warehouse) as db:
        rows = db.execute(
            'SELECT "AccountId", "AccountName", "CurrencyCode", SUM("Impressions"), SUM("Clicks"), '  # noqa: S608
            f'SUM("Spend") FROM {REPORT_TABLE} WHERE "TimePeriod" = ? '
            'GROUP BY "AccountId", "AccountName", "CurrencyCode" ORDER BY "AccountId"',
            (str(day),),
        ).fetchall()
    print(f"\nspend per account on {day} ({len(rows)} accounts with activity) -> table {REPORT_TABLE}\n")
    header = ("account_id", "name", "currency", "impressions", "clicks", "spend")
    lines = [(*(str(v) for v in r[:5]), f"{Decimal(str(r[5] or 0)):.2f}") for r in rows]
    widths = [max(len(str(v)) for v in col) for col in zip(header, *lines, strict=True)]
    for line in (header, *lines):
        print("  " + "  ".join(str(v).ljust(w) for v, w in zip(line, widths, strict=True)))


if __name__ == "__main__":
    raise SystemExit(main())
