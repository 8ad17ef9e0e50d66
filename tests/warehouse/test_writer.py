"""AccountTableWriter against real SQLite, PostgreSQL and MariaDB (see conftest.py for the servers)."""

from __future__ import annotations

import time
import tracemalloc
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import msgspec
import pytest

from airflow_provider_msads.client.models import ACCOUNT_ROW_FIELDS, Account
from airflow_provider_msads.warehouse import AccountTableWriter, WriteStats

T0 = datetime(2024, 5, 1, 12, 0, 0, 123456, tzinfo=timezone.utc)
T1 = T0 + timedelta(days=1)
T2 = T0 + timedelta(days=2)


class InjectedFailure(RuntimeError):
    pass


class FailingCursor:
    """Delegates to a real cursor but raises on the N-th ``executemany`` (1-based)."""

    def __init__(self, cursor: Any, owner: FailingConnection) -> None:
        self._cursor = cursor
        self._owner = owner

    def executemany(self, sql: str, rows: Any) -> Any:
        self._owner.executemany_calls += 1
        if self._owner.executemany_calls == self._owner.fail_on:
            raise InjectedFailure(f"injected failure on executemany #{self._owner.fail_on}")
        return self._cursor.executemany(sql, rows)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._cursor, name)


class FailingConnection:
    """A DB-API connection wrapper whose cursors fail on the N-th ``executemany``."""

    def __init__(self, conn: Any, fail_on: int) -> None:
        self.__dict__.update(_conn=conn, fail_on=fail_on, executemany_calls=0)

    def cursor(self) -> FailingCursor:
        return FailingCursor(self._conn.cursor(), self)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._conn, name)

    def __setattr__(self, name: str, value: Any) -> None:
        if name in ("fail_on", "executemany_calls"):
            self.__dict__[name] = value
        else:
            setattr(self._conn, name, value)


def expected_rows(
    accounts: list[Account], first: datetime, last: datetime, active: bool = True
) -> list[dict[str, Any]]:
    return [
        {**a.to_row(), "first_seen_at": first, "last_seen_at": last, "is_active_in_last_run": active}
        for a in sorted(accounts, key=lambda a: a.id)
    ]


def write(db: Any, rows: Any, seen_at: datetime, **kwargs: Any) -> WriteStats:
    conn = db.conn()
    try:
        return AccountTableWriter(conn, db.dialect, db.table, db.schema, **kwargs).write(rows, seen_at)
    finally:
        conn.close()


# -- contents, idempotency, vanished ------------------------------------------------------------------


def test_first_write_creates_table_and_stores_every_field(
    db: Any, accounts: Callable[..., list[Account]]
) -> None:
    rows = accounts(25)
    assert not db.table_exists()

    stats = write(db, iter(rows), T0, batch_size=7)

    assert stats == WriteStats(seen=25, inserted=25, updated=0, unchanged=0, vanished=0)
    assert db.snapshot() == expected_rows(rows, T0, T0)


def test_rerun_with_same_seen_at_changes_nothing(db: Any, accounts: Callable[..., list[Account]]) -> None:
    rows = accounts(30)
    write(db, rows, T0)
    before = db.snapshot()

    stats = write(db, reversed(rows), T0, batch_size=4)

    assert stats == WriteStats(seen=30, inserted=0, updated=0, unchanged=30, vanished=0)
    assert db.snapshot() == before


def test_later_rerun_moves_only_last_seen_at(db: Any, accounts: Callable[..., list[Account]]) -> None:
    rows = accounts(12)
    write(db, rows, T0)

    stats = write(db, rows, T1)

    assert stats.unchanged == 12 and stats.inserted == stats.updated == stats.vanished == 0
    assert db.snapshot() == expected_rows(rows, T0, T1)


def test_changed_accounts_are_updated_and_counted(db: Any, accounts: Callable[..., list[Account]]) -> None:
    rows = accounts(10)
    write(db, rows, T0)
    changed = list(rows)
    changed[2] = msgspec.structs.replace(rows[2], name="Renamed")
    changed[3] = msgspec.structs.replace(
        rows[3], name=rows[3].name.upper()
    )  # case only: MySQL compares binary
    changed[4] = msgspec.structs.replace(rows[4], pause_reason=None, lifecycle_status=None)
    changed[5] = msgspec.structs.replace(rows[5], customer_name=rows[5].customer_name + " ")  # trailing space
    new = accounts(2, start=900_000)

    stats = write(db, changed + new, T1)

    assert stats == WriteStats(seen=12, inserted=2, updated=4, unchanged=6, vanished=0)
    snapshot = {r["account_id"]: r for r in db.snapshot()}
    assert snapshot[rows[2].id]["account_name"] == "Renamed"
    assert snapshot[rows[3].id]["account_name"] == rows[3].name.upper()
    assert snapshot[rows[4].id]["status"] is None
    assert snapshot[rows[5].id]["customer_name"] == rows[5].customer_name + " "
    assert snapshot[new[0].id]["first_seen_at"] == T1
    assert snapshot[rows[0].id]["first_seen_at"] == T0
    assert all(r["last_seen_at"] == T1 and r["is_active_in_last_run"] for r in snapshot.values())


