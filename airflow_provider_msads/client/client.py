"""MicrosoftAdsClient: the Customer Management operations, paging and account discovery.

Airflow-free. One client per hook use: it owns (or borrows) one ``httpx.Client`` with keep-alive, and
speaks REST (default) or SOAP through the same methods with the same results.
"""

from __future__ import annotations

import dataclasses
import itertools
import logging
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Literal

import httpx
import msgspec

from airflow_provider_msads.client.environments import Endpoints, check_developer_token
from airflow_provider_msads.client.errors import (
    ApiAuthenticationError,
    ApiError,
    ConfigurationError,
    InvalidResponseError,
    ResultLimitError,
    ThrottledError,
    TokenExpiredError,
    TransientApiError,
)
from airflow_provider_msads.client.http_client import new_http_client as new_http_client  # re-exported
from airflow_provider_msads.client.ids import parse_id, required_id
from airflow_provider_msads.client.models import ACCOUNT_STATUSES, Account, Customer, UserInfo
from airflow_provider_msads.client.protocols import AccessTokenProvider
from airflow_provider_msads.client.rest import RestCodec
from airflow_provider_msads.client.retry import RetryPolicy
from airflow_provider_msads.client.settings import check_secret_text
from airflow_provider_msads.client.wire import (
    DEFAULT_ATTEMPT_SECONDS,
    DEFAULT_MAX_RESPONSE_BYTES,
    GET_ACCOUNT,
    GET_CUSTOMER,
    GET_USER,
    SEARCH_ACCOUNTS,
    ClientStats,
    Codec,
    GetAccountRequest,
    GetCustomerRequest,
    GetUserRequest,
    Predicate,
    RequestRunner,
    SearchAccountsRequest,
)

if TYPE_CHECKING:
    from contextlib import AbstractContextManager

    from airflow_provider_msads.client.protocols import TokenStore
    from airflow_provider_msads.client.reporting.protocol import ReportStatus
    from airflow_provider_msads.client.reporting.request import ReportRequest
    from airflow_provider_msads.client.reporting.service import Report, ReportingOptions, ReportingService
    from airflow_provider_msads.client.settings import ConnectionSettings
    from airflow_provider_msads.client.token_cache import AccessTokenCache

log = logging.getLogger(__name__)

MAX_PAGE_SIZE = 1000
#: Default per-operation timeouts: a page of 1000 accounts can take seconds; connecting should not.
#: Each attempt as a whole is bounded by ``timeout`` (DEFAULT_ATTEMPT_SECONDS), see ``wire.py``.
DEFAULT_TIMEOUT = httpx.Timeout(DEFAULT_ATTEMPT_SECONDS, connect=10.0, pool=10.0)
#: Default bound on one search: more accounts than this raise ResultLimitError (a runaway server).
DEFAULT_MAX_ACCOUNTS = 1_000_000
ORDER_BY_FIELDS = ("Id", "Name", "Number", "LifeCycleStatus")
ADDITIONAL_FIELDS = ("TaxCertificate", "AccountMode", "CouponClaimInfo", "ParentCustomerNumber")
#: Predicate values shorter than this are rejected by the service (docs: Predicate.Value).
_MIN_PREDICATE_TEXT = 4
#: Up to this many account ids go into one ``AccountId In`` predicate; more are filtered client-side.
_MAX_IN_VALUES = 100

TransportName = Literal["rest", "soap"]
Filter = Callable[[Account], bool]


