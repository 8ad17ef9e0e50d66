"""SOAP 1.1 / XML codec for Customer Management v13 (legacy: switched off 2027-01-31).

Wire facts: ``POST {base}/Api/CustomerManagement/v13/CustomerManagementService.svc``,
``Content-Type: text/xml; charset=utf-8``, ``SOAPAction: <Operation>``. Header elements in the
``https://bingads.microsoft.com/Customer/v13`` namespace: AuthenticationToken (the raw access token, no
"Bearer") and DeveloperToken; ApplicationToken is optional and omitted; CustomerId/CustomerAccountId are
not declared by the Customer Management binding, so only account-scoped operations would send them.
Body elements are in schema order (an ``xs:sequence``), entities in the ``.../Customer/v13/Entities``
namespace. Faults arrive on HTTP 500 *or 200*: the body is always inspected; fault details are matched
by local name. The TrackingId is a response header element.
"""

from __future__ import annotations

from typing import Any

from lxml import etree

from airflow_provider_msads.client.environments import Endpoints
from airflow_provider_msads.client.errors import (
    ApiError,
    ApiErrorDetail,
    InvalidResponseError,
    MalformedResponseError,
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
    GetCustomerRequest,
    GetUserRequest,
    Operation,
    SearchAccountsRequest,
    WireRequest,
    WireRequestBody,
    WireResponse,
)
from airflow_provider_msads.client.xml import local_name, parse_xml

SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
CUSTOMER_NS = "https://bingads.microsoft.com/Customer/v13"
ENTITIES_NS = "https://bingads.microsoft.com/Customer/v13/Entities"
_NSMAP = {"s": SOAP_ENV, "i": XSI, "c": CUSTOMER_NS, "e": ENTITIES_NS}
_C = "{" + CUSTOMER_NS + "}"
_E = "{" + ENTITIES_NS + "}"
_NIL = "{" + XSI + "}nil"

#: AdvertiserAccount element -> positional index in Account(...); order of the dataclass fields.
_ACCOUNT_FIELDS = {
    "Id": 0,
    "Number": 1,
    "Name": 2,
    "ParentCustomerId": 3,
    "AccountLifeCycleStatus": 4,
    "CurrencyCode": 5,
    "TimeZone": 6,
    "Language": 7,
    "AccountFinancialStatus": 8,
    "PauseReason": 9,
    "BillToCustomerId": 10,
    "PrimaryUserId": 11,
    "PaymentMethodType": 12,
    "AccountMode": 13,
    "LastModifiedTime": 14,
}
_ACCOUNT_TAGS = {_E + name: index for name, index in _ACCOUNT_FIELDS.items()}
_ACCOUNT_INT_SLOTS = (0, 3, 9, 10, 11)
_ACCOUNT_SLOTS = len(_ACCOUNT_FIELDS)
_ERROR_ENTRIES = frozenset({"AdApiError", "OperationError", "BatchError"})
_MAPPING_ERRORS = (KeyError, TypeError, ValueError, AttributeError)


