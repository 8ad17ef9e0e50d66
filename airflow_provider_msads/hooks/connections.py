"""Storing a new refresh token in an Airflow connection: the ONE function that writes connections.

``msads-auth --update-connection`` and the UI's Connect page both call :func:`store_refresh_token`. It
writes through Airflow's ORM, so it only works where Airflow allows that: the CLI and the API server. A
running task cannot write a connection (the task execution API has none); tasks persist rotated tokens
through the token store instead (:mod:`airflow_provider_msads.hooks.token_store`). The stored rotation
chain of an older refresh token is then ignored automatically (its origin fingerprint no longer matches).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import Any, Literal

from airflow_provider_msads.client.connection_fields import CONNECTION_TYPE
from airflow_provider_msads.client.errors import MicrosoftAdsError

WriteProblem = Literal["env_override", "missing", "wrong_type", "other_client"]


class ConnectionWriteError(MicrosoftAdsError):
    """The connection cannot take the token; ``problem`` says why (callers word it for their users)."""

    def __init__(self, message: str, *, conn_id: str, problem: WriteProblem) -> None:
        self.conn_id = conn_id
        self.problem = problem
        super().__init__(message)


def env_variable(conn_id: str) -> str:
    """The environment variable that would define connection ``conn_id``."""
    return "AIRFLOW_CONN_" + conn_id.upper()


def defined_by_environment(conn_id: str) -> str | None:
    """The variable's name when the environment defines ``conn_id`` (it shadows the database copy)."""
    name = env_variable(conn_id)
    return name if name in os.environ else None


def store_refresh_token(
    conn_id: str,
    refresh_token: str,
    *,
    client_id: str,
    extra: Mapping[str, Any] | None = None,
    create: bool = False,
    audit_event: str | None = None,
    audit_owner: str | None = None,
) -> bool:
    """Put ``refresh_token`` into connection ``conn_id`` in Airflow's metadata database.

    :param client_id: the app the token was issued to. Without ``extra`` the connection must already
        belong to it (a refresh token only works with the client that obtained it); with ``extra`` the
        login is set to it (the Connect page saves the whole form).
    :param extra: replace the connection's extras with these (``None`` keeps them).
    :param create: create the connection when it does not exist (else that is an error).
    :param audit_event: if set, write an entry to Airflow's audit log (``owner`` = ``audit_owner``).
    :returns: True when the connection was created.
    :raises ConnectionWriteError: environment-defined, missing, of another type, or of another client.
    """
    if (variable := defined_by_environment(conn_id)) is not None:
        raise ConnectionWriteError(
            f"connection {conn_id!r} is defined by the environment variable {variable}: update it there "
            "(a copy in the metadata database would be shadowed)",
            conn_id=conn_id,
            problem="env_override",
        )
    from airflow.models.connection import Connection
    from airflow.models.log import Log
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        conn = session.scalar(select(Connection).where(Connection.conn_id == conn_id))
        created = conn is None
        if conn is None:
            if not create:
                raise ConnectionWriteError(
                    f"no connection {conn_id!r} in the Airflow metadata database: create it with the "
                    "`airflow connections add` line msads-auth prints without --update-connection",
                    conn_id=conn_id,
                    problem="missing",
                )
            conn = Connection(conn_id=conn_id, conn_type=CONNECTION_TYPE)
            session.add(conn)
        elif conn.conn_type != CONNECTION_TYPE:
            raise ConnectionWriteError(
                f"connection {conn_id!r} has type {conn.conn_type!r}, not {CONNECTION_TYPE!r}: "
                "use another connection id",
                conn_id=conn_id,
                problem="wrong_type",
            )
        elif extra is None and conn.login and conn.login.strip() != client_id:
            raise ConnectionWriteError(
                f"connection {conn_id!r} belongs to client id {conn.login.strip()!r}, not {client_id!r}: "
                "a refresh token only works with the client that obtained it",
                conn_id=conn_id,
                problem="other_client",
            )
        conn.login = client_id
        conn.password = refresh_token
        if extra is not None:
            conn.set_extra(json.dumps(dict(extra)))
        if audit_event:
            session.add(
                Log(
                    event=audit_event,
                    owner=audit_owner,
                    extra=json.dumps({"conn_id": conn_id, "created": created}),
                )
            )
    return created
