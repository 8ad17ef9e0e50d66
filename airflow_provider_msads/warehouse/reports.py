"""Report rows into a typed SQL table: each load replaces its (accounts x date window) in ONE transaction.

The table is built from the report's columns (:class:`ReportColumn`, kinds from
:func:`airflow_provider_msads.client.reporting.column_kind`), primary key = the report's natural key
(:func:`~airflow_provider_msads.client.reporting.key_columns`), plus bookkeeping columns whose
``msads_`` prefix cannot clash with Microsoft's PascalCase column names:

- ``msads_loaded_at``: when this row was loaded (UTC);
- ``msads_is_complete``: Microsoft had completed that day when it was loaded (``TimePeriod`` on or
  before the report's "Last Completed Available Day"); later runs re-pull the incomplete days
  (:meth:`ReportTableWriter.earliest_incomplete_day`);
- ``msads_window_start`` / ``msads_window_end`` (part of the key): only for reports without a
  date ``TimePeriod`` (Summary, DayOfWeek, HourOfDay aggregations), whose rows belong to the requested
  window as a whole.

:meth:`ReportTableWriter.replace_window` creates the table if missing, deletes the rows of these
accounts in the window and streams the new rows in, all in one transaction (PostgreSQL: ``COPY``, fed a
downloaded :class:`~airflow_provider_msads.client.reporting.Report`'s text as it is, without typing each
value in Python; SQLite and MySQL/MariaDB: the driver's ``executemany``; any other database:
SQLAlchemy's executemany). A rerun or an Airflow retry therefore gives an identical table, and a
failure leaves the previous contents.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import date, datetime, time, timedelta
from itertools import islice
from operator import itemgetter
from typing import Any, cast, get_args

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    MetaData,
    Numeric,
    String,
    Table,
    Text,
    and_,
    delete,
    false,
    func,
    select,
)
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.types import TypeEngine

from airflow_provider_msads.client.reporting import ColumnKind, Report
from airflow_provider_msads.client.reporting.columns import ACCOUNT_ID, TIME_PERIOD
from airflow_provider_msads.warehouse.bulk import TextBlock, copy_text_columns, fast_path_name, insert_rows
from airflow_provider_msads.warehouse.dialect import (
    UtcTimestamp,
    column_names,
    create_table,
    engine_for_hook,
    has_table,
    validate_identifier,
    write_transaction,
)

LOADED_AT = "msads_loaded_at"
IS_COMPLETE = "msads_is_complete"
WINDOW_START = "msads_window_start"
WINDOW_END = "msads_window_end"
RESERVED_PREFIX = "msads_"


#: Money, rates and percentages: 38 digits (the widest DuckDB, Snowflake and BigQuery NUMERIC take),
#: 9 after the point (BigQuery NUMERIC's maximum scale; Microsoft sends at most 2-4).
DECIMAL_PRECISION = 38
DECIMAL_SCALE = 9

#: Account ids per DELETE / SELECT (bound parameters stay far below every database's limit).
ID_CHUNK = 500
DEFAULT_REPORT_BATCH_SIZE = 5000

_KINDS: tuple[str, ...] = get_args(ColumnKind)


@dataclass(frozen=True, slots=True)
class ReportColumn:
    """One report column and its kind (``integer``, ``decimal``, ``date``, ``datetime``, ``text``)."""

    name: str
    kind: ColumnKind

    def __post_init__(self) -> None:
        validate_identifier(self.name, "report column name")
        if self.name.lower().startswith(RESERVED_PREFIX):
            raise ValueError(
                f"report column name {self.name!r}: the prefix {RESERVED_PREFIX!r} is reserved for the "
                "provider's bookkeeping columns"
            )
        if self.kind not in _KINDS:
            raise ValueError(f"report column {self.name!r}: kind {self.kind!r} is not one of {_KINDS}")


@dataclass(frozen=True, slots=True)
class ReportWriteStats:
    """What one :meth:`ReportTableWriter.replace_window` did.

    :param deleted: rows of these accounts in the window before the load (replaced).
    :param inserted: rows loaded.
    :param complete: loaded rows Microsoft had completed (``msads_is_complete``).
    """

    deleted: int
    inserted: int
    complete: int

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


class ReportTableMismatchError(ValueError):
    """The existing table's columns are not the ones this report writes."""


