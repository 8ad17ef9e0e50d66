"""REST (JSON) wire format of Customer Management v13: request parsing and response rendering.

Shapes follow the docs' "Request JSON"/"Response JSON" templates and the msads SDK models: keys in
alphabetical order as in the templates, 64-bit ids as JSON strings, ints and decimals as numbers, nil as
``null``, flags enums as "A, B" strings. Faults:
``{"TrackingId", "Type": "AdApiFaultDetail", "Errors": [...]}`` or
``{"TrackingId", "Type": "ApiFault", "OperationErrors": [...]}``.

Accounts are the hot path (10,000 accounts in ten pages must take well under a second), so each account's
JSON text is rendered once per ReturnAdditionalFields combination and cached; a page is a string join.
"""

from __future__ import annotations

import json
import threading
from typing import Any

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

JSON_CONTENT_TYPE = "application/json; charset=utf-8"
#: REST resource path (lower-cased, after /CustomerManagement/v13/) -> operation (= fault route name).
REST_OPERATIONS = {
    "user/query": "GetUser",
    "accounts/search": "SearchAccounts",
    "account/query": "GetAccount",
    "customer/query": "GetCustomer",
}

_FLAG_BITS = {"TaxCertificate": 1, "AccountMode": 2, "ParentCustomerNumber": 4}


def _id(value: int | None) -> str | None:
    return None if value is None else str(value)


def _dumps(obj: object) -> str:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


def address_dict(a: Address) -> dict[str, Any]:
    return {
        "BusinessName": a.business_name,
        "City": a.city,
        "CountryCode": a.country_code,
        "Id": _id(a.id),
        "Line1": a.line1,
        "Line2": a.line2,
        "Line3": None,
        "Line4": None,
        "PostalCode": a.postal_code,
        "StateOrProvince": a.state_or_province,
        "TimeStamp": a.time_stamp,
    }


def _pairs(pairs: tuple[tuple[str, str], ...] | None) -> list[dict[str, str]] | None:
    return None if pairs is None else [{"key": k, "value": v} for k, v in pairs]


def account_dict(a: Account, mask: int) -> dict[str, Any]:
    """AdvertiserAccount as JSON-ready dict; ``mask`` says which additional fields were requested."""
    d: dict[str, Any] = {
        "AccountFinancialStatus": a.financial_status,
        "AccountLifeCycleStatus": a.lifecycle_status,
    }
    if mask & 2:
        d["AccountMode"] = a.account_mode
    d.update(
        {
            "AutoTagType": a.auto_tag_type,
            "BackUpPaymentInstrumentId": _id(a.back_up_payment_instrument_id),
            "BillingThresholdAmount": a.billing_threshold_amount,
            "BillToCustomerId": _id(a.bill_to_customer_id),
            "BusinessAddress": address_dict(a.business_address),
            "CurrencyCode": a.currency_code,
            "ForwardCompatibilityMap": _pairs(a.forward_compatibility_map),
            "Id": str(a.id),
            "Language": a.language,
            "LastModifiedByUserId": _id(a.last_modified_by_user_id),
            "LastModifiedTime": a.last_modified_time,
            "LinkedAgencies": [{"Id": str(i), "Name": n} for i, n in a.linked_agencies],
            "Name": a.name,
            "Number": a.number,
            "ParentCustomerId": str(a.parent_customer_id),
        }
    )
    if mask & 4:
        d["ParentCustomerNumber"] = a.parent_customer_number
    d.update(
        {
            "PauseReason": a.pause_reason,
            "PaymentMethodId": _id(a.payment_method_id),
            "PaymentMethodType": a.payment_method_type,
            "PrimaryUserId": _id(a.primary_user_id),
            "SalesHouseCustomerId": _id(a.sales_house_customer_id),
            "SoldToPaymentInstrumentId": _id(a.sold_to_payment_instrument_id),
        }
    )
    if mask & 1:
        tc = a.tax_certificate
        d["TaxCertificate"] = (
            None
            if tc is None
            else {
                "Status": tc.status,
                "TaxCertificateBlobContainerName": tc.blob_container_name,
                "TaxCertificates": _pairs(tc.certificates),
            }
        )
    d.update(
        {"TaxInformation": _pairs(a.tax_information), "TimeStamp": a.time_stamp, "TimeZone": a.time_zone}
    )
    return d