def test_vanished_accounts_are_flagged_and_can_come_back(
    db: Any, accounts: Callable[..., list[Account]]
) -> None:
    rows = accounts(10)
    kept, gone = rows[:7], rows[7:]
    write(db, rows, T0)

    stats = write(db, kept, T1)
    assert stats == WriteStats(seen=7, inserted=0, updated=0, unchanged=7, vanished=3)
    assert db.snapshot() == sorted(
        expected_rows(kept, T0, T1) + expected_rows(gone, T0, T0, active=False), key=lambda r: r["account_id"]
    )

    # Still gone: nothing newly vanished, the flag stays false and last_seen_at stays at T0.
    stats = write(db, kept, T2)
    assert stats.vanished == 0
    assert [r for r in db.snapshot() if not r["is_active_in_last_run"]] == expected_rows(
        gone, T0, T0, active=False
    )

    # Back again: reactivated (counted as updated), first_seen_at kept.
    stats = write(db, rows, T2 + timedelta(hours=1))
    assert stats == WriteStats(seen=10, inserted=0, updated=3, unchanged=7, vanished=0)
    assert db.snapshot() == expected_rows(rows, T0, T2 + timedelta(hours=1))


def test_empty_discovery_marks_everything_vanished(db: Any, accounts: Callable[..., list[Account]]) -> None:
    rows = accounts(4)
    write(db, rows, T0)
    stats = write(db, [], T1)
    assert stats == WriteStats(seen=0, inserted=0, updated=0, unchanged=0, vanished=4)
    assert db.snapshot() == expected_rows(rows, T0, T0, active=False)


def test_mappings_duplicates_and_string_ids(db: Any, accounts: Callable[..., list[Account]]) -> None:
    first = accounts(3)
    rows: list[Any] = [
        first[0].to_row(),
        {"account_id": str(first[1].id), "account_name": "only a name"},  # missing keys become NULL
        first[2],
        {**first[0].to_row(), "account_name": "duplicate: ignored"},
    ]
    stats = write(db, rows, T0)
    assert stats == WriteStats(seen=3, inserted=3, updated=0, unchanged=0, vanished=0, duplicates=1)
    snapshot = db.snapshot()
    assert snapshot[0]["account_name"] == first[0].name
    assert snapshot[1] == {
        **{f: None for f in ACCOUNT_ROW_FIELDS},
        "account_id": first[1].id,
        "account_name": "only a name",
        "first_seen_at": T0,
        "last_seen_at": T0,
        "is_active_in_last_run": True,
    }


# -- atomicity ---------------------------------------------------------------------------------------


def _failing_rows(rows: list[Account], fail_after: int) -> Iterator[Account]:
    for i, row in enumerate(rows):
        if i == fail_after:
            raise InjectedFailure(f"discovery failed after {fail_after} accounts (e.g. API error on a page)")
        yield row


@pytest.mark.parametrize("where", ["executemany", "iterator", "database"])
def test_failure_mid_write_keeps_previous_contents(
    db: Any, accounts: Callable[..., list[Account]], where: str
) -> None:
    old = accounts(50)
    write(db, old, T0)
    before = db.snapshot()
    new = [msgspec.structs.replace(a, name=f"changed {a.id}") for a in old[10:]] + accounts(40, start=500_000)

    conn = db.conn()
    writer_conn: Any = conn
    rows: Any = new
    expected_error: type[BaseException] | tuple[type[BaseException], ...] = InjectedFailure
    if where == "executemany":
        writer_conn = FailingConnection(conn, fail_on=4)  # batches 1-3 staged, the 4th fails
    elif where == "iterator":
        rows = _failing_rows(new, fail_after=65)
    else:  # the database itself rejects a row of the last batch (BIGINT overflow)
        rows = [*new, msgspec.structs.replace(new[0], id=2**63)]
        expected_error = Exception
    with pytest.raises(expected_error) as excinfo:
        AccountTableWriter(writer_conn, db.dialect, db.table, batch_size=20).write(rows, T1)
    if where == "executemany":
        assert writer_conn.executemany_calls == 4
    if where == "database":
        assert not isinstance(excinfo.value, InjectedFailure)

    assert db.snapshot() == before
    # The same connection is still usable: the next write succeeds and sees the old state.
    stats = AccountTableWriter(conn, db.dialect, db.table).write(new, T1)
    assert stats == WriteStats(seen=80, inserted=40, updated=40, unchanged=0, vanished=10)
    conn.close()


