"""Rotated refresh tokens (and the shared access token) in an encrypted Airflow Variable.

Why a Variable: a running Airflow 3 task cannot update its Connection, but it can ``Variable.set()``
through the task execution API, and Variables are what workers on different machines share. Why
encrypted: Airflow echoes ``PutVariable`` at DEBUG level and anyone allowed to read Variables could
read a plain token.

The Variable ``msads_oauth_token__<conn_id>`` (the key contains "token", so Airflow masks its value)
holds a small versioned JSON document::

    {"format": "airflow-provider-msads/token-store", "version": 2, "generation": 42,
     "sealed_for": {"conn_id": "msads_default", "client_id": "<guid>", "token_url": "https://..."},
     "refresh": {"origin": "sha256:<32 hex>", "generation": 42, "obtained_at": 1767225600.0,
                 "chain_started_at": 1767000000.0, "token": "<Fernet ciphertext>"},
     "access":  {"origin": "sha256:<32 hex>", "generation": 42, "obtained_at": 1767225600.0,
                 "expires_at": 1767229200.0, "token": "<Fernet ciphertext>"}}

``generation`` grows by one with every published refresh; the newer chain is the higher generation
(then the later ``obtained_at``), never the later wall-clock time alone: a worker whose clock runs a day
ahead must not freeze the chain. ``origin`` is the fingerprint of the connection's own refresh token
the chain descends from; a different fingerprint means a human re-consented and the connection wins.
Each ciphertext seals its slot, connection, origin, generation and timestamps, so a hand-edited or
damaged document cannot swap tokens between slots or connections or claim to be newer: such a slot
reads as absent, and absent slots never block a save. ``sealed_for`` (no secret) says what the key was
derived from, so an unreadable slot is reported with its real cause. Version 1 documents still load
(their refresh chain; their access slot is ignored and replaced at the next refresh).

The refresh lease lives in a second, unmasked Variable ``msads_oauth_lease__<conn_id>`` (no secret in
it): a lease write can never overwrite a token. See docs/scaling.md for the single-flight protocol.

Key: Fernet key = HKDF-SHA256(IKM = the connection's own refresh token (its password),
salt = "airflow-provider-msads/token-store/v1", info = conn_id, client_id, token URL). The connection's
refresh token is the one secret every connection has (public clients have no client secret), it is as
readable as the rest of the connection and no more, and it changes only on re-consent, exactly when
the stored chain is discarded anyway; a client-secret rotation must not make the chain unreadable.

Every Variable call is counted (:func:`variable_calls`): a task with a valid shared access token makes
one read and no write; a refresh makes one token write (plus one lease write).
"""

from __future__ import annotations

import base64
import json
import logging
import sys
import threading
from collections import Counter
from typing import Any, Protocol, TypeGuard

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from airflow_provider_msads.client.errors import TokenStoreError
from airflow_provider_msads.client.protocols import StoredRefreshToken
from airflow_provider_msads.client.settings import ConnectionSettings
from airflow_provider_msads.client.token_cache import (
    CachedAccessToken,
    Lease,
    TokenState,
    fingerprint,
    newer_access,
    newer_refresh,
)

log = logging.getLogger(__name__)

VARIABLE_PREFIX = "msads_oauth_token__"
LEASE_PREFIX = "msads_oauth_lease__"
DOCUMENT_FORMAT = "airflow-provider-msads/token-store"
LEASE_FORMAT = "airflow-provider-msads/token-lease"
DOCUMENT_VERSION = 2
_READABLE_VERSIONS = (1, 2)
_KDF_SALT = b"airflow-provider-msads/token-store/v1"
_MAX_ERROR_TEXT = 200
_WRITE_ATTEMPTS = 3
_MAX_ACCESS_LIFETIME = 24 * 3600.0

_calls: Counter[str] = Counter()
_calls_lock = threading.Lock()


