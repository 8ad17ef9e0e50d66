"""Reporting errors: what each reporting fault code and failure means, and what to do (one home).

They extend the core hierarchy (``client/errors.py``), so ``except ApiError`` / ``NetworkError`` and the
retry policy keep working: ``ReportThrottledError`` is a ``ThrottledError`` (retried after a wait),
``ReportDownloadError`` a ``NetworkError`` (retried), the rest are terminal for the request at hand.

    ApiError
    ├── ReportRequestError        2001-2061: the request itself is wrong (a column, a date, the scope) — terminal
    │   ├── TooManyAccountsError  2029 (and the client-side check): more than 1,000 accounts in one request
    │   └── InvalidColumnError    2014-2017, 2034, 2052-2054: a column the report type or grain rejects
    ├── ReportFailedError         Poll status Error: Microsoft could not build it — submit again
    ├── ReportNotFoundError       2100 / 2101: the ReportRequestId is unknown or expired — submit again
    └── ThrottledError
        └── ReportThrottledError  207: too many concurrent report requests — retried later
    NetworkError
    ├── ReportTimeoutError        the report was still Pending when the total wait ran out
    ├── ReportDownloadError       the file could not be fetched (after retries)
    └── MalformedResponseError
        └── MalformedReportError  the file is not a report in Microsoft's layout
            └── ReportRowCountError  "Rows: N" disagrees with the rows read: never a short table
"""

from __future__ import annotations

from collections.abc import Sequence

from airflow_provider_msads.client.errors import (
    ApiError,
    ApiErrorDetail,
    MalformedResponseError,
    NetworkError,
    ThrottledError,
)

CONCURRENT_REQUEST_OVER_LIMIT = 207
ACCOUNTS_OVER_LIMIT = 2029
INVALID_REPORT_ID = frozenset({2100, 2101})
COLUMN_CODES = frozenset({2014, 2015, 2016, 2017, 2034, 2052, 2053, 2054})
#: Seconds to wait before retrying a Submit refused with 207 (the limits are "internal and subject to change").
THROTTLE_WAIT = 60.0

_GROUP_HINTS: tuple[tuple[range, str], ...] = (
    (
        range(2001, 2009),
        "fix the report request (type, name, aggregation or time); resubmitting it unchanged fails again",
    ),
    (range(2009, 2014), "fix the dates: start <= end, end not in the future, within the report's retention"),
    (range(2040, 2042), "fix the dates: start <= end, end not in the future, within the report's retention"),
    (range(2014, 2018), "fix the column list (see the report type's columns and required columns)"),
    (range(2018, 2032), "fix the scope: account ids the user can reach, at most 1,000 accounts per request"),
    (range(2035, 2036), "remove the account ids the error lists (not found or not accessible)"),
    (range(2032, 2062), "fix the filter values or the column/aggregation combination"),
)
_CODE_HINTS = {
    2003: "the user may not report on an account in the scope: check the account ids and the user's roles",
    2004: "no complete data yet for this period: run later, or set return_only_complete_data=False",
    2005: "return_only_complete_data cannot be used with a period that includes today",
    2007: "this predefined time period cannot be used with this aggregation (docs: Aggregation and Time)",
    ACCOUNTS_OVER_LIMIT: "more than 1,000 accounts in one request: ReportRequest.split() (run_report does it)",
    2034: "TimePeriod cannot be requested with Summary aggregation: remove it or pick Daily",
    2052: "quality-score columns do not support this aggregation",
    2053: "impression-share columns do not support this aggregation",
    2054: "historical columns do not support this aggregation",
}


class ReportRequestError(ApiError):
    """The Reporting service rejected the request itself (2001-2061): fix it, retrying cannot help."""


class TooManyAccountsError(ReportRequestError):
    """More than 1,000 account ids in one request (2029 AccountsOverLimit)."""


class InvalidColumnError(ReportRequestError):
    """A column is unknown, missing, duplicated or not allowed at this grain (2014-2017, 2034, 2052-2054)."""


class ReportFailedError(ApiError):
    """Poll returned status Error: the service could not build the report; submit it again."""


class ReportNotFoundError(ApiError):
    """Poll does not know the ReportRequestId (2100/2101): ids live one day at most; submit again."""


