"""Service faults -> the exception hierarchy in ``errors.py``, identically for REST and SOAP.

The transports only extract what the wire says (HTTP status, error entries, TrackingId, Retry-After);
which exception class that becomes, and what the message tells the user to do, is decided here once.
"""

from __future__ import annotations

import email.utils
import re
import time
from collections.abc import Iterable, Sequence

from airflow_provider_msads.client.errors import (
    ApiAuthenticationError,
    ApiError,
    ApiErrorDetail,
    MalformedResponseError,
    ThrottledError,
    TokenExpiredError,
    TransientApiError,
)

TOKEN_EXPIRED = 109
CALL_RATE_EXCEEDED = 117
INVALID_CREDENTIALS = {105, 106}
#: Codes for which retrying the same request can succeed: InternalError, ServiceTimeOut, system issue.
TRANSIENT_CODES = frozenset({0, 833, 2208})
#: Authentication / identity codes that a human must fix (besides 105/106/109).
AUTH_CODES = frozenset({108, 116, 120, 121, 122, 123, 124, 125, 126, 3101})

_MIN_SECRET_LENGTH = 8  # shorter values would redact ordinary words; real tokens are far longer


def classify(
    *,
    operation: str,
    message: str,
    errors: Sequence[ApiErrorDetail],
    http_status: int | None,
    tracking_id: str | None,
    fault_type: str | None,
    retry_after: float | None,
    environment: str,
) -> ApiError:
    """Pick the exception for a fault; error codes win over the HTTP status (SOAP faults ride on 500)."""
    codes = {e.code for e in errors if e.code is not None}
    cls: type[ApiError] = ApiError
    hint: str | None = None
    if TOKEN_EXPIRED in codes or (not codes and http_status == 401):
        cls, hint = TokenExpiredError, _EXPIRED_HINT
    elif codes & INVALID_CREDENTIALS:
        cls, hint = ApiAuthenticationError, _credentials_hint(environment, codes, http_status)
    elif codes & AUTH_CODES:
        cls, hint = ApiAuthenticationError, _AUTH_HINT
    elif CALL_RATE_EXCEEDED in codes or (http_status == 429 and not codes - TRANSIENT_CODES):
        cls, hint = ThrottledError, _THROTTLED_HINT
    elif codes and not codes - TRANSIENT_CODES:
        cls, hint = TransientApiError, _TRANSIENT_HINT
    elif http_status == 403:
        cls, hint = ApiAuthenticationError, _FORBIDDEN_HINT
    elif http_status == 401:
        cls, hint = ApiAuthenticationError, _UNAUTHORIZED_HINT
    elif not codes and http_status is not None and http_status >= 500:
        cls, hint = TransientApiError, _TRANSIENT_HINT
    if issubclass(cls, ApiAuthenticationError) and cls is not TokenExpiredError and not codes:
        # Without an error code the HTTP status is all we know: say which credential it points at.
        hint = {401: _UNAUTHORIZED_HINT, 403: _FORBIDDEN_HINT}.get(http_status or 0, hint)
    if cls is ThrottledError or cls is TransientApiError:
        return cls(  # type: ignore[call-arg]
            message,
            retry_after=retry_after,
            operation=operation,
            errors=errors,
            tracking_id=tracking_id,
            http_status=http_status,
            fault_type=fault_type,
            hint=hint,
        )
    return cls(
        message,
        operation=operation,
        errors=errors,
        tracking_id=tracking_id,
        http_status=http_status,
        fault_type=fault_type,
        hint=hint,
    )


def status_error(
    *,
    operation: str,
    http_status: int,
    what: str,
    tracking_id: str | None,
    retry_after: float | None,
    environment: str,
) -> ApiError | MalformedResponseError:
    """An error for a response whose body carried no readable fault (HTML page, empty, garbage).

    Non-2xx statuses are classified by status alone; a 2xx with an unreadable body is malformed.
    """
    if 200 <= http_status < 300:
        return MalformedResponseError(what, operation=operation, tracking_id=tracking_id)
    return classify(
        operation=operation,
        message=f"HTTP {http_status} without a service fault ({what})",
        errors=(),
        http_status=http_status,
        tracking_id=tracking_id,
        fault_type=None,
        retry_after=retry_after,
        environment=environment,
    )