def variable_calls() -> dict[str, int]:
    """Variable calls made by token stores in this process so far.

    ``{"get": n, "set": n, "lease_get": n, "lease_set": n}``: ``get`` / ``set`` count every call, the
    ``lease_`` keys the part of them that went to the refresh lease. For benchmarks and tests (e.g.
    "Variable calls per discovery"); see :func:`reset_variable_calls`.
    """
    with _calls_lock:
        return {name: _calls[name] for name in ("get", "set", "lease_get", "lease_set")}


def reset_variable_calls() -> None:
    """Set the :func:`variable_calls` counters back to zero."""
    with _calls_lock:
        _calls.clear()


def _count(kind: str) -> None:
    with _calls_lock:
        _calls[kind] += 1


def variable_key(conn_id: str) -> str:
    """The Variable that holds the tokens of ``conn_id`` (contains "token", so Airflow masks it)."""
    return VARIABLE_PREFIX + conn_id


def lease_key(conn_id: str) -> str:
    """The Variable that holds the refresh lease of ``conn_id`` (no secret in it)."""
    return LEASE_PREFIX + conn_id


def derive_fernet_key(settings: ConnectionSettings, conn_id: str) -> bytes:
    """HKDF-SHA256 over the connection's refresh token, bound to conn id, client id and token URL."""
    info = "\0".join(("fernet", conn_id, settings.client_id, settings.endpoints.token_url)).encode()
    raw = HKDF(algorithm=hashes.SHA256(), length=32, salt=_KDF_SALT, info=info).derive(
        settings.refresh_token.encode()
    )
    return base64.urlsafe_b64encode(raw)


class VariableBackend(Protocol):
    """The two Variable operations the store needs (swappable in tests)."""

    def get(self, key: str) -> str | None: ...

    def set(self, key: str, value: str, description: str) -> None: ...


def _in_task() -> bool:
    """True inside a task (or DAG parse / triggerer): the same test Airflow's own Variable model uses."""
    return hasattr(sys.modules.get("airflow.sdk.execution_time.task_runner"), "SUPERVISOR_COMMS")


class AirflowVariables:
    """Airflow Variables through the public API.

    In a task: ``airflow.sdk.Variable`` (the task execution API; the ORM is blocked in real workers).
    Elsewhere (CLI, API server running ``test_connection``): ``airflow.models.Variable``, which reads
    every secrets backend and writes the metadata database, as Airflow itself does outside tasks.
    """

    def get(self, key: str) -> str | None:
        if _in_task():
            from airflow.sdk import Variable

            value: Any = Variable.get(key, default=None)
        else:
            from airflow.models.variable import Variable as ModelVariable

            value = ModelVariable.get(key, default_var=None)
        return None if value is None else str(value)

    def set(self, key: str, value: str, description: str) -> None:
        if _in_task():
            from airflow.sdk import Variable

            Variable.set(key, value, description=description)
        else:
            from airflow.models.variable import Variable as ModelVariable

            ModelVariable.set(key, value, description=description)


def _mask(value: str) -> None:
    from airflow.sdk.log import mask_secret

    mask_secret(value)


