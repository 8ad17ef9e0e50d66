"""Account discovery operators: every account the signed-in user can reach, to XCom or to a SQL table.

Both operators only turn parameters into a ``MicrosoftAdsClient.discover_accounts`` call: the protocol
work is in :mod:`airflow_provider_msads.client`, the SQL in :mod:`airflow_provider_msads.warehouse`.

**Which output for how many accounts.** Airflow maps at most ``[core] max_map_length`` (1024) task
instances over one XCom list, and every mapped instance pulls the *whole* list:

* ``output_format="rows"`` (default): one small dict per account. Right for up to a few hundred accounts,
  mapped with ``SomeOperator.partial(...).expand_kwargs(list_task.output)`` (pick ``fields`` that match
  the downstream parameter names) or ``@task`` ``.expand(account=list_task.output)``.
* ``output_format="ids"``: just the account ids (ints). Smaller XCom for up to ~1024 accounts when the
  downstream task looks details up itself.
* ``output_format="batches"``: lists of ``batch_size`` rows. Thousands of accounts: one mapped task per batch
  keeps the mapped count under the limit and the XCom pulled per task small.
* :class:`MicrosoftAdsAccountsToSqlOperator`: any size (100,000 accounts stream into the table); the
  downstream tasks query the table instead of pulling XCom.

When a task is mapped over the output and it has more items than ``[core] max_map_length`` (read from
Airflow's configuration), the list task itself fails, naming both fixes (bigger batches, or a higher
limit), instead of Airflow failing the mapped task one step later with ``unmappable_return_value_length``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from airflow.sdk import Asset, BaseOperator, BaseOperatorLink

from airflow_provider_msads.client.errors import ConfigurationError
from airflow_provider_msads.client.ids import parse_ids
from airflow_provider_msads.client.models import ACCOUNT_ROW_FIELDS, Account
from airflow_provider_msads.hooks.msads import MicrosoftAdsHook, fail_without_retries
from airflow_provider_msads.warehouse.dialect import engine_for_hook, validate_identifier
from airflow_provider_msads.warehouse.writer import DEFAULT_BATCH_SIZE, DEFAULT_TABLE, AccountTableWriter

if TYPE_CHECKING:
    from airflow.sdk import Context
    from airflow.sdk.types import TaskInstanceKey

OutputMode = Literal["rows", "ids", "batches"]
OUTPUT_MODES: tuple[OutputMode, ...] = ("rows", "ids", "batches")

#: Fields of each XCom row unless ``fields`` says otherwise (all are in ``ACCOUNT_ROW_FIELDS``).
DEFAULT_FIELDS: tuple[str, ...] = (
    "account_id",
    "account_number",
    "account_name",
    "customer_id",
    "customer_name",
    "status",
    "currency",
    "time_zone",
)

_ID_SEPARATORS = re.compile(r"[\s,;]+")


class MicrosoftAdsAccountsLink(BaseOperatorLink):
    """Opens the discovered account in the Microsoft Advertising web UI.

    One account found: its overview page (``/campaign/vnext/overview?aid=...&cid=...``). Several accounts
    of one customer: the customer (``?cid=...``). Otherwise the UI's start page.

    Airflow 3 calls ``get_link`` once, on the worker when the task ends (success or failure), and stores
    the result in XCom, from where the UI serves it. The task keeps the URL on the operator, so nothing
    is read back: a task that failed before finding accounts has no URL and ends without the red
    "XCom not found" line a read of the absent XCom would log.
    """

    name = "Microsoft Advertising"

    def get_link(self, operator: BaseOperator, *, ti_key: TaskInstanceKey) -> str:
        url = getattr(operator, "accounts_ui_url", None)
        return url if isinstance(url, str) else ""


def accounts_ui_url(web_ui_host: str, account_ids: Sequence[int], customer_ids: Iterable[int]) -> str:
    """The web UI address for what a discovery found (see :class:`MicrosoftAdsAccountsLink`)."""
    customers = sorted(set(customer_ids))
    base = web_ui_host.rstrip("/")
    if len(account_ids) == 1 and len(customers) == 1:
        return f"{base}/campaign/vnext/overview?aid={account_ids[0]}&cid={customers[0]}"
    if len(customers) == 1:
        return f"{base}/campaign/vnext/overview?cid={customers[0]}"
    return f"{base}/"


def accounts_table_asset(
    table: str = DEFAULT_TABLE, *, sql_conn_id: str = "msads_warehouse", schema: str | None = None
) -> Asset:
    """An Asset naming the accounts table, for ``outlets=[...]`` here and ``schedule=[...]`` downstream.

    The URI (``x-msads-sql://<conn id>/<schema or _>/<table>``) is built from names only, so defining
    it costs no connection lookup at DAG parse time.

    :param table: table name, as given to :class:`MicrosoftAdsAccountsToSqlOperator`.
    :param sql_conn_id: the SQL connection id.
    :param schema: the schema, if any.
    """
    return sql_table_asset("msads_accounts", table, sql_conn_id=sql_conn_id, schema=schema)


def sql_table_asset(kind: str, table: str, *, sql_conn_id: str, schema: str | None) -> Asset:
    """The one Asset scheme of every table this provider writes: ``x-msads-sql://<conn>/<schema or _>/<table>``.

    :param kind: the Asset name's prefix (``msads_accounts``, ``msads_report``).
    """
    validate_identifier(table, "table name")
    if schema:
        validate_identifier(schema, "schema name")
    qualified = f"{schema}.{table}" if schema else table
    return Asset(
        name=f"{kind}:{sql_conn_id}:{qualified}",
        uri=f"x-msads-sql://{sql_conn_id}/{schema or '_'}/{table}",
        group="msads",
    )


class _AccountDiscoveryOperator(BaseOperator):
    """Shared filters and the discovery call of both operators."""

    template_fields: Sequence[str] = (
        "msads_conn_id",
        "customer_ids",
        "account_ids",
        "statuses",
        "name_contains",
    )
    operator_extra_links = (MicrosoftAdsAccountsLink(),)

    def __init__(
        self,
        *,
        msads_conn_id: str = MicrosoftAdsHook.default_conn_name,
        customer_ids: Iterable[int | str] | int | str | None = None,
        account_ids: Iterable[int | str] | int | str | None = None,
        statuses: Iterable[str] | str | None = None,
        name_contains: str | None = None,
        page_size: int = 1000,
        hook_params: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if isinstance(page_size, bool) or not isinstance(page_size, int) or not 1 <= page_size <= 1000:
            raise ValueError(f"page_size must be between 1 and 1000 (the API maximum), got {page_size!r}")
        self.msads_conn_id = msads_conn_id
        self.customer_ids = customer_ids
        self.account_ids = account_ids
        self.statuses = statuses
        self.name_contains = name_contains
        self.page_size = page_size
        self.hook_params = dict(hook_params or {})
        self.accounts_ui_url: str | None = None

    def discover(self, context: Context, *, with_customer_names: bool) -> Iterator[Account]:
        """Stream the accounts matching the filters; afterwards keep the UI link for this task.

        The filters are checked here, before anything is written; the API is called lazily.
        """
        customer_ids = _ids(self.customer_ids, "customer_ids")
        account_ids = _ids(self.account_ids, "account_ids")
        statuses = _names(self.statuses)
        return self._stream(context, customer_ids, account_ids, statuses, with_customer_names)

    def _stream(
        self,
        context: Context,
        customer_ids: tuple[int, ...] | None,
        account_ids: tuple[int, ...] | None,
        statuses: tuple[str, ...] | None,
        with_customer_names: bool,
    ) -> Iterator[Account]:
        hook = MicrosoftAdsHook(self.msads_conn_id, **self.hook_params)
        self.log.info(
            "Discovering Microsoft Advertising accounts via %r (customers: %s, accounts: %s, statuses: %s, "
            "name contains: %r)",
            self.msads_conn_id,
            list(customer_ids) if customer_ids else "all",
            list(account_ids) if account_ids else "all",
            list(statuses) if statuses else "all",
            self.name_contains,
        )
        first_ids: list[int] = []
        customers: set[int] = set()
        with hook.get_client() as client:
            for account in client.discover_accounts(
                customer_ids=customer_ids,
                account_ids=account_ids,
                statuses=statuses,
                name_contains=self.name_contains or None,
                page_size=self.page_size,
                with_customer_names=with_customer_names,
            ):
                if len(first_ids) < 2:
                    first_ids.append(account.id)
                if account.parent_customer_id is not None:
                    customers.add(account.parent_customer_id)
                yield account
        from airflow_provider_msads.client.environments import get_environment

        web_ui_host = get_environment(hook.settings.environment).web_ui_host
        # Read by MicrosoftAdsAccountsLink.get_link when the task ends (Airflow stores it in XCom then).
        self.accounts_ui_url = accounts_ui_url(web_ui_host, first_ids, customers)


class MicrosoftAdsListAccountsOperator(_AccountDiscoveryOperator):
    """Discover accounts and return them as XCom, sorted by ``account_id``, ready for dynamic mapping.

    Each row is a small JSON dict with the chosen ``fields`` (default :data:`DEFAULT_FIELDS`: account_id,
    account_number, account_name, customer_id, customer_name, status, currency, time_zone; any of
    ``ACCOUNT_ROW_FIELDS`` may be picked). Ids are ints. Rows never contain credentials or tokens.
    See the module documentation for choosing ``output_format`` (named so because ``output`` is
    every operator's XComArg).

    :param msads_conn_id: the ``msads`` connection. (templated)
    :param customer_ids: only accounts of these customers: ids as ints, digit strings, or one string
        separated by commas/spaces. Empty means no filter. (templated)
    :param account_ids: only these accounts (same forms as ``customer_ids``). (templated)
    :param statuses: only these lifecycle statuses, e.g. ``["Active"]`` or ``"Active,Pending"``. (templated)
    :param name_contains: only accounts whose name contains this text (server-side filter). (templated)
    :param fields: the keys of each row, in order; a subset of ``ACCOUNT_ROW_FIELDS``. (templated)
    :param output_format: ``"rows"`` (list of dicts), ``"ids"`` (list of account ids) or ``"batches"``
        (list of lists of at most ``batch_size`` rows). (templated)
    :param batch_size: rows per batch for ``output_format="batches"``. (templated)
    :param with_customer_names: look customer names up (extra API calls per customer); default: only
        when ``customer_name`` is among ``fields``.
    :param page_size: accounts per SearchAccounts page (1-1000).
    :param hook_params: keyword arguments for :class:`MicrosoftAdsHook`, e.g.
        ``{"retry": RetryPolicy(max_attempts=3), "timeout": 30}``.
    """

    template_fields: Sequence[str] = (
        *_AccountDiscoveryOperator.template_fields,
        "fields",
        "output_format",
        "batch_size",
    )
    ui_color = "#cde8fb"

    def __init__(
        self,
        *,
        fields: Sequence[str] | None = None,
        output_format: OutputMode | str = "rows",
        batch_size: int | str = 100,
        with_customer_names: bool | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.fields = fields
        self.output_format = output_format
        self.batch_size = batch_size
        self.with_customer_names = with_customer_names
        if _literal(fields):
            _fields(fields)  # fail at parse time when the value is literal; templates/XComArgs: at run time
        if _literal(output_format):
            _output_format(output_format)

    def execute(self, context: Context) -> list[Any]:
        with fail_without_retries():
            return self._execute(context)

    def _execute(self, context: Context) -> list[Any]:
        fields = _fields(self.fields)
        output = _output_format(self.output_format)
        batch_size = _positive_int(self.batch_size, "batch_size")
        with_names = self.with_customer_names
        if with_names is None:
            with_names = "customer_name" in fields
        accounts = sorted(self.discover(context, with_customer_names=with_names), key=lambda a: a.id)
        self.log.info("Discovered %d account(s)", len(accounts))
        if output == "ids":
            result: list[Any] = [a.id for a in accounts]
        else:
            rows = [_select(a.to_row(), fields) for a in accounts]
            if output == "rows":
                result = rows
            else:
                result = [rows[i : i + batch_size] for i in range(0, len(rows), batch_size)]
        self._check_mapping(len(accounts), len(result), output, batch_size)
        return result

    def _check_mapping(self, accounts: int, items: int, output: str, batch_size: int) -> None:
        """More XCom items than Airflow can map: fail HERE, with both fixes, if a task maps over them.

        Otherwise Airflow fails the mapped task one step later with an opaque
        ``unmappable_return_value_length``. Unmapped consumers may take any length: then only a warning.
        """
        limit = _max_map_length()
        if items <= limit:
            return
        bigger = math.ceil(accounts / limit)
        first_fix = (
            f"raise batch_size to at least {bigger}"
            if output == "batches"
            else f'use output_format="batches" with batch_size >= {bigger} and map over the batches'
        )
        problem = (
            f"{accounts} accounts make {items} XCom items, more than Airflow maps "
            f"([core] max_map_length={limit})"
        )
        fix = f"{first_fix}, or raise [core] max_map_length to at least {items}"
        mapped = _mapped_consumers(self)
        if mapped:
            raise ConfigurationError(
                "output_format", f"{problem}, and {', '.join(sorted(mapped))} maps over this output", fix
            )
        self.log.warning("%s: a task mapped over this output would fail; %s", problem, fix)


def _max_map_length() -> int:
    """``[core] max_map_length`` as the running Airflow sees it (default 1024)."""
    try:
        from airflow.sdk import conf
    except ImportError:  # Airflow 3.1: the SDK has no conf yet
        from airflow.configuration import conf  # type: ignore[assignment]
    return conf.getint("core", "max_map_length", fallback=1024)


def _mapped_consumers(operator: BaseOperator) -> list[str]:
    """Ids of the tasks (or task groups) that are expanded over ``operator``'s output."""
    try:
        return [node.node_id for node in operator.iter_mapped_dependants()]
    except (RuntimeError, AttributeError):  # not attached to a DAG (a bare operator in a test or script)
        return []


class MicrosoftAdsAccountsToSqlOperator(_AccountDiscoveryOperator):
    """Discover accounts and upsert them into a SQL table, atomically, through any common-sql connection.

    The table (default ``msads_accounts``) is created when missing, with ``account_id`` as primary key,
    one column per ``ACCOUNT_ROW_FIELDS`` entry, and ``first_seen_at``, ``last_seen_at`` (UTC) and
    ``is_active_in_last_run``. Accounts no longer discovered keep their row with
    ``is_active_in_last_run`` false. The whole write is one transaction: if discovery or the database
    fails half-way, the table keeps its previous contents. ``last_seen_at`` is the DAG run's
    ``run_after``, so re-running the same DAG run changes nothing; a new run moves ``last_seen_at``.
    Any SQL connection whose hook gives a SQLAlchemy engine: tested on SQLite, PostgreSQL, MySQL/MariaDB
    and DuckDB (docs/warehouse.md).

    Returns (as XCom) the counts of the write: ``seen``, ``inserted``, ``updated``, ``unchanged``,
    ``vanished``, ``duplicates``, plus ``table`` and ``schema``.

    For data-aware scheduling pass ``outlets=[accounts_table_asset(table, sql_conn_id=...)]`` and
    schedule downstream DAGs on the same asset.

    :param sql_conn_id: any Airflow SQL connection (SQLite, Postgres, MySQL, DuckDB, ...). (templated)
    :param table: target table; letters, digits and ``_`` only. (templated)
    :param schema: optional schema (PostgreSQL schema, MySQL database, SQLite attached database).
        (templated)
    :param batch_size: rows per ``executemany`` while staging.
    :param create_table: create the table when missing (turn off if the database user may not).
    :param with_customer_names: fill ``customer_name`` (extra API calls per customer).
    :param msads_conn_id: the ``msads`` connection. (templated)
    :param customer_ids: only accounts of these customers (see
        :class:`MicrosoftAdsListAccountsOperator`). (templated)
    :param account_ids: only these accounts. (templated)
    :param statuses: only these lifecycle statuses. (templated)
    :param name_contains: only accounts whose name contains this text. (templated)
    :param page_size: accounts per SearchAccounts page (1-1000).
    :param hook_params: keyword arguments for :class:`MicrosoftAdsHook` (e.g. ``retry``, ``timeout``).
    """

    template_fields: Sequence[str] = (
        *_AccountDiscoveryOperator.template_fields,
        "sql_conn_id",
        "table",
        "schema",
    )
    ui_color = "#d4f1df"
    default_sql_conn_id: ClassVar[str] = "msads_warehouse"

    def __init__(
        self,
        *,
        sql_conn_id: str = default_sql_conn_id,
        table: str = DEFAULT_TABLE,
        schema: str | None = None,
        batch_size: int = DEFAULT_BATCH_SIZE,
        create_table: bool = True,
        with_customer_names: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        # Literal names fail at parse time; templated ones and XComArgs are checked in execute().
        if _literal(table):
            validate_identifier(table, "table name")
        if schema and _literal(schema):
            validate_identifier(schema, "schema name")
        self.sql_conn_id = sql_conn_id
        self.table = table
        self.schema = schema
        self.batch_size = batch_size
        self.create_table = create_table
        self.with_customer_names = with_customer_names

    def execute(self, context: Context) -> dict[str, Any]:
        with fail_without_retries():
            return self._execute(context)

    def _execute(self, context: Context) -> dict[str, Any]:
        from airflow.providers.common.sql.hooks.sql import DbApiHook
        from airflow.sdk import BaseHook

        _check_name(self.table, "table")
        if self.schema:
            _check_name(self.schema, "schema")
        db_hook = BaseHook.get_hook(self.sql_conn_id)
        if not isinstance(db_hook, DbApiHook):
            raise TypeError(
                f"connection {self.sql_conn_id!r} gives a {type(db_hook).__name__}, not a SQL (DbApiHook) "
                "connection: use any SQL connection (SQLite, Postgres, MySQL, DuckDB, ...)"
            )
        engine = engine_for_hook(db_hook)
        seen_at = _seen_at(context)
        try:
            writer = AccountTableWriter(
                engine,
                self.table,
                self.schema or None,
                batch_size=self.batch_size,
                create_table=self.create_table,
            )
            stats = writer.write(
                self.discover(context, with_customer_names=self.with_customer_names), seen_at
            )
        finally:
            engine.dispose()
        self.log.info(
            "Wrote %s (%s, last_seen_at %s): %s",
            writer.target,
            engine.dialect.name,
            seen_at.isoformat(),
            stats,
        )
        return {"table": self.table, "schema": self.schema or None, **stats.as_dict()}


# -- parameter normalisation (templated values arrive as strings) ---------------------------------------


def _check_name(value: Any, field: str) -> None:
    """A (rendered) table/schema name, checked before any call; a bad one fails without retries."""
    try:
        validate_identifier(value, f"{field} name")
    except ValueError as err:
        raise ConfigurationError(field, str(err).split(":")[0], str(err).split(": ", 1)[-1]) from None


def _literal(value: Any) -> bool:
    """A value given as is in the DAG file: not a Jinja template, not an XComArg (resolved at run time)."""
    if isinstance(value, str):
        return "{{" not in value
    if isinstance(value, list | tuple):
        return all(isinstance(v, str) and "{{" not in v for v in value)
    return value is None


def _ids(value: Iterable[int | str] | int | str | None, name: str) -> tuple[int, ...] | None:
    """Ids from an int, a digit string, a list of either, or one comma/space separated string."""
    return parse_ids(value, name)


def _positive_int(value: Any, name: str) -> int:
    text = str(value).strip()
    if isinstance(value, bool) or not (text.isascii() and text.isdigit()) or int(text) < 1:
        raise ConfigurationError(name, f"{value!r} is not a positive whole number", "use e.g. 100")
    return int(text)


def _names(value: Iterable[str] | str | None) -> tuple[str, ...] | None:
    if value is None:
        return None
    items = _ID_SEPARATORS.split(value.strip()) if isinstance(value, str) else [str(v).strip() for v in value]
    return tuple(dict.fromkeys(i for i in items if i)) or None


def _fields(value: Sequence[str] | str | None) -> tuple[str, ...]:
    if value is None:
        return DEFAULT_FIELDS
    names = _ID_SEPARATORS.split(value.strip()) if isinstance(value, str) else list(value)
    unknown = [n for n in names if n not in ACCOUNT_ROW_FIELDS]
    if unknown or not names:
        raise ConfigurationError(
            "fields",
            f"unknown {unknown or 'empty selection'}",
            f"choose from {', '.join(ACCOUNT_ROW_FIELDS)}",
        )
    return tuple(dict.fromkeys(n for n in names if n))


def _output_format(value: str) -> OutputMode:
    for mode in OUTPUT_MODES:
        if value == mode:
            return mode
    raise ConfigurationError(
        "output_format", f"unknown value {value!r}", f"use one of {', '.join(OUTPUT_MODES)}"
    )


def _select(row: dict[str, Any], fields: Sequence[str]) -> dict[str, Any]:
    return {f: row[f] for f in fields}


def _seen_at(context: Context) -> datetime:
    """The DAG run's ``run_after``: stable across retries and clears of the same run."""
    dag_run = context.get("dag_run")
    run_after = getattr(dag_run, "run_after", None)
    if isinstance(run_after, datetime) and run_after.tzinfo is not None:
        return run_after
    return datetime.now(timezone.utc)