def parse_code(value: object) -> int | None:
    """Error codes arrive as JSON numbers, numeric strings or XML text."""
    if value is None or isinstance(value, bool):
        return None
    try:
        return int(str(value).strip())
    except ValueError:
        return None


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """``Retry-After`` as delta-seconds or an HTTP date; None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


#: Longest server-supplied message kept in an error (faults quote at most a sentence or two).
MAX_SERVER_TEXT = 500
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]+")
_TRACKING_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9\-]{0,63}$")
_ERROR_CODE = re.compile(r"^[A-Za-z][A-Za-z0-9_.]{0,79}$")


def scrub(text: str | None, secrets: Iterable[str]) -> str | None:
    """Server text made safe to log: secrets removed, control characters collapsed, length capped.

    Applied to every free-text field a server supplies (messages, details, fault strings), so a
    credential a proxy echoed back, or a line break that splits a log line, never reaches a log.
    """
    if not text:
        return text
    text = redact(text, secrets) or ""
    text = _CONTROL.sub(" ", text).strip()
    if len(text) > MAX_SERVER_TEXT:
        text = text[:MAX_SERVER_TEXT] + "…"
    return text


def scrub_tracking_id(value: str | None, secrets: Iterable[str] = ()) -> str | None:
    """A TrackingId as Microsoft sends it (a GUID); anything else is replaced, never quoted."""
    return _token_field(value, _TRACKING_ID, secrets)


def scrub_error_code(value: str | None, secrets: Iterable[str] = ()) -> str | None:
    """A symbolic error code (``InvalidCredentials``); anything else is replaced, never quoted."""
    return _token_field(value, _ERROR_CODE, secrets)


def _token_field(value: str | None, shape: re.Pattern[str], secrets: Iterable[str]) -> str | None:
    if not value:
        return None
    value = value.strip()
    if not shape.match(value) or any(len(s) >= _MIN_SECRET_LENGTH and s in value for s in secrets):
        return "(unreadable)"
    return value


def redact(text: str | None, secrets: Iterable[str]) -> str | None:
    """Remove secrets a server might echo back (a token in a message must never reach a log)."""
    if not text:
        return text
    for secret in secrets:
        if len(secret) >= _MIN_SECRET_LENGTH and secret in text:
            text = text.replace(secret, "***")
    return text


def _credentials_hint(environment: str, codes: set[int], http_status: int | None) -> str:
    other = "sandbox" if environment == "production" else "production"
    mix_up = (
        f"a {environment}/{other} mix-up is the usual cause: the developer token, the user's refresh "
        f"token (consent and scope) and the API endpoint must all belong to the same environment (sandbox "
        f"has its own users and the universal sandbox developer token); check the connection's "
        f"'environment' and 'developer_token'"
    )
    if 105 in codes:
        what = "the access token was not accepted" if http_status == 401 else "credentials rejected"
        return (
            f"{what} by the {environment} environment (105 InvalidCredentials): {mix_up}; "
            f"if they all match, the refresh token may belong to another user or app: run `msads-auth` "
            f"again. Retrying will not help"
        )
    return (
        f"the user is not authorized for an entity in this request (106 UserIsNotAuthorized): check that "
        f"the user can reach this customer/account in Microsoft Advertising {environment}; if every call "
        f"fails this way, {mix_up}. Retrying will not help"
    )


_EXPIRED_HINT = (
    "the access token was expired or rejected (109 / HTTP 401) and a freshly refreshed token was not "
    "accepted either: check that the refresh token was consented for this environment's scope, or run "
    "`msads-auth` again"
)
_AUTH_HINT = (
    "the signed-in user cannot use the API this way (see the error code); a human must fix the user's "
    "sign-in or permissions, retrying will not help"
)
_THROTTLED_HINT = "call rate exceeded: the client waits and retries; lower concurrency if this persists"
_TRANSIENT_HINT = "temporary service problem; retried with backoff"
_UNAUTHORIZED_HINT = (
    "the access token was missing, expired or rejected; run `msads-auth` again if this persists"
)
_FORBIDDEN_HINT = (
    "the developer token is invalid, disabled or for the other environment, or the user may "
    "not access the requested customer/account; check 'developer_token', 'environment', 'customer_id' "
    "and 'account_id' of the connection"
)