class VariableTokenStore:
    """The shared token state of one connection in Airflow Variables.

    Implements :class:`~airflow_provider_msads.client.protocols.TokenStore`,
    :class:`~airflow_provider_msads.client.token_cache.AccessTokenCache`,
    :class:`~airflow_provider_msads.client.token_cache.TokenStateStore` and
    :class:`~airflow_provider_msads.client.token_cache.LeaseStore`.

    :param conn_id: the connection whose tokens are stored.
    :param settings: that connection's settings (key derivation and origin fingerprint).
    :param variables: Variable access; default :class:`AirflowVariables`.
    """

    def __init__(
        self, conn_id: str, settings: ConnectionSettings, *, variables: VariableBackend | None = None
    ) -> None:
        self.conn_id = conn_id
        self.key = variable_key(conn_id)
        self.lease_key = lease_key(conn_id)
        self._fernet = Fernet(derive_fernet_key(settings, conn_id))
        self._origin = fingerprint(settings.refresh_token)
        self._sealed_for = {
            "conn_id": conn_id,
            "client_id": settings.client_id,
            "token_url": settings.endpoints.token_url,
        }
        self._variables: VariableBackend = variables if variables is not None else AirflowVariables()
        self._rejected: set[str] = set()
        #: the file lock and the stored chain are keyed alike: this Variable, this consent
        self.lock_key = f"{self.key}\0{self._origin}"
        self.reads = 0
        self.writes = 0

    def __repr__(self) -> str:
        return f"VariableTokenStore(conn_id={self.conn_id!r}, key={self.key!r})"

    # --- TokenStateStore ----------------------------------------------------------------------------

    def read_state(self) -> TokenState:
        """The chain and the access token from ONE Variable read; unreadable slots come back as None."""
        doc = self._read()
        return self._state(doc)

    def publish(self, state: TokenState) -> None:
        """Write the whole state in ONE Variable write (then read it back; see :meth:`_write`)."""
        doc = _empty()
        doc["generation"] = state.generation
        if state.refresh is not None:
            _mask(state.refresh.refresh_token)
            doc["refresh"] = self._refresh_entry(state.refresh)
        if state.access is not None:
            _mask(state.access.access_token)
            doc["access"] = self._access_entry(state.access)
        self._write(doc)

    # --- LeaseStore ---------------------------------------------------------------------------------

    def read_lease(self) -> Lease | None:
        raw = self._get_raw(self.lease_key)
        try:
            data: Any = json.loads(raw) if raw else None
        except ValueError:
            return None
        if not isinstance(data, dict) or data.get("format") != LEASE_FORMAT:
            return None
        holder, generation, expires_at = data.get("holder"), data.get("generation"), data.get("expires_at")
        if not isinstance(holder, str) or not _is_int(generation) or not _is_number(expires_at):
            return None
        return Lease(holder=holder, generation=int(generation), expires_at=float(expires_at))

    def write_lease(self, lease: Lease) -> None:
        value = json.dumps(
            {
                "format": LEASE_FORMAT,
                "holder": lease.holder,
                "generation": lease.generation,
                "expires_at": lease.expires_at,
            },
            sort_keys=True,
            separators=(",", ":"),
        )
        self._set_raw(
            value,
            key=self.lease_key,
            description=f"Refresh lease of the Microsoft Advertising tokens of connection {self.conn_id} "
            "(no secret; managed by airflow-provider-msads)",
        )

    # --- TokenStore ---------------------------------------------------------------------------------

    def load(self) -> StoredRefreshToken | None:
        """The stored chain, or None if absent, from another origin, or unreadable (logged)."""
        return self.read_state().refresh

    def save(self, token: StoredRefreshToken) -> None:
        """Persist ``token`` unless a newer chain is already stored; raise if it cannot be written.

        "Newer" is decided among readable entries only: a damaged slot never blocks a save.
        """
        _mask(token.refresh_token)
        doc = self._read()
        current = self._state(doc)
        stored = current.refresh
        if stored is not None and (stored.generation, stored.obtained_at) > (
            token.generation,
            token.obtained_at,
        ):
            log.info("a newer refresh token is already stored for %s: keeping it", self.conn_id)
            return
        doc["refresh"] = self._refresh_entry(token)
        doc["generation"] = max(current.generation, token.generation)
        self._write(doc)

    # --- AccessTokenCache ---------------------------------------------------------------------------

    def load_access_token(self) -> CachedAccessToken | None:
        access = self.read_state().access
        if access is None or access.access_token in self._rejected:
            return None
        return access

    def save_access_token(self, token: CachedAccessToken) -> None:
        _mask(token.access_token)
        doc = self._read()
        current = self._state(doc)
        if current.access is not None and not newer_access(token, current.access):
            return
        doc["access"] = self._access_entry(token)
        doc["generation"] = max(current.generation, token.generation)
        self._write(doc)

    def discard_access_token(self, access_token: str) -> None:
        """Stop handing out ``access_token`` from THIS object; the shared document is not rewritten.

        Rewriting it outside the refresh lease could bring back an older refresh token (no
        compare-and-swap on Variables); the next refresh, made under the lease, replaces the token.
        """
        self._rejected.add(access_token)

    # --- document <-> state -------------------------------------------------------------------------

    def _state(self, doc: dict[str, Any]) -> TokenState:
        version = doc.get("version")
        reason = _Reason(self, doc)
        refresh = self._open_refresh(doc.get("refresh"), version, reason)
        access = (
            self._open_access(doc.get("access"), version, reason) if version == DOCUMENT_VERSION else None
        )
        generation = int(doc["generation"]) if _is_int(doc.get("generation")) else 0
        for part in (refresh, access):
            if part is not None:
                generation = max(generation, part.generation)
        return TokenState(generation=generation, refresh=refresh, access=access)

    def _refresh_entry(self, token: StoredRefreshToken) -> dict[str, Any]:
        sealed = {"gen": token.generation, "at": token.obtained_at}
        return {
            "origin": token.origin_fingerprint,
            "generation": token.generation,
            "obtained_at": token.obtained_at,
            "chain_started_at": token.chain_started_at,
            "token": self._seal("refresh", token.refresh_token, token.origin_fingerprint, sealed),
        }

    def _access_entry(self, token: CachedAccessToken) -> dict[str, Any]:
        sealed = {"gen": token.generation, "at": token.obtained_at, "exp": token.expires_at}
        return {
            "origin": token.origin_fingerprint,
            "generation": token.generation,
            "obtained_at": token.obtained_at,
            "expires_at": token.expires_at,
            "token": self._seal("access", token.access_token, token.origin_fingerprint, sealed),
        }

    def _open_refresh(self, entry: Any, version: Any, reason: _Reason) -> StoredRefreshToken | None:
        if not isinstance(entry, dict):
            return None
        generation = entry.get("generation", 0) if version == DOCUMENT_VERSION else 0
        expect = {"at": entry.get("obtained_at")}
        if version == DOCUMENT_VERSION:
            expect["gen"] = generation
        token = self._open(entry, "refresh", expect, reason)
        if token is None or not _is_int(generation) or not _is_number(entry.get("obtained_at")):
            return None
        _mask(token)
        obtained_at = float(entry["obtained_at"])
        started = entry.get("chain_started_at")
        return StoredRefreshToken(
            refresh_token=token,
            origin_fingerprint=str(entry["origin"]),
            obtained_at=obtained_at,
            # chains stored before it was recorded: it began at or before this token was obtained
            chain_started_at=float(started) if _is_number(started) else obtained_at,
            generation=int(generation),
        )

    def _open_access(self, entry: Any, version: Any, reason: _Reason) -> CachedAccessToken | None:
        if not isinstance(entry, dict):
            return None
        generation, obtained_at, expires_at = (
            entry.get("generation"),
            entry.get("obtained_at"),
            entry.get("expires_at"),
        )
        if not (_is_int(generation) and _is_number(obtained_at) and _is_number(expires_at)):
            return None
        if not 0 < float(expires_at) - float(obtained_at) <= _MAX_ACCESS_LIFETIME:
            return None
        token = self._open(entry, "access", {"gen": generation, "at": obtained_at, "exp": expires_at}, reason)
        if token is None or token in self._rejected:
            return None
        _mask(token)
        return CachedAccessToken(
            access_token=token,
            obtained_at=float(obtained_at),
            expires_at=float(expires_at),
            origin_fingerprint=str(entry["origin"]),
            generation=int(generation),
        )

    # --- document I/O -------------------------------------------------------------------------------

    def _read(self) -> dict[str, Any]:
        raw = self._get_raw(self.key)
        if raw is None or not raw.strip():
            return _empty()
        doc = self._parse(raw)
        if doc is None:
            log.warning(
                "Variable %s is not a token-store document: ignoring it (it will be rewritten)", self.key
            )
            return _empty()
        return doc

    def _get_raw(self, key: str) -> str | None:
        _count("get")
        if key == self.lease_key:
            _count("lease_get")
        self.reads += 1
        try:
            return self._variables.get(key)
        except Exception as err:
            raise TokenStoreError(
                f"cannot read Airflow Variable {key!r} ({_describe(err)}): tasks must be able to read "
                "Variables (execution API / metadata database reachable)"
            ) from None

    def _parse(self, raw: str) -> dict[str, Any] | None:
        """The document in ``raw``; None if it is not one; TokenStoreError if a newer version wrote it."""
        try:
            doc: Any = json.loads(raw)
        except ValueError:
            return None
        if not isinstance(doc, dict) or doc.get("format") != DOCUMENT_FORMAT:
            return None
        if doc.get("version") not in _READABLE_VERSIONS:
            raise TokenStoreError(
                f"Variable {self.key!r} has token-store version {doc.get('version')!r}, this provider reads "
                f"versions {', '.join(map(str, _READABLE_VERSIONS))}: upgrade airflow-provider-msads on "
                "every worker"
            )
        return doc

    def _write(self, doc: dict[str, Any]) -> None:
        """Write, then read back: another writer's newer slots are kept (merged), a shadow is an error.

        Variables have no compare-and-swap: the lease (docs/scaling.md) makes concurrent token writers
        rare; if two still race, the newer generation wins slot by slot, and a refresh token that
        lost the race was valid at Microsoft anyway (only freshness is lost).
        """
        doc = {**doc, "format": DOCUMENT_FORMAT, "version": DOCUMENT_VERSION, "sealed_for": self._sealed_for}
        for _ in range(_WRITE_ATTEMPTS):
            value = json.dumps(doc, sort_keys=True, separators=(",", ":"))
            self._set_raw(value)
            read_back = self._get_raw(self.key)
            if read_back == value:
                return
            theirs = self._parse(read_back) if read_back else None
            if theirs is None:
                break
            merged = self._merge(doc, theirs)
            if merged is None:  # what is stored now is at least as new as what we wrote
                return
            doc = merged
        raise TokenStoreError(
            f"Airflow Variable {self.key!r} was written but reads back differently: a secrets backend "
            "(e.g. an AIRFLOW_VAR_* environment variable or a read-only vault) defines it and shadows "
            "the stored value. Fix: remove it from that backend so the rotated refresh token can be kept"
        )

    def _merge(self, ours: dict[str, Any], theirs: dict[str, Any]) -> dict[str, Any] | None:
        """Slot by slot the newer readable entry; None if ``theirs`` already has every newest slot."""
        mine, other = self._state(ours), self._state(theirs)
        take_refresh = mine.refresh is not None and not newer_refresh(other.refresh, mine.refresh)
        take_access = mine.access is not None and not newer_access(other.access, mine.access)
        if not (take_refresh or take_access):
            return None
        merged = dict(theirs) if theirs.get("version") == DOCUMENT_VERSION else _empty()
        if theirs.get("version") != DOCUMENT_VERSION and other.refresh is not None:
            merged["refresh"] = self._refresh_entry(other.refresh)
        if take_refresh:
            merged["refresh"] = ours["refresh"]
        if take_access:
            merged["access"] = ours["access"]
        merged["generation"] = max(mine.generation, other.generation)
        return {
            **merged,
            "format": DOCUMENT_FORMAT,
            "version": DOCUMENT_VERSION,
            "sealed_for": self._sealed_for,
        }

    def _set_raw(self, value: str, *, key: str | None = None, description: str | None = None) -> None:
        key = key or self.key
        if key == self.lease_key:
            _count("lease_set")
        description = description or (
            f"Microsoft Advertising OAuth tokens of connection {self.conn_id} (encrypted, managed by "
            "airflow-provider-msads; delete it to start again from the connection's refresh token)"
        )
        _count("set")
        self.writes += 1
        try:
            self._variables.set(key, value, description)
        except Exception as err:
            raise TokenStoreError(
                f"cannot save the rotated refresh token of connection {self.conn_id!r} to Airflow Variable "
                f"{key!r} ({_describe(err, value)}). Without it the pipeline dies when the connection's "
                "refresh token expires. Fix: let tasks write Variables (metadata DB / execution API "
                "reachable, no read-only setup), or pass token_store= to MicrosoftAdsHook to store elsewhere"
            ) from None

    def _seal(self, slot: str, token: str, origin: str, stamps: dict[str, Any]) -> str:
        plain = json.dumps({"slot": slot, "conn": self.conn_id, "origin": origin, **stamps, "t": token})
        return self._fernet.encrypt(plain.encode()).decode("ascii")

    def _open(self, entry: dict[str, Any], slot: str, expect: dict[str, Any], reason: _Reason) -> str | None:
        """Decrypt one slot; None (logged) if it belongs to another origin or cannot be trusted."""
        if entry.get("origin") != self._origin:
            return None
        ciphertext = entry.get("token")
        try:
            payload: Any = json.loads(self._fernet.decrypt(str(ciphertext).encode()))
        except (InvalidToken, ValueError, TypeError):
            log.warning(
                "the %s token in Variable %s cannot be decrypted (%s): ignoring it",
                slot,
                self.key,
                reason.text,
            )
            return None
        if (
            not isinstance(payload, dict)
            or payload.get("slot") != slot
            or payload.get("conn") != self.conn_id
            or payload.get("origin") != entry.get("origin")
            or any(payload.get(name) != value for name, value in expect.items())
            or not isinstance(payload.get("t"), str)
        ):
            log.warning(
                "the %s token in Variable %s does not match its metadata (edited or damaged): ignoring it",
                slot,
                self.key,
            )
            return None
        token: str = payload["t"]
        return token


