"""The Connect flow's FastAPI app: mounted by the plugin at ``/msads`` on the Airflow API server.

Routes (below the mount):

* ``GET  /connect``            choose a connection, or (``?conn_id=``) the form for one
* ``POST /connect/start``      validate the form, remember the sign-in, 303 to Microsoft's /authorize
* ``GET  /connect/callback``   the redirect URI: redeem the code, save the refresh token, 303 to the result
* ``GET  /connect/done``       the result: which user, how many accounts

Everything Airflow-specific (who is signed in, may they edit connections, the ORM) sits behind
:class:`ConnectBackend`, so the routes are tested with a fake and no Airflow server.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any, Protocol
from urllib.parse import parse_qsl, urlencode, urlsplit

import httpx
from fastapi import Depends, FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from airflow_provider_msads.client.auth import AuthRetryPolicy, OAuthClient, TokenResponse
from airflow_provider_msads.client.client import new_http_client
from airflow_provider_msads.client.connection_fields import SECRET_EXTRAS
from airflow_provider_msads.client.errors import AuthError
from airflow_provider_msads.client.pkce import new_pkce_pair
from airflow_provider_msads.plugins import templates
from airflow_provider_msads.plugins.flow import (
    CALLBACK_PATH,
    CONN_TYPE,
    ConnectionDraft,
    ConnectResult,
    ExistingConnection,
    ExpiringStore,
    FlowError,
    FormError,
    PendingConsent,
    StateStore,
    build_redirect_uri,
    check_new_conn_id,
    describe_identity_error,
    draft_from_form,
    summarise_access,
)

log = logging.getLogger(__name__)
#: A person waits for each call: shorter than the hook's timeouts. The client itself is the hook's kind.
_HTTP_TIMEOUT = httpx.Timeout(30.0, connect=10.0)

MAX_FORM_BYTES = 64 * 1024
#: Sent with every response: nothing is cached, no URL ever leaves as a Referer, no script runs.
SECURITY_HEADERS = {
    "Cache-Control": "no-store, max-age=0",
    "Pragma": "no-cache",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "X-Robots-Tag": "noindex, nofollow",
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; base-uri 'none'; "
        "frame-ancestors 'self'"
    ),
}
_ICON = (
    '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 20 20"><rect x="1" y="1" width="8.5" height="8.5" '
    'fill="#f25022"/><rect x="10.5" y="1" width="8.5" height="8.5" fill="#7fba00"/><rect x="1" y="10.5" '
    'width="8.5" height="8.5" fill="#00a4ef"/><rect x="10.5" y="10.5" width="8.5" height="8.5" '
    'fill="#ffb900"/></svg>'
)


@dataclass(frozen=True, slots=True)
class SignedInUser:
    """The Airflow user behind a request; ``raw`` is the auth manager's own user object."""

    id: str
    name: str
    raw: Any = field(default=None, repr=False, compare=False)


class ConnectBackend(Protocol):
    """What the routes need from Airflow (see :mod:`.backend` for the real one)."""

    async def current_user(self, request: Request) -> SignedInUser | None:
        """The user of the request's Airflow JWT, or None when not signed in."""
        ...

    def login_url(self, next_url: str) -> str: ...

    def may_edit(self, user: SignedInUser, conn_id: str | None, *, create: bool) -> bool:
        """Whether the auth manager lets ``user`` create (POST) or update (PUT) the connection."""
        ...

    def list_connections(self) -> list[ExistingConnection]: ...

    def get_connection(self, conn_id: str) -> ExistingConnection | None: ...

    def env_override(self, conn_id: str) -> str | None:
        """A message when the connection is defined outside the metadata database (which would win)."""
        ...

    def save_connection(self, draft: ConnectionDraft, refresh_token: str, *, user: SignedInUser) -> bool:
        """Create or update the connection with the refresh token; True when it was created."""
        ...

    def public_base_url(self) -> str | None:
        """``[api] base_url`` when it is an absolute URL (what users open), else None."""
        ...

    def airflow_url(self, path: str) -> str:
        """An Airflow UI URL below the configured base path (``/``, ``/connections``)."""
        ...

    def mask(self, *values: str | None) -> None:
        """Register secrets with Airflow's log masker."""
        ...


