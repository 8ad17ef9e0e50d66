"""Shared pieces of the warehouse tests (imported as ``msads_warehouse_helpers``: conftest module names
clash across test folders). Real databases for the warehouse tests: SQLite and DuckDB always, PostgreSQL and MariaDB when reachable.

Every engine comes from an Airflow connection through ``BaseHook.get_hook(conn_id)`` and
``hook.get_sqlalchemy_engine()``, exactly as the operators get theirs: SQLite (conn_type ``sqlite``),
PostgreSQL (``postgres``, psycopg 3), MariaDB (``mysql``, mysqlclient) and DuckDB (``duckdb``, from
``airflow-provider-duckdb`` + ``duckdb-engine``: the database the code has no special case for).

A server that is not reachable makes its tests SKIP with the reason (see ``pytest -ra``); set
``MSADS_REQUIRE_DBS=1`` (CI) to turn that skip into a failure. Each test gets its own table name and
the table is dropped afterwards, so the shared ``test`` databases stay clean.
"""

from __future__ import annotations

import json
import os
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from airflow_provider_msads.client.models import Account
from airflow_provider_msads.warehouse import TABLE_COLUMNS, accounts_table, engine_for_hook
from airflow_provider_msads.warehouse.dialect import parse_service_timestamp

PG_URI = os.environ.get("MSADS_TEST_PG_URI", "postgresql://postgres@127.0.0.1:5432/test")
MYSQL_URI = os.environ.get("MSADS_TEST_MYSQL_URI", "mysql://root@127.0.0.1:3306/test")

TIMINGS: list[str] = []


def _unavailable(what: str, err: BaseException, fix: str = "is not reachable ({error}); start it") -> None:
    reason = f"{what} {fix.format(error=f'{type(err).__name__}: {err}')} to run these tests"
    if os.environ.get("MSADS_REQUIRE_DBS"):
        pytest.fail(f"MSADS_REQUIRE_DBS is set but {reason}")
    pytest.skip(reason)


def airflow_conn(name: str, tmp_path: Path) -> str:
    """The ``AIRFLOW_CONN_*`` value of the test database ``name``."""
    if name == "sqlite":
        return json.dumps({"conn_type": "sqlite", "host": str(tmp_path / "warehouse.sqlite")})
    if name == "duckdb":
        return json.dumps({"conn_type": "duckdb", "host": str(tmp_path / "warehouse.duckdb")})
    if name == "postgresql":
        return PG_URI
    return MYSQL_URI


def hook_engine(name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Engine:
    """An engine from a real Airflow connection, as the operators build it."""
    from airflow.sdk import BaseHook

    if name == "mysql":
        try:  # the mysql extra: Airflow's MySQL provider and mysqlclient (compiled against libmariadb)
            import airflow.providers.mysql  # noqa: F401
            import MySQLdb  # noqa: F401
        except ImportError as err:
            _unavailable(
                "MariaDB/MySQL",
                err,
                "needs the mysql extra ({error}): apt-get install libmariadb-dev pkg-config, then "
                "pip install -e '.[test,mysql]',",
            )
    conn_id = f"msads_wh_{uuid.uuid4().hex[:8]}"
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", airflow_conn(name, tmp_path))
    engine = engine_for_hook(BaseHook.get_hook(conn_id))
    if name in ("postgresql", "mysql"):
        try:
            with engine.connect() as c:
                c.exec_driver_sql("SELECT 1")
        except Exception as err:
            _unavailable(f"{name} ({engine.url.render_as_string()})", err)
    return engine


@dataclass
class Database:
    """One real database: its engine, and a throwaway table name."""

    name: str
    engine: Engine
    table: str
    schema: str | None = None
    fast_path: bool = True  # False: the writers must take the generic SQLAlchemy path

    @property
    def id(self) -> str:
        return self.name if self.fast_path else f"{self.name}-generic"

    def execute(self, sql: str, params: dict[str, Any] | None = None) -> list[tuple[Any, ...]]:
        """Run one statement in its own transaction and return its rows."""
        with self.engine.begin() as c:
            result = c.execute(sa.text(sql), params or {})
            return [tuple(r) for r in result] if result.returns_rows else []

    def quote(self, name: str) -> str:
        return self.engine.dialect.identifier_preparer.quote(name)

    def qualified(self, table: str | None = None) -> str:
        t = self.quote(table or self.table)
        return f"{self.quote(self.schema)}.{t}" if self.schema else t

    def table_exists(self, table: str | None = None) -> bool:
        return sa.inspect(self.engine).has_table(table or self.table, schema=self.schema)

    def snapshot(self, table: str | None = None) -> list[dict[str, Any]]:
        """The whole accounts table by account id: timestamps aware UTC, flags bool (typed read)."""
        t = accounts_table(table or self.table, self.schema)
        with self.engine.connect() as c:
            rows = c.execute(sa.select(*(t.c[n] for n in TABLE_COLUMNS)).order_by(t.c.account_id))
            return [normalise_row(dict(r._mapping)) for r in rows]

    def drop(self, table: str | None = None) -> None:
        self.execute(f"DROP TABLE IF EXISTS {self.qualified(table)}")


def normalise_row(row: dict[str, Any]) -> dict[str, Any]:
    row["is_active_in_last_run"] = bool(row["is_active_in_last_run"])
    return row


def expected_value(db: Database, column: str, value: Any) -> Any:
    """What the table holds for a written value (the service's timestamp text is a timestamp there)."""
    if column == "last_modified_time" and isinstance(value, str) and db.name != "sqlite":
        return parse_service_timestamp(value)
    return value


def as_utc(value: Any) -> datetime:
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    assert isinstance(value, datetime), value
    if value.tzinfo is None:
        return value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc)


#: ``postgresql-generic``: PostgreSQL with its COPY fast path turned off (the generic path, proven there).
DB_NAMES = ("sqlite", "postgresql", "postgresql-generic", "mysql", "duckdb")


def make_database(name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Database:
    table = f"msads_t_{uuid.uuid4().hex[:12]}"
    base, _, variant = name.partition("-")
    return Database(base, hook_engine(base, tmp_path, monkeypatch), table, fast_path=variant != "generic")


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


def write_in_process(
    url: str, table: str, n: int, seen_at: str, barrier_dir: str, writers: int
) -> dict[str, int]:
    """Run in a separate (spawned) process: wait until every writer is up, then write ``n`` accounts."""
    import time
    from pathlib import Path

    from airflow_provider_msads.warehouse import AccountTableWriter

    engine = sa.create_engine(url)
    Path(barrier_dir, f"{os.getpid()}").touch()
    deadline = time.monotonic() + 60
    while len(list(Path(barrier_dir).iterdir())) < writers and time.monotonic() < deadline:
        time.sleep(0.005)
    try:
        stats = AccountTableWriter(engine, table).write(make_accounts(n), datetime.fromisoformat(seen_at))
    finally:
        engine.dispose()
    return stats.as_dict()
