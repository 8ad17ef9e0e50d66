"""The :class:`Emulator`: Microsoft identity platform + Customer Management v13 at one local origin.

It wires the pieces together (data, identity, operations, REST/SOAP formats, fault script, counters) and
is the WSGI-free "application" that :mod:`~airflow_provider_msads.testing.server` calls per request.

Paths served (one origin for everything, as ``auth_base_url`` and ``api_base_url`` overrides expect):

* ``POST /{tenant}/oauth2/v2.0/token`` and ``GET /{tenant}/oauth2/v2.0/authorize``
* ``POST /CustomerManagement/v13/{User/Query|Accounts/Search|Account/Query|Customer/Query}`` (REST)
* ``POST /Api/CustomerManagement/v13/CustomerManagementService.svc`` (SOAP 1.1, ``SOAPAction`` header)
* ``POST /Reporting/v13/GenerateReport/{Submit|Poll}`` (Reporting v13 REST; see ``testing/reporting``)
* ``GET /`` a small JSON description (handy as a health check)

Report files are served by a SECOND origin (:attr:`Emulator.storage_url`, its own port), like Microsoft's
blob storage: it rejects any request that carries API credentials.

Production and sandbox share the origin; the access token remembers which one it was issued for (by
scope) and the developer token says which one the caller meant. Both see the same synthetic world.
"""

from __future__ import annotations

import json
import re
import threading
import uuid
from collections import Counter
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field

from airflow_provider_msads.testing.codes import api_code
from airflow_provider_msads.testing.customer_management import ApiFaultError, CustomerManagement
from airflow_provider_msads.testing.data import Dataset
from airflow_provider_msads.testing.demo import (
    DEMO_CLIENT_ID,
    DEMO_CLIENT_SECRET,
    DEMO_DEVELOPER_TOKEN,
    DEMO_REFRESH_TOKEN,
    DEMO_SANDBOX_DEVELOPER_TOKEN,
)
from airflow_provider_msads.testing.faults import DEFAULT_TIMEOUT_HOLD, Fault, FaultInjector
from airflow_provider_msads.testing.identity import (
    DEFAULT_ACCESS_TOKEN_TTL,
    DEFAULT_REFRESH_TOKEN_TTL,
    Client,
    Clock,
    EnvironmentName,
    IdentityPlatform,
    OAuthResponse,
)
from airflow_provider_msads.testing.reporting.errors import ReportingFault, fault_bytes
from airflow_provider_msads.testing.reporting.service import (
    DEFAULT_COMPLETION_LAG_DAYS,
    DEFAULT_URL_LIFETIME,
    ReportingService,
)
from airflow_provider_msads.testing.reporting.world import Volume
from airflow_provider_msads.testing.rest import JSON_CONTENT_TYPE, REST_OPERATIONS, RestApi
from airflow_provider_msads.testing.rest import fault_body as rest_fault_body
from airflow_provider_msads.testing.server import Request, Response, ServerThread
from airflow_provider_msads.testing.soap import (
    SOAP_OPERATIONS,
    XML_CONTENT_TYPE,
    SoapApi,
    SoapClientError,
    fault_envelope,
    parse_request,
    plain_fault_envelope,
)

_OAUTH_PATH = re.compile(r"^/([^/]+)/oauth2/v2\.0/(token|authorize)$")
_REST_PREFIX = "/customermanagement/v13/"
_SOAP_PATH = "/api/customermanagement/v13/customermanagementservice.svc"
_REPORTING_PREFIX = "/reporting/v13/generatereport/"
_REPORTING_OPERATIONS = {"submit": "SubmitGenerateReport", "poll": "PollGenerateReport"}

PROXY_502_PAGE = (
    b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad Gateway</h1>"
    b"</center>\r\n<hr><center>Microsoft-Azure-Application-Gateway/v2</center>\r\n</body>\r\n</html>\r\n"
)


@dataclass(frozen=True, slots=True)
class RequestRecord:
    """One request as the emulator saw it (for assertions on headers, order, injected faults)."""

    route: str
    transport: str  # "oauth" | "rest" | "soap" | "other"
    method: str
    path: str
    status: int  # 0 when the connection was reset / held
    tracking_id: str | None
    headers: dict[str, str] = field(repr=False)
    fault: Fault | None = None