def test_failure_on_first_write_leaves_no_rows(db: Any, accounts: Callable[..., list[Account]]) -> None:
    conn = FailingConnection(db.conn(), fail_on=2)
    with pytest.raises(InjectedFailure):
        AccountTableWriter(conn, db.dialect, db.table, batch_size=10).write(accounts(30), T0)
    # MySQL/MariaDB commit DDL implicitly, so the (empty) table may exist there; no row may.
    if db.table_exists():
        assert db.dialect.name == "mysql"
        assert db.snapshot() == []


# -- identifiers and types ---------------------------------------------------------------------------


def test_quoted_mixed_case_table_in_explicit_schema(db: Any, accounts: Callable[..., list[Account]]) -> None:
    schema = {"sqlite": "main", "postgresql": f"msads_s_{db.table[-8:]}", "mysql": "test"}[db.name]
    if db.name == "postgresql":
        db.execute(f"CREATE SCHEMA {db.dialect.quote(schema)}")
    db.schema = schema
    db.table = "MsAds_" + db.table  # quoted: case is kept, never folded
    try:
        write(db, accounts(3), T0)
        assert [r["account_id"] for r in db.snapshot()] == [a.id for a in accounts(3)]
    finally:
        if db.name == "postgresql":
            db.execute(f"DROP SCHEMA {db.dialect.quote(schema)} CASCADE")


def test_column_types_suit_the_database(db: Any, accounts: Callable[..., list[Account]]) -> None:
    write(db, accounts(1), T0)
    if db.name == "sqlite":
        info = db.execute(f"PRAGMA table_info({db.dialect.quote(db.table)})")
        types = {row[1]: row[2] for row in info}
        primary = [row[1] for row in info if row[5]]
        assert types["account_id"] == "INTEGER" and primary == ["account_id"]
    else:
        types = {
            row[0]: row[1].lower()
            for row in db.execute(
                "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = %s "
                "ORDER BY ordinal_position",
                (db.table,),
            )
        }
        if db.name == "postgresql":
            assert types["account_id"] == "bigint"
            assert types["first_seen_at"] == "timestamp with time zone"
            assert types["is_active_in_last_run"] == "boolean"
            assert types["account_name"] == "text"
        else:
            assert types["account_id"] == "bigint"
            assert types["first_seen_at"] == "datetime"
            assert types["is_active_in_last_run"] == "tinyint"
            assert types["account_name"] == "varchar"
    assert list(types) == [*ACCOUNT_ROW_FIELDS, "first_seen_at", "last_seen_at", "is_active_in_last_run"]


# -- volume ------------------------------------------------------------------------------------------


def _timed(label: str, timings: list[str], fn: Callable[[], WriteStats]) -> tuple[float, WriteStats]:
    start = time.perf_counter()
    stats = fn()
    elapsed = time.perf_counter() - start
    timings.append(f"{label}: {elapsed:.3f} s  {stats}")
    return elapsed, stats


@pytest.mark.parametrize("n", [10_000, 100_000])
def test_volume_first_run_and_rerun(
    db: Any, accounts: Callable[..., list[Account]], timings: list[str], n: int
) -> None:
    rows = accounts(n)
    _, first = _timed(f"{db.name:10} {n:>7} rows, first run", timings, lambda: write(db, iter(rows), T0))
    _, again = _timed(f"{db.name:10} {n:>7} rows, rerun    ", timings, lambda: write(db, iter(rows), T1))
    assert first.inserted == n and again.unchanged == n
    count = db.execute(
        f"SELECT COUNT(*) FROM {db.qualified()} WHERE {db.dialect.quote('is_active_in_last_run')} = "
        f"{db.dialect.true_sql}"
    )
    assert count[0][0] == n


def test_streaming_does_not_hold_rows_twice(sqlite_db: Any, accounts: Callable[..., list[Account]]) -> None:
    """100,000 accounts from a generator: peak Python memory stays far below one materialised copy."""
    db = sqlite_db
    n = 100_000
    template = accounts(1)[0]

    def generate() -> Iterator[Account]:
        for i in range(n):
            yield msgspec.structs.replace(
                template, id=template.id + i, name=f"Account {i}", number=f"F{i:09d}"
            )

    tracemalloc.start()
    try:
        materialised = list(generate())
        _, list_peak = tracemalloc.get_traced_memory()
        del materialised
        tracemalloc.reset_peak()
        base, _ = tracemalloc.get_traced_memory()
        stats = write(db, generate(), T0)
        _, write_peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert stats.inserted == n
    # Only the id set (for duplicate detection) and one batch are held: well under a full list of rows.
    print(
        f"peak traced memory: writer {(write_peak - base) / 1e6:.1f} MB, "
        f"list of rows {list_peak / 1e6:.1f} MB"
    )
    assert write_peak - base < list_peak / 2, (write_peak - base, list_peak)