class MicrosoftAdsClient:
    """Customer Management v13 client (REST or SOAP), a context manager.

    :param auth: gives access tokens and forgets rejected ones (``AccessTokenProvider``).
    :param developer_token: the integration's developer token (never logged or put in errors).
    :param endpoints: resolved URLs, see ``environments.resolve_endpoints``.
    :param transport: ``"rest"`` (default) or ``"soap"`` (until the 2027-01-31 shutdown).
    :param customer_id: default CustomerId header for account-scoped operations.
    :param account_id: default CustomerAccountId header for account-scoped operations.
    :param http: an ``httpx.Client`` to borrow; when None one is created and closed by :meth:`close`.
    :param retry: retry bounds and waits, and the total time budget of one request including every
        retry (``RetryPolicy.max_total_seconds``); :class:`RetryPolicy` defaults when None.
    :param timeout: seconds one attempt may take in total, connect to last byte, however slowly the
        server sends (default 60); an ``httpx.Timeout`` sets the per-operation timeouts instead and
        keeps the 60 s total.
    :param max_response_bytes: cap on one response body; larger bodies raise ResponseTooLargeError.
    :param sleep: how retries wait (tests may record the waits instead of sleeping).
    :param reporting: report polling/download bounds (``ReportingOptions`` defaults when None).
    """

    def __init__(
        self,
        auth: AccessTokenProvider,
        developer_token: str,
        endpoints: Endpoints,
        transport: TransportName = "rest",
        customer_id: int | None = None,
        account_id: int | None = None,
        http: httpx.Client | None = None,
        retry: RetryPolicy | None = None,
        timeout: float | httpx.Timeout | None = None,
        *,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
        sleep: Callable[[float], None] | None = None,
        reporting: ReportingOptions | None = None,
    ) -> None:
        if not isinstance(developer_token, str) or not developer_token.strip():
            raise ConfigurationError(
                "developer_token", "is missing", "add the developer token from the Developer Portal"
            )
        check_secret_text(developer_token.strip(), "developer_token")
        check_developer_token(developer_token.strip(), endpoints.environment)
        if not isinstance(auth, AccessTokenProvider):
            raise ConfigurationError(
                "auth", "does not provide get_access_token()/invalidate()", "pass e.g. RefreshTokenAuth"
            )
        self._codec = _make_codec(transport, endpoints)
        self._endpoints = endpoints
        self._customer_id = parse_id(customer_id, "customer_id")
        self._account_id = parse_id(account_id, "account_id")
        self._owns_http = http is None
        request_timeout = _as_timeout(timeout)
        attempt_seconds = _attempt_seconds(timeout)
        self._http = (
            http
            if http is not None
            else new_http_client(request_timeout or DEFAULT_TIMEOUT, tls=needs_tls(endpoints))
        )
        self.retry_policy = retry or RetryPolicy()
        if sleep is None:
            sleep = self.retry_policy.sleep if self.retry_policy.sleep is not None else time.sleep
        self.stats = ClientStats()
        self._runner = RequestRunner(
            http=self._http,
            codec=self._codec,
            auth=auth,
            developer_token=developer_token.strip(),
            customer_id=self._customer_id,
            account_id=self._account_id,
            policy=self.retry_policy,
            stats=self.stats,
            timeout=request_timeout,
            max_response_bytes=max_response_bytes,
            attempt_seconds=attempt_seconds,
            sleep=sleep,
        )
        # Reporting is REST-only whatever ``transport`` says: its runner is built on first use.
        self._reporting_args = (auth, developer_token.strip(), request_timeout, max_response_bytes)
        self._attempt_seconds = attempt_seconds
        self._reporting_options = reporting
        self._reporting: ReportingService | None = None
        self._sleep = sleep

    @classmethod
    def from_settings(
        cls,
        settings: ConnectionSettings,
        *,
        token_store: TokenStore | None = None,
        access_token_cache: AccessTokenCache | None = None,
        http: httpx.Client | None = None,
        retry: RetryPolicy | None = None,
        timeout: float | httpx.Timeout | None = None,
        auth: AccessTokenProvider | None = None,
    ) -> MicrosoftAdsClient:
        """Build auth and client from validated connection settings, sharing one httpx.Client.

        The one way from a connection to a client: the hook and the UI's Connect page both use it.
        ``retry`` and ``timeout`` are those of :class:`MicrosoftAdsClient` (the token endpoint keeps
        its own 30 s budget).

        :param auth: use this access-token provider instead of refreshing ``settings.refresh_token``
            (the Connect page passes the access token issued at sign-in).
        """
        from airflow_provider_msads.client.auth import RefreshTokenAuth

        owned = http is None
        endpoints = settings.endpoints
        http_client = (
            http
            if http is not None
            else new_http_client(_as_timeout(timeout) or DEFAULT_TIMEOUT, tls=needs_tls(endpoints))
        )
        try:
            if auth is None:
                auth = RefreshTokenAuth.from_settings(
                    settings,
                    http=http_client,
                    token_store=token_store,
                    access_token_cache=access_token_cache,
                )
            client = cls(
                auth=auth,
                developer_token=settings.developer_token,
                endpoints=endpoints,
                transport=settings.transport,
                customer_id=settings.customer_id,
                account_id=settings.account_id,
                http=http_client,
                retry=retry,
                timeout=timeout,
            )
        except BaseException:
            if owned:
                http_client.close()
            raise
        client._owns_http = owned
        return client

    # -- lifecycle ------------------------------------------------------------------------------

    @property
    def transport(self) -> str:
        return self._codec.name

    @property
    def endpoints(self) -> Endpoints:
        return self._endpoints

    def close(self) -> None:
        """Close the httpx.Client if this client created it; a borrowed one stays open."""
        if self._owns_http:
            self._http.close()

    def __enter__(self) -> MicrosoftAdsClient:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return (
            f"MicrosoftAdsClient(transport={self.transport!r}, "
            f"environment={self._endpoints.environment.name!r}, "
            f"customer_id={self._customer_id!r}, account_id={self._account_id!r})"
        )

    # -- operations -----------------------------------------------------------------------------

    def get_user(self, user_id: int | None = None) -> UserInfo:
        """GetUser: the user (the signed-in one when ``user_id`` is None) and their customer roles."""
        request = GetUserRequest(parse_id(user_id, "user_id"))
        return self._runner.call(GET_USER, request, self._codec.user_info)

    def get_account(self, account_id: int) -> Account:
        """GetAccount by id."""
        request = GetAccountRequest(required_id(account_id, "account_id"))
        return self._runner.call(GET_ACCOUNT, request, self._codec.account)

    def get_customer(self, customer_id: int) -> Customer:
        """GetCustomer by id."""
        request = GetCustomerRequest(required_id(customer_id, "customer_id"))
        return self._runner.call(GET_CUSTOMER, request, self._codec.customer)

    def search_accounts(
        self,
        *,
        user_id: int | None = None,
        customer_id: int | None = None,
        account_ids: Iterable[int] | None = None,
        statuses: str | Iterable[str] | None = None,
        name_contains: str | None = None,
        page_size: int = MAX_PAGE_SIZE,
        order_by: str | None = "Id",
        ascending: bool = True,
        return_additional_fields: str | Iterable[str] | None = None,
        start_page: int = 0,
        max_accounts: int = DEFAULT_MAX_ACCOUNTS,
    ) -> Iterator[Account]:
        """SearchAccounts as a lazy iterator: one request per page, until a short page.

        Arguments are validated now; requests start on the first ``next()``. Filters the API cannot
        express (several statuses, names under 4 characters, many ids) are applied client-side; with
        no id/name predicate at all the signed-in user's accounts are searched (one GetUser call).
        A failed page is retried in place, and ``start_page`` resumes a search after a failure. More
        than ``max_accounts`` results (1,000,000 by default) raise :class:`ResultLimitError`: a server
        that never sends a short page cannot make the search run forever.
        """
        plan = _SearchPlan.build(
            user_id=parse_id(user_id, "user_id"),
            customer_ids=_id_list([customer_id] if customer_id is not None else None, "customer_id"),
            account_ids=_id_list(account_ids, "account_ids"),
            statuses=_statuses(statuses),
            name_contains=_name(name_contains),
        )
        query = _PageQuery(
            order_by=_order_by(order_by),
            ascending=bool(ascending),
            page_size=_page_size(page_size),
            fields=_additional_fields(return_additional_fields),
            start_page=_start_page(start_page),
            max_accounts=_max_accounts(max_accounts),
        )
        return self._search(plan, query, dedupe=False, with_customer_names=False)

    def discover_accounts(
        self,
        *,
        customer_ids: Iterable[int] | None = None,
        account_ids: Iterable[int] | None = None,
        statuses: str | Iterable[str] | None = None,
        name_contains: str | None = None,
        page_size: int = MAX_PAGE_SIZE,
        with_customer_names: bool = False,
        max_accounts: int = DEFAULT_MAX_ACCOUNTS,
    ) -> Iterator[Account]:
        """Every account the signed-in user can reach, each once, streamed page by page.

        GetUser, then SearchAccounts with the UserId predicate ordered by Id. Filters go to the API as
        predicates where it supports them and are applied client-side otherwise. With
        ``with_customer_names`` one GetCustomer per distinct customer (cached) fills ``customer_name``.
        Memory stays at one page (duplicates are recognised by the ascending ids, no set of seen ids
        is kept). More than ``max_accounts`` accounts raise :class:`ResultLimitError`.
        """
        customers = _id_list(customer_ids, "customer_ids")
        accounts = _id_list(account_ids, "account_ids")
        states = _statuses(statuses)
        name = _name(name_contains)
        query = _PageQuery("Id", True, _page_size(page_size), (), 0, _max_accounts(max_accounts))

        def generate() -> Iterator[Account]:
            user = self.get_user().user
            plan = _SearchPlan.build(
                user_id=user.id,
                customer_ids=customers,
                account_ids=accounts,
                statuses=states,
                name_contains=name,
            )
            yield from self._search(plan, query, dedupe=True, with_customer_names=with_customer_names)

        return generate()

    # -- reporting (REST only) ------------------------------------------------------------------

    def run_report(self, request: ReportRequest) -> AbstractContextManager[Report]:
        """Submit -> poll -> download a report; a context manager yielding the :class:`Report`.

        More than 1,000 accounts become several requests (all submitted first), rows merged in order.
        The downloaded files live in a temporary directory until the ``with`` block ends::

            with client.run_report(request) as report:
                for row in report: ...
        """
        return self._reporting_service().run(request)

    def submit_report(self, request: ReportRequest) -> str:
        """SubmitGenerateReport for ONE request of at most 1,000 accounts; returns the ReportRequestId."""
        return self._reporting_service().submit(request)

    def poll_report(self, report_request_id: str) -> ReportStatus:
        """PollGenerateReport once: Pending, Success (with the download URL or None) or Error."""
        return self._reporting_service().poll(report_request_id)

    def download_report(
        self, report_request_id: str, status: ReportStatus, request: ReportRequest | None = None
    ) -> AbstractContextManager[Report]:
        """Download a Success status's file without API headers; a context manager yielding the Report.

        An expired URL is refreshed by polling again; Success without a URL gives an empty Report. Pass
        the ``request`` when you have it: its columns and aggregation are then checked against the file.
        """
        return self._reporting_service().download(report_request_id, status, request)

    def _reporting_service(self) -> ReportingService:
        if self._reporting is None:
            from airflow_provider_msads.client.reporting.protocol import ReportingCodec
            from airflow_provider_msads.client.reporting.service import ReportingOptions, ReportingService

            auth, developer_token, request_timeout, max_response_bytes = self._reporting_args
            codec = ReportingCodec(self._endpoints)
            runner = RequestRunner(
                http=self._http,
                codec=codec,
                auth=auth,
                developer_token=developer_token,
                customer_id=self._customer_id,
                account_id=self._account_id,
                policy=self.retry_policy,
                stats=self.stats,
                timeout=request_timeout,
                max_response_bytes=max_response_bytes,
                attempt_seconds=self._attempt_seconds,
                sleep=self._sleep,
            )
            self._reporting = ReportingService(
                runner=runner,
                codec=codec,
                http=self._http,
                options=self._reporting_options or ReportingOptions(),
                sleep=self._sleep,
            )
        return self._reporting

    # -- paging ---------------------------------------------------------------------------------

    def _search(
        self, plan: _SearchPlan, query: _PageQuery, *, dedupe: bool, with_customer_names: bool
    ) -> Iterator[Account]:
        predicates = plan.predicates
        if plan.needs_user:
            predicates = (Predicate("UserId", "Equals", str(self.get_user().user.id)), *predicates)
        keep = plan.keep
        names: dict[int, str | None] = {}
        # dedupe is only asked for with ascending Id order: an account seen on an earlier page (pages
        # shift when accounts are added while paging) has an id at or below the last one yielded.
        last_id = -1
        for page in self._pages(predicates, query):
            for account in page:
                if dedupe:
                    if account.id <= last_id:
                        continue
                    last_id = account.id
                if keep is not None and not keep(account):
                    continue
                if with_customer_names and account.parent_customer_id is not None:
                    name = self._customer_name(account.parent_customer_id, names)
                    account = msgspec.structs.replace(account, customer_name=name)
                yield account

    def _pages(self, predicates: tuple[Predicate, ...], query: _PageQuery) -> Iterator[list[Account]]:
        """Raw pages from ``query.start_page`` on; stops after the first short page."""
        index = query.start_page
        previous_first: int | None = None
        received = 0
        ascending_ids = query.order_by == "Id" and query.ascending
        while True:
            request = SearchAccountsRequest(
                predicates, query.order_by, query.ascending, index, query.page_size, query.fields
            )
            page = self._runner.call(SEARCH_ACCOUNTS, request, self._codec.accounts)
            self.stats.pages += 1
            if len(page) > query.page_size:
                raise InvalidResponseError(
                    f"page {index} holds {len(page)} accounts, more than the {query.page_size} requested",
                    operation=SEARCH_ACCOUNTS.name,
                )
            if page and previous_first is not None and page[0].id == previous_first:
                raise InvalidResponseError(
                    f"page {index} repeats page {index - 1}: the service ignored PageInfo.Index",
                    operation=SEARCH_ACCOUNTS.name,
                )
            if ascending_ids and any(a.id >= b.id for a, b in itertools.pairwise(page)):
                raise InvalidResponseError(
                    f"page {index} is not ordered by ascending Id as requested",
                    operation=SEARCH_ACCOUNTS.name,
                )
            received += len(page)
            if received > query.max_accounts:
                raise ResultLimitError(
                    f"SearchAccounts returned more than {query.max_accounts:,} accounts (page {index}) and "
                    f"has not ended: stopped to bound time and memory. If the user really reaches more, "
                    f"pass a larger max_accounts; otherwise the service (or a proxy) is misbehaving"
                )
            yield page
            if len(page) < query.page_size:
                return
            previous_first = page[0].id
            index += 1

    def _customer_name(self, customer_id: int, cache: dict[int, str | None]) -> str | None:
        if customer_id not in cache:
            try:
                cache[customer_id] = self.get_customer(customer_id).name
            except (ThrottledError, TransientApiError, TokenExpiredError):
                raise  # retries exhausted or auth broken: the run cannot be trusted
            except ApiError as exc:
                log.warning("%s", _customer_name_warning(customer_id, exc))
                cache[customer_id] = None
        return cache[customer_id]


