"""AccountTableWriter against real SQLite, PostgreSQL, MariaDB and DuckDB (see conftest.py).

The PostgreSQL fast path (COPY staging) is the default there; ``db_generic`` runs the same tests with it
turned off, so the generic SQLAlchemy path is proven on PostgreSQL too.
"""

from __future__ import annotations

import multiprocessing
import threading
import time
import tracemalloc
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from datetime import datetime, timedelta, timezone
from typing import Any

import msgspec
import pytest
import sqlalchemy as sa
from msads_warehouse_helpers import Database, expected_value, make_accounts, make_database, write_in_process

from airflow_provider_msads.client.models import ACCOUNT_ROW_FIELDS, Account
from airflow_provider_msads.warehouse import AccountTableWriter, WriteStats

T0 = datetime(2024, 5, 1, 12, 0, 0, 123456, tzinfo=timezone.utc)
T1 = T0 + timedelta(days=1)
T2 = T0 + timedelta(days=2)


class InjectedFailure(RuntimeError):
    pass


def expected_rows(
    db: Database, accounts: list[Account], first: datetime, last: datetime, active: bool = True
) -> list[dict[str, Any]]:
    return [
        {
            **{k: expected_value(db, k, v) for k, v in a.to_row().items()},
            "first_seen_at": first,
            "last_seen_at": last,
            "is_active_in_last_run": active,
        }
        for a in sorted(accounts, key=lambda a: a.id)
    ]


def writer(db: Database, **kwargs: Any) -> AccountTableWriter:
    kwargs.setdefault("fast_path", db.fast_path)
    return AccountTableWriter(db.engine, db.table, db.schema, **kwargs)


def write(db: Database, rows: Any, seen_at: datetime, **kwargs: Any) -> WriteStats:
    return writer(db, **kwargs).write(rows, seen_at)


# -- contents, idempotency, vanished ------------------------------------------------------------------


def test_first_write_creates_table_and_stores_every_field(
    db: Any, accounts: Callable[..., list[Account]]
) -> None:
    rows = accounts(25)
    assert not db.table_exists()

    stats = write(db, iter(rows), T0, batch_size=7)

    assert stats == WriteStats(seen=25, inserted=25, updated=0, unchanged=0, vanished=0)
    assert db.snapshot() == expected_rows(db, rows, T0, T0)


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
    assert db.snapshot() == expected_rows(db, rows, T0, T1)


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
        expected_rows(db, kept, T0, T1) + expected_rows(db, gone, T0, T0, active=False),
        key=lambda r: r["account_id"],
    )

    # Still gone: nothing newly vanished, the flag stays false and last_seen_at stays at T0.
    stats = write(db, kept, T2)
    assert stats.vanished == 0
    assert [r for r in db.snapshot() if not r["is_active_in_last_run"]] == expected_rows(
        db, gone, T0, T0, active=False
    )

    # Back again: reactivated (counted as updated), first_seen_at kept.
    stats = write(db, rows, T2 + timedelta(hours=1))
    assert stats == WriteStats(seen=10, inserted=0, updated=3, unchanged=7, vanished=0)
    assert db.snapshot() == expected_rows(db, rows, T0, T2 + timedelta(hours=1))


def test_empty_discovery_marks_everything_vanished(db: Any, accounts: Callable[..., list[Account]]) -> None:
    rows = accounts(4)
    write(db, rows, T0)
    stats = write(db, [], T1)
    assert stats == WriteStats(seen=0, inserted=0, updated=0, unchanged=0, vanished=4)
    assert db.snapshot() == expected_rows(db, rows, T0, T0, active=False)


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


