"""A tiny, strict fake of the identity platform's token endpoint for httpx.MockTransport.

Unit tests use it where the emulator would be overkill or where we need to see exactly which refresh
token each grant used. It mirrors the JSON shapes in shared/msads-api/oauth-errors.md.
"""

from __future__ import annotations

import contextlib
import http.server
import itertools
import json
import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

import httpx

CLIENT_ID = "11111111-2222-3333-4444-555555555555"
CLIENT_SECRET = "fake~client.secret-0123456789abcdefghij"
DEVELOPER_TOKEN = "FAKEDEVTOKEN0123456789"
INITIAL_REFRESH_TOKEN = "M.R3_fake.initial-refresh-token.0123456789abcdefghijklmnopqrstuvwxyz"
AUTH_BASE = "http://127.0.0.1:9"  # never contacted: MockTransport answers
TOKEN_URL = AUTH_BASE + "/common/oauth2/v2.0/token"


def error_body(error: str, code: int, text: str) -> dict[str, Any]:
    return {
        "error": error,
        "error_description": f"AADSTS{code}: {text}\r\nTrace ID: t-1\r\nCorrelation ID: c-1\r\nTimestamp: x",
        "error_codes": [code],
        "timestamp": "2026-01-01 00:00:00Z",
        "trace_id": "0000aaaa-11bb-cccc-dd33-eeeeee333333",
        "correlation_id": "aaaa0000-bb11-2222-33cc-444444dddddd",
        "error_uri": f"https://login.microsoftonline.com/error?code={code}",
    }


@dataclass
class FakeIdentity:
    """Issues rotating tokens; records every grant; answers queued faults first."""

    client_id: str = CLIENT_ID
    client_secret: str | None = CLIENT_SECRET
    expires_in: int = 3600
    rotate: bool = True
    valid_refresh_tokens: set[str] = field(default_factory=lambda: {INITIAL_REFRESH_TOKEN})
    faults: list[httpx.Response | Exception] = field(default_factory=list)
    requests: list[dict[str, str]] = field(default_factory=list)
    used_refresh_tokens: list[str] = field(default_factory=list)
    issued_refresh_tokens: list[str] = field(default_factory=list)
    issued_access_tokens: list[str] = field(default_factory=list)
    codes: dict[str, str] = field(default_factory=dict)  # code -> PKCE challenge
    grant_counts: Counter[str] = field(default_factory=Counter)
    delay: float = 0.0  # seconds each successful grant takes (to widen race windows)
    single_use: bool = False  # a redeemed refresh token is no longer valid (stricter than Microsoft)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._seq = itertools.count(1)

    @property
    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)

    def client(self) -> httpx.Client:
        return httpx.Client(transport=self.transport, timeout=5.0)

    def revoke(self, refresh_token: str) -> None:
        with self._lock:
            self.valid_refresh_tokens.discard(refresh_token)

    def handle(self, request: httpx.Request) -> httpx.Response:
        assert request.url.path.endswith("/oauth2/v2.0/token"), request.url
        form = {k: v[0] for k, v in parse_qs(request.content.decode()).items()}
        with self._lock:
            self.requests.append(form)
            if self.faults:
                fault = self.faults.pop(0)
                if isinstance(fault, Exception):
                    raise fault
                return fault
        if self.delay:
            import time

            time.sleep(self.delay)
        if form.get("client_id") != self.client_id:
            return httpx.Response(400, json=error_body("unauthorized_client", 700016, "app not found"))
        if self.client_secret is not None and form.get("client_secret") != self.client_secret:
            return httpx.Response(401, json=error_body("invalid_client", 7000215, "Invalid client secret."))
        grant = form.get("grant_type", "")
        with self._lock:
            self.grant_counts[grant] += 1
            if grant == "refresh_token":
                token = form.get("refresh_token", "")
                self.used_refresh_tokens.append(token)
                if token not in self.valid_refresh_tokens:
                    return httpx.Response(
                        400, json=error_body("invalid_grant", 70008, "The refresh token has expired.")
                    )
                if self.single_use:
                    self.valid_refresh_tokens.discard(token)
            elif grant == "authorization_code":
                if form.get("code") not in self.codes:
                    return httpx.Response(400, json=error_body("invalid_grant", 54005, "code redeemed"))
                from airflow_provider_msads.client.pkce import s256_challenge

                challenge = self.codes.pop(form["code"])
                if s256_challenge(form.get("code_verifier", "")) != challenge:
                    return httpx.Response(400, json=error_body("invalid_grant", 501481, "verifier mismatch"))
            else:
                return httpx.Response(400, json=error_body("unsupported_grant_type", 70003, "no"))
            n = next(self._seq)
            access = f"eyJ0eXAi.fake-access-token-{n:04d}.signature-abcdefghijklmnop"
            self.issued_access_tokens.append(access)
            body: dict[str, Any] = {
                "token_type": "Bearer",
                "scope": form.get("scope", ""),
                "expires_in": self.expires_in,
                "ext_expires_in": self.expires_in,
                "access_token": access,
            }
            if self.rotate or grant == "authorization_code":
                refresh = f"M.R3_fake.rotated-refresh-token-{n:04d}.0123456789abcdefghijklmnop"
                self.valid_refresh_tokens.add(refresh)
                self.issued_refresh_tokens.append(refresh)
                body["refresh_token"] = refresh
        return httpx.Response(200, content=json.dumps(body), headers={"Content-Type": "application/json"})

    def all_secrets(self) -> list[str]:
        with self._lock:
            return [
                CLIENT_SECRET,
                DEVELOPER_TOKEN,
                INITIAL_REFRESH_TOKEN,
                *self.issued_refresh_tokens,
                *self.issued_access_tokens,
            ]


@contextlib.contextmanager
def serve(fake: FakeIdentity) -> Iterator[str]:
    """Serve ``fake`` over real HTTP on 127.0.0.1 (for subprocess tests); yields the base URL."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            request = httpx.Request(
                "POST",
                f"http://127.0.0.1{self.path}",
                content=self.rfile.read(length),
                headers=dict(self.headers),
            )
            try:
                response = fake.handle(request)
            except httpx.TransportError:
                self.close_connection = True
                return
            self.send_response(response.status_code)
            for key, value in response.headers.items():
                if key.lower() not in ("content-length", "transfer-encoding"):
                    self.send_header(key, value)
            self.send_header("Content-Length", str(len(response.content)))
            self.end_headers()
            self.wfile.write(response.content)

        def log_message(self, format: str, *args: object) -> None:
            return

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
