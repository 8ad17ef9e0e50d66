"""Dialect selection, identifier validation/quoting, and injection attempts."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from typing import Any
from unittest import mock

import pytest
from hypothesis import given
from hypothesis import strategies as st

from airflow_provider_msads.client.models import ACCOUNT_ROW_FIELDS
from airflow_provider_msads.warehouse import (
    ACCOUNT_COLUMNS,
    MYSQL,
    POSTGRESQL,
    SQLITE,
    AccountTableWriter,
    UnsupportedDialectError,
    dialect_for_hook,
    get_dialect,
    validate_identifier,
)

SAFE = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")

INJECTIONS = [
    'accounts"; DROP TABLE victims; --',
    "accounts`; DROP TABLE victims; --",
    "accounts; DROP TABLE victims",
    "a.b",
    "a b",
    "",
    "1accounts",
    "x" * 64,
    "accounts--",
    "ac\x00counts",
    "ÄccÖunts",
    "accounts\n",
]


def test_columns_follow_the_model_row() -> None:
    assert tuple(name for name, _ in ACCOUNT_COLUMNS) == ACCOUNT_ROW_FIELDS


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("sqlite", SQLITE),
        ("postgres", POSTGRESQL),
        ("postgresql+psycopg", POSTGRESQL),
        ("MySQL", MYSQL),
        ("mariadb", MYSQL),
        ("mysql+mysqldb", MYSQL),
    ],
)
def test_get_dialect_aliases(name: str, expected: Any) -> None:
    assert get_dialect(name) is expected


def test_unsupported_dialect_names_the_supported_ones() -> None:
    with pytest.raises(UnsupportedDialectError, match="SQLite, PostgreSQL and MySQL/MariaDB"):
        get_dialect("mssql")


def test_dialect_for_hook_uses_dialect_name_then_conn_type() -> None:
    assert dialect_for_hook(mock.Mock(dialect_name="postgresql", conn_type="whatever")) is POSTGRESQL
    hook = mock.Mock(conn_type="mysql")
    type(hook).dialect_name = mock.PropertyMock(side_effect=NotImplementedError("no url"))
    assert dialect_for_hook(hook) is MYSQL
    assert dialect_for_hook(mock.Mock(dialect_name="default", conn_type="sqlite")) is SQLITE
    with pytest.raises(UnsupportedDialectError, match="mssql"):
        dialect_for_hook(mock.Mock(dialect_name="mssql", conn_type="mssql"))


@pytest.mark.parametrize("bad", INJECTIONS)
@pytest.mark.parametrize("dialect", [SQLITE, POSTGRESQL, MYSQL], ids=lambda d: d.name)
def test_injection_attempts_are_rejected_before_any_sql(bad: str, dialect: Any) -> None:
    conn = mock.Mock()
    with pytest.raises(ValueError, match="invalid table name"):
        AccountTableWriter(conn, dialect, bad)
    with pytest.raises(ValueError, match="invalid schema name"):
        AccountTableWriter(conn, dialect, "msads_accounts", schema=bad or "1")
    assert conn.mock_calls == []


@given(st.text(max_size=80))
def test_validate_identifier_accepts_exactly_the_safe_pattern(name: str) -> None:
    if SAFE.fullmatch(name):
        assert validate_identifier(name) == name
        for dialect in (SQLITE, POSTGRESQL, MYSQL):
            assert dialect.quote(name) == f"{dialect.quote_char}{name}{dialect.quote_char}"
    else:
        with pytest.raises(ValueError):
            validate_identifier(name)


def test_qualified_names() -> None:
    assert POSTGRESQL.qualified("msads_accounts", "ads") == '"ads"."msads_accounts"'
    assert MYSQL.qualified("msads_accounts", "warehouse") == "`warehouse`.`msads_accounts`"
    assert SQLITE.qualified("msads_accounts") == '"msads_accounts"'


def test_timestamps_are_stored_as_utc() -> None:
    cest = timezone(timedelta(hours=2))
    value = datetime(2024, 5, 1, 14, 0, 0, 5, tzinfo=cest)
    assert SQLITE.timestamp_param(value) == "2024-05-01 12:00:00.000005+00:00"
    assert MYSQL.timestamp_param(value) == datetime(2024, 5, 1, 12, 0, 0, 5)
    assert POSTGRESQL.timestamp_param(value) == value
    with pytest.raises(ValueError, match="timezone-aware"):
        SQLITE.timestamp_param(datetime(2024, 5, 1))


def test_create_table_sql_per_dialect() -> None:
    conn = mock.Mock()
    sqlite_sql = AccountTableWriter(conn, SQLITE).create_table_sql()
    pg_sql = AccountTableWriter(conn, POSTGRESQL, schema="ads").create_table_sql()
    mysql_sql = AccountTableWriter(conn, MYSQL).create_table_sql()
    assert sqlite_sql.startswith(
        'CREATE TABLE IF NOT EXISTS "msads_accounts" ("account_id" INTEGER NOT NULL PRIMARY KEY'
    )
    assert '"is_active_in_last_run" INTEGER NOT NULL' in sqlite_sql
    assert pg_sql.startswith(
        'CREATE TABLE IF NOT EXISTS "ads"."msads_accounts" ("account_id" BIGINT NOT NULL PRIMARY KEY'
    )
    assert '"first_seen_at" TIMESTAMP WITH TIME ZONE NOT NULL' in pg_sql
    assert "`last_seen_at` DATETIME(6) NOT NULL" in mysql_sql
    assert mysql_sql.endswith("ENGINE=InnoDB DEFAULT CHARSET=utf8mb4")
