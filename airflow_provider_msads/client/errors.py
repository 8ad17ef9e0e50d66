"""One exception hierarchy for the whole provider.

Every message names what went wrong *and* what to do about it. No exception ever carries a secret:
messages are built from codes, field names and server text, never from tokens or credentials.

    MicrosoftAdsError
    ├── ConfigurationError          bad connection field / argument (names the field)
    ├── AuthError                   Microsoft identity platform (token endpoint)
    │   ├── TerminalAuthError       invalid_grant, invalid_client, ... : a human must act
    │   └── TransientAuthError      5xx, temporarily_unavailable, network: retried
    ├── TokenStoreError             a rotated refresh token could not be persisted
    ├── ApiError                    a Microsoft Advertising service fault (operation, codes, TrackingId)
    │   ├── ApiAuthenticationError  105/106, 1xx auth codes, HTTP 401/403: terminal
    │   │   └── TokenExpiredError   109 / HTTP 401: refreshed once by the client, raised if that fails
    │   ├── ThrottledError          117, HTTP 429: retried after a wait
    │   └── TransientApiError       0, 833, 2208, HTTP 5xx: retried with backoff
    ├── NetworkError                network failure, timeout, deadline, unreadable response (retried)
    │   └── MalformedResponseError  truncated / non-JSON / non-XML / HTML (retried)
    │       ├── UnsafeXmlError      DTD / entity declarations (XXE, billion laughs): never retried
    │       └── ResponseTooLargeError  body over the configured byte cap: never retried
    ├── InvalidResponseError        a well-formed response whose content fails validation (a
    │                               non-numeric id, an unknown enum value, an oversized page): never
    │                               retried, the same bytes would come back
    └── ResultLimitError            a search returned more than the documented maximum of results

``TransportError`` is the pre-1.0 name of :class:`NetworkError`, kept as a deprecated alias (the same
class): "transport" names only the REST/SOAP choice now.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


class MicrosoftAdsError(Exception):
    """Base class of every error raised by airflow-provider-msads."""


class ConfigurationError(MicrosoftAdsError, ValueError):
    """A connection field or argument is missing or malformed.

    :param field: the connection field or argument at fault (e.g. ``developer_token``).
    :param problem: what is wrong with it.
    :param fix: what the user should do.
    """

    def __init__(self, field: str, problem: str, fix: str) -> None:
        self.field = field
        self.problem = problem
        self.fix = fix
        super().__init__(f"{field}: {problem}; {fix}")


class AuthError(MicrosoftAdsError):
    """The Microsoft identity platform refused or failed a token request."""

    def __init__(
        self,
        message: str,
        *,
        error: str | None = None,
        aadsts_code: int | None = None,
        http_status: int | None = None,
        trace_id: str | None = None,
        correlation_id: str | None = None,
    ) -> None:
        self.error = error
        self.aadsts_code = aadsts_code
        self.http_status = http_status
        self.trace_id = trace_id
        self.correlation_id = correlation_id
        ids = ", ".join(
            f"{k} {v}" for k, v in (("trace_id", trace_id), ("correlation_id", correlation_id)) if v
        )
        super().__init__(f"{message} ({ids})" if ids else message)


class TerminalAuthError(AuthError):
    """Retrying cannot help: a human must re-consent or fix the app registration."""


class TransientAuthError(AuthError):
    """The identity platform is briefly unavailable; the request was retried and may be again."""


class TokenStoreError(MicrosoftAdsError):
    """A rotated refresh token could not be saved (or read); the chain would be lost, so we stop."""


@dataclass(frozen=True, slots=True)
class ApiErrorDetail:
    """One error entry of a service fault (AdApiError / OperationError / BatchError)."""

    code: int | None
    error_code: str | None = None
    message: str | None = None
    details: str | None = None

    def describe(self) -> str:
        label = f"{self.code}" if self.code is not None else "?"
        if self.error_code:
            label += f" {self.error_code}"
        text = self.message or self.details or ""
        return f"{label}: {text}" if text else label


class ApiError(MicrosoftAdsError):
    """A Microsoft Advertising service returned a fault or an unexpected HTTP status."""

    def __init__(
        self,
        message: str,
        *,
        operation: str,
        errors: Sequence[ApiErrorDetail] = (),
        tracking_id: str | None = None,
        http_status: int | None = None,
        fault_type: str | None = None,
        hint: str | None = None,
    ) -> None:
        self.operation = operation
        self.errors = tuple(errors)
        self.tracking_id = tracking_id
        self.http_status = http_status
        self.fault_type = fault_type
        self.hint = hint
        parts = [f"{operation} failed: {message}"]
        if self.errors:
            parts.append("errors: " + "; ".join(e.describe() for e in self.errors))
        if hint:
            parts.append(hint)
        if http_status is not None and f"HTTP {http_status}" not in message:
            parts.append(f"HTTP {http_status}")
        if tracking_id:
            parts.append(f"TrackingId {tracking_id}")
        super().__init__(" | ".join(parts))

    @property
    def codes(self) -> tuple[int, ...]:
        return tuple(e.code for e in self.errors if e.code is not None)


class ApiAuthenticationError(ApiError):
    """Credentials rejected by the service (105/106/1xx, HTTP 401/403): terminal."""


class TokenExpiredError(ApiAuthenticationError):
    """The access token was expired or rejected (109, HTTP 401).

    The client reacts by invalidating the token and retrying once with a fresh one; callers only see
    this error when the fresh token was rejected too.
    """


class ThrottledError(ApiError):
    """Call rate exceeded (117 or HTTP 429); ``retry_after`` is the wait in seconds the server asked for."""

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: object) -> None:
        self.retry_after = retry_after
        super().__init__(message, **kwargs)  # type: ignore[arg-type]


class TransientApiError(ApiError):
    """An internal/temporary service error (0, 833, 2208, HTTP 5xx): safe to retry.

    ``retry_after`` is the wait in seconds the server asked for (a 503 may send ``Retry-After``).
    """

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: object) -> None:
        self.retry_after = retry_after
        super().__init__(message, **kwargs)  # type: ignore[arg-type]


class NetworkError(MicrosoftAdsError):
    """The request did not complete: connection refused or reset, timeout, deadline, TLS failure.

    :param host: the host that was called (never a URL with a query: those may carry signatures).
    :param attempts: how many attempts were made before giving up (set by the request runner).
    """

    def __init__(
        self,
        message: str,
        *,
        operation: str | None = None,
        tracking_id: str | None = None,
        host: str | None = None,
        attempts: int | None = None,
    ) -> None:
        self.operation = operation
        self.tracking_id = tracking_id
        self.host = host
        self.attempts = attempts
        self.message = message
        prefix = f"{operation}: " if operation else ""
        where = ""
        if host and attempts:
            where = f" (host {host}, {attempts} attempt{'s' if attempts != 1 else ''})"
        elif host:
            where = f" (host {host})"
        suffix = f" | TrackingId {tracking_id}" if tracking_id else ""
        super().__init__(prefix + message + where + suffix)

    def with_attempts(self, host: str | None, attempts: int) -> NetworkError:
        """The same error, its message naming the host and the number of attempts made."""
        clone = type(self)(
            self.message, operation=self.operation, tracking_id=self.tracking_id, host=host, attempts=attempts
        )
        return clone


#: Deprecated alias of :class:`NetworkError` (the same class), kept for code written before 1.0.
TransportError = NetworkError


class MalformedResponseError(NetworkError):
    """The response body could not be read: truncated, not JSON/XML, an HTML error page, or unsafe XML."""


class UnsafeXmlError(MalformedResponseError):
    """The XML carried a DTD or entity declarations (XXE, billion laughs): refused, never retried."""


class ResponseTooLargeError(MalformedResponseError):
    """The response body exceeded the configured byte cap: refused, never retried."""


class InvalidResponseError(MicrosoftAdsError):
    """A well-formed response failed validation (non-numeric id, unknown enum value, oversized page).

    Never retried: the service would send the same content again. Distinct from :class:`NetworkError`.
    """

    def __init__(self, message: str, *, operation: str | None = None, tracking_id: str | None = None) -> None:
        self.operation = operation
        self.tracking_id = tracking_id
        prefix = f"{operation}: " if operation else ""
        suffix = f" | TrackingId {tracking_id}" if tracking_id else ""
        super().__init__(
            f"{prefix}{message}; the response was well-formed but not what the API contract says: "
            f"retrying will not help, report it with the TrackingId{suffix}"
        )


class ResultLimitError(MicrosoftAdsError):
    """A search returned more results than the configured maximum (a runaway or hostile server)."""
