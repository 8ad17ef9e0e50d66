"""What both wire formats share: operations, neutral request objects, and the one request/retry loop.

A codec (``rest.py`` or ``soap.py``; the connection's ``transport`` setting picks one) turns a neutral
request into bytes + headers, and a response into models or an exception. :class:`RequestRunner` does
everything else, once for both: fetch the token, send, cap the body size, enforce the total deadline,
map network failures, retry per :class:`RetryPolicy`, and refresh the token once on 109 / HTTP 401.

Time budget of one API request (documented in docs/troubleshooting.md): each attempt, from connecting
to the last byte, ends within ``timeout`` seconds (60 by default) however slowly the server sends; all
attempts and the waits between them end within ``RetryPolicy.max_total_seconds`` (300 by default).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Protocol, TypeVar
from urllib.parse import urlsplit

import httpx
import tenacity

from airflow_provider_msads.client.errors import (
    MalformedResponseError,
    NetworkError,
    ResponseTooLargeError,
    TokenExpiredError,
)
from airflow_provider_msads.client.faults import scrub_tracking_id
from airflow_provider_msads.client.http_client import check_deadline, deadline, remaining
from airflow_provider_msads.client.models import Account, Customer, UserInfo
from airflow_provider_msads.client.protocols import AccessTokenProvider
from airflow_provider_msads.client.retry import RetryPolicy

T = TypeVar("T")
log = logging.getLogger(__name__)

#: Default cap on one response body (decoded). A SOAP page of 1000 accounts is about 2.5 MB.
DEFAULT_MAX_RESPONSE_BYTES = 64 * 1024 * 1024
#: Default total time of one attempt, connect to last byte (a page of 1,000 accounts takes seconds).
DEFAULT_ATTEMPT_SECONDS = 60.0


@dataclass(frozen=True, slots=True)
class Operation:
    """One service operation: its name (SOAPAction, error messages) and REST path.

    ``account_scoped`` operations also send the CustomerId / CustomerAccountId headers; none of the
    Customer Management operations are (their SOAP binding does not even declare those headers).
    """

    name: str
    rest_path: str
    account_scoped: bool = False


GET_USER = Operation("GetUser", "User/Query")
SEARCH_ACCOUNTS = Operation("SearchAccounts", "Accounts/Search")
GET_ACCOUNT = Operation("GetAccount", "Account/Query")
GET_CUSTOMER = Operation("GetCustomer", "Customer/Query")


@dataclass(frozen=True, slots=True)
class Predicate:
    field: str
    operator: str
    value: str


@dataclass(frozen=True, slots=True)
class GetUserRequest:
    user_id: int | None


@dataclass(frozen=True, slots=True)
class SearchAccountsRequest:
    predicates: tuple[Predicate, ...]
    order_by: str | None
    ascending: bool
    page_index: int
    page_size: int
    return_additional_fields: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class GetAccountRequest:
    account_id: int
    return_additional_fields: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class GetCustomerRequest:
    customer_id: int


WireRequestBody = GetUserRequest | SearchAccountsRequest | GetAccountRequest | GetCustomerRequest


@dataclass(frozen=True, slots=True)
class Credentials:
    """What header assembly needs for one request. Secrets stay out of ``repr``."""

    access_token: str = field(repr=False)
    developer_token: str = field(repr=False)
    customer_id: int | None = None
    account_id: int | None = None


@dataclass(frozen=True, slots=True)
class WireRequest:
    url: str
    headers: Mapping[str, str] = field(repr=False)
    content: bytes = field(repr=False)


@dataclass(frozen=True, slots=True)
class WireResponse:
    """A fully read response plus what fault messages need (secrets only for redaction)."""

    operation: str
    status_code: int
    headers: httpx.Headers
    content: bytes
    secrets: tuple[str, ...] = field(default=(), repr=False)


class Codec(Protocol):
    """One wire format. Header assembly and wire <-> model mapping live in its implementation only."""

    name: str

    def encode(self, op: Operation, request: WireRequestBody, credentials: Credentials) -> WireRequest: ...

    def user_info(self, response: WireResponse) -> UserInfo: ...

    def accounts(self, response: WireResponse) -> list[Account]: ...

    def account(self, response: WireResponse) -> Account: ...

    def customer(self, response: WireResponse) -> Customer: ...


@dataclass(slots=True)
class ClientStats:
    """Counters for tests and benchmarks (not thread-safe; one client per hook use)."""

    requests: int = 0
    retries: int = 0
    pages: int = 0
    token_refreshes: int = 0
    bytes_received: int = 0


class RequestRunner:
    """Sends one operation with retries; the only place that talks to httpx."""

    def __init__(
        self,
        *,
        http: httpx.Client,
        codec: Codec,
        auth: AccessTokenProvider,
        developer_token: str,
        customer_id: int | None,
        account_id: int | None,
        policy: RetryPolicy,
        stats: ClientStats,
        timeout: httpx.Timeout | None,
        max_response_bytes: int,
        attempt_seconds: float = DEFAULT_ATTEMPT_SECONDS,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._http = http
        self._codec = codec
        self._auth = auth
        self._developer_token = developer_token
        self._customer_id = customer_id
        self._account_id = account_id
        self._policy = policy
        self._stats = stats
        self._timeout = timeout
        self._max_bytes = max_response_bytes
        self._attempt_seconds = attempt_seconds
        self._sleep = sleep

    def call(self, op: Operation, request: WireRequestBody, decode: Callable[[WireResponse], T]) -> T:
        """Send ``request`` until it succeeds, fails terminally, or the retry budget is spent.

        On 109 / HTTP 401 the token is invalidated and the request resent once with a fresh token,
        whichever attempt it happens on; a second rejection is raised (never a refresh loop). A
        :class:`NetworkError` that ends the retries names the host and the number of attempts.
        """
        refreshed = False
        attempts = 0
        host: str | None = None

        def attempt() -> T:
            nonlocal refreshed, attempts, host
            attempts += 1
            while True:
                # The token has its own budget (the token endpoint's 30 s, within this request's
                # overall deadline); the attempt's own deadline covers only this exchange.
                token = self._auth.get_access_token()
                wire = self._encode(op, request, token)
                host = urlsplit(wire.url).hostname
                try:
                    with deadline(self._attempt_seconds):
                        return decode(self._exchange(op, wire, token))
                except TokenExpiredError:
                    if refreshed:
                        raise
                    refreshed = True
                    self._stats.token_refreshes += 1
                    self._auth.invalidate(token)

        retrying = self._policy.retrying(sleep=self._sleep, before_sleep=self._count_retry)
        with deadline(self._policy.max_total_seconds):
            try:
                return retrying(attempt)
            except NetworkError as exc:
                raise exc.with_attempts(host, attempts) from None

    def _count_retry(self, state: tenacity.RetryCallState) -> None:
        self._stats.retries += 1
        exc = state.outcome.exception() if state.outcome is not None else None
        log.warning(
            "attempt %d failed, retrying in %.2f s: %s",
            state.attempt_number,
            state.upcoming_sleep,
            exc,  # messages never carry secrets (built from codes and scrubbed server text)
        )

    def _encode(self, op: Operation, request: WireRequestBody, token: str) -> WireRequest:
        credentials = Credentials(token, self._developer_token, self._customer_id, self._account_id)
        return self._codec.encode(op, request, credentials)

    def _exchange(self, op: Operation, wire: WireRequest, token: str) -> WireResponse:
        http_request = self._http.build_request(
            "POST",
            wire.url,
            content=wire.content,
            headers=wire.headers,
            timeout=self._timeout if self._timeout is not None else httpx.USE_CLIENT_DEFAULT,
        )
        self._stats.requests += 1
        try:
            response = self._http.send(http_request, stream=True)
        except httpx.TimeoutException as exc:
            raise NetworkError(_timed_out(exc), operation=op.name) from None
        except httpx.ConnectError as exc:  # the OS reason ("Connection refused") helps; it holds no headers
            raise NetworkError(f"cannot connect ({exc})", operation=op.name) from None
        except httpx.TransportError as exc:  # other texts may quote request bytes: name the class only
            raise NetworkError(f"request failed ({type(exc).__name__})", operation=op.name) from None
        try:
            content = self._read_capped(op, response, (token, self._developer_token))
        finally:
            response.close()
        self._stats.bytes_received += len(content)
        return WireResponse(
            op.name, response.status_code, response.headers, content, (token, self._developer_token)
        )

    def _read_capped(self, op: Operation, response: httpx.Response, secrets: tuple[str, ...]) -> bytes:
        tracking_id = scrub_tracking_id(response.headers.get("TrackingId"), secrets)
        declared = response.headers.get("Content-Length")
        if declared is not None and declared.isdigit() and int(declared) > self._max_bytes:
            raise ResponseTooLargeError(
                f"response declares {declared} bytes, over the {self._max_bytes}-byte cap",
                operation=op.name,
                tracking_id=tracking_id,
            )
        chunks: list[bytes] = []
        size = 0
        try:
            for chunk in response.iter_bytes():
                check_deadline()  # also bounds borrowed clients that lack the socket-level deadline
                size += len(chunk)
                if size > self._max_bytes:
                    raise ResponseTooLargeError(
                        f"response body exceeds the {self._max_bytes}-byte cap",
                        operation=op.name,
                        tracking_id=tracking_id,
                    )
                chunks.append(chunk)
        except httpx.RemoteProtocolError:
            raise MalformedResponseError(
                "connection closed before the response body was complete (truncated)",
                operation=op.name,
                tracking_id=tracking_id,
            ) from None
        except httpx.DecodingError as exc:
            raise MalformedResponseError(
                f"response body could not be decoded ({type(exc).__name__})",
                operation=op.name,
                tracking_id=tracking_id,
            ) from None
        except httpx.TimeoutException as exc:
            raise NetworkError(
                _timed_out(exc, reading=True), operation=op.name, tracking_id=tracking_id
            ) from None
        except httpx.TransportError as exc:
            raise NetworkError(
                f"reading the response failed ({type(exc).__name__})",
                operation=op.name,
                tracking_id=tracking_id,
            ) from None
        return b"".join(chunks)


def _timed_out(exc: httpx.TimeoutException, *, reading: bool = False) -> str:
    """Say which bound ended the wait: the total deadline (slow or dripping server) or a socket timeout."""
    left = remaining()
    what = "reading the response " if reading else ""
    if left is not None and left <= 0.05:
        return f"timed out {what}(the total deadline passed: the server answered too slowly)"
    return f"timed out {what}({type(exc).__name__})"
