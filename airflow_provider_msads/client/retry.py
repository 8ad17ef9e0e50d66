"""When to retry an API call, and how long to wait: one policy object, wired into tenacity.

Classification lives here so both transports behave the same:

* retried with exponential backoff (full jitter): :class:`TransientApiError` (0, 833, 2208, HTTP 5xx)
  and :class:`NetworkError` (network failure, timeout, truncated / unreadable body);
* retried after the server's wait: :class:`ThrottledError` (HTTP 429 honours ``Retry-After`` up to a
  cap; error 117 waits at least :attr:`RetryPolicy.throttle_wait`, one minute by default, because the
  limit is calls per minute);
* never retried: everything else, including :class:`UnsafeXmlError` and :class:`ResponseTooLargeError`
  (the same bytes would come back), :class:`InvalidResponseError` (a well-formed response that fails
  validation, e.g. a non-numeric id: the service would send it again) and every authentication error.
  Error 109 / HTTP 401 is not a retry either: the request runner refreshes the token once and resends
  (see ``wire.py``).

Attempts and total time are both bounded; a wait that would cross the time budget is not slept.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import tenacity

from airflow_provider_msads.client.errors import (
    ConfigurationError,
    NetworkError,
    ResponseTooLargeError,
    ThrottledError,
    TransientApiError,
    UnsafeXmlError,
)

CALL_RATE_EXCEEDED = 117


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Bounds and waits for retrying one API request (one page of a search is one request).

    :param max_attempts: attempts per request, the first included.
    :param max_total_seconds: time budget per request, every attempt and wait included, enforced as a
        deadline on the sockets too (a server that drips bytes cannot stretch it); a wait that would
        exceed it ends the retries at once.
    :param backoff_base: first backoff wait in seconds (doubles per attempt, full jitter).
    :param backoff_max: longest single backoff wait.
    :param throttle_wait: minimum wait after error 117 (call rate exceeded); tests pass tiny values.
    :param retry_after_cap: longest wait honoured from a ``Retry-After`` header.
    :param sleep: how the waits are spent (default ``time.sleep``); tests pass a recorder, so that a
        policy handed to the hook (``MicrosoftAdsHook(..., retry=policy)``) also says how to wait.
    """

    max_attempts: int = 5
    max_total_seconds: float = 300.0
    backoff_base: float = 1.0
    backoff_max: float = 30.0
    throttle_wait: float = 60.0
    retry_after_cap: float = 300.0
    sleep: Callable[[float], None] | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        if isinstance(self.max_attempts, bool) or not isinstance(self.max_attempts, int):
            raise ConfigurationError("retry.max_attempts", "must be a whole number", "e.g. 5")
        if self.max_attempts < 1:
            raise ConfigurationError("retry.max_attempts", "must be at least 1", "use 1 to disable retries")
        for name in ("max_total_seconds", "backoff_base", "backoff_max", "throttle_wait", "retry_after_cap"):
            if getattr(self, name) < 0:
                raise ConfigurationError(f"retry.{name}", "must not be negative", "use a number of seconds")

    def server_wait(self, exc: BaseException) -> float | None:
        """The wait the server asked for after ``exc`` (117, Retry-After), or None for plain backoff."""
        if isinstance(exc, ThrottledError):
            asked = min(exc.retry_after, self.retry_after_cap) if exc.retry_after is not None else None
            if CALL_RATE_EXCEEDED in exc.codes:
                return max(self.throttle_wait, asked or 0.0)
            return asked
        if isinstance(exc, TransientApiError) and exc.retry_after is not None:
            return min(exc.retry_after, self.retry_after_cap)
        return None

    def retrying(
        self,
        *,
        sleep: Callable[[float], None],
        before_sleep: Callable[[tenacity.RetryCallState], None] | None = None,
    ) -> tenacity.Retrying:
        """A tenacity controller for one request; re-raises the last error when it gives up."""
        return tenacity.Retrying(
            stop=tenacity.stop_after_attempt(self.max_attempts)
            | tenacity.stop_before_delay(self.max_total_seconds),
            wait=self._tenacity_wait,
            retry=tenacity.retry_if_exception(is_retryable),
            sleep=sleep,
            before_sleep=before_sleep,
            reraise=True,
        )

    def _tenacity_wait(self, state: tenacity.RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome is not None else None
        asked = self.server_wait(exc) if exc is not None else None
        if asked is not None:
            return asked
        # Full jitter: uniform in [0, min(backoff_max, backoff_base * 2**(attempt-1))].
        return tenacity.wait_random_exponential(multiplier=self.backoff_base, max=self.backoff_max)(state)


def is_retryable(exc: BaseException) -> bool:
    """True for errors a later identical request may not get: throttling, 5xx-class faults, network."""
    if isinstance(exc, (UnsafeXmlError, ResponseTooLargeError)):
        return False
    return isinstance(exc, (ThrottledError, TransientApiError, NetworkError))
