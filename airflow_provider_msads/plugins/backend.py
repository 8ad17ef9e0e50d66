"""The Airflow side of the Connect flow: the signed-in user, permissions, and the connection in the ORM.

Runs only inside the Airflow API server, which may write connections (a task may not). Who the user is
comes from the request's JWT exactly as Airflow's own routes resolve it (``core_api.security.get_user``),
and what they may do comes from the configured auth manager (``is_authorized_connection``): no home-made
permission check.
"""

from __future__ import annotations

import contextlib
import logging
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode, urlsplit

from airflow_provider_msads.hooks.connections import (
    ConnectionWriteError,
    defined_by_environment,
    store_refresh_token,
)
from airflow_provider_msads.plugins.app import SignedInUser
from airflow_provider_msads.plugins.flow import CONN_TYPE, ConnectionDraft, ExistingConnection, FlowError

if TYPE_CHECKING:
    from fastapi import Request

log = logging.getLogger(__name__)


class AirflowBackend:
    """:class:`~.app.ConnectBackend` backed by Airflow's auth manager, configuration and metadata database."""

    async def current_user(self, request: Request) -> SignedInUser | None:
        from airflow.api_fastapi.core_api.security import bearer_scheme, get_user
        from fastapi import HTTPException

        credentials = await bearer_scheme(request)
        try:
            user = await get_user(request, None, credentials)
        except HTTPException:
            return None
        return SignedInUser(id=str(user.get_id()), name=str(user.get_name()), raw=user)

    def login_url(self, next_url: str) -> str:
        from airflow.api_fastapi.app import get_auth_manager

        try:
            return str(get_auth_manager().get_url_login(next_url=next_url))
        except Exception:  # an auth manager without next_url support: plain login page
            log.debug("auth manager login URL with next_url failed", exc_info=True)
            return self.airflow_url("") + "?" + urlencode({"next": next_url})

    def may_edit(self, user: SignedInUser, conn_id: str | None, *, create: bool) -> bool:
        from airflow.api_fastapi.app import get_auth_manager
        from airflow.api_fastapi.auth.managers.models.resource_details import ConnectionDetails
        from airflow.models.connection import Connection

        team_name = None
        if conn_id and not create and _multi_team():
            team_name = Connection.get_team_name(conn_id)
        details = ConnectionDetails(conn_id=conn_id, team_name=team_name)
        return bool(
            get_auth_manager().is_authorized_connection(
                method="POST" if create else "PUT", details=details, user=user.raw
            )
        )

    def list_connections(self) -> list[ExistingConnection]:
        from airflow.models.connection import Connection
        from airflow.utils.session import create_session
        from sqlalchemy import select

        with create_session() as session:
            rows = session.scalars(
                select(Connection).where(Connection.conn_type == CONN_TYPE).order_by(Connection.conn_id)
            ).all()
            return [_existing(row) for row in rows]

    def get_connection(self, conn_id: str) -> ExistingConnection | None:
        from airflow.models.connection import Connection
        from airflow.utils.session import create_session
        from sqlalchemy import select

        with create_session() as session:
            row = session.scalar(select(Connection).where(Connection.conn_id == conn_id))
            return _existing(row) if row is not None else None

    def env_override(self, conn_id: str) -> str | None:
        name = defined_by_environment(conn_id)
        if name is not None:
            return (
                f"The environment variable {name} defines this connection on the API server, and it takes "
                "precedence over Airflow's database, so a token saved here would not be used."
            )
        return None

    def save_connection(self, draft: ConnectionDraft, refresh_token: str, *, user: SignedInUser) -> bool:
        """Through :func:`~airflow_provider_msads.hooks.connections.store_refresh_token`, like msads-auth."""
        try:
            return store_refresh_token(
                draft.conn_id,
                refresh_token,
                client_id=draft.client_id,
                extra=draft.extra,
                create=True,
                audit_event="msads_connect",
                audit_owner=user.name,
            )
        except ConnectionWriteError as err:
            if err.problem == "wrong_type":
                raise FlowError(
                    "Not a Microsoft Advertising connection",
                    f"The connection {draft.conn_id!r} is of another type.",
                    "Start again with another connection id.",
                    status=409,
                ) from None
            raise FlowError(
                "The connection cannot be saved here",
                str(err),
                "Remove the environment variable on the API server, or update the connection where it is defined.",
                status=409,
            ) from None

    def public_base_url(self) -> str | None:
        from airflow.configuration import conf

        base = (conf.get("api", "base_url", fallback="") or "").strip()
        parts = urlsplit(base)
        return base if parts.scheme and parts.netloc else None

    def airflow_url(self, path: str) -> str:
        return _root_path() + path.lstrip("/")

    def mask(self, *values: str | None) -> None:
        """Register with both maskers: the task SDK's and the core one the API server's logs go through."""
        from airflow.sdk.log import mask_secret

        maskers: list[Any] = [mask_secret]
        with contextlib.suppress(ImportError):  # Airflow 3.1 has a single masker
            from airflow._shared.secrets_masker import mask_secret as core_mask_secret

            maskers.append(core_mask_secret)
        for value in values:
            if value:
                for mask in maskers:
                    mask(value)


def _existing(conn: Any) -> ExistingConnection:
    extra = conn.extra_dejson if conn.extra else {}
    return ExistingConnection(
        conn_id=conn.conn_id,
        conn_type=conn.conn_type or "",
        login=conn.login,
        extra=extra if isinstance(extra, dict) else {},
        has_refresh_token=bool(conn.password),
    )


def _multi_team() -> bool:
    from airflow.configuration import conf

    return conf.getboolean("core", "multi_team", fallback=False)


def _root_path() -> str:
    """The path Airflow is served under (``[api] base_url``'s path), always ending with ``/``."""
    from airflow.configuration import conf

    path = urlsplit(conf.get("api", "base_url", fallback="") or "").path or "/"
    return path if path.endswith("/") else path + "/"
