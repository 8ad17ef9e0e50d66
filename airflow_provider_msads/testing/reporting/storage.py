"""The second origin: a stand-in for the Azure Blob Storage host that serves report downloads.

Real download URLs are short-lived SAS links (``…/<path>.zip?sv=…&st=…&se=…&sr=b&sp=r&sig=…``; reporting
README §1.10): the credential is in the query string, the URL is valid for about five minutes, and clients
must fetch it with NO API headers. This host enforces exactly that, so a client that leaks credentials or
keeps a URL too long fails its tests:

* any request carrying ``Authorization``, ``DeveloperToken``, ``CustomerId``, ``CustomerAccountId`` or
  another API header (:data:`FORBIDDEN_HEADERS`) -> ``403 AuthenticationFailed``, counted, whatever the URL;
* an unknown signature -> 403; an expired one -> 403 (``expired_url_hits`` counted);
* the file is streamed from disk in chunks (a 1,000,000-row report is never in memory).

Faults on the ``download`` route (``emu.faults.inject("download", ...)``): ``kind="reset"`` /
``"truncate"`` / ``"timeout"`` / ``"html"``, ``status=5xx``, ``kind="corrupt"`` (200 with a damaged zip),
``kind="expired"`` (answer as if the URL had expired).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import os
import secrets
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import quote

from airflow_provider_msads.testing.faults import Fault, FaultInjector
from airflow_provider_msads.testing.server import Request, Response

#: Request headers that must never reach the storage host (lower-case). Any of them -> 403.
FORBIDDEN_HEADERS = frozenset(
    {
        "authorization",
        "developertoken",
        "customerid",
        "customeraccountid",
        "authenticationtoken",
        "applicationtoken",
        "username",
        "password",
        "api-revision",
    }
)
CHUNK = 256 * 1024
_XML = "application/xml"


def _storage_error(status: int, code: str, message: str) -> Response:
    body = (
        '<?xml version="1.0" encoding="utf-8"?><Error><Code>'
        + code
        + "</Code><Message>"
        + message
        + "</Message></Error>"
    ).encode()
    return Response(status, body, [("Content-Type", _XML), ("x-ms-error-code", code)])


@dataclass(slots=True)
class Blob:
    """One stored report file."""

    path: Path
    name: str  # last path segment in the URL, e.g. "15000000001.zip"
    size: int


@dataclass(slots=True)
class Grant:
    """One issued URL: which blob, valid until when (emulator clock)."""

    blob_id: str
    expires_at: float
    revoked: bool = False


class Storage:
    """Blob registry + URL signing + the HTTP application of the storage origin."""

    def __init__(self, now: Callable[[], float], faults: FaultInjector, url_lifetime: float = 300.0) -> None:
        self._now = now
        self.faults = faults
        self.url_lifetime = url_lifetime
        self._key = secrets.token_bytes(32)
        self._blobs: dict[str, Blob] = {}
        self._grants: dict[str, Grant] = {}
        self._lock = threading.Lock()
        self.base_url = ""  # set when the server starts
        #: downloads (files served), credential_rejections, expired_url_hits, bad_signature, not_found
        self.counters: Counter[str] = Counter()
        #: header names of every rejected credential-carrying request, in order (for assertions)
        self.rejected_headers: list[tuple[str, ...]] = []

    # ------------------------------------------------------------------ registry
    def add(self, blob_id: str, path: Path) -> None:
        with self._lock:
            self._blobs[blob_id] = Blob(path, path.name, path.stat().st_size)

    def remove(self, blob_id: str) -> None:
        with self._lock:
            blob = self._blobs.pop(blob_id, None)
        if blob is not None:
            with contextlib.suppress(OSError):
                os.unlink(blob.path)

    def sign(self, blob_id: str, lifetime: float | None = None) -> str:
        """A fresh download URL for ``blob_id``, valid ``lifetime`` seconds (default ``url_lifetime``)."""
        with self._lock:
            blob = self._blobs[blob_id]
        now = self._now()
        expires = now + (self.url_lifetime if lifetime is None else lifetime)
        nonce = secrets.token_hex(8)
        st = _iso(now)
        se = _iso(expires)
        to_sign = f"{blob_id}\n{nonce}\n{se}".encode()
        sig = (
            base64.urlsafe_b64encode(hmac.new(self._key, to_sign, hashlib.sha256).digest())
            .decode()
            .rstrip("=")
        )
        with self._lock:
            self._grants[sig] = Grant(blob_id, expires)
        return (
            f"{self.base_url}/reports/{blob_id.replace('_', '/')}/{blob.name}"
            f"?skoid={nonce}&sv=2023-11-03&st={quote(st)}&se={quote(se)}&sr=b&sp=r&sig={sig}"
        )

    def expire_all(self) -> int:
        """Expire every URL issued so far (what waiting > 5 minutes does); returns how many."""
        with self._lock:
            for grant in self._grants.values():
                grant.revoked = True
            return len(self._grants)

    def clear(self) -> None:
        with self._lock:
            blobs = list(self._blobs)
        for blob_id in blobs:
            self.remove(blob_id)
        with self._lock:
            self._grants.clear()
            self.counters.clear()
            self.rejected_headers.clear()

    # ------------------------------------------------------------------ HTTP
    def __call__(self, request: Request) -> Response:
        carried = tuple(sorted(h for h in request.headers if h in FORBIDDEN_HEADERS))
        if carried:
            with self._lock:
                self.counters["credential_rejections"] += 1
                self.rejected_headers.append(carried)
            return _storage_error(
                403,
                "AuthenticationFailed",
                "Server failed to authenticate the request: the request carries API credentials ("
                + ", ".join(carried)
                + "); download URLs must be fetched without them.",
            )
        if request.method not in ("GET", "HEAD"):
            return _storage_error(
                405, "UnsupportedHttpVerb", "The resource doesn't support the specified verb."
            )
        fault = self.faults.match("download", "storage")
        if fault is not None:
            injected = self._fault(fault)
            if injected is not None:
                return injected
        sig = request.query.get("sig", "")
        with self._lock:
            grant = self._grants.get(sig)
            blob = self._blobs.get(grant.blob_id) if grant else None
        if grant is None or not request.path.startswith("/reports/"):
            with self._lock:
                self.counters["bad_signature"] += 1
            return _storage_error(
                403, "AuthenticationFailed", "Signature did not match. String to sign used was r."
            )
        if (
            grant.revoked
            or self._now() >= grant.expires_at
            or (fault is not None and fault.kind == "expired")
        ):
            with self._lock:
                self.counters["expired_url_hits"] += 1
            return _storage_error(
                403, "AuthenticationFailed", "Signed expiry time has passed: poll again for a new URL."
            )
        if blob is None or not blob.path.exists():
            with self._lock:
                self.counters["not_found"] += 1
            return _storage_error(404, "BlobNotFound", "The specified blob does not exist.")
        with self._lock:
            self.counters["downloads"] += 1
        corrupt = fault is not None and fault.kind == "corrupt"
        response = Response(
            200,
            b"",
            [
                ("Content-Type", "application/octet-stream"),
                ("x-ms-blob-type", "BlockBlob"),
                ("Content-Length", str(blob.size)),
            ],
            chunks=_file_chunks(blob.path, blob.size, corrupt),
            length=blob.size,
        )
        if fault is not None:
            response.delay = fault.delay
            if fault.kind == "truncate":
                response.action = "truncate"
        return response

    def _fault(self, fault: Fault) -> Response | None:
        if fault.kind == "reset":
            return Response(0, action="reset", delay=fault.delay)
        if fault.kind == "timeout":
            return Response(0, action="timeout", delay=fault.delay or 30.0)
        if fault.kind == "html":
            return Response(
                fault.status or 502,
                b"<html><body>502 Bad Gateway</body></html>",
                [("Content-Type", "text/html")],
                delay=fault.delay,
            )
        if fault.status is not None:
            response = _storage_error(
                fault.status,
                "ServerBusy" if fault.status == 503 else "InternalError",
                fault.message or "Operation could not be completed within the specified time.",
            )
            if fault.retry_after is not None:
                response.headers.append(("Retry-After", str(int(fault.retry_after))))
            response.delay = fault.delay
            return response
        return None  # truncate / corrupt / expired / delay: applied to the normal answer


def _file_chunks(path: Path, size: int, corrupt: bool) -> Callable[[], Iterator[bytes]]:
    """The file in chunks; ``corrupt`` zeroes its last 64 bytes (the zip directory) and a middle block."""

    def generate() -> Iterator[bytes]:
        damaged_from = max(0, size - 64)
        middle = size // 2
        sent = 0
        with open(path, "rb") as f:
            while True:
                chunk = f.read(CHUNK)
                if not chunk:
                    return
                if corrupt:
                    buf = bytearray(chunk)
                    for lo, hi in ((middle, middle + 16), (damaged_from, size)):
                        a, b = max(lo, sent), min(hi, sent + len(buf))
                        if a < b:
                            buf[a - sent : b - sent] = bytes(b - a)
                    chunk = bytes(buf)
                sent += len(chunk)
                yield chunk

    return generate


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
