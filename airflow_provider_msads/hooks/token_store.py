"""Rotated refresh tokens (and the shared access token) in an encrypted Airflow Variable.

Why a Variable: a running Airflow 3 task cannot update its Connection, but it can ``Variable.set()``
through the task execution API. Why encrypted: Airflow echoes ``PutVariable`` at DEBUG level and anyone
allowed to read Variables could read a plain token.

The Variable ``msads_oauth_token__<conn_id>`` (the key contains "token", so Airflow masks its value)
holds a small versioned JSON document::

    {"format": "airflow-provider-msads/token-store", "version": 1,
     "refresh": {"origin": "sha256:<32 hex>", "obtained_at": 1767225600.0,
                 "chain_started_at": null, "token": "<Fernet ciphertext>"},
     "access":  {"origin": "sha256:<32 hex>", "obtained_at": 1767225600.0,
                 "expires_at": 1767229200.0, "token": "<Fernet ciphertext>"}}

``origin`` is the fingerprint of the connection's own refresh token the chain descends from; a
different fingerprint means a human re-consented and the connection wins. Metadata is in clear so that
"keep the newer chain" can be decided without decrypting; each ciphertext embeds its slot, origin and
timestamp, so a hand-edited document cannot swap tokens between slots or connections.

Key: Fernet key = HKDF-SHA256(IKM = the connection's own refresh token (its password),
salt = "airflow-provider-msads/token-store/v1", info = conn_id, client_id, token URL). The connection's
refresh token is the one secret every connection has (public clients have no client secret), it is as
readable as the rest of the connection and no more, and it changes only on re-consent, exactly when
the stored chain is discarded anyway; a client-secret rotation must not make the chain unreadable.
"""

from __future__ import annotations

import base64
import json
import logging
import sys
from typing import Any, Protocol

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from airflow_provider_msads.client.errors import TokenStoreError
from airflow_provider_msads.client.protocols import StoredRefreshToken
from airflow_provider_msads.client.settings import ConnectionSettings
from airflow_provider_msads.client.token_cache import CachedAccessToken, fingerprint

log = logging.getLogger(__name__)

VARIABLE_PREFIX = "msads_oauth_token__"
DOCUMENT_FORMAT = "airflow-provider-msads/token-store"
DOCUMENT_VERSION = 1
_KDF_SALT = b"airflow-provider-msads/token-store/v1"
_MAX_ERROR_TEXT = 200
_WRITE_ATTEMPTS = 3


