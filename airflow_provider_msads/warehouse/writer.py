"""Write discovered accounts to a SQL table: idempotent upsert, vanished-account marking, one transaction.

The table is a SQLAlchemy Core :class:`~sqlalchemy.Table`; SQLAlchemy compiles every statement for the
connection's database, so any database with a SQLAlchemy dialect works the same way. One
:meth:`AccountTableWriter.write`:

1. creates the target table if it is missing, in its own short transaction (MySQL/MariaDB commit DDL
   implicitly; concurrent first writers all succeed, see :func:`~.dialect.create_table`);
2. then, in ONE transaction: streams the rows into a session-private temporary staging table
   (``batch_size`` rows per ``executemany``, or one ``COPY`` on PostgreSQL), counts what will change,
   marks accounts that are in the table but no longer discovered (``is_active_in_last_run`` = false),
   updates changed accounts, moves ``last_seen_at``, inserts new accounts, and commits.

Any exception (from the database *or* from the row iterator, e.g. the API failing on page 7) rolls
everything back, so the previous table contents stay exactly as they were. A rerun of the same DAG run
changes nothing; a rerun of an OLDER run never moves ``last_seen_at`` backwards nor overwrites newer data.
"""

from __future__ import annotations

import contextlib
import logging
import secrets
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass, fields
from datetime import datetime
from operator import attrgetter
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    and_,
    case,
    exists,
    false,
    func,
    insert,
    literal,
    or_,
    select,
    true,
    update,
)
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.schema import DropTable
from sqlalchemy.types import TypeEngine

from airflow_provider_msads.client.ids import wire_int
from airflow_provider_msads.client.models import ACCOUNT_ROW_FIELDS, Account
from airflow_provider_msads.warehouse.bulk import DEFAULT_BATCH_SIZE as DEFAULT_BATCH_SIZE
from airflow_provider_msads.warehouse.bulk import fast_path_name, insert_rows
from airflow_provider_msads.warehouse.dialect import (
    ServiceTimestamp,
    UtcTimestamp,
    create_table,
    differs,
    legacy_text_columns,
    validate_identifier,
    write_transaction,
)

log = logging.getLogger(__name__)

DEFAULT_TABLE = "msads_accounts"

FIRST_SEEN_AT = "first_seen_at"
LAST_SEEN_AT = "last_seen_at"
IS_ACTIVE = "is_active_in_last_run"


def _code() -> TypeEngine[Any]:
    return Text().with_variant(String(64), "mysql", "mariadb")


def _text() -> TypeEngine[Any]:
    return Text().with_variant(String(255), "mysql", "mariadb")


# The SQL type of each account column. SQLite keeps its INTEGER PRIMARY KEY (the rowid alias), MySQL its
# VARCHARs (TEXT cannot carry the unique indexes users add): the tables created before stay valid.
_TYPES: dict[str, Callable[[], TypeEngine[Any]]] = {
    "account_id": lambda: BigInteger().with_variant(Integer(), "sqlite"),
    "account_number": _code,
    "account_name": _text,
    "customer_id": BigInteger,
    "customer_name": _text,
    "status": _code,
    "currency": _code,
    "time_zone": _code,
    "language": _code,
    "financial_status": _code,
    "pause_reason": Integer,
    "bill_to_customer_id": BigInteger,
    "primary_user_id": BigInteger,
    "payment_method_type": _code,
    "account_mode": _code,
    "last_modified_time": ServiceTimestamp,  # timestamp (UTC); SQLite: the ISO 8601 text as sent
}

#: Data columns of the accounts table: exactly :data:`ACCOUNT_ROW_FIELDS`, in order (KeyError here if a
#: new field is added to the model without a column type).
ACCOUNT_COLUMNS: tuple[str, ...] = tuple(f for f in ACCOUNT_ROW_FIELDS if _TYPES[f] is not None)

#: Every column of the accounts table, in order.
TABLE_COLUMNS: tuple[str, ...] = (*ACCOUNT_ROW_FIELDS, FIRST_SEEN_AT, LAST_SEEN_AT, IS_ACTIVE)


