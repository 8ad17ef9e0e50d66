"""Reporting ``GenerateReport/Poll`` on asyncio, for the deferrable operators' trigger (Airflow-free).

The trigger runs on Airflow's triggerer, one asyncio event loop shared by every deferred task. What it
needs from the wire is one call, Poll, so this module offers exactly that, built from the sans-IO pieces
in :mod:`.protocol` (URL, body, headers from the one header assembly, the meaning of the answer): no
second home for any protocol fact, only a different way of sending the bytes.

* :func:`shared_async_http_client`: one ``httpx.AsyncClient`` per event loop (reference-counted: closed
  when its last user leaves), so a thousand deferred polls share one connection pool and no thread.
* :func:`poll_report_async`: one Poll; network failures become :class:`NetworkError`, faults the
  typed reporting errors that the synchronous client raises.
"""

from __future__ import annotations

import asyncio
import json
import weakref
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import httpx

from airflow_provider_msads import __version__
from airflow_provider_msads.client.environments import Endpoints
from airflow_provider_msads.client.errors import NetworkError, ResponseTooLargeError
from airflow_provider_msads.client.http_client import shared_ssl_context
from airflow_provider_msads.client.reporting.protocol import (
    POLL,
    ReportStatus,
    parse_poll_response,
    poll_headers,
    poll_request,
)
from airflow_provider_msads.client.wire import Credentials

#: Same bounds as the synchronous client: connecting should be quick, answers may take a while.
DEFAULT_ASYNC_TIMEOUT = httpx.Timeout(60.0, connect=10.0, pool=30.0)
#: One triggerer may wait for many reports at once; keep the pool bounded all the same.
MAX_CONNECTIONS = 50
#: A Poll answer is a few hundred bytes; anything this large is not one.
MAX_POLL_RESPONSE_BYTES = 1024 * 1024

AsyncHttpClient = httpx.AsyncClient


def new_async_http_client(timeout: httpx.Timeout = DEFAULT_ASYNC_TIMEOUT) -> httpx.AsyncClient:
    """An ``httpx.AsyncClient`` like :func:`~airflow_provider_msads.client.client.new_http_client`."""
    return httpx.AsyncClient(
        timeout=timeout,
        limits=httpx.Limits(
            max_connections=MAX_CONNECTIONS, max_keepalive_connections=20, keepalive_expiry=30.0
        ),
        headers={"User-Agent": f"airflow-provider-msads/{__version__}"},
        follow_redirects=False,
        verify=shared_ssl_context(),  # one CA bundle per process, as the synchronous clients share
    )


@dataclass
class _Shared:
    client: httpx.AsyncClient
    users: int = 0


_PER_LOOP: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Shared] = weakref.WeakKeyDictionary()


@asynccontextmanager
async def shared_async_http_client() -> AsyncIterator[httpx.AsyncClient]:
    """The running event loop's one ``httpx.AsyncClient``; closed when the last user leaves."""
    loop = asyncio.get_running_loop()
    shared = _PER_LOOP.get(loop)
    if shared is None or shared.client.is_closed:
        shared = _PER_LOOP[loop] = _Shared(new_async_http_client())
    shared.users += 1
    try:
        yield shared.client
    finally:
        shared.users -= 1
        if shared.users == 0:
            if _PER_LOOP.get(loop) is shared:
                del _PER_LOOP[loop]
            await shared.client.aclose()


async def poll_report_async(
    http: httpx.AsyncClient,
    endpoints: Endpoints,
    credentials: Credentials,
    report_request_id: str,
    *,
    environment: str = "production",
) -> ReportStatus:
    """One ``GenerateReport/Poll``: :class:`ReportStatus`, or the typed error the answer means."""
    url, body = poll_request(endpoints, report_request_id)
    headers = poll_headers(endpoints, credentials)
    chunks: list[bytes] = []
    size = 0
    try:
        async with http.stream("POST", url, content=json.dumps(body).encode(), headers=headers) as response:
            async for chunk in response.aiter_bytes():
                size += len(chunk)
                if size > MAX_POLL_RESPONSE_BYTES:
                    raise ResponseTooLargeError(
                        f"Poll answered more than {MAX_POLL_RESPONSE_BYTES} bytes",
                        operation=POLL.name,
                        tracking_id=response.headers.get("TrackingId"),
                    )
                chunks.append(chunk)
    except httpx.TimeoutException as err:
        raise NetworkError(f"timed out ({type(err).__name__})", operation=POLL.name) from None
    except httpx.TransportError as err:
        raise NetworkError(f"request failed: {type(err).__name__}", operation=POLL.name) from None
    return parse_poll_response(
        response.status_code,
        response.headers,
        b"".join(chunks),
        environment=environment,
        secrets=(credentials.access_token, credentials.developer_token),
    )
