"""Warehouse faults with the emulator feeding the operator and a real database underneath.

tests/warehouse/test_writer.py already proves the writer's atomicity with failing iterators, a failing
``executemany`` and a database-rejected row. Added here, at the level users run:

* the database connection is dropped by the server mid-write (PostgreSQL ``pg_terminate_backend``,
  MariaDB ``KILL``) while page 2 is in flight;
* a constraint the user added to the table is violated by the upsert;
* the task process is SIGKILLed mid-write, then retried (the operator executed again with the same DAG
  run context, which is what an Airflow retry does);

each time the table ends exactly as one successful run leaves it (or exactly as before, for the
failing attempt).
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from msads_reliability_helpers import (
    Recorder,
    SqlTarget,
    emulator_conn_json,
    expected_rows,
    known_secrets,
    lost_and_duplicated,
    make_sql_target,
    secrets_in,
    server_session_id,
    unique_conn_id,
)

from airflow_provider_msads.operators.accounts import MicrosoftAdsAccountsToSqlOperator
from airflow_provider_msads.testing import Emulator
from airflow_provider_msads.warehouse import AccountTableWriter

ACCOUNTS, PAGE, BATCH = 35, 10, 5
RUN_1 = datetime(2025, 4, 1, 6, 0, tzinfo=timezone.utc)
RUN_2 = datetime(2025, 4, 2, 6, 0, tzinfo=timezone.utc)
SQL_CONN = "msads_rel_wh"
WORKER = Path(__file__).with_name("msads_reliability_worker.py")


def _text(value: datetime) -> str:
    return value.astimezone(timezone.utc).replace(tzinfo=None).isoformat(timespec="seconds")


def stamped(
    target: SqlTarget, rows: list[dict[str, Any]], first: datetime, last: datetime
) -> list[dict[str, Any]]:
    stamp = {"first_seen_at": _text(first), "last_seen_at": _text(last), "is_active_in_last_run": True}
    return [target.as_stored({**row, **stamp}) for row in rows]


class Setup:
    def __init__(self, emu: Emulator, target: SqlTarget, monkeypatch: pytest.MonkeyPatch) -> None:
        self.emu = emu
        self.target = target
        self.expected = expected_rows(emu)
        emu.reset()
        self.conn_id = unique_conn_id()
        monkeypatch.setenv(f"AIRFLOW_CONN_{self.conn_id.upper()}", emulator_conn_json(emu))
        monkeypatch.setenv(f"AIRFLOW_CONN_{SQL_CONN.upper()}", target.uri)

    def operator(self) -> MicrosoftAdsAccountsToSqlOperator:
        return MicrosoftAdsAccountsToSqlOperator(
            task_id="accounts_to_sql",
            msads_conn_id=self.conn_id,
            sql_conn_id=SQL_CONN,
            table=self.target.table,
            page_size=PAGE,
            batch_size=BATCH,
        )

    def run(self, run_after: datetime) -> dict[str, Any]:
        context: Any = {
            "ti": SimpleNamespace(xcom_push=lambda key, value: None),
            "dag_run": SimpleNamespace(run_after=run_after),
        }
        return self.operator().execute(context)

    def seed_table(self, rows: list[dict[str, Any]], seen_at: datetime) -> list[dict[str, Any]]:
        """Yesterday's table, written with the same writer the operator uses."""
        engine = self.target.engine()
        try:
            AccountTableWriter(engine, self.target.table).write(rows, seen_at)
        finally:
            engine.dispose()
        return self.target.snapshot()


@pytest.fixture
def make_setup(
    msads_emulator_factory: Callable[..., Emulator],
    monkeypatch: pytest.MonkeyPatch,
    airflow_db: Path,
    caplog: pytest.LogCaptureFixture,
) -> Callable[[SqlTarget], Setup]:
    caplog.set_level(logging.DEBUG)
    return lambda target: Setup(msads_emulator_factory(accounts=ACCOUNTS, seed=41), target, monkeypatch)


