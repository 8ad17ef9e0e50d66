"""MicrosoftAdsReportTrigger against the emulator, on a real asyncio loop.

Reports are submitted with the synchronous client (as the operator does in the worker), then the trigger
polls them through the shared async client. Tokens come from the same encrypted Variable store the
workers use (the migrated test metadata DB stands in for the execution API).
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_msads.client.reporting import ReportRequest
from airflow_provider_msads.hooks.msads import MicrosoftAdsHook
from airflow_provider_msads.hooks.token_store import variable_key
from airflow_provider_msads.provider_info import get_provider_info
from airflow_provider_msads.testing import DEMO_CLIENT_SECRET, DEMO_DEVELOPER_TOKEN, DEMO_REFRESH_TOKEN
from airflow_provider_msads.triggers import reports as trigger_module
from airflow_provider_msads.triggers.reports import CLASSPATH, MicrosoftAdsReportTrigger

FAST = {"poll_interval": 0.05, "max_poll_interval": 0.2}


@pytest.fixture
def conn_id(msads_emulator: Any, monkeypatch: pytest.MonkeyPatch, airflow_db: Path) -> Iterator[str]:
    """A fresh msads connection to the emulator; its token Variable is removed afterwards."""
    conn_id = f"msads_trig_{uuid.uuid4().hex[:8]}"
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", msads_emulator.airflow_conn_json())
    yield conn_id
    from airflow.models.variable import Variable

    Variable.delete(variable_key(conn_id))


def secrets_of(emu: Any) -> list[str]:
    issued = [*emu.identity.refresh_tokens, *emu.identity.access_tokens]
    return [DEMO_REFRESH_TOKEN, DEMO_CLIENT_SECRET, DEMO_DEVELOPER_TOKEN, *issued]


def submit(conn_id: str, emu: Any, n: int = 1) -> list[str]:
    """Submit ``n`` one-account daily reports for yesterday; return their ReportRequestIds."""
    day = emu.reporting.today - timedelta(days=1)
    ids = list(emu.expected_account_ids)[:n]
    with MicrosoftAdsHook(conn_id).get_client() as client:
        return [
            client.submit_report(
                ReportRequest(
                    report="AccountPerformance",
                    columns=["TimePeriod", "AccountId", "Clicks"],
                    aggregation="Daily",
                    start=day,
                    end=day,
                    account_ids=[account],
                )
            )
            for account in ids
        ]


def trigger(
    conn_id: str, ids: list[str], *, deadline_in: float = 60.0, **schedule: float
) -> MicrosoftAdsReportTrigger:
    return MicrosoftAdsReportTrigger(
        msads_conn_id=conn_id,
        report_request_ids=ids,
        deadline=time.time() + deadline_in,
        **{**FAST, **schedule},
    )


async def first_event(t: MicrosoftAdsReportTrigger) -> dict[str, Any]:
    events: AsyncIterator[Any] = t.run()
    event = await anext(events)
    return dict(event.payload)


def run(coro: Any) -> Any:
    return asyncio.run(coro)


# -- registration and arguments --------------------------------------------------------------------------


def test_trigger_is_registered_and_its_kwargs_hold_ids_only(conn_id: str, msads_emulator: Any) -> None:
    (entry,) = get_provider_info()["triggers"]
    assert entry["python-modules"] == ["airflow_provider_msads.triggers.reports"]
    t = trigger(conn_id, ["r1", "r2"])
    classpath, kwargs = t.serialize()
    assert classpath == CLASSPATH
    assert set(kwargs) == {
        "msads_conn_id",
        "report_request_ids",
        "deadline",
        "poll_interval",
        "max_poll_interval",
        "poll_factor",
    }
    again = MicrosoftAdsReportTrigger(**kwargs)  # what the triggerer does after a restart
    assert again.serialize() == (classpath, kwargs)
    MicrosoftAdsHook(conn_id).settings  # noqa: B018 - the connection's secrets, read as a task would
    text = json.dumps(kwargs) + repr(t)
    assert [s[:6] for s in secrets_of(msads_emulator) if s in text] == []


# -- polling ---------------------------------------------------------------------------------------------


def test_pending_success_and_error_each_reported(conn_id: str, msads_emulator: Any) -> None:
    msads_emulator.reporting.script(outcome="success", pending=3, times=1)
    msads_emulator.reporting.script(outcome="error", pending=1, times=1)
    ok, failed = submit(conn_id, msads_emulator, 2)
    polls_before = msads_emulator.reporting.counters["polls"]

    event = run(first_event(trigger(conn_id, [ok, failed])))

    assert event["status"] == "done" and event["error"] is None
    assert event["reports"] == {ok: "Success", failed: "Error"}
    assert msads_emulator.reporting.counters["polls"] - polls_before == 4 + 2 == event["polls"]
    assert msads_emulator.reporting.counters["downloads"] == 0, "the trigger never downloads"
    assert "ReportDownloadUrl" not in json.dumps(event) and "http" not in json.dumps(event)


def test_transient_poll_failures_and_throttling_are_polled_again(conn_id: str, msads_emulator: Any) -> None:
    (rid,) = submit(conn_id, msads_emulator)
    msads_emulator.faults.inject("PollGenerateReport", status=503, times=1)
    msads_emulator.faults.inject("PollGenerateReport", kind="reset", times=1)
    msads_emulator.faults.inject("PollGenerateReport", retry_after=0.1, times=1)

    event = run(first_event(trigger(conn_id, [rid])))

    assert event["status"] == "done" and event["reports"] == {rid: "Success"}


def test_an_expired_access_token_is_refreshed_once(conn_id: str, msads_emulator: Any) -> None:
    msads_emulator.reporting.script(pending=2)
    (rid,) = submit(conn_id, msads_emulator)
    grants = msads_emulator.grant_counts["refresh_token"]
    msads_emulator.expire_access_tokens()

    event = run(first_event(trigger(conn_id, [rid])))

    assert event["status"] == "done"
    assert msads_emulator.grant_counts["refresh_token"] == grants + 1


def test_a_terminal_fault_fails_the_wait_without_secrets(conn_id: str, msads_emulator: Any) -> None:
    (rid,) = submit(conn_id, msads_emulator)
    msads_emulator.faults.inject("PollGenerateReport", status=403, error_code=106, times=None)

    event = run(first_event(trigger(conn_id, [rid])))

    assert event["status"] == "failed"
    assert "106" in event["error"] or "UserIsNotAuthorized" in event["error"], event
    assert [s[:6] for s in secrets_of(msads_emulator) if s in json.dumps(event)] == []


def test_the_deadline_ends_the_wait(conn_id: str, msads_emulator: Any) -> None:
    msads_emulator.reporting.script(pending=10_000)
    (rid,) = submit(conn_id, msads_emulator)
    started = time.monotonic()

    event = run(first_event(trigger(conn_id, [rid], deadline_in=0.5)))

    assert event["status"] == "timeout" and event["reports"] == {rid: "Pending"}
    assert "raise poll_timeout" in event["error"]
    assert time.monotonic() - started < 5


def test_backoff_stays_within_its_bound(conn_id: str, msads_emulator: Any) -> None:
    msads_emulator.reporting.script(pending=6)
    (rid,) = submit(conn_id, msads_emulator)
    waits: list[float] = []
    real_sleep = asyncio.sleep

    async def recording_sleep(seconds: float) -> None:
        waits.append(seconds)
        await real_sleep(0)

    t = trigger(conn_id, [rid], poll_interval=1.0, max_poll_interval=4.0)

    async def go() -> dict[str, Any]:
        settings = await trigger_module.load_settings(conn_id)
        async with trigger_module.shared_resources() as http:
            poller = trigger_module.ReportPoller(
                conn_id, settings, http, t.schedule, t.deadline, t.log, sleep=recording_sleep
            )
            return await poller.wait_all({rid: "Pending"})

    event = run(go())
    assert event["status"] == "done"
    assert waits == [1.0, 1.5, 2.25, 3.375, 4.0, 4.0, 4.0]


# -- one loop, many triggers -----------------------------------------------------------------------------


def test_triggers_on_one_loop_share_one_http_client_and_one_token(
    conn_id: str, msads_emulator: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ten triggers, each polling several times: one AsyncClient, one token hop, no thread per poll."""
    msads_emulator.reporting.script(pending=3, times=None)
    ids = submit(conn_id, msads_emulator, 10)
    MicrosoftAdsHook(conn_id).get_user()  # a worker already shared an access token through the Variable
    grants = msads_emulator.grant_counts["refresh_token"]

    import asgiref.sync
    import httpx

    hops: list[str] = []
    real_sync_to_async = asgiref.sync.sync_to_async

    def counting(func: Any, *args: Any, **kwargs: Any) -> Any:
        hops.append(getattr(func, "__name__", "?"))
        return real_sync_to_async(func, *args, **kwargs)

    monkeypatch.setattr(asgiref.sync, "sync_to_async", counting)
    clients: list[httpx.AsyncClient] = []
    real_init = httpx.AsyncClient.__init__

    def recording_init(self: httpx.AsyncClient, *args: Any, **kwargs: Any) -> None:
        clients.append(self)
        real_init(self, *args, **kwargs)

    monkeypatch.setattr(httpx.AsyncClient, "__init__", recording_init)

    async def all_of_them() -> list[dict[str, Any]]:
        return await asyncio.gather(*(first_event(trigger(conn_id, [rid])) for rid in ids))

    events = run(all_of_them())

    assert [e["status"] for e in events] == ["done"] * 10
    polls = sum(e["polls"] for e in events)
    assert polls == 40
    assert len(clients) == 1, "one shared AsyncClient per event loop"
    assert clients[0].is_closed, "closed when the last trigger finished"
    assert hops.count("_obtain") == 1, hops
    assert hops.count("_settings_of") == 10, hops  # one per trigger start: reading its connection
    assert len(hops) < polls, "thread hops do not grow with polls"
    assert msads_emulator.grant_counts["refresh_token"] == grants, "the workers' shared token was reused"


def test_a_restarted_triggerer_resumes_from_the_kwargs(conn_id: str, msads_emulator: Any) -> None:
    msads_emulator.reporting.script(pending=4)
    (rid,) = submit(conn_id, msads_emulator)
    first = trigger(conn_id, [rid])

    async def killed_after_first_poll() -> None:
        task = asyncio.ensure_future(first_event(first))
        while msads_emulator.reporting.counters["polls"] < 1:
            await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    run(killed_after_first_poll())
    _, kwargs = first.serialize()
    event = run(first_event(MicrosoftAdsReportTrigger(**kwargs)))
    assert event["status"] == "done" and event["reports"] == {rid: "Success"}
    assert kwargs["deadline"] == first.deadline


def test_connection_lookup_without_aget_connection(
    conn_id: str, msads_emulator: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The 3.1 floor may lack BaseHook.aget_connection: the sync lookup runs through sync_to_async."""
    from airflow.sdk import BaseHook

    monkeypatch.delattr(BaseHook, "aget_connection", raising=False)
    conn = run(trigger_module.get_connection(conn_id))
    assert conn.conn_type == "msads"
    settings = run(trigger_module.load_settings(conn_id))
    assert settings.api_base_url == msads_emulator.url
