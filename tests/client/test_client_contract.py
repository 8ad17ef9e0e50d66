"""Wire contract: what each transport sends (schemas, documented JSON shapes, headers) and how the
documented example responses map to models."""

from __future__ import annotations

import itertools
import json
from typing import Any

import httpx
import pytest
from lxml import etree
from msads_client_fakes import (
    ACCESS_TOKENS,
    CUSTOMER_NS,
    DEVELOPER_TOKEN,
    EXAMPLES,
    SOAP_ENV,
    VALIDATOR,
    FakeService,
    example_soap,
    rest_template,
    shape_errors,
)

from airflow_provider_msads.client.environments import resolve_endpoints
from airflow_provider_msads.client.errors import ApiAuthenticationError, ApiError, TransientApiError
from airflow_provider_msads.client.models import Account, Customer, CustomerRole, User, UserInfo
from airflow_provider_msads.client.rest import RestCodec, request_body
from airflow_provider_msads.client.soap import SoapCodec
from airflow_provider_msads.client.wire import (
    GET_ACCOUNT,
    GET_CUSTOMER,
    GET_USER,
    SEARCH_ACCOUNTS,
    Credentials,
    GetAccountRequest,
    GetCustomerRequest,
    GetUserRequest,
    Operation,
    Predicate,
    SearchAccountsRequest,
    WireResponse,
)

ENDPOINTS = resolve_endpoints("production")
CREDS = Credentials(ACCESS_TOKENS[0], DEVELOPER_TOKEN, customer_id=5000001, account_id=180000000)
ALL_PREDICATES = (
    Predicate("UserId", "Equals", "123456789"),
    Predicate("CustomerId", "Equals", "5000001"),
    Predicate("AccountId", "In", "180000000,180000007"),
    Predicate("AccountLifeCycleStatus", "Equals", "Active"),
    Predicate("AccountName", "Contains", "Account & <1>"),
)
REQUESTS: list[tuple[Operation, Any]] = [
    (GET_USER, GetUserRequest(None)),
    (GET_USER, GetUserRequest(123456789)),
    (GET_ACCOUNT, GetAccountRequest(180012345)),
    (GET_ACCOUNT, GetAccountRequest(180012345, ("TaxCertificate", "AccountMode"))),
    (GET_CUSTOMER, GetCustomerRequest(987654)),
    (SEARCH_ACCOUNTS, SearchAccountsRequest(ALL_PREDICATES, "Id", True, 0, 1000)),
    (
        SEARCH_ACCOUNTS,
        SearchAccountsRequest(ALL_PREDICATES[:1], "Name", False, 7, 100, ("ParentCustomerNumber",)),
    ),
    (SEARCH_ACCOUNTS, SearchAccountsRequest(ALL_PREDICATES[:2], None, True, 2, 1)),
]


def wire(op: str, content: bytes, status: int = 200, **headers: str) -> WireResponse:
    return WireResponse(op, status, httpx.Headers(headers), content, (ACCESS_TOKENS[0], DEVELOPER_TOKEN))


# -- SOAP requests ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("op", "request_obj"), REQUESTS, ids=lambda v: getattr(v, "name", type(v).__name__))
def test_every_soap_request_validates_against_the_wsdl_schemas(op: Operation, request_obj: Any) -> None:
    wire_request = SoapCodec(ENDPOINTS).encode(op, request_obj, CREDS)
    assert VALIDATOR.validate_envelope(wire_request.content, "customer_management", expect="request") == []
    assert wire_request.url == ENDPOINTS.customer_management_soap_url
    assert dict(wire_request.headers) == {"Content-Type": "text/xml; charset=utf-8", "SOAPAction": op.name}


def test_the_validator_is_not_vacuous() -> None:
    """Swapping two body elements of a request we generate must be reported."""
    content = SoapCodec(ENDPOINTS).encode(*REQUESTS[5], CREDS).content
    root = etree.fromstring(content)
    request = root.find(f"{{{SOAP_ENV}}}Body")[0]  # type: ignore[index]
    predicates = request[0]
    request.remove(predicates)
    request.append(predicates)  # Predicates after PageInfo: out of schema order
    assert VALIDATOR.validate_envelope(etree.tostring(root), "customer_management", expect="request")


