"""``msads-demo``: the whole pipeline on one machine, no credentials needed.

Starts the bundled emulator, points an ``msads`` connection at it and a SQLite connection at a local
file, runs the example DAG ``msads_accounts_to_sql`` with ``airflow dags test``, and prints the
accounts it wrote. Against the real API only the two connections change.
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

DAG_ID = "msads_accounts_to_sql"
TABLE = "msads_accounts"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="msads-demo", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--home", default="msads-demo", help="folder for AIRFLOW_HOME and the SQLite warehouse"
    )
    parser.add_argument("--accounts", type=int, default=25, help="accounts the emulated user can reach")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--transport", choices=("rest", "soap"), default="rest")
    args = parser.parse_args(argv)

    from airflow_provider_msads import example_dags
    from airflow_provider_msads.testing import Emulator

    home = Path(args.home).resolve()
    home.mkdir(parents=True, exist_ok=True)
    warehouse = home / "warehouse.sqlite"
    env = _airflow_env(home, Path(example_dags.__file__).parent)

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
    _print_table(warehouse)
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


if __name__ == "__main__":
    raise SystemExit(main())
