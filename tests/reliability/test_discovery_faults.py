"""Faults during discovery, end to end through the hook, the operator and a real SQL table (SQLite).

tests/client/test_client_emulator.py already runs every fault row against the bare client on both
transports. The angle added here is what a user sees: the connection is read by MicrosoftAdsHook (its
default token store is the real Airflow Variable in the metadata DB), MicrosoftAdsAccountsToSqlOperator
streams the pages into the table, and the *table* ends with exactly the discovered accounts, each once
(recoverable faults), or exactly as before with a precise error (terminal faults). Retry waits use the
production RetryPolicy and are recorded instead of slept, so "117 waits a minute" is checked as is.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from msads_reliability_helpers import (
    RecordedSleeps,
    Recorder,
    SqlTarget,
    emulator_conn_json,
    emulator_settings,
    expected_rows,
    known_secrets,
    lost_and_duplicated,
    make_sql_target,
    secrets_in,
    unique_conn_id,
)

from airflow_provider_msads.client.errors import (
    ApiAuthenticationError,
    ConfigurationError,
    MicrosoftAdsError,
    NetworkError,
    TerminalAuthError,
    TransientApiError,
)
from airflow_provider_msads.client.retry import RetryPolicy
from airflow_provider_msads.hooks.token_store import VariableTokenStore
from airflow_provider_msads.operators.accounts import (
    MicrosoftAdsAccountsToSqlOperator,
    MicrosoftAdsListAccountsOperator,
)
from airflow_provider_msads.testing import Emulator

ACCOUNTS, PAGE, BATCH = 35, 10, 7  # four SearchAccounts pages, staged in batches that straddle pages
PAGES = ACCOUNTS // PAGE + 1
RUN_1 = datetime(2025, 3, 1, 6, 0, tzinfo=timezone.utc)
RUN_2 = datetime(2025, 3, 2, 6, 0, tzinfo=timezone.utc)
SQL_CONN = "msads_rel_sql"


class FakeTI:
    def __init__(self) -> None:
        self.pushed: dict[str, Any] = {}

    def xcom_push(self, key: str, value: Any) -> None:
        self.pushed[key] = value


@dataclass
class World:
    emu: Emulator
    expected: list[dict[str, Any]]
    target: SqlTarget
    conn_id: str
    sleeps: RecordedSleeps
    monkeypatch: pytest.MonkeyPatch
    timeout: float | None = None  # per attempt; the production default (60 s) when None

    def hook_params(self) -> dict[str, Any]:
        """The production retry policy with its waits recorded instead of slept, set on the hook."""
        return {"retry": RetryPolicy(sleep=self.sleeps), "timeout": self.timeout}

    def connect(self, **extra: Any) -> None:
        """(Re)define the msads connection, e.g. with ``transport="soap"``."""
        self.monkeypatch.setenv(f"AIRFLOW_CONN_{self.conn_id.upper()}", emulator_conn_json(self.emu, **extra))

    def to_sql(self, run_after: datetime) -> tuple[dict[str, Any], FakeTI]:
        op = MicrosoftAdsAccountsToSqlOperator(
            task_id="accounts_to_sql",
            msads_conn_id=self.conn_id,
            sql_conn_id=SQL_CONN,
            table=self.target.table,
            page_size=PAGE,
            batch_size=BATCH,
            hook_params=self.hook_params(),
        )
        ti = FakeTI()
        context: Any = {"ti": ti, "dag_run": SimpleNamespace(run_after=run_after)}
        return op.execute(context), ti

    def expected_table(self, first: datetime, last: datetime) -> list[dict[str, Any]]:
        stamp = {"first_seen_at": _text(first), "last_seen_at": _text(last), "is_active_in_last_run": True}
        return [{**row, **stamp} for row in self.expected]

    def stored_refresh_token(self) -> str | None:
        store = VariableTokenStore(self.conn_id, emulator_settings(self.emu))
        stored = store.load()
        return stored.refresh_token if stored else None


def _text(value: datetime) -> str:
    return value.astimezone(timezone.utc).replace(tzinfo=None).isoformat(timespec="seconds")


@pytest.fixture
def world(
    msads_emulator_factory: Callable[..., Emulator],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    airflow_db: Path,
    caplog: pytest.LogCaptureFixture,
) -> World:
    emu = msads_emulator_factory(accounts=ACCOUNTS, seed=31)
    expected = expected_rows(emu)
    emu.reset()  # counters, tokens and faults start from zero for the run under test
    target = make_sql_target("sqlite", tmp_path)
    monkeypatch.setenv(f"AIRFLOW_CONN_{SQL_CONN.upper()}", target.uri)
    caplog.set_level(logging.DEBUG)
    w = World(emu, expected, target, unique_conn_id(), RecordedSleeps(), monkeypatch)
    w.connect()
    return w


# -- recoverable: the table ends exactly as one clean run leaves it ------------------------------------------


@dataclass(frozen=True)
class Row:
    name: str
    fault: dict[str, Any]
    extra_requests: int = 1
    transport: str = "rest"
    timeout: float | None = None


RECOVERABLE = [
    Row("5xx burst (503 x3) on page 2", {"status": 503, "times": 3, "after": 1}, 3),
    Row("429 + Retry-After: 90 on page 3", {"status": 429, "retry_after": 90, "after": 2}),
    Row("117 call rate exceeded on page 2", {"error_code": 117, "after": 1}),
    Row("109 token expired on page 3 (mid-paging)", {"error_code": 109, "after": 2}),
    Row("connection reset on page 2", {"kind": "reset", "after": 1}),
    Row("truncated body on page 4", {"kind": "truncate", "after": 3}),
    Row("HTML 502 page from a proxy on page 2", {"kind": "html", "after": 1}),
    Row("SOAP fault in HTTP 200 on page 2", {"soap_fault_on_200": True, "after": 1}, transport="soap"),
    Row("slow page past the timeout (page 2)", {"kind": "timeout", "delay": 2.0, "after": 1}, timeout=0.5),
    Row("slow page within the timeout (page 2)", {"delay": 0.3, "after": 1}, 0, timeout=3.0),
]


@pytest.mark.timeout(60)
@pytest.mark.parametrize("row", RECOVERABLE, ids=[r.name for r in RECOVERABLE])
def test_recoverable_fault_leaves_exactly_one_clean_run(
    world: World,
    row: Row,
    recorder: Recorder,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    emu = world.emu
    if row.transport != "rest":
        world.connect(transport=row.transport)
    world.timeout = row.timeout
    emu.faults.inject("SearchAccounts", **row.fault)

    stats, ti = world.to_sql(RUN_1)

    table = world.target.snapshot()
    ids = [r["account_id"] for r in table]
    lost, duplicated = lost_and_duplicated(emu.expected_account_ids, ids)
    leaked = secrets_in([caplog.text, str(stats), str(ti.pushed)], known_secrets(emu))
    recorder.record(f"discovery: {row.name} [{row.transport}]", lost=lost, duplicated=duplicated,
                    secrets_found=len(leaked))  # fmt: skip
    assert emu.faults.pending == []  # the fault fired
    assert emu.counters["SearchAccounts"] == PAGES + row.extra_requests
    assert table == world.expected_table(RUN_1, RUN_1)
    assert (stats["seen"], stats["inserted"], stats["duplicates"]) == (ACCOUNTS, ACCOUNTS, 0)
    assert leaked == []
    sleeps = world.sleeps
    if "retry_after" in row.fault:
        assert sleeps == [90.0]  # the server's wait, exactly (above the 60 s floor of code 117)
    elif row.fault.get("error_code") == 117:
        assert sleeps and sleeps[0] >= 60.0  # calls per minute: wait a minute (production policy)
    elif row.fault.get("error_code") == 109:
        assert sleeps == [] and emu.grant_counts["refresh_token"] == 2
        # the rotation made mid-run is what the Variable holds: the newest refresh token issued
        assert world.stored_refresh_token() == list(emu.identity.refresh_tokens)[-1]
    else:
        assert len(sleeps) == row.extra_requests  # one backoff per retry, nothing else


@pytest.mark.timeout(60)
def test_fault_storm_on_every_route_still_gives_exact_xcom(world: World, recorder: Recorder,
                                                           caplog: pytest.LogCaptureFixture) -> None:  # fmt: skip
    """The XCom operator under faults on GetUser, SearchAccounts, GetCustomer and the token endpoint at once."""
    emu = world.emu
    emu.faults.inject("token", kind="reset")  # the identity platform drops the first connection
    emu.faults.inject("GetUser", status=500)
    emu.faults.inject("SearchAccounts", kind="truncate", after=1)
    emu.faults.inject("SearchAccounts", error_code=2208, after=3)
    emu.faults.inject("GetCustomer", kind="html", after=1)
    op = MicrosoftAdsListAccountsOperator(
        task_id="list", msads_conn_id=world.conn_id, page_size=PAGE, hook_params=world.hook_params()
    )
    ti = FakeTI()
    rows = op.execute({"ti": ti, "dag_run": SimpleNamespace(run_after=RUN_1)})  # type: ignore[arg-type]
    ids = [r["account_id"] for r in rows]
    lost, duplicated = lost_and_duplicated(emu.expected_account_ids, ids)
    leaked = secrets_in([caplog.text, str(rows), str(ti.pushed)], known_secrets(emu))
    recorder.record("discovery: storm on token+GetUser+SearchAccounts+GetCustomer (XCom)", lost=lost,
                    duplicated=duplicated, secrets_found=len(leaked))  # fmt: skip
    assert emu.faults.pending == []
    assert ids == list(emu.expected_account_ids)
    assert rows == [{k: r[k] for k in rows[0]} for r in world.expected]
    assert leaked == []


# -- terminal: a precise error and the table exactly as before -------------------------------------------------


def _sandbox_token(w: World) -> None:
    w.connect(developer_token="BBD37VB98")


def _production_token_in_sandbox(w: World) -> None:
    w.connect(environment="sandbox")  # sandbox scope and endpoints, the production developer token


def _invalid_grant_mid_run(w: World) -> None:
    w.emu.faults.inject("SearchAccounts", error_code=109, after=1)
    w.emu.faults.inject("token", error_code=70008, after=1)


def _endless_5xx(w: World) -> None:
    w.emu.faults.inject("SearchAccounts", status=503, after=1, times=None)


def _endless_timeout(w: World) -> None:
    w.emu.faults.inject("SearchAccounts", kind="timeout", delay=1.0, after=1, times=None)


TERMINAL: list[
    tuple[str, Callable[[World], None], type[MicrosoftAdsError], tuple[str, ...], dict[str, int]]
] = [
    (
        "sandbox developer token with environment=production (refused before any call)",
        _sandbox_token,
        ConfigurationError,
        ("sandbox", "production", "developer_token"),
        {"token": 0, "GetUser": 0, "SearchAccounts": 0},
    ),
    (
        "105/106 production developer token against sandbox",
        _production_token_in_sandbox,
        ApiAuthenticationError,
        ("sandbox", "production", "developer_token", "Retrying will not help", "TrackingId"),
        {"GetUser": 1, "SearchAccounts": 0},
    ),
    (
        "invalid_grant mid-run (109 on page 2, refresh refused)",
        _invalid_grant_mid_run,
        TerminalAuthError,
        ("AADSTS70008, invalid_grant", "msads-auth", "re-consent"),
        {"SearchAccounts": 2, "token": 2},
    ),
    (
        "5xx on page 2 that never ends (retries exhausted)",
        _endless_5xx,
        TransientApiError,
        ("SearchAccounts failed", "HTTP 503", "TrackingId"),
        {"SearchAccounts": 1 + 5},
    ),
    (
        "page 2 never answers (timeout on every attempt)",
        _endless_timeout,
        NetworkError,
        ("SearchAccounts: timed out",),
        {"SearchAccounts": 1 + 5},
    ),
]


@pytest.mark.timeout(60)
@pytest.mark.parametrize(("name", "arrange", "cls", "says", "counts"), TERMINAL, ids=[t[0] for t in TERMINAL])
def test_terminal_fault_keeps_the_previous_table_and_says_what_to_do(
    world: World,
    name: str,
    arrange: Callable[[World], None],
    cls: type[MicrosoftAdsError],
    says: tuple[str, ...],
    counts: dict[str, int],
    recorder: Recorder,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    emu = world.emu
    world.to_sql(RUN_1)  # yesterday's good run
    before = world.target.snapshot()
    assert before == world.expected_table(RUN_1, RUN_1)
    emu.reset()
    world.conn_id = unique_conn_id()  # a fresh token chain for the reset emulator
    world.connect()
    world.timeout = 0.3
    arrange(world)

    with pytest.raises(Exception) as raised:
        world.to_sql(RUN_2)
    # Terminal errors reach Airflow as AirflowFailException (no task retries), the cause attached.
    error = raised.value.__cause__ if type(raised.value).__name__ == "AirflowFailException" else raised.value
    assert isinstance(error, cls), repr(raised.value)
    caught = SimpleNamespace(value=error)

    after = world.target.snapshot()
    lost, duplicated = lost_and_duplicated(
        [r["account_id"] for r in before], [r["account_id"] for r in after]
    )
    leaked = secrets_in([caplog.text, str(caught.value), repr(caught.value)], known_secrets(emu))
    recorder.record(f"discovery (terminal): {name}", lost=lost, duplicated=duplicated,
                    secrets_found=len(leaked), result=type(caught.value).__name__)  # fmt: skip
    assert emu.faults.pending == [] or all(f.times is None and f.fired for f in emu.faults.pending)
    for route, count in counts.items():
        assert emu.counters[route] == count, (route, emu.counters)
    message = str(caught.value)
    for fragment in says:
        assert fragment in message, (fragment, message)
    assert after == before
    assert leaked == []
