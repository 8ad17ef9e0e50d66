"""REST/JSON codec for Customer Management v13 (the default transport).

Wire facts: ``POST {base}/CustomerManagement/v13/<Path>``, JSON bodies, 64-bit ids as JSON strings,
flags enums as one comma-separated string, headers ``Authorization: Bearer``, ``DeveloperToken`` (and
``CustomerId`` / ``CustomerAccountId`` for account-scoped operations only). Faults are JSON objects
with ``Errors`` (AdApiFaultDetail), ``OperationErrors`` (ApiFault) or ``BatchErrors``, at top level
or wrapped (``{"ApplicationFault": {...}}``); the ``TrackingId`` response header goes into every error.

Successful bodies are decoded by msgspec straight into typed structures (``Account`` itself for
SearchAccounts / GetAccount pages): types, 64-bit ids and the lifecycle-status enum are checked by the
decoder; a body that is JSON but breaks the contract raises :class:`InvalidResponseError` (not retried).
Only when that typed decode fails is the body decoded generically, to find a fault.
"""

from __future__ import annotations

import re
from typing import Any, NoReturn

import msgspec

from airflow_provider_msads.client.environments import Endpoints
from airflow_provider_msads.client.errors import (
    ApiError,
    ApiErrorDetail,
    InvalidResponseError,
)
from airflow_provider_msads.client.faults import (
    classify,
    parse_code,
    parse_retry_after,
    scrub,
    scrub_error_code,
    scrub_tracking_id,
    status_error,
)
from airflow_provider_msads.client.ids import wire_int
from airflow_provider_msads.client.models import Account, Customer, CustomerRole, User, UserInfo
from airflow_provider_msads.client.wire import (
    Credentials,
    GetAccountRequest,
    GetUserRequest,
    Operation,
    SearchAccountsRequest,
    WireRequest,
    WireRequestBody,
    WireResponse,
)

_ERROR_LISTS = ("Errors", "OperationErrors", "BatchErrors")
_FAULT_TYPES = frozenset(
    {"AdApiFaultDetail", "ApiFault", "ApiFaultDetail", "ApiBatchFault", "ApplicationFault"}
)