class Emulator:
    """A local Microsoft Advertising: OAuth + Customer Management v13 (REST and SOAP) with fault injection.

    :param accounts: how many accounts the demo user can reach (plus a few foreign ones it cannot).
    :param seed: makes the synthetic world different but reproducible.
    :param access_token_ttl: lifetime of issued access tokens in seconds (``expires_in``).
    :param refresh_token_ttl: lifetime of rotated refresh tokens (the demo token never expires).
    :param single_use_refresh_tokens: refuse a refresh token redeemed before (stricter than Microsoft).
    :param developer_tokens: extra developer tokens -> "production" | "sandbox" (the demo and the universal
        sandbox token are always known).
    :param data: reuse an already generated :class:`Dataset` (it is immutable; sharing saves start-up).
    :param report_completion_lag_days: Reporting's Last Completed Available Day = today - this.
    :param report_pending_polls: Poll answers Pending this many times per report before its outcome.
    :param report_url_lifetime: seconds a report download URL stays valid (Microsoft: 5 minutes).
    :param report_volume: campaigns / ad groups / keywords / search terms per account (big reports).
    :param max_concurrent_reports: unfinished reports per user before Submit answers 207 (None: no limit).
    """

    def __init__(
        self,
        accounts: int = 25,
        seed: int = 0,
        access_token_ttl: float = DEFAULT_ACCESS_TOKEN_TTL,
        *,
        refresh_token_ttl: float = DEFAULT_REFRESH_TOKEN_TTL,
        single_use_refresh_tokens: bool = False,
        developer_tokens: Mapping[str, EnvironmentName] | None = None,
        foreign_accounts: int = 3,
        data: Dataset | None = None,
        verbose: bool = False,
        report_completion_lag_days: int = DEFAULT_COMPLETION_LAG_DAYS,
        report_pending_polls: int = 1,
        report_url_lifetime: float = DEFAULT_URL_LIFETIME,
        report_volume: Volume | None = None,
        max_concurrent_reports: int | None = None,
    ) -> None:
        self.data = data if data is not None else Dataset(accounts, seed, foreign_accounts)
        self.clock = Clock()
        self.identity = IdentityPlatform(
            self.clock,
            demo_user_id=self.data.demo_user.id,
            access_token_ttl=access_token_ttl,
            refresh_token_ttl=refresh_token_ttl,
            single_use_refresh_tokens=single_use_refresh_tokens,
        )
        self.developer_tokens: dict[str, EnvironmentName] = {
            DEMO_DEVELOPER_TOKEN: "production",
            DEMO_SANDBOX_DEVELOPER_TOKEN: "sandbox",
            **(developer_tokens or {}),
        }
        self.service = CustomerManagement(self.data, self.identity, self.developer_tokens)
        self.rest = RestApi(self.service)
        self.soap = SoapApi(self.service)
        self.faults = FaultInjector()
        #: Reporting v13: Submit/Poll, report jobs, files, clock and scripting (see docs/emulator.md).
        self.reporting = ReportingService(
            self.service,
            self.clock,
            self.faults,
            completion_lag_days=report_completion_lag_days,
            pending_polls=report_pending_polls,
            url_lifetime=report_url_lifetime,
            volume=report_volume,
            max_concurrent_reports=max_concurrent_reports,
        )
        #: Requests per route name ("token", "authorize", "GetUser", "SearchAccounts", ...), all transports.
        self.counters: Counter[str] = Counter()
        #: Requests per (route, transport), transport one of "oauth", "rest", "soap".
        self.transport_counters: Counter[tuple[str, str]] = Counter()
        #: Successful token grants per grant type ("refresh_token", "authorization_code").
        self.grant_counts: Counter[str] = Counter()
        #: Every request, in arrival order.
        self.request_log: list[RequestRecord] = []
        self.verbose = verbose
        self._lock = threading.Lock()
        self._server: ServerThread | None = None
        self._storage_server: ServerThread | None = None

    # ------------------------------------------------------------------ lifecycle
    def start(self, host: str = "127.0.0.1", port: int = 0) -> Emulator:
        """Start serving in a background thread (port 0: pick a free one). Use :meth:`serve` in tests."""
        if self._server is not None:
            raise RuntimeError("the emulator is already running at " + self.url)
        server = ServerThread(self, host, port, verbose=self.verbose)
        try:
            storage = ServerThread(self.reporting.storage, host, 0, verbose=self.verbose)
        except OSError:
            server.httpd.server_close()
            raise
        server.start()
        storage.start()
        self._server = server
        self._storage_server = storage
        self.reporting.storage.base_url = storage.url
        return self

    def stop(self) -> None:
        if self._storage_server is not None:
            self._storage_server.stop()
            self._storage_server = None
        if self._server is not None:
            self._server.stop()
            self._server = None
        self.reporting.close()

    @contextmanager
    def serve(self, host: str = "127.0.0.1", port: int = 0) -> Iterator[Emulator]:
        self.start(host, port)
        try:
            yield self
        finally:
            self.stop()

    @property
    def running(self) -> bool:
        return self._server is not None

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:54321`` (no trailing slash)."""
        if self._server is None:
            raise RuntimeError("the emulator is not running: use `with emu.serve():` or emu.start()")
        return self._server.url

    @property
    def storage_url(self) -> str:
        """Base URL of the storage origin that serves report downloads (another port than :attr:`url`)."""
        if self._storage_server is None:
            raise RuntimeError("the emulator is not running: use `with emu.serve():` or emu.start()")
        return self._storage_server.url

    def reset(self) -> None:
        """Fresh per-test state on the same server and data: tokens, faults, counters, clock, consent."""
        self.faults.clear()
        self.identity.reset()
        self.clock.reset()
        self.reporting.reset()
        with self._lock:
            self.counters.clear()
            self.transport_counters.clear()
            self.grant_counts.clear()
            self.request_log.clear()

    # ------------------------------------------------------------------ connection helpers
    def connection_extra(self, environment: EnvironmentName = "production") -> dict[str, str]:
        """The msads connection ``extra`` for the demo identity against this emulator."""
        extra = {
            "developer_token": DEMO_DEVELOPER_TOKEN
            if environment == "production"
            else DEMO_SANDBOX_DEVELOPER_TOKEN,
            "client_secret": DEMO_CLIENT_SECRET,
            "auth_base_url": self.url,
            "api_base_url": self.url,
        }
        if environment != "production":
            extra["environment"] = environment
        return extra

    def airflow_conn_json(
        self, environment: EnvironmentName = "production", *, refresh_token: str = DEMO_REFRESH_TOKEN
    ) -> str:
        """JSON for ``AIRFLOW_CONN_MSADS_DEFAULT`` (the form Airflow accepts for JSON connections)."""
        return json.dumps(
            {
                "conn_type": "msads",
                "login": DEMO_CLIENT_ID,
                "password": refresh_token,
                "extra": self.connection_extra(environment),
            }
        )

    # ------------------------------------------------------------------ test controls
    @property
    def demo_user_id(self) -> int:
        return self.data.demo_user.id

    @property
    def expected_account_ids(self) -> tuple[int, ...]:
        """What discovery for the demo user must return (ascending ids)."""
        return self.data.demo_account_ids

    def revoke_refresh_token(self, token: str) -> None:
        """Revoke one refresh token: its next use gets invalid_grant / AADSTS50173."""
        self.identity.revoke_refresh_token(token)

    def advance_clock(self, seconds: float) -> None:
        """Move the emulator's clock forward: access tokens (3600 s) and refresh tokens (90 days) expire."""
        self.clock.advance(seconds)

    def expire_access_tokens(self) -> None:
        """Every access token issued so far is expired from now on (next API call: error 109)."""
        self.identity.expire_access_tokens()

    def issue_refresh_token(self, user_id: int | None = None, *, lifetime: float | None = None) -> str:
        """A refresh token for the demo client, as if ``user_id`` (default: demo user) had consented."""
        return self.identity.issue_refresh_token(user_id or self.demo_user_id, lifetime=lifetime)

    def issue_access_token(
        self,
        user_id: int | None = None,
        environment: EnvironmentName = "production",
        *,
        ttl: float | None = None,
    ) -> str:
        """An access token without going through OAuth (API-only tests)."""
        return self.identity.issue_access_token(user_id or self.demo_user_id, environment, ttl=ttl)

    def register_client(
        self, client_id: str, secret: str | None, redirect_uris: tuple[str, ...] = ()
    ) -> None:
        """Add an app registration (``secret`` None: a public client)."""
        self.identity.register_client(
            Client(client_id, secret, redirect_uris or Client(client_id, secret).redirect_uris)
        )

    @property
    def deny_consent(self) -> bool:
        return self.identity.deny_consent

    @deny_consent.setter
    def deny_consent(self, value: bool) -> None:
        """When True the authorize endpoint redirects with error=access_denied (AADSTS65004)."""
        self.identity.deny_consent = value

    # ------------------------------------------------------------------ the application
    def __call__(self, request: Request) -> Response:
        path = request.path
        lowered = path.lower().rstrip("/")
        match = _OAUTH_PATH.match(path)
        if match:
            return self._oauth(request, match.group(1), match.group(2))
        if lowered.startswith(_REST_PREFIX.rstrip("/")) and lowered != _REST_PREFIX.rstrip("/"):
            return self._rest(request, lowered[len(_REST_PREFIX) :])
        if lowered == _SOAP_PATH:
            return self._soap(request)
        if lowered.startswith(_REPORTING_PREFIX):
            return self._reporting(request, _REPORTING_OPERATIONS.get(lowered[len(_REPORTING_PREFIX) :]))
        if lowered == "" and request.method == "GET":
            return self._record(request, "index", "other", None, None, self._index())
        return self._record(
            request,
            "unknown",
            "other",
            None,
            None,
            Response(404, b"Not Found", [("Content-Type", "text/plain")]),
        )

    def _index(self) -> Response:
        body = {
            "service": "airflow-provider-msads emulator",
            "token_url": "/common/oauth2/v2.0/token",
            "authorize_url": "/common/oauth2/v2.0/authorize",
            "rest": sorted(
                "/CustomerManagement/v13/" + p
                for p in ("User/Query", "Accounts/Search", "Account/Query", "Customer/Query")
            ),
            "soap": "/Api/CustomerManagement/v13/CustomerManagementService.svc",
            "reporting": ["/Reporting/v13/GenerateReport/Poll", "/Reporting/v13/GenerateReport/Submit"],
            "storage": self._storage_server.url if self._storage_server is not None else None,
            "accounts": len(self.data.accounts),
            "demo_user_accounts": len(self.data.demo_account_ids),
        }
        return Response(200, json.dumps(body).encode(), [("Content-Type", JSON_CONTENT_TYPE)])

    def _record(
        self,
        request: Request,
        route: str,
        transport: str,
        tracking_id: str | None,
        fault: Fault | None,
        response: Response,
    ) -> Response:
        status = 0 if response.action in ("reset", "timeout") else response.status
        record = RequestRecord(
            route, transport, request.method, request.path, status, tracking_id, request.headers, fault
        )
        with self._lock:
            self.request_log.append(record)
        return response

    def _count(self, route: str, transport: str) -> Fault | None:
        with self._lock:
            self.counters[route] += 1
            self.transport_counters[(route, transport)] += 1
        return self.faults.match(route, transport)

    # ------------------------------------------------------------------ OAuth
    def _oauth(self, request: Request, tenant: str, endpoint: str) -> Response:
        route = endpoint  # "token" | "authorize"
        fault = self._count(route, "oauth")
        if fault is not None:
            injected = self._oauth_fault(fault, route)
            if injected is not None:
                return self._record(request, route, "oauth", None, fault, injected)
        if route == "authorize":
            if request.method != "GET":
                result = OAuthResponse(405, None, {"Allow": "GET"}, "Method Not Allowed")
            else:
                result = self.identity.authorize_endpoint(tenant, request.query)
        elif request.method != "POST":
            result = self.identity.error_response(900561)
        else:
            form: dict[str, str] = {}
            media = request.headers.get("content-type", "").split(";")[0].strip().lower()
            if media == "application/x-www-form-urlencoded":
                from urllib.parse import parse_qsl

                form = dict(parse_qsl(request.body.decode("utf-8", "replace"), keep_blank_values=True))
            grant, result = self.identity.token_endpoint(tenant, form)
            if result.status == 200 and grant:
                with self._lock:
                    self.grant_counts[grant] += 1
        response = _oauth_http(result)
        if fault is not None:  # delay-only or truncate on a normal answer
            _delay_or_truncate(response, fault)
        return self._record(request, route, "oauth", None, fault, response)

    def _oauth_fault(self, fault: Fault, route: str) -> Response | None:
        special = _socket_fault(fault)
        if special is not None:
            return special
        if fault.kind == "malformed":
            return Response(
                fault.status or 200,
                b'{"token_type":"Bearer","access_tok',
                [("Content-Type", JSON_CONTENT_TYPE)],
                delay=fault.delay,
            )
        if fault.status is None and fault.error_code is None:
            return None  # delay only / truncate: handled on the normal answer
        if route == "authorize":
            page = self.identity._error_page(fault.error_code or 50000, fault.message or "Emulated failure.")
            return Response(
                fault.status or 400,
                (page.html or "").encode(),
                [("Content-Type", "text/html; charset=utf-8")],
                delay=fault.delay,
            )
        status = fault.status
        code = fault.error_code
        if code is None:
            code = 90033 if status in (429, 503) else 50000
        result = self.identity.error_response(code, fault.message, status=status)
        response = _oauth_http(result)
        if fault.retry_after is not None:
            response.headers.append(("Retry-After", _seconds(fault.retry_after)))
        _delay_or_truncate(response, fault)
        return response

    # ------------------------------------------------------------------ REST
    def _rest(self, request: Request, resource: str) -> Response:
        tracking_id = str(uuid.uuid4())
        operation = REST_OPERATIONS.get(resource)
        if operation is None:
            return self._record(
                request, "unknown", "rest", tracking_id, None,
                Response(404, b"", [("TrackingId", tracking_id)]),
            )  # fmt: skip
        fault = self._count(operation, "rest")
        headers = [("Content-Type", JSON_CONTENT_TYPE), ("TrackingId", tracking_id)]
        if fault is not None:
            injected = self._service_fault(fault, "rest", tracking_id)
            if injected is not None:
                return self._record(request, operation, "rest", tracking_id, fault, injected)
        if request.method != "POST":
            response = Response(405, b"", [("Allow", "POST"), ("TrackingId", tracking_id)])
        else:
            try:
                status, body = self.rest.handle(operation, request.headers, request.body)
            except ApiFaultError as err:
                status, body = err.http_status, rest_fault_body(err, tracking_id)
            response = Response(status, body, headers)
        if fault is not None:
            _delay_or_truncate(response, fault)
        return self._record(request, operation, "rest", tracking_id, fault, response)

    # ------------------------------------------------------------------ SOAP
    def _soap(self, request: Request) -> Response:
        tracking_id = str(uuid.uuid4())
        action = (request.headers.get("soapaction") or "").strip().strip('"').rsplit("/", 1)[-1]
        operation = action if action in SOAP_OPERATIONS else "unknown"
        xml_headers = [("Content-Type", XML_CONTENT_TYPE)]
        fault = self._count(operation, "soap") if operation != "unknown" else None
        if fault is not None:
            injected = self._service_fault(fault, "soap", tracking_id)
            if injected is not None:
                return self._record(request, operation, "soap", tracking_id, fault, injected)
        if request.method != "POST":
            response = Response(405, b"", [("Allow", "POST")])
        else:
            try:
                parsed = parse_request(
                    request.body, request.headers.get("content-type"), request.headers.get("soapaction")
                )
                response = Response(200, self.soap.handle(parsed, tracking_id), xml_headers)
            except SoapClientError as err:
                if err.with_fault:
                    response = Response(
                        err.status, plain_fault_envelope(err.faultstring, tracking_id), xml_headers
                    )
                else:
                    response = Response(err.status, b"", [])
            except ApiFaultError as err:
                status = 400 if err.http_status == 400 and err.code == 100 else 500
                response = Response(status, fault_envelope(err, tracking_id), xml_headers)
        if operation == "unknown":
            with self._lock:
                self.counters["unknown"] += 1
                self.transport_counters[("unknown", "soap")] += 1
        if fault is not None:
            _delay_or_truncate(response, fault)
        return self._record(request, operation, "soap", tracking_id, fault, response)

    # ------------------------------------------------------------------ Reporting (REST)
    def _reporting(self, request: Request, operation: str | None) -> Response:
        tracking_id = str(uuid.uuid4())
        if operation is None:
            return self._record(
                request, "unknown", "rest", tracking_id, None,
                Response(404, b"", [("TrackingId", tracking_id)]),
            )  # fmt: skip
        fault = self._count(operation, "rest")
        headers = [("Content-Type", JSON_CONTENT_TYPE), ("TrackingId", tracking_id)]
        if fault is not None:
            injected = self._reporting_fault(fault, tracking_id)
            if injected is not None:
                return self._record(request, operation, "rest", tracking_id, fault, injected)
        if request.method != "POST":
            response = Response(405, b"", [("Allow", "POST"), ("TrackingId", tracking_id)])
        else:
            try:
                if operation == "SubmitGenerateReport":
                    result = self.reporting.submit(request.headers, request.body)
                else:
                    result = self.reporting.poll(request.headers, request.body)
                response = Response(200, json.dumps(result, separators=(",", ":")).encode(), headers)
            except ReportingFault as err:
                response = Response(err.http_status, fault_bytes(err, tracking_id), headers)
        if fault is not None:
            _delay_or_truncate(response, fault)
        return self._record(request, operation, "rest", tracking_id, fault, response)

    def _reporting_fault(self, fault: Fault, tracking_id: str) -> Response | None:
        special = _socket_fault(fault)
        if special is not None:
            return special
        headers = [("Content-Type", JSON_CONTENT_TYPE), ("TrackingId", tracking_id)]
        if fault.kind == "malformed":
            return Response(fault.status or 200, b'{"ReportRequestStatus":{"Sta', headers, delay=fault.delay)
        if fault.status is None and fault.error_code is None:
            return None
        code = fault.error_code
        if code is None:
            code = {429: 117, 401: 105, 403: 106, 400: 201}.get(fault.status or 500, 0)
        err = ReportingFault(code, http_status=fault.status, message=fault.message)
        response = Response(err.http_status, fault_bytes(err, tracking_id), headers, delay=fault.delay)
        if fault.retry_after is not None:
            response.headers.append(("Retry-After", _seconds(fault.retry_after)))
        if fault.kind == "truncate":
            response.action = "truncate"
        return response

    # ------------------------------------------------------------------ injected service faults
    def _service_fault(self, fault: Fault, transport: str, tracking_id: str) -> Response | None:
        special = _socket_fault(fault)
        if special is not None:
            return special
        if fault.kind == "malformed":
            if transport == "rest":
                body, ctype = (
                    b'{"Accounts":[{"AccountFinancialStatus":"ClearFinancialStatus","Id":"30',
                    JSON_CONTENT_TYPE,
                )
            else:
                body, ctype = (
                    b'<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body>'
                    b"<SearchAccountsResponse "
                    b'xmlns="https://bingads.microsoft.com/Customer/v13"><Accounts><a:Adver',
                    XML_CONTENT_TYPE,
                )
            return Response(
                fault.status or 200,
                body,
                [("Content-Type", ctype), ("TrackingId", tracking_id)],
                delay=fault.delay,
            )
        if fault.status is None and fault.error_code is None:
            return None
        code = fault.error_code
        if code is None:
            code = {429: 117, 401: 105, 403: 106, 400: 201}.get(fault.status or 500, 0)
        err = ApiFaultError(
            code, message=fault.message, fault_type=fault.fault_type, http_status=fault.status
        )
        if transport == "rest":
            response = Response(
                fault.status or api_code(code).http_status,
                rest_fault_body(err, tracking_id),
                [("Content-Type", JSON_CONTENT_TYPE), ("TrackingId", tracking_id)],
            )
        else:
            status = 200 if fault.soap_fault_on_200 else (fault.status or 500)
            response = Response(
                status, fault_envelope(err, tracking_id), [("Content-Type", XML_CONTENT_TYPE)]
            )
        if fault.retry_after is not None:
            response.headers.append(("Retry-After", _seconds(fault.retry_after)))
        _delay_or_truncate(response, fault)
        return response


