"""Customer Management v13 over SOAP: official examples accepted, every response schema-valid."""

from __future__ import annotations

import time
from collections.abc import Callable

import httpx
import pytest
from lxml import etree
from msads_emulator_helpers import (
    CONTRACT,
    SANDBOX_SCOPE,
    SOAP_PATH,
    access_token,
    search_body,
    soap_envelope,
    soap_post,
)

from airflow_provider_msads.testing import DEMO_SANDBOX_DEVELOPER_TOKEN, Emulator

NS = {
    "s": "http://schemas.xmlsoap.org/soap/envelope/",
    "c": "https://bingads.microsoft.com/Customer/v13",
    "a": "https://bingads.microsoft.com/Customer/v13/Entities",
    "ad": "https://adapi.microsoft.com",
    "e": "https://bingads.microsoft.com/Customer/v13/Exception",
    "i": "http://www.w3.org/2001/XMLSchema-instance",
}
Check = Callable[[bytes], None]


def xml(response: httpx.Response) -> etree._Element:
    return etree.fromstring(response.content, etree.XMLParser(resolve_entities=False, no_network=True))


def fault_code(response: httpx.Response) -> int:
    codes = xml(response).xpath("//ad:Code/text() | //e:Code/text()", namespaces=NS)
    assert len(codes) == 1, response.text
    return int(codes[0])


@pytest.mark.parametrize(
    "example",
    [
        "GetUser.request.xml",
        "GetUser.request.suds-style.xml",
        "SearchAccounts.request.xml",
        "GetAccount.request.xml",
    ],
)
def test_official_examples_are_accepted(
    msads_emulator: Emulator, http: httpx.Client, assert_valid_soap: Check, example: str
) -> None:
    # The examples use the universal sandbox developer token, so they need a sandbox access token.
    token = access_token(http, msads_emulator, scope=SANDBOX_SCOPE)
    account_id = msads_emulator.expected_account_ids[0]
    text = (CONTRACT / "examples" / "soap" / example).read_text()
    text = text.replace("EwBIA-placeholder-access-token", token)
    text = text.replace("123456789", str(msads_emulator.demo_user_id)).replace("180012345", str(account_id))
    operation = example.split(".")[0]
    response = soap_post(http, msads_emulator, operation, text.encode())
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/xml")
    assert_valid_soap(response.content)
    root = xml(response)
    assert root.xpath("/s:Envelope/s:Header/c:TrackingId/text()", namespaces=NS)
    assert root.xpath(f"/s:Envelope/s:Body/c:{operation}Response", namespaces=NS)
    if operation == "SearchAccounts":
        statuses = root.xpath("//a:AdvertiserAccount/a:AccountLifeCycleStatus/text()", namespaces=NS)
        data = msads_emulator.data
        expected = [
            a
            for a in data.accounts_by_ids(msads_emulator.expected_account_ids)
            if a.lifecycle_status in ("Active", "Pause")
        ]
        assert len(statuses) == len(expected) > 0
        names = root.xpath("//a:AdvertiserAccount/a:Name/text()", namespaces=NS)
        assert names == sorted(names, key=str.casefold)  # Ordering: Name Ascending
        assert root.xpath("//a:AdvertiserAccount/a:AccountMode", namespaces=NS)  # ReturnAdditionalFields
    if operation == "GetAccount":
        assert root.xpath("//c:Account/a:Id/text()", namespaces=NS) == [str(account_id)]
        assert root.xpath("//c:Account/a:ParentCustomerNumber/text()", namespaces=NS)