@dataclasses.dataclass(frozen=True, slots=True)
class _PageQuery:
    order_by: str | None
    ascending: bool
    page_size: int
    fields: tuple[str, ...]
    start_page: int
    max_accounts: int = DEFAULT_MAX_ACCOUNTS


@dataclasses.dataclass(frozen=True, slots=True)
class _SearchPlan:
    """Which filters go to the API as predicates, and which are checked client-side."""

    predicates: tuple[Predicate, ...]
    keep: Filter | None
    needs_user: bool

    @classmethod
    def build(
        cls,
        *,
        user_id: int | None,
        customer_ids: tuple[int, ...] | None,
        account_ids: tuple[int, ...] | None,
        statuses: tuple[str, ...] | None,
        name_contains: str | None,
    ) -> _SearchPlan:
        predicates: list[Predicate] = []
        checks: list[Filter] = []
        if user_id is not None:
            predicates.append(Predicate("UserId", "Equals", str(user_id)))
        if customer_ids is not None:
            # The service's CustomerId predicate also matches agency-linked accounts; the filter here
            # means "owned by one of these customers" (Account.parent_customer_id), so it is re-checked.
            if len(customer_ids) == 1:
                predicates.append(Predicate("CustomerId", "Equals", str(customer_ids[0])))
            wanted_customers = frozenset(customer_ids)
            checks.append(lambda a: a.parent_customer_id in wanted_customers)
        if account_ids is not None:
            if len(account_ids) == 1:
                predicates.append(Predicate("AccountId", "Equals", str(account_ids[0])))
            elif len(account_ids) <= _MAX_IN_VALUES:
                predicates.append(Predicate("AccountId", "In", ",".join(map(str, account_ids))))
            wanted_accounts = frozenset(account_ids)
            checks.append(lambda a: a.id in wanted_accounts)
        if statuses is not None:
            if len(statuses) == 1:
                predicates.append(Predicate("AccountLifeCycleStatus", "Equals", statuses[0]))
            else:
                wanted_statuses = frozenset(statuses)
                checks.append(lambda a: status_matches(a, wanted_statuses))
        if name_contains is not None:
            if len(name_contains) >= _MIN_PREDICATE_TEXT:
                predicates.append(Predicate("AccountName", "Contains", name_contains))
            else:
                needle = name_contains.casefold()
                checks.append(lambda a: a.name is not None and needle in a.name.casefold())
        anchors = {"UserId", "CustomerId", "AccountId", "AccountName"}
        needs_user = not any(p.field in anchors for p in predicates)
        return cls(tuple(predicates), _all_of(checks), needs_user)


