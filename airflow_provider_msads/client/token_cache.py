"""Shared pieces of the token lifecycle: cached tokens, the shared-state interfaces, stores, a file lock.

Airflow-free. Why each piece exists:

* :class:`CachedAccessToken` knows when it is due for refresh (a jittered margin that scales with the
  token's lifetime) and until when it may still be used while someone else refreshes.
* :class:`TokenStateStore` is what tasks of one connection share: the rotation chain and the current
  access token, read in ONE call and written in ONE call per refresh, ordered by a generation counter
  (never by wall clocks, which differ between machines).
* :class:`LeaseStore` lets workers on different machines agree on who refreshes (see docs/scaling.md).
* :class:`MemoryTokenStore` is the default store outside Airflow: rotation still works for the life of
  the process, nothing is written anywhere.
* :class:`FileLock` serialises refreshes between processes on one machine, so the second process
  re-reads the shared state instead of refreshing again. Its directory is created owner-only and
  checked: a lock that anyone could replace is no lock.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import stat
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, runtime_checkable

from airflow_provider_msads.client.errors import TokenStoreError
from airflow_provider_msads.client.protocols import StoredRefreshToken

try:  # POSIX only; Airflow workers are POSIX, the Airflow-free client degrades to no lock elsewhere.
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

log = logging.getLogger(__name__)

#: The refresh of an access token starts this long before it expires: 5 % of its lifetime, at most
#: 3 minutes, plus a per-process random spread of up to 4 % (at most 2 minutes) so that workers do not
#: all start at once. A one-hour token is used for >= 91.7 % of its life, a 20 s test token for >= 91 %.
REFRESH_MARGIN_FRACTION = 0.05
REFRESH_MARGIN_MAX_SECONDS = 180.0
REFRESH_SPREAD_FRACTION = 0.04
REFRESH_SPREAD_MAX_SECONDS = 120.0
#: After its refresh is due, a token is still handed out (while another worker refreshes) until
#: 2 % of its lifetime (at most 60 s) before it expires: room for the API call that carries it.
USABLE_MARGIN_FRACTION = 0.02
USABLE_MARGIN_MAX_SECONDS = 60.0
#: Environment variable naming the directory for refresh lock files (must be owner-only).
LOCK_DIR_ENV = "MSADS_TOKEN_LOCK_DIR"


def fingerprint(refresh_token: str) -> str:
    """A stable, non-reversible id of a refresh token (128 bits of a domain-separated SHA-256).

    Used to tell whether a stored rotation chain descends from the connection's current refresh token.
    """
    digest = hashlib.sha256(b"airflow-provider-msads/origin/v1\0" + refresh_token.encode()).hexdigest()
    return "sha256:" + digest[:32]


@dataclass(frozen=True, slots=True)
class CachedAccessToken:
    """An access token plus its lifetime; the token itself is kept out of repr.

    ``generation`` is the shared state's generation that published it (0: unknown / not shared).
    """

    access_token: str = field(repr=False)
    obtained_at: float  # epoch seconds
    expires_at: float  # epoch seconds
    origin_fingerprint: str  # the connection refresh token the granting chain descends from
    generation: int = 0

    @property
    def lifetime(self) -> float:
        return max(0.0, self.expires_at - self.obtained_at)

    def refresh_due(self, spread: float = 0.0) -> float:
        """When a refresh should start; ``spread`` in [0, 1) moves it earlier by up to the spread margin."""
        lifetime = self.lifetime
        margin = min(REFRESH_MARGIN_MAX_SECONDS, REFRESH_MARGIN_FRACTION * lifetime)
        margin += min(REFRESH_SPREAD_MAX_SECONDS, REFRESH_SPREAD_FRACTION * lifetime) * spread
        return self.expires_at - margin

    @property
    def usable_until(self) -> float:
        """The last moment the token may be handed to an API call (after that: wait for a new one)."""
        return self.expires_at - min(USABLE_MARGIN_MAX_SECONDS, USABLE_MARGIN_FRACTION * self.lifetime)

    def is_fresh(self, now: float, spread: float = 0.0) -> bool:
        """Not yet due for refresh."""
        return now < self.refresh_due(spread)

    def is_usable(self, now: float) -> bool:
        return now < self.usable_until


@dataclass(frozen=True, slots=True)
class TokenState:
    """What one read of the shared store returns: the chain, the access token, and their generation.

    ``generation`` grows by one on every published refresh; ordering by it (not by clocks) is what keeps
    a worker whose clock runs ahead from freezing the chain.
    """

    generation: int = 0
    refresh: StoredRefreshToken | None = None
    access: CachedAccessToken | None = None


@dataclass(frozen=True, slots=True)
class Lease:
    """``holder`` is refreshing generation ``generation`` until ``expires_at`` (the holder's clock)."""

    holder: str
    generation: int
    expires_at: float


@runtime_checkable
class AccessTokenCache(Protocol):
    """Where tasks of one connection share the current access token (encrypted at rest if persisted)."""

    def load_access_token(self) -> CachedAccessToken | None: ...

    def save_access_token(self, token: CachedAccessToken) -> None: ...

    def discard_access_token(self, access_token: str) -> None:
        """Forget ``access_token`` if it is the cached one (the API rejected it)."""
        ...


@runtime_checkable
class TokenStateStore(Protocol):
    """The chain and the access token together: one read per check, one write per refresh."""

    def read_state(self) -> TokenState:
        """The current state (one backend read); unreadable parts come back as None."""
        ...

    def publish(self, state: TokenState) -> None:
        """Store ``state`` (one backend write) unless something newer is stored; TokenStoreError if the
        refresh token cannot be kept."""
        ...


@runtime_checkable
class LeaseStore(Protocol):
    """A refresh lease shared between machines (no compare-and-swap needed: see docs/scaling.md)."""

    def read_lease(self) -> Lease | None: ...

    def write_lease(self, lease: Lease) -> None: ...


def newer_refresh(a: StoredRefreshToken | None, b: StoredRefreshToken | None) -> bool:
    """True if ``a`` should replace ``b``: higher generation, then later ``obtained_at``."""
    if a is None:
        return False
    if b is None:
        return True
    return (a.generation, a.obtained_at) >= (b.generation, b.obtained_at)


def newer_access(a: CachedAccessToken | None, b: CachedAccessToken | None) -> bool:
    """True if ``a`` should replace ``b``: higher generation, then later expiry."""
    if a is None:
        return False
    if b is None:
        return True
    return (a.generation, a.expires_at) >= (b.generation, b.expires_at)


class MemoryTokenStore:
    """A thread-safe in-process :class:`TokenStore`, :class:`AccessTokenCache` and :class:`TokenStateStore`.

    Keeps the newest refresh token by generation, then ``obtained_at``: a late save of an older chain
    never wins.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._refresh: StoredRefreshToken | None = None
        self._access: CachedAccessToken | None = None
        self._generation = 0

    def __repr__(self) -> str:
        return "MemoryTokenStore()"

    def load(self) -> StoredRefreshToken | None:
        with self._lock:
            return self._refresh

    def save(self, token: StoredRefreshToken) -> None:
        with self._lock:
            if newer_refresh(token, self._refresh):
                self._refresh = token
                self._generation = max(self._generation, token.generation)

    def load_access_token(self) -> CachedAccessToken | None:
        with self._lock:
            return self._access

    def save_access_token(self, token: CachedAccessToken) -> None:
        with self._lock:
            if newer_access(token, self._access):
                self._access = token
                self._generation = max(self._generation, token.generation)

    def discard_access_token(self, access_token: str) -> None:
        with self._lock:
            if self._access is not None and self._access.access_token == access_token:
                self._access = None

    def read_state(self) -> TokenState:
        with self._lock:
            return TokenState(self._generation, self._refresh, self._access)

    def publish(self, state: TokenState) -> None:
        with self._lock:
            if newer_refresh(state.refresh, self._refresh):
                self._refresh = state.refresh
            if newer_access(state.access, self._access):
                self._access = state.access
            self._generation = max(self._generation, state.generation)


def _uid() -> int:
    getuid = getattr(os, "getuid", None)  # POSIX only
    return getuid() if getuid is not None else 0


def _private_directory(path: Path, forbidden: int = 0o077) -> str | None:
    """Make sure ``path`` is a directory only this user controls; the problem if it is not.

    Created 0700 if absent. An existing entry must be a real directory (not a symlink, not a file),
    owned by us, without the ``forbidden`` permission bits: anyone else able to write there could
    replace the lock file and silently break mutual exclusion.
    """
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        with contextlib.suppress(FileExistsError):
            os.mkdir(path, 0o700)
        info = os.lstat(path)
    except OSError as err:
        return f"{path}: {err.strerror or err}"
    if not stat.S_ISDIR(info.st_mode):
        return f"{path} exists and is not a directory"
    if hasattr(os, "getuid") and info.st_uid != _uid():
        return f"{path} belongs to uid {info.st_uid}, not to this user ({_uid()})"
    if info.st_mode & forbidden:
        return f"{path} is open to other users (mode {stat.S_IMODE(info.st_mode):o})"
    return None


def lock_directory() -> Path:
    """The directory for lock files: ``$MSADS_TOKEN_LOCK_DIR``, else a per-user one in the temp dir, else
    ``~/.cache/airflow-provider-msads/token-locks``. Raises TokenStoreError if none is private."""
    explicit = os.environ.get(LOCK_DIR_ENV)
    if explicit:
        candidates = [Path(explicit)]
    else:
        candidates = [
            Path(tempfile.gettempdir()) / f"msads-token-locks-{_uid()}",
            Path.home() / ".cache" / "airflow-provider-msads" / "token-locks",
        ]
    problems = []
    for candidate in candidates:
        problem = _private_directory(candidate)
        if problem is None:
            return candidate
        problems.append(problem)
        log.warning("token refresh lock directory refused: %s", problem)
    raise TokenStoreError(
        "no private directory for the token refresh lock (" + "; ".join(problems) + "). Fix: remove or "
        f"chmod 700 the directory, or set {LOCK_DIR_ENV} to a directory only this user can write"
    )


class FileLock:
    """An exclusive ``fcntl.flock`` on a file in a private directory, bounded by ``timeout``.

    flock locks belong to the open file description, so separate threads and separate processes both
    serialise. An unsafe or unusable lock location is an error (TokenStoreError), never a silent
    "no lock". If the lock stays busy longer than ``timeout`` we log and go on: the shared store keeps
    the newest chain regardless, and across machines the lease (not this lock) single-flights.

    :param path: the lock file; its directory must be private (created 0700 if absent).
    """

    def __init__(self, path: str | os.PathLike[str], *, timeout: float = 120.0, poll: float = 0.05) -> None:
        self.path: Path | None = Path(path)
        self._name = self.path.name
        self.timeout = timeout
        self.poll = poll

    def __repr__(self) -> str:
        return f"FileLock({self._name!r})"

    @classmethod
    def for_key(
        cls, *parts: str, directory: str | os.PathLike[str] | None = None, timeout: float = 120.0
    ) -> FileLock:
        """A lock file named by a hash of ``parts`` (never a secret in clear) in a private directory.

        Without ``directory`` the directory is chosen (and checked) when the lock is first taken.
        """
        name = hashlib.sha256("\0".join(parts).encode()).hexdigest()[:32] + ".lock"
        lock = cls(Path(directory) / name if directory else Path(name), timeout=timeout)
        if not directory:
            lock.path = None
        lock._name = name
        return lock

    def _resolve(self) -> Path:
        if self.path is None:
            self.path = lock_directory() / self._name
        else:
            # a path chosen by the caller: its directory must at least be writable by us alone
            problem = _private_directory(self.path.parent, forbidden=0o022)
            if problem is not None:
                raise TokenStoreError(
                    f"the token refresh lock directory is not private ({problem}). Fix: use a directory "
                    "only this user can write"
                )
        return self.path

    @contextlib.contextmanager
    def hold(self, *, wait: bool = True) -> Iterator[bool]:
        """Hold the lock for the ``with`` block; yields whether it was acquired.

        ``wait=False`` yields False at once if another process holds it. Raises TokenStoreError if
        the lock file cannot be used safely.
        """
        if fcntl is None:  # pragma: no cover - Windows
            log.warning("no fcntl on this platform: token refreshes are not serialised between processes")
            yield False
            return
        path = self._resolve()
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0) | os.O_CLOEXEC, 0o600)
        except OSError as err:
            raise TokenStoreError(
                f"cannot open the token refresh lock {path} ({err.strerror or err}). Fix: remove it, or set "
                f"{LOCK_DIR_ENV} to a private directory"
            ) from None
        try:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode) or info.st_uid != _uid():
                raise TokenStoreError(
                    f"the token refresh lock {path} is not a regular file of this user. Fix: remove it"
                )
            acquired = self._acquire(fd, self.timeout if wait else 0.0)
            if not acquired and wait:
                log.warning(
                    "token lock %s still busy after %.0f s: refreshing without it", path, self.timeout
                )
            try:
                yield acquired
            finally:
                if acquired:
                    fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)

    def _acquire(self, fd: int, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return True
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    return False
                time.sleep(self.poll)