class SoapCodec:
    """Envelope building and parsing; the only place that knows SOAP headers and element names."""

    name = "soap"

    def __init__(self, endpoints: Endpoints) -> None:
        self._url = endpoints.customer_management_soap_url
        self._environment = endpoints.environment.name

    # -- requests -------------------------------------------------------------------------------

    def http_headers(self, op: Operation) -> dict[str, str]:
        return {"Content-Type": "text/xml; charset=utf-8", "SOAPAction": op.name}

    def soap_header(self, envelope: etree._Element, op: Operation, credentials: Credentials) -> None:
        """Every SOAP header element, assembled here and nowhere else."""
        header = etree.SubElement(envelope, f"{{{SOAP_ENV}}}Header")
        etree.SubElement(header, _C + "AuthenticationToken").text = credentials.access_token
        etree.SubElement(header, _C + "DeveloperToken").text = credentials.developer_token
        if op.account_scoped:
            if credentials.account_id is not None:
                etree.SubElement(header, _C + "CustomerAccountId").text = str(credentials.account_id)
            if credentials.customer_id is not None:
                etree.SubElement(header, _C + "CustomerId").text = str(credentials.customer_id)

    def encode(self, op: Operation, request: WireRequestBody, credentials: Credentials) -> WireRequest:
        envelope = etree.Element(f"{{{SOAP_ENV}}}Envelope", nsmap=_NSMAP)  # type: ignore[arg-type]
        self.soap_header(envelope, op, credentials)
        body = etree.SubElement(envelope, f"{{{SOAP_ENV}}}Body")
        _request_element(body, op, request)
        content = etree.tostring(envelope, xml_declaration=True, encoding="utf-8")
        return WireRequest(self._url, self.http_headers(op), content)

    # -- responses ------------------------------------------------------------------------------

    def user_info(self, response: WireResponse) -> UserInfo:
        payload = self._payload(response)
        try:
            return _user_info(payload)
        except _MAPPING_ERRORS as exc:
            raise _unexpected(response, "GetUserResponse", exc) from None

    def accounts(self, response: WireResponse) -> list[Account]:
        payload = self._payload(response)
        try:
            container = _child(payload, "Accounts")
            if container is None:
                raise KeyError("Accounts")
            return [_account(el) for el in container if isinstance(el.tag, str)]
        except _MAPPING_ERRORS as exc:
            raise _unexpected(response, "AdvertiserAccount", exc) from None

    def account(self, response: WireResponse) -> Account:
        payload = self._payload(response)
        try:
            return _account(_required_child(payload, "Account"))
        except _MAPPING_ERRORS as exc:
            raise _unexpected(response, "AdvertiserAccount", exc) from None

    def customer(self, response: WireResponse) -> Customer:
        payload = self._payload(response)
        try:
            return _customer(_required_child(payload, "Customer"))
        except _MAPPING_ERRORS as exc:
            raise _unexpected(response, "Customer", exc) from None

    def _payload(self, response: WireResponse) -> etree._Element:
        """The ``<Op>Response`` element; raises for faults (on any status) and unreadable bodies."""
        status = response.status_code
        http_tracking = scrub_tracking_id(response.headers.get("TrackingId"), response.secrets)
        retry_after = parse_retry_after(response.headers.get("Retry-After"))
        try:
            root = parse_xml(response.content, operation=response.operation, tracking_id=http_tracking)
        except MalformedResponseError:
            if 200 <= status < 300:
                raise
            # An error status with an unreadable (or hostile) body: the status alone decides.
            raise self._status_error(response, _describe_unreadable(response), retry_after) from None
        if root.tag != f"{{{SOAP_ENV}}}Envelope":
            what = (
                "an HTML page, not a SOAP envelope: a proxy or gateway answered"
                if local_name(str(root.tag)).lower() == "html"
                else f"XML that is not a SOAP 1.1 envelope (root {local_name(str(root.tag))!r})"
            )
            raise self._status_error(response, what, retry_after)
        tracking_id = http_tracking
        payload: etree._Element | None = None
        for part in root:
            if part.tag == f"{{{SOAP_ENV}}}Header":
                found = _child(part, "TrackingId")
                if found is not None and found.text:
                    tracking_id = found.text.strip()
            elif part.tag == f"{{{SOAP_ENV}}}Body":
                payload = next((el for el in part if isinstance(el.tag, str)), None)
        if payload is None:
            raise self._status_error(
                response, "SOAP envelope without a Body element", retry_after, tracking_id
            )
        if payload.tag == f"{{{SOAP_ENV}}}Fault":
            raise self._fault(response, payload, tracking_id, retry_after)
        expected = response.operation + "Response"
        if local_name(payload.tag) != expected:
            raise self._status_error(
                response,
                f"SOAP body holds {local_name(payload.tag)!r}, not {expected!r}",
                retry_after,
                tracking_id,
            )
        if not 200 <= status < 300:
            raise self._status_error(
                response, "a response element on an error status", retry_after, tracking_id
            )
        return payload

    def _status_error(
        self, response: WireResponse, what: str, retry_after: float | None, tracking_id: str | None = None
    ) -> ApiError | MalformedResponseError:
        return status_error(
            operation=response.operation,
            http_status=response.status_code,
            what=what,
            tracking_id=scrub_tracking_id(
                tracking_id or response.headers.get("TrackingId"), response.secrets
            ),
            retry_after=retry_after,
            environment=self._environment,
        )

    def _fault(
        self,
        response: WireResponse,
        fault: etree._Element,
        tracking_id: str | None,
        retry_after: float | None,
    ) -> ApiError:
        fields = _children(fault)
        faultstring = _text(fields.get("faultstring"))
        errors: list[ApiErrorDetail] = []
        fault_type: str | None = None
        detail = fields.get("detail")
        if detail is not None:
            for item in detail:
                if not isinstance(item.tag, str):
                    continue
                fault_type = fault_type or local_name(item.tag)
                for el in item.iter():
                    if not isinstance(el.tag, str):
                        continue
                    name = local_name(el.tag)
                    if name == "TrackingId" and el.text and not tracking_id:
                        tracking_id = el.text.strip()
                    elif name in _ERROR_ENTRIES:
                        entry = _children(el)
                        errors.append(
                            ApiErrorDetail(
                                code=parse_code(_text(entry.get("Code"))),
                                error_code=scrub_error_code(_text(entry.get("ErrorCode")), response.secrets),
                                message=scrub(_text(entry.get("Message")), response.secrets),
                                details=scrub(_detail_text(entry), response.secrets),
                            )
                        )
        message = scrub(faultstring, response.secrets) or "SOAP fault"
        return classify(
            operation=response.operation,
            message=message,
            errors=errors,
            http_status=response.status_code,
            tracking_id=scrub_tracking_id(tracking_id, response.secrets),
            fault_type=scrub_error_code(fault_type, response.secrets),
            retry_after=retry_after,
            environment=self._environment,
        )


