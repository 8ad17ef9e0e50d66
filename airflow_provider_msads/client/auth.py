"""OAuth 2.0 against the Microsoft identity platform, and the access/refresh-token lifecycle.

Airflow-free. :class:`OAuthClient` makes the token-endpoint calls (refresh grant, authorization-code
grant with PKCE) and turns every failure into a typed error whose message says what to do.
:class:`RefreshTokenAuth` is what transports use: it caches the access token, refreshes at most once
per expiry, persists every rotated refresh token *before* using the new access token, and serialises
refreshes between processes so a hundred mapped tasks make one token-endpoint call, not a hundred.

No secret (token, client secret, authorization code, PKCE verifier) ever enters a ``repr``, a log
line or an exception message: server text is scrubbed of them before it is quoted.
"""

from __future__ import annotations

import logging
import random
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, cast
from urllib.parse import urlencode

import httpx
import tenacity

from airflow_provider_msads.client import signin_errors
from airflow_provider_msads.client.environments import Endpoints
from airflow_provider_msads.client.errors import (
    AuthError,
    TerminalAuthError,
    TokenStoreError,
    TransientAuthError,
)
from airflow_provider_msads.client.http_client import deadline
from airflow_provider_msads.client.protocols import StoredRefreshToken, TokenStore
from airflow_provider_msads.client.settings import ConnectionSettings
from airflow_provider_msads.client.signin_errors import aadsts_code
from airflow_provider_msads.client.token_cache import (
    AccessTokenCache,
    CachedAccessToken,
    FileLock,
    Lease,
    LeaseStore,
    MemoryTokenStore,
    TokenState,
    TokenStateStore,
    fingerprint,
)

log = logging.getLogger(__name__)

#: Microsoft's refresh tokens live about 90 days; warn when the one we are about to use is this old.
REFRESH_TOKEN_LIFETIME_DAYS = 90.0
REFRESH_TOKEN_WARN_AFTER_DAYS = 75.0
_MAX_EXPIRES_IN = 24 * 3600  # an access token claiming to live longer than a day is not credible
_RECONSENT = (
    "run `msads-auth` (or Plugins → Microsoft Advertising → Connect) to re-consent and store the new "
    "refresh token as the connection password"
)


@dataclass(frozen=True, slots=True)
class TokenResponse:
    """A successful token-endpoint response. Tokens are excluded from ``repr``.

    ``refresh_token`` is ``None`` when the server did not rotate it (keep using the old one).
    """

    access_token: str = field(repr=False)
    refresh_token: str | None = field(repr=False)
    expires_in: int
    expires_at: float  # epoch seconds, computed from the local clock when the response arrived
    scope: str
    token_type: str = "Bearer"  # noqa: S105 - a scheme name, not a secret


@dataclass(frozen=True, slots=True)
class AuthRetryPolicy:
    """Bounds for retrying transient token-endpoint failures (5xx, timeouts, temporarily_unavailable).

    ``max_total_seconds`` stops retrying before a wait would cross it, so one ``refresh`` never takes
    much longer than that plus one HTTP timeout.
    """

    max_attempts: int = 4
    max_total_seconds: float = 30.0
    initial_wait: float = 0.5
    max_wait: float = 8.0
    jitter: float = 0.5

    def retrying(self) -> tenacity.Retrying:
        return tenacity.Retrying(
            retry=tenacity.retry_if_exception_type(TransientAuthError),
            stop=tenacity.stop_after_attempt(self.max_attempts)
            | tenacity.stop_before_delay(self.max_total_seconds),
            # exponential from initial_wait, capped, plus jitter (tenacity's wait_exponential_jitter
            # deprecates 'initial' in 9.x and lacks 'multiplier' in 8.x: composed from stable parts)
            wait=tenacity.wait_exponential(multiplier=self.initial_wait, max=self.max_wait)
            + tenacity.wait_random(0, self.jitter),
            before_sleep=_log_retry,
            reraise=True,
        )


def _log_retry(state: tenacity.RetryCallState) -> None:
    err = state.outcome.exception() if state.outcome else None
    wait = state.next_action.sleep if state.next_action else 0.0
    log.warning("token endpoint attempt %d failed (%s); retrying in %.1f s", state.attempt_number, err, wait)


