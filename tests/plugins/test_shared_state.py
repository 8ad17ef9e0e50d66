"""Sign-in state in the metadata database: any API-server process finishes what another started, once.

Real databases: SQLite (a file, as Airflow's default metadata DB) and PostgreSQL (a schema of its own
per test, dropped after). "Another process" is another DatabaseStore with its own engine; the race is
real threads with their own connections redeeming the same state at once.
"""

from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import create_engine, select, text
from sqlalchemy.orm import Session, sessionmaker

from airflow_provider_msads.plugins.flow import (
    AccountLine,
    ConnectResult,
    ExistingConnection,
    FlowError,
    PendingConsent,
    draft_from_form,
)
from airflow_provider_msads.plugins.shared_state import STATE_TABLE, DatabaseStore

SECRET = "typed~secret-value-123"
DEV_TOKEN = "DEVTOKEN123456"
VERIFIER = "verifier-" + "x" * 40
FORM = {
    "client_id": "6f1d2a3b-8c4e-4f5a-9b6c-7d8e9f0a1b2c",
    "client_secret": SECRET,
    "developer_token": DEV_TOKEN,
    "environment": "sandbox",
    "tenant": "contoso.onmicrosoft.com",
    "auth_base_url": "http://127.0.0.1:9999",
    "api_base_url": "",
}
PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def _pg_available() -> str | None:
    try:
        import psycopg

        psycopg.connect("host=127.0.0.1 port=5432 user=postgres dbname=test", connect_timeout=3).close()
    except Exception as err:
        return f"PostgreSQL not reachable on 127.0.0.1:5432 ({type(err).__name__})"
    return None


@pytest.fixture(params=["sqlite", "postgresql"])
def sessions(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[[], Any]]:
    """A factory of committing sessions on a fresh database (new engine per call: a separate 'process')."""
    if request.param == "sqlite":
        url, connect_args = f"sqlite:///{tmp_path / 'metadata.db'}", {}
        cleanup: Callable[[], None] = lambda: None  # noqa: E731
    else:
        reason = _pg_available()
        if reason:
            if os.environ.get("MSADS_REQUIRE_DBS"):
                pytest.fail(f"MSADS_REQUIRE_DBS is set but {reason}")
            pytest.skip(reason)
        schema = f"msads_state_{uuid.uuid4().hex[:10]}"
        admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        url, connect_args = PG_URL, {"options": f"-csearch_path={schema}"}

        def cleanup() -> None:
            with admin.connect() as conn:
                conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
            admin.dispose()

    engines = []

    def new_factory() -> Callable[[], Any]:
        engine = create_engine(url, connect_args=connect_args)
        engines.append(engine)
        maker = sessionmaker(engine)

        @contextmanager
        def session() -> Iterator[Session]:
            with maker.begin() as s:
                yield s

        return session

    try:
        yield new_factory
    finally:
        for engine in engines:
            engine.dispose()
        cleanup()


def pending() -> PendingConsent:
    draft = draft_from_form(FORM, conn_id="msads_new", existing=None)
    return PendingConsent(draft=draft, code_verifier=VERIFIER, redirect_uri="http://127.0.0.1:8080/cb")


def store(factory: Callable[[], Any], key: bytes, **kwargs: Any) -> DatabaseStore[PendingConsent]:
    return DatabaseStore(
        "pending",
        PendingConsent.to_json,
        PendingConsent.from_json,
        session_factory=factory,
        fernet=Fernet(key),
        **kwargs,
    )


def test_a_sign_in_started_on_one_server_finishes_on_another_once(sessions: Any) -> None:
    key = Fernet.generate_key()
    first, second, third = (store(sessions(), key) for _ in range(3))
    state = first.put(pending(), owner="admin")
    taken = second.take(state, owner="admin")
    assert taken == pending()  # the draft is rebuilt and validated again, endpoints included
    assert taken.draft.endpoints == pending().draft.endpoints
    assert taken.draft.client_secret == SECRET and taken.code_verifier == VERIFIER
    for other in (first, second, third):
        with pytest.raises(FlowError, match="unknown or was already used"):
            other.take(state, owner="admin")