# -- the server drops the connection mid-write -----------------------------------------------------------


@pytest.mark.timeout(60)
def test_connection_dropped_mid_write_then_rerun_is_exact(
    server_target: SqlTarget,
    make_setup: Callable[[SqlTarget], Setup],
    monkeypatch: pytest.MonkeyPatch,
    recorder: Recorder,
    caplog: pytest.LogCaptureFixture,
) -> None:
    from airflow.sdk import BaseHook

    s = make_setup(server_target)
    before = s.seed_table(s.expected[:20], RUN_1)  # yesterday: 20 of today's 35 accounts

    import sqlalchemy

    opened: list[Any] = []  # the DB-API connections of the engine the operator builds from its hook
    hook_cls = type(BaseHook.get_hook(SQL_CONN))
    original = hook_cls.get_sqlalchemy_engine

    def spy(self: Any, *args: Any, **kwargs: Any) -> Any:
        engine = original(self, *args, **kwargs)
        sqlalchemy.event.listen(engine, "connect", lambda dbapi_conn, record: opened.append(dbapi_conn))
        return engine

    monkeypatch.setattr(hook_cls, "get_sqlalchemy_engine", spy)
    s.emu.faults.inject("SearchAccounts", delay=1.5, after=1)  # page 2 is slow: the write is mid-way
    killed: list[int] = []

    def kill_when_page_2_is_in_flight() -> None:
        deadline = time.monotonic() + 20
        while s.emu.counters["SearchAccounts"] < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        session = server_session_id(opened[-1])
        sql = "SELECT pg_terminate_backend(%s)" if server_target.name == "postgresql" else "KILL %s"
        server_target.execute(sql, (session,))
        killed.append(session)

    killer = threading.Thread(target=kill_when_page_2_is_in_flight, daemon=True)
    killer.start()
    with pytest.raises(Exception) as caught:  # the driver's error (or SQLAlchemy's wrapper of it)
        s.run(RUN_2)
    killer.join(timeout=20)
    failed_attempt = server_target.snapshot()

    s.emu.faults.clear()
    stats = s.run(RUN_2)  # the retry
    table = server_target.snapshot()
    lost, duplicated = lost_and_duplicated(s.emu.expected_account_ids, [r["account_id"] for r in table])
    leaked = secrets_in([caplog.text, str(caught.value)], known_secrets(s.emu))
    recorder.record(f"warehouse: connection dropped mid-write [{server_target.name}]", runs=2, lost=lost,
                    duplicated=duplicated, secrets_found=len(leaked))  # fmt: skip
    assert killed and s.emu.counters["SearchAccounts"] >= 2  # the fault fired mid-write
    # OperationalError / InterfaceError, or a driver subclass of them (psycopg: AdminShutdown during COPY)
    kinds = {cls.__name__ for cls in type(caught.value).__mro__}
    assert kinds & {"OperationalError", "InterfaceError"}, repr(caught.value)
    assert failed_attempt == before
    assert stats["inserted"] == 15 and stats["unchanged"] == 20 and stats["seen"] == ACCOUNTS
    assert table == stamped(server_target, s.expected[:20], RUN_1, RUN_2) + stamped(
        server_target, s.expected[20:], RUN_2, RUN_2
    )
    assert leaked == []


# -- a constraint the user added is violated --------------------------------------------------------------