def _request_element(body: etree._Element, op: Operation, request: WireRequestBody) -> None:
    """The body element of each operation, children in schema (xs:sequence) order."""
    sub = etree.SubElement
    root = sub(body, f"{_C}{op.name}Request")
    if isinstance(request, SearchAccountsRequest):
        predicates = sub(root, _C + "Predicates")
        for p in request.predicates:
            predicate = sub(predicates, _E + "Predicate")
            sub(predicate, _E + "Field").text = p.field
            sub(predicate, _E + "Operator").text = p.operator
            sub(predicate, _E + "Value").text = p.value
        if request.order_by is not None:
            order_by = sub(sub(root, _C + "Ordering"), _E + "OrderBy")
            sub(order_by, _E + "Field").text = request.order_by
            sub(order_by, _E + "Order").text = "Ascending" if request.ascending else "Descending"
        page_info = sub(root, _C + "PageInfo")
        sub(page_info, _E + "Index").text = str(request.page_index)
        sub(page_info, _E + "Size").text = str(request.page_size)
        if request.return_additional_fields:
            sub(root, _C + "ReturnAdditionalFields").text = " ".join(request.return_additional_fields)
    elif isinstance(request, GetUserRequest):
        user_id = sub(root, _C + "UserId")
        if request.user_id is None:
            user_id.set(_NIL, "true")
        else:
            user_id.text = str(request.user_id)
    elif isinstance(request, GetAccountRequest):
        sub(root, _C + "AccountId").text = str(request.account_id)
        if request.return_additional_fields:
            sub(root, _C + "ReturnAdditionalFields").text = " ".join(request.return_additional_fields)
    elif isinstance(request, GetCustomerRequest):
        sub(root, _C + "CustomerId").text = str(request.customer_id)


def _account(el: etree._Element) -> Account:
    """One AdvertiserAccount, children visited once, the dataclass built positionally."""
    values: list[Any] = [None] * _ACCOUNT_SLOTS
    for child in el:
        tag = child.tag
        index = _ACCOUNT_TAGS.get(tag)  # type: ignore[call-overload]
        if index is None:
            if not isinstance(tag, str) or tag.startswith(_E):
                continue  # a field we do not map (BusinessAddress, TimeStamp, ...)
            index = _ACCOUNT_FIELDS.get(local_name(tag))  # unexpected namespace: match by local name
            if index is None:
                continue
        values[index] = child.text
    for index in _ACCOUNT_INT_SLOTS:
        if values[index] is not None:
            values[index] = wire_int(values[index])
    if values[0] is None:
        raise KeyError("Id")
    return Account(*values)


