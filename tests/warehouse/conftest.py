"""Real databases for the warehouse tests: SQLite always, PostgreSQL and MariaDB/MySQL when reachable.

A server that is not reachable makes its tests SKIP with the reason (see ``pytest -ra``); set
``MSADS_REQUIRE_DBS=1`` (CI) to turn that skip into a failure. Each test gets its own table name and
the table is dropped afterwards, so the shared ``test`` databases stay clean.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_msads.client.models import Account
from airflow_provider_msads.warehouse import MYSQL, POSTGRESQL, SQLITE, TABLE_COLUMNS, SqlDialect

PG_DSN = os.environ.get("MSADS_TEST_PG_DSN", "host=127.0.0.1 port=5432 user=postgres dbname=test")
MYSQL_ARGS: dict[str, Any] = {
    "host": "127.0.0.1",
    "port": 3306,
    "user": "root",
    "password": "",
    "database": "test",
}

TIMINGS: list[str] = []


def _unavailable(what: str, err: BaseException) -> None:
    reason = f"{what} is not reachable ({type(err).__name__}: {err}); start it to run these tests"
    if os.environ.get("MSADS_REQUIRE_DBS"):
        pytest.fail(f"MSADS_REQUIRE_DBS is set but {reason}")
    pytest.skip(reason)


@dataclass
class Database:
    """One real database: how to connect, its dialect, and a throwaway table name."""

    name: str
    dialect: SqlDialect
    connect: Callable[[], Any]
    table: str
    schema: str | None = None
    _conns: list[Any] = field(default_factory=list)

    def conn(self) -> Any:
        c = self.connect()
        self._conns.append(c)
        return c

    def execute(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        """Run one statement on a fresh autocommitting connection and return its rows."""
        c = self.connect()
        try:
            cur = c.cursor()
            cur.execute(sql, params)
            rows = list(cur.fetchall()) if cur.description else []
            c.commit()
            return rows
        finally:
            c.close()

    def qualified(self, table: str | None = None) -> str:
        return self.dialect.qualified(table or self.table, self.schema)

    def table_exists(self, table: str | None = None) -> bool:
        try:
            self.execute(f"SELECT 1 FROM {self.qualified(table)} WHERE 1 = 0")
        except Exception:
            return False
        return True

    def snapshot(self, table: str | None = None) -> list[dict[str, Any]]:
        """The whole table, ordered by account id, with timestamps as aware UTC datetimes."""
        cols = ", ".join(self.dialect.quote(c) for c in TABLE_COLUMNS)
        rows = self.execute(
            f"SELECT {cols} FROM {self.qualified(table)} ORDER BY {self.dialect.quote('account_id')}"
        )
        return [normalise_row(self.dialect, dict(zip(TABLE_COLUMNS, row, strict=True))) for row in rows]

    def close_all(self) -> None:
        for c in self._conns:
            with contextlib.suppress(Exception):
                c.close()


def normalise_row(dialect: SqlDialect, row: dict[str, Any]) -> dict[str, Any]:
    for key in ("first_seen_at", "last_seen_at"):
        row[key] = as_utc(row[key])
    row["is_active_in_last_run"] = bool(row["is_active_in_last_run"])
    return row


def as_utc(value: Any) -> datetime:
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    assert isinstance(value, datetime), value
    if value.tzinfo is None:
        return value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc)


def _sqlite(tmp_path: Path) -> Callable[[], Any]:
    path = tmp_path / "warehouse.db"
    return lambda: sqlite3.connect(path)


def _postgres() -> Callable[[], Any]:
    psycopg = pytest.importorskip("psycopg", reason="psycopg (PostgreSQL driver) is not installed")
    try:
        psycopg.connect(PG_DSN, connect_timeout=3).close()
    except Exception as err:
        _unavailable(f"PostgreSQL ({PG_DSN})", err)
    return lambda: psycopg.connect(PG_DSN, connect_timeout=3)


def _mysql() -> Callable[[], Any]:
    mysqldb = pytest.importorskip("MySQLdb", reason="mysqlclient (MySQL/MariaDB driver) is not installed")
    try:
        mysqldb.connect(connect_timeout=3, **MYSQL_ARGS).close()
    except Exception as err:
        _unavailable("MariaDB/MySQL (root@127.0.0.1:3306/test)", err)
    return lambda: mysqldb.connect(connect_timeout=3, **MYSQL_ARGS)


DB_NAMES = ("sqlite", "postgresql", "mysql")


def make_database(name: str, tmp_path: Path) -> Database:
    table = f"msads_t_{uuid.uuid4().hex[:12]}"
    if name == "sqlite":
        return Database(name, SQLITE, _sqlite(tmp_path), table)
    if name == "postgresql":
        return Database(name, POSTGRESQL, _postgres(), table)
    return Database(name, MYSQL, _mysql(), table)


@pytest.fixture(params=DB_NAMES)
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    """Each test using it runs on SQLite, PostgreSQL and MariaDB."""
    database = make_database(request.param, tmp_path)
    yield database
    database.close_all()
    if database.name != "sqlite":
        database.execute(f"DROP TABLE IF EXISTS {database.qualified()}")


@pytest.fixture
def sqlite_db(tmp_path: Path) -> Iterator[Database]:
    """SQLite only: for behaviour that does not depend on the database."""
    database = make_database("sqlite", tmp_path)
    yield database
    database.close_all()


def make_accounts(
    n: int, *, start: int = 100_000, name: str = "Account", customer_id: int = 42
) -> list[Account]:
    return [
        Account(
            id=start + i,
            number=f"F{start + i:09d}",
            name=f"{name} {i}",
            parent_customer_id=customer_id + i % 3,
            lifecycle_status="Active" if i % 5 else "Paused",
            currency_code="USD" if i % 2 else "EUR",
            time_zone="PacificTimeUSCanadaTijuana",
            language="English",
            financial_status="ClearFinancialStatus",
            pause_reason=None if i % 5 else 2,
            bill_to_customer_id=customer_id,
            primary_user_id=7,
            payment_method_type="Invoice",
            account_mode="Expert",
            last_modified_time="2024-03-01T10:20:30.1234567",
            customer_name=f"Customer {customer_id + i % 3}",
        )
        for i in range(n)
    ]


@pytest.fixture
def accounts() -> Callable[..., list[Account]]:
    """Factory of realistic synthetic accounts: ``accounts(n, start=..., name=...)``."""
    return make_accounts


@pytest.fixture
def timings() -> list[str]:
    """Lines appended here are printed in the terminal summary (timings are reported, not asserted)."""
    return TIMINGS


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if TIMINGS:
        terminalreporter.section("msads warehouse write timings")
        for line in TIMINGS:
            terminalreporter.write_line(line)