# --- error classification -------------------------------------------------------------------------

_MAX_QUOTE = 200


def _scrub(text: str, secrets: Iterable[str | None]) -> str:
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, "***")
    return text


def _first_line(description: str) -> str:
    """The server's sentence without the Trace/Correlation ID trailer (those are reported separately)."""
    line = description.strip().splitlines()[0] if description.strip() else ""
    line = line.split(" Trace ID:")[0].strip()
    return line if len(line) <= _MAX_QUOTE else line[: _MAX_QUOTE - 3] + "..."


def _classify(
    response: httpx.Response, *, grant: str, secrets: Iterable[str | None], public_client: bool
) -> AuthError:
    """Turn a non-200 (or unreadable) token response into a TerminalAuthError or TransientAuthError."""
    status = response.status_code
    try:
        body: Any = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict) or not isinstance(body.get("error"), str):
        kind = TransientAuthError if status >= 500 or status == 429 else TerminalAuthError
        what = response.headers.get("content-type", "no content type").split(";")[0]
        fix = (
            "retried; if it persists check the identity platform status"
            if kind is TransientAuthError
            else "check auth_base_url and any proxy between Airflow and login.microsoftonline.com"
        )
        return kind(
            f"token {grant} failed: HTTP {status} with an unreadable body ({what}): {fix}", http_status=status
        )

    error = body["error"]
    description = body.get("error_description") if isinstance(body.get("error_description"), str) else ""
    codes = body.get("error_codes")
    code: int | None = None
    if isinstance(codes, list) and codes and isinstance(codes[0], int):
        code = codes[0]
    else:
        code = aadsts_code(description)
    trace_id = body.get("trace_id") if isinstance(body.get("trace_id"), str) else None
    correlation_id = body.get("correlation_id") if isinstance(body.get("correlation_id"), str) else None

    problem = signin_errors.lookup(error=error, code=code)
    if problem is not None:
        transient = problem.transient
        _, cause, fix = problem.render(reconsent=_RECONSENT)
    elif status >= 500 or status == 429:
        transient = True
        cause, fix = "the identity platform is temporarily unavailable", "retried with backoff"
    else:
        transient = False
        cause, fix = "the token request was refused", "see the server message; " + _RECONSENT
    if error == "invalid_grant" and public_client and code not in (70008, 700082, 50173):
        fix += (
            "; note: without a client secret this is a public-client token, bound to the device that "
            "obtained it: servers need a Web app registration with a client secret"
        )
    label = f"AADSTS{code}, {error}" if code is not None else error
    server = _scrub(_first_line(description or ""), secrets)
    message = f"token {grant} failed: {cause} ({label}): {fix}"
    if server:
        message += f" [server: {server}]"
    kind = TransientAuthError if transient else TerminalAuthError
    return kind(
        message,
        error=error,
        aadsts_code=code,
        http_status=status,
        trace_id=trace_id,
        correlation_id=correlation_id,
    )


def _parse_success(response: httpx.Response, *, grant: str, now: float) -> TokenResponse:
    """Strictly parse a 200 token response; anything odd is an error, never a half-valid token."""

    def bad(problem: str) -> TerminalAuthError:
        return TerminalAuthError(
            f"token {grant} failed: HTTP 200 but {problem}: check auth_base_url and any proxy in between",
            http_status=response.status_code,
        )

    try:
        body: Any = response.json()
    except ValueError:
        raise bad("the body is not JSON") from None
    if not isinstance(body, dict):
        raise bad("the body is not a JSON object")
    if "error" in body:
        raise bad("the body carries an error field")
    access_token = body.get("access_token")
    if not isinstance(access_token, str) or not access_token.strip():
        raise bad("no access_token in the response")
    token_type = body.get("token_type", "Bearer")
    if not isinstance(token_type, str) or token_type.lower() != "bearer":
        raise bad("token_type is not Bearer")
    raw_expires = body.get("expires_in")
    if isinstance(raw_expires, bool):
        raise bad("expires_in is not a number")
    try:
        expires_in = int(raw_expires)  # type: ignore[arg-type]  # v2.0 sends a number; v1.0 sent a string
    except (TypeError, ValueError):
        raise bad("expires_in is missing or not a number") from None
    if not 0 < expires_in <= _MAX_EXPIRES_IN:
        raise bad(f"expires_in {expires_in} is out of range")
    refresh_token = body.get("refresh_token")
    if refresh_token is not None and (not isinstance(refresh_token, str) or not refresh_token.strip()):
        raise bad("refresh_token is not a non-empty string")
    scope = body.get("scope", "")
    if not isinstance(scope, str):
        raise bad("scope is not a string")
    return TokenResponse(
        access_token=access_token,
        refresh_token=refresh_token,
        expires_in=expires_in,
        expires_at=now + expires_in,
        scope=scope,
        token_type="Bearer",  # noqa: S106 - a scheme name, not a secret
    )


