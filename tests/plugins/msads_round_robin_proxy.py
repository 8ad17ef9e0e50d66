"""A tiny round-robin HTTP reverse proxy: no sticky sessions, every request to the next backend.

Stands in for a load balancer in front of several ``airflow api-server`` processes. Requests below
``/msads/`` (the Connect page) rotate over the backends on their own counter, everything else (Airflow's
UI assets, favicon) on another, so the page's steps alternate deterministically whatever else the browser
loads in between. The ``Host`` header is passed through, as load balancers do, so the API server builds
its URLs (redirects, the OAuth redirect URI) on the proxy's address. ``served`` records who served what.
"""

from __future__ import annotations

import http.client
import itertools
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

_HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailers",
    "transfer-encoding",
    "upgrade",
}


@dataclass(frozen=True)
class Served:
    backend: int
    method: str
    path: str
    status: int


class RoundRobinProxy(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, backends: Sequence[str]) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.backends = [urlsplit(b) for b in backends]
        self._counters = {"msads": itertools.count(), "other": itertools.count()}
        self._lock = threading.Lock()
        self.served: list[Served] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def pick(self, path: str) -> int:
        group = "msads" if path.startswith("/msads/") else "other"
        with self._lock:
            return next(self._counters[group]) % len(self.backends)

    def record(self, served: Served) -> None:
        with self._lock:
            self.served.append(served)

    def backend_of(self, path_prefix: str) -> list[int]:
        """Which backend served each request whose path starts with ``path_prefix``, in order."""
        return [s.backend for s in self.served if s.path.startswith(path_prefix)]


class _Handler(BaseHTTPRequestHandler):
    server: RoundRobinProxy
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:
        pass

    def _forward(self) -> None:
        index = self.server.pick(self.path)
        target = self.server.backends[index]
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}
        headers["X-Forwarded-For"] = self.client_address[0]
        conn = http.client.HTTPConnection(target.hostname or "127.0.0.1", target.port, timeout=60)
        try:
            conn.request(self.command, self.path, body=body, headers=headers)
            response = conn.getresponse()
            payload = response.read()
            self.send_response(response.status, response.reason)
            for name, value in response.getheaders():
                if name.lower() not in _HOP_BY_HOP and name.lower() != "content-length":
                    self.send_header(name, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(payload)
            self.server.record(Served(index, self.command, self.path, response.status))
        finally:
            conn.close()

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _forward


@contextmanager
def round_robin_proxy(backends: Sequence[str]) -> Iterator[RoundRobinProxy]:
    proxy = RoundRobinProxy(backends)
    thread = threading.Thread(target=proxy.serve_forever, name="round-robin-proxy", daemon=True)
    thread.start()
    try:
        yield proxy
    finally:
        proxy.shutdown()
        proxy.server_close()
        thread.join(10)