@dataclass(slots=True)
class ConnectState:
    """Per-app state: the two stores and the HTTP client shared by token and API calls."""

    pending: StateStore[PendingConsent]
    results: StateStore[ConnectResult]
    http: httpx.Client


def create_app(
    backend: ConnectBackend,
    *,
    http: httpx.Client | None = None,
    pending: StateStore[PendingConsent] | None = None,
    results: StateStore[ConnectResult] | None = None,
) -> FastAPI:
    """Build the app. ``http`` (default: a new client with a 30 s timeout) makes the outbound calls.

    ``pending`` / ``results`` default to in-process stores (one process only); the plugin passes
    stores in the metadata database, so any API-server process can serve any step.
    """
    app = FastAPI(title="Microsoft Advertising: Connect", docs_url=None, redoc_url=None, openapi_url=None)
    ctx = ConnectState(
        pending=pending if pending is not None else ExpiringStore[PendingConsent](),
        results=results if results is not None else ExpiringStore[ConnectResult](),
        http=http if http is not None else new_http_client(_HTTP_TIMEOUT),
    )
    app.state.connect = ctx
    app.state.backend = backend

    @app.middleware("http")
    async def security_headers(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        response = await call_next(request)
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        return response

    @app.exception_handler(FlowError)
    async def flow_error(request: Request, err: FlowError) -> HTMLResponse:
        return _problem(request, backend, err)

    @app.get("/", include_in_schema=False)
    def root(request: Request) -> RedirectResponse:
        return RedirectResponse(_url(request, "/connect"), status_code=303)

    @app.get("/icon.svg", include_in_schema=False)
    def icon() -> Response:
        return Response(_ICON, media_type="image/svg+xml", headers={"Cache-Control": "public, max-age=86400"})

    @app.get("/connect", name="choose", response_class=HTMLResponse)
    def choose(
        request: Request, user: CurrentUser, conn_id: str | None = None, new: str | None = None
    ) -> Response:
        if user is None:
            return RedirectResponse(backend.login_url(str(request.url)), status_code=303)
        if conn_id is None:
            return _choose_page(request, backend, user)
        existing = backend.get_connection(conn_id)
        if existing is None:
            try:
                conn_id = check_new_conn_id(conn_id)
            except FormError as err:
                return _choose_page(request, backend, user, error=err.message, status=400)
        elif existing.conn_type != CONN_TYPE:
            return _choose_page(
                request,
                backend,
                user,
                error=f"A connection {conn_id!r} already exists with type {existing.conn_type!r}: "
                "choose another id.",
                status=409,
            )
        _require_edit(backend, user, conn_id, create=existing is None)
        return _form_page(request, backend, conn_id=conn_id, existing=existing, values=None, errors={})

    @app.post("/connect/start", name="start", response_class=HTMLResponse)
    def start(
        request: Request, user: CurrentUser, form: Annotated[dict[str, str], Depends(_form_fields)]
    ) -> Response:
        if user is None:
            raise FlowError(
                "You are not signed in to Airflow",
                "Your Airflow session ended before the form was sent.",
                "Sign in to Airflow, then open Microsoft Advertising → Connect again.",
                status=401,
            )
        _require_same_origin(request, backend)
        conn_id = (form.get("conn_id") or "").strip()
        existing = backend.get_connection(conn_id) if conn_id else None
        if existing is None:
            try:
                conn_id = check_new_conn_id(conn_id)
            except FormError as err:
                return _choose_page(request, backend, user, error=err.message, status=400)
        elif existing.conn_type != CONN_TYPE:
            raise FlowError(
                "Not a Microsoft Advertising connection",
                f"The connection {conn_id!r} has type {existing.conn_type!r}.",
                "Choose a Microsoft Advertising connection or a new connection id.",
                status=409,
            )
        _require_edit(backend, user, conn_id, create=existing is None)
        override = backend.env_override(conn_id)
        if override:
            raise FlowError("This connection is defined outside Airflow's database", override, _OVERRIDE_FIX)
        try:
            draft = draft_from_form(form, conn_id=conn_id, existing=existing)
        except FormError as err:
            backend.mask(*(form.get(name) for name in SECRET_EXTRAS))
            return _form_page(
                request,
                backend,
                conn_id=conn_id,
                existing=existing,
                values=form,
                errors={err.field: err.message},
            )
        backend.mask(*draft.secrets)
        redirect_uri = _redirect_uri(request, backend)
        assert draft.endpoints is not None  # resolved by draft_from_form
        oauth = OAuthClient(
            endpoints=draft.endpoints,
            client_id=draft.client_id,
            client_secret=draft.client_secret,
            http=ctx.http,
        )
        pkce = new_pkce_pair()
        key = ctx.pending.put(
            PendingConsent(draft=draft, code_verifier=pkce.verifier, redirect_uri=redirect_uri), owner=user.id
        )
        url = oauth.authorization_url(
            redirect_uri=redirect_uri, state=key, code_challenge=pkce.challenge, prompt="select_account"
        )
        log.info(
            "Microsoft Advertising sign-in started for connection %s by Airflow user %s", conn_id, user.name
        )
        return RedirectResponse(url, status_code=303)

    @app.get("/connect/callback", name="callback", response_class=HTMLResponse)
    def callback(
        request: Request,
        user: CurrentUser,
        state: str = "",
        code: str = "",
        error: str = "",
        error_description: str = "",
    ) -> Response:
        backend.mask(code)  # before anything else: the access log line of this request then shows ***
        if user is None:
            raise FlowError(
                "You are not signed in to Airflow",
                "The sign-in came back, but this browser has no Airflow session, so it cannot be matched "
                "to the user who started it.",
                "Sign in to Airflow, then open Microsoft Advertising → Connect again.",
                status=401,
            )
        pending = ctx.pending.take(state, owner=user.id)
        draft = pending.draft
        retry_url = _form_url(request, draft.conn_id, create=draft.create)
        if error:
            raise _with_retry(
                describe_identity_error(
                    error=error,
                    description=error_description,
                    redirect_uri=pending.redirect_uri,
                    tenant=draft.tenant,
                ),
                retry_url,
            )
        if not code:
            raise _with_retry(
                FlowError(
                    "No authorization code came back",
                    "The identity platform redirected back without a code or an error.",
                    "Press “Sign in with Microsoft” again.",
                ),
                retry_url,
            )
        existing = backend.get_connection(draft.conn_id)
        if existing is not None and existing.conn_type != CONN_TYPE:
            raise FlowError(
                "Not a Microsoft Advertising connection",
                f"The connection {draft.conn_id!r} was changed to type {existing.conn_type!r} meanwhile.",
                "Start again with another connection id.",
                status=409,
            )
        _require_edit(backend, user, draft.conn_id, create=existing is None)
        token = _redeem(ctx, draft, pending, code, backend, retry_url)
        if not token.refresh_token:
            raise _with_retry(
                FlowError(
                    "No refresh token was issued",
                    "The identity platform signed you in but returned no refresh token, so Airflow could "
                    "not keep access.",
                    "Make sure the scope includes offline_access (remove any scope override), then sign in "
                    "again.",
                ),
                retry_url,
            )
        created = backend.save_connection(draft, token.refresh_token, user=user)
        log.info(
            "Microsoft Advertising connection %s %s with a new refresh token by Airflow user %s",
            draft.conn_id,
            "created" if created else "updated",
            user.name,
        )
        result = summarise_access(draft, token.access_token, http=ctx.http, created=created)
        if result.warning:
            log.warning("Microsoft Advertising connection %s: %s", draft.conn_id, result.warning)
        result_id = ctx.results.put(result, owner=user.id)
        done = _url(request, "/connect/done") + "?" + urlencode({"result": result_id})
        return RedirectResponse(done, status_code=303)

    @app.get("/connect/done", name="done", response_class=HTMLResponse)
    def done(request: Request, user: CurrentUser, result: str = "") -> Response:
        if user is None:
            return RedirectResponse(backend.login_url(str(request.url)), status_code=303)
        outcome = ctx.results.get(result, owner=user.id)
        return _page(
            request,
            backend,
            "done",
            title="Connected" if not outcome.warning else "Signed in, with a problem",
            result=outcome,
            connections_url=backend.airflow_url("connections"),
        )

    return app


_OVERRIDE_FIX = (
    "Remove that definition so the connection lives in Airflow's database, or update the value where it is "
    "defined (msads-auth prints the refresh token for that case)."
)


async def _current_user(request: Request) -> SignedInUser | None:
    backend: ConnectBackend = request.app.state.backend
    return await backend.current_user(request)


CurrentUser = Annotated[SignedInUser | None, Depends(_current_user)]


async def _form_fields(request: Request) -> dict[str, str]:
    """The url-encoded form, parsed without extra dependencies and bounded in size."""
    body = await request.body()
    if len(body) > MAX_FORM_BYTES:
        raise FlowError(
            "The form is too large", "The submitted form exceeds 64 KiB.", "Submit the form again."
        )
    try:
        pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, max_num_fields=50)
    except ValueError:
        raise FlowError(
            "The form could not be read", "The request body is not a form.", "Submit again."
        ) from None
    return dict(pairs)