def accounts_table(
    name: str = DEFAULT_TABLE, schema: str | None = None, *, legacy_text: frozenset[str] = frozenset()
) -> Table:
    """The accounts table as a SQLAlchemy ``Table`` (primary key ``account_id``).

    :param legacy_text: columns an existing table stores as text although today's definition is typed
        (``last_modified_time`` in tables created before 0.3): written as text so old tables keep working.
    """
    validate_identifier(name, "table name")
    if schema:
        validate_identifier(schema, "schema name")
    columns = [
        Column(
            "account_id",
            _TYPES["account_id"](),
            primary_key=True,
            autoincrement=False,
            nullable=False,
        )
    ]
    columns += [Column(f, Text() if f in legacy_text else _TYPES[f]()) for f in ACCOUNT_ROW_FIELDS[1:]]
    columns += [
        Column(FIRST_SEEN_AT, UtcTimestamp(), nullable=False),
        Column(LAST_SEEN_AT, UtcTimestamp(), nullable=False),
        Column(IS_ACTIVE, Boolean(create_constraint=False), nullable=False),
    ]
    return Table(name, MetaData(schema=schema or None), *columns)


def _staging_table(name: str, target: Table, *, keyed: bool = True) -> Table:
    """A session-private temporary table with the data columns of ``target`` (no schema).

    Keyed by ``account_id`` like the target (the writer drops duplicates before staging): every join and
    ``NOT EXISTS`` between the two is an index lookup, not a scan (SQLite and MariaDB would go
    quadratic). PostgreSQL hash-joins instead, and skipping the index makes its COPY ~25 % faster.
    """
    return Table(
        name,
        MetaData(),
        *(
            Column(c, target.c[c].type, primary_key=keyed and c == "account_id", autoincrement=False)
            for c in ACCOUNT_ROW_FIELDS
        ),
        prefixes=["TEMPORARY"],
    )


@dataclass(frozen=True, slots=True)
class WriteStats:
    """What one write changed.

    :param seen: distinct accounts in this discovery (all of them end with ``is_active_in_last_run`` true,
        unless a newer run already wrote them: then the newer data stays).
    :param inserted: accounts new to the table.
    :param updated: known accounts whose data changed, or that came back after having vanished.
    :param unchanged: known accounts with identical data (only ``last_seen_at`` moves), or already
        written by a newer run.
    :param vanished: accounts active after the previous write and missing from this one.
    :param duplicates: repeated account ids in the input (the first occurrence was kept).
    """

    seen: int
    inserted: int
    updated: int
    unchanged: int
    vanished: int
    duplicates: int = 0

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