def _user_info(payload: etree._Element) -> UserInfo:
    fields = _children(payload)
    u = _children(fields["User"])
    name = _children(u["Name"]) if "Name" in u else {}
    contact = _children(u["ContactInfo"]) if "ContactInfo" in u else {}
    user = User(
        wire_int(_required(u, "Id")),
        _text(u.get("UserName")),
        _int(u.get("CustomerId")),
        _text(name.get("FirstName")),
        _text(name.get("LastName")),
        _text(contact.get("Email")),
        _text(u.get("UserLifeCycleStatus")),
        _text(u.get("Lcid")),
    )
    roles: list[CustomerRole] = []
    container = fields.get("CustomerRoles")
    for role_el in container if container is not None else ():
        if not isinstance(role_el.tag, str):
            continue
        r = _children(role_el)
        roles.append(
            CustomerRole(
                wire_int(_required(r, "CustomerId")),
                _int(r.get("RoleId")),
                _longs(r.get("AccountIds")),
                _longs(r.get("LinkedAccountIds")),
                _text(r.get("CustomerLinkPermission")),
            )
        )
    return UserInfo(user, tuple(roles))


def _customer(el: etree._Element) -> Customer:
    c = _children(el)
    return Customer(
        wire_int(_required(c, "Id")),
        _text(c.get("Name")),
        _text(c.get("Number")),
        _text(c.get("CustomerLifeCycleStatus")),
        _text(c.get("CustomerFinancialStatus")),
        _text(c.get("MarketCountry")),
        _text(c.get("MarketLanguage")),
        _text(c.get("Industry")),
        _text(c.get("ServiceLevel")),
        _text(c.get("LastModifiedTime")),
    )


def _children(el: etree._Element) -> dict[str, etree._Element]:
    """Child elements by local name (small objects only; account pages use the positional fast path)."""
    return {local_name(child.tag): child for child in el if isinstance(child.tag, str)}


def _required_child(el: etree._Element, name: str) -> etree._Element:
    """The child ``name``; a missing or nil one is a mapping error (KeyError), like a missing JSON key."""
    child = _child(el, name)
    if child is None or child.get(_NIL) == "true":
        raise KeyError(name)
    return child


def _child(el: etree._Element, name: str) -> etree._Element | None:
    for child in el:
        if isinstance(child.tag, str) and local_name(child.tag) == name:
            return child
    return None


def _text(el: etree._Element | None) -> str | None:
    return None if el is None else el.text


def _int(el: etree._Element | None) -> int | None:
    return None if el is None or el.text is None else wire_int(el.text)


def _detail_text(entry: dict[str, etree._Element]) -> str | None:
    """AdApiError says ``Detail``, OperationError/BatchError say ``Details``."""
    detail = entry.get("Detail")
    return _text(detail if detail is not None else entry.get("Details"))


def _required(fields: dict[str, etree._Element], name: str) -> str:
    text = fields[name].text
    if text is None:
        raise KeyError(name)
    return text


def _longs(el: etree._Element | None) -> tuple[int, ...]:
    if el is None:
        return ()
    return tuple(
        wire_int(child.text) for child in el if isinstance(child.tag, str) and child.text is not None
    )


def _describe_unreadable(response: WireResponse) -> str:
    head = response.content[:512].lstrip().lower()
    if not head:
        return "empty body"
    if b"<html" in head or head.startswith(b"<!doctype html"):
        return "an HTML page, not a SOAP envelope: a proxy or gateway answered"
    return f"a body that is not well-formed XML ({len(response.content)} bytes; truncated?)"


def _unexpected(response: WireResponse, what: str, exc: Exception) -> InvalidResponseError:
    # The exception text names a missing element or says which kind of value was refused; ids.py
    # never quotes the value itself.
    return InvalidResponseError(
        f"unexpected {what} content in the SOAP response ({type(exc).__name__}: {str(exc)[:200]})",
        operation=response.operation,
        tracking_id=scrub_tracking_id(response.headers.get("TrackingId"), response.secrets),
    )
