"""Scriptable fault injection, per route, shared by REST and SOAP.

A test says what should go wrong and for which requests::

    emu.faults.inject("SearchAccounts", status=503, times=2)           # first two calls: HTTP 503
    emu.faults.inject("SearchAccounts", error_code=109, after=2)       # third call: token expired
    emu.faults.inject("GetUser", status=429, retry_after=2)            # one 429 with Retry-After: 2
    emu.faults.inject("token", kind="reset")                           # TCP reset on the next token call

Every fault counts *all* requests to its route (whatever another fault did with them): ``after=N`` skips
the first N, then it fires ``times`` times (``None`` = forever). The first fault that fires wins.
Routes are operation names, identical for REST and SOAP, so one script drives both transports.
Reporting adds ``SubmitGenerateReport`` and ``PollGenerateReport`` (REST) and ``download`` (the storage
origin that serves report files)::

    emu.faults.inject("SubmitGenerateReport", error_code=207)           # throttled: ConcurrentRequestOverLimit
    emu.faults.inject("PollGenerateReport", status=503, times=2)
    emu.faults.inject("download", kind="truncate")                       # half the zip, then close
    emu.faults.inject("download", kind="corrupt")                        # 200 with a damaged zip
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Literal

ROUTES = (
    "token",
    "authorize",
    "GetUser",
    "SearchAccounts",
    "GetAccount",
    "GetCustomer",
    "SubmitGenerateReport",
    "PollGenerateReport",
    "download",
)
#: Routes of the Reporting service (REST only) and of the storage origin that serves report files.
REPORTING_ROUTES = ("SubmitGenerateReport", "PollGenerateReport")
FaultKind = Literal["reset", "truncate", "html", "malformed", "timeout", "corrupt", "expired"]
FAULT_KINDS = ("reset", "truncate", "html", "malformed", "timeout", "corrupt", "expired")
#: Kinds that only make sense on the ``download`` route (the storage origin).
DOWNLOAD_ONLY_KINDS = ("corrupt", "expired")
Transport = Literal["rest", "soap", "oauth", "storage"]

#: How long a ``kind="timeout"`` fault holds the connection when no ``delay`` is given (stopping the
#: emulator releases it at once).
DEFAULT_TIMEOUT_HOLD = 30.0


@dataclass(slots=True)
class Fault:
    """One scripted failure. See :meth:`FaultInjector.inject` for the meaning of each field."""

    route: str
    status: int | None = None
    error_code: int | None = None
    retry_after: float | None = None
    delay: float = 0.0
    kind: FaultKind | None = None
    soap_fault_on_200: bool = False
    fault_type: str | None = None
    message: str | None = None
    transport: Literal["rest", "soap"] | None = None
    times: int | None = 1
    after: int = 0
    seen: int = 0
    fired: int = 0

    @property
    def exhausted(self) -> bool:
        return self.times is not None and self.fired >= self.times


class FaultInjector:
    """Holds the fault script. Thread-safe; ``match`` is called once per incoming request."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []

    def inject(
        self,
        route: str,
        *,
        status: int | None = None,
        error_code: int | None = None,
        retry_after: float | None = None,
        delay: float | None = None,
        kind: FaultKind | None = None,
        soap_fault_on_200: bool = False,
        fault_type: Literal["AdApiFaultDetail", "ApiFault"] | None = None,
        message: str | None = None,
        transport: Literal["rest", "soap"] | None = None,
        times: int | None = 1,
        after: int = 0,
    ) -> Fault:
        """Script a fault for ``route`` (one of :data:`ROUTES`).

        :param status: HTTP status to answer with (5xx, 429, 401, ...). With no ``error_code`` the body is a
            fault of the route's own format (API fault code 0 / OAuth ``server_error``...).
        :param error_code: API error code (e.g. 109, 117, 105) for service routes, AADSTS number for
            ``token`` / ``authorize``. Status defaults to what the emulator uses for that code.
        :param retry_after: seconds for a ``Retry-After`` header; implies ``status=429`` if none given.
        :param delay: seconds to wait before answering (slow response), or how long ``kind="timeout"``
            holds the connection.
        :param kind: ``reset`` (TCP RST: SO_LINGER 0 then close), ``truncate`` (headers + half the body,
            then close), ``html`` (a proxy's HTML error page, default 502), ``malformed`` (broken JSON/XML,
            default 200), ``timeout`` (never answer; close after ``delay`` or 30 s); on ``download`` only:
            ``corrupt`` (200 with a damaged zip), ``expired`` (403 as for an expired URL).
        :param soap_fault_on_200: SOAP only: send the fault with HTTP 200 (real services do). Defaults the
            error code to 0 when none is given. REST requests get the same fault with its normal status.
        :param fault_type: force ``AdApiFaultDetail`` or ``ApiFault`` for the error code.
        :param message: replaces the error message.
        :param transport: limit to ``rest`` or ``soap`` requests (service routes only).
        :param times: how many matching requests it hits (``None``: all).
        :param after: skip this many matching requests first.
        """
        if route not in ROUTES:
            raise ValueError(f"unknown route {route!r}; use one of {', '.join(ROUTES)}")
        if kind is not None and kind not in FAULT_KINDS:
            raise ValueError(f"unknown kind {kind!r}; use one of {', '.join(FAULT_KINDS)}")
        if kind in DOWNLOAD_ONLY_KINDS and route != "download":
            raise ValueError(f"kind {kind!r} applies to the 'download' route only")
        if route == "download" and (error_code is not None or kind == "malformed"):
            raise ValueError(
                "the 'download' route takes status, kind (reset, truncate, timeout, html, "
                "corrupt, expired), delay or retry_after; no API error_code"
            )
        if times is not None and times < 1:
            raise ValueError("times must be >= 1 (or None for every request)")
        if after < 0:
            raise ValueError("after must be >= 0")
        if retry_after is not None and status is None:
            status = 429
        if soap_fault_on_200 and error_code is None and status is None:
            error_code = 0
        if status is None and error_code is None and kind is None and not delay:
            raise ValueError("a fault needs at least one of status, error_code, retry_after, delay, kind")
        fault = Fault(
            route=route,
            status=status,
            error_code=error_code,
            retry_after=retry_after,
            delay=float(delay or 0.0),
            kind=kind,
            soap_fault_on_200=soap_fault_on_200,
            fault_type=fault_type,
            message=message,
            transport=transport,
            times=times,
            after=after,
        )
        with self._lock:
            self._faults.append(fault)
        return fault

    def clear(self, route: str | None = None) -> None:
        """Drop every scripted fault (or only those of ``route``)."""
        with self._lock:
            self._faults = [f for f in self._faults if route is not None and f.route != route]

    @property
    def pending(self) -> list[Fault]:
        """Faults that can still fire (tests assert this is empty to prove a script was consumed)."""
        with self._lock:
            return [f for f in self._faults if not f.exhausted]

    def match(self, route: str, transport: str) -> Fault | None:
        """Count this request against every fault of the route; return the one that fires, if any."""
        chosen: Fault | None = None
        with self._lock:
            for fault in self._faults:
                if fault.route != route or (fault.transport is not None and fault.transport != transport):
                    continue
                fault.seen += 1
                if chosen is None and fault.seen > fault.after and not fault.exhausted:
                    fault.fired += 1
                    chosen = fault
        return chosen