def _require_edit(backend: ConnectBackend, user: SignedInUser, conn_id: str, *, create: bool) -> None:
    if not backend.may_edit(user, conn_id, create=create):
        raise FlowError(
            "You may not edit this connection",
            f"Your Airflow role does not allow {'creating' if create else 'editing'} the connection "
            f"{conn_id!r}.",
            "Ask an Airflow administrator to connect Microsoft Advertising, or to grant you permission to "
            "edit connections.",
            status=403,
        )


def _require_same_origin(request: Request, backend: ConnectBackend) -> None:
    """Refuse form posts from other sites (the session cookie is SameSite=Lax; this is the second lock).

    ``Sec-Fetch-Site`` decides when the browser sends it. ``Origin`` is only a fallback: under our
    ``Referrer-Policy: no-referrer`` browsers send ``Origin: null`` even for same-origin posts.
    """
    site = request.headers.get("sec-fetch-site")
    origin = request.headers.get("origin")
    allowed = {_origin(str(request.base_url))}
    if public := backend.public_base_url():
        allowed.add(_origin(public))
    if site is not None:
        refused = site != "same-origin"
    else:
        refused = origin is not None and origin != "null" and origin not in allowed
    if refused:
        raise FlowError(
            "Request refused",
            "The form was sent from another site.",
            "Open Microsoft Advertising → Connect from the Airflow menu and submit the form there.",
            status=403,
        )


