"""client.reporting.async_poll: one Poll on asyncio, with the same headers and errors as the sync client."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest

from airflow_provider_msads.client.environments import resolve_endpoints
from airflow_provider_msads.client.errors import ResponseTooLargeError, TransportError
from airflow_provider_msads.client.reporting import async_poll
from airflow_provider_msads.client.reporting.errors import ReportNotFoundError
from airflow_provider_msads.client.wire import Credentials

ENDPOINTS = resolve_endpoints("production", api_base_url="http://127.0.0.1:9")
CREDENTIALS = Credentials("access-token-xyz", "dev-token-xyz", 111, 222)


def poll(handler: object) -> object:
    async def go() -> object:
        transport = httpx.MockTransport(handler)  # type: ignore[arg-type]
        async with httpx.AsyncClient(transport=transport) as http:
            return await async_poll.poll_report_async(http, ENDPOINTS, CREDENTIALS, "r-1")

    return asyncio.run(go())


def test_a_poll_sends_the_documented_request_and_reads_the_status() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        body = {"ReportRequestStatus": {"Status": "Pending", "ReportDownloadUrl": None}}
        return httpx.Response(200, json=body)

    status = poll(handler)
    assert status.status == "Pending"  # type: ignore[attr-defined]
    (request,) = seen
    assert request.method == "POST"
    assert str(request.url) == "http://127.0.0.1:9/Reporting/v13/GenerateReport/Poll"
    assert json.loads(request.content) == {"ReportRequestId": "r-1"}
    assert request.headers["Authorization"] == "Bearer access-token-xyz"
    assert request.headers["DeveloperToken"] == "dev-token-xyz"
    assert (request.headers["CustomerId"], request.headers["CustomerAccountId"]) == ("111", "222")


def test_network_failures_and_oversized_answers_are_typed() -> None:
    def reset(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused")

    with pytest.raises(TransportError, match="PollGenerateReport: request failed: ConnectError"):
        poll(reset)

    def huge(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=b"x" * (async_poll.MAX_POLL_RESPONSE_BYTES + 10))

    with pytest.raises(ResponseTooLargeError):
        poll(huge)


def test_a_fault_is_the_same_typed_error_as_in_the_sync_client() -> None:
    def fault(request: httpx.Request) -> httpx.Response:
        body = {
            "Type": "ApiFaultDetail",
            "TrackingId": "t-1",
            "OperationErrors": [{"Code": 2100, "ErrorCode": "InvalidReportId", "Message": "bad id"}],
        }
        return httpx.Response(400, json=body, headers={"TrackingId": "t-1"})

    with pytest.raises(ReportNotFoundError) as err:
        poll(fault)
    assert "access-token-xyz" not in str(err.value) and "dev-token-xyz" not in str(err.value)


def test_one_shared_client_per_loop_closed_by_the_last_user() -> None:
    async def go() -> tuple[bool, bool, bool]:
        async with async_poll.shared_async_http_client() as a, async_poll.shared_async_http_client() as b:
            same = a is b
        async with async_poll.shared_async_http_client() as c:
            fresh = c is not a
        return same, a.is_closed, fresh

    assert asyncio.run(go()) == (True, True, True)
