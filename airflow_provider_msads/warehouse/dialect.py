"""What differs between SQL databases for the accounts table: types, quoting, upsert, transactions.

Everything here is plain DB-API: no Airflow, no SQLAlchemy. A :class:`SqlDialect` is picked by name
(:func:`get_dialect`) or from a common-sql ``DbApiHook`` (:func:`dialect_for_hook`). Identifiers are
never interpolated unchecked: :func:`validate_identifier` accepts only ``[A-Za-z_][A-Za-z0-9_]{0,62}``
and :meth:`SqlDialect.quote` quotes what passed, so a table or schema parameter cannot carry SQL.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Literal

DialectName = Literal["sqlite", "postgresql", "mysql"]

#: Logical column kinds used by the table definitions; each dialect maps them to a SQL type.
ColumnKind = Literal["key", "bigint", "int", "code", "text", "timestamp", "flag"]

_IDENTIFIER_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")

_ALIASES: dict[str, DialectName] = {
    "sqlite": "sqlite",
    "sqlite3": "sqlite",
    "postgresql": "postgresql",
    "postgres": "postgresql",
    "psycopg": "postgresql",
    "psycopg2": "postgresql",
    "mysql": "mysql",
    "mariadb": "mysql",
    "mysqldb": "mysql",
}


class UnsupportedDialectError(ValueError):
    """The SQL connection is of a kind this provider cannot write the accounts table to."""


def validate_identifier(name: str, what: str = "identifier") -> str:
    """Return ``name`` if it is a plain SQL identifier, else raise :class:`ValueError`.

    Deliberately strict (ASCII letters, digits, underscore; at most 63 characters, the PostgreSQL limit):
    names that need quoting tricks are exactly the ones that enable injection.
    """
    if not isinstance(name, str) or not _IDENTIFIER_RE.fullmatch(name):
        raise ValueError(
            f"invalid {what} {name!r}: use 1-63 characters from A-Z, a-z, 0-9 and '_', not starting "
            "with a digit (no dots, quotes, spaces or schema prefixes: pass the schema separately)"
        )
    return name


@dataclass(frozen=True, slots=True)
class SqlDialect:
    """The SQL spelling of one database family.

    :param name: ``sqlite``, ``postgresql`` or ``mysql`` (MySQL and MariaDB share one dialect).
    :param placeholder: the DB-API parameter marker of the usual driver (``?`` or ``%s``).
    :param quote_char: identifier quote character.
    :param types: SQL type for each :data:`ColumnKind`.
    :param true_sql: literal for a true flag value (SQLite and MySQL store flags as 0/1).
    :param false_sql: literal for a false flag value.
    :param ddl_autocommits: ``CREATE TABLE`` ends the open transaction (MySQL/MariaDB do this).
    :param table_options: appended to ``CREATE TABLE`` statements (engine and charset on MySQL).
    """

    name: DialectName
    placeholder: str
    quote_char: str
    types: dict[ColumnKind, str]
    true_sql: str
    false_sql: str
    ddl_autocommits: bool = False
    table_options: str = ""

    def quote(self, identifier: str) -> str:
        """Validate and quote one identifier."""
        validate_identifier(identifier)
        return f"{self.quote_char}{identifier}{self.quote_char}"

    def qualified(self, table: str, schema: str | None = None) -> str:
        """``"schema"."table"`` (or just ``"table"``), both parts validated."""
        validate_identifier(table, "table name")
        if schema is None or schema == "":
            return self.quote(table)
        validate_identifier(schema, "schema name")
        return f"{self.quote(schema)}.{self.quote(table)}"

    def column_sql(self, name: str, kind: ColumnKind, *, not_null: bool = False) -> str:
        """One column definition; the ``key`` kind carries NOT NULL and PRIMARY KEY itself."""
        suffix = " NOT NULL" if not_null and kind != "key" else ""
        return f"{self.quote(name)} {self.types[kind]}{suffix}"

    def create_table_sql(
        self, qualified_name: str, columns: Sequence[tuple[str, ColumnKind, bool]], *, temporary: bool = False
    ) -> str:
        """``CREATE [TEMPORARY] TABLE`` from ``(name, kind, not_null)`` triples."""
        body = ", ".join(self.column_sql(name, kind, not_null=not_null) for name, kind, not_null in columns)
        if temporary:
            head = "CREATE TEMPORARY TABLE"
            tail = " ON COMMIT DROP" if self.name == "postgresql" else ""
        else:
            head = "CREATE TABLE IF NOT EXISTS"
            tail = ""
        return f"{head} {qualified_name} ({body}){tail}{self.table_options}"

    def drop_temporary_table_sql(self, quoted_name: str) -> str:
        # MySQL's TEMPORARY keyword guarantees a real table of that name is never dropped by mistake.
        keyword = "DROP TEMPORARY TABLE" if self.name == "mysql" else "DROP TABLE"
        return f"{keyword} IF EXISTS {quoted_name}"

    def differs_sql(self, left: str, right: str, kind: ColumnKind) -> str:
        """Null-safe, exact (case- and trailing-space-sensitive) "these two values differ"."""
        if self.name == "sqlite":
            return f"{left} IS NOT {right}"
        if self.name == "postgresql":
            return f"{left} IS DISTINCT FROM {right}"
        if kind in ("code", "text"):  # MySQL string comparison ignores case and trailing spaces
            return f"NOT (CAST({left} AS BINARY) <=> CAST({right} AS BINARY))"
        return f"NOT ({left} <=> {right})"

    def upsert_from_select_sql(
        self,
        target: str,
        insert_columns: Sequence[str],
        select_sql: str,
        key: str,
        update_assignments: Sequence[tuple[str, str]],
    ) -> str:
        """``INSERT INTO target (...) <select> ON CONFLICT/DUPLICATE KEY UPDATE ...``.

        :param update_assignments: ``(column, value)`` pairs where ``value`` is either the literal
            ``"NEW"`` (take the value the insert proposed) or a SQL expression.
        """
        cols = ", ".join(self.quote(c) for c in insert_columns)
        if self.name == "mysql":
            # VALUES(col) works on MariaDB and MySQL alike (MySQL 8.0.20+ only warns about it).
            sets = ", ".join(
                f"{self.quote(c)} = " + (f"VALUES({self.quote(c)})" if v == "NEW" else v)
                for c, v in update_assignments
            )
            return f"INSERT INTO {target} ({cols}) {select_sql} ON DUPLICATE KEY UPDATE {sets}"
        sets = ", ".join(
            f"{self.quote(c)} = " + (f"excluded.{self.quote(c)}" if v == "NEW" else v)
            for c, v in update_assignments
        )
        # "WHERE true" resolves SQLite's parsing ambiguity between a join's ON and the upsert's ON;
        # ``select_sql`` is therefore a plain SELECT ... FROM without its own WHERE clause.
        where = " WHERE true" if self.name == "sqlite" else ""
        conflict = f"ON CONFLICT ({self.quote(key)}) DO UPDATE SET {sets}"
        return f"INSERT INTO {target} ({cols}) {select_sql}{where} {conflict}"

    def timestamp_param(self, value: datetime) -> Any:
        """A timezone-aware datetime as the driver should receive it (always stored as UTC)."""
        if value.tzinfo is None:
            raise ValueError("timestamps must be timezone-aware (UTC is stored)")
        utc = value.astimezone(timezone.utc)
        if self.name == "sqlite":  # ISO 8601 text sorts chronologically and SQLite's date functions read it
            return utc.isoformat(sep=" ", timespec="microseconds")
        if self.name == "mysql":  # DATETIME has no zone: store naive UTC
            return utc.replace(tzinfo=None)
        return utc

    def begin(self, conn: Any) -> None:
        """Make sure ``conn`` is inside a transaction that only ``commit()`` ends.

        sqlite3 in its default (legacy) mode runs DDL outside any transaction, so BEGIN is explicit
        there; psycopg, MySQLdb and friends open one implicitly once autocommit is off.
        """
        if self.name == "sqlite":
            if not getattr(conn, "in_transaction", False):
                conn.execute("BEGIN")
            return
        autocommit = getattr(conn, "autocommit", None)
        if callable(autocommit):  # MySQLdb / PyMySQL: a method
            autocommit(False)
        elif autocommit:  # psycopg, psycopg2, mysql-connector: a property
            conn.autocommit = False


SQLITE = SqlDialect(
    name="sqlite",
    placeholder="?",
    quote_char='"',
    types={
        "key": "INTEGER NOT NULL PRIMARY KEY",
        "bigint": "INTEGER",
        "int": "INTEGER",
        "code": "TEXT",
        "text": "TEXT",
        "timestamp": "TEXT",  # ISO 8601 UTC, e.g. 2024-05-01 12:00:00.000000+00:00
        "flag": "INTEGER",  # 0 / 1
    },
    true_sql="1",
    false_sql="0",
)

POSTGRESQL = SqlDialect(
    name="postgresql",
    placeholder="%s",
    quote_char='"',
    types={
        "key": "BIGINT NOT NULL PRIMARY KEY",
        "bigint": "BIGINT",
        "int": "INTEGER",
        "code": "TEXT",
        "text": "TEXT",
        "timestamp": "TIMESTAMP WITH TIME ZONE",
        "flag": "BOOLEAN",
    },
    true_sql="TRUE",
    false_sql="FALSE",
)

MYSQL = SqlDialect(
    name="mysql",
    placeholder="%s",
    quote_char="`",
    types={
        "key": "BIGINT NOT NULL PRIMARY KEY",
        "bigint": "BIGINT",
        "int": "INT",
        "code": "VARCHAR(64)",
        "text": "VARCHAR(255)",
        "timestamp": "DATETIME(6)",  # UTC
        "flag": "BOOLEAN",  # TINYINT(1)
    },
    true_sql="1",
    false_sql="0",
    ddl_autocommits=True,
    table_options=" ENGINE=InnoDB DEFAULT CHARSET=utf8mb4",
)

DIALECTS: dict[DialectName, SqlDialect] = {d.name: d for d in (SQLITE, POSTGRESQL, MYSQL)}


def get_dialect(name: str) -> SqlDialect:
    """Look a dialect up by database or driver name (``postgres``, ``mariadb``, ``sqlite`` ...)."""
    key = (name or "").strip().lower().split("+", 1)[0]
    try:
        return DIALECTS[_ALIASES[key]]
    except KeyError:
        raise UnsupportedDialectError(
            f"unsupported SQL database {name!r}: the accounts table can be written to SQLite, "
            "PostgreSQL and MySQL/MariaDB connections"
        ) from None


def dialect_for_hook(hook: Any) -> SqlDialect:
    """Pick the dialect of a common-sql ``DbApiHook`` (its ``dialect_name``, else the conn type)."""
    candidates: list[str] = []
    with contextlib.suppress(Exception):  # some hooks cannot build a URL; the conn type still tells
        candidates.append(str(hook.dialect_name))
    conn_type = getattr(hook, "conn_type", None)
    if conn_type:
        candidates.append(str(conn_type))
    for candidate in candidates:
        if candidate.strip().lower().split("+", 1)[0] in _ALIASES:
            return get_dialect(candidate)
    raise UnsupportedDialectError(
        f"cannot write the accounts table through {type(hook).__name__} "
        f"(dialect {', '.join(candidates) or 'unknown'}): use a SQLite, PostgreSQL or MySQL/MariaDB "
        "connection"
    )