class AccountTableWriter:
    """Upsert accounts into one table of any SQL database SQLAlchemy can reach.

    Each :meth:`write` opens its own connection from ``engine``, owns its transaction (commit, or
    rollback on any error) and returns the connection to the pool.

    :param engine: a SQLAlchemy engine, e.g. ``engine_for_hook(BaseHook.get_hook(conn_id))``.
    :param table: target table name (validated; default ``msads_accounts``).
    :param schema: optional schema (PostgreSQL schema, MySQL database, DuckDB schema, ...).
    :param batch_size: rows per ``executemany`` into the staging table.
    :param create_table: create the table when missing; turn off when the database user may write
        the table but not create tables in its schema.
    :param fast_path: use the measured dialect fast path where there is one (PostgreSQL ``COPY``).
    """

    def __init__(
        self,
        engine: Engine,
        table: str = DEFAULT_TABLE,
        schema: str | None = None,
        *,
        batch_size: int = DEFAULT_BATCH_SIZE,
        create_table: bool = True,
        fast_path: bool = True,
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        self.table = accounts_table(table, schema)
        self.engine = engine
        self.batch_size = batch_size
        self.create_table = create_table
        self.fast_path = fast_path

    @property
    def target(self) -> str:
        """The table as the database spells it (``"schema"."table"``), for logs."""
        return self.engine.dialect.identifier_preparer.format_table(self.table)

    def write(self, rows: Iterable[Account | Mapping[str, Any]], seen_at: datetime) -> WriteStats:
        """Make the table reflect ``rows`` as discovered at ``seen_at``, atomically.

        :param rows: :class:`Account` objects or mappings with the keys of ``ACCOUNT_ROW_FIELDS``
            (missing keys are NULL); consumed lazily, in batches.
        :param seen_at: timezone-aware time of the discovery: ``first_seen_at`` of new accounts and
            ``last_seen_at`` of every seen one. Reusing the same value makes a rerun change nothing; an
            older value (a rerun of an older DAG run) never makes the table older than it is.
        :return: counts of what changed.
        """
        if not isinstance(seen_at, datetime) or seen_at.tzinfo is None:
            raise ValueError("seen_at must be a timezone-aware datetime (UTC is stored)")
        if self.create_table:
            create_table(self.engine, self.table)
        with self.engine.connect() as conn:
            target = self._target_as_stored(conn)
            conn.rollback()  # end the reflection's read transaction: the write opens its own
            keyed = conn.dialect.name != "postgresql"  # measured: bench/README.md
            stage = _staging_table(f"msads_stage_{secrets.token_hex(6)}", target, keyed=keyed)
            try:
                with write_transaction(conn, lock=self.table) as tx:
                    stage.create(tx)
                    seen, duplicates = self._stage(tx, stage, rows)
                    stats = _merge(tx, target, stage, seen_at)
            finally:
                self._drop_stage(conn, stage)
        unchanged = seen - stats["inserted"] - stats["updated"]
        return WriteStats(seen=seen, unchanged=unchanged, duplicates=duplicates, **stats)

    # -- steps -------------------------------------------------------------------------------------

    def _target_as_stored(self, conn: Connection) -> Table:
        """Today's table definition, with text kept where an existing table still stores text."""
        legacy = legacy_text_columns(conn, self.table, ("last_modified_time",))
        if legacy:
            log.warning(
                "%s stores %s as text (created by an older version): writing text. To get a timestamp "
                "column, migrate once as docs/warehouse.md shows.",
                self.target,
                ", ".join(sorted(legacy)),
            )
            return accounts_table(self.table.name, self.table.schema, legacy_text=legacy)
        return self.table

    def _stage(
        self, conn: Connection, stage: Table, rows: Iterable[Account | Mapping[str, Any]]
    ) -> tuple[int, int]:
        seen_ids: set[int] = set()
        duplicates = 0

        def unique() -> Iterator[tuple[Any, ...]]:
            nonlocal duplicates
            for values in _row_tuples(rows):
                if values[0] in seen_ids:
                    duplicates += 1
                    continue
                seen_ids.add(values[0])
                yield values

        insert_rows(
            conn, stage, ACCOUNT_ROW_FIELDS, unique(), batch_size=self.batch_size, fast=self.fast_path
        )
        return len(seen_ids), duplicates

    def _drop_stage(self, conn: Connection, stage: Table) -> None:
        # After the transaction: a plain DROP TABLE would commit implicitly on MySQL/MariaDB, whose
        # temporary tables also survive ROLLBACK. Elsewhere the table is usually gone already.
        with contextlib.suppress(Exception):
            if conn.in_transaction():
                conn.rollback()
            conn.execute(DropTable(stage, if_exists=True))
            conn.commit()

    def describe_path(self) -> str:
        """``generic`` or the fast path name, for logs and bench."""
        with self.engine.connect() as conn:
            name = fast_path_name(conn) if self.fast_path else None
        return name or "generic"


def _merge(conn: Connection, t: Table, s: Table, seen_at: datetime) -> dict[str, int]:
    """Count, then apply, the changes from staging ``s`` to target ``t`` (inside the caller's transaction).

    Rows a newer run already wrote (``t.last_seen_at > seen_at``) keep their data and ``last_seen_at``;
    only their ``first_seen_at`` may move earlier (this older run saw them first).
    """
    key = t.c.account_id
    same = key == s.c.account_id
    ts = literal(seen_at, UtcTimestamp())
    data = [c for c in ACCOUNT_ROW_FIELDS if c != "account_id"]
    not_newer = t.c[LAST_SEEN_AT] <= ts
    changed = or_(t.c[IS_ACTIVE] == false(), *(differs(t.c[c], s.c[c], conn.dialect) for c in data))

    def count(stmt: Any) -> int:
        return int(conn.execute(stmt).scalar_one())

    inserted = count(select(func.count()).select_from(s).where(~exists().where(same)))
    updated = count(select(func.count()).select_from(s.join(t, same)).where(not_newer, changed))
    vanished_where = and_(t.c[IS_ACTIVE] == true(), not_newer, ~exists().where(s.c.account_id == key))
    vanished = count(select(func.count()).select_from(t).where(vanished_where))

    if vanished:
        conn.execute(update(t).where(vanished_where).values({IS_ACTIVE: False}))
    if updated:
        values: dict[str, Any] = {c: s.c[c] for c in data}
        values.update({LAST_SEEN_AT: ts, IS_ACTIVE: True})
        conn.execute(update(t).where(same, not_newer, changed).values(values))
    # Timestamps only: unchanged accounts seen again (last_seen_at forward), and accounts an older run
    # saw before the run that inserted them (first_seen_at back).
    # (SQLAlchemy renders UPDATE ... FROM in each database's spelling: UPDATE t, s on MySQL.)
    conn.execute(
        update(t)
        .where(same, or_(t.c[LAST_SEEN_AT] < ts, t.c[FIRST_SEEN_AT] > ts))
        .values(
            {
                LAST_SEEN_AT: case((t.c[LAST_SEEN_AT] < ts, ts), else_=t.c[LAST_SEEN_AT]),
                FIRST_SEEN_AT: case((t.c[FIRST_SEEN_AT] > ts, ts), else_=t.c[FIRST_SEEN_AT]),
            }
        )
    )
    if inserted:
        columns = [*ACCOUNT_ROW_FIELDS, FIRST_SEEN_AT, LAST_SEEN_AT, IS_ACTIVE]
        new = select(*(s.c[c] for c in ACCOUNT_ROW_FIELDS), ts, ts, true()).where(~exists().where(same))
        conn.execute(insert(t).from_select(columns, new))
    return {"inserted": inserted, "updated": updated, "vanished": vanished}


def _account_values_getter() -> Callable[[Account], tuple[Any, ...]] | None:
    """``Account -> tuple`` in ``ACCOUNT_ROW_FIELDS`` order, read off :meth:`Account.to_row` itself.

    One C-level ``attrgetter`` call instead of building the ``to_row()`` dict and reading it back:
    100,000 accounts go to tuples in ~0.1 s instead of ~0.25 s. The attribute behind each column is
    found by probing ``to_row()`` with a unique value per field, so the two can never disagree; if
    ``to_row()`` ever transforms a value, there is no getter and rows go through ``to_row()`` again.
    """
    try:
        # a msgspec Struct lists its fields in __struct_fields__ (a dataclass in dataclasses.fields)
        names = list(getattr(Account, "__struct_fields__", ())) or [f.name for f in fields(Account)]
        # distinct valid ids as probes (the model validates ids when built); matched by value
        markers: dict[str, Any] = {name: 1_000_001 + i for i, name in enumerate(names)}
        probe = Account(**markers)
        attribute_of = {getattr(probe, name): name for name in names}
        row = probe.to_row()
        return attrgetter(*(attribute_of[row[column]] for column in ACCOUNT_ROW_FIELDS))
    except Exception:
        return None


_ACCOUNT_VALUES = _account_values_getter()


def _row_tuples(rows: Iterable[Account | Mapping[str, Any]]) -> Iterator[tuple[Any, ...]]:
    """Each row as a tuple in ``ACCOUNT_ROW_FIELDS`` order, with a validated integer account id."""
    account_values = _ACCOUNT_VALUES
    for index, row in enumerate(rows):
        if account_values is not None and type(row) is Account:  # subclasses may override to_row()
            values = account_values(row)
        else:
            mapping = row.to_row() if isinstance(row, Account) else row
            values = tuple(mapping.get(f) for f in ACCOUNT_ROW_FIELDS)
        yield (_account_id(values[0], index), *values[1:])


def _account_id(value: Any, index: int) -> int:
    try:
        return wire_int(value)  # the one id parser (client/ids.py)
    except ValueError as exc:
        raise ValueError(f"row {index}: account_id must be a 64-bit integer: {exc}") from None
