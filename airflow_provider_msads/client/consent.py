"""The consent flow behind ``msads-auth``: authorization code + PKCE, Airflow-free.

Runs a one-shot listener on 127.0.0.1 for the redirect (or asks for the URL the browser was redirected
to: for headless servers), redeems the code, and words the ``airflow connections add`` /
``AIRFLOW_CONN_...`` lines that show the refresh token once. The client secret is never printed. The
command line, and writing the token into an Airflow connection, live in
:mod:`airflow_provider_msads.consent_cli` (Airflow is not imported here).

Servers need a *Web* app registration with a client secret: a refresh token obtained by a public
(desktop) client is bound to the device that obtained it.
"""

from __future__ import annotations

import http.server
import json
import shlex
import sys
import threading
import webbrowser
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TextIO
from urllib.parse import parse_qs, urlsplit

import httpx

from airflow_provider_msads.client.auth import OAuthClient, TokenResponse
from airflow_provider_msads.client.environments import (
    DEFAULT_TENANT,
    SANDBOX_DEVELOPER_TOKEN,
    resolve_endpoints,
)
from airflow_provider_msads.client.errors import MicrosoftAdsError
from airflow_provider_msads.client.pkce import new_pkce_pair, new_state

#: Loopback port of the redirect listener; not the emulator docs' 8765 (both may run at once).
DEFAULT_PORT = 8400
DEFAULT_TIMEOUT = 300.0
_PAGE_OK = (
    b"<html><body><h1>Signed in.</h1><p>You can close this tab and return to the terminal.</p></body></html>"
)
_PAGE_FAIL = b"<html><body><h1>Sign-in failed.</h1><p>See the terminal for details.</p></body></html>"


class ConsentError(MicrosoftAdsError):
    """The consent flow could not complete (denied, state mismatch, timeout, bad pasted URL)."""


@dataclass(frozen=True, slots=True)
class ConsentOptions:
    """What ``msads-auth`` was asked to do (secrets kept out of repr)."""

    client_id: str
    client_secret: str | None = field(default=None, repr=False)
    environment: str = "production"
    tenant: str = DEFAULT_TENANT
    scope: str | None = None
    auth_base_url: str | None = None
    port: int = DEFAULT_PORT
    redirect_host: str = "localhost"
    prompt: str | None = "select_account"
    timeout: float = DEFAULT_TIMEOUT
    conn_id: str = "msads_default"


@dataclass(frozen=True, slots=True)
class RedirectResult:
    """Query parameters of the redirect back from /authorize."""

    code: str | None = field(repr=False)
    state: str | None
    error: str | None
    error_description: str | None


def parse_redirect(url: str) -> RedirectResult:
    """Read ``code``/``state``/``error`` from a redirect URL (or just its query string)."""
    query = urlsplit(url.strip()).query if "?" in url else url.strip().lstrip("?")
    params = parse_qs(query)

    def one(name: str) -> str | None:
        values = params.get(name)
        return values[0] if values else None

    return RedirectResult(one("code"), one("state"), one("error"), one("error_description"))


class _LoopbackListener:
    """A one-shot HTTP server on 127.0.0.1 that captures the first redirect carrying code or error."""

    def __init__(self, port: int) -> None:
        self.result: RedirectResult | None = None
        self._got = threading.Event()
        listener = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                result = parse_redirect(self.path)
                if result.code is None and result.error is None:  # favicon, probes: ignore
                    self.send_response(404)
                    self.end_headers()
                    return
                ok = result.code is not None
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.end_headers()
                self.wfile.write(_PAGE_OK if ok else _PAGE_FAIL)
                if listener.result is None:
                    listener.result = result
                    listener._got.set()

            def log_message(self, format: str, *args: object) -> None:  # the query holds the code
                return

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.port: int = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> _LoopbackListener:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def wait(self, timeout: float) -> RedirectResult:
        if not self._got.wait(timeout) or self.result is None:
            raise ConsentError(
                f"no redirect arrived on 127.0.0.1:{self.port} within {timeout:.0f} s: finish signing in in "
                "the browser, or use --no-browser and paste the redirected URL"
            )
        return self.result


def _check(result: RedirectResult, state: str) -> str:
    if result.error:
        description = (result.error_description or "").strip().splitlines()
        raise ConsentError(
            f"sign-in failed: {result.error}" + (f" ({description[0][:200]})" if description else "")
        )
    if result.state != state:
        raise ConsentError(
            "the redirect's state does not match this run (stale tab or forged redirect): "
            "run msads-auth again"
        )
    if not result.code:
        raise ConsentError("the redirect carries no authorization code: run msads-auth again")
    return result.code