class OAuthClient:
    """Token-endpoint calls for one app registration and environment. Airflow-free.

    :param endpoints: resolved URLs and scope (see :func:`~.environments.resolve_endpoints`).
    :param client_id: Application (client) ID.
    :param client_secret: client secret of a Web app registration; ``None`` for a public client.
    :param http: the caller's ``httpx.Client`` (its timeout bounds each attempt).
    :param retry: bounds for retrying transient failures; ``None`` means :class:`AuthRetryPolicy` defaults.
    """

    def __init__(
        self,
        *,
        endpoints: Endpoints,
        client_id: str,
        client_secret: str | None,
        http: httpx.Client,
        retry: AuthRetryPolicy | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.endpoints = endpoints
        self.client_id = client_id
        self._client_secret = client_secret
        self._http = http
        self.retry = retry or AuthRetryPolicy()
        self._clock = clock
        self.request_count = 0  # HTTP requests sent to the token endpoint, retries included

    def __repr__(self) -> str:
        return (
            f"OAuthClient(token_url={self.endpoints.token_url!r}, client_id={self.client_id!r}, "
            f"confidential={self._client_secret is not None})"
        )

    def authorization_url(
        self, *, redirect_uri: str, state: str, code_challenge: str, prompt: str | None = None
    ) -> str:
        """The /authorize URL for the authorization-code flow with PKCE (S256)."""
        params = {
            "client_id": self.client_id,
            "response_type": "code",
            "redirect_uri": redirect_uri,
            "response_mode": "query",
            "scope": self.endpoints.scope,
            "state": state,
            "code_challenge": code_challenge,
            "code_challenge_method": "S256",
        }
        if prompt:
            params["prompt"] = prompt
        return f"{self.endpoints.authorize_url}?{urlencode(params)}"

    def refresh(self, refresh_token: str) -> TokenResponse:
        """Redeem a refresh token (retrying transient failures within :attr:`retry`)."""
        form = {"grant_type": "refresh_token", "refresh_token": refresh_token}
        return self._token_request("refresh", form, secrets=(refresh_token,))

    def exchange_code(self, code: str, *, redirect_uri: str, code_verifier: str) -> TokenResponse:
        """Redeem an authorization code obtained with PKCE."""
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": redirect_uri,
            "code_verifier": code_verifier,
        }
        return self._token_request("code redemption", form, secrets=(code, code_verifier))

    def _token_request(self, grant: str, form: dict[str, str], *, secrets: tuple[str, ...]) -> TokenResponse:
        data = {"client_id": self.client_id, "scope": self.endpoints.scope, **form}
        if self._client_secret:
            data["client_secret"] = self._client_secret
        all_secrets = (*secrets, self._client_secret)
        # The budget holds end to end: every socket operation of every attempt ends by this deadline,
        # however slowly the endpoint drips its answer (client/http_client.py).
        with deadline(self.retry.max_total_seconds):
            for attempt in self.retry.retrying():
                with attempt:
                    return self._post_once(grant, data, all_secrets)
        raise AssertionError("unreachable: tenacity reraises the last error")  # pragma: no cover

    def _post_once(self, grant: str, data: dict[str, str], secrets: tuple[str | None, ...]) -> TokenResponse:
        self.request_count += 1
        try:
            response = self._http.post(
                self.endpoints.token_url, data=data, headers={"Accept": "application/json"}
            )
        except httpx.TimeoutException as err:
            raise TransientAuthError(
                f"token {grant} failed: the token endpoint timed out ({type(err).__name__}): "
                "retried with backoff"
            ) from None
        except httpx.TransportError as err:
            detail = _scrub(str(err), secrets)[:_MAX_QUOTE]
            raise TransientAuthError(
                f"token {grant} failed: cannot reach the token endpoint ({type(err).__name__}: {detail}): "
                "retried with backoff; check network access to the identity platform"
            ) from None
        if response.status_code != 200:
            raise _classify(response, grant=grant, secrets=secrets, public_client=self._client_secret is None)
        return _parse_success(response, grant=grant, now=self._clock())


