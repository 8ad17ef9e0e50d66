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
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import httpx
import tenacity

from airflow_provider_msads.client import signin_errors
from airflow_provider_msads.client.environments import Endpoints
from airflow_provider_msads.client.errors import AuthError, TerminalAuthError, TransientAuthError
from airflow_provider_msads.client.protocols import StoredRefreshToken, TokenStore
from airflow_provider_msads.client.settings import ConnectionSettings
from airflow_provider_msads.client.signin_errors import aadsts_code
from airflow_provider_msads.client.token_cache import (
    AccessTokenCache,
    CachedAccessToken,
    FileLock,
    MemoryTokenStore,
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
            wait=tenacity.wait_exponential_jitter(
                initial=self.initial_wait, max=self.max_wait, jitter=self.jitter
            ),
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


class RefreshTokenAuth:
    """Access tokens for API calls, from a refresh token that rotates and is never lost.

    * Reuses the access token until 5 minutes before expiry (in memory, then the shared cache).
    * On refresh, persists the rotated refresh token through ``token_store`` *before* the new access
      token is used; if that fails, :class:`TokenStoreError` propagates and the token is not used.
    * Chooses the newest refresh token: the stored chain if it descends from the connection's own
      refresh token (same fingerprint), else the connection's (a human re-consented: they win).
    * Serialises refreshes with ``lock`` (a file lock across processes) and re-checks the shared
      cache after taking it, so concurrent tasks refresh once.
    * :meth:`invalidate` drops a token the API rejected (error 109 / HTTP 401); the next
      :meth:`get_access_token` refreshes unless someone already did. It never loops by itself.
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
    ) -> None:
        self._oauth = oauth
        self._connection_refresh_token = refresh_token
        self._origin = fingerprint(refresh_token)
        self._store: TokenStore = token_store if token_store is not None else MemoryTokenStore()
        self._cache = access_token_cache
        self._lock = lock
        self._clock = clock
        self._thread_lock = threading.RLock()
        self._access: CachedAccessToken | None = None
        self._rejected: deque[str] = deque(maxlen=8)
        self.refresh_count = 0  # refresh grants requested by this object

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
    ) -> RefreshTokenAuth:
        """Build from connection settings.

        If ``access_token_cache`` is omitted and ``token_store`` also implements
        :class:`AccessTokenCache` (the Airflow Variable store does), the store shares access tokens too.
        ``lock`` defaults to a file lock keyed by token URL, client id and the connection's refresh token.
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
        if lock is None:
            lock = FileLock.for_key(
                endpoints.token_url, endpoints.scope, settings.client_id, fingerprint(settings.refresh_token)
            )
        return cls(
            oauth=oauth,
            refresh_token=settings.refresh_token,
            token_store=token_store,
            access_token_cache=access_token_cache,
            lock=lock,
            clock=clock,
        )

    def get_access_token(self) -> str:
        """A valid access token: cached if fresh, else shared by another task, else refreshed (once)."""
        with self._thread_lock:
            if self._access is not None and self._access.is_fresh(self._clock()):
                return self._access.access_token
            if self._lock is None:
                return self._obtain()
            with self._lock.hold():
                return self._obtain()

    def invalidate(self, access_token: str) -> None:
        """Forget ``access_token`` (rejected by the API); a token someone already replaced is a no-op."""
        with self._thread_lock:
            self._rejected.append(access_token)
            if self._access is not None and self._access.access_token == access_token:
                self._access = None
            if self._cache is not None:
                # The shared copy is an optimisation; the rejected list still guards this object.
                try:
                    self._cache.discard_access_token(access_token)
                except Exception as err:
                    log.warning("could not drop the rejected access token from the shared cache: %s", err)

    # --- internals (called with the locks held) -----------------------------------------------------

    def _obtain(self) -> str:
        now = self._clock()
        shared = self._load_shared()
        if shared is not None and shared.is_fresh(now):
            self._access = shared
            return shared.access_token
        return self._refresh().access_token

    def _load_shared(self) -> CachedAccessToken | None:
        if self._cache is None:
            return None
        cached = self._cache.load_access_token()
        if (
            cached is None
            or cached.origin_fingerprint != self._origin
            or cached.access_token in self._rejected
        ):
            return None
        return cached

    def _current_refresh_token(self) -> tuple[str, StoredRefreshToken | None]:
        """The newest refresh token we may use, and the stored record it came from (if any)."""
        stored = self._store.load()
        if stored is None:
            return self._connection_refresh_token, None
        if stored.origin_fingerprint != self._origin:
            log.info(
                "the connection's refresh token changed since the stored rotation chain began "
                "(re-consent?): using the connection's token"
            )
            return self._connection_refresh_token, None
        return stored.refresh_token, stored

    def _refresh(self) -> CachedAccessToken:
        refresh_token, stored = self._current_refresh_token()
        now = self._clock()
        if stored is not None:
            _warn_if_old(now - stored.obtained_at)
        self.refresh_count += 1
        response = self._oauth.refresh(refresh_token)
        now = self._clock()
        if response.refresh_token and response.refresh_token != refresh_token:
            # Persist BEFORE use: if this raises, the caller never sees the new access token.
            self._store.save(
                StoredRefreshToken(
                    refresh_token=response.refresh_token,
                    origin_fingerprint=self._origin,
                    obtained_at=now,
                    chain_started_at=stored.chain_started_at if stored else None,
                )
            )
        access = CachedAccessToken(
            access_token=response.access_token,
            obtained_at=now,
            expires_at=now + response.expires_in,
            origin_fingerprint=self._origin,
        )
        if self._cache is not None:
            try:
                self._cache.save_access_token(access)
            except Exception as err:  # sharing is an optimisation; the refresh token is already safe
                log.warning("could not share the new access token (other tasks will refresh): %s", err)
        self._access = access
        return access


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