def role_dict(r: CustomerRole) -> dict[str, Any]:
    return {
        "AccountIds": None if r.account_ids is None else [str(i) for i in r.account_ids],
        "CustomerId": str(r.customer_id),
        "CustomerLinkPermission": r.customer_link_permission,
        "LinkedAccountIds": None if r.linked_account_ids is None else [str(i) for i in r.linked_account_ids],
        "RoleId": r.role_id,
    }


def user_dict(u: User) -> dict[str, Any]:
    return {
        "AuthenticationToken": None,
        "ContactInfo": {
            "Address": address_dict(u.address),
            "ContactByPhone": False,
            "ContactByPostalMail": False,
            "Email": u.email,
            "EmailFormat": "Html",
            "Fax": None,
            "HomePhone": None,
            "Id": str(u.contact_id),
            "Mobile": None,
            "Phone1": u.phone1,
            "Phone2": None,
        },
        "CustomerId": str(u.customer_id),
        "ForwardCompatibilityMap": [],
        "Id": str(u.id),
        "JobTitle": u.job_title,
        "LastModifiedByUserId": str(u.last_modified_by_user_id),
        "LastModifiedTime": u.last_modified_time,
        "Lcid": u.lcid,
        "Name": {"FirstName": u.first_name, "LastName": u.last_name, "MiddleInitial": u.middle_initial},
        "Password": None,
        "SecretAnswer": None,
        "SecretQuestion": "None",
        "TimeStamp": u.time_stamp,
        "UserLifeCycleStatus": u.lifecycle_status,
        "UserName": u.user_name,
    }


def customer_dict(c: Customer) -> dict[str, Any]:
    return {
        "CustomerAddress": address_dict(c.address),
        "CustomerFinancialStatus": c.financial_status,
        "CustomerLifeCycleStatus": c.lifecycle_status,
        "ForwardCompatibilityMap": _pairs(c.forward_compatibility_map),
        "Id": str(c.id),
        "Industry": c.industry,
        "LastModifiedByUserId": str(c.last_modified_by_user_id),
        "LastModifiedTime": c.last_modified_time,
        "MarketCountry": c.market_country,
        "MarketLanguage": c.market_language,
        "Name": c.name,
        "Number": c.number,
        "ServiceLevel": c.service_level,
        "TimeStamp": c.time_stamp,
    }


def fault_dict(err: ApiFaultError, tracking_id: str) -> dict[str, Any]:
    if err.fault_type == "ApiFault":
        return {
            "TrackingId": tracking_id,
            "Type": "ApiFault",
            "OperationErrors": [{"Code": err.code, "Details": err.detail, "Message": err.message}],
        }
    return {
        "TrackingId": tracking_id,
        "Type": "AdApiFaultDetail",
        "Errors": [
            {"Code": err.code, "Detail": err.detail, "ErrorCode": err.error_code, "Message": err.message}
        ],
    }


def fault_body(err: ApiFaultError, tracking_id: str) -> bytes:
    return _dumps(fault_dict(err, tracking_id)).encode("utf-8")


def bearer_token(authorization: str | None) -> str | None:
    if not authorization:
        return None
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return "\x00invalid"  # present but unusable: 105, not "missing"
    return token.strip()


