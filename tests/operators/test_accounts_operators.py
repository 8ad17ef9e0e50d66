"""The discovery operators with a stub client: XCom shapes, filters, links, SQL writes through real hooks."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from airflow_provider_msads.client.errors import (
    ApiAuthenticationError,
    ConfigurationError,
    TerminalAuthError,
    TransientApiError,
)
from airflow_provider_msads.client.models import ACCOUNT_ROW_FIELDS, Account
from airflow_provider_msads.hooks.msads import _fail_exception
from airflow_provider_msads.operators.accounts import (
    DEFAULT_FIELDS,
    MicrosoftAdsAccountsLink,
    MicrosoftAdsAccountsToSqlOperator,
    MicrosoftAdsListAccountsOperator,
    accounts_table_asset,
    accounts_ui_url,
)

AirflowFailException = _fail_exception()
LINK_KEY = MicrosoftAdsAccountsLink().xcom_key


def link_of(op: Any) -> str:
    """What Airflow stores under LINK_KEY when the task ends (it calls get_link on the worker)."""
    return MicrosoftAdsAccountsLink().get_link(op, ti_key=None)  # type: ignore[arg-type]


RUN_1 = datetime(2024, 6, 1, 6, 0, tzinfo=timezone.utc)
RUN_2 = RUN_1 + timedelta(days=1)


def secrets_in(payload: Any, secrets: tuple[str, ...]) -> list[str]:
    text = json.dumps(payload)
    return [s for s in secrets if s in text]


# -- MicrosoftAdsListAccountsOperator ----------------------------------------------------------------


def test_rows_are_sorted_small_json_dicts_with_the_default_fields(
    msads_conn: str,
    msads_secrets: tuple[str, ...],
    fake_client: Callable[..., Any],
    context: Callable[..., dict[str, Any]],
    accounts: Any,
) -> None:
    found = accounts(9)
    client = fake_client(found)
    ctx = context(RUN_1)
    op = MicrosoftAdsListAccountsOperator(
        task_id="list",
        msads_conn_id=msads_conn,
        customer_ids="100, 101",
        statuses="Active,Pending",
        name_contains="Acc",
        page_size=250,
    )

    result = op.execute(ctx)

    assert [r["account_id"] for r in result] == sorted(a.id for a in found)
    assert all(tuple(r) == DEFAULT_FIELDS for r in result)
    by_id = {a.id: a for a in found}
    assert result[0] == {f: by_id[result[0]["account_id"]].to_row()[f] for f in DEFAULT_FIELDS}
    assert all(isinstance(r["account_id"], int) and isinstance(r["customer_id"], int) for r in result)
    assert json.loads(json.dumps(result)) == result
    assert client.calls == [
        {
            "customer_ids": (100, 101),
            "account_ids": None,
            "statuses": ("Active", "Pending"),
            "name_contains": "Acc",
            "page_size": 250,
            "with_customer_names": True,  # customer_name is a default field
        }
    ]
    assert client.closed
    assert len(msads_secrets) == 3
    assert secrets_in([result, ctx["ti"].pushed, link_of(op)], msads_secrets) == []


def test_chosen_fields_shape_rows_for_expand_kwargs(
    msads_conn: str, fake_client: Callable[..., Any], context: Callable[..., dict[str, Any]], accounts: Any
) -> None:
    client = fake_client(accounts(4))
    op = MicrosoftAdsListAccountsOperator(
        task_id="list",
        msads_conn_id=msads_conn,
        fields=["customer_id", "account_id"],
        account_ids=[5001, "5002"],
    )
    result = op.execute(context(RUN_1))
    assert [list(r) for r in result] == [["customer_id", "account_id"]] * 4
    assert client.calls[0]["with_customer_names"] is False
    assert client.calls[0]["account_ids"] == (5001, 5002)


def test_ids_output(
    msads_conn: str, fake_client: Callable[..., Any], context: Callable[..., dict[str, Any]], accounts: Any
) -> None:
    found = accounts(6)
    fake_client(found)
    op = MicrosoftAdsListAccountsOperator(task_id="list", msads_conn_id=msads_conn, output_format="ids")
    assert op.execute(context(RUN_1)) == sorted(a.id for a in found)


def test_batches_output_partitions_the_sorted_rows(
    msads_conn: str, fake_client: Callable[..., Any], context: Callable[..., dict[str, Any]], accounts: Any
) -> None:
    found = accounts(8)
    fake_client(found)
    op = MicrosoftAdsListAccountsOperator(
        task_id="list",
        msads_conn_id=msads_conn,
        output_format="batches",
        batch_size="3",
        fields=["account_id"],
    )
    result = op.execute(context(RUN_1))
    assert [len(b) for b in result] == [3, 3, 2]
    assert [r["account_id"] for b in result for r in b] == sorted(a.id for a in found)


def test_no_accounts_gives_an_empty_list(
    msads_conn: str, fake_client: Callable[..., Any], context: Callable[..., dict[str, Any]]
) -> None:
    fake_client([])
    ctx = context(RUN_1)
    for output_format in ("rows", "ids", "batches"):
        op = MicrosoftAdsListAccountsOperator(
            task_id="l", msads_conn_id=msads_conn, output_format=output_format
        )
        assert op.execute(ctx) == []
    assert link_of(op) == "https://ui.ads.microsoft.com/"


@pytest.mark.parametrize(
    ("output_format", "batch_size", "fails"),
    [("rows", 100, True), ("ids", 100, True), ("batches", 1, True), ("batches", 3, False)],
)
def test_more_items_than_airflow_maps_fail_in_the_producing_task(
    msads_conn: str,
    fake_client: Callable[..., Any],
    context: Callable[..., dict[str, Any]],
    accounts: Any,
    monkeypatch: pytest.MonkeyPatch,
    output_format: str,
    batch_size: int,
    fails: bool,
) -> None:
    """Our message (what happened, both fixes) in the producing task, not Airflow's one step later."""
    from airflow.sdk import DAG, task

    monkeypatch.setenv("AIRFLOW__CORE__MAX_MAP_LENGTH", "5")  # read from Airflow's configuration
    fake_client(accounts(8))

    @task
    def per_item(item: Any) -> None: ...

    with DAG("msads_map_limit", schedule=None, start_date=RUN_1):
        op = MicrosoftAdsListAccountsOperator(
            task_id="list", msads_conn_id=msads_conn, output_format=output_format, batch_size=batch_size
        )
        per_item.expand(item=op.output)
    if not fails:
        assert len(op.execute(context(RUN_1))) == 3
        return
    with pytest.raises(AirflowFailException) as info:
        op.execute(context(RUN_1))
    message = str(info.value)
    assert "8 accounts make" in message and "[core] max_map_length=5" in message
    assert "per_item maps over this output" in message
    first_fix = (
        "raise batch_size to at least 2"
        if output_format == "batches"
        else ('use output_format="batches" with batch_size >= 2')
    )
    assert first_fix in message and "raise [core] max_map_length to at least" in message


