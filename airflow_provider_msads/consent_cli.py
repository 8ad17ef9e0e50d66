"""``msads-auth``: obtain a Microsoft Advertising refresh token, print how to store it, or store it.

The flow itself is Airflow-free (:mod:`airflow_provider_msads.client.consent`). This module adds the
command line and ``--update-connection``, which writes the token into an existing Airflow connection
through the same function as the UI's Connect page
(:func:`~airflow_provider_msads.hooks.connections.store_refresh_token`; Airflow is imported only then).

The client secret is read from ``$MSADS_CLIENT_SECRET`` or a hidden prompt, never from the command line
(shell history and ``ps`` would show it), and never printed.
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys
import time
from collections.abc import Callable, Sequence

from airflow_provider_msads.client.consent import (
    DEFAULT_PORT,
    DEFAULT_TIMEOUT,
    ConsentError,
    ConsentOptions,
    connection_instructions,
    obtain_token,
)
from airflow_provider_msads.client.environments import DEFAULT_TENANT
from airflow_provider_msads.client.errors import MicrosoftAdsError

SECRET_ENV = "MSADS_CLIENT_SECRET"  # noqa: S105 - the variable's name, not a secret
CLIENT_ID_ENV = "MSADS_CLIENT_ID"
ENVIRONMENTS = ("production", "sandbox")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="msads-auth",
        description="Obtain a Microsoft Advertising refresh token (authorization code + PKCE) and print "
        "the lines that store it in an Airflow connection, or store it with --update-connection.",
        epilog=f"The client secret comes from ${SECRET_ENV} or, with --client-secret -, a hidden prompt; "
        "it is never accepted on the command line and never printed.",
    )
    parser.add_argument(
        "--client-id",
        default=os.environ.get(CLIENT_ID_ENV),
        help=f"Application (client) ID of the Entra ID app (default: ${CLIENT_ID_ENV})",
    )
    parser.add_argument(
        "--client-secret",
        metavar="-",
        default=None,
        help=f"'-' prompts for the client secret of a Web app (default: ${SECRET_ENV}; neither: a "
        "public client, no secret)",
    )
    parser.add_argument(
        "--environment",
        choices=ENVIRONMENTS,
        default="production",
        help="Microsoft Advertising environment (default: %(default)s)",
    )
    parser.add_argument(
        "--tenant", default=DEFAULT_TENANT, help="tenant id or domain for the sign-in (default: %(default)s)"
    )
    parser.add_argument("--scope", default=None, help="scope override (default: the environment's scope)")
    parser.add_argument(
        "--auth-base-url",
        default=None,
        help="identity platform origin, for the emulator or a proxy "
        "(default: https://login.microsoftonline.com)",
    )
    parser.add_argument(
        "--port",
        type=int,
        default=DEFAULT_PORT,
        help="loopback port of the redirect URI http://localhost:PORT/; 0 = any free port "
        "(default: %(default)s)",
    )
    parser.add_argument(
        "--redirect-host",
        choices=("localhost", "127.0.0.1"),
        default="localhost",
        help="host in the redirect URI; must match the app registration (default: %(default)s)",
    )
    parser.add_argument(
        "--no-browser",
        action="store_true",
        help="print the sign-in URL and paste the redirected URL back (default: open a browser)",
    )
    parser.add_argument(
        "--prompt",
        default="select_account",
        help="OAuth prompt: select_account, consent, login or none (default: %(default)s)",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=DEFAULT_TIMEOUT,
        help="seconds to wait for the sign-in (default: %(default).0f)",
    )
    parser.add_argument(
        "--conn-id",
        default="msads_default",
        help="connection id used in the printed commands (default: %(default)s)",
    )
    parser.add_argument(
        "--update-connection",
        metavar="CONN_ID",
        default=None,
        help="write the refresh token into this existing Airflow connection (default: print it)",
    )
    return parser


def main(argv: Sequence[str] | None = None, *, open_url: Callable[[str], object] | None = None) -> int:
    """Entry point of ``msads-auth``; returns the process exit code."""
    import httpx

    from airflow_provider_msads.client.client import new_http_client

    args = build_parser().parse_args(argv)
    if not args.client_id:
        print(f"msads-auth: --client-id is required (or set {CLIENT_ID_ENV})", file=sys.stderr)
        return 2
    if args.client_secret not in (None, "-"):  # never echo it: it would be in the terminal's scrollback too
        print(
            f"msads-auth: --client-secret takes only '-' (prompt for it); a secret on the command line ends "
            f"up in shell history and `ps`: set {SECRET_ENV} or use --client-secret -",
            file=sys.stderr,
        )
        return 2
    prompt = args.client_secret == "-"  # noqa: S105 - "-" means "prompt for it"
    secret = getpass.getpass("Client secret (input hidden): ") if prompt else os.environ.get(SECRET_ENV)
    options = ConsentOptions(
        client_id=args.client_id.strip(),
        client_secret=(secret or "").strip() or None,
        environment=args.environment,
        tenant=args.tenant,
        scope=args.scope,
        auth_base_url=args.auth_base_url,
        port=args.port,
        redirect_host=args.redirect_host,
        prompt=args.prompt or None,
        timeout=args.timeout,
        conn_id=args.update_connection or args.conn_id,
    )
    started = time.monotonic()
    try:
        with new_http_client(httpx.Timeout(30.0)) as http:
            token = obtain_token(
                options, http=http, open_url=open_url, read_line=input if args.no_browser else None
            )
        if token.refresh_token is None:
            raise ConsentError(
                "the identity platform returned no refresh token: the scope must include offline_access"
            )
        if args.update_connection:
            from airflow_provider_msads.hooks.connections import store_refresh_token

            store_refresh_token(
                args.update_connection,
                token.refresh_token,
                client_id=options.client_id,
                audit_event="msads_auth",
                audit_owner=_whoami(),
            )
            print(
                f"Connection {args.update_connection!r} now holds the new refresh token "
                f"({time.monotonic() - started:.0f} s).",
                file=sys.stderr,
            )
        else:
            print(connection_instructions(options, token.refresh_token))
    except MicrosoftAdsError as err:  # auth, consent, configuration, connection write: all say the fix
        print(f"msads-auth: {err}", file=sys.stderr)
        return 1
    except OSError as err:  # the loopback port is taken, or the browser cannot be started
        print(
            f"msads-auth: {err}: pick another --port (0 = any free port) or use --no-browser", file=sys.stderr
        )
        return 1
    return 0


def _whoami() -> str | None:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no user name in a bare container
        return None


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
