"""Shared pieces of the reliability suite: the outcome recorder, secret scanning, emulator connections,
recorded (not slept) retry waits, real SQL targets, and a hostile HTTP server.

Imported as ``msads_reliability_helpers`` (conftest module names clash across test folders).
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import threading
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_msads.client.models import ACCOUNT_ROW_FIELDS
from airflow_provider_msads.client.settings import ConnectionSettings
from airflow_provider_msads.testing import (
    DEMO_CLIENT_ID,
    DEMO_CLIENT_SECRET,
    DEMO_DEVELOPER_TOKEN,
    DEMO_REFRESH_TOKEN,
    Emulator,
)
from airflow_provider_msads.warehouse import TABLE_COLUMNS
from airflow_provider_msads.warehouse.dialect import parse_service_timestamp

# -- the outcome table ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Outcome:
    """One line of the closing table: what was injected and what it cost in data and secrets."""

    fault: str
    runs: int
    lost: int
    duplicated: int
    secrets_found: int
    result: str


@dataclass
class Recorder:
    """Collects one :class:`Outcome` per reliability check; printed in the terminal summary."""

    outcomes: list[Outcome] = field(default_factory=list)
    path: Path | None = None

    def record(
        self,
        fault: str,
        *,
        runs: int = 1,
        lost: int = 0,
        duplicated: int = 0,
        secrets_found: int = 0,
        result: str = "recovered",
    ) -> None:
        self.outcomes.append(Outcome(fault, runs, lost, duplicated, secrets_found, result))

    def table(self) -> str:
        lines = [
            "| fault injected | runs | rows lost | duplicates | secrets found | result |",
            "| --- | ---: | ---: | ---: | ---: | --- |",
        ]
        for o in self.outcomes:
            lines.append(
                f"| {o.fault} | {o.runs} | {o.lost} | {o.duplicated} | {o.secrets_found} | {o.result} |"
            )
        total = (
            f"| **{len(self.outcomes)} faults** | {sum(o.runs for o in self.outcomes)} | "
            f"{sum(o.lost for o in self.outcomes)} | {sum(o.duplicated for o in self.outcomes)} | "
            f"{sum(o.secrets_found for o in self.outcomes)} | |"
        )
        return "\n".join([*lines, total])


RECORDER = Recorder()


def lost_and_duplicated(expected: Iterable[Any], got: Sequence[Any]) -> tuple[int, int]:
    """Rows of ``expected`` missing from ``got``, and rows of ``got`` beyond their first occurrence."""
    wanted = list(expected)
    return len(set(wanted) - set(got)), len(got) - len(set(got))


# -- secrets ---------------------------------------------------------------------------------------------


def known_secrets(emu: Emulator) -> set[str]:
    """Every credential in play: the demo secrets and every refresh/access token the emulator issued
    (the rotated ones included)."""
    return {
        DEMO_CLIENT_SECRET,
        DEMO_DEVELOPER_TOKEN,
        DEMO_REFRESH_TOKEN,
        *emu.identity.refresh_tokens,
        *emu.identity.access_tokens,
    }


def secrets_in(texts: Iterable[str], secrets: Iterable[str]) -> list[str]:
    """The secrets (shortened) that occur in any of ``texts``."""
    blob = "\n".join(texts)
    return sorted(s[:10] + "..." for s in set(secrets) if s and s in blob)


# -- connections to the emulator -------------------------------------------------------------------------


def emulator_settings(emu: Emulator, **extra: Any) -> ConnectionSettings:
    return ConnectionSettings.from_connection_fields(
        login=DEMO_CLIENT_ID, password=DEMO_REFRESH_TOKEN, extra={**emu.connection_extra(), **extra}
    )


def emulator_conn_json(emu: Emulator, **extra: Any) -> str:
    conn = json.loads(emu.airflow_conn_json())
    conn["extra"].update(extra)
    return json.dumps(conn)


def unique_conn_id(prefix: str = "msads_rel") -> str:
    """A fresh connection id: its token Variable starts empty (no chain from another test's emulator)."""
    return f"{prefix}_{uuid.uuid4().hex[:10]}"


def expected_rows(emu: Emulator, *, with_customer_names: bool = True) -> list[dict[str, Any]]:
    """What one clean discovery returns (fetched in-process, no faults), as table/XCom rows."""
    from airflow_provider_msads.client import MicrosoftAdsClient

    with MicrosoftAdsClient.from_settings(emulator_settings(emu)) as client:
        accounts = list(client.discover_accounts(with_customer_names=with_customer_names))
    assert [a.id for a in accounts] == list(emu.expected_account_ids)
    return [a.to_row() for a in accounts]


class RecordedSleeps(list[float]):
    """Given to the hook as ``RetryPolicy(sleep=...)``: retry waits are recorded, not slept."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


# -- SQL targets ---------------------------------------------------------------------------------------------

PG_DSN = "host=127.0.0.1 port=5432 user=postgres dbname=test"
PG_URI = "postgres://postgres@127.0.0.1:5432/test"
MYSQL_URI = "mysql://root@127.0.0.1:3306/test"
MYSQL_ARGS: dict[str, Any] = {
    "host": "127.0.0.1",
    "port": 3306,
    "user": "root",
    "password": "",
    "database": "test",
}


@dataclass
class SqlTarget:
    """A real database behind an Airflow SQL connection, a throwaway table, and direct access to both."""

    name: str
    uri: str  # the Airflow connection (AIRFLOW_CONN_* value)
    connect: Callable[[], Any]
    table: str
    engine_url: str  # the same database for SQLAlchemy (what the writers get from the hook)

    def quote(self, identifier: str) -> str:
        q = "`" if self.name == "mariadb" else '"'
        return f"{q}{identifier}{q}"

    def engine(self) -> Any:
        import sqlalchemy

        return sqlalchemy.create_engine(self.engine_url)

    def execute(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        conn = self.connect()
        try:
            cur = conn.cursor()
            cur.execute(sql, tuple(params))
            rows = list(cur.fetchall()) if cur.description else []
            conn.commit()
            return rows
        finally:
            conn.close()

    def snapshot(self) -> list[dict[str, Any]]:
        """The whole table by account id; timestamps as naive-UTC ISO text, flags as bool."""
        cols = ", ".join(self.quote(c) for c in TABLE_COLUMNS)
        rows = self.execute(
            f"SELECT {cols} FROM {self.quote(self.table)} ORDER BY {self.quote('account_id')}"
        )
        out = []
        for row in rows:
            d = dict(zip(TABLE_COLUMNS, row, strict=True))
            for key in ("first_seen_at", "last_seen_at"):
                d[key] = _utc_text(d[key])
            d["is_active_in_last_run"] = bool(d["is_active_in_last_run"])
            out.append(self.as_stored(d))
        return out

    def as_stored(self, row: dict[str, Any]) -> dict[str, Any]:
        """``last_modified_time`` as this database stores it (a timestamp, except on SQLite)."""
        value = row.get("last_modified_time")
        if self.name != "sqlite" and value is not None:
            if isinstance(value, str):
                value = parse_service_timestamp(value)
            row = {**row, "last_modified_time": _utc_text(value, timespec="microseconds")}
        return row

    def data(self) -> list[dict[str, Any]]:
        return [{k: r[k] for k in ACCOUNT_ROW_FIELDS} for r in self.snapshot()]

    def drop(self) -> None:
        with contextlib.suppress(Exception):
            self.execute(f"DROP TABLE IF EXISTS {self.quote(self.table)}")


def _utc_text(value: Any, timespec: str = "seconds") -> str:
    from datetime import datetime, timezone

    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if value.tzinfo is not None:
        value = value.astimezone(timezone.utc).replace(tzinfo=None)
    return str(value.isoformat(timespec=timespec))


def _unreachable(what: str, err: BaseException) -> None:
    reason = f"{what} is not reachable ({type(err).__name__}: {err}); start it to run this test"
    if os.environ.get("MSADS_REQUIRE_DBS"):
        pytest.fail(f"MSADS_REQUIRE_DBS is set but {reason}")
    pytest.skip(reason)


def make_sql_target(name: str, tmp_path: Path) -> SqlTarget:
    """SQLite always; PostgreSQL / MariaDB skip with the reason when the server is absent."""
    table = f"msads_rel_{uuid.uuid4().hex[:10]}"
    if name == "sqlite":
        path = tmp_path / "warehouse.sqlite"
        uri = json.dumps({"conn_type": "sqlite", "host": str(path)})
        return SqlTarget(name, uri, lambda: sqlite3.connect(path), table, f"sqlite:///{path}")
    if name == "postgresql":
        psycopg2 = pytest.importorskip("psycopg2")
        try:
            psycopg2.connect(PG_DSN, connect_timeout=3).close()
        except Exception as err:
            _unreachable("PostgreSQL at 127.0.0.1:5432", err)
        connect = lambda: psycopg2.connect(PG_DSN, connect_timeout=3)  # noqa: E731
        return SqlTarget(name, PG_URI, connect, table, "postgresql+psycopg://postgres@127.0.0.1:5432/test")
    mysqldb = pytest.importorskip("MySQLdb")
    try:
        mysqldb.connect(connect_timeout=3, **MYSQL_ARGS).close()
    except Exception as err:
        _unreachable("MariaDB at 127.0.0.1:3306", err)
    connect = lambda: mysqldb.connect(connect_timeout=3, **MYSQL_ARGS)  # noqa: E731
    return SqlTarget(name, MYSQL_URI, connect, table, "mysql://root@127.0.0.1:3306/test")


def server_session_id(conn: Any) -> int:
    """The server-side id of a DB-API connection (to drop exactly that one)."""
    if hasattr(conn, "get_backend_pid"):  # psycopg2
        return int(conn.get_backend_pid())
    if hasattr(conn, "info") and hasattr(conn.info, "backend_pid"):  # psycopg 3
        return int(conn.info.backend_pid)
    return int(conn.thread_id())  # MySQLdb


# -- a hostile HTTP server (real sockets, for bodies the emulator will never send) ----------------------


Body = bytes | Callable[[], Iterator[bytes]]


@dataclass
class HostileServer:
    """Serves one canned answer on every POST; counts requests. ``body`` may be a chunk generator
    (sent with chunked transfer encoding and no Content-Length)."""

    status: int = 200
    body: Body = b""
    content_type: str = "application/json"
    requests: int = 0
    url: str = ""
    _server: ThreadingHTTPServer | None = None

    def __enter__(self) -> HostileServer:
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                outer.requests += 1
                self.send_response(outer.status)
                self.send_header("Content-Type", outer.content_type)
                self.send_header("TrackingId", f"hostile-{outer.requests}")
                body = outer.body
                try:
                    if isinstance(body, bytes):
                        self.send_header("Content-Length", str(len(body)))
                        self.end_headers()
                        self.wfile.write(body)
                        return
                    self.send_header("Transfer-Encoding", "chunked")
                    self.send_header("Connection", "close")
                    self.end_headers()
                    for chunk in body():
                        self.wfile.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
                    self.wfile.write(b"0\r\n\r\n")
                except (TimeoutError, BrokenPipeError, ConnectionResetError):
                    self.close_connection = True

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        self._server = server
        self.url = f"http://127.0.0.1:{server.server_address[1]}"
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