#: How long a refresh lease keeps other workers waiting: the bound on the stall a killed holder causes
#: (only for workers without a usable access token; with one they keep working meanwhile).
DEFAULT_LEASE_TTL = 30.0
#: Minimum pause between writing a lease and re-reading it (randomised up to 2x, and at least 3x the
#: time the lease write took): a competing claim that read before ours must have landed by then.
DEFAULT_SETTLE_SECONDS = 0.2
_POLL_SECONDS = 0.25
_RACE_GRACE_SECONDS = 2.0


class _LegacyState:
    """A :class:`TokenStateStore` over a plain TokenStore and an optional AccessTokenCache."""

    def __init__(self, store: TokenStore, cache: AccessTokenCache | None) -> None:
        self.store = store
        self.cache = cache
        self._loaded: StoredRefreshToken | None = None

    def read_state(self) -> TokenState:
        refresh = self.store.load()
        access = self.cache.load_access_token() if self.cache is not None else None
        self._loaded = refresh
        generation = max(refresh.generation if refresh else 0, access.generation if access else 0)
        return TokenState(generation, refresh, access)

    def publish(self, state: TokenState) -> None:
        if state.refresh is not None and state.refresh is not self._loaded:
            self.store.save(state.refresh)  # raises TokenStoreError: the caller must not use the token
        if self.cache is not None and state.access is not None:
            try:
                self.cache.save_access_token(state.access)
            except Exception as err:  # sharing is an optimisation; the refresh token is already safe
                log.warning("could not share the new access token (other tasks will refresh): %s", err)