def status_matches(account: Account, wanted: frozenset[str]) -> bool:
    """The service's AccountLifeCycleStatus predicate semantics, for filtering client-side.

    Per the SearchAccounts predicate docs, "Active" also matches accounts paused by billing
    (Pause with PauseReason 2), and "Pause" matches only user pauses (PauseReason 1 or 4).
    """
    status = account.lifecycle_status
    if status == "Pause" and account.pause_reason == 2:
        return "Active" in wanted
    return status in wanted


def _all_of(checks: list[Filter]) -> Filter | None:
    if not checks:
        return None
    if len(checks) == 1:
        return checks[0]
    return lambda account: all(check(account) for check in checks)


def needs_tls(endpoints: Endpoints) -> bool:
    """False only when every URL of ``endpoints`` is plain http (loopback: the emulator)."""
    urls = (
        endpoints.token_url,
        endpoints.customer_management_rest_url,
        endpoints.customer_management_soap_url,
    )
    return any(not url.startswith("http://") for url in urls)


def _customer_name_warning(customer_id: int, exc: ApiError) -> str:
    """One short line (< 200 characters): what happened to this customer's name, not the whole fault."""
    code = (
        f"error {exc.codes[0]}" if exc.codes else (f"HTTP {exc.http_status}" if exc.http_status else "fault")
    )
    if isinstance(exc, ApiAuthenticationError):
        return f"customer {customer_id}: name left blank: this user has no access to customer {customer_id} ({code})"
    return f"customer {customer_id}: name left blank: GetCustomer failed ({code}, {type(exc).__name__})"