def _url(request: Request, path: str) -> str:
    """Absolute URL of ``path`` inside this app (below the mount prefix the API server gave it).

    Not ``request.url_for``: the Airflow API server resolves route names on its own router, which does
    not see into a plugin's lazily built app.
    """
    root = str(request.scope.get("root_path", "")).rstrip("/")
    return str(request.url.replace(path=root + path, query=None, fragment=None))


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _redirect_uri(request: Request, backend: ConnectBackend) -> str:
    """The callback URL: below ``[api] base_url`` when configured, else below the URL of this request."""
    base = backend.public_base_url()
    if not base:
        callback = _url(request, "/connect/callback")
        base = callback[: -len(CALLBACK_PATH)] if callback.endswith(CALLBACK_PATH) else callback
    return build_redirect_uri(base)


def _redeem(
    ctx: ConnectState,
    draft: ConnectionDraft,
    pending: PendingConsent,
    code: str,
    backend: ConnectBackend,
    retry_url: str,
) -> TokenResponse:
    assert draft.endpoints is not None
    oauth = OAuthClient(
        endpoints=draft.endpoints,
        client_id=draft.client_id,
        client_secret=draft.client_secret,
        http=ctx.http,
        retry=AuthRetryPolicy(max_attempts=2, max_total_seconds=10.0),
    )
    try:
        token = oauth.exchange_code(
            code, redirect_uri=pending.redirect_uri, code_verifier=pending.code_verifier
        )
    except AuthError as err:
        log.warning("Microsoft Advertising sign-in for connection %s failed: %s", draft.conn_id, err)
        if err.error is None:
            raise _with_retry(
                FlowError(
                    "Microsoft's sign-in service could not be reached",
                    "Airflow could not redeem the sign-in at the token endpoint.",
                    "Check that the Airflow API server can reach the identity platform (and the Identity "
                    "platform URL override, if set), then sign in again.",
                    detail=str(err),
                    status=502,
                ),
                retry_url,
            ) from None
        problem = describe_identity_error(
            error=err.error,
            description=None,
            code=err.aadsts_code,
            redirect_uri=pending.redirect_uri,
            tenant=draft.tenant,
        )
        ids = ", ".join(
            f"{k} {v}" for k, v in (("trace_id", err.trace_id), ("correlation_id", err.correlation_id)) if v
        )
        if ids:
            problem.detail = f"{problem.detail} ({ids})" if problem.detail else ids
        raise _with_retry(problem, retry_url) from None
    backend.mask(token.refresh_token, token.access_token)
    return token


