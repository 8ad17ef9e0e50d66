"""Streaming rows into a table inside the caller's transaction: the generic path and the measured fast path.

Generic: SQLAlchemy Core ``INSERT`` executed with one batch of rows at a time (the driver's
``executemany``; SQLAlchemy applies every column type's bind processing). Works on any database with a
SQLAlchemy dialect.

Fast path, used only where ``bench/`` measured it faster and the generic suite passes through it too:
PostgreSQL through psycopg 3 streams every row through one ``COPY ... FROM STDIN`` (100,000 accounts
stage in ~0.3 s instead of ~2 s); rows that are already text (a report file's columns,
:func:`copy_text_columns`) go in as ``COPY`` text built a block at a time, without a Python object per
value. MySQL/MariaDB (mysqlclient rewrites ``executemany`` into multi-row ``INSERT``) and SQLite
(``executemany`` in C) are already as fast as their drivers go on the generic path: see
bench/README.md.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from datetime import date, datetime
from itertools import islice, repeat
from operator import itemgetter
from typing import Any, cast

from sqlalchemy import Table
from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.types import TypeDecorator

DEFAULT_BATCH_SIZE = 1000

Row = Sequence[Any]


def insert_rows(
    conn: Connection,
    table: Table,
    columns: Sequence[str],
    rows: Iterable[Row],
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    fast: bool = True,
    constants: Mapping[str, Any] | None = None,
) -> int:
    """Insert ``rows`` (tuples in ``columns`` order) into ``table`` on ``conn``; return how many.

    Consumes ``rows`` lazily, ``batch_size`` at a time, so memory stays flat however many there are.
    Runs in the caller's transaction: nothing is committed here.

    :param fast: allow the dialect fast path (tests turn it off to prove the generic path alone).
    :param constants: columns with the same value in every row (e.g. the load time), appended to each
        row after ``columns``; their bind processing runs once, not per row.
    """
    constants = dict(constants or {})
    if fast and _psycopg3(conn):
        return _copy_rows(conn, table, columns, rows, constants)
    if fast and conn.dialect.name in _DRIVER_EXECUTEMANY:
        return _driver_executemany(conn, table, columns, rows, batch_size, constants)
    stmt = table.insert().values(constants) if constants else table.insert()
    count = 0
    iterator = iter(rows)
    while batch := list(islice(iterator, batch_size)):
        conn.execute(stmt, [dict(zip(columns, row, strict=True)) for row in batch])
        count += len(batch)
    return count


#: Where handing tuples straight to the driver's ``executemany`` measured faster than SQLAlchemy's own
#: executemany (which builds and processes one parameter dict per row): bench/README.md.
_DRIVER_EXECUTEMANY = frozenset({"sqlite", "mysql", "mariadb"})


def _driver_executemany(
    conn: Connection,
    table: Table,
    columns: Sequence[str],
    rows: Iterable[Row],
    batch_size: int,
    constants: dict[str, Any],
) -> int:
    """The INSERT compiled once for this dialect, each batch passed to ``cursor.executemany`` as tuples.

    Values still go through every column type's bind processing (the same SQLAlchemy processors the
    generic path applies), so both paths store identical values.
    """
    names = [*columns, *constants]
    compiled = table.insert().compile(dialect=conn.dialect, column_keys=names)
    order = [compiled.binds[name].key for name in compiled.positiontup or ()]
    if sorted(order) != sorted(names):
        raise RuntimeError(f"unexpected parameters {order} for {names}")
    # SQLAlchemy binds in table order; ``reorder`` puts each row's values in that order (one C call).
    reorder = None if order == names else itemgetter(*(names.index(k) for k in order))
    processors = [_bind_processor(table, name, conn.dialect) for name in names]
    tail = tuple(
        value if process is None else process(value)
        for value, process in zip(constants.values(), processors[len(columns) :], strict=True)
    )
    steps = [(i, p) for i, p in enumerate(processors[: len(columns)]) if p is not None]
    sql = compiled.string
    count = 0
    iterator = iter(rows)
    while batch := list(islice(iterator, batch_size)):
        converted = []
        for row in batch:
            values = list(row)
            for index, process in steps:
                values[index] = process(values[index])
            full = (*values, *tail)
            converted.append(reorder(full) if reorder else full)
        conn.exec_driver_sql(sql, converted)
        count += len(batch)
    return count


def _bind_processor(table: Table, name: str, dialect: Dialect) -> Callable[[Any], Any] | None:
    return table.c[name].type.dialect_impl(dialect).bind_processor(dialect)


def fast_path_name(conn: Connection) -> str | None:
    """The fast path :func:`insert_rows` takes on ``conn``, or None for the generic one."""
    if _psycopg3(conn):
        return "copy"
    return "driver-executemany" if conn.dialect.name in _DRIVER_EXECUTEMANY else None


def _psycopg3(conn: Connection) -> bool:
    return conn.dialect.name == "postgresql" and conn.dialect.driver == "psycopg"


def _copy_rows(
    conn: Connection, table: Table, columns: Sequence[str], rows: Iterable[Row], constants: dict[str, Any]
) -> int:
    """One ``COPY table (columns) FROM STDIN`` on the connection's own psycopg cursor.

    Values go through the same bind processing the generic path applies (``TypeDecorator`` columns,
    e.g. UTC timestamps), so both paths store identical values.
    """
    sql = _copy_sql(conn, table, [*columns, *constants])
    convert = _row_converter(table, columns, conn.dialect)
    extra = _bound_constants(conn, table, constants)
    count = 0
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        with cursor.copy(sql) as copy:
            write_row = copy.write_row
            if convert is None and not extra:
                for row in rows:
                    write_row(row)
                    count += 1
            elif convert is None:
                for row in rows:
                    write_row((*row, *extra))
                    count += 1
            else:
                for row in rows:
                    write_row((*convert(row), *extra))
                    count += 1
    finally:
        cursor.close()
    return count


def _copy_sql(conn: Connection, table: Table, names: Sequence[str]) -> str:
    preparer = conn.dialect.identifier_preparer
    column_list = ", ".join(preparer.quote(c) for c in names)
    return f"COPY {preparer.format_table(table)} ({column_list}) FROM STDIN"


def _bound_constants(conn: Connection, table: Table, constants: Mapping[str, Any]) -> tuple[Any, ...]:
    """The constant columns' values after their bind processing (once per load, not per row)."""
    convert = _row_converter(table, list(constants), conn.dialect)
    return tuple(convert(tuple(constants.values())) if convert else constants.values())