def test_all_operations_and_nil(
    msads_emulator: Emulator, http: httpx.Client, assert_valid_soap: Check
) -> None:
    token = access_token(http, msads_emulator)
    emu = msads_emulator
    user = soap_post(http, emu, "GetUser", soap_envelope("GetUser", '<UserId i:nil="true"/>', token))
    assert user.status_code == 200
    assert_valid_soap(user.content)
    root = xml(user)
    assert root.xpath("//c:User/a:Id/text()", namespaces=NS) == [str(emu.demo_user_id)]
    assert root.xpath("//c:User/a:Password/@i:nil", namespaces=NS) == ["true"]
    roles = root.xpath("//c:CustomerRoles/a:CustomerRole", namespaces=NS)
    assert len(roles) >= 4
    assert root.xpath("//a:CustomerRole/a:AccountIds[@i:nil='true']", namespaces=NS)
    assert root.xpath("//a:CustomerRole/a:LinkedAccountIds/*", namespaces=NS)
    customer = soap_post(
        http,
        emu,
        "GetCustomer",
        soap_envelope("GetCustomer", f"<CustomerId>{emu.data.home_customer.id}</CustomerId>", token),
    )
    assert customer.status_code == 200
    assert_valid_soap(customer.content)
    everything = soap_post(
        http,
        emu,
        "SearchAccounts",
        soap_envelope(
            "SearchAccounts",
            search_body(emu.demo_user_id, 0, 100)
            + "<ReturnAdditionalFields>TaxCertificate AccountMode ParentCustomerNumber"
            + "</ReturnAdditionalFields>",
            token,
        ),
    )
    assert everything.status_code == 200
    assert_valid_soap(everything.content)
    ids = [int(i) for i in xml(everything).xpath("//a:AdvertiserAccount/a:Id/text()", namespaces=NS)]
    assert ids == list(emu.expected_account_ids)
    # Names with &, ' and non-ASCII survive the round trip.
    names = xml(everything).xpath("//a:AdvertiserAccount/a:Name/text()", namespaces=NS)
    assert names == [a.name for a in emu.data.accounts_by_ids(ids)]


def test_paging_soap_until_short_page(
    msads_emulator: Emulator, http: httpx.Client, assert_valid_soap: Check
) -> None:
    token = access_token(http, msads_emulator)
    ids: list[int] = []
    for index in range(100):
        response = soap_post(
            http,
            msads_emulator,
            "SearchAccounts",
            soap_envelope("SearchAccounts", search_body(msads_emulator.demo_user_id, index, 10), token),
        )
        assert_valid_soap(response.content)
        page = [int(i) for i in xml(response).xpath("//a:AdvertiserAccount/a:Id/text()", namespaces=NS)]
        ids += page
        if len(page) < 10:
            break
    assert ids == list(msads_emulator.expected_account_ids)
    assert msads_emulator.transport_counters[("SearchAccounts", "soap")] == 3


@pytest.mark.parametrize(
    ("operation", "body", "token_kind", "dev", "code", "detail"),
    [
        ("GetUser", '<UserId i:nil="true"/>', None, "prod", 105, "AdApiFaultDetail"),
        ("GetUser", '<UserId i:nil="true"/>', "bogus", "prod", 105, "AdApiFaultDetail"),
        ("GetUser", '<UserId i:nil="true"/>', "prod", None, 105, "AdApiFaultDetail"),
        ("GetUser", '<UserId i:nil="true"/>', "prod", "sandbox", 105, "AdApiFaultDetail"),
        ("GetUser", '<UserId i:nil="true"/>', "expired", "prod", 109, "AdApiFaultDetail"),
        ("GetAccount", "<AccountId>1</AccountId>", "prod", "prod", 106, "AdApiFaultDetail"),
        (
            "SearchAccounts",
            "<PageInfo><e:Index>0</e:Index><e:Size>10</e:Size></PageInfo>",
            "prod",
            "prod",
            474,
            "ApiFault",
        ),
        ("SearchAccounts", "SIZE", "prod", "prod", 3080, "ApiFault"),
    ],
)
def test_faults_validate_and_use_http_500(
    msads_emulator: Emulator,
    http: httpx.Client,
    assert_valid_soap: Check,
    operation: str,
    body: str,
    token_kind: str | None,
    dev: str | None,
    code: int,
    detail: str,
) -> None:
    emu = msads_emulator
    tokens = {
        None: None,
        "bogus": "bogus",
        "prod": emu.issue_access_token(),
        "expired": emu.issue_access_token(ttl=-1),
    }
    devs = {None: None, "prod": "EMUDEMO0DEVTOKEN42", "sandbox": DEMO_SANDBOX_DEVELOPER_TOKEN}
    if body == "SIZE":
        body = search_body(emu.demo_user_id, 0, 5000)
    response = soap_post(http, emu, operation, soap_envelope(operation, body, tokens[token_kind], devs[dev]))
    assert response.status_code == 500, response.text
    assert_valid_soap(response.content)
    root = xml(response)
    assert root.xpath("//s:Fault/faultcode/text()", namespaces=NS) == ["s:Server"]
    assert root.xpath(f"//s:Fault/detail/*[local-name()='{detail}']", namespaces=NS)
    assert fault_code(response) == code
    tracking = root.xpath("/s:Envelope/s:Header/c:TrackingId/text()", namespaces=NS)
    assert tracking and tracking[0] in root.xpath("string(//s:Fault/faultstring)", namespaces=NS)