def test_more_items_than_airflow_maps_only_warn_when_nothing_maps_over_them(
    msads_conn: str,
    fake_client: Callable[..., Any],
    context: Callable[..., dict[str, Any]],
    accounts: Any,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("AIRFLOW__CORE__MAX_MAP_LENGTH", "5")
    fake_client(accounts(8))
    op = MicrosoftAdsListAccountsOperator(task_id="list", msads_conn_id=msads_conn, output_format="ids")
    capsys.readouterr()
    assert len(op.execute(context(RUN_1))) == 8  # Airflow's structlog writes task logs to stdout here
    messages = [line for line in capsys.readouterr().out.splitlines() if "max_map_length" in line]
    assert messages and "a task mapped over this output would fail" in messages[0]


def test_bad_parameters_fail_early(msads_conn: str) -> None:
    with pytest.raises(ValueError, match="fields: unknown \\['password'\\]"):
        MicrosoftAdsListAccountsOperator(task_id="a", fields=["account_id", "password"])
    with pytest.raises(ValueError, match="output_format: unknown value 'csv'; use one of rows, ids, batches"):
        MicrosoftAdsListAccountsOperator(task_id="b", output_format="csv")
    with pytest.raises(ValueError, match="page_size must be between 1 and 1000"):
        MicrosoftAdsListAccountsOperator(task_id="c", page_size=5000)
    with pytest.raises(ValueError, match="invalid table name"):
        MicrosoftAdsAccountsToSqlOperator(task_id="d", table="accounts; DROP TABLE x")
    with pytest.raises(ValueError, match="invalid schema name"):
        MicrosoftAdsAccountsToSqlOperator(task_id="e", schema='public"')
    # Templated values are only checked once rendered.
    MicrosoftAdsListAccountsOperator(task_id="f", output_format="{{ params.shape }}")
    MicrosoftAdsAccountsToSqlOperator(task_id="g", table="{{ params.table }}")


def test_bad_ids_fail_at_run_time_with_the_parameter_name(
    msads_conn: str, fake_client: Callable[..., Any], context: Callable[..., dict[str, Any]]
) -> None:
    fake_client([])
    op = MicrosoftAdsListAccountsOperator(task_id="list", msads_conn_id=msads_conn, customer_ids="123, abc")
    with pytest.raises(AirflowFailException, match="customer_ids: is not a numeric id") as info:
        op.execute(context(RUN_1))
    assert isinstance(info.value.__cause__, ConfigurationError)
    assert "abc" not in str(info.value)  # an unparsed value is never quoted (it could be a secret)


def test_table_and_schema_from_an_xcomarg_parse_and_are_checked_when_rendered(
    msads_conn: str, fake_client: Callable[..., Any], context: Callable[..., dict[str, Any]]
) -> None:
    """Regression: ``table=<XComArg>`` crashed DAG parsing with "PlainXComArg is not iterable"."""
    from airflow.sdk import DAG, task

    @task
    def pick_table() -> str:
        return "accounts; DROP TABLE x"

    with DAG("msads_xcomarg_names", schedule=None, start_date=RUN_1):
        op = MicrosoftAdsAccountsToSqlOperator(task_id="to_sql", table=pick_table(), schema=pick_table())
        MicrosoftAdsListAccountsOperator(task_id="list", fields=pick_table(), output_format=pick_table())
    # At run time Airflow renders the XComArg into the attribute; the bad value fails before any call,
    # without Airflow retries (a retry would render the same name).
    fake = fake_client([])
    op.table, op.schema = "accounts; DROP TABLE x", None
    with pytest.raises(AirflowFailException, match="table: invalid table name") as info:
        op.execute(context(RUN_1))
    assert isinstance(info.value.__cause__, ConfigurationError)
    assert fake.calls == []
    op.table, op.schema = "msads_accounts", 'public"'
    with pytest.raises(AirflowFailException, match="schema: invalid schema name"):
        op.execute(context(RUN_1))


@pytest.mark.parametrize(
    "error",
    [
        TerminalAuthError("token refresh failed: refresh token revoked (AADSTS50173, invalid_grant)"),
        ApiAuthenticationError("InvalidCredentials", operation="SearchAccounts"),
        ConfigurationError("developer_token", "is missing", "add it"),
    ],
    ids=["revoked-token", "105", "configuration"],
)
def test_terminal_errors_fail_the_task_without_airflow_retries(
    msads_conn: str,
    fake_client: Callable[..., Any],
    context: Callable[..., dict[str, Any]],
    error: Exception,
    tmp_path: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    warehouse = json.dumps({"conn_type": "sqlite", "host": str(tmp_path / "w.sqlite")})
    monkeypatch.setenv("AIRFLOW_CONN_MSADS_WAREHOUSE", warehouse)
    fake_client([], fail_with=error)
    for op in (
        MicrosoftAdsListAccountsOperator(task_id="list", msads_conn_id=msads_conn, retries=3),
        MicrosoftAdsAccountsToSqlOperator(task_id="sql", msads_conn_id=msads_conn, retries=3),
    ):
        with pytest.raises(AirflowFailException) as info:
            op.execute(context(RUN_1))
        assert info.value.__cause__ is error
        assert str(error) in str(info.value)


def test_retryable_errors_stay_retryable(
    msads_conn: str, fake_client: Callable[..., Any], context: Callable[..., dict[str, Any]]
) -> None:
    """What the client already retried may work on the next task try: Airflow's retries still apply."""
    error = TransientApiError("internal error", operation="SearchAccounts", http_status=503)
    fake_client([], fail_with=error)
    op = MicrosoftAdsListAccountsOperator(task_id="list", msads_conn_id=msads_conn)
    with pytest.raises(TransientApiError):
        op.execute(context(RUN_1))


def test_templated_fields_are_where_users_expect_them() -> None:
    assert set(MicrosoftAdsListAccountsOperator.template_fields) >= {
        "msads_conn_id",
        "customer_ids",
        "account_ids",
        "statuses",
        "name_contains",
        "fields",
        "output_format",
        "batch_size",
    }
    assert set(MicrosoftAdsAccountsToSqlOperator.template_fields) >= {
        "msads_conn_id",
        "sql_conn_id",
        "table",
        "schema",
        "customer_ids",
        "account_ids",
        "statuses",
        "name_contains",
    }
    assert all(isinstance(name, str) for name in MicrosoftAdsListAccountsOperator.template_fields)


# -- link and asset ----------------------------------------------------------------------------------


def test_ui_urls() -> None:
    host = "https://ui.ads.microsoft.com"
    assert accounts_ui_url(host, [11], [22]) == f"{host}/campaign/vnext/overview?aid=11&cid=22"
    assert accounts_ui_url(host, [11, 12], [22, 22]) == f"{host}/campaign/vnext/overview?cid=22"
    assert accounts_ui_url(host, [11, 12], [22, 23]) == f"{host}/"


def test_link_follows_the_connection_environment(
    monkeypatch: pytest.MonkeyPatch, fake_client: Callable[..., Any], context: Callable[..., dict[str, Any]]
) -> None:
    conn = {
        "conn_type": "msads",
        "login": "c",
        "password": "refresh-token-for-sandbox",
        "extra": {"developer_token": "BBD37VB98", "environment": "sandbox"},
    }
    monkeypatch.setenv("AIRFLOW_CONN_MSADS_SANDBOX", json.dumps(conn))
    fake_client([Account(id=77, number="X", name="one", parent_customer_id=88)])
    op = MicrosoftAdsListAccountsOperator(task_id="l", msads_conn_id="msads_sandbox")
    assert link_of(op) == "", "no URL before the task found accounts (and no XCom read to log an error)"
    op.execute(context(RUN_1))
    assert link_of(op) == "https://ui.si.ads.microsoft.com/campaign/vnext/overview?aid=77&cid=88"


def test_table_asset() -> None:
    asset = accounts_table_asset("msads_accounts", sql_conn_id="wh", schema="ads")
    assert asset.name == "msads_accounts:wh:ads.msads_accounts"
    assert asset.uri == "x-msads-sql://wh/ads/msads_accounts"
    with pytest.raises(ValueError, match="invalid table name"):
        accounts_table_asset("a;b")


def test_operators_serialize_with_their_link() -> None:
    from airflow.sdk import DAG

    try:
        from airflow.serialization.serialized_objects import DagSerialization
    except ImportError:  # Airflow 3.1
        from airflow.serialization.serialized_objects import SerializedDAG as DagSerialization

    with DAG("msads_serialize_check", schedule=None) as dag:
        MicrosoftAdsListAccountsOperator(task_id="list")
        MicrosoftAdsAccountsToSqlOperator(task_id="sql", outlets=[accounts_table_asset()])
    data = DagSerialization.to_dict(dag)
    tasks = {t["__var"]["task_id"]: t["__var"] for t in data["dag"]["tasks"]}
    for task_id in ("list", "sql"):
        assert tasks[task_id]["_operator_extra_links"] == {"Microsoft Advertising": LINK_KEY}


# -- MicrosoftAdsAccountsToSqlOperator ---------------------------------------------------------------


def _table(target: Any) -> list[tuple[Any, ...]]:
    q = target.quote
    return target.query(
        f"SELECT {q}account_id{q}, {q}account_name{q}, {q}is_active_in_last_run{q} "
        f"FROM {q}{target.table}{q} ORDER BY {q}account_id{q}"
    )


def test_sql_operator_writes_reruns_and_marks_vanished(
    msads_conn: str,
    fake_client: Callable[..., Any],
    context: Callable[..., dict[str, Any]],
    accounts: Any,
    sql_target: Any,
) -> None:
    found = accounts(12)
    client = fake_client(found)
    op = MicrosoftAdsAccountsToSqlOperator(
        task_id="sql",
        msads_conn_id=msads_conn,
        sql_conn_id=sql_target.conn_id,
        table=sql_target.table,
        batch_size=5,
    )
    ctx = context(RUN_1)
    first = op.execute(ctx)
    assert first == {
        "table": sql_target.table,
        "schema": None,
        "seen": 12,
        "inserted": 12,
        "updated": 0,
        "unchanged": 0,
        "vanished": 0,
        "duplicates": 0,
    }
    assert client.calls[0]["with_customer_names"] is True
    rows = _table(sql_target)
    assert [r[0] for r in rows] == sorted(a.id for a in found) and all(r[2] for r in rows)
    assert link_of(op).startswith("https://ui.ads.microsoft.com/")

    assert op.execute(context(RUN_1))["unchanged"] == 12  # same DAG run again: nothing changes
    fake_client(found[:9])
    again = op.execute(context(RUN_2))
    assert (again["seen"], again["unchanged"], again["vanished"]) == (9, 9, 3)
    gone = {a.id for a in found[9:]}
    assert {r[0] for r in _table(sql_target) if not r[2]} == gone


def test_sql_operator_discovery_failure_keeps_the_table(
    msads_conn: str,
    fake_client: Callable[..., Any],
    context: Callable[..., dict[str, Any]],
    accounts: Any,
    sql_target: Any,
) -> None:
    found = accounts(30)
    fake_client(found)
    kwargs: dict[str, Any] = {
        "task_id": "sql",
        "msads_conn_id": msads_conn,
        "sql_conn_id": sql_target.conn_id,
        "table": sql_target.table,
        "batch_size": 4,
    }
    MicrosoftAdsAccountsToSqlOperator(**kwargs).execute(context(RUN_1))
    before = _table(sql_target)

    renamed = [Account(id=a.id, number=a.number, name="renamed", parent_customer_id=1) for a in found]
    fake_client(renamed, fail_after=21)  # five batches staged, then the API fails
    with pytest.raises(RuntimeError, match="injected: SearchAccounts failed after 21"):
        MicrosoftAdsAccountsToSqlOperator(**kwargs).execute(context(RUN_2))
    assert _table(sql_target) == before


def test_sql_operator_rejects_a_non_sql_connection(
    msads_conn: str, fake_client: Callable[..., Any], context: Callable[..., dict[str, Any]]
) -> None:
    fake_client([])
    op = MicrosoftAdsAccountsToSqlOperator(task_id="sql", msads_conn_id=msads_conn, sql_conn_id=msads_conn)
    with pytest.raises(TypeError, match="not a SQL \\(DbApiHook\\) connection"):
        op.execute(context(RUN_1))


def test_fields_documented_are_model_fields() -> None:
    assert set(DEFAULT_FIELDS) <= set(ACCOUNT_ROW_FIELDS)


def test_sql_operator_checks_filters_before_touching_the_database(
    msads_conn: str, fake_client: Callable[..., Any], context: Callable[..., dict[str, Any]], sql_target: Any
) -> None:
    client = fake_client([])
    op = MicrosoftAdsAccountsToSqlOperator(
        task_id="sql",
        msads_conn_id=msads_conn,
        sql_conn_id=sql_target.conn_id,
        table=sql_target.table,
        account_ids=["12", "x"],
    )
    with pytest.raises(AirflowFailException, match="account_ids: is not a numeric id"):
        op.execute(context(RUN_1))
    assert client.calls == []
    q = sql_target.quote
    with pytest.raises(Exception, match=r"(?i)(no such table|does not exist|doesn't exist)"):
        sql_target.query(f"SELECT 1 FROM {q}{sql_target.table}{q}")