def variable_key(conn_id: str) -> str:
    """The Variable that holds the tokens of ``conn_id`` (contains "token", so Airflow masks it)."""
    return VARIABLE_PREFIX + conn_id


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
    """:class:`~airflow_provider_msads.client.protocols.TokenStore` and access-token cache in a Variable.

    :param conn_id: the connection whose tokens are stored.
    :param settings: that connection's settings (key derivation and origin fingerprint).
    :param variables: Variable access; default :class:`AirflowVariables`.
    """

    def __init__(
        self, conn_id: str, settings: ConnectionSettings, *, variables: VariableBackend | None = None
    ) -> None:
        self.conn_id = conn_id
        self.key = variable_key(conn_id)
        self._fernet = Fernet(derive_fernet_key(settings, conn_id))
        self._origin = fingerprint(settings.refresh_token)
        self._variables: VariableBackend = variables if variables is not None else AirflowVariables()

    def __repr__(self) -> str:
        return f"VariableTokenStore(conn_id={self.conn_id!r}, key={self.key!r})"

    # --- TokenStore ---------------------------------------------------------------------------------

    def load(self) -> StoredRefreshToken | None:
        """The stored chain, or None if absent, from another origin, or unreadable (logged)."""
        entry = self._read().get("refresh")
        if not isinstance(entry, dict):
            return None
        token = self._open(entry, "refresh")
        if token is None:
            return None
        _mask(token)
        chain_started = entry.get("chain_started_at")
        return StoredRefreshToken(
            refresh_token=token,
            origin_fingerprint=str(entry["origin"]),
            obtained_at=float(entry["obtained_at"]),
            chain_started_at=float(chain_started) if isinstance(chain_started, (int, float)) else None,
        )

    def save(self, token: StoredRefreshToken) -> None:
        """Persist ``token`` unless a newer chain is already stored; raise if it cannot be written."""
        _mask(token.refresh_token)
        doc = self._read()
        current = doc.get("refresh")
        if isinstance(current, dict) and _number(current.get("obtained_at")) > token.obtained_at:
            log.info("a newer refresh token is already stored for %s: keeping it", self.conn_id)
            return
        doc["refresh"] = {
            "origin": token.origin_fingerprint,
            "obtained_at": token.obtained_at,
            "chain_started_at": token.chain_started_at,
            "token": self._seal("refresh", token.refresh_token, token.origin_fingerprint, token.obtained_at),
        }
        self._write(doc)

    # --- AccessTokenCache ---------------------------------------------------------------------------

    def load_access_token(self) -> CachedAccessToken | None:
        entry = self._read().get("access")
        if not isinstance(entry, dict):
            return None
        token = self._open(entry, "access")
        if token is None:
            return None
        _mask(token)
        return CachedAccessToken(
            access_token=token,
            obtained_at=float(entry["obtained_at"]),
            expires_at=float(entry["expires_at"]),
            origin_fingerprint=str(entry["origin"]),
        )

    def save_access_token(self, token: CachedAccessToken) -> None:
        _mask(token.access_token)
        doc = self._read()
        current = doc.get("access")
        if (
            isinstance(current, dict)
            and current.get("origin") == token.origin_fingerprint
            and _number(current.get("expires_at")) > token.expires_at
        ):
            return
        doc["access"] = {
            "origin": token.origin_fingerprint,
            "obtained_at": token.obtained_at,
            "expires_at": token.expires_at,
            "token": self._seal("access", token.access_token, token.origin_fingerprint, token.obtained_at),
        }
        self._write(doc)

    def discard_access_token(self, access_token: str) -> None:
        doc = self._read()
        entry = doc.get("access")
        if isinstance(entry, dict) and self._open(entry, "access") == access_token:
            doc["access"] = None
            self._write(doc)

    # --- document I/O -------------------------------------------------------------------------------

    def _read(self) -> dict[str, Any]:
        raw = self._get_raw()
        if raw is None or not raw.strip():
            return _empty()
        doc = self._parse(raw)
        if doc is None:
            log.warning(
                "Variable %s is not a token-store document: ignoring it (it will be rewritten)", self.key
            )
            return _empty()
        return doc

    def _get_raw(self) -> str | None:
        try:
            return self._variables.get(self.key)
        except Exception as err:
            raise TokenStoreError(
                f"cannot read Airflow Variable {self.key!r} ({_describe(err)}): tasks must be able to read "
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
        if doc.get("version") != DOCUMENT_VERSION:
            raise TokenStoreError(
                f"Variable {self.key!r} has token-store version {doc.get('version')!r}, this provider reads "
                f"version {DOCUMENT_VERSION}: upgrade airflow-provider-msads on every worker"
            )
        return doc

    def _write(self, doc: dict[str, Any]) -> None:
        """Write, then read back: another writer's newer slots are kept (merged), a shadow is an error.

        Variables have no compare-and-swap, so a writer on another machine can still slip in between
        our read and our write; both chains are valid at Microsoft, so that costs freshness, not access.
        """
        for _ in range(_WRITE_ATTEMPTS):
            value = json.dumps(doc, sort_keys=True, separators=(",", ":"))
            self._set_raw(value)
            read_back = self._get_raw()
            if read_back == value:
                return
            theirs = self._parse(read_back) if read_back else None
            if theirs is None:
                break
            merged = _merge(doc, theirs)
            if merged == theirs:  # what is stored now is at least as new as what we wrote
                return
            doc = merged
        raise TokenStoreError(
            f"Airflow Variable {self.key!r} was written but reads back differently: a secrets backend "
            "(e.g. an AIRFLOW_VAR_* environment variable or a read-only vault) defines it and shadows "
            "the stored value. Fix: remove it from that backend so the rotated refresh token can be kept"
        )

    def _set_raw(self, value: str) -> None:
        description = (
            f"Microsoft Advertising OAuth tokens of connection {self.conn_id} (encrypted, managed by "
            "airflow-provider-msads; delete it to start again from the connection's refresh token)"
        )
        try:
            self._variables.set(self.key, value, description)
        except Exception as err:
            raise TokenStoreError(
                f"cannot save the rotated refresh token of connection {self.conn_id!r} to Airflow Variable "
                f"{self.key!r} ({_describe(err, value)}). Without it the pipeline dies when the connection's "
                "refresh token expires. Fix: let tasks write Variables (metadata DB / execution API "
                "reachable, no read-only setup), or pass token_store= to MicrosoftAdsHook to store elsewhere"
            ) from None

    def _seal(self, slot: str, token: str, origin: str, obtained_at: float) -> str:
        plain = json.dumps(
            {"slot": slot, "conn": self.conn_id, "origin": origin, "at": obtained_at, "t": token}
        )
        return self._fernet.encrypt(plain.encode()).decode("ascii")

    def _open(self, entry: dict[str, Any], slot: str) -> str | None:
        """Decrypt one slot; None (logged) if it belongs to another origin or cannot be trusted."""
        if entry.get("origin") != self._origin:
            return None
        ciphertext = entry.get("token")
        try:
            payload: Any = json.loads(self._fernet.decrypt(str(ciphertext).encode()))
        except (InvalidToken, ValueError, TypeError):
            log.warning(
                "the %s token in Variable %s cannot be decrypted (client id or environment of the connection "
                "changed, or the Variable was edited): ignoring it",
                slot,
                self.key,
            )
            return None
        if (
            not isinstance(payload, dict)
            or payload.get("slot") != slot
            or payload.get("conn") != self.conn_id
            or payload.get("origin") != entry.get("origin")
            or payload.get("at") != entry.get("obtained_at")
            or not isinstance(payload.get("t"), str)
        ):
            log.warning(
                "the %s token in Variable %s does not match its metadata: ignoring it", slot, self.key
            )
            return None
        token: str = payload["t"]
        return token


def _merge(ours: dict[str, Any], theirs: dict[str, Any]) -> dict[str, Any]:
    """Slot by slot, the newer entry: refresh by ``obtained_at``, access by ``expires_at``."""
    merged = dict(theirs)
    for slot, stamp in (("refresh", "obtained_at"), ("access", "expires_at")):
        mine, other = ours.get(slot), theirs.get(slot)
        mine_at = _number(mine.get(stamp)) if isinstance(mine, dict) else float("-inf")
        other_at = _number(other.get(stamp)) if isinstance(other, dict) else float("-inf")
        if mine_at > other_at:
            merged[slot] = mine
    return merged


def _empty() -> dict[str, Any]:
    return {"format": DOCUMENT_FORMAT, "version": DOCUMENT_VERSION, "refresh": None, "access": None}


def _number(value: Any) -> float:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else float("-inf")


def _describe(err: Exception, *hide: str) -> str:
    text = str(err)
    for value in hide:
        if value:
            text = text.replace(value, "***")
    if len(text) > _MAX_ERROR_TEXT:
        text = text[: _MAX_ERROR_TEXT - 3] + "..."
    return f"{type(err).__name__}: {text}" if text else type(err).__name__
