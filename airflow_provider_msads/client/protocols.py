"""The small interfaces between layers: how the API client gets a token, where rotated tokens live."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable


@runtime_checkable
class AccessTokenProvider(Protocol):
    """What transports need from the auth layer."""

    def get_access_token(self) -> str:
        """Return a valid access token, refreshing (once) if the cached one is near expiry."""
        ...

    def invalidate(self, access_token: str) -> None:
        """Forget ``access_token`` because the API rejected it (error 109 / HTTP 401).

        The next :meth:`get_access_token` refreshes unless another caller already did.
        """
        ...


@dataclass(frozen=True, slots=True)
class StoredRefreshToken:
    """A rotated refresh token and where it came from.

    ``origin_fingerprint`` identifies the connection's own refresh token this chain descends from:
    when a human re-consents (new password on the connection) the fingerprints differ and the
    connection wins over the stored chain. ``generation`` counts refreshes of the shared state: stores
    keep the higher one (then the later ``obtained_at``), so a worker whose clock runs ahead cannot
    freeze the chain. ``chain_started_at`` is when the first rotation from the connection's own token
    happened (for chains stored before it was recorded: at or before the oldest ``obtained_at`` seen).
    """

    refresh_token: str = field(repr=False)
    origin_fingerprint: str
    obtained_at: float  # epoch seconds: when this refresh token was issued to us
    chain_started_at: float | None = None  # epoch seconds: first rotation from the connection's token
    generation: int = 0  # refreshes of the shared state so far (0: unknown)


@runtime_checkable
class TokenStore(Protocol):
    """Persistence for rotated refresh tokens. ``save`` must raise TokenStoreError, never drop a token."""

    def load(self) -> StoredRefreshToken | None: ...

    def save(self, token: StoredRefreshToken) -> None: ...
