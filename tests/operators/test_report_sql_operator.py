"""MicrosoftAdsReportToSqlOperator against the emulator and real databases, in-process.

The deferrable cycle is driven by hand here (execute -> TaskDeferred -> the trigger on an asyncio loop ->
execute_complete); tests/e2e/test_report_dags.py runs the same under ``airflow dags test``.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

try:
    from airflow.sdk.exceptions import TaskDeferred
except ImportError:  # Airflow 3.1 (the floor) keeps it in airflow.exceptions
    from airflow.exceptions import TaskDeferred  # type: ignore[no-redef,attr-defined]
from msads_report_helpers import (
    COLUMNS,
    DAY,
    FAST,
    context,
    emulator_conn,
    expected,
    norm,
    secrets_of,
)

from airflow_provider_msads.hooks.token_store import variable_key
from airflow_provider_msads.operators.reports import PLAN_XCOM_KEY, MicrosoftAdsReportToSqlOperator
from airflow_provider_msads.triggers.reports import MicrosoftAdsReportTrigger
from airflow_provider_msads.warehouse.reports import IS_COMPLETE


@pytest.fixture
def conn_id(msads_emulator: Any, monkeypatch: pytest.MonkeyPatch, airflow_db: Path) -> Iterator[str]:
    yield from emulator_conn(msads_emulator, monkeypatch)


def sql_op(conn_id: str, target: Any, **kwargs: Any) -> MicrosoftAdsReportToSqlOperator:
    return MicrosoftAdsReportToSqlOperator(
        task_id="report",
        msads_conn_id=conn_id,
        report="AccountPerformance",
        columns=COLUMNS,
        sql_conn_id=target.conn_id,
        table=target.table,
        **{**FAST, **kwargs},
    )


def table_rows(target: Any) -> list[tuple[Any, ...]]:
    q = target.quote
    cols = ", ".join(f"{q}{c}{q}" for c in COLUMNS)
    return sorted(norm(r) for r in target.query(f"SELECT {cols} FROM {q}{target.table}{q}"))


# -- to SQL -------------------------------------------------------------------------------------------------


def test_deferrable_cycle_defers_with_ids_only_then_loads(
    conn_id: str, msads_emulator: Any, sql_target: Any
) -> None:
    """execute() submits and defers; the trigger waits; execute_complete() loads: the table is exact."""
    msads_emulator.reporting.script(pending=2, times=None)
    op = sql_op(conn_id, sql_target, account_ids=list(msads_emulator.expected_account_ids)[:7])
    ctx = context()

    with pytest.raises(TaskDeferred) as deferred:
        op.execute(ctx)  # type: ignore[arg-type]

    trigger = deferred.value.trigger
    assert isinstance(trigger, MicrosoftAdsReportTrigger) and deferred.value.method_name == "execute_complete"
    _, kwargs = trigger.serialize()
    plan = ctx["ti"].pushed[PLAN_XCOM_KEY]
    assert kwargs["report_request_ids"] == [c["report_request_id"] for c in plan["chunks"]]
    stored = json.dumps([kwargs, plan])
    assert [s[:6] for s in secrets_of(msads_emulator) if s in stored] == []
    assert msads_emulator.reporting.counters["downloads"] == 0

    event = asyncio.run(anext(trigger.run())).payload
    result = op.execute_complete(ctx, event)  # type: ignore[arg-type]

    want = expected(msads_emulator, DAY, DAY, list(msads_emulator.expected_account_ids)[:7])
    assert table_rows(sql_target) == want and want
    assert result["window_start"] == result["window_end"] == DAY.isoformat()
    assert (result["accounts"], result["report_requests"], result["restated_days"]) == (7, 1, 0)
    assert result["inserted"] == len(want)
    assert target_flags(sql_target) == {True}, "lag 1 day: today - 1 = DAY is complete"


def target_flags(target: Any) -> set[bool]:
    q = target.quote
    return {bool(r[0]) for r in target.query(f"SELECT {q}{IS_COMPLETE}{q} FROM {q}{target.table}{q}")}


def test_in_worker_error_is_resubmitted_and_restatement_follows_the_table(
    conn_id: str, msads_emulator: Any, sql_target: Any
) -> None:
    """deferrable=False: one Error is submitted again; the next day's run re-pulls the incomplete day."""
    msads_emulator.reporting.completion_lag_days = 2
    msads_emulator.reporting.script(outcome="error", pending=1, times=1)
    op = sql_op(conn_id, sql_target, deferrable=False, lookback_days=3)
    first = op.execute(context())  # type: ignore[arg-type]
    assert msads_emulator.reporting.counters["submits"] == 2
    assert first["restated_days"] == 0 and table_rows(sql_target) == expected(msads_emulator, DAY, DAY)
    assert target_flags(sql_target) == {False}

    msads_emulator.reporting.advance_days(1)
    nxt = DAY + timedelta(days=1)
    second = sql_op(conn_id, sql_target, deferrable=False, lookback_days=3).execute(context(nxt))  # type: ignore[arg-type]

    assert (second["window_start"], second["window_end"], second["restated_days"]) == (
        DAY.isoformat(),
        nxt.isoformat(),
        1,
    )
    assert table_rows(sql_target) == expected(msads_emulator, DAY, nxt)
    q = sql_target.quote
    by_day = {
        norm([r[0]])[0]: bool(r[1])
        for r in sql_target.query(
            f"SELECT {q}TimePeriod{q}, {q}{IS_COMPLETE}{q} FROM {q}{sql_target.table}{q}"
        )
    }
    assert by_day == {DAY.isoformat(): True, nxt.isoformat(): False}


