"""A stub Microsoft Advertising client and SQL connections (SQLite, PostgreSQL, MariaDB) for operator tests.

Database servers that are not reachable make their tests SKIP with the reason (``pytest -ra``);
``MSADS_REQUIRE_DBS=1`` turns that into a failure.
"""

from __future__ import annotations

import inspect
import json
import os
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from airflow_provider_msads.client.client import MicrosoftAdsClient
from airflow_provider_msads.client.models import Account
from airflow_provider_msads.hooks.msads import MicrosoftAdsHook

REFRESH = "M.R3_BAY.refresh-token-never-in-xcom-0123456789"
DEVELOPER_TOKEN = "DEVTOKEN-NEVER-IN-XCOM-42"
CLIENT_SECRET = "client-secret-never-in-xcom~42"
SECRETS = (REFRESH, DEVELOPER_TOKEN, CLIENT_SECRET)


@dataclass
class FakeClient:
    """Stands in for MicrosoftAdsClient: yields ``accounts`` (optionally failing after ``fail_after``).

    Every call is bound against the REAL ``MicrosoftAdsClient`` signature first, so the fake cannot
    drift from the client: a renamed or removed parameter fails these tests as it would fail users.
    ``fail_with`` raises that error instead (after ``fail_after`` accounts, default at once).
    """

    accounts: list[Account]
    fail_after: int | None = None
    calls: list[dict[str, Any]] = field(default_factory=list)
    closed: bool = False
    fail_with: BaseException | None = None

    def __enter__(self) -> FakeClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.closed = True

    def discover_accounts(self, *args: Any, **kwargs: Any) -> Iterator[Account]:
        inspect.signature(MicrosoftAdsClient.discover_accounts).bind(self, *args, **kwargs)
        self.calls.append(kwargs)
        for i, account in enumerate(self.accounts):
            if (self.fail_after is not None and i == self.fail_after) or (
                self.fail_with and self.fail_after is None
            ):
                raise self.fail_with or RuntimeError(f"injected: SearchAccounts failed after {i} accounts")
            yield account
        if self.fail_with is not None and self.fail_after is None:
            raise self.fail_with


class FakeTI:
    def __init__(self) -> None:
        self.pushed: dict[str, Any] = {}

    def xcom_push(self, key: str, value: Any) -> None:
        self.pushed[key] = value


@pytest.fixture
def msads_conn(monkeypatch: pytest.MonkeyPatch) -> str:
    """A valid ``msads`` connection (the stub client never uses it for HTTP)."""
    conn = {
        "conn_type": "msads",
        "login": "00000000-0000-0000-0000-000000000001",
        "password": REFRESH,
        "extra": {"developer_token": DEVELOPER_TOKEN, "client_secret": CLIENT_SECRET},
    }
    monkeypatch.setenv("AIRFLOW_CONN_MSADS_UNIT", json.dumps(conn))
    return "msads_unit"


@pytest.fixture
def msads_secrets() -> tuple[str, ...]:
    """The secret values of the ``msads_conn`` connection: none may ever reach XCom."""
    return SECRETS


@pytest.fixture
def fake_client(monkeypatch: pytest.MonkeyPatch) -> Callable[..., FakeClient]:
    """``fake_client(accounts, fail_after=None)`` installs a stub behind MicrosoftAdsHook.get_client."""

    def install(
        accounts: list[Account], fail_after: int | None = None, fail_with: BaseException | None = None
    ) -> FakeClient:
        client = FakeClient(list(accounts), fail_after, fail_with=fail_with)
        monkeypatch.setattr(MicrosoftAdsHook, "get_client", lambda self: client)
        return client

    return install


@pytest.fixture
def context() -> Callable[..., dict[str, Any]]:
    """``context(run_after)``: the parts of an Airflow context the operators use."""

    def make(run_after: Any = None) -> dict[str, Any]:
        return {"ti": FakeTI(), "dag_run": SimpleNamespace(run_after=run_after)}

    return make


