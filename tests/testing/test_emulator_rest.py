"""Customer Management v13 over REST: shapes, ids, paging, predicates, credentials."""

from __future__ import annotations

import json
import re

import httpx
import pytest
from msads_emulator_helpers import (
    CONTRACT,
    SANDBOX_SCOPE,
    access_token,
    rest_headers,
    search_json,
)

from airflow_provider_msads.testing import DEMO_DEVELOPER_TOKEN, DEMO_SANDBOX_DEVELOPER_TOKEN, Emulator

REST = "/CustomerManagement/v13/"


def template_keys(name: str) -> dict[str, object]:
    """Parse a docs template (placeholders unquoted) into a dict, to compare key sets and order."""
    text = (CONTRACT / "examples" / "rest" / name).read_text()
    text = re.sub(r"\b(IntValueHere|DecimalValueHere)\b", "0", text)
    return json.loads(text)


def post(
    http: httpx.Client, emu: Emulator, path: str, body: object, token: str, dev: str = DEMO_DEVELOPER_TOKEN
) -> httpx.Response:
    return http.post(emu.url + REST + path, json=body, headers=rest_headers(token, dev))


def search_all(
    http: httpx.Client, emu: Emulator, token: str, size: int, **extra: object
) -> list[dict[str, object]]:
    found: list[dict[str, object]] = []
    for index in range(1000):  # bounded: a short page ends it long before
        response = post(
            http, emu, "Accounts/Search", search_json(emu.demo_user_id, index, size, **extra), token
        )
        assert response.status_code == 200, response.text
        page = response.json()["Accounts"]
        found.extend(page)
        if len(page) < size:
            return found
    raise AssertionError("paging never ended")


def test_get_user_shape_and_roles(msads_emulator: Emulator, http: httpx.Client) -> None:
    token = access_token(http, msads_emulator)
    response = post(http, msads_emulator, "User/Query", {"UserId": None}, token)
    assert response.status_code == 200
    assert re.fullmatch(r"[0-9a-f-]{36}", response.headers["TrackingId"])
    body = response.json()
    template = template_keys("GetUser.response.json.txt")
    assert list(body) == list(template)
    assert list(body["User"]) == list(template["User"])  # type: ignore[arg-type]
    assert list(body["CustomerRoles"][0]) == list(template["CustomerRoles"][0])  # type: ignore[index]
    assert body["User"]["Id"] == str(msads_emulator.demo_user_id)
    roles = body["CustomerRoles"]
    assert len(roles) >= 4
    assert all(isinstance(r["CustomerId"], str) and isinstance(r["RoleId"], int) for r in roles)
    assert any(r["AccountIds"] is None for r in roles)  # role on all accounts of a customer
    assert any(r["AccountIds"] for r in roles)  # explicit account list
    assert any(r["LinkedAccountIds"] for r in roles)  # agency with linked accounts
    assert len({r["CustomerId"] for r in roles}) == len(roles)


def test_search_accounts_returns_exactly_the_demo_users_accounts(
    msads_emulator: Emulator, http: httpx.Client
) -> None:
    token = access_token(http, msads_emulator)
    accounts = search_all(http, msads_emulator, token, size=7)
    ids = [int(a["Id"]) for a in accounts]  # type: ignore[arg-type]
    assert ids == list(msads_emulator.expected_account_ids)
    assert len(ids) == 25
    foreign = set(msads_emulator.data.account_by_id) - set(ids)
    assert foreign, "the world must contain accounts the demo user cannot see"
    assert msads_emulator.counters["SearchAccounts"] == 4  # 7+7+7+4
    assert msads_emulator.transport_counters[("SearchAccounts", "rest")] == 4


