"""Sign-ins in progress and their results in Airflow's metadata database, shared by every API server.

Why: Airflow may run its API server as several processes (``[api] workers``) or replicas behind a load
balancer, and the browser's next request (the OAuth callback, the result page) may reach any of them.
Process memory would need sticky sessions; the metadata database is what every API server already shares.

One small table, ``msads_connect_state``, created on first use (``CREATE TABLE`` if missing, race-safe):

* ``key_hash`` — SHA-256 of the OAuth ``state`` / result id, never the key itself (the key is in URLs);
* ``kind`` — ``pending`` or ``result``; ``owner`` — the Airflow user id; ``expires_at`` — epoch seconds;
* ``payload`` — the JSON entry, sealed with Airflow's own Fernet key (``[core] fernet_key``, the key
  that encrypts connection passwords; without one Airflow stores those in clear, and so does this).

Single use across processes: :meth:`DatabaseStore.take` deletes the row and keeps the value only when
its own ``DELETE`` removed it (rowcount 1), in one transaction: of two API servers redeeming the same
``state`` at once, exactly one wins. Expired rows are deleted on every write; each user keeps at most
:data:`MAX_ENTRIES_PER_USER` entries per kind.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any, Generic, TypeVar

from sqlalchemy import Column, Float, MetaData, String, Table, Text, delete, insert, select
from sqlalchemy.exc import DBAPIError

from airflow_provider_msads.client.pkce import new_state
from airflow_provider_msads.plugins.flow import DEFAULT_TTL_SECONDS, check_entry, unknown_sign_in

log = logging.getLogger(__name__)

T = TypeVar("T")

TABLE_NAME = "msads_connect_state"
MAX_ENTRIES_PER_USER = 20

_metadata = MetaData()
STATE_TABLE = Table(
    TABLE_NAME,
    _metadata,
    Column("key_hash", String(64), primary_key=True),
    Column("kind", String(16), nullable=False),
    Column("owner", String(250), nullable=False),
    Column("expires_at", Float, nullable=False),
    Column("payload", Text, nullable=False),
)

_create_lock = threading.Lock()


def _key_hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


class DatabaseStore(Generic[T]):
    """A :class:`~airflow_provider_msads.plugins.flow.StateStore` in the metadata database.

    :param kind: ``pending`` or ``result`` (one table holds both).
    :param encode: value -> JSON-able dict; :param decode: the reverse.
    :param ttl: seconds an entry stays valid.
    :param session_factory: a context manager yielding a SQLAlchemy session that commits on exit
        (default: Airflow's ``create_session``).
    :param fernet: object with ``encrypt``/``decrypt`` (default: Airflow's ``get_fernet()``).
    :param clock: wall-clock seconds (shared by every process, unlike a monotonic clock).
    """

    def __init__(
        self,
        kind: str,
        encode: Callable[[T], Mapping[str, Any]],
        decode: Callable[[Mapping[str, Any]], T],
        *,
        ttl: float = DEFAULT_TTL_SECONDS,
        session_factory: Callable[[], Any] | None = None,
        fernet: Any = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if ttl <= 0:
            raise ValueError("ttl must be positive")
        self.kind = kind
        self.ttl = ttl
        self._encode = encode
        self._decode = decode
        self._session_factory = session_factory
        self._fernet = fernet
        self._clock = clock
        self._table_ready = False

    def __repr__(self) -> str:
        return f"DatabaseStore(kind={self.kind!r}, table={TABLE_NAME!r})"

    # --- StateStore -----------------------------------------------------------------------------

    def put(self, value: T, *, owner: str, key: str | None = None) -> str:
        key = key or new_state()
        now = self._clock()
        sealed = self._seal(json.dumps(self._encode(value), separators=(",", ":")))
        with self._session() as session:
            session.execute(delete(STATE_TABLE).where(STATE_TABLE.c.expires_at <= now))
            session.execute(
                insert(STATE_TABLE).values(
                    key_hash=_key_hash(key),
                    kind=self.kind,
                    owner=owner,
                    expires_at=now + self.ttl,
                    payload=sealed,
                )
            )
            mine = session.scalars(
                select(STATE_TABLE.c.key_hash)
                .where(STATE_TABLE.c.owner == owner, STATE_TABLE.c.kind == self.kind)
                .order_by(STATE_TABLE.c.expires_at.desc())
            ).all()
            if len(mine) > MAX_ENTRIES_PER_USER:
                session.execute(
                    delete(STATE_TABLE).where(STATE_TABLE.c.key_hash.in_(mine[MAX_ENTRIES_PER_USER:]))
                )
        return key

    def take(self, key: str, *, owner: str) -> T:
        if not key:
            raise unknown_sign_in()
        digest = _key_hash(key)
        with self._session() as session:
            row = session.execute(self._select(digest)).first()
            if row is None:
                raise unknown_sign_in()
            removed = session.execute(
                delete(STATE_TABLE).where(STATE_TABLE.c.key_hash == digest, STATE_TABLE.c.kind == self.kind)
            ).rowcount
        if removed != 1:  # another API server took it between our SELECT and our DELETE
            raise unknown_sign_in()
        return self._checked(row, owner)

    def get(self, key: str, *, owner: str) -> T:
        if not key:
            raise unknown_sign_in()
        with self._session() as session:
            row = session.execute(self._select(_key_hash(key))).first()
        if row is None:
            raise unknown_sign_in()
        return self._checked(row, owner)

    # --- internals ------------------------------------------------------------------------------

    def _select(self, digest: str) -> Any:
        return select(STATE_TABLE.c.owner, STATE_TABLE.c.expires_at, STATE_TABLE.c.payload).where(
            STATE_TABLE.c.key_hash == digest, STATE_TABLE.c.kind == self.kind
        )

    def _checked(self, row: Any, owner: str) -> T:
        entry_owner, expires_at, payload = row
        try:
            data = json.loads(self._open(payload))
        except Exception:
            log.warning("an entry of %s cannot be read (Fernet key changed?): ignoring it", TABLE_NAME)
            raise unknown_sign_in() from None
        return check_entry(
            self._decode(data),
            entry_owner=str(entry_owner),
            expires_at=float(expires_at),
            owner=owner,
            now=self._clock(),
        )

    def _session(self) -> Any:
        if not self._table_ready:
            _ensure_table(self._session_factory)
            self._table_ready = True
        return _open_session(self._session_factory)

    def _seal(self, plain: str) -> str:
        return str(self._fernet_or_default().encrypt(plain.encode()).decode("ascii"))

    def _open(self, sealed: str) -> str:
        return str(self._fernet_or_default().decrypt(sealed.encode("ascii")).decode())

    def _fernet_or_default(self) -> Any:
        if self._fernet is None:
            from airflow.models.crypto import get_fernet

            self._fernet = get_fernet()
        return self._fernet


def _open_session(session_factory: Callable[[], Any] | None) -> Any:
    if session_factory is not None:
        return session_factory()
    from airflow.utils.session import create_session

    return create_session()


def _ensure_table(session_factory: Callable[[], Any] | None) -> None:
    """Create the table if missing; another API server creating it at the same time is fine."""
    with _create_lock, _open_session(session_factory) as session:
        bind = session.get_bind()
    try:
        STATE_TABLE.create(bind=bind, checkfirst=True)
    except DBAPIError:
        # lost a CREATE race against another process: fine if the table is there now
        STATE_TABLE.create(bind=bind, checkfirst=True)
