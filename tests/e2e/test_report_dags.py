"""The report example DAG, run for real (`airflow dags test`, which runs the triggers inline) against the
emulator into SQLite: deferral, Pending polls, a report that ends in Error, an expired link and a truncated
download; a rerun; a run a day later that restates the day the first run loaded before it was complete.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_msads.client import MicrosoftAdsClient
from airflow_provider_msads.client.reporting import ReportRequest
from airflow_provider_msads.client.settings import ConnectionSettings
from airflow_provider_msads.testing import DEMO_CLIENT_SECRET, DEMO_DEVELOPER_TOKEN, DEMO_REFRESH_TOKEN
from airflow_provider_msads.warehouse.reports import IS_COMPLETE, LOADED_AT

pytestmark = pytest.mark.e2e

DAG_ID = "msads_reports_to_sql"
TASK = "account_performance"
TABLE = "msads_account_performance_daily"
COLUMNS = [
    "TimePeriod",
    "AccountId",
    "AccountName",
    "CurrencyCode",
    "Impressions",
    "Clicks",
    "Spend",
    "ConversionsQualified",
    "Revenue",
]
DAY = date(2026, 6, 10)
CONF = json.dumps({"batch_size": 10, "poll_interval": 0.1})


def settings_of(emu: Any) -> ConnectionSettings:
    conn = json.loads(emu.airflow_conn_json())
    return ConnectionSettings.from_connection_fields(
        login=conn["login"], password=conn["password"], extra=conn["extra"]
    )


def expected_rows(emu: Any, start: date, end: date) -> dict[tuple[str, int], tuple[Any, ...]]:
    """What Microsoft (the emulator) says now for these days, read in-process with the client."""
    request = ReportRequest(
        report="AccountPerformance",
        columns=COLUMNS,
        aggregation="Daily",
        start=start,
        end=end,
        account_ids=list(emu.expected_account_ids),
    )
    with MicrosoftAdsClient.from_settings(settings_of(emu)) as client, client.run_report(request) as report:
        return {(r["TimePeriod"].isoformat(), r["AccountId"]): normal(r[c] for c in COLUMNS) for r in report}


def normal(values: Any) -> tuple[Any, ...]:
    """Compare databases and the client on one footing: dates as ISO text, numbers as Decimal."""
    out: list[Any] = []
    for value in values:
        if isinstance(value, date):
            value = value.isoformat()
        elif isinstance(value, (int, float, Decimal)) and not isinstance(value, bool):
            value = Decimal(str(value)).normalize()
        elif isinstance(value, str) and value[:4].isdigit() and len(value) >= 10 and value[4] == "-":
            value = value[:10]
        out.append(value)
    return tuple(out)


def table(warehouse: Path) -> dict[tuple[str, int], dict[str, Any]]:
    cols = ", ".join(f'"{c}"' for c in [*COLUMNS, IS_COMPLETE, LOADED_AT])
    with sqlite3.connect(warehouse) as db:
        rows = db.execute(f'SELECT {cols} FROM "{TABLE}"').fetchall()
    out: dict[tuple[str, int], dict[str, Any]] = {}
    for row in rows:
        data = normal(row[: len(COLUMNS)])
        out[(data[0], int(row[1]))] = {"data": data, "is_complete": bool(row[-2]), "loaded_at": row[-1]}
    return out


def secrets_of(emu: Any) -> list[str]:
    issued = [*emu.identity.refresh_tokens, *emu.identity.access_tokens]
    return [DEMO_REFRESH_TOKEN, DEMO_CLIENT_SECRET, DEMO_DEVELOPER_TOKEN, *issued]


def assert_success(run: Any) -> None:
    assert run.returncode == 0 and run.state == "success", f"{run} failed; log tail:\n{run.tail(120)}"


@pytest.fixture
def world(msads_emulator_factory: Any, tmp_path: Path) -> Iterator[tuple[Any, Path, dict[str, str]]]:
    # 30 accounts -> 3 mapped report tasks of 10; Microsoft completes days with a 2-day lag.
    emu = msads_emulator_factory(accounts=30, seed=21, report_completion_lag_days=2, report_pending_polls=2)
    emu.reporting.set_today(DAY + timedelta(days=1))
    warehouse = tmp_path / "warehouse.sqlite"
    conns = {
        "msads_default": emu.airflow_conn_json(),
        "msads_warehouse": json.dumps({"conn_type": "sqlite", "host": str(warehouse)}),
    }
    yield emu, warehouse, conns


def test_reports_dag_loads_exactly_reruns_identically_and_restates(airflow_e2e: Any, world: Any) -> None:
    emu, warehouse, conns = world
    airflow_e2e.forget_stored_tokens()
    accounts = list(emu.expected_account_ids)
    assert len(accounts) > 20

    # 1. First run for DAY: one report ends in Error (resubmitted), every report is Pending twice, one
    #    download link has expired and one download is cut short.
    emu.reporting.script(outcome="error", pending=1, times=1)
    emu.faults.inject("download", kind="expired", times=1)
    emu.faults.inject("download", kind="truncate", times=1, after=1)
    first = airflow_e2e.run(DAG_ID, conns, args=[DAY.isoformat(), "--conf", CONF])
    assert_success(first)

    states = airflow_e2e.task_states(first)
    assert sorted(i for (t, i), s in states.items() if t == TASK and s == "success") == [0, 1, 2]
    counters = emu.reporting.counters
    assert counters["submits"] == 3 + 1, counters  # the Error one was submitted again
    assert counters["expired_url_hits"] >= 1 and counters["credential_rejections"] == 0, counters
    results = airflow_e2e.xcom(first, TASK)
    assert sorted(results) == [0, 1, 2]
    assert {(r["window_start"], r["window_end"], r["restated_days"]) for r in results.values()} == {
        (DAY.isoformat(), DAY.isoformat(), 0)
    }
    assert sum(r["accounts"] for r in results.values()) == len(accounts)

    want = expected_rows(emu, DAY, DAY)
    got = table(warehouse)
    assert {k: v["data"] for k, v in got.items()} == want, "the table is exactly what Microsoft reports"
    assert not any(v["is_complete"] for v in got.values()), "DAY is after the Last Completed Available Day"

    # 2. Rerun of the same day: same data (only loaded_at moves: a new `dags test` run has a new run_after).
    second = airflow_e2e.run(DAG_ID, conns, args=[DAY.isoformat(), "--conf", CONF])
    assert_success(second)
    again = table(warehouse)
    assert {k: (v["data"], v["is_complete"]) for k, v in again.items()} == {
        k: (v["data"], v["is_complete"]) for k, v in got.items()
    }

    # 3. A day later: the run for DAY+1 also re-pulls DAY (stored incomplete), now complete and revised.
    emu.reporting.advance_days(1)
    nxt = DAY + timedelta(days=1)
    third = airflow_e2e.run(DAG_ID, conns, args=[nxt.isoformat(), "--conf", CONF])
    assert_success(third)
    results = airflow_e2e.xcom(third, TASK)
    assert {(r["window_start"], r["window_end"], r["restated_days"]) for r in results.values()} == {
        (DAY.isoformat(), nxt.isoformat(), 1)
    }
    final = table(warehouse)
    assert {k: v["data"] for k, v in final.items()} == expected_rows(emu, DAY, nxt)
    assert all(v["is_complete"] for k, v in final.items() if k[0] == DAY.isoformat())
    assert not any(v["is_complete"] for k, v in final.items() if k[0] == nxt.isoformat())
    revised = [k for k in want if final[k]["data"] != want[k]]
    assert revised, "the emulator revises provisional days: restatement must have replaced some rows"

    # Nothing secret anywhere: logs of all runs, XCom (plans, results), the deferred tasks' next_kwargs.
    secrets = secrets_of(emu)
    for run in (first, second, third):
        text = run.log.read_text(errors="replace") + airflow_e2e.all_xcom_text(run)
        text += json.dumps(
            airflow_e2e.metadata(
                "SELECT next_kwargs, rendered_map_index FROM task_instance WHERE dag_id = ? AND run_id = ?",
                (run.dag_id, run.run_id),
            )
        )
        assert [s[:6] for s in secrets if s in text] == [], f"secret in {run.run_id}"
        assert "sig=" not in text and "ReportDownloadUrl" not in text, "no download link stored or logged"