def _make_codec(transport: str, endpoints: Endpoints) -> Codec:
    name = str(transport).strip().lower()
    if name == "rest":
        return RestCodec(endpoints)
    if name == "soap":
        from airflow_provider_msads.client.soap import SoapCodec  # lxml only when SOAP is chosen

        return SoapCodec(endpoints)
    raise ConfigurationError(
        "transport", f"unknown transport {transport!r}", "use 'rest' (default) or 'soap'"
    )


def _attempt_seconds(timeout: float | httpx.Timeout | None) -> float:
    if timeout is None or isinstance(timeout, httpx.Timeout):
        return DEFAULT_ATTEMPT_SECONDS
    return float(timeout)


def _max_accounts(value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigurationError("max_accounts", f"{value!r} is not a positive count", "e.g. 1000000")
    return value


def _as_timeout(timeout: float | httpx.Timeout | None) -> httpx.Timeout | None:
    if timeout is None or isinstance(timeout, httpx.Timeout):
        return timeout
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout <= 0:
        raise ConfigurationError("timeout", f"{timeout!r} is not a positive number", "give seconds, e.g. 60")
    return httpx.Timeout(float(timeout))


def _id_list(values: Iterable[int | None] | None, field: str) -> tuple[int, ...] | None:
    if values is None:
        return None
    if isinstance(values, (str, bytes)):
        raise ConfigurationError(field, "expected a list of ids, got a string", "pass e.g. [123, 456]")
    ids = tuple(dict.fromkeys(required_id(v, field) for v in values))
    if not ids:
        raise ConfigurationError(field, "is an empty list", "pass None for no filter, or at least one id")
    return ids


def _statuses(statuses: str | Iterable[str] | None) -> tuple[str, ...] | None:
    if statuses is None:
        return None
    values = [statuses] if isinstance(statuses, str) else list(statuses)
    canonical = {s.lower(): s for s in ACCOUNT_STATUSES}
    out: list[str] = []
    for value in values:
        status = canonical.get(str(value).strip().lower())
        if status is None:
            raise ConfigurationError(
                "statuses", f"unknown status {value!r}", f"use {', '.join(ACCOUNT_STATUSES)}"
            )
        out.append(status)
    if not out:
        raise ConfigurationError("statuses", "is an empty list", "pass None for no filter")
    return tuple(dict.fromkeys(out))


def _name(name_contains: str | None) -> str | None:
    if name_contains is None:
        return None
    if not isinstance(name_contains, str) or not name_contains.strip():
        raise ConfigurationError("name_contains", "is empty", "pass None for no filter, or some text")
    return name_contains.strip()


def _order_by(order_by: str | None) -> str | None:
    if order_by is None or order_by in ORDER_BY_FIELDS:
        return order_by
    raise ConfigurationError(
        "order_by", f"unknown field {order_by!r}", f"use one of {', '.join(ORDER_BY_FIELDS)}"
    )


def _page_size(page_size: int) -> int:
    if isinstance(page_size, bool) or not isinstance(page_size, int) or not 1 <= page_size <= MAX_PAGE_SIZE:
        raise ConfigurationError("page_size", f"{page_size!r} is out of range", f"use 1..{MAX_PAGE_SIZE}")
    return page_size


def _start_page(start_page: int) -> int:
    if isinstance(start_page, bool) or not isinstance(start_page, int) or start_page < 0:
        raise ConfigurationError("start_page", f"{start_page!r} is not a page index", "use 0 or more")
    return start_page


def _additional_fields(fields: str | Iterable[str] | None) -> tuple[str, ...]:
    if fields is None:
        return ()
    values: Sequence[str] = fields.replace(",", " ").split() if isinstance(fields, str) else list(fields)
    for value in values:
        if value not in ADDITIONAL_FIELDS:
            raise ConfigurationError(
                "return_additional_fields", f"unknown field {value!r}", f"use {', '.join(ADDITIONAL_FIELDS)}"
            )
    return tuple(dict.fromkeys(values))
