"""The emulator's HTTP/1.1 server.

Why the standard library's ``ThreadingHTTPServer`` and not Starlette/uvicorn: fault injection needs the raw
socket (a TCP reset is ``SO_LINGER 0`` then ``close``; a truncated body is "send a Content-Length, write
half, close"), which ASGI servers hide on purpose. It also starts in milliseconds, needs no event loop in
the test process, and adds no dependency. Keep-alive (``protocol_version = "HTTP/1.1"``) matters because
real clients reuse connections: a reset or truncation must hit a pooled connection, as in production.

The server knows nothing about OAuth or Customer Management: it turns bytes into :class:`Request`, asks
the application for a :class:`Response`, and then performs the response's socket-level action.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Literal
from urllib.parse import parse_qsl, urlsplit

MAX_BODY_BYTES = 8 * 1024 * 1024
IDLE_TIMEOUT = 30.0  # seconds a keep-alive connection may sit idle before the server closes it

Action = Literal["reset", "truncate", "timeout"]


@dataclass(frozen=True, slots=True)
class Request:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # lower-cased names
    body: bytes


@dataclass(slots=True)
class Response:
    status: int
    body: bytes = b""
    headers: list[tuple[str, str]] = field(default_factory=list)
    action: Action | None = None
    delay: float = 0.0  # wait before answering (or, for "timeout", how long to hold the connection)
    #: a streamed body (large files): called once, yields chunks; ``length`` is its Content-Length
    chunks: Callable[[], Iterator[bytes]] | None = None
    length: int = 0


Application = Callable[[Request], Response]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # small responses otherwise wait ~40 ms for the delayed ACK
    server_version = "Microsoft-IIS/10.0"  # what the real services announce
    sys_version = ""
    timeout = IDLE_TIMEOUT
    server: EmulatorHTTPServer

    def setup(self) -> None:
        super().setup()
        self.server.track(self.connection, True)

    def finish(self) -> None:
        try:
            super().finish()
        except OSError:
            pass  # the socket was reset or closed on purpose
        finally:
            self.server.track(self.connection, False)

    def log_message(self, format: str, *args: object) -> None:
        if self.server.verbose:
            super().log_message(format, *args)

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def do_PUT(self) -> None:
        self._serve()

    def do_DELETE(self) -> None:
        self._serve()

    def _read_body(self) -> bytes | None:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks: list[bytes] = []
            total = 0
            while True:
                line = self.rfile.readline(1024)
                size = int(line.split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                total += size
                if total > MAX_BODY_BYTES:
                    return None
                chunks.append(self.rfile.read(size))
                self.rfile.readline(1024)
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY_BYTES:
            return None
        return self.rfile.read(length) if length > 0 else b""

    def _serve(self) -> None:
        try:
            body = self._read_body()
        except ValueError:
            self._send(Response(400, b"Bad Request", [("Content-Type", "text/plain")]))
            self.close_connection = True
            return
        if body is None:
            self._send(Response(413, b"Request Entity Too Large", [("Content-Type", "text/plain")]))
            self.close_connection = True
            return
        parts = urlsplit(self.path)
        request = Request(
            method=self.command,
            path=parts.path,
            query=dict(parse_qsl(parts.query, keep_blank_values=True)),
            headers={k.lower(): v for k, v in self.headers.items()},
            body=body,
        )
        response = self.server.app(request)
        if response.action == "timeout":
            self.server.stopping.wait(response.delay)
            self._reset()
            return
        if response.delay > 0 and self.server.stopping.wait(response.delay):
            self._reset()
            return
        if response.action == "reset":
            self._reset()
            return
        self._send(response)

    def _send(self, response: Response) -> None:
        self.send_response(response.status)
        names = {k.lower() for k, _ in response.headers}
        for key, value in response.headers:
            self.send_header(key, value)
        if "content-length" not in names:
            size = response.length if response.chunks is not None else len(response.body)
            self.send_header("Content-Length", str(size))
        if response.action == "truncate":
            self.send_header("Connection", "close")
        self.end_headers()
        if response.chunks is not None:
            self._send_chunks(response)
            return
        body = response.body
        if response.action == "truncate":
            body = body[: max(1, len(body) // 2)] if body else b""
        if self.command != "HEAD":
            self.wfile.write(body)
        self.wfile.flush()
        if response.action == "truncate":
            self.close_connection = True

    def _send_chunks(self, response: Response) -> None:
        """Stream a large body; ``truncate`` stops after half of it and closes the connection."""
        assert response.chunks is not None
        budget = response.length // 2 if response.action == "truncate" else None
        sent = 0
        if self.command != "HEAD":
            try:
                for chunk in response.chunks():
                    if budget is not None and sent + len(chunk) >= budget:
                        self.wfile.write(chunk[: max(1, budget - sent)])
                        break
                    self.wfile.write(chunk)
                    sent += len(chunk)
                    if self.server.stopping.is_set():
                        break
            except OSError:
                self.close_connection = True
                return
        self.wfile.flush()
        if response.action == "truncate":
            self.close_connection = True

    def _reset(self) -> None:
        """Abort the TCP connection: with SO_LINGER 0, close() sends RST instead of FIN."""
        try:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
        except OSError:
            pass
        self.close_connection = True


class EmulatorHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], app: Application, *, verbose: bool = False) -> None:
        self.app = app
        self.verbose = verbose
        self.stopping = threading.Event()
        self._connections: set[socket.socket] = set()
        self._conn_lock = threading.Lock()
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, _Handler)

    def track(self, conn: socket.socket, alive: bool) -> None:
        with self._conn_lock:
            if alive:
                self._connections.add(conn)
            else:
                self._connections.discard(conn)

    def close_all_connections(self) -> None:
        with self._conn_lock:
            conns = list(self._connections)
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)


class ServerThread:
    """Runs an :class:`EmulatorHTTPServer` in a daemon thread; ``stop`` releases held connections too."""

    def __init__(
        self, app: Application, host: str = "127.0.0.1", port: int = 0, *, verbose: bool = False
    ) -> None:
        self.httpd = EmulatorHTTPServer((host, port), app, verbose=verbose)
        self.host = host
        self.port = int(self.httpd.server_address[1])
        self._thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True
        )

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def start(self) -> None:
        self._thread.name = f"msads-emulator-{self.port}"
        self._thread.start()

    def stop(self) -> None:
        self.httpd.stopping.set()
        self.httpd.shutdown()
        self.httpd.close_all_connections()
        self.httpd.server_close()
        self._thread.join(timeout=5)
