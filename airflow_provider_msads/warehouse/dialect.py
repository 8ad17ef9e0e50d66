"""The few things SQLAlchemy does not settle for us: identifiers, engines from hooks, transactions, types.

Every table the provider writes is a SQLAlchemy Core ``Table``; SQLAlchemy compiles its DDL and DML for
whatever database the connection points at. What lives here is the small remainder:

- :func:`validate_identifier`: table, schema and column names are checked before any SQL exists.
- :func:`engine_for_hook`: any common-sql hook that can build a SQLAlchemy engine is a warehouse.
- :func:`write_transaction`: one transaction per write; SQLite takes its write lock up front.
- :func:`create_table`: ``CREATE TABLE`` that tolerates another writer creating the same table at once.
- :class:`UtcTimestamp` and :class:`ServiceTimestamp`: timezone-aware UTC timestamps, stored the way
  each database keeps them (and as ISO 8601 text on SQLite, which has no timestamp type).
"""

from __future__ import annotations

import contextlib
import hashlib
import re
import threading
from collections.abc import Iterable, Iterator
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import (
    DateTime,
    LargeBinary,
    String,
    Table,
    Text,
    cast,
    false,
    func,
    inspect,
    literal_column,
    select,
)
from sqlalchemy.dialects import mysql
from sqlalchemy.engine import Connection, Dialect, Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.types import TypeDecorator, TypeEngine

_IDENTIFIER_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")

#: SQLAlchemy dialect names of the MySQL family (a MariaDB server reached through ``mysql://`` is "mysql").
MYSQL_FAMILY = frozenset({"mysql", "mariadb"})


class UnsupportedDialectError(ValueError):
    """The connection cannot be written through SQLAlchemy (its hook builds no engine)."""


def validate_identifier(name: str, what: str = "identifier") -> str:
    """Return ``name`` if it is a plain SQL identifier, else raise :class:`ValueError`.

    Deliberately strict (ASCII letters, digits, underscore; at most 63 characters, the PostgreSQL limit):
    names that need quoting tricks are exactly the ones that enable injection. SQLAlchemy quotes what
    passes (mixed case, reserved words) for each database.
    """
    if not isinstance(name, str) or not _IDENTIFIER_RE.fullmatch(name):
        raise ValueError(
            f"invalid {what} {name!r}: use 1-63 characters from A-Z, a-z, 0-9 and '_', not starting "
            "with a digit (no dots, quotes, spaces or schema prefixes: pass the schema separately)"
        )
    return name


def engine_for_hook(hook: Any) -> Engine:
    """The SQLAlchemy engine of a common-sql hook (``hook.get_sqlalchemy_engine()``).

    Works for every hook whose connection has a SQLAlchemy dialect installed: SQLite, PostgreSQL,
    MySQL/MariaDB, DuckDB (``airflow-provider-duckdb`` + ``duckdb-engine``), Snowflake, BigQuery, ...
    The error never quotes the connection URL (it may carry a password).
    """
    build = getattr(hook, "get_sqlalchemy_engine", None)
    if not callable(build):
        raise UnsupportedDialectError(
            f"{type(hook).__name__} cannot build a SQLAlchemy engine (no get_sqlalchemy_engine()): use a "
            "SQL connection whose provider is based on common-sql's DbApiHook"
        )
    try:
        engine = build()
    except Exception as err:
        from sqlalchemy.exc import NoSuchModuleError

        hint = (
            "install the SQLAlchemy dialect package for this database (e.g. duckdb-engine, "
            "snowflake-sqlalchemy, sqlalchemy-bigquery)"
            if isinstance(err, NoSuchModuleError)
            else "check the connection's host, schema and extras"
        )
        raise UnsupportedDialectError(
            f"{type(hook).__name__} could not build a SQLAlchemy engine ({type(err).__name__}): {hint}"
        ) from None
    if not isinstance(engine, Engine):
        raise UnsupportedDialectError(f"{type(hook).__name__}.get_sqlalchemy_engine() returned no Engine")
    return engine