def _row_converter(table: Table, columns: Sequence[str], dialect: Dialect) -> Callable[[Row], Row] | None:
    """Apply each ``TypeDecorator`` column's ``process_bind_param``; None when no column needs it."""
    steps: list[tuple[int, Callable[[Any, Dialect], Any]]] = []
    for index, name in enumerate(columns):
        type_ = table.c[name].type
        if isinstance(type_, TypeDecorator):
            steps.append((index, type_.process_bind_param))
    if not steps:
        return None
    if len(steps) == 1:
        (only, process_one), after = steps[0], steps[0][0] + 1

        def convert_one(row: Row) -> Row:
            return (*row[:only], process_one(row[only], dialect), *row[after:])

        return convert_one

    def convert(row: Row) -> Row:
        values = list(row)
        for index, process in steps:
            values[index] = process(values[index], dialect)
        return values

    return convert


#: Columns of text (or None) per block, in the order of the ``columns`` they are copied into.
TextBlock = Sequence[Sequence[str | None]]
_NULL = "\\N"
_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def copy_text_columns(
    conn: Connection,
    table: Table,
    columns: Sequence[str],
    blocks: Iterable[TextBlock],
    *,
    constants: Mapping[str, Any] | None = None,
    plain: Collection[int] = (),
) -> int:
    """``COPY table (columns) FROM STDIN`` (text format) from blocks of text columns; return the row count.

    PostgreSQL through psycopg 3 only (:func:`fast_path_name` is ``"copy"``). Each value must be text the
    column's type parses (None for NULL); each block becomes one ``COPY`` chunk joined in C, so no Python
    object is built per value.

    :param constants: columns with the same value in every row (e.g. the load time), appended after
        ``columns``, bind-processed once as in :func:`insert_rows`.
    :param plain: indexes of columns that cannot hold a backslash, tab or line break (numbers, days):
        not searched for characters to escape.
    """
    if not _psycopg3(conn):
        raise ValueError(f"copy_text_columns needs PostgreSQL through psycopg 3, not {conn.dialect.name}")
    constants = dict(constants or {})
    sql = _copy_sql(conn, table, [*columns, *constants])
    tail = [repeat(_copy_text(v)) for v in _bound_constants(conn, table, constants)]
    formats = [_copy_nulls if i in plain else _copy_column for i in range(len(columns))]
    count = 0
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        with cursor.copy(sql) as copy:
            for block in blocks:
                size = _block_size(block, len(columns))
                if size:
                    fields = [f(c) for f, c in zip(formats, block, strict=True)]
                    rows = zip(*fields, *tail, strict=False)  # the tails repeat forever
                    copy.write("\n".join(map("\t".join, rows)) + "\n")
                    count += size
    finally:
        cursor.close()
    return count


def _block_size(block: TextBlock, width: int) -> int:
    sizes = set(map(len, block))
    if len(block) != width or len(sizes) > 1:
        raise ValueError(f"a block must hold {width} columns of equal length, got lengths {sorted(sizes)}")
    return sizes.pop() if sizes else 0


def _copy_column(values: Sequence[str | None]) -> Sequence[str]:
    """One column in COPY's text format: backslash, tab and line breaks escaped, None as ``\\N``."""
    nulls = None in values
    text = "".join(cast(Iterable[str], filter(None, values) if nulls else values))
    if "\\" in text or "\t" in text or "\n" in text or "\r" in text:
        values = [v if v is None else v.translate(_COPY_ESCAPES) for v in values]
    return _copy_nulls(values) if nulls else cast(Sequence[str], values)


def _copy_nulls(values: Sequence[str | None]) -> Sequence[str]:
    """A column without characters to escape: only None becomes ``\\N``."""
    if None in values:
        return [_NULL if v is None else v for v in values]
    return cast(Sequence[str], values)


def _copy_text(value: Any) -> str:
    """A constant (already bind-processed) in COPY's text format."""
    if value is None:
        return _NULL
    if isinstance(value, bool):
        return "t" if value else "f"
    if isinstance(value, datetime):
        return value.isoformat(" ")
    if isinstance(value, date):
        return value.isoformat()
    return str(value).translate(_COPY_ESCAPES)
