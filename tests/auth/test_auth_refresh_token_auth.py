"""RefreshTokenAuth: cache, the invalidate contract, rotation that is never lost, concurrency, warnings."""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any

import pytest
from msads_fake_identity import (
    AUTH_BASE,
    CLIENT_ID,
    CLIENT_SECRET,
    DEVELOPER_TOKEN,
    INITIAL_REFRESH_TOKEN,
    FakeIdentity,
)

from airflow_provider_msads.client.auth import AuthRetryPolicy, RefreshTokenAuth
from airflow_provider_msads.client.errors import TerminalAuthError, TokenStoreError
from airflow_provider_msads.client.protocols import AccessTokenProvider, StoredRefreshToken, TokenStore
from airflow_provider_msads.client.settings import ConnectionSettings
from airflow_provider_msads.client.token_cache import FileLock, MemoryTokenStore, fingerprint

FAST = AuthRetryPolicy(max_attempts=3, max_total_seconds=2.0, initial_wait=0.0, max_wait=0.0, jitter=0.0)
DAY = 86400.0


class Clock:
    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def settings(refresh_token: str = INITIAL_REFRESH_TOKEN) -> ConnectionSettings:
    return ConnectionSettings.from_connection_fields(
        login=CLIENT_ID,
        password=refresh_token,
        extra={
            "developer_token": DEVELOPER_TOKEN,
            "client_secret": CLIENT_SECRET,
            "auth_base_url": AUTH_BASE,
        },
    )


def make_auth(fake: FakeIdentity, tmp_path: Path, **kw: Any) -> RefreshTokenAuth:
    return RefreshTokenAuth.from_settings(
        kw.pop("settings", None) or settings(),
        http=fake.client(),
        retry=FAST,
        lock=FileLock(tmp_path / "token.lock", timeout=10.0),
        **kw,
    )


def test_implements_the_protocol(tmp_path: Path) -> None:
    auth = make_auth(FakeIdentity(), tmp_path)
    assert isinstance(auth, AccessTokenProvider)
    assert isinstance(MemoryTokenStore(), TokenStore)


def test_cache_reuses_the_token_until_its_jittered_refresh_is_due(tmp_path: Path) -> None:
    """A one-hour token is refreshed 3 to 5 minutes before expiry (5 % of its life + up to 2 min spread)."""
    fake, clock = FakeIdentity(), Clock()
    auth = make_auth(fake, tmp_path, clock=clock)
    first = auth.get_access_token()
    for _ in range(5):
        assert auth.get_access_token() == first
    clock.now += 3600 - 301
    assert auth.get_access_token() == first
    assert fake.grant_counts["refresh_token"] == 1 and auth.refresh_count == 1
    clock.now += 301 - 179  # past the latest possible start of the refresh window
    second = auth.get_access_token()
    assert second != first
    assert fake.grant_counts["refresh_token"] == 2 and auth.refresh_count == 2


def test_refresh_margin_scales_with_the_token_lifetime() -> None:
    """Short test tokens are used for most of their life, one-hour tokens keep a bounded margin."""
    from airflow_provider_msads.client.token_cache import CachedAccessToken

    for lifetime in (3.0, 20.0, 60.0, 3600.0, 5400.0):
        token = CachedAccessToken("t" * 20, obtained_at=0.0, expires_at=lifetime, origin_fingerprint="fp")
        earliest, latest = token.refresh_due(0.999), token.refresh_due(0.0)
        assert 0.90 * lifetime <= earliest < latest < token.usable_until < lifetime, lifetime
        assert lifetime - latest == pytest.approx(min(180.0, 0.05 * lifetime)) and lifetime - earliest <= 300


def test_invalidate_then_get_refreshes_exactly_once(tmp_path: Path) -> None:
    fake = FakeIdentity()
    auth = make_auth(fake, tmp_path)
    first = auth.get_access_token()
    auth.invalidate(first)  # the API said 109 / HTTP 401
    second = auth.get_access_token()
    assert second != first
    assert auth.refresh_count == 2 and fake.grant_counts["refresh_token"] == 2
    # a second caller reporting the same (already replaced) token does not cause another refresh
    auth.invalidate(first)
    assert auth.get_access_token() == second
    auth.invalidate("some-token-we-never-issued")
    assert auth.get_access_token() == second
    assert auth.refresh_count == 2 and fake.grant_counts["refresh_token"] == 2


