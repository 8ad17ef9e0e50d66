"""ReportTableWriter against real SQLite, PostgreSQL (COPY and generic), MariaDB and DuckDB."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa
from msads_warehouse_helpers import Database

from airflow_provider_msads.warehouse.reports import (
    IS_COMPLETE,
    LOADED_AT,
    WINDOW_END,
    WINDOW_START,
    ReportColumn,
    ReportTableMismatchError,
    ReportTableWriter,
    ReportWriteStats,
)

DAILY = (
    ReportColumn("AccountId", "integer"),
    ReportColumn("TimePeriod", "date"),
    ReportColumn("DeviceType", "text"),
    ReportColumn("AccountName", "text"),
    ReportColumn("Impressions", "integer"),
    ReportColumn("Clicks", "integer"),
    ReportColumn("Spend", "decimal"),
    ReportColumn("Ctr", "decimal"),
)
DAILY_KEY = ("AccountId", "TimePeriod", "DeviceType")
D1 = date(2025, 3, 1)
LOADED = datetime(2025, 3, 8, 6, 0, 0, 250000, tzinfo=timezone.utc)
DEVICES = ("Computer", "Smartphone", "Tablet")


def daily_rows(accounts: list[int], start: date, days: int, *, salt: int = 0) -> list[dict[str, Any]]:
    rows = []
    for a in accounts:
        for d in range(days):
            for i, device in enumerate(DEVICES):
                clicks = (a + d * 7 + i * 3 + salt) % 50
                rows.append(
                    {
                        "AccountId": a,
                        "TimePeriod": start + timedelta(days=d),
                        "DeviceType": device,
                        "AccountName": f"Contoso {a} ünïcode",
                        "Impressions": clicks * 40 + 3,
                        "Clicks": clicks,
                        "Spend": Decimal(clicks * 37) / 100,
                        "Ctr": None if clicks == 0 else Decimal("1.25"),
                    }
                )
    return rows


def writer(
    db: Database, columns: tuple[ReportColumn, ...] = DAILY, key: tuple[str, ...] = DAILY_KEY
) -> ReportTableWriter:
    return ReportTableWriter(
        db.engine, db.table, db.schema, columns, key, batch_size=7, fast_path=db.fast_path
    )


def load(
    db: Database, rows: Any, accounts: list[int], start: date, end: date, **kwargs: Any
) -> ReportWriteStats:
    kwargs.setdefault("complete_through", end)
    kwargs.setdefault("loaded_at", LOADED)
    w = kwargs.pop("writer", None) or writer(db)
    return w.replace_window(rows, account_ids=accounts, start=start, end=end, **kwargs)


def snapshot(db: Database, w: ReportTableWriter | None = None) -> list[dict[str, Any]]:
    w = w or writer(db)
    t = w.table
    with db.engine.connect() as c:
        rows = c.execute(sa.select(t).order_by(*t.primary_key.columns))
        out = []
        for r in rows:
            row = dict(r._mapping)
            row[IS_COMPLETE] = bool(row[IS_COMPLETE])
            out.append(row)
        return out


def expected(rows: list[dict[str, Any]], complete_through: date | None = None) -> list[dict[str, Any]]:
    out = []
    for r in sorted(rows, key=lambda r: (r["AccountId"], r["TimePeriod"], r["DeviceType"])):
        done = complete_through is not None and r["TimePeriod"] <= complete_through
        out.append({**r, LOADED_AT: LOADED, IS_COMPLETE: done})
    return out


def test_first_load_creates_a_typed_table_and_stores_rows_exactly(db: Database) -> None:
    rows = daily_rows([11, 12], D1, 3)
    stats = load(
        db, iter(rows), [11, 12], D1, D1 + timedelta(days=2), complete_through=D1 + timedelta(days=1)
    )
    assert stats == ReportWriteStats(deleted=0, inserted=18, complete=12)
    assert snapshot(db) == expected(rows, D1 + timedelta(days=1))


def test_rerun_gives_an_identical_table(db: Database) -> None:
    rows = daily_rows([11, 12], D1, 3)
    load(db, rows, [11, 12], D1, D1 + timedelta(days=2))
    before = snapshot(db)
    stats = load(db, reversed(rows), [11, 12], D1, D1 + timedelta(days=2))
    assert stats == ReportWriteStats(deleted=18, inserted=18, complete=18)
    assert snapshot(db) == before


def test_replace_touches_only_its_accounts_and_window(db: Database) -> None:
    old = daily_rows([11, 12, 13], D1, 5)
    load(db, old, [11, 12, 13], D1, D1 + timedelta(days=4))
    # Restate days 2-3 for accounts 11 and 12; account 12 has no rows any more in that window.
    new = daily_rows([11], D1 + timedelta(days=2), 2, salt=5)
    stats = load(db, new, [11, 12], D1 + timedelta(days=2), D1 + timedelta(days=3))
    assert stats == ReportWriteStats(deleted=12, inserted=6, complete=6)
    window = (D1 + timedelta(days=2), D1 + timedelta(days=3))
    kept = [r for r in old if not (r["AccountId"] in (11, 12) and window[0] <= r["TimePeriod"] <= window[1])]
    assert snapshot(db) == expected(kept + new, D1 + timedelta(days=4))


def _failing(rows: list[dict[str, Any]], after: int) -> Iterator[dict[str, Any]]:
    for i, row in enumerate(rows):
        if i == after:
            raise RuntimeError("download truncated")
        yield row


def test_failure_mid_load_keeps_the_previous_contents(db: Database) -> None:
    rows = daily_rows([11, 12], D1, 4)
    load(db, rows, [11, 12], D1, D1 + timedelta(days=3))
    before = snapshot(db)
    with pytest.raises(RuntimeError, match="truncated"):
        load(db, _failing(daily_rows([11, 12], D1, 4, salt=1), 20), [11, 12], D1, D1 + timedelta(days=3))
    assert snapshot(db) == before
    with pytest.raises(ValueError, match="outside the window"):  # a row the window cannot replace later
        load(db, daily_rows([11], D1 + timedelta(days=9), 1), [11], D1, D1 + timedelta(days=3))
    assert snapshot(db) == before


def test_restatement_finds_the_first_incomplete_day(db: Database) -> None:
    w = writer(db)
    assert w.earliest_incomplete_day([11], D1) is None  # no table yet
    load(
        db,
        daily_rows([11, 12], D1, 7),
        [11, 12],
        D1,
        D1 + timedelta(days=6),
        complete_through=D1 + timedelta(days=4),
    )
    assert w.earliest_incomplete_day([11, 12], D1) == D1 + timedelta(days=5)
    assert w.earliest_incomplete_day([99], D1) is None
    # The next run re-pulls days 5-6, now complete.
    load(db, daily_rows([11, 12], D1 + timedelta(days=5), 2, salt=9), [11, 12], D1 + timedelta(days=5),
         D1 + timedelta(days=6))  # fmt: skip
    assert w.earliest_incomplete_day([11, 12], D1) is None


HOURLY = (
    ReportColumn("AccountId", "integer"),
    ReportColumn("TimePeriod", "datetime"),
    ReportColumn("Clicks", "integer"),
    ReportColumn("Spend", "decimal"),
)


def test_hourly_report_replaces_whole_days(db: Database) -> None:
    w = writer(db, HOURLY, ("AccountId", "TimePeriod"))

    def hours(day: date, n: int, clicks: int) -> list[dict[str, Any]]:
        base = datetime.combine(day, datetime.min.time())
        return [{"AccountId": 5, "TimePeriod": base + timedelta(hours=h), "Clicks": clicks, "Spend": Decimal("0.50")}
                for h in range(n)]  # fmt: skip

    load(db, hours(D1, 24, 1) + hours(D1 + timedelta(days=1), 24, 1), [5], D1, D1 + timedelta(days=1),
         complete_through=D1, writer=w)  # fmt: skip
    stats = load(
        db,
        hours(D1 + timedelta(days=1), 10, 2),
        [5],
        D1 + timedelta(days=1),
        D1 + timedelta(days=1),
        writer=w,
    )
    assert stats == ReportWriteStats(deleted=24, inserted=10, complete=10)
    rows = snapshot(db, w)
    assert len(rows) == 34 and sum(r["Clicks"] for r in rows) == 24 + 20
    assert rows[0]["TimePeriod"] == datetime(2025, 3, 1, 0, 0) and rows[0][IS_COMPLETE]
    assert w.earliest_incomplete_day([5], D1) is None


SUMMARY = (
    ReportColumn("AccountId", "integer"),
    ReportColumn("Network", "text"),
    ReportColumn("Spend", "decimal"),
)


def test_summary_report_rows_belong_to_their_window(db: Database) -> None:
    w = writer(db, SUMMARY, ("AccountId", "Network"))
    march = (date(2025, 3, 1), date(2025, 3, 31))
    april = (date(2025, 4, 1), date(2025, 4, 30))
    row = {"AccountId": 7, "Network": None, "Spend": Decimal("10.00")}  # "--" in a text key
    load(db, [row], [7], *march, complete_through=march[1], writer=w)
    load(db, [row], [7], *april, complete_through=april[0], writer=w)
    load(db, [{**row, "Spend": Decimal("12.00")}], [7], *april, complete_through=april[0], writer=w)
    rows = snapshot(db, w)
    assert [(r[WINDOW_START], r[WINDOW_END], r["Spend"], r["Network"], r[IS_COMPLETE]) for r in rows] == [
        (march[0], march[1], Decimal("10.00"), "", True),
        (april[0], april[1], Decimal("12.00"), "", False),
    ]
    assert w.earliest_incomplete_day([7], march[0]) == april[0]


def test_four_concurrent_first_loads_all_succeed(db: Database) -> None:
    rows = daily_rows([11, 12, 13], D1, 5)
    barrier = threading.Barrier(4)
    errors: list[BaseException] = []

    def run() -> None:
        barrier.wait()
        try:
            load(db, rows, [11, 12, 13], D1, D1 + timedelta(days=4))
        except BaseException as err:
            errors.append(err)

    threads = [threading.Thread(target=run) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert errors == []
    assert snapshot(db) == expected(rows, D1 + timedelta(days=4))


def test_a_table_with_other_columns_is_refused_with_the_fix(db: Database) -> None:
    load(db, daily_rows([11], D1, 1), [11], D1, D1)
    other = (*DAILY[:-1], ReportColumn("Conversions", "integer"))
    with pytest.raises(ReportTableMismatchError) as caught:
        load(db, [], [11], D1, D1, writer=writer(db, other))
    message = str(caught.value)
    assert "missing Conversions" in message and "not in the request Ctr" in message
    assert "new table" in message


def test_bad_input_is_refused_before_any_sql(db: Database) -> None:
    with pytest.raises(ValueError, match="table name"):
        ReportTableWriter(db.engine, "t; DROP TABLE x", None, DAILY, DAILY_KEY)
    with pytest.raises(ValueError, match="report column name"):
        ReportColumn('Spend"--', "decimal")
    with pytest.raises(ValueError, match="reserved"):
        ReportColumn("msads_loaded_at", "datetime")
    with pytest.raises(ValueError, match="kind"):
        ReportColumn("Spend", "money")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="AccountId"):
        ReportTableWriter(db.engine, "t", None, DAILY, ("TimePeriod",))
    with pytest.raises(ValueError, match=r"end .* before start"):
        load(db, [], [11], D1, D1 - timedelta(days=1))
    with pytest.raises(ValueError, match="account_ids"):
        load(db, [], [], D1, D1)
    assert not db.table_exists()


EXPECTED_TYPES = {
    # AccountId, TimePeriod, DeviceType (key text), AccountName, Spend
    "postgresql": ("bigint", "date", "text", "text", "numeric"),
    "mysql": ("bigint", "date", "varchar", "text", "decimal"),
    "duckdb": ("bigint", "date", "varchar", "varchar", "decimal(38,9)"),
}


def test_column_types_and_primary_key(db: Database) -> None:
    load(db, daily_rows([11], D1, 1), [11], D1, D1)
    if db.name == "sqlite":
        info = db.execute(f"PRAGMA table_info({db.quote(db.table)})")
        assert [r[1] for r in info if r[5]] == list(DAILY_KEY)
        return
    types = dict(
        db.execute(
            "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = :t",
            {"t": db.table},
        )
    )
    names = ("AccountId", "TimePeriod", "DeviceType", "AccountName", "Spend")
    assert tuple(str(types[n]).lower() for n in names) == EXPECTED_TYPES[db.name]
    assert {LOADED_AT, IS_COMPLETE} <= set(types)
