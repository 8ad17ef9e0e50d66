"""Total deadlines (issue 16): a server that drips bytes cannot stretch a request past its budget.

The fake server is a real socket on 127.0.0.1 that answers every request by sending one byte at a time
with a pause between bytes, either in the headers or in the body, for a bounded number of bytes. httpx's
timeouts are per socket operation, so without a total deadline each of these requests would run for as
long as the server keeps dripping.
"""

from __future__ import annotations

import logging
import socket
import socketserver
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from airflow_provider_msads.client.auth import AuthRetryPolicy, OAuthClient
from airflow_provider_msads.client.client import MicrosoftAdsClient
from airflow_provider_msads.client.environments import resolve_endpoints
from airflow_provider_msads.client.errors import ConfigurationError, NetworkError, TransientAuthError
from airflow_provider_msads.client.http_client import deadline, new_http_client
from airflow_provider_msads.client.retry import RetryPolicy

HEADERS = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n"


@dataclass
class Drip:
    url: str
    requests: int = 0


def _serve(where: str, interval: float, max_bytes: int) -> Iterator[Drip]:
    stop = threading.Event()
    drip = Drip("")

    class Handler(socketserver.BaseRequestHandler):
        def handle(self) -> None:
            sock: socket.socket = self.request
            sock.settimeout(5)
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = sock.recv(65536)
                if not chunk:
                    return
                data += chunk
            drip.requests += 1
            payload = HEADERS + b"[" * max_bytes if where == "headers" else b"[" * max_bytes
            if where == "body":
                sock.sendall(HEADERS)
            for i in range(len(payload)):
                if stop.wait(interval):
                    return
                try:
                    sock.sendall(payload[i : i + 1])
                except OSError:
                    return  # the client gave up: good

    class Server(socketserver.ThreadingTCPServer):
        daemon_threads = True
        allow_reuse_address = True

    server = Server(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    drip.url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield drip
    finally:
        stop.set()
        server.shutdown()
        server.server_close()


@pytest.fixture(params=["headers", "body"])
def dripping(request: pytest.FixtureRequest) -> Iterator[Drip]:
    """A fast drip (one byte per 50 ms, at most 400 bytes = 20 s) in the headers or in the body."""
    yield from _serve(str(request.param), 0.05, 400)


class _Auth:
    def get_access_token(self) -> str:
        return "access-token-0123456789"

    def invalidate(self, access_token: str) -> None:
        pass


def test_an_api_request_ends_within_its_attempt_budget(dripping: Drip) -> None:
    endpoints = resolve_endpoints("production", api_base_url=dripping.url)
    policy = RetryPolicy(max_attempts=2, max_total_seconds=30, backoff_base=0.01, backoff_max=0.01)
    started = time.monotonic()
    client = MicrosoftAdsClient(_Auth(), "DEVTOKEN0123456789", endpoints, retry=policy, timeout=0.5)
    with client, pytest.raises(NetworkError) as caught:
        client.get_user()
    elapsed = time.monotonic() - started
    assert elapsed < 1.6, elapsed  # 2 attempts x 0.5 s (each would otherwise drip for 20 s)
    assert dripping.requests == 2
    assert caught.value.attempts == 2 and "deadline" in str(caught.value)


def test_the_overall_budget_bounds_all_attempts(dripping: Drip) -> None:
    endpoints = resolve_endpoints("production", api_base_url=dripping.url)
    policy = RetryPolicy(max_attempts=10, max_total_seconds=1.0, backoff_base=0.01, backoff_max=0.01)
    started = time.monotonic()
    client = MicrosoftAdsClient(_Auth(), "DEVTOKEN0123456789", endpoints, retry=policy, timeout=30)
    with client, pytest.raises(NetworkError):
        client.get_user()
    assert time.monotonic() - started < 1.5


def test_the_token_endpoint_ends_within_its_budget(dripping: Drip) -> None:
    endpoints = resolve_endpoints("production", auth_base_url=dripping.url)
    policy = AuthRetryPolicy(
        max_attempts=4, max_total_seconds=1.0, initial_wait=0.01, max_wait=0.01, jitter=0
    )
    with new_http_client(httpx.Timeout(60.0), tls=False) as http:
        oauth = OAuthClient(
            endpoints=endpoints, client_id="client-id", client_secret=None, http=http, retry=policy
        )
        started = time.monotonic()
        with pytest.raises(TransientAuthError, match="timed out"):
            oauth.refresh("refresh-token-0123456789")
    assert time.monotonic() - started < 1.5


@pytest.mark.slow
def test_one_byte_per_second_at_the_token_endpoint_ends_within_30_seconds() -> None:
    # The probe of issue 16, with the documented default budget: it was still running after 130 s.
    for drip in _serve("body", 1.0, 200):
        endpoints = resolve_endpoints("production", auth_base_url=drip.url)
        with new_http_client(httpx.Timeout(60.0), tls=False) as http:
            oauth = OAuthClient(endpoints=endpoints, client_id="client-id", client_secret=None, http=http)
            started = time.monotonic()
            with pytest.raises(TransientAuthError):
                oauth.refresh("refresh-token-0123456789")
        assert time.monotonic() - started < AuthRetryPolicy().max_total_seconds + 1.5


def test_nested_deadlines_keep_the_nearer_one() -> None:
    with deadline(10) as outer, deadline(1) as inner:
        assert inner < outer
    with deadline(1) as outer, deadline(10) as inner:
        assert inner == outer


def test_a_developer_token_with_a_line_break_never_reaches_the_wire_or_the_log(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Issue 16: httpx quoted it as b'...\n...' (which the masker does not match) and it was retried 5 times.
    hits: list[httpx.Request] = []
    http = httpx.Client(transport=httpx.MockTransport(lambda r: hits.append(r) or httpx.Response(500)))
    token = "DEVTOKEN01\n23456789"
    with caplog.at_level(logging.DEBUG), pytest.raises(ConfigurationError) as caught:
        MicrosoftAdsClient(_Auth(), token, resolve_endpoints("production"), http=http)
    assert hits == []
    for text in (caplog.text, str(caught.value), repr(caught.value)):
        assert "DEVTOKEN01" not in text and "23456789" not in text