def obtain_token(
    options: ConsentOptions,
    *,
    http: httpx.Client,
    open_url: Callable[[str], object] | None = None,
    read_line: Callable[[str], str] | None = None,
    out: TextIO | None = None,
) -> TokenResponse:
    """Run the consent flow and redeem the code.

    :param open_url: opens the authorize URL (a browser; tests drive it with httpx). With
        ``read_line`` instead, the URL is printed and the redirected URL is read back (``--no-browser``).
    """
    out = out if out is not None else sys.stderr
    endpoints = resolve_endpoints(
        options.environment,
        tenant=options.tenant,
        scope=options.scope,
        auth_base_url=options.auth_base_url,
    )
    oauth = OAuthClient(
        endpoints=endpoints, client_id=options.client_id, client_secret=options.client_secret, http=http
    )
    pkce = new_pkce_pair()
    state = new_state()
    if read_line is not None:
        redirect_uri = f"http://{options.redirect_host}:{options.port}/"
        url = oauth.authorization_url(
            redirect_uri=redirect_uri, state=state, code_challenge=pkce.challenge, prompt=options.prompt
        )
        print(f"Open this URL in a browser and sign in:\n\n  {url}\n", file=out)
        print(
            "The browser then tries to load http://"
            f"{options.redirect_host}:{options.port}/?code=... which may fail to load: that is fine.",
            file=out,
        )
        code = _check(parse_redirect(read_line("Paste the full URL from the address bar: ")), state)
    else:
        with _LoopbackListener(options.port) as listener:
            redirect_uri = f"http://{options.redirect_host}:{listener.port}/"
            url = oauth.authorization_url(
                redirect_uri=redirect_uri, state=state, code_challenge=pkce.challenge, prompt=options.prompt
            )
            print(f"Redirect URI (register it on the app, platform 'Web'): {redirect_uri}", file=out)
            print(f"Opening the sign-in page; if nothing opens, visit:\n\n  {url}\n", file=out)
            (open_url or webbrowser.open)(url)
            code = _check(listener.wait(options.timeout), state)
    return oauth.exchange_code(code, redirect_uri=redirect_uri, code_verifier=pkce.verifier)


def connection_extra(options: ConsentOptions) -> dict[str, str]:
    """The connection extras, with placeholders for secrets we must not print."""
    extra = {
        "developer_token": SANDBOX_DEVELOPER_TOKEN
        if options.environment == "sandbox"
        else "<YOUR_DEVELOPER_TOKEN>",
    }
    if options.client_secret:
        extra["client_secret"] = "<YOUR_CLIENT_SECRET>"  # noqa: S105 - a placeholder, never the secret
    extra["environment"] = options.environment
    if options.tenant != DEFAULT_TENANT:
        extra["tenant"] = options.tenant
    if options.scope:
        extra["scope"] = options.scope
    if options.auth_base_url:
        extra["auth_base_url"] = options.auth_base_url
    return extra


def connection_instructions(options: ConsentOptions, refresh_token: str) -> str:
    """Text that shows the refresh token exactly once and how to store it, never the client secret."""
    extra = json.dumps(connection_extra(options))
    env_name = "AIRFLOW_CONN_" + options.conn_id.upper()
    conn_json_head = json.dumps({"conn_type": "msads", "login": options.client_id})[:-1]
    placeholders = "replace the <...> placeholders first; " if "<YOUR_" in extra else ""
    return "\n".join(
        (
            "Refresh token (shown once; store it as the connection password):",
            "",
            f"  export MSADS_REFRESH_TOKEN={shlex.quote(refresh_token)}",
            "",
            f"Then either ({placeholders}run in the same shell):",
            "",
            f"  airflow connections add {shlex.quote(options.conn_id)} --conn-type msads "
            f'--conn-login {shlex.quote(options.client_id)} --conn-password "$MSADS_REFRESH_TOKEN" '
            f"--conn-extra {shlex.quote(extra)}",
            "",
            "or, for an environment-variable connection:",
            "",
            f'  export {env_name}="{_dq(conn_json_head)}, \\"password\\": \\"$MSADS_REFRESH_TOKEN\\", '
            f'\\"extra\\": {_dq(extra)}}}"',
            "",
            "Or run msads-auth with --update-connection CONN_ID to write it into an existing connection.",
        )
    )


def _dq(text: str) -> str:
    """Escape for inside a double-quoted shell string."""
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("$", "\\$").replace("`", "\\`")
