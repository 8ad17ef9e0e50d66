"""A fake Airflow side for the Connect app, so routes are tested in milliseconds without a server."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from fastapi import Request
from fastapi.testclient import TestClient

from airflow_provider_msads.plugins.app import SignedInUser
from airflow_provider_msads.plugins.flow import (
    ConnectionDraft,
    ConnectResult,
    ExistingConnection,
    ExpiringStore,
    PendingConsent,
)

BASE = "http://127.0.0.1:8080"


@dataclass
class FakeBackend:
    """Users come from the ``X-Test-User`` header; ``editors`` may create and update connections."""

    editors: set[str] = field(default_factory=lambda: {"admin"})
    connections: dict[str, dict[str, Any]] = field(default_factory=dict)
    masked: list[str] = field(default_factory=list)
    env_overrides: set[str] = field(default_factory=set)
    base_url: str | None = None

    async def current_user(self, request: Request) -> SignedInUser | None:
        name = request.headers.get("x-test-user")
        return SignedInUser(id=name, name=name) if name else None

    def login_url(self, next_url: str) -> str:
        return "/auth/login?next=" + next_url

    def may_edit(self, user: SignedInUser, conn_id: str | None, *, create: bool) -> bool:
        return user.id in self.editors

    def list_connections(self) -> list[ExistingConnection]:
        return [self._existing(c) for c in sorted(self.connections)]

    def get_connection(self, conn_id: str) -> ExistingConnection | None:
        return self._existing(conn_id) if conn_id in self.connections else None

    def _existing(self, conn_id: str) -> ExistingConnection:
        row = self.connections[conn_id]
        return ExistingConnection(
            conn_id=conn_id,
            conn_type=row["conn_type"],
            login=row.get("login"),
            extra=dict(row.get("extra") or {}),
            has_refresh_token=bool(row.get("password")),
        )

    def env_override(self, conn_id: str) -> str | None:
        return f"AIRFLOW_CONN_{conn_id.upper()} is set" if conn_id in self.env_overrides else None

    def save_connection(self, draft: ConnectionDraft, refresh_token: str, *, user: SignedInUser) -> bool:
        created = draft.conn_id not in self.connections
        self.connections[draft.conn_id] = {
            "conn_type": "msads",
            "login": draft.client_id,
            "password": refresh_token,
            "extra": dict(draft.extra),
        }
        return created

    def public_base_url(self) -> str | None:
        return self.base_url

    def airflow_url(self, path: str) -> str:
        return "/" + path.lstrip("/")

    def mask(self, *values: str | None) -> None:
        self.masked.extend(v for v in values if v)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class ConnectApp:
    client: TestClient
    backend: FakeBackend
    clock: Clock
    pending: ExpiringStore[PendingConsent]
    results: ExpiringStore[ConnectResult]