def test_soap_header_carries_the_raw_token_and_only_declared_elements() -> None:
    root = etree.fromstring(SoapCodec(ENDPOINTS).encode(GET_USER, GetUserRequest(None), CREDS).content)
    header = root.find(f"{{{SOAP_ENV}}}Header")
    assert header is not None
    assert [child.tag for child in header] == [
        f"{{{CUSTOMER_NS}}}AuthenticationToken",
        f"{{{CUSTOMER_NS}}}DeveloperToken",
    ]
    assert header[0].text == ACCESS_TOKENS[0]  # no "Bearer " prefix
    assert header[1].text == DEVELOPER_TOKEN


def test_account_scoped_operations_get_customer_headers_in_both_transports() -> None:
    scoped = Operation("Scoped", "Scoped/Query", account_scoped=True)
    rest_headers = RestCodec(ENDPOINTS).headers(scoped, CREDS)
    assert rest_headers["CustomerId"] == "5000001" and rest_headers["CustomerAccountId"] == "180000000"
    root = etree.fromstring(SoapCodec(ENDPOINTS).encode(scoped, GetCustomerRequest(1), CREDS).content)
    names = [etree.QName(c).localname for c in root.find(f"{{{SOAP_ENV}}}Header")]  # type: ignore[union-attr]
    assert names == ["AuthenticationToken", "DeveloperToken", "CustomerAccountId", "CustomerId"]


def test_soap_search_request_matches_the_documented_example_structure() -> None:
    """Our SearchAccounts envelope has the same element paths as the pack's hand-written sample."""

    def paths(content: bytes) -> list[str]:
        root = etree.fromstring(content)
        body = root.find(f"{{{SOAP_ENV}}}Body")[0]  # type: ignore[index]
        return sorted(
            {
                etree.QName(el).localname + "/" + "/".join(etree.QName(c).localname for c in el)
                for el in body.iter()
            }
        )

    ours = SoapCodec(ENDPOINTS).encode(
        SEARCH_ACCOUNTS,
        SearchAccountsRequest(
            ALL_PREDICATES[:1] + ALL_PREDICATES[3:4], "Name", True, 0, 100, ("TaxCertificate", "AccountMode")
        ),
        CREDS,
    )
    assert paths(ours.content) == paths(example_soap("SearchAccounts.request.xml"))


# -- REST requests ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("op", "request_obj"), REQUESTS, ids=lambda v: getattr(v, "name", type(v).__name__))
def test_every_rest_request_matches_the_documented_json_shape(op: Operation, request_obj: Any) -> None:
    wire_request = RestCodec(ENDPOINTS).encode(op, request_obj, CREDS)
    body = json.loads(wire_request.content)
    assert shape_errors(body, rest_template(f"{op.name}.request.json.txt")) == []
    assert wire_request.url == ENDPOINTS.customer_management_rest_url + op.rest_path
    assert dict(wire_request.headers) == {
        "Authorization": f"Bearer {ACCESS_TOKENS[0]}",
        "DeveloperToken": DEVELOPER_TOKEN,
        "Content-Type": "application/json",
        "Accept": "application/json",
    }


def test_rest_bodies_spell_ids_as_strings_and_flags_as_one_string() -> None:
    assert request_body(GetUserRequest(None)) == {"UserId": None}
    assert request_body(GetAccountRequest(5, ("TaxCertificate", "AccountMode"))) == {
        "AccountId": "5",
        "ReturnAdditionalFields": "TaxCertificate, AccountMode",
    }
    assert request_body(SearchAccountsRequest(ALL_PREDICATES[:1], "Id", False, 3, 50)) == {
        "Predicates": [{"Field": "UserId", "Operator": "Equals", "Value": "123456789"}],
        "Ordering": [{"Field": "Id", "Order": "Descending"}],
        "PageInfo": {"Index": 3, "Size": 50},
    }


def test_shape_checker_is_not_vacuous() -> None:
    template = rest_template("SearchAccounts.request.json.txt")
    assert shape_errors({"PageInfo": {"Index": "0", "Size": 10}}, template)  # Index must be a number
    assert shape_errors({"UserId": 123}, rest_template("GetUser.request.json.txt"))  # long as number
    assert shape_errors({"Bogus": 1}, template)


# -- documented example responses -> models -------------------------------------------------------

EXAMPLE_ACCOUNT = Account(
    id=180012345,
    number="F1234567",
    name="Contoso Search",
    parent_customer_id=987654,
    lifecycle_status="Active",
    currency_code="USD",
    time_zone="PacificTimeUSCanadaTijuana",
    language="English",
    financial_status="ClearFinancialStatus",
    pause_reason=None,
    bill_to_customer_id=987654,
    primary_user_id=123456789,
    payment_method_type="CreditCard",
    account_mode="Expert",
    last_modified_time="2024-05-01T17:03:12.123",
)