def test_invalidated_token_is_not_readopted_from_the_shared_cache(tmp_path: Path) -> None:
    fake, shared = FakeIdentity(), MemoryTokenStore()
    a = make_auth(fake, tmp_path, token_store=shared)
    b = make_auth(fake, tmp_path, token_store=shared)
    token = a.get_access_token()
    assert b.get_access_token() == token  # shared: no second grant
    assert fake.grant_counts["refresh_token"] == 1
    b.invalidate(token)
    assert shared.load_access_token() is None
    fresh = b.get_access_token()
    assert fresh != token and fake.grant_counts["refresh_token"] == 2
    a.invalidate(token)
    assert a.get_access_token() == fresh  # picks up b's refresh from the shared cache
    assert fake.grant_counts["refresh_token"] == 2


def test_rotated_refresh_token_is_persisted_and_read_back_by_a_new_object(tmp_path: Path) -> None:
    fake, store, clock = FakeIdentity(), MemoryTokenStore(), Clock()
    make_auth(fake, tmp_path, token_store=store, clock=clock).get_access_token()
    stored = store.load()
    assert stored is not None
    assert stored.refresh_token == fake.issued_refresh_tokens[-1]
    assert stored.origin_fingerprint == fingerprint(INITIAL_REFRESH_TOKEN)
    assert stored.obtained_at == clock.now
    fake.revoke(INITIAL_REFRESH_TOKEN)  # only the rotated token can work from now on
    auth2 = make_auth(fake, tmp_path, token_store=MemoryTokenStoreView(store), clock=clock)
    auth2.get_access_token()
    assert fake.used_refresh_tokens[-1] == stored.refresh_token
    assert store.load().refresh_token == fake.issued_refresh_tokens[-1]  # type: ignore[union-attr]


class MemoryTokenStoreView:
    """The same stored chain without the shared access token: forces a real refresh."""

    def __init__(self, inner: MemoryTokenStore) -> None:
        self.inner = inner

    def load(self) -> StoredRefreshToken | None:
        return self.inner.load()

    def save(self, token: StoredRefreshToken) -> None:
        self.inner.save(token)


def test_re_consent_on_the_connection_wins_over_the_stored_chain(tmp_path: Path) -> None:
    fake, store = FakeIdentity(), MemoryTokenStore()
    make_auth(fake, tmp_path, token_store=MemoryTokenStoreView(store)).get_access_token()
    old_chain = store.load()
    assert old_chain is not None
    new_consent = "M.R3_fake.new-consent-token.after-a-human-ran-msads-auth-0123456789"
    fake.valid_refresh_tokens.add(new_consent)
    fake.revoke(old_chain.refresh_token)
    auth = make_auth(fake, tmp_path, settings=settings(new_consent), token_store=MemoryTokenStoreView(store))
    auth.get_access_token()
    assert fake.used_refresh_tokens[-1] == new_consent
    assert store.load().origin_fingerprint == fingerprint(new_consent)  # type: ignore[union-attr]


def test_no_rotation_in_response_keeps_the_old_chain(tmp_path: Path) -> None:
    fake, store = FakeIdentity(rotate=False), MemoryTokenStore()
    make_auth(fake, tmp_path, token_store=store).get_access_token()
    assert store.load() is None  # nothing new to keep; the connection's token is still the newest


class FailingStore:
    def load(self) -> StoredRefreshToken | None:
        return None

    def save(self, token: StoredRefreshToken) -> None:
        raise TokenStoreError("cannot save the rotated refresh token: Variable is read-only; fix: ...")


def test_unsaveable_rotation_fails_loudly_and_the_token_is_not_used(tmp_path: Path) -> None:
    fake = FakeIdentity()
    auth = make_auth(fake, tmp_path, token_store=FailingStore())
    with pytest.raises(TokenStoreError, match="read-only"):
        auth.get_access_token()
    assert auth._access is None  # the new access token was never handed out


