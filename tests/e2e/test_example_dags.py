"""The example DAGs, run for real (`airflow dags test`) against the emulator and real databases.

What each run proves is listed in its test's docstring. Runs: XCom DAG once (2,500 accounts); SQL DAG three times on
SQLite (first run, rerun, failing run), once on PostgreSQL, once on MariaDB.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_msads.client import MicrosoftAdsClient
from airflow_provider_msads.client.models import ACCOUNT_ROW_FIELDS
from airflow_provider_msads.client.settings import ConnectionSettings
from airflow_provider_msads.operators.accounts import MicrosoftAdsAccountsLink
from airflow_provider_msads.testing import DEMO_CLIENT_SECRET, DEMO_DEVELOPER_TOKEN, DEMO_REFRESH_TOKEN
from airflow_provider_msads.warehouse.dialect import parse_service_timestamp

pytestmark = pytest.mark.e2e

SQL_DAG = "msads_accounts_to_sql"
XCOM_DAG = "msads_accounts_to_xcom"
TABLE = "msads_accounts"
LINK_KEY = MicrosoftAdsAccountsLink().xcom_key
PG_URI = "postgres://postgres@127.0.0.1:5432/test"
PG_DSN = "host=127.0.0.1 port=5432 user=postgres dbname=test"
MYSQL_URI = "mysql://root@127.0.0.1:3306/test"
MYSQL_ARGS: dict[str, Any] = {
    "host": "127.0.0.1",
    "port": 3306,
    "user": "root",
    "password": "",
    "database": "test",
}
COLUMNS = (*ACCOUNT_ROW_FIELDS, "first_seen_at", "last_seen_at", "is_active_in_last_run")


def discovered_rows(emu: Any) -> list[dict[str, Any]]:
    """What discovery returns for the emulator's demo user, fetched in-process (the expected table)."""
    conn = json.loads(emu.airflow_conn_json())
    settings = ConnectionSettings.from_connection_fields(
        login=conn["login"], password=conn["password"], extra=conn["extra"]
    )
    with MicrosoftAdsClient.from_settings(settings) as client:
        accounts = list(client.discover_accounts(with_customer_names=True))
    assert [a.id for a in accounts] == sorted(emu.expected_account_ids)
    return [a.to_row() for a in accounts]


def secrets_of(emu: Any) -> list[str]:
    """Every credential the emulator knows of: the demo secrets and all tokens it has issued."""
    issued = [*emu.identity.refresh_tokens, *emu.identity.access_tokens]
    return [DEMO_REFRESH_TOKEN, DEMO_CLIENT_SECRET, DEMO_DEVELOPER_TOKEN, *issued]


def utc(value: Any) -> datetime:
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


def table_rows(fetch: Callable[[str], list[tuple[Any, ...]]], quote: str) -> list[dict[str, Any]]:
    cols = ", ".join(f"{quote}{c}{quote}" for c in COLUMNS)
    rows = [
        dict(zip(COLUMNS, r, strict=True)) for r in fetch(f"SELECT {cols} FROM {TABLE} ORDER BY account_id")
    ]
    for row in rows:
        row["first_seen_at"], row["last_seen_at"] = utc(row["first_seen_at"]), utc(row["last_seen_at"])
        row["is_active_in_last_run"] = bool(row["is_active_in_last_run"])
    return rows


def data_of(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: r[k] for k in ACCOUNT_ROW_FIELDS} for r in rows]


def first_cell(value: Any) -> Any:
    """The first cell of a SQLExecuteQueryOperator result as XCom stores it (tuples are wrapped)."""
    while isinstance(value, (list, dict)):
        value = value["__data__"] if isinstance(value, dict) else value[0]
    return value


def assert_success(run: Any) -> None:
    assert run.returncode == 0 and run.state == "success", f"{run} failed; log tail:\n{run.tail()}"


# -- XCom ---------------------------------------------------------------------------------------------


