"""SOAP 1.1 wire format of Customer Management v13: hardened request parsing, response rendering.

Requests are parsed with lxml with entity resolution, DTD loading and network access switched off, and
any DOCTYPE is refused outright (billion-laughs / XXE cannot reach the emulator). Body members are read
the way WCF's DataContractSerializer reads them: in schema order, so a member that comes out of order is
silently ignored, exactly the bug a real client would hit against Microsoft.

Responses are built as text, not element trees: schema element order, ``i:nil="true"`` for nil members,
``h:TrackingId`` in the SOAP header, faults as ``s:Fault`` with ``AdApiFaultDetail``
(https://adapi.microsoft.com) or ``ApiFault`` (element in https://bingads.microsoft.com/Customer/v13,
members in .../Customer/v13/Exception, as the WSDL declares). Account fragments are cached per account.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from xml.sax.saxutils import escape

from lxml import etree

from airflow_provider_msads.testing.customer_management import (
    ApiFaultError,
    CustomerManagement,
    OrderBy,
    Paging,
    Predicate,
    parse_additional_fields,
    parse_int,
    parse_long,
)
from airflow_provider_msads.testing.data import Account, Address, Customer, CustomerRole, User

SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
SOAP12_ENV = "http://www.w3.org/2003/05/soap-envelope"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
NS = "https://bingads.microsoft.com/Customer/v13"
ENT = "https://bingads.microsoft.com/Customer/v13/Entities"
ADAPI = "https://adapi.microsoft.com"
EXC = "https://bingads.microsoft.com/Customer/v13/Exception"
GENERIC = "http://schemas.datacontract.org/2004/07/System.Collections.Generic"
ARRAYS = "http://schemas.microsoft.com/2003/10/Serialization/Arrays"
XML_CONTENT_TYPE = "text/xml; charset=utf-8"
SOAP_OPERATIONS = ("GetUser", "SearchAccounts", "GetAccount", "GetCustomer")
MAX_SOAP_BYTES = 4 * 1024 * 1024

_HEAD = (
    f'<s:Envelope xmlns:s="{SOAP_ENV}"><s:Header>'
    f'<h:TrackingId xmlns:h="{NS}">{{tracking_id}}</h:TrackingId></s:Header><s:Body>'
)
_TAIL = "</s:Body></s:Envelope>"


class SoapClientError(Exception):
    """Request-level problems answered before any operation runs (not an API fault).

    ``status`` 415 (wrong Content-Type, no body), 400 (not a SOAP 1.1 envelope) or 500 with a
    ``s:Client`` fault without detail (unknown SOAPAction, action/body mismatch), like WCF.
    """

    def __init__(self, status: int, faultstring: str, *, with_fault: bool = True) -> None:
        super().__init__(faultstring)
        self.status = status
        self.faultstring = faultstring
        self.with_fault = with_fault


@dataclass(frozen=True, slots=True)
class SoapRequest:
    operation: str
    headers: dict[str, str | None]
    body: etree._Element


def _parser() -> etree.XMLParser:
    # A new parser per request: lxml parsers are not thread-safe, and they are cheap.
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_pis=True,
    )


def _nil(el: etree._Element) -> bool:
    return el.get(f"{{{XSI}}}nil") in ("true", "1")


def _text(el: etree._Element | None) -> str | None:
    if el is None or _nil(el):
        return None
    return (el.text or "").strip()


def read_in_order(
    parent: etree._Element | None, ns: str, names: tuple[str, ...]
) -> dict[str, etree._Element]:
    """Members of a data contract, read as DataContractSerializer does: in schema order only."""
    found: dict[str, etree._Element] = {}
    if parent is None:
        return found
    position = 0
    for child in parent:
        if not isinstance(child.tag, str):
            continue
        qname = etree.QName(child)
        if qname.namespace != ns or qname.localname not in names:
            continue
        where = names.index(qname.localname)
        if where >= position:
            found[qname.localname] = child
            position = where + 1
    return found


def parse_request(body: bytes, content_type: str | None, soap_action: str | None) -> SoapRequest:
    """Parse and sanity-check a SOAP request; raises SoapClientError / ApiFaultError."""
    media = (content_type or "").split(";")[0].strip().lower()
    if media == "application/soap+xml":
        raise SoapClientError(
            415, "SOAP 1.2 (application/soap+xml) is not supported; use SOAP 1.1 text/xml.", with_fault=False
        )
    if media != "text/xml":
        raise SoapClientError(415, f"Content-Type {media or '(none)'} is not text/xml.", with_fault=False)
    if len(body) > MAX_SOAP_BYTES:
        raise SoapClientError(400, "The request is too large.")
    if not body.strip():
        raise ApiFaultError(100, http_status=400)
    try:
        root = etree.fromstring(body, _parser())
    except etree.XMLSyntaxError:
        raise SoapClientError(400, "The request body is not well-formed XML.") from None
    if root.getroottree().docinfo.doctype:  # type: ignore[union-attr]
        raise SoapClientError(400, "DTDs are not allowed in SOAP messages.")
    if root.tag == f"{{{SOAP12_ENV}}}Envelope":
        raise SoapClientError(400, "SOAP 1.2 envelopes are not supported; use SOAP 1.1.")
    if root.tag != f"{{{SOAP_ENV}}}Envelope":
        raise SoapClientError(400, "The root element is not a SOAP 1.1 Envelope.")
    header = root.find(f"{{{SOAP_ENV}}}Header")
    body_el = root.find(f"{{{SOAP_ENV}}}Body")
    payload = [c for c in body_el if isinstance(c.tag, str)] if body_el is not None else []
    if len(payload) != 1:
        raise SoapClientError(400, "The SOAP Body must contain exactly one element.")
    request_el = payload[0]
    action = (soap_action or "").strip().strip('"').rsplit("/", 1)[-1]
    qname = etree.QName(request_el)
    operation = qname.localname.removesuffix("Request")
    if action not in SOAP_OPERATIONS:
        raise SoapClientError(
            500,
            f"The message with Action '{soap_action or ''}' cannot be processed at the receiver, due to a "
            "ContractFilter mismatch at the EndpointDispatcher.",
        )
    if qname.namespace != NS or operation != action:
        raise SoapClientError(
            500, f"The body element {qname.localname} does not match the SOAPAction {action}."
        )
    headers: dict[str, str | None] = {}
    if header is not None:
        for child in header:
            if isinstance(child.tag, str) and etree.QName(child).namespace == NS:
                headers[etree.QName(child).localname] = _text(child)
    return SoapRequest(operation, headers, request_el)


# ---------------------------------------------------------------------- rendering helpers
def _v(name: str, value: object) -> str:
    """One member: nil when None, escaped text otherwise."""
    if value is None:
        return f'<a:{name} i:nil="true"/>'
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, float):
        text = f"{value:.2f}"
    else:
        text = escape(str(value))
    return f"<a:{name}>{text}</a:{name}>"


def _pairs(
    name: str, pairs: tuple[tuple[str, str], ...] | None, item: str = "KeyValuePairOfstringstring"
) -> str:
    if pairs is None:
        return f'<a:{name} i:nil="true" xmlns:b="{GENERIC}"/>'
    inner = "".join(
        f"<b:{item}><b:key>{escape(k)}</b:key><b:value>{escape(v)}</b:value></b:{item}>" for k, v in pairs
    )
    return f'<a:{name} xmlns:b="{GENERIC}">{inner}</a:{name}>'


def _longs(name: str, ids: tuple[int, ...] | None) -> str:
    if ids is None:
        return f'<a:{name} i:nil="true" xmlns:b="{ARRAYS}"/>'
    return f'<a:{name} xmlns:b="{ARRAYS}">' + "".join(f"<b:long>{i}</b:long>" for i in ids) + f"</a:{name}>"


def address_xml(name: str, a: Address) -> str:
    return (
        f"<a:{name}>"
        + _v("City", a.city)
        + _v("CountryCode", a.country_code)
        + _v("Id", a.id)
        + _v("Line1", a.line1)
        + _v("Line2", a.line2)
        + _v("Line3", None)
        + _v("Line4", None)
        + _v("PostalCode", a.postal_code)
        + _v("StateOrProvince", a.state_or_province)
        + _v("TimeStamp", a.time_stamp)
        + _v("BusinessName", a.business_name)
        + f"</a:{name}>"
    )


def account_base_xml(a: Account) -> str:
    """AdvertiserAccount members up to AutoTagType/SoldToPaymentInstrumentId (always sent), schema order."""
    agencies = "".join(
        f"<a:CustomerInfo><a:Id>{i}</a:Id><a:Name>{escape(n)}</a:Name></a:CustomerInfo>"
        for i, n in a.linked_agencies
    )
    return (
        _v("BillToCustomerId", a.bill_to_customer_id)
        + _v("CurrencyCode", a.currency_code)
        + _v("AccountFinancialStatus", a.financial_status)
        + _v("Id", a.id)
        + _v("Language", a.language)
        + _v("LastModifiedByUserId", a.last_modified_by_user_id)
        + _v("LastModifiedTime", a.last_modified_time)
        + _v("Name", a.name)
        + _v("Number", a.number)
        + _v("ParentCustomerId", a.parent_customer_id)
        + _v("PaymentMethodId", a.payment_method_id)
        + _v("PaymentMethodType", a.payment_method_type)
        + _v("PrimaryUserId", a.primary_user_id)
        + _v("AccountLifeCycleStatus", a.lifecycle_status)
        + _v("TimeStamp", a.time_stamp)
        + _v("TimeZone", a.time_zone)
        + _v("PauseReason", a.pause_reason)
        + _pairs("ForwardCompatibilityMap", a.forward_compatibility_map)
        + (f"<a:LinkedAgencies>{agencies}</a:LinkedAgencies>" if agencies else "<a:LinkedAgencies/>")
        + _v("SalesHouseCustomerId", a.sales_house_customer_id)
        + _pairs("TaxInformation", a.tax_information)
        + _v("BackUpPaymentInstrumentId", a.back_up_payment_instrument_id)
        + _v("BillingThresholdAmount", a.billing_threshold_amount)
        + address_xml("BusinessAddress", a.business_address)
        + _v("AutoTagType", a.auto_tag_type)
        + _v("SoldToPaymentInstrumentId", a.sold_to_payment_instrument_id)
    )


def account_extra_xml(a: Account, fields: frozenset[str]) -> str:
    """The EmitDefaultValue=false members, only when requested via ReturnAdditionalFields (schema order)."""
    out = ""
    if "TaxCertificate" in fields:
        tc = a.tax_certificate
        if tc is None:
            out += '<a:TaxCertificate i:nil="true"/>'
        else:
            out += (
                "<a:TaxCertificate>"
                + _v("TaxCertificateBlobContainerName", tc.blob_container_name)
                + _pairs("TaxCertificates", tc.certificates, "KeyValuePairOfstringbase64Binary")
                + _v("Status", tc.status)
                + "</a:TaxCertificate>"
            )
    if "AccountMode" in fields:
        out += _v("AccountMode", a.account_mode)
    if "ParentCustomerNumber" in fields:
        out += _v("ParentCustomerNumber", a.parent_customer_number)
    return out


def user_xml(u: User) -> str:
    return (
        "<a:ContactInfo>"
        + address_xml("Address", u.address)
        + _v("ContactByPhone", False)
        + _v("ContactByPostalMail", False)
        + _v("Email", u.email)
        + _v("EmailFormat", "Html")
        + _v("Fax", None)
        + _v("HomePhone", None)
        + _v("Id", u.contact_id)
        + _v("Mobile", None)
        + _v("Phone1", u.phone1)
        + _v("Phone2", None)
        + "</a:ContactInfo>"
        + _v("CustomerId", u.customer_id)
        + _v("Id", u.id)
        + _v("JobTitle", u.job_title)
        + _v("LastModifiedByUserId", u.last_modified_by_user_id)
        + _v("LastModifiedTime", u.last_modified_time)
        + _v("Lcid", u.lcid)
        + "<a:Name>"
        + _v("FirstName", u.first_name)
        + _v("LastName", u.last_name)
        + _v("MiddleInitial", u.middle_initial)
        + "</a:Name>"
        + _v("Password", None)
        + _v("SecretAnswer", None)
        + _v("SecretQuestion", "None")
        + _v("UserLifeCycleStatus", u.lifecycle_status)
        + _v("TimeStamp", u.time_stamp)
        + _v("UserName", u.user_name)
        + _pairs("ForwardCompatibilityMap", ())
        + _v("AuthenticationToken", None)
    )


def role_xml(r: CustomerRole) -> str:
    return (
        "<a:CustomerRole>"
        + _v("RoleId", r.role_id)
        + _v("CustomerId", r.customer_id)
        + _longs("AccountIds", r.account_ids)
        + _longs("LinkedAccountIds", r.linked_account_ids)
        + _v("CustomerLinkPermission", r.customer_link_permission)
        + "</a:CustomerRole>"
    )


def customer_xml(c: Customer) -> str:
    return (
        _v("CustomerFinancialStatus", c.financial_status)
        + _v("Id", c.id)
        + _v("Industry", c.industry)
        + _v("LastModifiedByUserId", c.last_modified_by_user_id)
        + _v("LastModifiedTime", c.last_modified_time)
        + _v("MarketCountry", c.market_country)
        + _pairs("ForwardCompatibilityMap", c.forward_compatibility_map)
        + _v("MarketLanguage", c.market_language)
        + _v("Name", c.name)
        + _v("ServiceLevel", c.service_level)
        + _v("CustomerLifeCycleStatus", c.lifecycle_status)
        + _v("TimeStamp", c.time_stamp)
        + _v("Number", c.number)
        + address_xml("CustomerAddress", c.address)
    )


def envelope(tracking_id: str, body_xml: str) -> bytes:
    return (_HEAD.format(tracking_id=escape(tracking_id)) + body_xml + _TAIL).encode("utf-8")


def _entities(tag: str, inner: str) -> str:
    return f'<{tag} xmlns:a="{ENT}" xmlns:i="{XSI}">{inner}</{tag}>'


def fault_envelope(err: ApiFaultError, tracking_id: str, *, faultcode: str = "s:Server") -> bytes:
    tid = escape(tracking_id)
    detail_text = f"<Detail>{escape(err.detail)}</Detail>" if err.detail else '<Detail i:nil="true"/>'
    if err.fault_type == "ApiFault":
        details = (
            f"<e:Details>{escape(err.detail)}</e:Details>" if err.detail else '<e:Details i:nil="true"/>'
        )
        detail = (
            f'<ApiFault xmlns="{NS}" xmlns:a="{ADAPI}" xmlns:e="{EXC}" xmlns:i="{XSI}">'
            f"<a:TrackingId>{tid}</a:TrackingId><e:OperationErrors><e:OperationError>"
            f"<e:Code>{err.code}</e:Code>{details}<e:Message>{escape(err.message)}</e:Message>"
            "</e:OperationError></e:OperationErrors></ApiFault>"
        )
    else:
        error_code = (
            f"<ErrorCode>{escape(err.error_code)}</ErrorCode>"
            if err.error_code
            else '<ErrorCode i:nil="true"/>'
        )
        detail = (
            f'<AdApiFaultDetail xmlns="{ADAPI}" xmlns:i="{XSI}"><TrackingId>{tid}</TrackingId>'
            "<Errors><AdApiError>"
            f"<Code>{err.code}</Code>{detail_text}{error_code}<Message>{escape(err.message)}</Message>"
            "</AdApiError></Errors></AdApiFaultDetail>"
        )
    faultstring = (
        f"Invalid client data. Check the SOAP fault details for more information. TrackingId: {tid}."
    )
    return envelope(
        tracking_id,
        f"<s:Fault><faultcode>{faultcode}</faultcode>"
        f'<faultstring xml:lang="en-US">{faultstring}</faultstring>'
        f"<detail>{detail}</detail></s:Fault>",
    )


def plain_fault_envelope(faultstring: str, tracking_id: str, faultcode: str = "s:Client") -> bytes:
    """A fault without detail (WCF dispatcher errors: unknown action, unreadable message)."""
    return envelope(
        tracking_id,
        f"<s:Fault><faultcode>{faultcode}</faultcode>"
        f'<faultstring xml:lang="en-US">{escape(faultstring)}</faultstring>'
        "</s:Fault>",
    )


class SoapApi:
    """Parses SOAP requests, calls the operations, renders XML. One per emulator (holds the caches)."""

    def __init__(self, service: CustomerManagement) -> None:
        self.service = service
        self._base_cache: dict[int, str] = {}
        self._lock = threading.Lock()

    def account_xml(self, account: Account, fields: frozenset[str]) -> str:
        base = self._base_cache.get(account.index)
        if base is None:
            base = account_base_xml(account)
            with self._lock:
                self._base_cache[account.index] = base
        return base + account_extra_xml(account, fields) if fields else base

    def handle(self, request: SoapRequest, tracking_id: str) -> bytes:
        """Run one operation; returns the response envelope. Raises ApiFaultError."""
        caller = self.service.authenticate(
            request.headers.get("AuthenticationToken"), request.headers.get("DeveloperToken")
        )
        el = request.body
        op = request.operation
        if op == "GetUser":
            members = read_in_order(el, NS, ("UserId",))
            user = self.service.get_user(caller, parse_long(_text(members.get("UserId")), "UserId"))
            body = (
                f'<GetUserResponse xmlns="{NS}">'
                + _entities("User", user_xml(user))
                + _entities("CustomerRoles", "".join(role_xml(r) for r in user.roles))
                + "</GetUserResponse>"
            )
        elif op == "GetCustomer":
            members = read_in_order(el, NS, ("CustomerId",))
            customer = self.service.get_customer(
                caller, parse_long(_text(members.get("CustomerId")), "CustomerId")
            )
            body = (
                f'<GetCustomerResponse xmlns="{NS}">'
                + _entities("Customer", customer_xml(customer))
                + "</GetCustomerResponse>"
            )
        elif op == "GetAccount":
            members = read_in_order(el, NS, ("AccountId", "ReturnAdditionalFields"))
            fields = parse_additional_fields(_text(members.get("ReturnAdditionalFields")))
            account = self.service.get_account(
                caller, parse_long(_text(members.get("AccountId")), "AccountId")
            )
            body = (
                f'<GetAccountResponse xmlns="{NS}">'
                + _entities("Account", self.account_xml(account, fields))
                + "</GetAccountResponse>"
            )
        else:
            members = read_in_order(el, NS, ("Predicates", "Ordering", "PageInfo", "ReturnAdditionalFields"))
            fields = parse_additional_fields(_text(members.get("ReturnAdditionalFields")))
            accounts = self.service.search_accounts(
                caller,
                _predicates(members.get("Predicates")),
                _ordering(members.get("Ordering")),
                _paging(members.get("PageInfo")),
            )
            inner = "".join(
                "<a:AdvertiserAccount>" + self.account_xml(a, fields) + "</a:AdvertiserAccount>"
                for a in accounts
            )
            body = (
                f'<SearchAccountsResponse xmlns="{NS}">'
                + _entities("Accounts", inner)
                + "</SearchAccountsResponse>"
            )
        return envelope(tracking_id, body)


def _items(parent: etree._Element | None, name: str) -> list[etree._Element] | None:
    if parent is None or _nil(parent):
        return None
    return [c for c in parent if isinstance(c.tag, str) and c.tag == f"{{{ENT}}}{name}"]


def _predicates(parent: etree._Element | None) -> list[Predicate] | None:
    items = _items(parent, "Predicate")
    if items is None:
        return None
    out = []
    for item in items:
        m = read_in_order(item, ENT, ("Field", "Operator", "Value"))
        out.append(Predicate(_text(m.get("Field")), _text(m.get("Operator")), _text(m.get("Value"))))
    return out


def _ordering(parent: etree._Element | None) -> list[OrderBy] | None:
    items = _items(parent, "OrderBy")
    if items is None:
        return None
    out = []
    for item in items:
        m = read_in_order(item, ENT, ("Field", "Order"))
        out.append(OrderBy(_text(m.get("Field")), _text(m.get("Order"))))
    return out


def _paging(parent: etree._Element | None) -> Paging | None:
    if parent is None or _nil(parent):
        return None
    m = read_in_order(parent, ENT, ("Index", "Size"))
    index = parse_int(_text(m.get("Index")), "PageInfo.Index") or 0
    return Paging(index, parse_int(_text(m.get("Size")), "PageInfo.Size") or 0)