def test_report_attempts_bound_the_resubmissions(conn_id: str, msads_emulator: Any, sql_target: Any) -> None:
    msads_emulator.reporting.script(outcome="error", pending=0, times=None)
    op = sql_op(
        conn_id,
        sql_target,
        deferrable=False,
        report_attempts=2,
        account_ids=[msads_emulator.expected_account_ids[0]],
    )
    with pytest.raises(RuntimeError, match=r"ended in status Error 2 time\(s\) \(report_attempts=2\)"):
        op.execute(context())  # type: ignore[arg-type]
    assert msads_emulator.reporting.counters["submits"] == 2


def test_several_requests_load_in_one_transaction(
    msads_emulator_factory: Any, monkeypatch: pytest.MonkeyPatch, airflow_db: Path, tmp_path: Path
) -> None:
    """1,005 accounts: two report requests, one load; a broken second file leaves the table untouched."""
    import sqlite3

    emu = msads_emulator_factory(accounts=1005, seed=4)
    emu.reporting.set_today(DAY + timedelta(days=1))
    conn_id = f"msads_big_{uuid.uuid4().hex[:6]}"
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", emu.airflow_conn_json())
    db = tmp_path / "w.sqlite"
    monkeypatch.setenv("AIRFLOW_CONN_MSADS_BIG_SQL", json.dumps({"conn_type": "sqlite", "host": str(db)}))
    kwargs: dict[str, Any] = {
        "task_id": "big",
        "msads_conn_id": conn_id,
        "report": "AccountPerformance",
        "columns": ["TimePeriod", "AccountId", "Clicks"],
        "sql_conn_id": "msads_big_sql",
        "table": "big_perf",
        "deferrable": False,
        **FAST,
    }
    try:
        result = MicrosoftAdsReportToSqlOperator(**kwargs).execute(context())  # type: ignore[arg-type]
        assert (result["accounts"], result["report_requests"]) == (1005, 2)
        with sqlite3.connect(db) as c:
            before = sorted(c.execute("SELECT * FROM big_perf").fetchall())
        assert len(before) == result["inserted"] > 900  # Draft/Pending accounts have no rows
        second_request = set(sorted(emu.expected_account_ids)[1000:])
        with sqlite3.connect(db) as c:
            loaded = {r[0] for r in c.execute('SELECT "AccountId" FROM big_perf')}
        assert loaded & second_request and loaded - second_request, "rows of both requests in one load"

        emu.faults.inject("download", kind="corrupt", times=None, after=1)  # the second file, every time
        with pytest.raises(Exception, match="corrupt"):
            MicrosoftAdsReportToSqlOperator(**kwargs).execute(context())  # type: ignore[arg-type]
        with sqlite3.connect(db) as c:
            assert sorted(c.execute("SELECT * FROM big_perf").fetchall()) == before
    finally:
        from airflow.models.variable import Variable

        Variable.delete(variable_key(conn_id))