class RestCodec:
    """JSON encoding/decoding; the only place that knows REST headers and JSON field names."""

    name = "rest"

    def __init__(self, endpoints: Endpoints) -> None:
        self._base = endpoints.customer_management_rest_url
        self._environment = endpoints.environment.name

    # -- requests -------------------------------------------------------------------------------

    def headers(self, op: Operation, credentials: Credentials) -> dict[str, str]:
        """Every REST header, assembled here and nowhere else."""
        headers = {
            "Authorization": f"Bearer {credentials.access_token}",
            "DeveloperToken": credentials.developer_token,
            "Content-Type": "application/json",
            "Accept": "application/json",
        }
        if op.account_scoped:
            if credentials.customer_id is not None:
                headers["CustomerId"] = str(credentials.customer_id)
            if credentials.account_id is not None:
                headers["CustomerAccountId"] = str(credentials.account_id)
        return headers

    def encode(self, op: Operation, request: WireRequestBody, credentials: Credentials) -> WireRequest:
        body = msgspec.json.encode(request_body(request))
        return WireRequest(self._base + op.rest_path, self.headers(op, credentials), body)

    # -- responses ------------------------------------------------------------------------------

    def user_info(self, response: WireResponse) -> UserInfo:
        doc = self._decode(response, _USER_DECODER, "User")
        try:
            return _user_info(doc)
        except ValueError as exc:
            raise _invalid(response, "GetUser", exc) from None

    def accounts(self, response: WireResponse) -> list[Account]:
        page: _SearchAccountsResponse = self._decode(response, _ACCOUNTS_DECODER, "Accounts")
        return page.Accounts or []

    def account(self, response: WireResponse) -> Account:
        doc: _GetAccountResponse = self._decode(response, _ACCOUNT_DECODER, "Account")
        return doc.Account

    def customer(self, response: WireResponse) -> Customer:
        c = self._decode(response, _CUSTOMER_DECODER, "Customer").Customer
        try:
            return Customer(
                wire_int(c.Id),
                c.Name,
                c.Number,
                c.CustomerLifeCycleStatus,
                c.CustomerFinancialStatus,
                c.MarketCountry,
                c.MarketLanguage,
                c.Industry,
                c.ServiceLevel,
                c.LastModifiedTime,
            )
        except ValueError as exc:
            raise _invalid(response, "Customer", exc) from None

    def _decode(self, response: WireResponse, decoder: msgspec.json.Decoder[Any], key: str) -> Any:
        """The typed body of a success; raises the right error for faults and anything else."""
        invalid: msgspec.ValidationError | None = None
        if 200 <= response.status_code < 300:
            try:
                return decoder.decode(response.content)
            except msgspec.ValidationError as exc:
                invalid = exc  # a fault, a contract breach, or a body without the key: look closer
            except (msgspec.DecodeError, UnicodeDecodeError):
                pass
        self._raise_for(response, _any(response.content), key, invalid)

    def _document(self, response: WireResponse, key: str) -> dict[str, Any]:
        """The JSON object holding ``key``, decoded generically (for codecs built on this one: Reporting)."""
        doc = _any(response.content)
        if 200 <= response.status_code < 300 and isinstance(doc, dict) and key in doc:
            return doc
        self._raise_for(response, doc, key, None)

    def _raise_for(
        self, response: WireResponse, doc: Any, key: str, invalid: msgspec.ValidationError | None
    ) -> NoReturn:
        fault = _find_fault(doc)
        if fault is not None:
            raise self._fault(response, fault)
        if invalid is not None and isinstance(doc, dict) and key in doc:
            raise _invalid(response, _ENTITIES.get(key, key), invalid)
        what = _describe_unreadable(response) if doc is None else f"JSON without {key!r} or a fault"
        raise status_error(
            operation=response.operation,
            http_status=response.status_code,
            what=what,
            tracking_id=scrub_tracking_id(response.headers.get("TrackingId"), response.secrets),
            retry_after=parse_retry_after(response.headers.get("Retry-After")),
            environment=self._environment,
        )

    def _fault(self, response: WireResponse, fault: dict[str, Any]) -> ApiError:
        errors: list[ApiErrorDetail] = []
        for list_name in _ERROR_LISTS:
            entries = fault.get(list_name)
            if not isinstance(entries, list):
                continue
            for entry in entries:
                if isinstance(entry, dict):
                    errors.append(
                        ApiErrorDetail(
                            code=parse_code(entry.get("Code")),
                            error_code=scrub_error_code(_text(entry.get("ErrorCode")), response.secrets),
                            message=scrub(_text(entry.get("Message")), response.secrets),
                            details=scrub(
                                _text(entry.get("Detail") or entry.get("Details")), response.secrets
                            ),
                        )
                    )
        fault_type = scrub_error_code(_text(fault.get("Type")), response.secrets)
        message = scrub(_text(fault.get("Message")), response.secrets) or f"{fault_type or 'service'} fault"
        return classify(
            operation=response.operation,
            message=message,
            errors=errors,
            http_status=response.status_code,
            tracking_id=scrub_tracking_id(response.headers.get("TrackingId"), response.secrets)
            or scrub_tracking_id(_text(fault.get("TrackingId")), response.secrets),
            fault_type=fault_type,
            retry_after=parse_retry_after(response.headers.get("Retry-After")),
            environment=self._environment,
        )


def request_body(request: WireRequestBody) -> dict[str, Any]:
    """The documented JSON request object of each operation (ids as strings, optional parts omitted)."""
    if isinstance(request, SearchAccountsRequest):
        body: dict[str, Any] = {
            "Predicates": [
                {"Field": p.field, "Operator": p.operator, "Value": p.value} for p in request.predicates
            ]
        }
        if request.order_by is not None:
            body["Ordering"] = [
                {"Field": request.order_by, "Order": "Ascending" if request.ascending else "Descending"}
            ]
        body["PageInfo"] = {"Index": request.page_index, "Size": request.page_size}
        if request.return_additional_fields:
            body["ReturnAdditionalFields"] = ", ".join(request.return_additional_fields)
        return body
    if isinstance(request, GetUserRequest):
        return {"UserId": None if request.user_id is None else str(request.user_id)}
    if isinstance(request, GetAccountRequest):
        body = {"AccountId": str(request.account_id)}
        if request.return_additional_fields:
            body["ReturnAdditionalFields"] = ", ".join(request.return_additional_fields)
        return body
    return {"CustomerId": str(request.customer_id)}


class _Name(msgspec.Struct, gc=False):
    FirstName: str | None = None
    LastName: str | None = None


class _Contact(msgspec.Struct, gc=False):
    Email: str | None = None


