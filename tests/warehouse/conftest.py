"""Fixtures of the warehouse tests: real databases (see msads_warehouse_helpers), account factories."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from msads_warehouse_helpers import DB_NAMES, TIMINGS, Database, make_accounts, make_database

from airflow_provider_msads.client.models import Account


@pytest.fixture(params=DB_NAMES)
def db(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Database]:
    """Each test using it runs on SQLite, PostgreSQL (fast and generic path), MariaDB and DuckDB."""
    database = make_database(request.param, tmp_path, monkeypatch)
    yield database
    if database.name in ("postgresql", "mysql"):
        database.drop()
    database.engine.dispose()


@pytest.fixture(params=("sqlite", "postgresql", "mysql"))
def old_db(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Database]:
    """The databases versions before 0.3 wrote (for tables those versions created)."""
    database = make_database(request.param, tmp_path, monkeypatch)
    yield database
    if database.name != "sqlite":
        database.drop()
    database.engine.dispose()


@pytest.fixture
def sqlite_db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Database]:
    """SQLite only: for behaviour that does not depend on the database."""
    database = make_database("sqlite", tmp_path, monkeypatch)
    yield database
    database.engine.dispose()


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