def make_accounts(n: int, *, start: int = 5000, customers: int = 2) -> list[Account]:
    # Deliberately not in id order: the list operator must sort.
    ids = [start + (i * 7919) % n for i in range(n)]
    return [
        Account(
            id=account_id,
            number=f"F{account_id}",
            name=f"Account {account_id}",
            parent_customer_id=100 + account_id % customers,
            lifecycle_status="Active",
            currency_code="EUR",
            time_zone="AmsterdamBerlinBernRomeStockholmVienna",
            customer_name=f"Customer {100 + account_id % customers}",
        )
        for account_id in ids
    ]


@pytest.fixture
def accounts() -> Callable[..., list[Account]]:
    return make_accounts


@dataclass
class SqlTarget:
    name: str
    conn_id: str
    query: Callable[[str], list[tuple[Any, ...]]]
    table: str
    quote: str


def _skip_or_fail(what: str, err: BaseException) -> None:
    reason = f"{what} is not reachable ({type(err).__name__}: {err}); start it to run these tests"
    if os.environ.get("MSADS_REQUIRE_DBS"):
        pytest.fail(f"MSADS_REQUIRE_DBS is set but {reason}")
    pytest.skip(reason)


@pytest.fixture(params=["sqlite", "postgresql", "mysql"])
def sql_target(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[SqlTarget]:
    """An Airflow SQL connection ``msads_unit_sql`` to a real database and a fresh table name."""
    table = f"msads_op_{uuid.uuid4().hex[:10]}"
    conn_id = "msads_unit_sql"
    if request.param == "sqlite":
        import sqlite3

        path = tmp_path / "warehouse.sqlite"
        monkeypatch.setenv(
            "AIRFLOW_CONN_MSADS_UNIT_SQL", json.dumps({"conn_type": "sqlite", "host": str(path)})
        )

        def query(sql: str) -> list[tuple[Any, ...]]:
            with sqlite3.connect(path) as c:
                return list(c.execute(sql).fetchall())

        yield SqlTarget("sqlite", conn_id, query, table, '"')
        return
    if request.param == "postgresql":
        psycopg = pytest.importorskip("psycopg")
        dsn = "host=127.0.0.1 port=5432 user=postgres dbname=test"
        try:
            psycopg.connect(dsn, connect_timeout=3).close()
        except Exception as err:
            _skip_or_fail("PostgreSQL at 127.0.0.1:5432", err)
        monkeypatch.setenv("AIRFLOW_CONN_MSADS_UNIT_SQL", "postgres://postgres@127.0.0.1:5432/test")

        def query(sql: str) -> list[tuple[Any, ...]]:
            with psycopg.connect(dsn) as c:
                cur = c.execute(sql)
                return list(cur.fetchall()) if cur.description else []

        yield SqlTarget("postgresql", conn_id, query, table, '"')
        query(f'DROP TABLE IF EXISTS "{table}"')
        return
    mysqldb = pytest.importorskip("MySQLdb")
    args: dict[str, Any] = {
        "host": "127.0.0.1",
        "port": 3306,
        "user": "root",
        "password": "",
        "database": "test",
    }
    try:
        mysqldb.connect(connect_timeout=3, **args).close()
    except Exception as err:
        _skip_or_fail("MariaDB/MySQL at 127.0.0.1:3306", err)
    monkeypatch.setenv("AIRFLOW_CONN_MSADS_UNIT_SQL", "mysql://root@127.0.0.1:3306/test")

    def query(sql: str) -> list[tuple[Any, ...]]:
        c = mysqldb.connect(**args)
        try:
            cur = c.cursor()
            cur.execute(sql)
            rows = list(cur.fetchall()) if cur.description else []
            c.commit()
            return rows
        finally:
            c.close()

    yield SqlTarget("mysql", conn_id, query, table, "`")
    query(f"DROP TABLE IF EXISTS `{table}`")