def _fail_on_statement(engine: sa.engine.Engine, prefix: str) -> Callable[[], None]:
    """Make the next statement starting with ``prefix`` raise (after every earlier step has run)."""

    def before(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.lstrip().upper().startswith(prefix):
            raise InjectedFailure(f"injected failure on {statement[:40]!r}")

    sa.event.listen(engine, "before_cursor_execute", before)
    return lambda: sa.event.remove(engine, "before_cursor_execute", before)


@pytest.mark.parametrize("where", ["iterator", "merge", "database"])
def test_failure_mid_write_keeps_previous_contents(
    db: Database, accounts: Callable[..., list[Account]], where: str
) -> None:
    old = accounts(50)
    write(db, old, T0)
    before = db.snapshot()
    new = [msgspec.structs.replace(a, name=f"changed {a.id}") for a in old[10:]] + accounts(40, start=500_000)

    rows: Any = new
    expected_error: type[BaseException] = InjectedFailure
    undo = None
    if where == "iterator":  # the API fails on a later page: some batches are staged already
        rows = _failing_rows(new, fail_after=65)
    elif where == "merge":  # staged, vanished marked, changed rows updated; then the INSERT fails
        undo = _fail_on_statement(db.engine, "INSERT INTO " + db.qualified().upper())
    else:  # the database (or its driver) rejects a row of the last batch: an INTEGER overflow
        rows = [*new, msgspec.structs.replace(new[0], id=new[-1].id + 1, pause_reason=2**70)]
        expected_error = Exception
    try:
        with pytest.raises(expected_error) as excinfo:
            write(db, rows, T1, batch_size=20)
    finally:
        if undo:
            undo()
    if where == "database":
        assert not isinstance(excinfo.value, InjectedFailure)

    assert db.snapshot() == before
    # The pool's connections are still usable: the next write succeeds and sees the old state.
    stats = write(db, new, T1)
    assert stats == WriteStats(seen=80, inserted=40, updated=40, unchanged=0, vanished=10)


def test_failure_on_first_write_leaves_no_rows(db: Database, accounts: Callable[..., list[Account]]) -> None:
    with pytest.raises(InjectedFailure):
        write(db, _failing_rows(accounts(30), fail_after=25), T0, batch_size=10)
    # The table is created before the data transaction (MySQL/MariaDB commit DDL implicitly anyway):
    # it may exist, empty.
    assert not db.table_exists() or db.snapshot() == []


# -- older runs, concurrency -------------------------------------------------------------------------


def test_rerun_of_an_older_run_never_makes_the_table_older(
    db: Database, accounts: Callable[..., list[Account]]
) -> None:
    rows = accounts(6)
    write(db, rows[:4], T1)  # the newer run first (e.g. yesterday's run is cleared and rerun today)
    renamed = [msgspec.structs.replace(a, name=f"old name {a.id}") for a in rows]

    stats = write(db, renamed, T0)  # the older run: it saw all 6 accounts, under older names

    table = {r["account_id"]: r for r in db.snapshot()}
    assert stats.inserted == 2 and stats.updated == 0 and stats.vanished == 0
    for a in rows[:4]:  # newer data and last_seen_at stay; first_seen_at moves back to the older sighting
        assert table[a.id]["account_name"] == a.name
        assert (table[a.id]["first_seen_at"], table[a.id]["last_seen_at"]) == (T0, T1)
        assert table[a.id]["is_active_in_last_run"]
    for a in rows[4:]:
        assert (table[a.id]["first_seen_at"], table[a.id]["last_seen_at"]) == (T0, T0)
    assert all(r["first_seen_at"] <= r["last_seen_at"] for r in table.values())


def _concurrently(n: int, fn: Callable[[int], Any]) -> list[Any]:
    barrier = threading.Barrier(n)
    results: list[Any] = [None] * n

    def run(i: int) -> None:
        barrier.wait()
        try:
            results[i] = fn(i)
        except BaseException as err:  # collected, asserted below
            results[i] = err

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    return results


@pytest.mark.parametrize("existing", [False, True], ids=["fresh-table", "existing-table"])
def test_four_concurrent_writers_all_succeed(
    db: Database, accounts: Callable[..., list[Account]], existing: bool
) -> None:
    """Issue 16: PostgreSQL's CREATE TABLE race (pg_type unique violation), SQLite's lock upgrade."""
    rows = accounts(200)
    if existing:
        write(db, rows[:10], T0)

    results = _concurrently(4, lambda i: write(db, rows, T1, batch_size=50))

    errors = [r for r in results if isinstance(r, BaseException)]
    assert errors == [], errors
    assert sum(r.inserted for r in results) == (190 if existing else 200)
    assert db.snapshot() == sorted(
        expected_rows(db, rows[:10], T0 if existing else T1, T1) + expected_rows(db, rows[10:], T1, T1),
        key=lambda r: r["account_id"],
    )


@pytest.mark.parametrize("name", ["sqlite", "postgresql", "mysql"])
def test_four_writer_processes_on_a_fresh_table_all_succeed(
    name: str, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 16 across processes (what Airflow workers are): PostgreSQL's concurrent CREATE TABLE race on
    ``pg_type_typname_nsp_index``, MariaDB's duplicate keys, SQLite's "database is locked"."""
    db = make_database(name, tmp_path, monkeypatch)
    url = db.engine.url.render_as_string(hide_password=False)
    barrier = tmp_path / "barrier"
    barrier.mkdir()
    try:
        with ProcessPoolExecutor(4, mp_context=multiprocessing.get_context("spawn")) as pool:
            futures = [
                pool.submit(write_in_process, url, db.table, 300, T1.isoformat(), str(barrier), 4)
                for _ in range(4)
            ]
            results = [f.result(timeout=180) for f in futures]
        assert sum(r["inserted"] for r in results) == 300
        assert sorted(r["unchanged"] for r in results) == [0, 300, 300, 300]
        assert db.snapshot() == expected_rows(db, make_accounts(300), T1, T1)
    finally:
        if name != "sqlite":
            db.drop()
        db.engine.dispose()


# -- identifiers and types ---------------------------------------------------------------------------


def test_quoted_mixed_case_table_in_explicit_schema(
    db: Database, accounts: Callable[..., list[Account]]
) -> None:
    schema = {"sqlite": "main", "mysql": "test"}.get(db.name, f"msads_s_{db.table[-8:]}")
    if db.name in ("postgresql", "duckdb"):
        db.execute(f"CREATE SCHEMA {db.quote(schema)}")
    db.schema = schema
    db.table = "MsAds_" + db.table  # quoted: case is kept, never folded
    try:
        write(db, accounts(3), T0)
        assert [r["account_id"] for r in db.snapshot()] == [a.id for a in accounts(3)]
    finally:
        if db.name in ("postgresql", "duckdb"):
            db.execute(f"DROP SCHEMA {db.quote(schema)} CASCADE")


def test_injected_names_are_refused_before_any_sql(db: Database) -> None:
    for bad in ("t; DROP TABLE x", 'a"b', "x.y", "", "1abc"):
        with pytest.raises(ValueError, match="table name"):
            AccountTableWriter(db.engine, bad)
    with pytest.raises(ValueError, match="schema name"):
        AccountTableWriter(db.engine, "ok", "s`x")


EXPECTED_TYPES = {
    # database: (account_id, first_seen_at, is_active_in_last_run, account_name, last_modified_time)
    "postgresql": ("bigint", "timestamp with time zone", "boolean", "text", "timestamp with time zone"),
    "mysql": ("bigint", "datetime", "tinyint", "varchar", "datetime"),
    "duckdb": ("bigint", "timestamp with time zone", "boolean", "varchar", "timestamp with time zone"),
}


def test_column_types_suit_the_database(db: Database, accounts: Callable[..., list[Account]]) -> None:
    write(db, accounts(1), T0)
    if db.name == "sqlite":
        info = db.execute(f"PRAGMA table_info({db.quote(db.table)})")
        types = {row[1]: row[2] for row in info}
        primary = [row[1] for row in info if row[5]]
        assert types["account_id"] == "INTEGER" and primary == ["account_id"]
        assert types["first_seen_at"] == types["last_modified_time"] == "TEXT"
    else:
        types = {
            row[0]: row[1].lower()
            for row in db.execute(
                "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = :t "
                "ORDER BY ordinal_position",
                {"t": db.table},
            )
        }
        names = ("account_id", "first_seen_at", "is_active_in_last_run", "account_name", "last_modified_time")
        assert tuple(types[n] for n in names) == EXPECTED_TYPES[db.name]
        primary = db.execute(
            "SELECT k.column_name FROM information_schema.table_constraints c "
            "JOIN information_schema.key_column_usage k ON k.constraint_name = c.constraint_name "
            "AND k.table_name = c.table_name WHERE c.table_name = :t AND c.constraint_type = 'PRIMARY KEY'",
            {"t": db.table},
        )
        assert primary == [("account_id",)]
    assert list(types) == [*ACCOUNT_ROW_FIELDS, "first_seen_at", "last_seen_at", "is_active_in_last_run"]


def test_table_with_text_last_modified_time_keeps_working(
    old_db: Database, accounts: Callable[..., list[Account]]
) -> None:
    """Tables created before last_modified_time became a timestamp (TEXT there) are still written."""
    db = old_db
    write(db, accounts(2), T0)
    db.drop()
    # Today's table, but with the old TEXT column (what version 0.2 created).
    ddl = sa.schema.CreateTable(writer(db).table).compile(db.engine).string
    text = "VARCHAR(64)" if db.name == "mysql" else "TEXT"
    old = ddl.replace("last_modified_time TIMESTAMP WITH TIME ZONE", f"last_modified_time {text}")
    old = old.replace("last_modified_time DATETIME(6)", f"last_modified_time {text}")
    assert (old == ddl) == (db.name == "sqlite")  # SQLite: TEXT already, and it stays text
    db.execute(old)
    rows = accounts(3)
    write(db, rows[:2], T0)
    stats = write(db, rows, T1)
    assert (stats.inserted, stats.unchanged) == (1, 2)
    stored = db.execute(f"SELECT last_modified_time FROM {db.qualified()}")
    assert {r[0] for r in stored} == {rows[0].last_modified_time}


# -- volume ------------------------------------------------------------------------------------------


def _timed(label: str, timings: list[str], fn: Callable[[], WriteStats]) -> tuple[float, WriteStats]:
    start = time.perf_counter()
    stats = fn()
    elapsed = time.perf_counter() - start
    timings.append(f"{label}: {elapsed:.3f} s  {stats}")
    return elapsed, stats


def test_volume_first_run_and_rerun(
    db: Database, accounts: Callable[..., list[Account]], timings: list[str]
) -> None:
    n = 10_000
    rows = accounts(n)
    _, first = _timed(f"{db.id:18} {n:>7} rows, first run", timings, lambda: write(db, iter(rows), T0))
    _, again = _timed(f"{db.id:18} {n:>7} rows, rerun    ", timings, lambda: write(db, iter(rows), T1))
    assert first.inserted == n and again.unchanged == n
    assert sum(r["is_active_in_last_run"] for r in db.snapshot()) == n


def test_streaming_does_not_hold_rows_twice(
    sqlite_db: Database, accounts: Callable[..., list[Account]]
) -> None:
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