def test_accounts_to_xcom_with_2500_accounts(airflow_e2e: Any, msads_emulator_factory: Any) -> None:
    """An agency with 2,500 accounts (more than Airflow's default max_map_length of 1,024): the example
    succeeds unchanged. XCom holds batches of at most 500 sorted rows of the chosen fields (int ids),
    one mapped task runs per batch, the UI link is stored, and no secret is anywhere."""
    emu = msads_emulator_factory(accounts=2500, seed=5)
    fields = ("account_id", "account_name", "customer_id", "status")
    expected = [{f: r[f] for f in fields} for r in discovered_rows(emu)]
    assert len(expected) == 2500
    airflow_e2e.forget_stored_tokens()

    run = airflow_e2e.run(XCOM_DAG, {"msads_default": emu.airflow_conn_json()})

    assert_success(run)
    batches = airflow_e2e.xcom(run, "list_accounts")[-1]
    assert [len(b) for b in batches] == [500] * 5
    assert [row for batch in batches for row in batch] == expected
    assert all(isinstance(r["account_id"], int) for b in batches for r in b)
    states = airflow_e2e.task_states(run)
    done = sorted(i for (t, i), s in states.items() if t == "process_batch" and s == "success")
    assert done == list(range(5))
    per_batch = airflow_e2e.xcom(run, "process_batch")
    assert sum(v["accounts"] for v in per_batch.values()) == 2500
    assert airflow_e2e.xcom(run, "list_accounts", LINK_KEY)[-1].startswith("https://ui.ads.microsoft.com/")
    everything = airflow_e2e.all_xcom_text(run)
    leaked = [s[:8] + "..." for s in secrets_of(emu) if s in everything]
    assert leaked == [], f"secrets in XCom: {leaked}"


# -- SQL: SQLite -----------------------------------------------------------------------------------


def test_accounts_to_sql_sqlite_rerun_vanished_and_failure(
    airflow_e2e: Any, msads_emulator_factory: Any, tmp_path: Path
) -> None:
    """First run fills the table; a rerun changes no data but moves last_seen_at and flags an account
    that disappeared; a run whose discovery fails on page 2 (after 1,000 rows were staged) fails and
    leaves the table exactly as it was."""
    emu = msads_emulator_factory(accounts=1500, seed=9)  # two SearchAccounts pages of 1,000
    expected = discovered_rows(emu)
    warehouse = tmp_path / "warehouse.sqlite"
    conns = {
        "msads_default": emu.airflow_conn_json(),
        "msads_warehouse": json.dumps({"conn_type": "sqlite", "host": str(warehouse)}),
    }

    def fetch(sql: str) -> list[tuple[Any, ...]]:
        with sqlite3.connect(warehouse) as db:
            return list(db.execute(sql).fetchall())

    airflow_e2e.forget_stored_tokens()

    # 1. First run.
    first = airflow_e2e.run(SQL_DAG, conns)
    assert_success(first)
    assert airflow_e2e.xcom(first, "accounts_to_sql")[-1] == {
        "table": TABLE,
        "schema": None,
        "seen": 1500,
        "inserted": 1500,
        "updated": 0,
        "unchanged": 0,
        "vanished": 0,
        "duplicates": 0,
    }
    assert first_cell(airflow_e2e.xcom(first, "count_active_accounts")[-1]) == 1500
    after_first = table_rows(fetch, '"')
    assert data_of(after_first) == expected
    seen_1 = after_first[0]["first_seen_at"]
    assert all(
        r["first_seen_at"] == r["last_seen_at"] == seen_1 and r["is_active_in_last_run"] for r in after_first
    )

    # An account the table knows but discovery no longer returns (as if removed from the user's reach).
    ghost = (1, "F-GHOST", "Removed account", *([None] * (len(ACCOUNT_ROW_FIELDS) - 3)))
    stamp = "2024-01-01 00:00:00.000000+00:00"
    with sqlite3.connect(warehouse) as db:
        marks = ", ".join("?" * len(COLUMNS))
        db.execute(f"INSERT INTO {TABLE} VALUES ({marks})", (*ghost, stamp, stamp, 1))

    # 2. Rerun: same data, newer last_seen_at, ghost flagged.
    second = airflow_e2e.run(SQL_DAG, conns)
    assert_success(second)
    stats = airflow_e2e.xcom(second, "accounts_to_sql")[-1]
    assert (stats["seen"], stats["inserted"], stats["updated"], stats["unchanged"], stats["vanished"]) == (
        1500,
        0,
        0,
        1500,
        1,
    )
    after_second = table_rows(fetch, '"')
    ghost_row, real = after_second[0], after_second[1:]
    assert ghost_row["account_id"] == 1 and not ghost_row["is_active_in_last_run"]
    assert ghost_row["last_seen_at"] == utc(stamp)
    assert data_of(real) == expected
    seen_2 = real[0]["last_seen_at"]
    assert seen_2 > seen_1
    assert all(r["first_seen_at"] == seen_1 and r["last_seen_at"] == seen_2 for r in real)
    assert all(r["is_active_in_last_run"] for r in real)

    # 3. Discovery fails on the second SearchAccounts page (terminal API error): nothing changes.
    emu.faults.inject("SearchAccounts", error_code=106, after=1, times=None)
    searches_before = emu.counters["SearchAccounts"]
    failed = airflow_e2e.run(SQL_DAG, conns)
    assert failed.state == "failed", f"expected a failed run; log tail:\n{failed.tail()}"
    assert airflow_e2e.task_states(failed)[("accounts_to_sql", -1)] == "failed"
    # Page 1 (1,000 accounts = one staged batch) was served, page 2 failed and was not retried (terminal).
    assert emu.counters["SearchAccounts"] - searches_before == 2
    failed_log = failed.log.read_text(errors="replace")
    assert "UserIsNotAuthorized" in failed_log
    assert "AirflowFailException" in failed_log, "a terminal error fails the task without Airflow retries"
    assert "XCom not found" not in failed_log, "the extra link must not read an XCom the failure never wrote"
    assert table_rows(fetch, '"') == after_second