def test_terminal_error_is_not_retried_and_has_no_secret(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    fake = FakeIdentity()
    fake.revoke(INITIAL_REFRESH_TOKEN)
    auth = make_auth(fake, tmp_path)
    with pytest.raises(TerminalAuthError, match=r"AADSTS70008.*msads-auth") as info:
        auth.get_access_token()
    assert len(fake.requests) == 1
    text = str(info.value) + repr(info.value) + repr(auth) + caplog.text
    for secret in fake.all_secrets():
        assert secret not in text


def test_warns_when_the_stored_refresh_token_nears_expiry(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    clock = Clock()
    fake, store = FakeIdentity(), MemoryTokenStore()
    old = "M.R3_fake.an-old-but-valid-rotated-token-0123456789abcdef"
    fake.valid_refresh_tokens.add(old)
    store.save(StoredRefreshToken(old, fingerprint(INITIAL_REFRESH_TOKEN), obtained_at=clock.now - 80 * DAY))
    with caplog.at_level(logging.WARNING):
        make_auth(fake, tmp_path, token_store=store, clock=clock).get_access_token()
    assert "issued 80 days ago" in caplog.text and "msads-auth" in caplog.text
    assert fake.used_refresh_tokens == [old]
    caplog.clear()
    store2 = MemoryTokenStore()
    store2.save(StoredRefreshToken(old, fingerprint(INITIAL_REFRESH_TOKEN), obtained_at=clock.now - 10 * DAY))
    with caplog.at_level(logging.WARNING):
        make_auth(fake, tmp_path, token_store=store2, clock=clock).get_access_token()
    assert "days ago" not in caplog.text


def test_memory_store_keeps_the_newer_chain() -> None:
    store = MemoryTokenStore()
    store.save(StoredRefreshToken("newer-token-xxxx", "fp", obtained_at=200.0))
    store.save(StoredRefreshToken("older-token-xxxx", "fp", obtained_at=100.0))
    assert store.load().refresh_token == "newer-token-xxxx"  # type: ignore[union-attr]


N = 8


def _run_threads(target: Any, n: int = N) -> list[Any]:
    results: list[Any] = [None] * n
    barrier = threading.Barrier(n, timeout=10)

    def run(i: int) -> None:
        barrier.wait()
        try:
            results[i] = target()
        except BaseException as err:  # surfaced by the assertion below
            results[i] = err

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert not any(t.is_alive() for t in threads)
    assert not [r for r in results if isinstance(r, BaseException)], results
    return results


def test_concurrent_threads_share_one_refresh(tmp_path: Path) -> None:
    fake, store = FakeIdentity(delay=0.05), MemoryTokenStore()
    auths = [make_auth(fake, tmp_path, token_store=store) for _ in range(N)]
    it = iter(auths)
    lock = threading.Lock()

    def one() -> str:
        with lock:
            auth = next(it)
        return auth.get_access_token()

    tokens = _run_threads(one)
    assert len(set(tokens)) == 1
    assert fake.grant_counts["refresh_token"] == 1
    assert store.load().refresh_token == fake.issued_refresh_tokens[-1]  # type: ignore[union-attr]


def test_concurrent_threads_without_shared_cache_keep_the_newest_chain(tmp_path: Path) -> None:
    """No shared access token: every thread refreshes, serialised by the lock; nothing is lost."""
    fake, store = FakeIdentity(delay=0.01), MemoryTokenStore()
    view = MemoryTokenStoreView(store)
    auths = [make_auth(fake, tmp_path, token_store=view) for _ in range(N)]
    it = iter(auths)
    lock = threading.Lock()

    def one() -> str:
        with lock:
            auth = next(it)
        return auth.get_access_token()

    _run_threads(one)
    assert fake.grant_counts["refresh_token"] == N
    # serialised: each refresh used the token the previous one stored, so the chain never forked
    assert fake.used_refresh_tokens[0] == INITIAL_REFRESH_TOKEN
    assert fake.used_refresh_tokens[1:] == fake.issued_refresh_tokens[:-1]
    assert store.load().refresh_token == fake.issued_refresh_tokens[-1]  # type: ignore[union-attr]
