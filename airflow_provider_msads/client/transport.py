"""What both transports share: operations, neutral request objects, and the one request/retry loop.

A codec (``rest.py`` or ``soap.py``) turns a neutral request into bytes + headers, and a response into
models or an exception. :class:`RequestRunner` does everything else, once for both: fetch the token,
send, cap the body size, map network failures, retry per :class:`RetryPolicy`, and refresh the token
once on 109 / HTTP 401.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

import httpx
import tenacity

from airflow_provider_msads.client.errors import (
    MalformedResponseError,
    ResponseTooLargeError,
    TokenExpiredError,
    TransportError,
)
from airflow_provider_msads.client.models import Account, Customer, UserInfo
from airflow_provider_msads.client.protocols import AccessTokenProvider
from airflow_provider_msads.client.retry import RetryPolicy

T = TypeVar("T")
log = logging.getLogger(__name__)

#: Default cap on one response body (decoded). A SOAP page of 1000 accounts is about 2.5 MB.
DEFAULT_MAX_RESPONSE_BYTES = 64 * 1024 * 1024
_MAX_WIRE_INT = 2**63 - 1  # ids are signed 64-bit (long) on both wire formats


def wire_int(value: object) -> int:
    """An id or count as the services send it: a JSON number / string or XML text of ASCII digits.

    Anything else (floats, booleans, negative numbers, other scripts' digits, values beyond 64 bits)
    raises ``ValueError``, which the codecs report as a malformed response: a bad id must never be
    rounded, wrapped or passed on to a warehouse table.
    """
    # Fast path for the usual wire form (hot: four calls per account): fewer than 19 ASCII digits and
    # no whitespace is always within range, so the result equals the checked path's below.
    if value.__class__ is str and len(value) < 19 and value.isdigit() and value.isascii():
        return int(value)
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, str) and (text := value.strip()).isascii() and text.isdigit() and len(text) <= 19:
        number = int(text)
    else:
        raise ValueError(f"{str(value)[:40]!r} is not a 64-bit integer")
    if not 0 <= number <= _MAX_WIRE_INT:
        raise ValueError(f"{number} is outside the signed 64-bit range")
    return number


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
        self._sleep = sleep

    def call(self, op: Operation, request: WireRequestBody, decode: Callable[[WireResponse], T]) -> T:
        """Send ``request`` until it succeeds, fails terminally, or the retry budget is spent.

        On 109 / HTTP 401 the token is invalidated and the request resent once with a fresh token,
        whichever attempt it happens on; a second rejection is raised (never a refresh loop).
        """
        refreshed = False

        def attempt() -> T:
            nonlocal refreshed
            while True:
                token = self._auth.get_access_token()
                try:
                    return decode(self._exchange(op, request, token))
                except TokenExpiredError:
                    if refreshed:
                        raise
                    refreshed = True
                    self._stats.token_refreshes += 1
                    self._auth.invalidate(token)

        retrying = self._policy.retrying(sleep=self._sleep, before_sleep=self._count_retry)
        return retrying(attempt)

    def _count_retry(self, state: tenacity.RetryCallState) -> None:
        self._stats.retries += 1
        exc = state.outcome.exception() if state.outcome is not None else None
        log.warning(
            "attempt %d failed, retrying in %.2f s: %s",
            state.attempt_number,
            state.upcoming_sleep,
            exc,  # messages never carry secrets (built from codes and redacted server text)
        )

    def _exchange(self, op: Operation, request: WireRequestBody, token: str) -> WireResponse:
        credentials = Credentials(token, self._developer_token, self._customer_id, self._account_id)
        wire = self._codec.encode(op, request, credentials)
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
            raise TransportError(f"timed out ({type(exc).__name__})", operation=op.name) from None
        except httpx.TransportError as exc:
            raise TransportError(f"request failed: {type(exc).__name__}: {exc}", operation=op.name) from None
        try:
            content = self._read_capped(op, response)
        finally:
            response.close()
        self._stats.bytes_received += len(content)
        return WireResponse(
            op.name, response.status_code, response.headers, content, (token, self._developer_token)
        )

    def _read_capped(self, op: Operation, response: httpx.Response) -> bytes:
        tracking_id = response.headers.get("TrackingId")
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
                f"response body could not be decoded: {exc}", operation=op.name, tracking_id=tracking_id
            ) from None
        except httpx.TimeoutException as exc:
            raise TransportError(
                f"timed out reading the response ({type(exc).__name__})",
                operation=op.name,
                tracking_id=tracking_id,
            ) from None
        except httpx.TransportError as exc:
            raise TransportError(
                f"reading the response failed: {type(exc).__name__}: {exc}",
                operation=op.name,
                tracking_id=tracking_id,
            ) from None
        return b"".join(chunks)
