"""Customer Management v13 operations, independent of the wire format.

REST and SOAP parse their requests into the small types below, call :class:`CustomerManagement`, and
render the result (or the :class:`ApiFaultError`) in their own format. Keeping the rules here means the
two transports cannot drift apart: same auth checks, same predicates, same paging, same error codes.

Rules (from the v13 docs; see ``predicate.md`` / ``searchaccounts.md``):

* credentials: access token missing/unknown -> 105, expired -> 109, developer token missing/unknown ->
  105, developer token of the other environment than the access token -> 105 (sandbox/production mix-up);
* SearchAccounts: at least one predicate besides AccountLifeCycleStatus (else 474); supported
  Field/Operator pairs only (else 3030); PageInfo required with Index >= 0 and 1 <= Size <= 1000
  (else 3080); one OrderBy (Id, Name, Number, LifeCycleStatus), extra ones ignored; default order Id;
  "Active" also matches Pause with PauseReason 2, "Pause" matches PauseReason 1 or 4;
* results are always limited to what the caller can reach through its customer roles.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from airflow_provider_msads.testing.codes import api_code
from airflow_provider_msads.testing.data import Account, Customer, Dataset, User
from airflow_provider_msads.testing.identity import AccessToken, EnvironmentName, IdentityPlatform

MAX_PAGE_SIZE = 1000
ADDITIONAL_FIELDS = ("TaxCertificate", "AccountMode", "CouponClaimInfo", "ParentCustomerNumber")
ORDER_FIELDS = ("Id", "Name", "Number", "LifeCycleStatus", "CouponClassName", "CouponStartDate")
SORT_ORDERS = ("Ascending", "Descending")
PREDICATE_OPERATORS = (
    "Equals",
    "NotEquals",
    "Contains",
    "In",
    "GreaterThanEquals",
    "LessThanEquals",
    "StartsWith",
    "NotContains",
)
# Supported Field -> Operators for SearchAccounts (predicate.md "SearchAccounts Predicates"; the docs'
# own SOAP example uses In for AccountLifeCycleStatus, so it is accepted too).
SEARCH_PREDICATES: dict[str, tuple[str, ...]] = {
    "AccountId": ("Equals", "In"),
    "AccountLifeCycleStatus": ("Equals", "In"),
    "AccountName": ("Contains", "Equals"),
    "AccountNumber": ("Contains", "Equals", "In"),
    "CustomerId": ("Equals",),
    "UserId": ("Equals",),
}
LIFECYCLE_VALUES = ("Active", "Draft", "Inactive", "Pause", "Pending", "Suspended")


class ApiFaultError(Exception):
    """A fault the service would return: code, fault type, HTTP status (REST), optional detail text."""

    def __init__(
        self,
        code: int,
        *,
        detail: str | None = None,
        message: str | None = None,
        fault_type: str | None = None,
        http_status: int | None = None,
    ) -> None:
        info = api_code(code)
        self.code = code
        self.error_code = info.name
        self.message = message or info.message
        self.detail = detail
        self.fault_type = fault_type or info.fault_type
        self.http_status = http_status or info.http_status
        super().__init__(f"{code}: {self.message}")


@dataclass(frozen=True, slots=True)
class Caller:
    user: User
    token: AccessToken

    @property
    def environment(self) -> EnvironmentName:
        return self.token.environment


@dataclass(frozen=True, slots=True)
class Predicate:
    field: str | None
    operator: str | None
    value: str | None


@dataclass(frozen=True, slots=True)
class OrderBy:
    field: str | None
    order: str | None


@dataclass(frozen=True, slots=True)
class Paging:
    index: int | None
    size: int | None


class CustomerManagement:
    """The four operations the provider uses, over an immutable :class:`Dataset`."""

    def __init__(
        self,
        data: Dataset,
        identity: IdentityPlatform,
        developer_tokens: dict[str, EnvironmentName],
    ) -> None:
        self.data = data
        self.identity = identity
        self.developer_tokens = developer_tokens
        self._search_cache: OrderedDict[tuple[object, ...], tuple[Account, ...]] = OrderedDict()
        self._cache_lock = threading.Lock()
        self._reach_sets: dict[int, frozenset[int]] = {}

    # ------------------------------------------------------------------ credentials
    def authenticate(self, access_token: str | None, developer_token: str | None) -> Caller:
        if not access_token:
            raise ApiFaultError(
                105, detail="The AuthenticationToken (Authorization: Bearer) header is missing."
            )
        token = self.identity.lookup_access_token(access_token)
        if token is None:
            raise ApiFaultError(105, detail="Invalid access token.")
        if token.expires_at <= self.identity.clock.now():
            raise ApiFaultError(109)
        if not developer_token:
            raise ApiFaultError(105, detail="The DeveloperToken header is missing.", http_status=403)
        dev_env = self.developer_tokens.get(developer_token)
        if dev_env is None:
            raise ApiFaultError(105, detail="Invalid developer token.", http_status=403)
        if dev_env != token.environment:
            raise ApiFaultError(
                105,
                detail=(
                    f"The developer token is valid in {dev_env} but the access token was issued for "
                    f"{token.environment}: use matching credentials and endpoints for one environment."
                ),
            )
        user = self.data.user_by_id.get(token.user_id)
        if user is None:
            raise ApiFaultError(105, detail="UserNotFound")
        return Caller(user, token)

    # ------------------------------------------------------------------ operations
    def get_user(self, caller: Caller, user_id: int | None) -> User:
        if user_id is None or user_id == caller.user.id:
            return caller.user
        other = self.data.user_by_id.get(user_id)
        mine = set(self.data.customer_ids_of(caller.user.id))
        if other is None or not mine.intersection(self.data.customer_ids_of(other.id)):
            raise ApiFaultError(106)
        return other

    def get_account(self, caller: Caller, account_id: int | None) -> Account:
        if not account_id or account_id <= 0:
            raise ApiFaultError(1102)
        if account_id not in self._reachable(caller.user.id):
            raise ApiFaultError(106)
        return self.data.account_by_id[account_id]

    def get_customer(self, caller: Caller, customer_id: int | None) -> Customer:
        if not customer_id or customer_id <= 0:
            raise ApiFaultError(1490)
        if customer_id not in self.data.customer_ids_of(caller.user.id):
            raise ApiFaultError(106)
        return self.data.customer_by_id[customer_id]

    def search_accounts(
        self,
        caller: Caller,
        predicates: list[Predicate] | None,
        ordering: list[OrderBy] | None,
        page: Paging | None,
    ) -> list[Account]:
        """One page of matching accounts. There is no total count: clients page until a short page."""
        if page is None or page.index is None or page.size is None:
            raise ApiFaultError(3080, detail="PageInfo is required.")
        if page.index < 0:
            raise ApiFaultError(3080, detail=f"PageInfo.Index {page.index} is negative.")
        if page.size < 1 or page.size > MAX_PAGE_SIZE:
            raise ApiFaultError(3080, detail=f"PageInfo.Size must be between 1 and {MAX_PAGE_SIZE}.")
        checks = self._compile_predicates(caller, predicates or [])
        order_field, descending = self._ordering(ordering or [])
        key = (caller.user.id, tuple(predicates or ()), order_field, descending)
        with self._cache_lock:
            matches = self._search_cache.get(key)
            if matches is not None:
                self._search_cache.move_to_end(key)
        if matches is None:
            matches = self._run_search(caller, checks, order_field, descending)
            with self._cache_lock:
                self._search_cache[key] = matches
                while len(self._search_cache) > 16:
                    self._search_cache.popitem(last=False)
        start = page.index * page.size
        return list(matches[start : start + page.size])

    # ------------------------------------------------------------------ search internals
    def _reachable(self, user_id: int) -> frozenset[int]:
        found = self._reach_sets.get(user_id)
        if found is None:
            found = self._reach_sets[user_id] = frozenset(self.data.reachable_account_ids(user_id))
        return found

    def _compile_predicates(
        self, caller: Caller, predicates: list[Predicate]
    ) -> list[Callable[[Account], bool]]:
        if not predicates or all(p.field == "AccountLifeCycleStatus" for p in predicates):
            raise ApiFaultError(474)
        checks: list[Callable[[Account], bool]] = []
        for p in predicates:
            allowed = SEARCH_PREDICATES.get(p.field or "")
            if allowed is None or p.operator not in allowed:
                raise ApiFaultError(
                    3030, detail=f"Field {p.field!r} with operator {p.operator!r} is not supported."
                )
            value = (p.value or "").strip()
            if not value:
                raise ApiFaultError(3030, detail=f"Predicate {p.field} needs a value.")
            checks.append(self._check_for(caller, p.field or "", p.operator or "", value))
        return checks

    def _check_for(self, caller: Caller, field: str, operator: str, value: str) -> Callable[[Account], bool]:
        values = [v.strip() for v in value.split(",")] if operator == "In" else [value]
        if field in ("AccountId", "CustomerId", "UserId"):
            try:
                ids = {int(v) for v in values}
            except ValueError:
                raise ApiFaultError(
                    3030, detail=f"Predicate {field} needs numeric ids, got {value!r}."
                ) from None
            if field == "AccountId":
                return lambda a: a.id in ids
            if field == "CustomerId":
                return lambda a: a.parent_customer_id in ids or any(ag[0] in ids for ag in a.linked_agencies)
            (user_id,) = ids
            reach = self._reachable(user_id) if user_id in self.data.user_by_id else frozenset()
            return lambda a: a.id in reach
        if field == "AccountLifeCycleStatus":
            bad = [v for v in values if v not in LIFECYCLE_VALUES]
            if bad:
                raise ApiFaultError(3030, detail=f"Unknown AccountLifeCycleStatus {bad[0]!r}.")
            wanted = set(values)
            return lambda a: _status_matches(a, wanted)
        folded = [v.casefold() for v in values]
        if field == "AccountName":
            if operator == "Contains":
                return lambda a: folded[0] in a.name.casefold()
            return lambda a: a.name.casefold() == folded[0]
        # AccountNumber
        if operator == "Contains":
            return lambda a: folded[0] in a.number.casefold()
        numbers = set(folded)
        return lambda a: a.number.casefold() in numbers

    @staticmethod
    def _ordering(ordering: list[OrderBy]) -> tuple[str, bool]:
        if not ordering:
            return "Id", False
        first = ordering[0]  # "Additional elements are not supported and will be ignored by the service."
        if first.field not in ORDER_FIELDS or (first.order is not None and first.order not in SORT_ORDERS):
            raise ApiFaultError(201, detail=f"Invalid OrderBy {first.field!r} / {first.order!r}.")
        field = first.field if first.field in ("Id", "Name", "Number", "LifeCycleStatus") else "Id"
        return field, first.order == "Descending"

    def _run_search(
        self, caller: Caller, checks: list[Callable[[Account], bool]], order_field: str, descending: bool
    ) -> tuple[Account, ...]:
        by_id = self.data.account_by_id
        found = [by_id[i] for i in self.data.reachable_account_ids(caller.user.id)]  # ascending id
        for check in checks:
            found = [a for a in found if check(a)]
        if order_field == "Name":
            found.sort(key=lambda a: (a.name.casefold(), a.id))
        elif order_field == "Number":
            found.sort(key=lambda a: (a.number, a.id))
        elif order_field == "LifeCycleStatus":
            found.sort(key=lambda a: (a.lifecycle_status, a.id))
        if descending:
            found.reverse()
        return tuple(found)


def _status_matches(account: Account, wanted: set[str]) -> bool:
    status = account.lifecycle_status
    if status == "Pause":
        if account.pause_reason == 2:
            return "Active" in wanted
        return "Pause" in wanted
    return status in wanted


def parse_additional_fields(text: str | None) -> frozenset[str]:
    """AccountAdditionalField flags: REST sends "A, B", SOAP "A B". Unknown names -> 201."""
    if not text:
        return frozenset()
    names = [n for n in text.replace(",", " ").split() if n]
    bad = [n for n in names if n not in ADDITIONAL_FIELDS]
    if bad:
        raise ApiFaultError(201, detail=f"Unknown ReturnAdditionalFields value {bad[0]!r}.")
    return frozenset(names)


def parse_long(value: object, name: str, *, required: bool = False) -> int | None:
    """A 64-bit id given as JSON string/number or XML text; bad input -> 201 (ApiInputValidationError)."""
    if value is None or value == "":
        if required:
            raise ApiFaultError(201, detail=f"{name} is required.")
        return None
    if isinstance(value, bool):
        raise ApiFaultError(201, detail=f"{name} must be a 64-bit integer.")
    try:
        number = int(str(value).strip())
    except ValueError:
        raise ApiFaultError(201, detail=f"{name} must be a 64-bit integer, got {value!r}.") from None
    if not -(2**63) <= number < 2**63:
        raise ApiFaultError(201, detail=f"{name} is out of the 64-bit range.")
    return number


def parse_int(value: object, name: str) -> int | None:
    """A 32-bit int (Paging.Index/Size)."""
    if value is None or value == "":
        return None
    if isinstance(value, bool) or (isinstance(value, str) and not value.strip().lstrip("-").isdigit()):
        raise ApiFaultError(201, detail=f"{name} must be an integer.")
    if not isinstance(value, (int, str)):
        raise ApiFaultError(201, detail=f"{name} must be an integer.")
    number = int(value)
    if not -(2**31) <= number < 2**31:
        raise ApiFaultError(201, detail=f"{name} is out of the 32-bit range.")
    return number