class _Reason:
    """Why a slot cannot be decrypted, worked out from the document's ``sealed_for`` (lazily)."""

    def __init__(self, store: VariableTokenStore, doc: dict[str, Any]) -> None:
        self._store = store
        self._doc = doc

    @property
    def text(self) -> str:
        sealed = self._doc.get("sealed_for")
        now = self._store._sealed_for
        if not isinstance(sealed, dict):
            return (
                "the connection id, client id or token endpoint (auth_base_url / tenant) changed since it "
                "was written, or the Variable was edited"
            )
        labels = {
            "conn_id": "it was written for another connection (copied by hand?)",
            "client_id": "the connection's client id changed",
            "token_url": "the token endpoint changed (auth_base_url or tenant)",
        }
        changes = [
            f"{labels[name]}: was {sealed.get(name)!r}, now {now[name]!r}"
            for name in labels
            if sealed.get(name) != now[name]
        ]
        return "; ".join(changes) if changes else "the Variable was edited or damaged"


def _empty() -> dict[str, Any]:
    return {
        "format": DOCUMENT_FORMAT,
        "version": DOCUMENT_VERSION,
        "generation": 0,
        "refresh": None,
        "access": None,
    }


def _is_int(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _is_number(value: Any) -> TypeGuard[float]:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value == value


def _describe(err: Exception, *hide: str) -> str:
    text = str(err)
    for value in hide:
        if value:
            text = text.replace(value, "***")
    if len(text) > _MAX_ERROR_TEXT:
        text = text[: _MAX_ERROR_TEXT - 3] + "..."
    return f"{type(err).__name__}: {text}" if text else type(err).__name__
