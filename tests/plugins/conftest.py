"""Fixtures of the Connect plugin tests (helpers live in msads_connect_fakes)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from msads_connect_fakes import BASE, Clock, ConnectApp, FakeBackend

from airflow_provider_msads.plugins.app import create_app
from airflow_provider_msads.plugins.flow import ConnectResult, ExpiringStore, PendingConsent


@pytest.fixture
def connect_app() -> Iterator[ConnectApp]:
    backend = FakeBackend()
    clock = Clock()
    pending: ExpiringStore[PendingConsent] = ExpiringStore(clock=clock)
    results: ExpiringStore[ConnectResult] = ExpiringStore(clock=clock)
    root = FastAPI()
    with httpx.Client(timeout=10.0) as http:
        root.mount("/msads", create_app(backend, http=http, pending=pending, results=results))
        with TestClient(root, base_url=BASE, follow_redirects=False) as client:
            yield ConnectApp(client, backend, clock, pending, results)