def _with_retry(err: FlowError, retry_url: str) -> FlowError:
    err.retry_url = retry_url
    return err


def _form_url(request: Request, conn_id: str, *, create: bool) -> str:
    params = {"conn_id": conn_id, **({"new": "1"} if create else {})}
    return f"{_url(request, '/connect')}?{urlencode(params)}"


def _page(
    request: Request, backend: ConnectBackend, name: str, *, status: int = 200, **context: Any
) -> HTMLResponse:
    html = templates.render(
        name,
        airflow_home=backend.airflow_url(""),
        choose_url=_url(request, "/connect"),
        **context,
    )
    return HTMLResponse(html, status_code=status)


def _problem(request: Request, backend: ConnectBackend, err: FlowError) -> HTMLResponse:
    return _page(
        request,
        backend,
        "problem",
        status=err.status,
        title=err.title,
        explanation=err.explanation,
        fix=err.fix,
        detail=err.detail,
        retry_url=err.retry_url,
    )


def _choose_page(
    request: Request,
    backend: ConnectBackend,
    user: SignedInUser,
    *,
    error: str | None = None,
    status: int = 200,
) -> HTMLResponse:
    connections = [
        c
        for c in backend.list_connections()
        if c.conn_type == CONN_TYPE and backend.may_edit(user, c.conn_id, create=False)
    ]
    may_create = backend.may_edit(user, None, create=True)
    if not connections and not may_create:
        raise FlowError(
            "You may not edit connections",
            "Connecting Microsoft Advertising writes a refresh token into an Airflow connection, and your "
            "Airflow role does not allow editing connections.",
            "Ask an Airflow administrator to connect Microsoft Advertising, or to grant you permission to "
            "edit connections.",
            status=403,
        )
    taken = {c.conn_id for c in backend.list_connections()}
    suggested = "msads_default" if "msads_default" not in taken else ""
    return _page(
        request,
        backend,
        "choose",
        status=status,
        title="Connect",
        connections=connections,
        may_create=may_create,
        suggested_id=suggested,
        form_url=_url(request, "/connect"),
        error=error,
    )


def _form_page(
    request: Request,
    backend: ConnectBackend,
    *,
    conn_id: str,
    existing: ExistingConnection | None,
    values: Mapping[str, str] | None,
    errors: dict[str, str],
) -> HTMLResponse:
    if values is None:
        values = {
            "client_id": (existing.login or "") if existing else "",
            "environment": str(existing.extra_value("environment") or "production")
            if existing
            else "production",
            "tenant": str(existing.extra_value("tenant") or "") if existing else "",
            "auth_base_url": str(existing.extra_value("auth_base_url") or "") if existing else "",
            "api_base_url": str(existing.extra_value("api_base_url") or "") if existing else "",
        }
    shown = {
        name: values.get(name, "")
        for name in ("client_id", "environment", "tenant", "auth_base_url", "api_base_url")
    }
    redirect_uri: str | None = None
    redirect_problem = ""
    try:
        redirect_uri = _redirect_uri(request, backend)
    except FlowError as err:
        redirect_problem = f"{err.explanation} {err.fix}"
    return _page(
        request,
        backend,
        "form",
        status=400 if errors else 200,
        title=conn_id,
        conn_id=conn_id,
        create=existing is None,
        values=shown,
        errors=errors,
        stored={name: bool(existing and existing.has_secret(name)) for name in SECRET_EXTRAS},
        env_override=backend.env_override(conn_id),
        redirect_uri=redirect_uri,
        redirect_problem=redirect_problem,
        start_url=_url(request, "/connect/start"),
    )