class RefreshTokenAuth:
    """Access tokens for API calls, from a refresh token that rotates and is never lost.

    * Reuses the access token until its refresh is due (a jittered margin of about 5-9 % of its
      lifetime, see :class:`~.token_cache.CachedAccessToken`), in memory, then from the shared state.
    * On refresh, persists the rotated refresh token (with the new access token, in one write)
      *before* the new access token is used; if that fails, :class:`TokenStoreError` propagates.
    * Chooses the newest refresh token: the stored chain if it descends from the connection's own
      refresh token (same fingerprint), else the connection's (a human re-consented: they win).
    * Single-flight: ``lock`` (a file lock) serialises refreshes on one machine; a lease in the shared
      store (:class:`~.token_cache.LeaseStore`) does it across machines. Workers that still hold a
      usable token keep using it while another refreshes; a holder that dies stalls the others for at
      most ``lease_ttl`` seconds. A refresh grant refused because another worker redeemed the same
      refresh token first (single-use tokens) continues with the chain that worker stored.
    * :meth:`invalidate` drops a token the API rejected (error 109 / HTTP 401); the next
      :meth:`get_access_token` refreshes unless someone already did. It never loops by itself.

    :param lease_ttl: how long a lease holds off other workers (the stall bound when a holder dies).
    :param settle_seconds: the minimum pause between claiming a lease and confirming it.
    """

    def __init__(
        self,
        *,
        oauth: OAuthClient,
        refresh_token: str,
        token_store: TokenStore | None = None,
        access_token_cache: AccessTokenCache | None = None,
        lock: FileLock | None = None,
        clock: Callable[[], float] = time.time,
        lease_ttl: float = DEFAULT_LEASE_TTL,
        settle_seconds: float = DEFAULT_SETTLE_SECONDS,
        sleep: Callable[[float], None] = time.sleep,
        monotonic: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
    ) -> None:
        self._oauth = oauth
        self._connection_refresh_token = refresh_token
        self._origin = fingerprint(refresh_token)
        store: TokenStore = token_store if token_store is not None else MemoryTokenStore()
        self._leases: LeaseStore | None = None
        if isinstance(store, TokenStateStore) and (
            access_token_cache is None or access_token_cache is cast(object, token_store)
        ):
            self._states: TokenStateStore = store
            self._leases = store if isinstance(store, LeaseStore) else None
        else:
            self._states = _LegacyState(store, access_token_cache)
        self._cache = access_token_cache if access_token_cache is not None else store
        self._lock = lock
        self._clock = clock
        self._sleep = sleep
        self._monotonic = monotonic
        self._rng = rng or random.Random()
        self._lease_ttl = lease_ttl
        self._settle = settle_seconds
        self._holder = secrets.token_hex(8)
        self._spread = self._rng.random()  # where in the refresh window this worker starts
        self._seen_leases: dict[tuple[str, int, float], float] = {}
        self._known_lease: Lease | None = None
        self._thread_lock = threading.RLock()
        self._access: CachedAccessToken | None = None
        self._recheck_at = 0.0
        self._rejected: deque[str] = deque(maxlen=8)
        self.refresh_count = 0  # refresh grants requested by this object
        self.recovered_races = 0  # grants refused because another worker redeemed the token first

    def __repr__(self) -> str:
        return f"RefreshTokenAuth(client_id={self._oauth.client_id!r}, refresh_count={self.refresh_count})"

    @classmethod
    def from_settings(
        cls,
        settings: ConnectionSettings,
        *,
        http: httpx.Client,
        token_store: TokenStore | None = None,
        access_token_cache: AccessTokenCache | None = None,
        retry: AuthRetryPolicy | None = None,
        lock: FileLock | None = None,
        clock: Callable[[], float] = time.time,
        lease_ttl: float = DEFAULT_LEASE_TTL,
        settle_seconds: float = DEFAULT_SETTLE_SECONDS,
    ) -> RefreshTokenAuth:
        """Build from connection settings.

        If ``access_token_cache`` is omitted and ``token_store`` also shares access tokens (the Airflow
        Variable store does), the store shares access tokens too. ``lock`` defaults to a file lock keyed
        like the store's chain (its ``lock_key``); an in-process :class:`MemoryTokenStore` needs none.
        """
        endpoints = settings.endpoints
        if access_token_cache is None and isinstance(token_store, AccessTokenCache):
            access_token_cache = token_store
        oauth = OAuthClient(
            endpoints=endpoints,
            client_id=settings.client_id,
            client_secret=settings.client_secret,
            http=http,
            retry=retry,
            clock=clock,
        )
        if lock is None and token_store is not None and not isinstance(token_store, MemoryTokenStore):
            key = getattr(token_store, "lock_key", None)
            parts = (
                (key,)
                if isinstance(key, str)
                else (
                    endpoints.token_url,
                    endpoints.scope,
                    settings.client_id,
                    fingerprint(settings.refresh_token),
                )
            )
            lock = FileLock.for_key(*parts)
        return cls(
            oauth=oauth,
            refresh_token=settings.refresh_token,
            token_store=token_store,
            access_token_cache=access_token_cache,
            lock=lock,
            clock=clock,
            lease_ttl=lease_ttl,
            settle_seconds=settle_seconds,
        )

    @property
    def refresh_lock(self) -> FileLock | None:
        """The lock that serialises refreshes on this machine (keyed like the store's chain)."""
        return self._lock

    def get_access_token(self) -> str:
        """A valid access token: cached if fresh, else shared by another task, else refreshed (once)."""
        with self._thread_lock:
            now = self._clock()
            mine = self._access
            if mine is not None and (
                mine.is_fresh(now, self._spread)
                or (mine.is_usable(now) and self._monotonic() < self._recheck_at)
            ):
                return mine.access_token
            state = self._states.read_state()
            shared = self._acceptable(state.access)
            if shared is not None and shared.is_fresh(now, self._spread):
                return self._adopt(shared)
            if self._lock is None:
                return self._single_flight(state)
            usable = shared is not None and shared.is_usable(now)
            with self._lock.hold(wait=not usable) as held:
                if not held and shared is not None and usable:  # a refresh is under way on this machine
                    return self._adopt(shared)
                if held:  # another process here may have published while we waited for the lock
                    state = self._states.read_state()
                return self._single_flight(state)

    def invalidate(self, access_token: str) -> None:
        """Forget ``access_token`` (rejected by the API); a token someone already replaced is a no-op."""
        with self._thread_lock:
            self._rejected.append(access_token)
            if self._access is not None and self._access.access_token == access_token:
                self._access = None
            if isinstance(self._cache, AccessTokenCache):
                # Shared stores only forget it locally (no rewrite outside the lease); the next refresh
                # replaces it for everyone. The rejected list guards this object regardless.
                try:
                    self._cache.discard_access_token(access_token)
                except Exception as err:
                    log.warning("could not drop the rejected access token from the shared cache: %s", err)

    # --- internals (called with the locks held) -----------------------------------------------------

    def _acceptable(self, cached: CachedAccessToken | None) -> CachedAccessToken | None:
        if (
            cached is None
            or cached.origin_fingerprint != self._origin
            or cached.access_token in self._rejected
        ):
            return None
        return cached

    def _adopt(self, token: CachedAccessToken) -> str:
        """Use ``token``; while its refresh is due, look at the shared state again only now and then."""
        self._access = token
        self._recheck_at = self._monotonic() + min(5.0, max(0.2, token.lifetime * 0.01))
        return token.access_token

    def _single_flight(self, state: TokenState) -> str:
        """Refresh, unless another worker is refreshing (then use the current token or wait for theirs)."""
        give_up = self._monotonic() + 2 * self._lease_ttl + 8 * self._settle
        while True:
            now = self._clock()
            shared = self._acceptable(state.access)
            if shared is not None and shared.is_fresh(now, self._spread):
                return self._adopt(shared)
            if self._leases is None:
                return self._refresh(state).access_token
            if self._monotonic() >= give_up:
                log.warning("no token from the refresh lease holder in time: refreshing here")
                return self._refresh(state).access_token
            if self._live_lease(state, now) is not None:
                if shared is not None and shared.is_usable(now):
                    return self._adopt(shared)  # keep working; the holder publishes soon
                self._sleep(_POLL_SECONDS)
                state = self._states.read_state()
                continue
            claim = self._claim(state, now)
            if claim is None:
                return self._refresh(state).access_token  # leases unavailable: refresh (warned)
            after, confirmed = claim
            if confirmed:
                return self._refresh(after).access_token
            state = after  # someone published, or another claim won: adopt, use current, or wait

    def _claim(self, state: TokenState, now: float) -> tuple[TokenState, bool] | None:
        """Write our lease, pause, re-read: (state, whether we hold the lease); None without leases.

        The pause (random, at least 3x the lease write's own duration) lets a competing claim that read
        the lease before ours landed show up; whoever's lease is read back after the pause refreshes.
        """
        assert self._leases is not None
        started = self._monotonic()
        try:
            self._leases.write_lease(Lease(self._holder, state.generation, now + self._lease_ttl))
        except TokenStoreError as err:
            log.warning("cannot write the refresh lease (%s): refreshing without it", err)
            return None
        took = self._monotonic() - started
        self._sleep(self._rng.uniform(1.0, 2.0) * max(self._settle, 3 * took))
        after = self._states.read_state()
        if after.generation != state.generation:
            return after, False
        lease = self._leases.read_lease()
        mine = lease is not None and lease.holder == self._holder and lease.generation == state.generation
        return after, mine

    def _live_lease(self, state: TokenState, now: float) -> Lease | None:
        """Another worker's lease on this generation that has not run out (by its clock AND ours).

        A lease already seen live for this generation is not read again until it runs out: a waiter
        only needs to see the generation change (one read per poll, not two).
        """
        assert self._leases is not None
        known = self._known_lease
        if known is not None and known.generation >= state.generation and self._lease_alive(known, now):
            return known
        lease = self._leases.read_lease()
        if lease is None or lease.holder == self._holder or lease.generation < state.generation:
            self._known_lease = None
            return None
        self._known_lease = lease if self._lease_alive(lease, now) else None
        return self._known_lease

    def _lease_alive(self, lease: Lease, now: float) -> bool:
        first_seen = self._seen_leases.setdefault(
            (lease.holder, lease.generation, lease.expires_at), self._monotonic()
        )
        return now < lease.expires_at and self._monotonic() - first_seen < self._lease_ttl

    def _current_refresh_token(self, state: TokenState) -> tuple[str, StoredRefreshToken | None]:
        """The newest refresh token we may use, and the stored record it came from (if any)."""
        stored = state.refresh
        if stored is None:
            return self._connection_refresh_token, None
        if stored.origin_fingerprint != self._origin:
            log.info(
                "the connection's refresh token changed since the stored rotation chain began "
                "(re-consent?): using the connection's token"
            )
            return self._connection_refresh_token, None
        return stored.refresh_token, stored

    def _refresh(self, state: TokenState, *, recovering: bool = False) -> CachedAccessToken:
        refresh_token, stored = self._current_refresh_token(state)
        now = self._clock()
        if stored is not None:
            _warn_if_old(now - stored.obtained_at)
        self.refresh_count += 1
        try:
            response = self._oauth.refresh(refresh_token)
        except TerminalAuthError as err:
            if err.error != "invalid_grant" or recovering:
                raise
            newer = self._await_newer_chain(state, refresh_token)
            if newer is None:
                raise
            self.recovered_races += 1
            log.info("another worker redeemed the refresh token first: continuing with the chain it stored")
            shared = self._acceptable(newer.access)
            if shared is not None and shared.is_usable(self._clock()):
                self._adopt(shared)
                return shared
            return self._refresh(newer, recovering=True)
        now = self._clock()
        generation = state.generation + 1
        rotated = bool(response.refresh_token) and response.refresh_token != refresh_token
        refresh = stored
        if rotated:
            assert response.refresh_token is not None
            refresh = StoredRefreshToken(
                refresh_token=response.refresh_token,
                origin_fingerprint=self._origin,
                obtained_at=now,
                chain_started_at=(stored.chain_started_at or stored.obtained_at) if stored else now,
                generation=generation,
            )
        access = CachedAccessToken(
            access_token=response.access_token,
            obtained_at=now,
            expires_at=now + response.expires_in,
            origin_fingerprint=self._origin,
            generation=generation,
        )
        try:
            # Persist BEFORE use: if this raises, the caller never sees the new access token.
            self._states.publish(TokenState(generation, refresh, access))
        except TokenStoreError:
            if rotated:
                raise
            log.warning("could not share the new access token (other tasks will refresh)")
        self._access = access
        return access

    def _await_newer_chain(self, state: TokenState, used: str) -> TokenState | None:
        """After invalid_grant: the state another worker published meanwhile, or None (a real refusal).

        Waits while another worker's lease is live (at most ``lease_ttl``), else a short grace period
        for a competing refresh already under way to be published.
        """
        deadline = self._monotonic() + (_RACE_GRACE_SECONDS if self._leases is not None else 0.0)
        while True:
            newer = self._states.read_state()
            chain = newer.refresh
            if newer.generation > state.generation or (
                chain is not None and chain.origin_fingerprint == self._origin and chain.refresh_token != used
            ):
                return newer
            if self._leases is None:
                return None
            lease = self._live_lease(newer, self._clock())
            if lease is not None:
                first = self._seen_leases[(lease.holder, lease.generation, lease.expires_at)]
                deadline = max(deadline, first + self._lease_ttl)
            if self._monotonic() >= deadline:
                return None
            self._sleep(_POLL_SECONDS)


def _warn_if_old(age_seconds: float) -> None:
    age_days = age_seconds / 86400
    if age_days >= REFRESH_TOKEN_WARN_AFTER_DAYS:
        log.warning(
            "the stored refresh token was issued %.0f days ago; Microsoft expires refresh tokens after about "
            "%.0f days without use. Run this pipeline more often than that, or %s before it lapses",
            age_days,
            REFRESH_TOKEN_LIFETIME_DAYS,
            _RECONSENT,
        )