# -- SQL: PostgreSQL and MariaDB ---------------------------------------------------------------------


def _postgres() -> tuple[str, Callable[[str], list[tuple[Any, ...]]], str]:
    psycopg = pytest.importorskip("psycopg")

    def fetch(sql: str) -> list[tuple[Any, ...]]:
        with psycopg.connect(PG_DSN, connect_timeout=3) as c:
            cur = c.execute(sql)
            return list(cur.fetchall()) if cur.description else []

    return PG_URI, fetch, '"'


def _mariadb() -> tuple[str, Callable[[str], list[tuple[Any, ...]]], str]:
    mysqldb = pytest.importorskip("MySQLdb")

    def fetch(sql: str) -> list[tuple[Any, ...]]:
        c = mysqldb.connect(connect_timeout=3, **MYSQL_ARGS)
        try:
            cur = c.cursor()
            cur.execute(sql)
            rows = list(cur.fetchall()) if cur.description else []
            c.commit()
            return rows
        finally:
            c.close()

    return MYSQL_URI, fetch, "`"


@pytest.mark.parametrize("server", ["postgresql", "mariadb"])
def test_accounts_to_sql_server_databases(airflow_e2e: Any, msads_emulator_factory: Any, server: str) -> None:
    """The unchanged DAG writes the same table through a PostgreSQL or MariaDB connection."""
    uri, fetch, quote = _postgres() if server == "postgresql" else _mariadb()
    try:
        fetch("SELECT 1")
    except Exception as err:
        reason = f"{server} is not reachable ({type(err).__name__}: {err}); start it to run this test"
        if os.environ.get("MSADS_REQUIRE_DBS"):
            pytest.fail(f"MSADS_REQUIRE_DBS is set but {reason}")
        pytest.skip(reason)
    emu = msads_emulator_factory(accounts=40, seed=13)
    expected = discovered_rows(emu)
    fetch(f"DROP TABLE IF EXISTS {TABLE}")  # the DAG's fixed table name in the shared `test` database
    airflow_e2e.forget_stored_tokens()
    try:
        run = airflow_e2e.run(SQL_DAG, {"msads_default": emu.airflow_conn_json(), "msads_warehouse": uri})
        assert_success(run)
        stats = airflow_e2e.xcom(run, "accounts_to_sql")[-1]
        assert (stats["seen"], stats["inserted"]) == (40, 40)
        assert first_cell(airflow_e2e.xcom(run, "count_active_accounts")[-1]) == 40
        rows = table_rows(fetch, quote)
        for row in rows:  # a timestamp column there (UTC; MariaDB's DATETIME is naive UTC)
            row["last_modified_time"] = utc(row["last_modified_time"])
        for row in expected:
            row["last_modified_time"] = parse_service_timestamp(row["last_modified_time"])
        assert data_of(rows) == expected
        assert all(r["is_active_in_last_run"] and r["first_seen_at"] == r["last_seen_at"] for r in rows)
    finally:
        fetch(f"DROP TABLE IF EXISTS {TABLE}")