def test_account_shape_ids_as_strings_and_additional_fields(
    msads_emulator: Emulator, http: httpx.Client
) -> None:
    token = access_token(http, msads_emulator)
    plain = post(
        http, msads_emulator, "Accounts/Search", search_json(msads_emulator.demo_user_id, 0, 5), token
    ).json()
    account = plain["Accounts"][0]
    template = template_keys("SearchAccounts.response.json.txt")["Accounts"][0]  # type: ignore[index]
    optional = {"AccountMode", "TaxCertificate"}
    assert list(account) == [k for k in template if k not in optional]
    for key in ("Id", "ParentCustomerId", "BillToCustomerId", "PrimaryUserId", "LastModifiedByUserId"):
        assert isinstance(account[key], str) and account[key].isdigit(), key
    assert int(account["Id"]) > 2**31  # 64-bit ids really need 64 bits here
    assert isinstance(account["BusinessAddress"]["Id"], str)
    extra = post(
        http,
        msads_emulator,
        "Accounts/Search",
        search_json(msads_emulator.demo_user_id, 0, 5, ReturnAdditionalFields="TaxCertificate, AccountMode"),
        token,
    ).json()["Accounts"][0]
    assert list(extra) == list(template)
    assert extra["AccountMode"] in ("Expert", "Smart")


def test_get_account_and_get_customer(msads_emulator: Emulator, http: httpx.Client) -> None:
    token = access_token(http, msads_emulator)
    account_id = msads_emulator.expected_account_ids[-1]
    response = post(http, msads_emulator, "Account/Query", {"AccountId": str(account_id)}, token)
    assert response.status_code == 200
    account = response.json()["Account"]
    assert account["Id"] == str(account_id)
    expected = msads_emulator.data.account_by_id[account_id]
    assert (account["Name"], account["Number"], account["AccountLifeCycleStatus"]) == (
        expected.name,
        expected.number,
        expected.lifecycle_status,
    )
    customer_id = account["ParentCustomerId"]
    with_number = post(
        http,
        msads_emulator,
        "Account/Query",
        {"AccountId": account_id, "ReturnAdditionalFields": "ParentCustomerNumber"},
        token,
    ).json()["Account"]
    assert with_number["ParentCustomerNumber"].startswith("C")
    own_customer = msads_emulator.data.home_customer.id
    customer = post(http, msads_emulator, "Customer/Query", {"CustomerId": str(own_customer)}, token)
    assert customer.status_code == 200
    assert list(customer.json()["Customer"]) == list(
        template_keys("GetCustomer.response.json.txt")["Customer"]
    )  # type: ignore[arg-type]
    assert customer_id  # linked accounts belong to a customer the user has no role on:
    foreign_customer = msads_emulator.data.foreign_customer.id
    denied = post(http, msads_emulator, "Customer/Query", {"CustomerId": str(foreign_customer)}, token)
    assert denied.status_code == 403 and denied.json()["Errors"][0]["Code"] == 106


def test_get_account_not_reachable(msads_emulator: Emulator, http: httpx.Client) -> None:
    token = access_token(http, msads_emulator)
    foreign = next(
        i for i in msads_emulator.data.account_by_id if i not in set(msads_emulator.expected_account_ids)
    )
    response = post(http, msads_emulator, "Account/Query", {"AccountId": str(foreign)}, token)
    assert response.status_code == 403
    body = response.json()
    assert body["Type"] == "AdApiFaultDetail" and body["Errors"][0]["Code"] == 106
    assert body["TrackingId"] == response.headers["TrackingId"]


@pytest.mark.parametrize(
    ("predicates", "expected"),
    [
        ([{"Field": "AccountLifeCycleStatus", "Operator": "Equals", "Value": "Suspended"}], "Suspended"),
        ([{"Field": "AccountLifeCycleStatus", "Operator": "In", "Value": "Draft,Pending"}], "Draft,Pending"),
    ],
)
def test_status_predicates(
    msads_emulator: Emulator, http: httpx.Client, predicates: list[dict[str, str]], expected: str
) -> None:
    token = access_token(http, msads_emulator)
    body = search_json(msads_emulator.demo_user_id, 0, 1000)
    body["Predicates"] += predicates
    accounts = post(http, msads_emulator, "Accounts/Search", body, token).json()["Accounts"]
    wanted = set(expected.split(","))
    want_ids = [
        a.id
        for a in msads_emulator.data.accounts_by_ids(msads_emulator.expected_account_ids)
        if a.lifecycle_status in wanted
    ]
    assert want_ids and [int(a["Id"]) for a in accounts] == want_ids