def _delay_or_truncate(response: Response, fault: Fault) -> None:
    """What every route's fault does to an answer it still sends: wait first, and cut a truncate short."""
    response.delay = fault.delay
    if fault.kind == "truncate":
        response.action = "truncate"


def _socket_fault(fault: Fault) -> Response | None:
    """reset / timeout / html faults, which look the same on every route."""
    if fault.kind == "reset":
        return Response(0, action="reset", delay=fault.delay)
    if fault.kind == "timeout":
        return Response(0, action="timeout", delay=fault.delay or DEFAULT_TIMEOUT_HOLD)
    if fault.kind == "html":
        headers = [("Content-Type", "text/html")]
        if fault.retry_after is not None:
            headers.append(("Retry-After", _seconds(fault.retry_after)))
        return Response(fault.status or 502, PROXY_502_PAGE, headers, delay=fault.delay)
    return None


def _seconds(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def _oauth_http(result: OAuthResponse) -> Response:
    headers = list(result.headers.items())
    if result.body is not None:
        headers.append(("Content-Type", JSON_CONTENT_TYPE))
        return Response(result.status, json.dumps(result.body).encode("utf-8"), headers)
    if result.html is not None:
        headers.append(("Content-Type", "text/html; charset=utf-8"))
        return Response(result.status, result.html.encode("utf-8"), headers)
    return Response(result.status, b"", headers)
