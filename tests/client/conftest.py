"""Fixtures for the Customer Management client tests (fakes live in msads_client_fakes.py)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from msads_client_fakes import DEVELOPER_TOKEN, FAST_RETRY, FakeAuth, FakeService, Sleeps

from airflow_provider_msads.client.client import MicrosoftAdsClient
from airflow_provider_msads.client.environments import resolve_endpoints


@pytest.fixture(params=["rest", "soap"])
def transport_name(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def fake() -> FakeService:
    return FakeService()


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
def make_client(
    fake: FakeService, sleeps: Sleeps
) -> Iterator[Callable[..., tuple[MicrosoftAdsClient, FakeAuth]]]:
    clients: list[MicrosoftAdsClient] = []

    def build(transport: str = "rest", **kwargs: Any) -> tuple[MicrosoftAdsClient, FakeAuth]:
        auth = kwargs.pop("auth", None) or FakeAuth()
        kwargs.setdefault("retry", FAST_RETRY)
        kwargs.setdefault("sleep", sleeps)
        client = MicrosoftAdsClient(
            auth=auth,
            developer_token=DEVELOPER_TOKEN,
            endpoints=resolve_endpoints("production"),
            transport=transport,  # type: ignore[arg-type]
            http=httpx.Client(transport=fake.transport()),
            **kwargs,
        )
        clients.append(client)
        return client, auth

    yield build
    for client in clients:
        client.close()
    assert fake.violations == [], fake.violations