@pytest.mark.timeout(60)
def test_constraint_violation_keeps_the_table_and_rerun_after_fix_is_exact(
    sql_target: SqlTarget,
    make_setup: Callable[[SqlTarget], Setup],
    recorder: Recorder,
    caplog: pytest.LogCaptureFixture,
) -> None:
    s = make_setup(sql_target)
    q = sql_target.quote
    newcomer = s.expected[-1]  # discovered today, not in yesterday's table
    # The user put a UNIQUE index on account_number, and a stale row (account 1, long gone) holds the
    # number the newcomer now has.
    ghost = {**s.expected[0], "account_id": 1, "account_name": "stale"}
    ghost["account_number"] = newcomer["account_number"]
    engine = sql_target.engine()
    try:
        AccountTableWriter(engine, sql_target.table).write([*s.expected[:-1], ghost], RUN_1)
    finally:
        engine.dispose()
    sql_target.execute(
        f"CREATE UNIQUE INDEX {q(sql_target.table + '_num')} ON {q(sql_target.table)} ({q('account_number')})"
    )
    before = sql_target.snapshot()

    with pytest.raises(Exception) as caught:
        s.run(RUN_2)
    failed_attempt = sql_target.snapshot()

    sql_target.execute(f"DELETE FROM {q(sql_target.table)} WHERE {q('account_id')} = 1")  # what to do
    s.run(RUN_2)
    table = sql_target.snapshot()
    lost, duplicated = lost_and_duplicated(s.emu.expected_account_ids, [r["account_id"] for r in table])
    leaked = secrets_in([caplog.text, str(caught.value)], known_secrets(s.emu))
    recorder.record(f"warehouse: UNIQUE constraint violated by the upsert [{sql_target.name}]", runs=2,
                    lost=lost, duplicated=duplicated, secrets_found=len(leaked),
                    result=type(caught.value).__name__)  # fmt: skip
    message = str(caught.value).lower()
    assert "unique" in message or "duplicate" in message, message  # the database names the constraint
    assert failed_attempt == before
    assert table == stamped(sql_target, s.expected[:-1], RUN_1, RUN_2) + stamped(
        sql_target, s.expected[-1:], RUN_2, RUN_2
    )
    assert leaked == []


# -- the task process is killed mid-write, then retried ----------------------------------------------------


@pytest.mark.timeout(90)
@pytest.mark.parametrize("db", ["sqlite", "postgresql"])
def test_task_killed_mid_write_then_retried_is_exactly_one_run(
    db: str,
    tmp_path: Path,
    make_setup: Callable[[SqlTarget], Setup],
    recorder: Recorder,
) -> None:
    target = make_sql_target(db, tmp_path)
    try:
        s = make_setup(target)
        before = s.seed_table(s.expected[:20], RUN_1)
        s.emu.faults.inject("SearchAccounts", delay=30.0, after=1)  # page 2 hangs: the write is mid-way
        env = {**os.environ, f"AIRFLOW_CONN_{s.conn_id.upper()}": emulator_conn_json(s.emu),
               f"AIRFLOW_CONN_{SQL_CONN.upper()}": target.uri}  # fmt: skip
        proc = subprocess.Popen(
            [sys.executable, str(WORKER), "sql", s.conn_id, SQL_CONN, target.table, RUN_2.isoformat()],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        deadline = time.monotonic() + 60
        while s.emu.counters["SearchAccounts"] < 2 and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        assert s.emu.counters["SearchAccounts"] == 2, proc.communicate(timeout=5)  # page 1 staged
        proc.send_signal(signal.SIGKILL)
        out, err = proc.communicate(timeout=30)
        assert proc.returncode == -signal.SIGKILL and '"inserted"' not in out  # died before returning
        failed_attempt = target.snapshot()

        s.emu.faults.clear()
        stats = s.run(RUN_2)  # the retry: same DAG run, same run_after
        table = target.snapshot()
        lost, duplicated = lost_and_duplicated(s.emu.expected_account_ids, [r["account_id"] for r in table])
        leaked = secrets_in([out, err], known_secrets(s.emu))
        recorder.record(f"warehouse: task SIGKILLed mid-write, then retried [{db}]", runs=2, lost=lost,
                        duplicated=duplicated, secrets_found=len(leaked))  # fmt: skip
        assert failed_attempt == before
        assert (stats["seen"], stats["inserted"], stats["unchanged"]) == (ACCOUNTS, 15, 20)
        assert table == stamped(target, s.expected[:20], RUN_1, RUN_2) + stamped(
            target, s.expected[20:], RUN_2, RUN_2
        )
        assert "DEBUG" in out + err and leaked == []
    finally:
        target.drop()