def test_soap_example_get_user_response() -> None:
    info = SoapCodec(ENDPOINTS).user_info(wire("GetUser", example_soap("GetUser.response.xml")))
    assert info == UserInfo(
        User(
            123456789,
            "someone@example.com",
            987654,
            "Alex",
            "Doe",
            "someone@example.com",
            "Active",
            "EnglishUS",
        ),
        (CustomerRole(987654, 41, (), (180012345,), None),),
    )
    assert info.customer_ids == (987654,)


def test_soap_example_search_accounts_response() -> None:
    accounts = SoapCodec(ENDPOINTS).accounts(
        wire("SearchAccounts", example_soap("SearchAccounts.response.xml"))
    )
    assert accounts == [EXAMPLE_ACCOUNT]


def test_soap_example_get_account_response() -> None:
    account = SoapCodec(ENDPOINTS).account(wire("GetAccount", example_soap("GetAccount.response.xml")))
    assert account == EXAMPLE_ACCOUNT.__class__(**{**_fields(EXAMPLE_ACCOUNT), "account_mode": None})


@pytest.mark.parametrize("status", [500, 200])
def test_soap_example_fault_on_500_and_on_200(status: int) -> None:
    with pytest.raises(ApiAuthenticationError) as caught:
        SoapCodec(ENDPOINTS).user_info(wire("GetUser", example_soap("GetUser.fault.xml"), status))
    err = caught.value
    assert err.codes == (105,)
    assert err.errors[0].error_code == "InvalidCredentials"
    assert err.tracking_id == "11111111-2222-3333-4444-555555555555"
    assert err.fault_type == "AdApiFaultDetail"
    assert "sandbox" in str(err) and "GetUser" in str(err)


def _filled(template_name: str) -> dict[str, Any]:
    """A REST docs template with each placeholder replaced by a distinct concrete value."""
    counter = itertools.count(1)
    text = (EXAMPLES / "rest" / template_name).read_text()
    while '"LongValueHere"' in text:
        text = text.replace('"LongValueHere"', f'"{1000000 + next(counter)}"', 1)
    while '"ValueHere"' in text:
        text = text.replace('"ValueHere"', f'"text{next(counter)}"', 1)
    text = text.replace("IntValueHere", str(next(counter))).replace("DecimalValueHere", "12.5")
    return json.loads(text)  # type: ignore[no-any-return]


def _expected_account(a: dict[str, Any]) -> Account:
    return Account(
        int(a["Id"]),
        a["Number"],
        a["Name"],
        int(a["ParentCustomerId"]),
        a["AccountLifeCycleStatus"],
        a["CurrencyCode"],
        a["TimeZone"],
        a["Language"],
        a["AccountFinancialStatus"],
        None,
        int(a["BillToCustomerId"]),
        int(a["PrimaryUserId"]),
        a["PaymentMethodType"],
        a["AccountMode"],
        a["LastModifiedTime"],
    )


def test_rest_documented_responses_map_every_field() -> None:
    codec = RestCodec(ENDPOINTS)
    search = _filled("SearchAccounts.response.json.txt")
    search["Accounts"][0]["PauseReason"] = "4"  # the template's "ValueHere" for an unsignedByte
    search["Accounts"][0]["AccountLifeCycleStatus"] = "Pause"  # an enum: validated by the decoder
    accounts = codec.accounts(wire("SearchAccounts", json.dumps(search).encode()))
    assert accounts == [Account(**{**_fields(_expected_account(search["Accounts"][0])), "pause_reason": 4})]

    get = _filled("GetAccount.response.json.txt")
    get["Account"]["PauseReason"] = None
    get["Account"]["AccountLifeCycleStatus"] = "Active"
    assert codec.account(wire("GetAccount", json.dumps(get).encode())) == _expected_account(get["Account"])

    cust = _filled("GetCustomer.response.json.txt")
    c = cust["Customer"]
    assert codec.customer(wire("GetCustomer", json.dumps(cust).encode())) == Customer(
        int(c["Id"]),
        c["Name"],
        c["Number"],
        c["CustomerLifeCycleStatus"],
        c["CustomerFinancialStatus"],
        c["MarketCountry"],
        c["MarketLanguage"],
        c["Industry"],
        c["ServiceLevel"],
        c["LastModifiedTime"],
    )

    user = _filled("GetUser.response.json.txt")
    u, r = user["User"], user["CustomerRoles"][0]
    assert codec.user_info(wire("GetUser", json.dumps(user).encode())) == UserInfo(
        User(
            int(u["Id"]),
            u["UserName"],
            int(u["CustomerId"]),
            u["Name"]["FirstName"],
            u["Name"]["LastName"],
            u["ContactInfo"]["Email"],
            u["UserLifeCycleStatus"],
            u["Lcid"],
        ),
        (
            CustomerRole(
                int(r["CustomerId"]),
                r["RoleId"],
                (int(r["AccountIds"][0]),),
                (int(r["LinkedAccountIds"][0]),),
                r["CustomerLinkPermission"],
            ),
        ),
    )


