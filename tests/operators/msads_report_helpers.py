"""Shared pieces of the report operator tests: an in-process context, the emulator's own view of a report."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

import pytest

from airflow_provider_msads.client import MicrosoftAdsClient
from airflow_provider_msads.client.reporting import ReportRequest
from airflow_provider_msads.client.settings import ConnectionSettings
from airflow_provider_msads.hooks.token_store import variable_key
from airflow_provider_msads.testing import DEMO_CLIENT_SECRET, DEMO_DEVELOPER_TOKEN, DEMO_REFRESH_TOKEN

UTC = timezone.utc
DAY = date(2026, 6, 10)
COLUMNS = ["TimePeriod", "AccountId", "AccountName", "Impressions", "Clicks", "Spend"]
FAST = {"poll_interval": 0.05, "max_poll_interval": 0.2}


class FakeTI:
    task_id = "report"
    map_index = -1

    def __init__(self) -> None:
        self.pushed: dict[str, Any] = {}

    def xcom_push(self, key: str, value: Any) -> None:
        self.pushed[key] = json.loads(json.dumps(value))  # what XCom would store

    def xcom_pull(self, task_ids: str, key: str, map_indexes: int) -> Any:
        assert (task_ids, map_indexes) == (self.task_id, self.map_index)
        return self.pushed.get(key)


def context(day: date = DAY) -> dict[str, Any]:
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    return {
        "data_interval_start": start,
        "data_interval_end": start + timedelta(days=1),
        "dag_run": SimpleNamespace(run_after=start + timedelta(days=1, hours=3)),
        "ti": FakeTI(),
    }


def emulator_conn(msads_emulator: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A fresh msads connection to the emulator (reporting clock on DAY + 1); its token Variable is removed."""
    conn_id = f"msads_rop_{uuid.uuid4().hex[:8]}"
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", msads_emulator.airflow_conn_json())
    msads_emulator.reporting.set_today(DAY + timedelta(days=1))
    yield conn_id
    from airflow.models.variable import Variable

    Variable.delete(variable_key(conn_id))


def expected(emu: Any, start: date, end: date, accounts: list[int] | None = None) -> list[tuple[Any, ...]]:
    conn = json.loads(emu.airflow_conn_json())
    settings = ConnectionSettings.from_connection_fields(
        login=conn["login"], password=conn["password"], extra=conn["extra"]
    )
    request = ReportRequest(
        report="AccountPerformance",
        columns=COLUMNS,
        aggregation="Daily",
        start=start,
        end=end,
        account_ids=accounts or list(emu.expected_account_ids),
    )
    with MicrosoftAdsClient.from_settings(settings) as client, client.run_report(request) as report:
        return sorted(norm(r[c] for c in COLUMNS) for r in report)


def norm(values: Any) -> tuple[Any, ...]:
    out: list[Any] = []
    for v in values:
        if isinstance(v, (date, datetime)):
            v = v.isoformat()[:10]
        elif isinstance(v, str) and len(v) >= 10 and v[4:5] == "-" and v[:4].isdigit():
            v = v[:10]
        elif isinstance(v, (int, float, Decimal)) and not isinstance(v, bool):
            v = Decimal(str(v)).normalize()
        out.append(v)
    return tuple(out)


def number(value: Any) -> Any:
    """File cells back to numbers where they are numbers (CSV is text; JSON keeps decimals as text)."""
    if isinstance(value, str):
        try:
            return Decimal(value)
        except ArithmeticError:
            return value
    return value


def secrets_of(emu: Any) -> list[str]:
    return [DEMO_REFRESH_TOKEN, DEMO_CLIENT_SECRET, DEMO_DEVELOPER_TOKEN, *emu.identity.access_tokens]
