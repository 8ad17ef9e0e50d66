"""Synthetic data: deterministic, realistic, exact expectations; and the emulator is fast at scale."""

from __future__ import annotations

from collections import Counter

import httpx
from lxml import etree
from msads_emulator_helpers import rest_headers, search_body, search_json, soap_envelope, soap_post

from airflow_provider_msads.testing import DEMO_USER_ID, Dataset
from airflow_provider_msads.testing.data import LIFECYCLE_STATUSES


def test_same_seed_same_world_other_seed_other_world() -> None:
    a, b, c = Dataset(200, seed=7), Dataset(200, seed=7), Dataset(200, seed=8)
    assert [(x.id, x.name, x.lifecycle_status) for x in a.accounts] == [
        (x.id, x.name, x.lifecycle_status) for x in b.accounts
    ]
    assert [x.id for x in a.accounts] != [x.id for x in c.accounts]
    assert a.demo_user.id == c.demo_user.id == DEMO_USER_ID


def test_world_shape() -> None:
    data = Dataset(500, seed=3)
    mine = data.accounts_by_ids(data.demo_account_ids)
    assert len(mine) == 500
    assert len(data.accounts) > 500  # foreign accounts exist
    assert set(Counter(a.lifecycle_status for a in mine)) == set(LIFECYCLE_STATUSES)
    assert len({a.currency_code for a in mine}) >= 5
    assert len({a.time_zone for a in mine}) >= 5
    assert len({a.language for a in mine}) >= 4
    assert len({a.id for a in data.accounts}) == len(data.accounts)
    assert len({a.number for a in data.accounts}) == len(data.accounts)
    roles = data.demo_user.roles
    assert len({r.customer_id for r in roles}) >= 4
    assert sum(r.account_ids is None for r in roles) >= 2
    explicit = next(r for r in roles if r.account_ids)
    assert any(
        a.parent_customer_id == explicit.customer_id and a.id not in explicit.account_ids
        for a in data.accounts
    )
    linked = next(r for r in roles if r.linked_account_ids)
    assert all(
        data.account_by_id[i].parent_customer_id != linked.customer_id for i in linked.linked_account_ids
    )
    assert all(
        data.account_by_id[i].linked_agencies[0][0] == linked.customer_id for i in linked.linked_account_ids
    )
    for account in mine:
        assert (account.pause_reason is not None) == (account.lifecycle_status == "Pause")
        assert account.business_address.country_code
        assert (account.payment_method_type is None) == (account.lifecycle_status == "Draft")
    # The expected set is the union of the role rules, computed independently here.
    expected: set[int] = set()
    for role in roles:
        if role.account_ids is None:
            expected |= {a.id for a in data.accounts if a.parent_customer_id == role.customer_id}
        expected |= set(role.account_ids or ()) | set(role.linked_account_ids or ())
    assert expected == set(data.demo_account_ids)


def test_tiny_worlds() -> None:
    for n in (0, 1, 2, 5, 6):
        data = Dataset(n, seed=1)
        assert len(data.demo_account_ids) == n


def test_generation_of_100k_accounts() -> None:
    """100k accounts generate with distinct ids (how fast: bench/run.py's emulator section, not here)."""
    data = Dataset(100_000, seed=11)
    assert len(data.demo_account_ids) == 100_000
    assert len(set(data.demo_account_ids)) == 100_000


def test_10k_accounts_in_10_pages_rest_and_soap(msads_emulator_factory) -> None:  # type: ignore[no-untyped-def]
    emu = msads_emulator_factory(accounts=10_000, seed=5)
    token = emu.issue_access_token()
    expected = list(emu.expected_account_ids)
    with httpx.Client(timeout=30) as http:
        for transport in ("rest", "soap", "rest-warm"):
            ids: list[int] = []
            for index in range(11):  # 10 full pages and the empty 11th that ends the loop
                if transport == "soap":
                    response = soap_post(
                        http,
                        emu,
                        "SearchAccounts",
                        soap_envelope("SearchAccounts", search_body(emu.demo_user_id, index, 1000), token),
                    )
                    assert response.status_code == 200
                    page = [
                        int(x)
                        for x in etree.fromstring(response.content).xpath(
                            "//*[local-name()='AdvertiserAccount']/*[local-name()='Id']/text()"
                        )
                    ]
                else:
                    response = http.post(
                        emu.url + "/CustomerManagement/v13/Accounts/Search",
                        json=search_json(emu.demo_user_id, index, 1000),
                        headers=rest_headers(token),
                    )
                    assert response.status_code == 200
                    page = [int(a["Id"]) for a in response.json()["Accounts"]]
                ids += page
                if len(page) < 1000:
                    break
            assert ids == expected