@contextlib.contextmanager
def write_transaction(conn: Connection, lock: Table | None = None) -> Iterator[Connection]:
    """Run the block in ONE transaction on ``conn``: commit at the end, roll back on any exception.

    SQLite is the one exception to ``conn.begin()``: its driver starts a deferred transaction, which
    takes the write lock only at the first write and then fails at once with "database is locked" when
    another writer holds it (the busy timeout does not apply to a lock upgrade). ``BEGIN IMMEDIATE``
    takes the lock up front, so concurrent writers wait their turn instead.

    :param lock: serialise this transaction with every other writer of that table, in every process
        (see :func:`table_lock`).
    """
    with table_lock(conn, lock):
        if conn.dialect.name != "sqlite":
            with conn.begin():
                if lock is not None and conn.dialect.name == "postgresql":
                    conn.execute(select(func.pg_advisory_xact_lock(_lock_key(conn, lock))))
                yield conn
            return
        raw = conn.execution_options(isolation_level="AUTOCOMMIT")  # we issue BEGIN/COMMIT ourselves
        # Wait for another process's write (up to a minute, or the connection's own longer timeout).
        if int(raw.exec_driver_sql("PRAGMA busy_timeout").scalar() or 0) < SQLITE_BUSY_TIMEOUT_MS:
            raw.exec_driver_sql(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        raw.exec_driver_sql("BEGIN IMMEDIATE")
        try:
            yield raw
        except BaseException:
            with contextlib.suppress(Exception):
                raw.exec_driver_sql("ROLLBACK")
            raise
        raw.exec_driver_sql("COMMIT")


_PROCESS_LOCKS: dict[str, threading.Lock] = {}
_PROCESS_LOCKS_GUARD = threading.Lock()
LOCK_TIMEOUT_SECONDS = 600
SQLITE_BUSY_TIMEOUT_MS = 60_000


def _lock_name(conn: Connection, table: Table) -> str:
    url = conn.engine.url.set(password=None).render_as_string(hide_password=True)
    return f"{url}|{table.schema or ''}|{table.name}"


def _lock_key(conn: Connection, table: Table) -> int:
    """A signed 64-bit key for ``pg_advisory_xact_lock``, the same in every process."""
    digest = hashlib.blake2b(f"msads|{table.schema or ''}|{table.name}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


@contextlib.contextmanager
def table_lock(conn: Connection, table: Table | None) -> Iterator[None]:
    """Serialise the writers of one table: concurrent writes then all succeed, one after the other.

    Without it two writers inserting the same new keys collide (PostgreSQL and MariaDB raise a unique
    violation in the later one; DuckDB a write-write conflict). Three layers, each where it applies:

    - in this process, a lock per database and table (DuckDB is embedded: all its writers are here);
    - PostgreSQL: ``pg_advisory_xact_lock`` at the start of the transaction (released by its end);
    - MySQL/MariaDB: ``GET_LOCK`` around the transaction (a named lock of this session).

    SQLite needs no more than ``BEGIN IMMEDIATE``. Other databases rely on their own concurrency
    control (docs/warehouse.md).
    """
    if table is None:
        yield
        return
    name = _lock_name(conn, table)
    with _PROCESS_LOCKS_GUARD:
        local = _PROCESS_LOCKS.setdefault(name, threading.Lock())
    if not local.acquire(timeout=LOCK_TIMEOUT_SECONDS):
        raise TimeoutError(
            f"another writer of {table.name} in this process held it for {LOCK_TIMEOUT_SECONDS} s"
        )
    try:
        if conn.dialect.name not in MYSQL_FAMILY:
            yield
            return
        named = f"msads:{_lock_key(conn, table):x}"
        got = conn.execute(select(func.get_lock(named, LOCK_TIMEOUT_SECONDS))).scalar()
        conn.commit()
        if got != 1:
            raise TimeoutError(f"another writer of {table.name} held its lock for {LOCK_TIMEOUT_SECONDS} s")
        try:
            yield
        finally:
            with contextlib.suppress(Exception):
                if conn.in_transaction():
                    conn.rollback()
                conn.execute(select(func.release_lock(named)))
                conn.commit()
    finally:
        local.release()


def create_table(engine: Engine, table: Table) -> bool:
    """Create ``table`` if it is missing, in its own transaction; return whether this call created it.

    Outside the data transaction on purpose: MySQL/MariaDB commit implicitly on DDL, so every database
    gets the same order (the worst a failed first write leaves is an empty table). Several writers
    creating the same table at once race inside the database (PostgreSQL: a unique violation on
    ``pg_type_typname_nsp_index``); whoever loses finds the table there and carries on.
    """
    if has_table(engine, table):
        return False
    try:
        with engine.connect() as conn, write_transaction(conn, lock=table) as tx:
            table.create(tx, checkfirst=True)
    except DBAPIError:
        if not has_table(engine, table):
            raise
        return False
    return True


def has_table(engine: Engine | Connection, table: Table) -> bool:
    return bool(inspect(engine).has_table(table.name, schema=table.schema))


def column_names(conn: Connection, table: Table) -> list[str] | None:
    """The column names of the existing table, or None when there is no such table.

    Read off an empty ``SELECT *`` rather than the inspector: that works on every database (DuckDB's
    SQLAlchemy dialect cannot reflect column types under SQLAlchemy 2.1).
    """
    if not has_table(conn, table):
        return None
    return list(conn.execute(select(literal_column("*")).select_from(table).where(false())).keys())


def legacy_text_columns(conn: Connection, table: Table, candidates: Iterable[str]) -> frozenset[str]:
    """Which of ``candidates`` an existing PostgreSQL or MySQL/MariaDB table stores as text.

    Only those two: they are where versions before 0.3 created ``last_modified_time`` as text (SQLite
    keeps text on purpose; other databases were not supported before 0.3).
    """
    if conn.dialect.name not in ("postgresql", *MYSQL_FAMILY) or not has_table(conn, table):
        return frozenset()
    stored = {c["name"]: c["type"] for c in inspect(conn).get_columns(table.name, schema=table.schema)}
    return frozenset(n for n in candidates if n in stored and isinstance(stored[n], String))


def differs(left: ColumnElement[Any], right: ColumnElement[Any], dialect: Dialect) -> ColumnElement[bool]:
    """Null-safe, exact "these two values differ" (``IS DISTINCT FROM`` in each database's spelling).

    MySQL/MariaDB compare text through the column's collation, which by default ignores case and
    trailing spaces: there text is compared as bytes, so a renamed "acme" -> "Acme" counts as a change.
    """
    if dialect.name in MYSQL_FAMILY and isinstance(left.type, String):
        left, right = cast(left, LargeBinary), cast(right, LargeBinary)  # CAST(... AS BINARY)
    return left.is_distinct_from(right)


class UtcTimestamp(TypeDecorator[datetime]):
    """A timezone-aware instant, stored as UTC.

    PostgreSQL / DuckDB / others: ``TIMESTAMP WITH TIME ZONE``. MySQL/MariaDB: ``DATETIME(6)`` holding
    naive UTC (it has no zone type). SQLite: ISO 8601 text (``2024-05-01 12:00:00.000000+00:00``), which
    sorts chronologically and which SQLite's date functions read; it is what tables created before
    version 0.3 hold, so old and new rows compare correctly.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(Text())
        if dialect.name in MYSQL_FAMILY:
            return dialect.type_descriptor(mysql.DATETIME(fsp=6))
        return dialect.type_descriptor(DateTime(timezone=True))

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if not isinstance(value, datetime) or value.tzinfo is None:
            raise ValueError(f"timestamps must be timezone-aware datetimes (UTC is stored), got {value!r}")
        utc = value.astimezone(timezone.utc)
        if dialect.name == "sqlite":
            return utc.isoformat(sep=" ", timespec="microseconds")
        if dialect.name in MYSQL_FAMILY:
            return utc.replace(tzinfo=None)
        return utc

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        parsed: datetime = datetime.fromisoformat(value) if isinstance(value, str) else value
        if parsed.tzinfo is None:
            return parsed.replace(tzinfo=timezone.utc)
        return parsed.astimezone(timezone.utc)


_NAIVE_ISO_RE = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,7})?")
_SERVICE_TS_RE = re.compile(r"(\d{4}-\d\d-\d\d)[T ](\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:?\d\d)?")


def parse_service_timestamp(value: str) -> datetime:
    """Microsoft's ISO 8601 UTC timestamps (up to 7 fraction digits, zone often omitted) as aware UTC."""
    try:  # Python 3.11+ reads all of these itself, ten times faster than the regex below
        parsed = datetime.fromisoformat(value)
    except ValueError:
        pass
    else:
        return (
            parsed.replace(tzinfo=timezone.utc) if parsed.tzinfo is None else parsed.astimezone(timezone.utc)
        )
    match = _SERVICE_TS_RE.fullmatch(value.strip())
    if match is None:
        raise ValueError(f"not an ISO 8601 timestamp: {value[:40]!r}")
    day, clock, fraction, zone = match.groups()
    text = f"{day}T{clock}.{(fraction or '0')[:6].ljust(6, '0')}"
    if zone and zone != "Z":
        text += zone if ":" in zone else f"{zone[:3]}:{zone[3:]}"
    parsed = datetime.fromisoformat(text)
    return parsed.replace(tzinfo=timezone.utc) if parsed.tzinfo is None else parsed.astimezone(timezone.utc)


class ServiceTimestamp(UtcTimestamp):
    """A timestamp the service sends as ISO 8601 text (``LastModifiedTime``): a real timestamp column
    (UTC, microseconds: the 7th fraction digit is dropped), except on SQLite where the text is kept
    exactly as sent."""

    cache_ok = True

    def process_bind_param(self, value: datetime | str | None, dialect: Dialect) -> Any:
        if isinstance(value, str):
            if dialect.name == "sqlite":
                return value
            if dialect.name == "postgresql" and _NAIVE_ISO_RE.fullmatch(value):
                # The server parses it (2x faster in COPY than a datetime): the same microseconds
                # parse_service_timestamp keeps, marked UTC.
                return f"{value[:26]}+00:00"
            value = parse_service_timestamp(value)
        return super().process_bind_param(value, dialect)

    def process_result_value(self, value: Any, dialect: Dialect) -> Any:
        if dialect.name == "sqlite":
            return value
        return super().process_result_value(value, dialect)
