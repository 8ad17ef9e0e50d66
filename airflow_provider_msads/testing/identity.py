"""Emulated Microsoft identity platform: the v2.0 token and authorize endpoints.

Pure request -> response logic (no sockets): the server hands in the parsed form / query string and
gets back a status, headers and a body. Token lifetimes use :class:`Clock`, which tests can advance, so
"expires in 90 days" is testable in milliseconds.

Behaviour follows the Entra documentation (see ``oauth-errors.md`` in the shared pack):

* success: ``token_type``, ``scope``, ``expires_in``, ``ext_expires_in``, ``access_token``,
  ``refresh_token`` (only when ``offline_access`` was asked for);
* errors: ``error``, ``error_description`` ("AADSTSnnnnn: ... Trace ID ... Correlation ID ...
  Timestamp ..."), ``error_codes``, ``timestamp``, ``trace_id``, ``correlation_id``, ``error_uri``;
* refresh tokens rotate on every use and the old one stays valid until it expires (real behaviour);
  revoked -> AADSTS50173, expired -> AADSTS70008; auth codes are single use (AADSTS54005) and expire;
* ``single_use_refresh_tokens=True`` (stricter than Microsoft, as some identity platforms are): a
  redeemed refresh token is refused (invalid_grant, AADSTS70000), so a client whose workers race on one
  token, or that loses the newest token, fails visibly. ``refused_refresh_grants`` counts refusals.
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Literal
from urllib.parse import urlencode, urlsplit

from airflow_provider_msads.testing.codes import aadsts_code
from airflow_provider_msads.testing.demo import (
    DEMO_CLIENT_ID,
    DEMO_CLIENT_SECRET,
    DEMO_PUBLIC_CLIENT_ID,
    DEMO_REFRESH_TOKEN,
    NATIVE_CLIENT_REDIRECT_URI,
    PRODUCTION_SCOPE_RESOURCES,
    SANDBOX_SCOPE_RESOURCES,
)

EnvironmentName = Literal["production", "sandbox"]

DEFAULT_ACCESS_TOKEN_TTL = 3600.0
DEFAULT_REFRESH_TOKEN_TTL = 90 * 86400.0
AUTH_CODE_TTL = 600.0
_TENANT_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.\-]{0,253}$")


class Clock:
    """Wall clock plus an offset that tests move forward (``advance``) to expire tokens."""

    def __init__(self) -> None:
        self._offset = 0.0
        self._lock = threading.Lock()

    def now(self) -> float:
        return time.time() + self._offset

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._offset += seconds

    def reset(self) -> None:
        with self._lock:
            self._offset = 0.0


@dataclass(frozen=True, slots=True)
class Client:
    """An app registration: confidential clients have a secret, public ones must not send one."""

    client_id: str
    secret: str | None
    redirect_uris: tuple[str, ...] = (NATIVE_CLIENT_REDIRECT_URI,)
    allow_loopback_redirects: bool = True


@dataclass(slots=True)
class RefreshToken:
    token: str
    user_id: int
    client_id: str
    issued_at: float
    expires_at: float | None  # None: never (the demo token)
    revoked: bool = False
    redeemed: bool = False  # used once (matters only with single-use refresh tokens)


@dataclass(frozen=True, slots=True)
class AccessToken:
    token: str
    user_id: int
    client_id: str
    environment: EnvironmentName
    scope: str
    issued_at: float
    expires_at: float


@dataclass(slots=True)
class AuthCode:
    code: str
    user_id: int
    client_id: str
    redirect_uri: str
    scope: str
    code_challenge: str | None
    code_challenge_method: str | None
    expires_at: float
    redeemed: bool = False


@dataclass(frozen=True, slots=True)
class OAuthResponse:
    status: int
    body: dict[str, Any] | None = None  # JSON body (token endpoint)
    headers: dict[str, str] = field(default_factory=dict)
    html: str | None = None  # HTML body (authorize endpoint errors)


class OAuthError(Exception):
    """Internal: carries an AADSTS code up to the endpoint, which renders the Entra error JSON."""

    def __init__(self, code: int, detail: str | None = None) -> None:
        super().__init__(code)
        self.code = code
        self.detail = detail


def scope_environment(scope: str) -> tuple[EnvironmentName, str]:
    """Which environment a requested scope targets, and the resource scope echoed back.

    Raises ``OAuthError(70011)`` for a scope that names neither Microsoft Advertising resource.
    """
    parts = scope.split()
    env: EnvironmentName | None = None
    resource = ""
    for part in parts:
        if part in PRODUCTION_SCOPE_RESOURCES:
            found: EnvironmentName = "production"
        elif part in SANDBOX_SCOPE_RESOURCES:
            found = "sandbox"
        elif part in ("offline_access", "openid", "profile", "email"):
            continue
        else:
            raise OAuthError(
                70011, f"The provided value for the input parameter 'scope' isn't valid: {part!r}."
            )
        if env is not None and env != found:
            raise OAuthError(70011, "The scope mixes production and sandbox resources.")
        env, resource = found, part
    if env is None:
        raise OAuthError(70011)
    if not resource.startswith("https://"):
        resource = f"https://ads.microsoft.com/{resource}"
    return env, resource


def _pkce_s256(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).decode("ascii").rstrip("=")


class IdentityPlatform:
    """Clients, tokens and the two OAuth endpoints. Thread-safe: one lock around token state."""

    def __init__(
        self,
        clock: Clock,
        *,
        demo_user_id: int,
        access_token_ttl: float = DEFAULT_ACCESS_TOKEN_TTL,
        refresh_token_ttl: float = DEFAULT_REFRESH_TOKEN_TTL,
        single_use_refresh_tokens: bool = False,
    ) -> None:
        self.clock = clock
        self.demo_user_id = demo_user_id
        self.access_token_ttl = access_token_ttl
        self.refresh_token_ttl = refresh_token_ttl
        self.single_use_refresh_tokens = single_use_refresh_tokens
        #: Refused refresh grants by AADSTS code (e.g. 70000: a single-use token redeemed twice).
        self.refused_refresh_grants: Counter[int] = Counter()
        self._lock = threading.RLock()
        self.clients: dict[str, Client] = {}
        self.refresh_tokens: dict[str, RefreshToken] = {}
        self.access_tokens: dict[str, AccessToken] = {}
        self.auth_codes: dict[str, AuthCode] = {}
        #: Who "signs in" at the authorize endpoint, and whether they decline consent.
        self.consent_user_id = demo_user_id
        self.deny_consent = False
        self.reset()

    def reset(self) -> None:
        """Back to the documented defaults: demo clients and the never-expiring demo refresh token."""
        with self._lock:
            self.clients = {
                DEMO_CLIENT_ID: Client(DEMO_CLIENT_ID, DEMO_CLIENT_SECRET),
                DEMO_PUBLIC_CLIENT_ID: Client(DEMO_PUBLIC_CLIENT_ID, None),
            }
            self.refresh_tokens = {
                DEMO_REFRESH_TOKEN: RefreshToken(
                    DEMO_REFRESH_TOKEN, self.demo_user_id, DEMO_CLIENT_ID, 0.0, None
                )
            }
            self.access_tokens = {}
            self.auth_codes = {}
            self.refused_refresh_grants.clear()
            self.consent_user_id = self.demo_user_id
            self.deny_consent = False

    # ------------------------------------------------------------------ test helpers
    def register_client(self, client: Client) -> None:
        with self._lock:
            self.clients[client.client_id] = client

    def issue_refresh_token(
        self, user_id: int, client_id: str = DEMO_CLIENT_ID, *, lifetime: float | None = None
    ) -> str:
        """Mint a refresh token as if ``user_id`` had consented (lifetime None: the configured default)."""
        now = self.clock.now()
        token = "M.C5_emu." + secrets.token_urlsafe(48)
        ttl = self.refresh_token_ttl if lifetime is None else lifetime
        with self._lock:
            self.refresh_tokens[token] = RefreshToken(token, user_id, client_id, now, now + ttl)
        return token

    def issue_access_token(
        self,
        user_id: int,
        environment: EnvironmentName = "production",
        client_id: str = DEMO_CLIENT_ID,
        *,
        ttl: float | None = None,
    ) -> str:
        """Mint an access token directly (tests that only exercise the API, not OAuth)."""
        now = self.clock.now()
        token = "EwB" + secrets.token_urlsafe(60)
        scope = PRODUCTION_SCOPE_RESOURCES[0] if environment == "production" else SANDBOX_SCOPE_RESOURCES[0]
        lifetime = self.access_token_ttl if ttl is None else ttl
        with self._lock:
            self.access_tokens[token] = AccessToken(
                token, user_id, client_id, environment, scope, now, now + lifetime
            )
        return token

    def revoke_refresh_token(self, token: str) -> None:
        with self._lock:
            record = self.refresh_tokens.get(token)
            if record is None:
                raise KeyError("unknown refresh token")
            record.revoked = True

    def revoke_all_refresh_tokens(self, user_id: int | None = None) -> None:
        """What "sign out everywhere" / a password change does (AADSTS50173 afterwards)."""
        with self._lock:
            for record in self.refresh_tokens.values():
                if user_id is None or record.user_id == user_id:
                    record.revoked = True

    def expire_access_tokens(self) -> None:
        now = self.clock.now()
        with self._lock:
            for key, tok in list(self.access_tokens.items()):
                self.access_tokens[key] = AccessToken(
                    tok.token, tok.user_id, tok.client_id, tok.environment, tok.scope, tok.issued_at, now - 1
                )

    def lookup_access_token(self, token: str) -> AccessToken | None:
        with self._lock:
            return self.access_tokens.get(token)

    # ------------------------------------------------------------------ token endpoint
    def token_endpoint(self, tenant: str, form: dict[str, str]) -> tuple[str | None, OAuthResponse]:
        """Handle POST /{tenant}/oauth2/v2.0/token. Returns (grant type, response)."""
        grant_type = form.get("grant_type")
        try:
            if not _TENANT_RE.match(tenant):
                raise OAuthError(90002, f"Tenant '{tenant}' not found.")
            if not grant_type:
                raise OAuthError(900144)
            client = self._authenticate_client(form)
            if grant_type == "refresh_token":
                try:
                    body = self._refresh_grant(client, form)
                except OAuthError as exc:
                    with self._lock:
                        self.refused_refresh_grants[exc.code] += 1
                    raise
            elif grant_type == "authorization_code":
                body = self._code_grant(client, form)
            else:
                raise OAuthError(70003, f"The app requested an unsupported grant type '{grant_type}'.")
        except OAuthError as exc:
            return grant_type, self.error_response(exc.code, exc.detail)
        return grant_type, OAuthResponse(
            200, body, {"Cache-Control": "no-store, no-cache", "Pragma": "no-cache"}
        )

    def _authenticate_client(self, form: dict[str, str]) -> Client:
        client_id = form.get("client_id")
        if not client_id:
            raise OAuthError(900144, "The request body must contain the following parameter: 'client_id'.")
        client = self.clients.get(client_id)
        if client is None:
            raise OAuthError(
                700016,
                f"Application with identifier '{client_id}' was not found in the directory 'Emulator'. "
                "This can "
                "happen if the application has not been installed by the administrator of the tenant "
                "or consented "
                "to by any user in the tenant. You may have sent your authentication request to the "
                "wrong tenant.",
            )
        secret = form.get("client_secret")
        if client.secret is None:
            if secret is not None:
                raise OAuthError(700025)
        elif secret is None or secret == "":
            raise OAuthError(7000218)
        elif not secrets.compare_digest(secret.encode(), client.secret.encode()):
            raise OAuthError(
                7000215,
                "Invalid client secret provided. Ensure the secret being sent in the request is the "
                "client secret "
                f"value, not the client secret ID, for a secret added to app '{client.client_id}'.",
            )
        return client

    def _refresh_grant(self, client: Client, form: dict[str, str]) -> dict[str, Any]:
        token = form.get("refresh_token")
        if not token:
            raise OAuthError(
                900144, "The request body must contain the following parameter: 'refresh_token'."
            )
        scope = form.get("scope") or ""
        environment, resource = scope_environment(scope)
        now = self.clock.now()
        with self._lock:
            record = self.refresh_tokens.get(token)
            if record is None:
                raise OAuthError(9002313, "Invalid request. Request is malformed or invalid.")
            if record.client_id != client.client_id:
                raise OAuthError(
                    70000, "Provided grant is invalid or malformed (issued to a different client)."
                )
            if record.revoked:
                raise OAuthError(50173)
            if record.expires_at is not None and now >= record.expires_at:
                issued = datetime.fromtimestamp(record.issued_at, timezone.utc).strftime(
                    "%Y-%m-%dT%H:%M:%S.%fZ"
                )
                raise OAuthError(
                    70008,
                    "The provided authorization code or refresh token has expired due to inactivity. "
                    "Send a new "
                    "interactive authorization request for this user and resource. The refresh token "
                    "was issued "
                    f"on {issued}.",
                )
            if self.single_use_refresh_tokens:
                if record.redeemed:
                    raise OAuthError(
                        70000,
                        "Provided grant is invalid or malformed: the refresh token was already redeemed "
                        "(this emulator issues single-use refresh tokens).",
                    )
                record.redeemed = True
            return self._issue(record.user_id, client.client_id, environment, resource, scope)

    def _code_grant(self, client: Client, form: dict[str, str]) -> dict[str, Any]:
        code = form.get("code")
        if not code:
            raise OAuthError(900144, "The request body must contain the following parameter: 'code'.")
        now = self.clock.now()
        with self._lock:
            record = self.auth_codes.get(code)
            if record is None or record.client_id != client.client_id:
                raise OAuthError(70000, "Provided grant is invalid or malformed.")
            if record.redeemed:
                raise OAuthError(54005)
            if now >= record.expires_at:
                raise OAuthError(70008)
            if form.get("redirect_uri") != record.redirect_uri:
                raise OAuthError(
                    50011,
                    f"The redirect URI '{form.get('redirect_uri')}' specified in the request does not "
                    "match the "
                    f"redirect URI used to obtain the authorization code.",
                )
            if record.code_challenge is not None:
                verifier = form.get("code_verifier")
                if not verifier:
                    raise OAuthError(
                        900144, "The request body must contain the following parameter: 'code_verifier'."
                    )
                if _pkce_s256(verifier) != record.code_challenge:
                    raise OAuthError(501481)
            record.redeemed = True
            scope = form.get("scope") or record.scope
            environment, resource = scope_environment(scope)
            return self._issue(record.user_id, client.client_id, environment, resource, scope)

    def _issue(
        self, user_id: int, client_id: str, environment: EnvironmentName, resource: str, scope: str
    ) -> dict[str, Any]:
        now = self.clock.now()
        access = "EwB" + secrets.token_urlsafe(60)
        self.access_tokens[access] = AccessToken(
            access, user_id, client_id, environment, resource, now, now + self.access_token_ttl
        )
        ttl = int(self.access_token_ttl)
        body: dict[str, Any] = {
            "token_type": "Bearer",
            "scope": resource,
            "expires_in": ttl,
            "ext_expires_in": ttl,
            "access_token": access,
        }
        if "offline_access" in scope.split():
            refresh = "M.C5_emu." + secrets.token_urlsafe(48)
            self.refresh_tokens[refresh] = RefreshToken(
                refresh, user_id, client_id, now, now + self.refresh_token_ttl
            )
            body["refresh_token"] = refresh
        return body

    def error_response(
        self, code: int, detail: str | None = None, *, status: int | None = None
    ) -> OAuthResponse:
        """The Entra error JSON for an AADSTS code."""
        info = aadsts_code(code)
        trace_id, correlation_id = str(uuid.uuid4()), str(uuid.uuid4())
        stamp = datetime.fromtimestamp(self.clock.now(), timezone.utc).strftime("%Y-%m-%d %H:%M:%SZ")
        text = detail or info.description
        body = {
            "error": info.error,
            "error_description": (
                f"AADSTS{code}: {text} Trace ID: {trace_id} Correlation ID: {correlation_id} "
                f"Timestamp: {stamp}"
            ),
            "error_codes": [code],
            "timestamp": stamp,
            "trace_id": trace_id,
            "correlation_id": correlation_id,
            "error_uri": f"https://login.microsoftonline.com/error?code={code}",
        }
        return OAuthResponse(status or info.http_status, body, {"Cache-Control": "no-store, no-cache"})

    # ------------------------------------------------------------------ authorize endpoint
    def authorize_endpoint(self, tenant: str, query: dict[str, str]) -> OAuthResponse:
        """Handle GET /{tenant}/oauth2/v2.0/authorize: auto-consent and 302 back with code + state.

        Problems with client_id / redirect_uri cannot be redirected (the URI is not trusted), so they get an
        HTML error page, as on the real sign-in page. Everything else redirects with error parameters.
        """
        client = self.clients.get(query.get("client_id", ""))
        if not _TENANT_RE.match(tenant):
            return self._error_page(90002, f"Tenant '{tenant}' not found.")
        if client is None:
            return self._error_page(
                700016, f"Application with identifier '{query.get('client_id')}' was not found."
            )
        redirect_uri = query.get("redirect_uri", "")
        if not self._redirect_allowed(client, redirect_uri):
            return self._error_page(
                50011,
                f"The redirect URI '{redirect_uri}' specified in the request does not match the "
                "redirect URIs "
                f"configured for the application '{client.client_id}'.",
            )
        state = query.get("state")

        def back(params: dict[str, str]) -> OAuthResponse:
            if state is not None:
                params["state"] = state
            sep = "&" if urlsplit(redirect_uri).query else "?"
            return OAuthResponse(302, None, {"Location": redirect_uri + sep + urlencode(params)})

        def error(error: str, code: int, text: str) -> OAuthResponse:
            trace = str(uuid.uuid4())
            return back(
                {
                    "error": error,
                    "error_description": f"AADSTS{code}: {text} Trace ID: {trace}",
                    "error_codes": str(code),
                }
            )

        if query.get("response_type") != "code":
            return error(
                "unsupported_response_type", 70005, "The provided value for 'response_type' is not supported."
            )
        try:
            scope_environment(query.get("scope", ""))
        except OAuthError as exc:
            return error("invalid_scope", exc.code, exc.detail or aadsts_code(exc.code).description)
        challenge = query.get("code_challenge")
        method = query.get("code_challenge_method")
        if challenge is not None and (method or "plain") != "S256":
            return error(
                "invalid_request", 90014, "Only the S256 code_challenge_method is supported by the emulator."
            )
        if self.deny_consent:
            return error(
                "access_denied",
                65004,
                "User declined to consent to access the app.",
            )
        code = "0.AQ-emu." + secrets.token_urlsafe(48)
        with self._lock:
            self.auth_codes[code] = AuthCode(
                code,
                self.consent_user_id,
                client.client_id,
                redirect_uri,
                query.get("scope", ""),
                challenge,
                method,
                self.clock.now() + AUTH_CODE_TTL,
            )
        return back({"code": code})

    @staticmethod
    def _redirect_allowed(client: Client, redirect_uri: str) -> bool:
        if redirect_uri in client.redirect_uris:
            return True
        parts = urlsplit(redirect_uri)
        return (
            client.allow_loopback_redirects
            and parts.scheme == "http"
            and parts.hostname in ("localhost", "127.0.0.1", "::1")
        )

    def _error_page(self, code: int, text: str) -> OAuthResponse:
        from html import escape

        info = aadsts_code(code)
        page = (
            "<!DOCTYPE html><html><head><title>Sign in to your account</title></head><body>"
            f"<h1>Sorry, but we're having trouble signing you in.</h1><p>AADSTS{code}: {escape(text)}</p>"
            f"<p>error: {escape(info.error)}</p></body></html>"
        )
        return OAuthResponse(400, None, {}, page)
