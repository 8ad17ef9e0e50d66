"""The report operators' checks: bad input fails before any API call, with the parameter's name.

The full submit -> wait -> load path runs against the emulator in tests/operators/test_report_operators_emulator.py
and, for real under ``airflow dags test``, in tests/e2e/test_report_dags.py.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

try:
    from airflow.sdk.exceptions import AirflowFailException
except ImportError:  # Airflow 3.1 (the floor) keeps it in airflow.exceptions
    from airflow.exceptions import AirflowFailException  # type: ignore[no-redef,attr-defined]

from airflow_provider_msads.client.errors import ConfigurationError
from airflow_provider_msads.hooks.msads import MicrosoftAdsHook
from airflow_provider_msads.operators.reports import (
    MicrosoftAdsReportOperator,
    MicrosoftAdsReportToSqlOperator,
    assert_no_secret,
    report_file_asset,
    report_table_asset,
)

UTC = timezone.utc
COLUMNS = ["TimePeriod", "AccountId", "Impressions", "Clicks", "Spend"]


class NoApi:
    """Stands in for MicrosoftAdsHook.get_client: any API use fails the test."""

    calls = 0

    def __call__(self, hook: Any) -> Any:
        NoApi.calls += 1
        raise AssertionError("the API was called before the input was checked")


@pytest.fixture
def no_api(monkeypatch: pytest.MonkeyPatch) -> NoApi:
    NoApi.calls = 0
    monkeypatch.setattr(MicrosoftAdsHook, "get_client", NoApi())
    return NoApi()


def context(day: date = date(2024, 6, 10)) -> dict[str, Any]:
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    return {
        "data_interval_start": start,
        "data_interval_end": start + timedelta(days=1),
        "dag_run": SimpleNamespace(run_after=start + timedelta(days=1, hours=2)),
        "ti": SimpleNamespace(task_id="t", map_index=-1),
    }


def sql_op(**kwargs: Any) -> MicrosoftAdsReportToSqlOperator:
    params: dict[str, Any] = {
        "task_id": "report",
        "report": "AccountPerformance",
        "columns": COLUMNS,
        "account_ids": [111, 222],
        "table": "msads_perf",
        **kwargs,
    }
    return MicrosoftAdsReportToSqlOperator(**params)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        (
            {"window_start": "2024-06-10", "window_end": "2024-06-09"},
            ValueError,
            "window_end 2024-06-09 is before",
        ),
        ({"window_start": "2024-06-10"}, ValueError, "window_end is not set: give both"),
        (
            {"window_start": "10/06/2024", "window_end": "2024-06-10"},
            ValueError,
            "window_start: '10/06/2024'",
        ),
        (
            {"columns": ["TimePeriod", "AccountId", "Impresions"]},
            ConfigurationError,
            "'Impresions' is not a column",
        ),
        ({"report": "AccountPerformanceReport"}, Exception, "AccountPerformanceReport"),
        ({"aggregation": "Daly"}, ConfigurationError, "aggregation"),
        ({"account_ids": ["F12345"]}, ValueError, "'F12345' is not an account id"),
        ({"account_ids": []}, ValueError, "account_ids is empty"),
        ({"table": "{{ params.t }}"}, ValueError, "invalid table name 'x; DROP TABLE y'"),
        ({"schema": "{{ params.t }}"}, ValueError, "invalid schema name"),
        ({"lookback_days": "{{ params.n }}"}, ValueError, "lookback_days must be a whole number"),
        ({"poll_interval": "{{ params.n }}"}, ValueError, "poll_interval must be a number of seconds"),
    ],
)
def test_bad_input_fails_before_any_api_call(
    no_api: NoApi, kwargs: dict[str, Any], error: type, match: str
) -> None:
    op = sql_op(**kwargs)
    # What templates would have rendered: an injection attempt and a non-number.
    for name in ("table", "schema"):
        if getattr(op, name) == "{{ params.t }}":
            setattr(op, name, "x; DROP TABLE y")
    for name in ("lookback_days", "poll_interval"):
        if getattr(op, name) == "{{ params.n }}":
            setattr(op, name, "seven")
    with pytest.raises(AirflowFailException, match=match) as failed:  # no Airflow retry can fix input
        op.execute(context())  # type: ignore[arg-type]
    assert isinstance(failed.value.__cause__, error)
    assert NoApi.calls == 0


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"table": "perf; DROP TABLE x"}, "invalid table name"),
        ({"table": "public.perf"}, "pass the schema separately"),
        ({"schema": "a b"}, "invalid schema name"),
        ({"lookback_days": -1}, "lookback_days must be between 0"),
        ({"poll_interval": 0}, "poll_interval must be more than 0"),
        ({"poll_interval": 60, "max_poll_interval": 10}, "max_poll_interval"),
        ({"poll_timeout": 0}, "poll_timeout must be a positive"),
        ({"report_attempts": 0}, "report_attempts must be"),
    ],
)
def test_literal_mistakes_fail_when_the_dag_is_parsed(kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        sql_op(**kwargs)


def test_file_format_is_checked(no_api: NoApi, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="file_format must be one of csv, jsonl"):
        MicrosoftAdsReportOperator(
            task_id="f", report="AccountPerformance", columns=COLUMNS, path=tmp_path, file_format="xlsx"
        )
    op = MicrosoftAdsReportOperator(
        task_id="f",
        report="AccountPerformance",
        columns=COLUMNS,
        account_ids=[1],
        path=tmp_path / "r.csv",
        file_format="{{ x }}",
    )
    op.file_format = "parquet"
    with pytest.raises(AirflowFailException, match="file_format must be one of"):
        op.execute(context())  # type: ignore[arg-type]
    assert NoApi.calls == 0


def test_an_unresolved_xcomarg_is_accepted_at_parse_time() -> None:
    from airflow.sdk import DAG, task

    with DAG("xcomarg_accounts", schedule=None, start_date=datetime(2024, 1, 1)):

        @task
        def ids() -> list[int]:
            return [1]

        @task
        def setting() -> str:
            return "x"

        mapped = MicrosoftAdsReportToSqlOperator.partial(
            task_id="r", report="AccountPerformance", columns=COLUMNS, table="t"
        ).expand(account_ids=ids())
        # Every templated parameter may come from XCom: nothing is checked until execute().
        value = setting()
        plain = MicrosoftAdsReportToSqlOperator(
            task_id="r2",
            report="AccountPerformance",
            columns=COLUMNS,
            account_ids=ids(),
            table=value,
            schema=value,
            lookback_days=value,
            poll_interval=value,
            window_start=value,
            window_end=value,
        )
        to_file = MicrosoftAdsReportOperator(
            task_id="f", report="AccountPerformance", columns=COLUMNS, path=value, file_format=value
        )
    assert mapped is not None and plain.table is value and to_file.file_format is value


def test_window_defaults_to_the_data_interval() -> None:
    op = sql_op()
    assert op._window(context(date(2024, 6, 10))).start == date(2024, 6, 10)  # type: ignore[arg-type]
    op = sql_op(window_start="{{ ds }}", window_end="{{ ds }}")
    op.window_start = op.window_end = "2024-05-01"
    window = op._window(context())  # type: ignore[arg-type]
    assert (window.start, window.end) == (date(2024, 5, 1), date(2024, 5, 1))


def test_account_id_is_added_and_every_parameter_is_templated_where_documented() -> None:
    op = sql_op(columns="TimePeriod, Clicks")
    assert op._columns() == ("AccountId", "TimePeriod", "Clicks")
    assert set(MicrosoftAdsReportToSqlOperator.template_fields) >= {
        "account_ids",
        "window_start",
        "window_end",
        "table",
        "schema",
        "sql_conn_id",
        "lookback_days",
        "columns",
        "report",
    }
    assert set(MicrosoftAdsReportOperator.template_fields) >= {"path", "account_ids", "window_start"}


def test_assets_name_the_output() -> None:
    table = report_table_asset("msads_perf", sql_conn_id="wh", schema="ads")
    assert table.uri == "x-msads-sql://wh/ads/msads_perf" and table.name == "msads_report:wh:ads.msads_perf"
    assert report_file_asset("s3://bucket/msads/perf.csv").uri == "s3://bucket/msads/perf.csv"
    assert report_file_asset("/data/perf.csv").uri == "file:///data/perf.csv"
    with pytest.raises(ValueError, match="invalid table name"):
        report_table_asset("a;b")
    with pytest.raises(ValueError, match="templated"):
        report_file_asset("/data/{{ ds }}.csv")


def test_no_secret_guard() -> None:
    assert_no_secret({"ids": ["1"]}, ["s3cr3t-token"], "trigger arguments")
    with pytest.raises(RuntimeError, match="refusing to store trigger arguments") as err:
        assert_no_secret({"x": "Bearer s3cr3t-token"}, ["s3cr3t-token"], "trigger arguments")
    assert "s3cr3t" not in str(err.value)


def test_a_table_with_other_columns_fails_before_any_api_call(
    no_api: NoApi, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import json
    import sqlite3

    db = tmp_path / "w.sqlite"
    with sqlite3.connect(db) as c:
        c.execute('CREATE TABLE msads_perf ("AccountId" BIGINT, "Clicks" BIGINT)')
    monkeypatch.setenv("AIRFLOW_CONN_MSADS_MISMATCH", json.dumps({"conn_type": "sqlite", "host": str(db)}))
    op = sql_op(sql_conn_id="msads_mismatch")
    with pytest.raises(AirflowFailException, match="has other columns than this report writes") as failed:
        op.execute(context())  # type: ignore[arg-type]
    assert "ReportTableMismatchError" in str(failed.value)
    assert NoApi.calls == 0