class _User(msgspec.Struct, gc=False):
    Id: str | int
    UserName: str | None = None
    CustomerId: str | int | None = None
    Name: _Name | None = None
    ContactInfo: _Contact | None = None
    UserLifeCycleStatus: str | None = None
    Lcid: str | None = None


class _Role(msgspec.Struct, gc=False):
    CustomerId: str | int
    RoleId: str | int | None = None
    AccountIds: list[str | int] | None = None
    LinkedAccountIds: list[str | int] | None = None
    CustomerLinkPermission: str | None = None


class _GetUserResponse(msgspec.Struct, gc=False):
    User: _User
    CustomerRoles: list[_Role] | None = None


class _SearchAccountsResponse(msgspec.Struct, gc=False):
    Accounts: list[Account] | None


class _GetAccountResponse(msgspec.Struct, gc=False):
    Account: Account


class _Customer(msgspec.Struct, gc=False):
    Id: str | int
    Name: str | None = None
    Number: str | None = None
    CustomerLifeCycleStatus: str | None = None
    CustomerFinancialStatus: str | None = None
    MarketCountry: str | None = None
    MarketLanguage: str | None = None
    Industry: str | None = None
    ServiceLevel: str | None = None
    LastModifiedTime: str | None = None


class _GetCustomerResponse(msgspec.Struct, gc=False):
    Customer: _Customer


_USER_DECODER = msgspec.json.Decoder(_GetUserResponse)
_ACCOUNTS_DECODER = msgspec.json.Decoder(_SearchAccountsResponse)
_ACCOUNT_DECODER = msgspec.json.Decoder(_GetAccountResponse)
_CUSTOMER_DECODER = msgspec.json.Decoder(_GetCustomerResponse)
_ANY_DECODER: msgspec.json.Decoder[Any] = msgspec.json.Decoder()


def _user_info(doc: _GetUserResponse) -> UserInfo:
    u = doc.User
    name = u.Name or _Name()
    contact = u.ContactInfo or _Contact()
    user = User(
        wire_int(u.Id),
        u.UserName,
        _int(u.CustomerId),
        name.FirstName,
        name.LastName,
        contact.Email,
        u.UserLifeCycleStatus,
        u.Lcid,
    )
    roles = tuple(
        CustomerRole(
            wire_int(r.CustomerId),
            _int(r.RoleId),
            tuple(wire_int(x) for x in r.AccountIds or ()),
            tuple(wire_int(x) for x in r.LinkedAccountIds or ()),
            r.CustomerLinkPermission,
        )
        for r in doc.CustomerRoles or ()
    )
    return UserInfo(user, roles)


def _any(content: bytes) -> Any:
    """Any JSON document, or None for a body that is not JSON."""
    try:
        return _ANY_DECODER.decode(content)
    except (msgspec.DecodeError, UnicodeDecodeError, RecursionError):
        return None


def _int(value: str | int | None) -> int | None:
    return None if value is None else wire_int(value)


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _find_fault(doc: Any, depth: int = 0) -> dict[str, Any] | None:
    """The fault object, at top level or wrapped one or two levels deep (``{"ApplicationFault": {...}}``)."""
    if not isinstance(doc, dict) or depth > 3:
        return None
    if doc.get("Type") in _FAULT_TYPES or any(isinstance(doc.get(k), list) for k in _ERROR_LISTS):
        return doc
    for value in doc.values():
        found = _find_fault(value, depth + 1)
        if found is not None:
            return found
    return None


def _describe_unreadable(response: WireResponse) -> str:
    content_type = response.headers.get("Content-Type", "no content type")
    head = response.content[:512].lstrip().lower()
    if not head:
        return "empty body"
    if head.startswith((b"<!doctype html", b"<html")) or b"<html" in head:
        return f"an HTML page ({content_type}), not JSON: a proxy or gateway answered"
    return f"a body that is not JSON ({content_type}, {len(response.content)} bytes; truncated?)"


_ENTITIES = {"Accounts": "AdvertiserAccount", "Account": "AdvertiserAccount", "User": "GetUser"}
_QUOTED = re.compile(r"'[^']*'|\"[^\"]*\"")


def _invalid(response: WireResponse, what: str, exc: Exception) -> InvalidResponseError:
    """The decoder's reason (type, path) with any quoted server value removed: never echo wire data."""
    reason = _QUOTED.sub("<value>", str(exc))[:200]
    return InvalidResponseError(
        f"unexpected {what} content in the JSON response ({reason})",
        operation=response.operation,
        tracking_id=scrub_tracking_id(response.headers.get("TrackingId"), response.secrets),
    )