class RestApi:
    """Parses REST requests, calls the operations, renders JSON. One per emulator (holds the caches)."""

    def __init__(self, service: CustomerManagement) -> None:
        self.service = service
        self._account_cache: dict[tuple[int, int], str] = {}
        self._lock = threading.Lock()

    def account_json(self, account: Account, mask: int) -> str:
        key = (account.index, mask)
        text = self._account_cache.get(key)
        if text is None:
            text = _dumps(account_dict(account, mask))
            with self._lock:
                self._account_cache[key] = text
        return text

    def handle(self, operation: str, headers: dict[str, str], body: bytes) -> tuple[int, bytes]:
        """Returns (status, JSON body). Raises ApiFaultError for the caller to render with the TrackingId."""
        caller = self.service.authenticate(
            bearer_token(headers.get("authorization")), headers.get("developertoken")
        )
        request = parse_json_object(body)
        if operation == "GetUser":
            user = self.service.get_user(caller, parse_long(request.get("UserId"), "UserId"))
            roles = user.roles
            text = _dumps({"User": user_dict(user), "CustomerRoles": [role_dict(r) for r in roles]})
            return 200, text.encode("utf-8")
        if operation == "GetCustomer":
            customer = self.service.get_customer(caller, parse_long(request.get("CustomerId"), "CustomerId"))
            return 200, _dumps({"Customer": customer_dict(customer)}).encode("utf-8")
        if operation == "GetAccount":
            mask = _mask(request.get("ReturnAdditionalFields"))
            account = self.service.get_account(caller, parse_long(request.get("AccountId"), "AccountId"))
            return 200, ('{"Account":' + self.account_json(account, mask) + "}").encode("utf-8")
        # SearchAccounts
        mask = _mask(request.get("ReturnAdditionalFields"))
        accounts = self.service.search_accounts(
            caller,
            _predicates(request.get("Predicates")),
            _ordering(request.get("Ordering")),
            _paging(request.get("PageInfo")),
        )
        text = '{"Accounts":[' + ",".join(self.account_json(a, mask) for a in accounts) + "]}"
        return 200, text.encode("utf-8")


def parse_json_object(body: bytes) -> dict[str, Any]:
    if not body.strip():
        raise ApiFaultError(100)
    try:
        parsed = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise ApiFaultError(201, detail="The request body is not valid JSON.") from None
    if not isinstance(parsed, dict):
        raise ApiFaultError(201, detail="The request body must be a JSON object.")
    return parsed


def _mask(value: object) -> int:
    if value is not None and not isinstance(value, str):
        raise ApiFaultError(
            201, detail='ReturnAdditionalFields must be a string such as "AccountMode, TaxCertificate".'
        )
    mask = 0
    for name in parse_additional_fields(value):
        mask |= _FLAG_BITS.get(name, 0)
    return mask


def _list_of_objects(value: object, name: str) -> list[dict[str, Any]] | None:
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise ApiFaultError(201, detail=f"{name} must be an array of objects.")
    return value


def _text(value: object, name: str) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise ApiFaultError(201, detail=f"{name} must be a string.")
    return str(value)


def _predicates(value: object) -> list[Predicate] | None:
    items = _list_of_objects(value, "Predicates")
    if items is None:
        return None
    out = []
    for item in items:
        operator = _text(item.get("Operator"), "Predicate.Operator")
        out.append(
            Predicate(
                _text(item.get("Field"), "Predicate.Field"), operator, _text(item.get("Value"), "Value")
            )
        )
    return out


def _ordering(value: object) -> list[OrderBy] | None:
    items = _list_of_objects(value, "Ordering")
    if items is None:
        return None
    return [
        OrderBy(_text(i.get("Field"), "OrderBy.Field"), _text(i.get("Order"), "OrderBy.Order")) for i in items
    ]


def _paging(value: object) -> Paging | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise ApiFaultError(201, detail="PageInfo must be an object.")
    # Missing members take the .NET default (0), as the service's deserializer does.
    index = parse_int(value.get("Index"), "PageInfo.Index") or 0
    return Paging(index, parse_int(value.get("Size"), "PageInfo.Size") or 0)