def test_user_model_never_carries_password_or_authentication_token() -> None:
    user = _filled("GetUser.response.json.txt")
    info = RestCodec(ENDPOINTS).user_info(wire("GetUser", json.dumps(user).encode()))
    text = repr(info)
    assert user["User"]["Password"] not in text and user["User"]["AuthenticationToken"] not in text


def _fault_json(name: str, code: int) -> bytes:
    text = (EXAMPLES / "rest" / name).read_text().replace("IntValueHere", str(code))
    return text.replace('"ValueHere"', '"tracking-or-text"').encode()


@pytest.mark.parametrize(
    "name",
    ["CustomerManagement.AdApiFaultDetail.error.json.txt", "CustomerManagement.ApiFault.error.json.txt"],
)
def test_rest_documented_fault_envelopes(name: str) -> None:
    with pytest.raises(ApiAuthenticationError) as caught:
        RestCodec(ENDPOINTS).user_info(wire("GetUser", _fault_json(name, 106), 400, TrackingId="hdr-track"))
    assert caught.value.codes == (106,)
    assert caught.value.tracking_id == "hdr-track"  # the response header wins over the body copy
    assert caught.value.http_status == 400


def test_rest_wrapped_application_fault() -> None:
    """The PHP migration guide's {"ApplicationFault": {...}} form, with OperationErrors and BatchErrors."""
    body = {
        "ApplicationFault": {
            "Type": "ApiFaultDetail",
            "TrackingId": "abc123",
            "OperationErrors": [{"Code": 2208, "Message": "system issue", "Details": "later"}],
            "BatchErrors": [{"Index": 0, "Code": 2208, "Message": "Batch error for first item"}],
        }
    }
    with pytest.raises(TransientApiError) as caught:
        RestCodec(ENDPOINTS).accounts(wire("SearchAccounts", json.dumps(body).encode(), 500))
    assert caught.value.codes == (2208, 2208)
    assert caught.value.tracking_id == "abc123"
    assert caught.value.errors[0].details == "later"


def test_rest_fault_on_http_200_is_still_a_fault() -> None:
    body = {"TrackingId": "t", "Type": "AdApiFaultDetail", "Errors": [{"Code": 1102, "Message": "bad id"}]}
    with pytest.raises(ApiError) as caught:
        RestCodec(ENDPOINTS).account(wire("GetAccount", json.dumps(body).encode(), 200))
    assert type(caught.value) is ApiError and caught.value.codes == (1102,)


def test_fake_service_renders_schema_valid_soap(fake: FakeService) -> None:
    """The test double itself speaks valid SOAP, so SOAP results below are meaningful."""
    from msads_client_fakes import soap_fault, soap_payload

    for op, data in [
        ("SearchAccounts", fake.accounts[:3]),
        ("GetAccount", fake.accounts[0]),
        ("GetCustomer", {"Id": 1, "Name": "x"}),
        ("GetUser", {"Id": 1, "UserName": "u", "CustomerId": 2, "Roles": [(3, 41)]}),
    ]:
        assert (
            VALIDATOR.validate_envelope(soap_payload(op, data, "t"), "customer_management", expect="response")
            == []
        )
    for kind in ("AdApiFaultDetail", "ApiFault"):
        assert (
            VALIDATOR.validate_envelope(
                soap_fault(105, "m", "t", kind=kind), "customer_management", expect="fault"
            )
            == []
        )


def _fields(obj: Any) -> dict[str, Any]:
    names = getattr(obj, "__struct_fields__", None) or obj.__slots__  # Account is a msgspec.Struct
    return {name: getattr(obj, name) for name in names}
