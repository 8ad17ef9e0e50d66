"""REST/JSON codec for Customer Management v13 (the default transport).

Wire facts: ``POST {base}/CustomerManagement/v13/<Path>``, JSON bodies, 64-bit ids as JSON strings,
flags enums as one comma-separated string, headers ``Authorization: Bearer``, ``DeveloperToken`` (and
``CustomerId`` / ``CustomerAccountId`` for account-scoped operations only). Faults are JSON objects
with ``Errors`` (AdApiFaultDetail), ``OperationErrors`` (ApiFault) or ``BatchErrors``, at top level
or wrapped (``{"ApplicationFault": {...}}``); the ``TrackingId`` response header goes into every error.
"""

from __future__ import annotations

import json
from typing import Any

from airflow_provider_msads.client.environments import Endpoints
from airflow_provider_msads.client.errors import ApiError, ApiErrorDetail, MalformedResponseError
from airflow_provider_msads.client.faults import classify, parse_code, parse_retry_after, redact, status_error
from airflow_provider_msads.client.models import Account, Customer, CustomerRole, User, UserInfo
from airflow_provider_msads.client.transport import (
    Credentials,
    GetAccountRequest,
    GetUserRequest,
    Operation,
    SearchAccountsRequest,
    WireRequest,
    WireRequestBody,
    WireResponse,
    wire_int,
)

_ERROR_LISTS = ("Errors", "OperationErrors", "BatchErrors")
_FAULT_TYPES = frozenset(
    {"AdApiFaultDetail", "ApiFault", "ApiFaultDetail", "ApiBatchFault", "ApplicationFault"}
)
_MAPPING_ERRORS = (KeyError, TypeError, ValueError, AttributeError)


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
        body = json.dumps(request_body(request), separators=(",", ":")).encode()
        return WireRequest(self._base + op.rest_path, self.headers(op, credentials), body)

    # -- responses ------------------------------------------------------------------------------

    def user_info(self, response: WireResponse) -> UserInfo:
        doc = self._document(response, "User")
        try:
            return _user_info(doc)
        except _MAPPING_ERRORS as exc:
            raise _unexpected(response, "GetUser", exc) from None

    def accounts(self, response: WireResponse) -> list[Account]:
        items = self._document(response, "Accounts")["Accounts"]
        try:
            return [_account(item) for item in items or ()]
        except _MAPPING_ERRORS as exc:
            raise _unexpected(response, "AdvertiserAccount", exc) from None

    def account(self, response: WireResponse) -> Account:
        doc = self._document(response, "Account")
        try:
            return _account(doc["Account"])
        except _MAPPING_ERRORS as exc:
            raise _unexpected(response, "AdvertiserAccount", exc) from None

    def customer(self, response: WireResponse) -> Customer:
        doc = self._document(response, "Customer")
        try:
            return _customer(doc["Customer"])
        except _MAPPING_ERRORS as exc:
            raise _unexpected(response, "Customer", exc) from None

    def _document(self, response: WireResponse, key: str) -> dict[str, Any]:
        """The decoded JSON object holding ``key``; raises the right error for anything else."""
        status = response.status_code
        tracking_id = response.headers.get("TrackingId")
        try:
            doc = json.loads(response.content)
        except (ValueError, RecursionError):
            doc = None
        if 200 <= status < 300 and isinstance(doc, dict) and key in doc:
            return doc
        fault = _find_fault(doc)
        if fault is not None:
            raise self._fault(response, fault)
        what = _describe_unreadable(response) if doc is None else f"JSON without {key!r} or a fault"
        raise status_error(
            operation=response.operation,
            http_status=status,
            what=what,
            tracking_id=tracking_id,
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
                            error_code=_text(entry.get("ErrorCode")),
                            message=redact(_text(entry.get("Message")), response.secrets),
                            details=redact(
                                _text(entry.get("Detail") or entry.get("Details")), response.secrets
                            ),
                        )
                    )
        fault_type = _text(fault.get("Type"))
        message = redact(_text(fault.get("Message")), response.secrets) or f"{fault_type or 'service'} fault"
        return classify(
            operation=response.operation,
            message=message,
            errors=errors,
            http_status=response.status_code,
            tracking_id=response.headers.get("TrackingId") or _text(fault.get("TrackingId")),
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


def _account(d: dict[str, Any]) -> Account:
    g = d.get
    return Account(
        wire_int(d["Id"]),
        g("Number"),
        g("Name"),
        _int(g("ParentCustomerId")),
        g("AccountLifeCycleStatus"),
        g("CurrencyCode"),
        g("TimeZone"),
        g("Language"),
        g("AccountFinancialStatus"),
        _int(g("PauseReason")),
        _int(g("BillToCustomerId")),
        _int(g("PrimaryUserId")),
        g("PaymentMethodType"),
        g("AccountMode"),
        g("LastModifiedTime"),
    )


def _user_info(doc: dict[str, Any]) -> UserInfo:
    u = doc["User"]
    name = u.get("Name") or {}
    contact = u.get("ContactInfo") or {}
    user = User(
        wire_int(u["Id"]),
        u.get("UserName"),
        _int(u.get("CustomerId")),
        name.get("FirstName"),
        name.get("LastName"),
        contact.get("Email"),
        u.get("UserLifeCycleStatus"),
        u.get("Lcid"),
    )
    roles = tuple(
        CustomerRole(
            wire_int(r["CustomerId"]),
            _int(r.get("RoleId")),
            tuple(wire_int(x) for x in r.get("AccountIds") or ()),
            tuple(wire_int(x) for x in r.get("LinkedAccountIds") or ()),
            r.get("CustomerLinkPermission"),
        )
        for r in doc.get("CustomerRoles") or ()
    )
    return UserInfo(user, roles)


def _customer(c: dict[str, Any]) -> Customer:
    g = c.get
    return Customer(
        wire_int(c["Id"]),
        g("Name"),
        g("Number"),
        g("CustomerLifeCycleStatus"),
        g("CustomerFinancialStatus"),
        g("MarketCountry"),
        g("MarketLanguage"),
        g("Industry"),
        g("ServiceLevel"),
        g("LastModifiedTime"),
    )


def _int(value: Any) -> int | None:
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


def _unexpected(response: WireResponse, what: str, exc: Exception) -> MalformedResponseError:
    return MalformedResponseError(
        f"unexpected {what} shape in the JSON response ({type(exc).__name__}: {exc})",
        operation=response.operation,
        tracking_id=response.headers.get("TrackingId"),
    )