def _sql_type(column: ReportColumn, *, in_key: bool, text_key_length: int) -> TypeEngine[Any]:
    if column.kind == "integer":
        return BigInteger()
    if column.kind == "decimal":
        return Numeric(DECIMAL_PRECISION, DECIMAL_SCALE)
    if column.kind == "date":
        return Date()
    if column.kind == "datetime":
        return DateTime()  # naive: the report's own time zone, as Microsoft writes it
    if in_key:  # MySQL/MariaDB cannot index TEXT: VARCHARs sized to fit InnoDB's 3072-byte key there
        return Text().with_variant(String(text_key_length), "mysql", "mariadb")
    return Text()


class ReportTableWriter:
    """Replace windows of report rows in one table of any SQL database SQLAlchemy can reach.

    :param hook: an Airflow SQL hook (common-sql ``DbApiHook``: ``BaseHook.get_hook(conn_id)``), or a
        SQLAlchemy ``Engine``.
    :param table: table name (validated).
    :param schema: optional schema.
    :param columns: the report's columns with their kinds, in table order.
    :param key: the natural key (``key_columns(request)``): the primary key; must include ``AccountId``.
    :param batch_size: rows per ``executemany`` where rows are batched.
    :param create_table: create the table when missing.
    :param fast_path: use the measured dialect fast path where there is one (PostgreSQL ``COPY``).
    """

    def __init__(
        self,
        hook: Any,
        table: str,
        schema: str | None = None,
        columns: Sequence[ReportColumn] = (),
        key: Sequence[str] = (),
        *,
        batch_size: int = DEFAULT_REPORT_BATCH_SIZE,
        create_table: bool = True,
        fast_path: bool = True,
    ) -> None:
        validate_identifier(table, "table name")
        if schema:
            validate_identifier(schema, "schema name")
        columns = tuple(columns)
        names = [c.name for c in columns]
        if not columns:
            raise ValueError("columns: give the report's columns (ReportColumn(name, kind) for each)")
        duplicated = sorted({n for n in names if names.count(n) > 1})
        if duplicated:
            raise ValueError(f"columns: {', '.join(duplicated)} given more than once")
        if ACCOUNT_ID not in names:
            raise ValueError(
                f"columns: {ACCOUNT_ID} is required (each load replaces the rows of its accounts)"
            )
        key = tuple(key)
        unknown = [k for k in key if k not in names]
        if unknown or ACCOUNT_ID not in key:
            raise ValueError(
                f"key {list(key)}: must name report columns and include {ACCOUNT_ID}"
                + (f" (not columns: {', '.join(unknown)})" if unknown else "")
            )
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        self.columns = columns
        self.key = key
        self.batch_size = batch_size
        self.create_table = create_table
        self.fast_path = fast_path
        kinds = {c.name: c.kind for c in columns}
        #: ``date`` / ``datetime``: windows are TimePeriod ranges; None: rows belong to the window as a whole.
        self.period_kind: ColumnKind | None = (
            kinds[TIME_PERIOD] if kinds.get(TIME_PERIOD) in ("date", "datetime") else None
        )
        self.table = self._table(table, schema or None)
        self._names = tuple(c.name for c in columns)
        self._hook = hook
        self._engine: Engine | None = hook if isinstance(hook, Engine) else None

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            self._engine = engine_for_hook(self._hook)
        return self._engine

    @property
    def data_columns(self) -> tuple[str, ...]:
        """Every column the loads write, in table order."""
        return tuple(c.name for c in self.table.columns)

    def _table(self, name: str, schema: str | None) -> Table:
        text_keys = sum(1 for c in self.columns if c.kind == "text" and c.name in self.key)
        # InnoDB: 3072 bytes per key, 4 bytes per utf8mb4 character; leave room for ids and dates.
        text_key_length = max(32, min(255, (3072 - 128) // (4 * max(text_keys, 1))))
        cols = [
            Column(
                c.name,
                _sql_type(c, in_key=c.name in self.key, text_key_length=text_key_length),
                primary_key=c.name in self.key,
                nullable=c.name not in self.key,
                autoincrement=False,
            )
            for c in self.columns
        ]
        if self.period_kind is None:
            cols += [
                Column(WINDOW_START, Date(), primary_key=True, nullable=False),
                Column(WINDOW_END, Date(), primary_key=True, nullable=False),
            ]
        cols += [
            Column(LOADED_AT, UtcTimestamp(), nullable=False),
            Column(IS_COMPLETE, Boolean(), nullable=False),
        ]
        return Table(name, MetaData(schema=schema), *cols)

    # -- writing -----------------------------------------------------------------------------------

    def replace_window(
        self,
        rows: Iterable[Mapping[str, Any]],
        *,
        account_ids: Sequence[int],
        start: date,
        end: date,
        complete_through: date | None,
        loaded_at: datetime,
    ) -> ReportWriteStats:
        """Replace the rows of ``account_ids`` in ``[start, end]`` with ``rows``, in ONE transaction.

        :param rows: typed report rows (dicts keyed by column name), consumed lazily; or a downloaded
            :class:`~airflow_provider_msads.client.reporting.Report`, which PostgreSQL loads from its text.
        :param account_ids: the accounts this load covers (their old rows in the window are deleted,
            also when the report has no row for them any more).
        :param start: first day of the window.
        :param end: last day of the window (inclusive).
        :param complete_through: the report's "Last Completed Available Day" (None: nothing complete).
        :param loaded_at: timezone-aware load time, stored in ``msads_loaded_at``.
        """
        ids = _account_ids(account_ids)
        if not isinstance(start, date) or not isinstance(end, date) or end < start:
            raise ValueError(f"window: end {end} is before start {start}; give start <= end")
        if not isinstance(loaded_at, datetime) or loaded_at.tzinfo is None:
            raise ValueError("loaded_at must be a timezone-aware datetime (UTC is stored)")
        start, end = _day(start), _day(end)
        engine = self.engine
        if self.create_table:
            create_table(engine, self.table)
        with engine.connect() as conn:
            self._check_columns(conn)
            conn.rollback()
            counted = _Counter()
            constants: dict[str, Any] = {LOADED_AT: loaded_at}
            if self.period_kind is None:
                constants.update({WINDOW_START: start, WINDOW_END: end})
            with write_transaction(conn, lock=self.table) as tx:
                deleted = 0
                for chunk in _chunks(ids):
                    result = tx.execute(delete(self.table).where(self._scope(chunk, start, end)))
                    deleted += max(int(result.rowcount), 0)
                if isinstance(rows, Report) and self._copies_text(tx, rows):
                    inserted = copy_text_columns(
                        tx,
                        self.table,
                        (*self._names, IS_COMPLETE),
                        self._text_blocks(rows, start, end, complete_through, counted),
                        constants=constants,
                        plain=self._plain_columns(),
                    )
                else:
                    inserted = insert_rows(
                        tx,
                        self.table,
                        (*self._names, IS_COMPLETE),
                        self._tuples(rows, start, end, complete_through, counted),
                        batch_size=self.batch_size,
                        fast=self.fast_path,
                        constants=constants,
                    )
                complete = counted.complete
        return ReportWriteStats(deleted=deleted, inserted=inserted, complete=complete)

    def check_table(self) -> None:
        """Raise :class:`ReportTableMismatchError` now if the table exists with other columns.

        For callers that want to fail before pulling a report (the report operators do); the write checks
        again inside its transaction.
        """
        with self.engine.connect() as conn:
            self._check_columns(conn)

    def earliest_incomplete_day(self, account_ids: Sequence[int], since: date) -> date | None:
        """The first day on or after ``since`` that a previous load stored as not complete for these
        accounts (restatement: re-pull from there), or None (nothing incomplete, or no table yet)."""
        ids = _account_ids(account_ids)
        since = _day(since)
        engine = self.engine
        if not has_table(engine, self.table):
            return None
        t = self.table
        if self.period_kind is None:
            column, bound = t.c[WINDOW_START], t.c[WINDOW_END] >= since
        else:
            column = t.c[TIME_PERIOD]
            bound = column >= (since if self.period_kind == "date" else datetime.combine(since, time()))
        found: list[date] = []
        with engine.connect() as conn:
            for chunk in _chunks(ids):
                value = conn.execute(
                    select(func.min(column)).where(
                        t.c[ACCOUNT_ID].in_(chunk), bound, t.c[IS_COMPLETE] == false()
                    )
                ).scalar()
                if value is not None:
                    found.append(max(_day(value), since))
        return min(found) if found else None

    # -- helpers -----------------------------------------------------------------------------------

    def _scope(self, ids: Sequence[int], start: date, end: date) -> Any:
        t = self.table
        accounts = t.c[ACCOUNT_ID].in_(ids)
        if self.period_kind == "date":
            return and_(accounts, t.c[TIME_PERIOD] >= start, t.c[TIME_PERIOD] <= end)
        if self.period_kind == "datetime":
            first, after = datetime.combine(start, time()), datetime.combine(end + timedelta(days=1), time())
            return and_(accounts, t.c[TIME_PERIOD] >= first, t.c[TIME_PERIOD] < after)
        return and_(accounts, t.c[WINDOW_START] == start, t.c[WINDOW_END] == end)

    def _tuples(
        self,
        rows: Iterable[Mapping[str, Any]],
        start: date,
        end: date,
        complete_through: date | None,
        counted: _Counter,
    ) -> Iterator[tuple[Any, ...]]:
        """Each row as a tuple of the report columns plus ``msads_is_complete``, checked on the way.

        Rows are picked with one ``itemgetter`` (C, one call per row); a mapping that lacks a column
        (not the parser's rows, which always hold every one) falls back to ``get`` and None.
        """
        names = self._names
        pick = _tuple_getter(names)
        key_index = [i for i, c in enumerate(self.columns) if c.name in self.key]
        pick_keys = _tuple_getter(key_index)
        text_keys = {i for i in key_index if self.columns[i].kind == "text"}
        period = names.index(TIME_PERIOD) if self.period_kind is not None else None
        whole_window = complete_through is not None and end <= complete_through
        for index, row in enumerate(rows):
            try:
                values: tuple[Any, ...] = pick(row)
            except KeyError:
                values = tuple(row.get(n) for n in names)
            if None in pick_keys(values):
                values = _fill_keys(values, key_index, text_keys, names, index)
            if period is None:
                complete = whole_window
            else:
                value = values[period]
                day = value.date() if isinstance(value, datetime) else value
                if not isinstance(day, date) or not start <= day <= end:
                    raise _outside_window(index, value, start, end)
                complete = complete_through is not None and day <= complete_through
            counted.complete += complete
            yield (*values, complete)

    def _copies_text(self, conn: Connection, report: Report) -> bool:
        """PostgreSQL's COPY can take ``report``'s text as it is: it holds every column, of the same kinds."""
        return (
            self.fast_path
            and fast_path_name(conn) == "copy"
            and all(report.kinds.get(c.name) == c.kind for c in self.columns)
        )

    def _plain_columns(self) -> list[int]:
        """Columns whose literals hold nothing COPY must escape: numbers, days and the completeness flag."""
        return [i for i, c in enumerate(self.columns) if c.kind != "text"] + [len(self.columns)]

    def _text_blocks(
        self,
        report: Report,
        start: date,
        end: date,
        complete_through: date | None,
        counted: _Counter,
    ) -> Iterator[TextBlock]:
        """:meth:`_tuples` for a report's text blocks (SQL literals, :meth:`Report.text_blocks`): the same
        checks and ``msads_is_complete``, a column at a time. ISO days compare as text."""
        names = self._names
        order = [report.columns.index(n) for n in names]
        keys = [i for i, c in enumerate(self.columns) if c.name in self.key]
        period = names.index(TIME_PERIOD) if self.period_kind is not None else None
        first, last = start.isoformat(), end.isoformat()
        through = complete_through.isoformat() if complete_through is not None else None
        whole_window = complete_through is not None and end <= complete_through
        done = 0
        for block in report.text_blocks():
            columns = [block[i] for i in order]
            size = len(columns[0])
            for i in keys:
                if None in columns[i]:
                    if self.columns[i].kind != "text":
                        row = done + list(columns[i]).index(None)
                        raise _empty_key(row, names[i])
                    columns[i] = ["" if v is None else v for v in columns[i]]
            if period is None:
                flags: Sequence[str] = ("t" if whole_window else "f",) * size
                counted.complete += size if whole_window else 0
            else:
                values = columns[period]
                if None in values:
                    days: Sequence[str] = ()
                elif self.period_kind == "datetime":
                    days = [v[:10] for v in values if v is not None]
                else:
                    days = cast(Sequence[str], values)
                if not days or min(days) < first or max(days) > last:
                    row = next(i for i, v in enumerate(values) if v is None or not first <= v[:10] <= last)
                    raise _outside_window(done + row, values[row], start, end)
                if through is not None and max(days) <= through:
                    flags = ("t",) * size
                    counted.complete += size
                elif through is None or min(days) > through:
                    flags = ("f",) * size
                else:
                    complete = list(map(through.__ge__, days))
                    counted.complete += sum(complete)
                    flags = list(map(_FLAG.__getitem__, complete))
            done += size
            yield [*columns, flags]

    def _check_columns(self, conn: Connection) -> None:
        existing = column_names(conn, self.table)
        if existing is None:
            return
        expected = list(self.data_columns)
        lowered = {n.lower(): n for n in existing}  # some databases fold unquoted case
        missing = [c for c in expected if c not in existing and c.lower() not in lowered]
        extra = [c for c in existing if c not in expected and c.lower() not in {e.lower() for e in expected}]
        if missing or extra:
            name = self.engine.dialect.identifier_preparer.format_table(self.table)
            raise ReportTableMismatchError(
                f"table {name} has other columns than this report writes: "
                + "; ".join(
                    part
                    for part in (
                        f"missing {', '.join(missing)}" if missing else "",
                        f"not in the request {', '.join(extra)}" if extra else "",
                    )
                    if part
                )
                + ". Write this column set to a new table (table=...), or rename/drop the old table; "
                "columns of one table must not change between runs"
            )


_FLAG = {True: "t", False: "f"}


class _Counter:
    """Rows counted while they stream past (``msads_is_complete`` true)."""

    complete = 0


def _account_ids(account_ids: Sequence[int]) -> list[int]:
    if isinstance(account_ids, (str, bytes)) or not account_ids:
        raise ValueError("account_ids: give a non-empty list of account ids")
    ids: list[int] = []
    for value in account_ids:
        if isinstance(value, bool) or not isinstance(value, (int, str)) or not str(value).isdigit():
            raise ValueError(f"account_ids: {str(value)[:20]!r} is not an account id (digits only)")
        ids.append(int(value))
    return sorted(set(ids))


def _chunks(ids: Sequence[int]) -> Iterator[list[int]]:
    iterator = iter(ids)
    while chunk := list(islice(iterator, ID_CHUNK)):
        yield chunk


def _day(value: date | datetime) -> date:
    return value.date() if isinstance(value, datetime) else value


def _tuple_getter(keys: Sequence[Any]) -> Callable[[Any], tuple[Any, ...]]:
    """``itemgetter`` that always returns a tuple (itemgetter itself returns a bare value for one key)."""
    if len(keys) > 1:
        return itemgetter(*keys)
    if keys:
        one = itemgetter(keys[0])
        return lambda obj: (one(obj),)
    return lambda obj: ()


def _fill_keys(
    values: tuple[Any, ...], key_index: list[int], text_keys: set[int], names: Sequence[str], index: int
) -> tuple[Any, ...]:
    """A row with an empty key column: Microsoft's "--" in a text key is stored as '' (a key cannot be
    NULL); an empty id or date key is refused."""
    filled = list(values)
    for i in key_index:
        if filled[i] is None:
            if i not in text_keys:
                raise _empty_key(index, names[i])
            filled[i] = ""
    return tuple(filled)


def _empty_key(row: int, column: str) -> ValueError:
    return ValueError(f"row {row}: key column {column} is empty")


def _outside_window(row: int, value: Any, start: date, end: date) -> ValueError:
    return ValueError(
        f"row {row}: {TIME_PERIOD} {value!r} is outside the window {start}..{end} (nothing was written)"
    )
