"""Paging, predicates, discovery and argument validation (MockTransport fake service)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest
from msads_client_fakes import FakeAuth, FakeService, Seen, make_accounts

from airflow_provider_msads.client.client import MicrosoftAdsClient, status_matches
from airflow_provider_msads.client.errors import ConfigurationError, InvalidResponseError
from airflow_provider_msads.client.models import Account

MakeClient = Callable[..., tuple[MicrosoftAdsClient, FakeAuth]]


def ids(accounts: Any) -> list[int]:
    return [a.id for a in accounts]


def expected(fake: FakeService, keep: Callable[[dict[str, Any]], bool] = lambda a: True) -> list[int]:
    return sorted(a["Id"] for a in fake.accounts if keep(a))


def searches(fake: FakeService) -> list[Seen]:
    return [s for s in fake.seen if s.operation == "SearchAccounts"]


@pytest.mark.parametrize(("total", "size", "requests"), [(25, 10, 3), (20, 10, 3), (3, 1000, 1), (0, 5, 1)])
def test_pages_until_a_short_page(
    make_client: MakeClient, fake: FakeService, transport_name: str, total: int, size: int, requests: int
) -> None:
    fake.accounts = make_accounts(total)
    client, _ = make_client(transport_name)
    assert ids(client.search_accounts(user_id=fake.user_id, page_size=size)) == expected(fake)
    assert [s.page_index for s in searches(fake)] == list(range(requests))
    assert client.stats.pages == requests


def test_search_is_lazy_and_streams_page_by_page(make_client: MakeClient, fake: FakeService) -> None:
    client, _ = make_client("rest")
    iterator = client.search_accounts(user_id=fake.user_id, page_size=10)
    assert fake.seen == []  # nothing sent before the first next()
    first = [next(iterator) for _ in range(10)]
    assert len(searches(fake)) == 1 and len(first) == 10
    next(iterator)
    assert len(searches(fake)) == 2


def test_predicates_on_the_wire(make_client: MakeClient, fake: FakeService, transport_name: str) -> None:
    client, _ = make_client(transport_name)
    list(
        client.search_accounts(
            user_id=fake.user_id,
            customer_id=5000001,
            account_ids=[180000000, 180000014],
            statuses="active",
            name_contains="Account",
            order_by="Name",
            ascending=False,
            return_additional_fields=["AccountMode", "TaxCertificate"],
            page_size=7,
            start_page=2,
        )
    )
    preds, order, index, size = fake.search_args(searches(fake)[0])
    assert preds == [
        ("UserId", "Equals", str(fake.user_id)),
        ("CustomerId", "Equals", "5000001"),
        ("AccountId", "In", "180000000,180000014"),
        ("AccountLifeCycleStatus", "Equals", "Active"),
        ("AccountName", "Contains", "Account"),
    ]
    assert (order, index, size) == ("Name", 2, 7)


def test_without_an_id_predicate_the_signed_in_user_is_searched(
    make_client: MakeClient, fake: FakeService
) -> None:
    client, _ = make_client("rest")
    got = ids(client.search_accounts(statuses="Active"))
    assert [s.operation for s in fake.seen[:2]] == ["GetUser", "SearchAccounts"]
    preds = fake.search_args(searches(fake)[0])[0]
    assert preds[0] == ("UserId", "Equals", str(fake.user_id))
    assert got == expected(fake, lambda a: a["AccountLifeCycleStatus"] == "Active")


def test_filters_the_api_cannot_express_are_applied_client_side(
    make_client: MakeClient, fake: FakeService, transport_name: str
) -> None:
    client, _ = make_client(transport_name)
    got = ids(
        client.search_accounts(user_id=fake.user_id, statuses=["Inactive", "Draft"], name_contains="<1")
    )
    preds = fake.search_args(searches(fake)[0])[0]
    assert [p[0] for p in preds] == ["UserId"]  # several statuses and a 2-character name stay local
    assert got == expected(
        fake, lambda a: a["AccountLifeCycleStatus"] in ("Inactive", "Draft") and "<1" in a["Name"]
    )
    assert got  # the data really contains matches


def test_client_side_status_filter_follows_the_service_semantics() -> None:
    def account(status: str, reason: int | None) -> Account:
        return Account(1, None, None, None, lifecycle_status=status, pause_reason=reason)

    assert status_matches(account("Pause", 2), frozenset({"Active"}))  # paused by billing counts as Active
    assert not status_matches(account("Pause", 2), frozenset({"Pause"}))
    assert status_matches(account("Pause", 1), frozenset({"Pause", "Draft"}))
    assert not status_matches(account("Draft", None), frozenset({"Active"}))


def test_discovery_returns_every_reachable_account_once(
    make_client: MakeClient, fake: FakeService, transport_name: str
) -> None:
    # An account is created (lowest id) right after page 0 was served: everything shifts by one, so the
    # last account of page 0 comes back at the top of page 1. Discovery must not yield it twice.
    before = expected(fake)

    def page_then_insert(f: FakeService, s: Seen) -> httpx.Response:
        response = f.ok(s, sorted(f.accounts, key=lambda a: a["Id"])[:10])
        f.accounts.append({**f.accounts[0], "Id": 1000, "Name": "created meanwhile"})
        return response

    fake.inject("SearchAccounts", page_then_insert, when=lambda s: s.page_index == 0)
    client, _ = make_client(transport_name)
    got = ids(client.discover_accounts(page_size=10))
    assert got == before and len(got) == len(set(got))
    assert len(searches(fake)) == 3 and 1000 not in got
    preds, order, _, _ = fake.search_args(searches(fake)[0])
    assert preds == [("UserId", "Equals", str(fake.user_id))] and order == "Id"


def test_discovery_filters(make_client: MakeClient, fake: FakeService, transport_name: str) -> None:
    client, _ = make_client(transport_name)
    wanted = [fake.accounts[i]["Id"] for i in (0, 1, 2, 5)]
    got = list(
        client.discover_accounts(
            customer_ids=[5000001, 5000002], account_ids=wanted, statuses=["Active", "Pause"]
        )
    )
    assert ids(got) == expected(
        fake,
        lambda a: (
            a["Id"] in wanted
            and (a["AccountLifeCycleStatus"] == "Active" or (a["AccountLifeCycleStatus"] == "Pause"))
        ),
    )
    preds = fake.search_args(searches(fake)[0])[0]
    assert ("AccountId", "In", ",".join(map(str, wanted))) in preds
    assert all(p[0] != "CustomerId" for p in preds)  # two customers: filtered client-side


def test_single_customer_goes_to_the_api_and_is_rechecked(make_client: MakeClient, fake: FakeService) -> None:
    client, _ = make_client("rest")
    got = list(client.discover_accounts(customer_ids=[5000002]))
    assert ("CustomerId", "Equals", "5000002") in fake.search_args(searches(fake)[0])[0]
    assert ids(got) == expected(fake, lambda a: a["ParentCustomerId"] == 5000002)


def test_customer_names_one_get_customer_per_customer(
    make_client: MakeClient, fake: FakeService, transport_name: str
) -> None:
    client, _ = make_client(transport_name)
    got = list(client.discover_accounts(with_customer_names=True, page_size=4))
    assert {(a.parent_customer_id, a.customer_name) for a in got} == {
        (5000001, "Contoso"),
        (5000002, "Fabrikam"),
    }
    assert fake.count("GetCustomer") == 2
    assert got[0].to_row()["customer_name"] in ("Contoso", "Fabrikam")


def test_unreadable_customer_name_is_none_not_a_failure(make_client: MakeClient, fake: FakeService) -> None:
    fake.inject("GetCustomer", lambda f, s: f.fault(s, 106, status=403), when=lambda s: True)
    client, _ = make_client("rest")
    got = list(client.discover_accounts(with_customer_names=True))
    assert ids(got) == expected(fake)
    assert {a.customer_name for a in got if a.parent_customer_id == 5000001} == {None}
    assert {a.customer_name for a in got if a.parent_customer_id == 5000002} == {"Fabrikam"}


def test_a_service_ignoring_the_page_index_is_detected(make_client: MakeClient, fake: FakeService) -> None:
    def first_page(f: FakeService, s: Seen) -> httpx.Response:
        return f.ok(s, sorted(f.accounts, key=lambda a: a["Id"])[:5])

    fake.inject("SearchAccounts", first_page, times=5)
    client, _ = make_client("rest")
    with pytest.raises(InvalidResponseError, match=r"ignored PageInfo\.Index"):
        list(client.search_accounts(user_id=fake.user_id, page_size=5))


def test_an_oversized_page_is_detected(make_client: MakeClient, fake: FakeService) -> None:
    fake.inject("SearchAccounts", lambda f, s: f.ok(s, f.accounts[:6]))
    client, _ = make_client("rest")
    with pytest.raises(InvalidResponseError, match="more than the 5 requested"):
        list(client.search_accounts(user_id=fake.user_id, page_size=5))


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"page_size": 0}, "page_size"),
        ({"page_size": 1001}, "page_size"),
        ({"order_by": "Currency"}, "order_by"),
        ({"statuses": ["Active", "Closed"]}, "statuses"),
        ({"statuses": []}, "statuses"),
        ({"account_ids": "123"}, "account_ids"),
        ({"account_ids": []}, "account_ids"),
        ({"account_ids": [-5]}, "account_ids"),
        ({"customer_id": "abc"}, "customer_id"),
        ({"return_additional_fields": ["Bogus"]}, "return_additional_fields"),
        ({"name_contains": "  "}, "name_contains"),
        ({"start_page": -1}, "start_page"),
    ],
)
def test_bad_arguments_fail_fast_before_any_request(
    make_client: MakeClient, fake: FakeService, kwargs: dict[str, Any], field: str
) -> None:
    client, _ = make_client("rest")
    with pytest.raises(ConfigurationError) as caught:
        client.search_accounts(**kwargs)
    assert caught.value.field == field
    assert fake.seen == []


def test_discover_validates_eagerly(make_client: MakeClient, fake: FakeService) -> None:
    client, _ = make_client("rest")
    with pytest.raises(ConfigurationError):
        client.discover_accounts(page_size=5000)
    with pytest.raises(ConfigurationError):
        client.get_account(0)
    assert fake.seen == []


def test_constructor_validation() -> None:
    from msads_client_fakes import DEVELOPER_TOKEN

    from airflow_provider_msads.client.environments import resolve_endpoints

    endpoints = resolve_endpoints("production")
    with pytest.raises(ConfigurationError, match="transport"):
        MicrosoftAdsClient(FakeAuth(), DEVELOPER_TOKEN, endpoints, "grpc")  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="developer_token"):
        MicrosoftAdsClient(FakeAuth(), " ", endpoints)
    with pytest.raises(ConfigurationError, match="auth"):
        MicrosoftAdsClient(object(), DEVELOPER_TOKEN, endpoints)  # type: ignore[arg-type]


def test_owned_http_client_is_closed_borrowed_one_is_not(fake: FakeService) -> None:
    from msads_client_fakes import DEVELOPER_TOKEN

    from airflow_provider_msads.client.environments import resolve_endpoints

    endpoints = resolve_endpoints("production")
    with MicrosoftAdsClient(FakeAuth(), DEVELOPER_TOKEN, endpoints) as owned:
        inner = owned._http
    assert inner.is_closed
    borrowed_http = httpx.Client(transport=fake.transport())
    with MicrosoftAdsClient(FakeAuth(), DEVELOPER_TOKEN, endpoints, http=borrowed_http):
        pass
    assert not borrowed_http.is_closed
    borrowed_http.close()