def test_active_includes_billing_paused(msads_emulator_factory, http: httpx.Client) -> None:  # type: ignore[no-untyped-def]
    emu = msads_emulator_factory(accounts=300, seed=4)
    token = access_token(http, emu)
    body = search_json(emu.demo_user_id, 0, 1000)
    body["Predicates"].append({"Field": "AccountLifeCycleStatus", "Operator": "Equals", "Value": "Active"})
    got = {int(a["Id"]) for a in post(http, emu, "Accounts/Search", body, token).json()["Accounts"]}
    mine = emu.data.accounts_by_ids(emu.expected_account_ids)
    assert got == {
        a.id
        for a in mine
        if a.lifecycle_status == "Active" or (a.lifecycle_status == "Pause" and a.pause_reason == 2)
    }
    assert any(a.lifecycle_status == "Pause" and a.pause_reason == 2 for a in mine)


def test_other_predicates_and_ordering(msads_emulator: Emulator, http: httpx.Client) -> None:
    token = access_token(http, msads_emulator)
    data = msads_emulator.data
    mine = data.accounts_by_ids(msads_emulator.expected_account_ids)
    target = mine[3]

    def run(predicates: list[dict[str, str]], ordering: list[dict[str, str]] | None = None) -> list[str]:
        body: dict[str, object] = {"Predicates": predicates, "PageInfo": {"Index": 0, "Size": 100}}
        if ordering is not None:
            body["Ordering"] = ordering
        response = post(http, msads_emulator, "Accounts/Search", body, token)
        assert response.status_code == 200, response.text
        return [a["Id"] for a in response.json()["Accounts"]]

    assert run([{"Field": "AccountId", "Operator": "Equals", "Value": str(target.id)}]) == [str(target.id)]
    assert run([{"Field": "AccountId", "Operator": "In", "Value": f"{mine[0].id},{mine[1].id}"}]) == [
        str(mine[0].id),
        str(mine[1].id),
    ]
    assert run([{"Field": "AccountNumber", "Operator": "Equals", "Value": target.number}]) == [str(target.id)]
    assert run([{"Field": "AccountName", "Operator": "Equals", "Value": target.name.upper()}]) == [
        str(target.id)
    ]
    company = target.name.split(" ")[0]
    assert set(run([{"Field": "AccountName", "Operator": "Contains", "Value": company}])) == {
        str(a.id) for a in mine if company.casefold() in a.name.casefold()
    }
    home = data.home_customer.id
    assert run([{"Field": "CustomerId", "Operator": "Equals", "Value": str(home)}]) == [
        str(a.id) for a in mine if a.parent_customer_id == home
    ]
    agency = data.agency_customer.id
    assert {
        int(i) for i in run([{"Field": "CustomerId", "Operator": "Equals", "Value": str(agency)}])
    } >= set(data.linked_account_ids)
    by_name = run(
        [{"Field": "UserId", "Operator": "Equals", "Value": str(msads_emulator.demo_user_id)}],
        [{"Field": "Name", "Order": "Descending"}],
    )
    assert by_name == [str(a.id) for a in sorted(mine, key=lambda a: (a.name.casefold(), a.id), reverse=True)]
    # A foreign user's accounts are never visible, even when asked for by id.
    foreign = data.foreign_customer.id
    assert run([{"Field": "CustomerId", "Operator": "Equals", "Value": str(foreign)}]) == []


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"PageInfo": {"Index": 0, "Size": 10}}, 474),
        (
            {
                "Predicates": [{"Field": "AccountLifeCycleStatus", "Operator": "Equals", "Value": "Active"}],
                "PageInfo": {"Index": 0, "Size": 10},
            },
            474,
        ),
        (
            {
                "Predicates": [{"Field": "AccountName", "Operator": "StartsWith", "Value": "Cont"}],
                "PageInfo": {"Index": 0, "Size": 10},
            },
            3030,
        ),
        (
            {
                "Predicates": [{"Field": "Colour", "Operator": "Equals", "Value": "blue"}],
                "PageInfo": {"Index": 0, "Size": 10},
            },
            3030,
        ),
        ({"Predicates": [{"Field": "UserId", "Operator": "Equals", "Value": "1"}]}, 3080),
        (
            {
                "Predicates": [{"Field": "UserId", "Operator": "Equals", "Value": "1"}],
                "PageInfo": {"Index": 0, "Size": 1001},
            },
            3080,
        ),
        (
            {
                "Predicates": [{"Field": "UserId", "Operator": "Equals", "Value": "1"}],
                "PageInfo": {"Index": -1, "Size": 10},
            },
            3080,
        ),
        (
            {
                "Predicates": [{"Field": "UserId", "Operator": "Equals", "Value": "1"}],
                "PageInfo": {"Index": 0, "Size": 0},
            },
            3080,
        ),
    ],
)
def test_search_validation_errors(
    msads_emulator: Emulator, http: httpx.Client, body: dict[str, object], code: int
) -> None:
    token = access_token(http, msads_emulator)
    response = post(http, msads_emulator, "Accounts/Search", body, token)
    assert response.status_code == 400
    fault = response.json()
    assert fault["Type"] == "ApiFault"
    assert list(fault) == ["TrackingId", "Type", "OperationErrors"]
    assert fault["OperationErrors"][0]["Code"] == code
    assert set(fault["OperationErrors"][0]) == {"Code", "Details", "Message"}