def test_only_one_of_many_concurrent_redemptions_wins(sessions: Any) -> None:
    key = Fernet.generate_key()
    stores = [store(sessions(), key) for _ in range(8)]
    state = stores[0].put(pending(), owner="admin")
    outcomes: list[str] = []
    go = threading.Barrier(len(stores))

    def redeem(s: DatabaseStore[PendingConsent]) -> None:
        go.wait()
        try:
            s.take(state, owner="admin")
            outcomes.append("won")
        except FlowError:
            outcomes.append("refused")
        except Exception as err:  # a serialisation failure is a refusal too, never a second win
            outcomes.append(f"error {type(err).__name__}")

    threads = [threading.Thread(target=redeem, args=(s,)) for s in stores]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert outcomes.count("won") == 1, outcomes


def test_state_is_sealed_and_keyed_by_hash(sessions: Any) -> None:
    factory = sessions()
    s = store(factory, Fernet.generate_key())
    state = s.put(pending(), owner="admin")
    with factory() as session:
        rows = session.execute(select(STATE_TABLE)).all()
    dumped = repr(rows)
    assert len(rows) == 1
    for secret in (state, SECRET, DEV_TOKEN, VERIFIER, FORM["client_id"]):
        assert secret not in dumped


def test_expired_and_foreign_entries_are_refused(sessions: Any) -> None:
    now = [1000.0]
    s = store(sessions(), Fernet.generate_key(), ttl=600, clock=lambda: now[0])
    state = s.put(pending(), owner="admin")
    now[0] = 1600.0
    with pytest.raises(FlowError, match="expired"):
        s.take(state, owner="admin")
    now[0] = 1000.0
    state = s.put(pending(), owner="admin")
    with pytest.raises(FlowError) as err:
        s.take(state, owner="mallory")
    assert err.value.status == 403
    with pytest.raises(FlowError, match="unknown or was already used"):
        s.take(state, owner="admin")  # burned by the foreign attempt


def test_another_fernet_key_cannot_read_the_state(sessions: Any) -> None:
    factory = sessions()
    state = store(factory, Fernet.generate_key()).put(pending(), owner="admin")
    with pytest.raises(FlowError, match="unknown or was already used"):
        store(factory, Fernet.generate_key()).take(state, owner="admin")


def test_results_are_readable_again_and_old_entries_are_purged(sessions: Any) -> None:
    factory = sessions()
    now = [1000.0]
    results: DatabaseStore[ConnectResult] = DatabaseStore(
        "result",
        ConnectResult.to_json,
        ConnectResult.from_json,
        session_factory=factory,
        fernet=Fernet(Fernet.generate_key()),
        clock=lambda: now[0],
    )
    result = ConnectResult(
        conn_id="msads_new",
        environment="production",
        created=True,
        user_name="demo@example.com",
        user_id=7,
        customer_count=1,
        account_count=2,
        accounts=(AccountLine(1, "F1", "One", "Active"), AccountLine(2, None, None, None)),
    )
    rid = results.put(result, owner="admin")
    assert results.get(rid, owner="admin") == result
    assert results.get(rid, owner="admin") == result  # not single-use: the page may be reloaded
    with pytest.raises(FlowError, match="unknown"):
        store(factory, Fernet.generate_key()).take(rid, owner="admin")  # a result is no sign-in
    for _ in range(25):
        results.put(result, owner="admin")
    with factory() as session:
        count = session.execute(select(STATE_TABLE.c.key_hash)).all()
    assert len(count) == 20  # at most 20 per user and kind
    now[0] = 5000.0
    results.put(result, owner="someone")  # every write purges what expired
    with factory() as session:
        assert len(session.execute(select(STATE_TABLE.c.key_hash)).all()) == 1


def test_existing_connection_extras_survive_the_round_trip() -> None:
    existing = ExistingConnection(
        conn_id="msads_default",
        conn_type="msads",
        login=FORM["client_id"],
        extra={"customer_id": "123", "developer_token": DEV_TOKEN, "transport": "soap"},
        has_refresh_token=True,
    )
    form = {**FORM, "developer_token": "", "client_secret": ""}
    draft = draft_from_form(form, conn_id="msads_default", existing=existing)
    p = PendingConsent(draft=draft, code_verifier=VERIFIER, redirect_uri="https://airflow.example.com/cb")
    back = PendingConsent.from_json(p.to_json())
    assert back == p and back.draft.extra["customer_id"] == "123" and back.draft.transport == "soap"
    assert back.draft.create is False
