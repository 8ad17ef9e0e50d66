"""Shared pieces of the token lifecycle: the access-token cache interface, an in-memory store, a file lock.

Airflow-free. Why each piece exists:

* :class:`AccessTokenCache` lets tasks of one connection share one access token (one token-endpoint
  call per connection per hour instead of one per mapped task).
* :class:`MemoryTokenStore` is the default :class:`~.protocols.TokenStore` outside Airflow: rotation
  still works for the life of the process, nothing is written anywhere.
* :class:`FileLock` serialises "read store -> refresh -> save" between processes on one machine, so
  the second process re-checks the shared cache instead of refreshing again.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, runtime_checkable

from airflow_provider_msads.client.protocols import StoredRefreshToken

try:  # POSIX only; Airflow workers are POSIX, the Airflow-free client degrades to no lock elsewhere.
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

log = logging.getLogger(__name__)

#: Reuse an access token until this many seconds before it expires.
EXPIRY_MARGIN_SECONDS = 300.0


def fingerprint(refresh_token: str) -> str:
    """A stable, non-reversible id of a refresh token (128 bits of a domain-separated SHA-256).

    Used to tell whether a stored rotation chain descends from the connection's current refresh token.
    """
    digest = hashlib.sha256(b"airflow-provider-msads/origin/v1\0" + refresh_token.encode()).hexdigest()
    return "sha256:" + digest[:32]


@dataclass(frozen=True, slots=True)
class CachedAccessToken:
    """An access token plus when it stops being worth using; the token itself is kept out of repr."""

    access_token: str = field(repr=False)
    obtained_at: float  # epoch seconds
    expires_at: float  # epoch seconds
    origin_fingerprint: str  # the connection refresh token the granting chain descends from

    @property
    def usable_until(self) -> float:
        """Expiry minus 5 minutes (or half the lifetime for very short-lived tokens)."""
        lifetime = max(0.0, self.expires_at - self.obtained_at)
        return self.expires_at - min(EXPIRY_MARGIN_SECONDS, lifetime / 2)

    def is_fresh(self, now: float) -> bool:
        return now < self.usable_until


@runtime_checkable
class AccessTokenCache(Protocol):
    """Where tasks of one connection share the current access token (encrypted at rest if persisted)."""

    def load_access_token(self) -> CachedAccessToken | None: ...

    def save_access_token(self, token: CachedAccessToken) -> None: ...

    def discard_access_token(self, access_token: str) -> None:
        """Forget ``access_token`` if it is the cached one (the API rejected it)."""
        ...


class MemoryTokenStore:
    """A thread-safe in-process :class:`TokenStore` and :class:`AccessTokenCache`.

    Keeps the newest refresh token by ``obtained_at``: a late save of an older chain never wins.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._refresh: StoredRefreshToken | None = None
        self._access: CachedAccessToken | None = None

    def __repr__(self) -> str:
        return "MemoryTokenStore()"

    def load(self) -> StoredRefreshToken | None:
        with self._lock:
            return self._refresh

    def save(self, token: StoredRefreshToken) -> None:
        with self._lock:
            if self._refresh is None or token.obtained_at >= self._refresh.obtained_at:
                self._refresh = token

    def load_access_token(self) -> CachedAccessToken | None:
        with self._lock:
            return self._access

    def save_access_token(self, token: CachedAccessToken) -> None:
        with self._lock:
            if self._access is None or token.expires_at >= self._access.expires_at:
                self._access = token

    def discard_access_token(self, access_token: str) -> None:
        with self._lock:
            if self._access is not None and self._access.access_token == access_token:
                self._access = None


def _uid() -> int:
    getuid = getattr(os, "getuid", None)  # POSIX only
    return getuid() if getuid is not None else 0


class FileLock:
    """An exclusive ``fcntl.flock`` on a file, bounded by ``timeout``.

    flock locks belong to the open file description, so separate threads and separate processes both
    serialise. If the lock cannot be taken in time (or the file cannot be opened) we log and go on
    unlocked: the lock only prevents redundant refreshes; stores keep the newest chain regardless.
    """

    def __init__(self, path: str | os.PathLike[str], *, timeout: float = 120.0, poll: float = 0.05) -> None:
        self.path = Path(path)
        self.timeout = timeout
        self.poll = poll

    def __repr__(self) -> str:
        return f"FileLock({str(self.path)!r})"

    @classmethod
    def for_key(
        cls, *parts: str, directory: str | os.PathLike[str] | None = None, timeout: float = 120.0
    ) -> FileLock:
        """A lock file named by a hash of ``parts`` (never a secret in clear) in a private directory."""
        name = hashlib.sha256("\0".join(parts).encode()).hexdigest()[:32] + ".lock"
        base = Path(directory) if directory else Path(tempfile.gettempdir()) / f"msads-token-locks-{_uid()}"
        return cls(base / name, timeout=timeout)

    @contextlib.contextmanager
    def hold(self) -> Iterator[bool]:
        """Hold the lock for the ``with`` block; yields whether it was actually acquired."""
        if fcntl is None:  # pragma: no cover - Windows
            yield False
            return
        try:
            self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as err:
            log.warning(
                "token lock %s unavailable (%s): refreshing without inter-process lock", self.path, err
            )
            yield False
            return
        try:
            acquired = self._acquire(fd)
            if not acquired:
                log.warning(
                    "token lock %s still busy after %.0f s: refreshing without it", self.path, self.timeout
                )
            try:
                yield acquired
            finally:
                if acquired:
                    fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)

    def _acquire(self, fd: int) -> bool:
        deadline = time.monotonic() + self.timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return True
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    return False
                time.sleep(self.poll)
