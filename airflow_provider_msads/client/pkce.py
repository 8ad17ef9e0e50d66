"""PKCE (RFC 7636, S256) and the OAuth ``state`` value: small, pure, easy to test."""

from __future__ import annotations

import base64
import hashlib
import secrets
from dataclasses import dataclass, field


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


@dataclass(frozen=True, slots=True)
class PkcePair:
    """A code verifier (secret, kept out of repr) and its S256 challenge."""

    verifier: str = field(repr=False)
    challenge: str
    method: str = "S256"


def s256_challenge(verifier: str) -> str:
    """BASE64URL(SHA256(ASCII(verifier))) without padding, as RFC 7636 section 4.2 specifies."""
    return _b64url(hashlib.sha256(verifier.encode("ascii")).digest())


def new_pkce_pair() -> PkcePair:
    """A fresh verifier of 64 unreserved characters (RFC 7636 allows 43-128) and its challenge."""
    verifier = _b64url(secrets.token_bytes(48))
    return PkcePair(verifier=verifier, challenge=s256_challenge(verifier))


def new_state() -> str:
    """An unguessable ``state`` that ties the redirect to this consent run (CSRF protection)."""
    return secrets.token_urlsafe(24)