@pytest.mark.parametrize("raw", [b"{not json", b"[1, 2]", b""])
def test_malformed_body_is_400_fault(msads_emulator: Emulator, http: httpx.Client, raw: bytes) -> None:
    token = access_token(http, msads_emulator)
    response = http.post(
        msads_emulator.url + REST + "User/Query",
        content=raw,
        headers={**rest_headers(token), "Content-Type": "application/json"},
    )
    assert response.status_code == 400
    assert response.json()["Type"] == "AdApiFaultDetail"
    assert response.json()["Errors"][0]["Code"] in (100, 201)


def test_credential_faults(msads_emulator: Emulator, http: httpx.Client) -> None:
    emu = msads_emulator
    prod = access_token(http, emu)
    sandbox = access_token(http, emu, scope=SANDBOX_SCOPE)

    def code_of(headers: dict[str, str]) -> tuple[int, int]:
        response = http.post(emu.url + REST + "User/Query", json={}, headers=headers)
        fault = response.json()
        assert fault["Type"] == "AdApiFaultDetail", fault
        assert set(fault["Errors"][0]) == {"Code", "Detail", "ErrorCode", "Message"}
        return response.status_code, fault["Errors"][0]["Code"]

    assert code_of({"DeveloperToken": DEMO_DEVELOPER_TOKEN}) == (401, 105)
    assert code_of({"Authorization": "Bearer nope", "DeveloperToken": DEMO_DEVELOPER_TOKEN}) == (401, 105)
    assert code_of({"Authorization": prod, "DeveloperToken": DEMO_DEVELOPER_TOKEN}) == (
        401,
        105,
    )  # no "Bearer"
    assert code_of({"Authorization": f"Bearer {prod}"}) == (403, 105)
    assert code_of(rest_headers(prod, "UNKNOWNTOKEN")) == (403, 105)
    assert code_of(rest_headers(prod, DEMO_SANDBOX_DEVELOPER_TOKEN)) == (
        401,
        105,
    )  # production token, sandbox dev token
    assert code_of(rest_headers(sandbox, DEMO_DEVELOPER_TOKEN)) == (401, 105)  # and the reverse
    assert (
        http.post(
            emu.url + REST + "User/Query",
            json={},
            headers=rest_headers(sandbox, DEMO_SANDBOX_DEVELOPER_TOKEN),
        ).status_code
        == 200
    )
    emu.expire_access_tokens()
    status, code = code_of(rest_headers(prod))
    assert (status, code) == (401, 109)


def test_unknown_rest_path_and_method(msads_emulator: Emulator, http: httpx.Client) -> None:
    assert http.post(msads_emulator.url + REST + "Nothing/Here", json={}).status_code == 404
    assert http.get(msads_emulator.url + REST + "User/Query").status_code == 405
    assert http.get(msads_emulator.url + "/").json()["demo_user_accounts"] == 25