def test_members_out_of_schema_order_are_ignored(msads_emulator: Emulator, http: httpx.Client) -> None:
    """WCF reads data members in order: PageInfo before Predicates means Predicates are skipped -> 474."""
    token = msads_emulator.issue_access_token()
    body = (
        "<PageInfo><e:Index>0</e:Index><e:Size>10</e:Size></PageInfo>"
        "<Predicates><e:Predicate><e:Field>UserId</e:Field><e:Operator>Equals</e:Operator>"
        f"<e:Value>{msads_emulator.demo_user_id}</e:Value></e:Predicate></Predicates>"
    )
    response = soap_post(http, msads_emulator, "SearchAccounts", soap_envelope("SearchAccounts", body, token))
    assert response.status_code == 500 and fault_code(response) == 474


def test_entities_and_dtds_are_refused(msads_emulator: Emulator, http: httpx.Client) -> None:
    token = msads_emulator.issue_access_token()
    envelope = soap_envelope("GetUser", "<UserId>&xxe;</UserId>", token).decode()
    hostile = (
        '<?xml version="1.0"?><!DOCTYPE s:Envelope [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>' + envelope
    )
    response = soap_post(http, msads_emulator, "GetUser", hostile.encode())
    assert response.status_code == 400
    assert b"root:" not in response.content
    laughs = (
        '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
        '<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;">]>' + envelope.replace("&xxe;", "&lol2;")
    )
    assert soap_post(http, msads_emulator, "GetUser", laughs.encode()).status_code == 400


def test_transport_level_rejections(
    msads_emulator: Emulator, http: httpx.Client, assert_valid_soap: Check
) -> None:
    emu = msads_emulator
    token = emu.issue_access_token()
    good = soap_envelope("GetUser", '<UserId i:nil="true"/>', token)
    url = emu.url + SOAP_PATH
    wrong_action = http.post(
        url, content=good, headers={"Content-Type": "text/xml", "SOAPAction": "DeleteEverything"}
    )
    assert wrong_action.status_code == 500
    assert_valid_soap(wrong_action.content)
    mismatch = http.post(url, content=good, headers={"Content-Type": "text/xml", "SOAPAction": "GetAccount"})
    assert mismatch.status_code == 500
    soap12 = http.post(
        url, content=good, headers={"Content-Type": "application/soap+xml", "SOAPAction": "GetUser"}
    )
    assert soap12.status_code == 415
    garbage = http.post(
        url, content=b"<not-xml", headers={"Content-Type": "text/xml", "SOAPAction": "GetUser"}
    )
    assert garbage.status_code == 400
    assert_valid_soap(garbage.content)
    quoted = http.post(
        url, content=good, headers={"Content-Type": "text/xml; charset=utf-8", "SOAPAction": '"GetUser"'}
    )
    assert quoted.status_code == 200
    # Routed by SOAPAction: soap12, garbage and quoted are GetUser; the mismatch counts as GetAccount.
    assert (emu.counters["GetUser"], emu.counters["GetAccount"], emu.counters["unknown"]) == (3, 1, 1)


def test_the_validator_is_not_vacuous(
    msads_emulator: Emulator, http: httpx.Client, validator: object
) -> None:
    """Swapping two AdvertiserAccount members must make a real emulator response invalid."""
    token = msads_emulator.issue_access_token()
    body = search_body(msads_emulator.demo_user_id, 0, 2)
    good = soap_post(
        http, msads_emulator, "SearchAccounts", soap_envelope("SearchAccounts", body, token)
    ).content
    check = validator.validate_envelope  # type: ignore[attr-defined]
    assert check(good) == []
    root = etree.fromstring(good)
    account = root.xpath("//a:AdvertiserAccount", namespaces=NS)[0]
    first, second = account[0], account[1]
    account.remove(second)
    account.insert(0, second)  # CurrencyCode before BillToCustomerId: schema order broken
    assert first is not None and check(etree.tostring(root)) != []
    assert check(b"<not-soap/>") != []


def test_fixture_state_is_fresh(msads_emulator: Emulator) -> None:
    assert not msads_emulator.counters and not msads_emulator.request_log
    assert msads_emulator.faults.pending == [] and not msads_emulator.grant_counts
    assert abs(msads_emulator.clock.now() - time.time()) < 5  # clock offset reset
