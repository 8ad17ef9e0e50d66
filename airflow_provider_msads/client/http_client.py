"""The one place that builds ``httpx.Client`` objects, and the total deadline every request runs under.

httpx's timeouts bound each socket operation, not a request: a server that drips one byte per second
never trips a 60 s read timeout. :func:`deadline` sets a point in time (per thread / task, through a
context variable) and every socket connect, read and write of a client made by :func:`new_http_client`
is clamped to it, so the request fails with a timeout when the deadline passes, whatever the server
does. Nested deadlines keep the nearer one (an attempt inside a request's overall budget).

The TLS context is created once per process (loading the CA bundle costs tens of milliseconds) and
shared by every client; a client whose endpoints are all plain-http loopback (the emulator) does not
load the bundle at all.
"""

from __future__ import annotations

import contextvars
import functools
import ssl
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpcore
import httpx

from airflow_provider_msads import __version__

_DEADLINE: contextvars.ContextVar[float | None] = contextvars.ContextVar("msads_deadline", default=None)


class _DeadlineExceeded(httpx.TimeoutException):
    """Raised by :func:`check_deadline` (an ``httpx.TimeoutException``, so callers treat it as one)."""


@contextmanager
def deadline(seconds: float) -> Iterator[float]:
    """Within this block, requests of our clients end by ``now + seconds`` (or an outer, nearer deadline).

    Yields the monotonic time of the deadline.
    """
    at = time.monotonic() + max(0.0, seconds)
    outer = _DEADLINE.get()
    if outer is not None and outer < at:
        at = outer
    token = _DEADLINE.set(at)
    try:
        yield at
    finally:
        _DEADLINE.reset(token)


def remaining() -> float | None:
    """Seconds left before the current deadline (negative when passed); None without a deadline."""
    at = _DEADLINE.get()
    return None if at is None else at - time.monotonic()


def check_deadline() -> None:
    """Raise :class:`_DeadlineExceeded` if the current deadline has passed (between body chunks)."""
    left = remaining()
    if left is not None and left <= 0:
        raise _DeadlineExceeded("the request's total deadline passed")


def _clamp(timeout: float | None, exc_type: type[Exception]) -> float | None:
    left = remaining()
    if left is None:
        return timeout
    if left <= 0:
        raise exc_type("the request's total deadline passed")
    return left if timeout is None else min(timeout, left)


class _DeadlineStream(httpcore.NetworkStream):
    """A socket stream whose every operation ends by the current deadline."""

    def __init__(self, inner: httpcore.NetworkStream) -> None:
        self._inner = inner

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, _clamp(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, _clamp(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(
        self, ssl_context: ssl.SSLContext, server_hostname: str | None = None, timeout: float | None = None
    ) -> httpcore.NetworkStream:
        inner = self._inner.start_tls(ssl_context, server_hostname, _clamp(timeout, httpcore.ConnectTimeout))
        return _DeadlineStream(inner)

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class _DeadlineBackend(httpcore.NetworkBackend):
    def __init__(self, inner: httpcore.NetworkBackend) -> None:
        self._inner = inner

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Any = None,
    ) -> httpcore.NetworkStream:
        stream = self._inner.connect_tcp(
            host, port, _clamp(timeout, httpcore.ConnectTimeout), local_address, socket_options
        )
        return _DeadlineStream(stream)

    def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Any = None
    ) -> httpcore.NetworkStream:
        stream = self._inner.connect_unix_socket(
            path, _clamp(timeout, httpcore.ConnectTimeout), socket_options
        )
        return _DeadlineStream(stream)

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


def new_http_client(timeout: httpx.Timeout, *, tls: bool = True) -> httpx.Client:
    """An httpx.Client for one hook use: keep-alive, bounded pool, no redirects, total deadlines.

    :param timeout: per-operation timeouts (the total per request comes from :func:`deadline`).
    :param tls: False when every URL the client will call is plain-http loopback (no CA bundle load).
    """
    client = httpx.Client(
        timeout=timeout,
        limits=httpx.Limits(max_connections=10, max_keepalive_connections=5, keepalive_expiry=30.0),
        headers={"User-Agent": f"airflow-provider-msads/{__version__}"},
        follow_redirects=False,
        verify=shared_ssl_context() if tls else _no_ca_context(),
    )
    _install_deadlines(client)
    return client


@functools.cache
def shared_ssl_context() -> ssl.SSLContext:
    """One verifying TLS context per process (certifi's CA bundle, as httpx would build it)."""
    return httpx.create_ssl_context()


@functools.cache
def _no_ca_context() -> ssl.SSLContext:
    # Verifying, but with no CA loaded: any https call through it fails closed, never insecurely.
    return ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)


def _install_deadlines(client: httpx.Client) -> None:
    """Wrap the network backend of every connection pool of ``client`` (default transport and proxies).

    httpx has no public hook for this; httpcore pools keep their backend in ``_network_backend``. If a
    future httpx moves it, requests still get the between-chunks deadline check of the runner, and
    ``tests/client/test_client_deadlines.py`` fails so the gap is noticed.
    """
    transports = [client._transport, *(t for t in client._mounts.values() if t is not None)]
    for transport in transports:
        pool = getattr(transport, "_pool", None)
        backend = getattr(pool, "_network_backend", None)
        if backend is not None and not isinstance(backend, _DeadlineBackend):
            pool._network_backend = _DeadlineBackend(backend)  # type: ignore[union-attr]