class ReportThrottledError(ThrottledError):
    """207 ConcurrentRequestOverLimit: too many report requests in flight for this user; retried later."""


class ReportTimeoutError(NetworkError):
    """The report stayed Pending longer than the configured total wait.

    ``report_request_id`` can be polled again later (valid for about a day), e.g. from a deferred task.
    """

    def __init__(
        self, message: str, *, report_request_id: str, operation: str = "PollGenerateReport"
    ) -> None:
        self.report_request_id = report_request_id
        super().__init__(message, operation=operation)


class ReportDownloadError(NetworkError):
    """The report file could not be downloaded (storage 5xx, reset, timeout) after the retries.

    ``retryable`` is False for what the same URL cannot fix (size limit, an unexpected status, an URL
    that keeps expiring): submitting the report again (or raising a limit) is the way out.
    """

    def __init__(
        self, message: str, *, operation: str | None = "DownloadReport", retryable: bool = True
    ) -> None:
        self.retryable = retryable
        super().__init__(message, operation=operation)


class MalformedReportError(MalformedResponseError):
    """The downloaded file is not a report in Microsoft's documented layout (zip, CSV, header block)."""


class ReportRowCountError(MalformedReportError):
    """The header's ``Rows: N`` disagrees with the rows read: the file is truncated or padded."""


def reporting_error(exc: ApiError) -> ApiError:
    """The reporting-specific error for a service fault the core codec classified generically.

    Reporting codes (2001-2101, 207) mean nothing to the core classifier; authentication, 109 and
    transient codes keep their core class (the runner refreshes/retries them).
    """
    codes = set(exc.codes)
    cls: type[ApiError] | None = None
    if CONCURRENT_REQUEST_OVER_LIMIT in codes:
        return ReportThrottledError(
            _message(exc),
            retry_after=THROTTLE_WAIT,
            operation=exc.operation,
            errors=exc.errors,
            tracking_id=exc.tracking_id,
            http_status=exc.http_status,
            fault_type=exc.fault_type,
            hint="too many report requests in flight (207 ConcurrentRequestOverLimit): retried after a wait; "
            "lower the number of reports submitted at once if this persists",
        )
    if codes & INVALID_REPORT_ID:
        cls = ReportNotFoundError
    elif ACCOUNTS_OVER_LIMIT in codes:
        cls = TooManyAccountsError
    elif codes & COLUMN_CODES:
        cls = InvalidColumnError
    elif any(2001 <= c <= 2099 for c in codes):
        cls = ReportRequestError
    if cls is None or type(exc) is not ApiError:
        return exc
    hint = (
        _hint(codes)
        if cls is not ReportNotFoundError
        else ("the ReportRequestId is unknown or expired (valid for about a day): submit the report again")
    )
    return cls(
        _message(exc),
        operation=exc.operation,
        errors=exc.errors,
        tracking_id=exc.tracking_id,
        http_status=exc.http_status,
        fault_type=exc.fault_type,
        hint=hint,
    )


def report_failed(report_request_id: str, *, tracking_id: str | None) -> ReportFailedError:
    return ReportFailedError(
        f"report {report_request_id} ended with status Error",
        operation="PollGenerateReport",
        tracking_id=tracking_id,
        hint="Microsoft could not build this report; submit it again (rerun the task). If it keeps failing, "
        "narrow the date range or the columns and quote the TrackingId to Microsoft support",
    )


def _hint(codes: set[int]) -> str:
    for code in sorted(codes):
        if code in _CODE_HINTS:
            return _CODE_HINTS[code]
    for code in sorted(codes):
        for group, hint in _GROUP_HINTS:
            if code in group:
                return hint
    return "fix the report request; retrying it unchanged cannot help"


def _message(exc: ApiError) -> str:
    """The original message without the parts ApiError.__init__ appends again."""
    errors: Sequence[ApiErrorDetail] = exc.errors
    head = str(exc).split(" | ", 1)[0]
    prefix = f"{exc.operation} failed: "
    text = head[len(prefix) :] if head.startswith(prefix) else head
    return text or ("; ".join(e.describe() for e in errors) or "reporting fault")
