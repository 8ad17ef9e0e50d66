"""Run the emulator in its own process for the benchmarks, with a small stats endpoint.

Why a separate launcher instead of ``msads-emulator``: the benchmark must not count the emulator's CPU
and memory against the client, and it needs server-side numbers the CLI does not print (time spent
rendering each page, token grants). Everything else is the stock :class:`Emulator`.

Prints one JSON line ``{"url": ..., "conn": {...}, ...}`` on stdout, then serves until SIGTERM/SIGINT
(or, with ``--watch-stdin``, until stdin closes). Extra routes (never part of the emulated API):

* ``GET /__bench/stats``: request counters, token grants, and per-route app time (seconds, calls);
* ``POST /__bench/reset``: zero the app timers and drop the request log (tokens stay valid).
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
import time
from collections import Counter
from types import FrameType

from airflow_provider_msads.testing.emulator import Emulator
from airflow_provider_msads.testing.server import Request, Response, ServerThread

STATS_PATH = "/__bench/stats"
RESET_PATH = "/__bench/reset"


class BenchApp:
    """Wraps the emulator application: times each call by route and answers the ``/__bench`` routes."""

    def __init__(self, emu: Emulator) -> None:
        self.emu = emu
        self._lock = threading.Lock()
        self.app_seconds: Counter[str] = Counter()
        self.app_calls: Counter[str] = Counter()

    def __call__(self, request: Request) -> Response:
        if request.path == STATS_PATH:
            return self._json(self.stats())
        if request.path == RESET_PATH:
            with self._lock:
                self.app_seconds.clear()
                self.app_calls.clear()
            with self.emu._lock:  # the log grows by one record per request: keep long runs bounded
                self.emu.request_log.clear()
            return self._json({"reset": True})
        label = _route(request)
        started = time.perf_counter()
        response = self.emu(request)
        elapsed = time.perf_counter() - started
        with self._lock:
            self.app_seconds[label] += elapsed
            self.app_calls[label] += 1
        return response

    def stats(self) -> dict[str, object]:
        with self._lock:
            seconds = dict(self.app_seconds)
            calls = dict(self.app_calls)
        with self.emu._lock:
            counters = dict(self.emu.counters)
            grants = dict(self.emu.grant_counts)
        return {
            "counters": counters,
            "grants": grants,
            "app_seconds": seconds,
            "app_calls": calls,
        }

    @staticmethod
    def _json(body: object) -> Response:
        return Response(200, json.dumps(body).encode(), [("Content-Type", "application/json")])


def _route(request: Request) -> str:
    """``token``, ``SearchAccounts``, ``GetUser``... for timing; good enough without the emulator's parser."""
    action = request.headers.get("soapaction")
    if action:
        return action.strip('"').rsplit("/", 1)[-1]
    path = request.path.rstrip("/")
    if path.endswith("/token"):
        return "token"
    if path.lower().endswith("/generatereport/poll"):
        return "PollGenerateReport"
    if path.lower().endswith("/generatereport/submit"):
        return "SubmitGenerateReport"
    return {
        "user/query": "GetUser",
        "accounts/search": "SearchAccounts",
        "account/query": "GetAccount",
        "customer/query": "GetCustomer",
    }.get("/".join(path.lower().split("/")[-2:]), "other")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, required=True)
    parser.add_argument("--seed", type=int, default=8)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument(
        "--report-pending-polls", type=int, default=1, help="Poll answers Pending this often per report"
    )
    parser.add_argument(
        "--watch-stdin", action="store_true", help="stop when stdin closes (the parent benchmark died)"
    )
    args = parser.parse_args()

    started = time.perf_counter()
    emu = Emulator(accounts=args.accounts, seed=args.seed, report_pending_polls=args.report_pending_polls)
    app = BenchApp(emu)
    server = ServerThread(app, args.host, 0)
    # The Emulator's helpers (connection_extra, airflow_conn_json) read the URL from its own server slot.
    emu._server = server
    server.start()
    stop = threading.Event()

    def _on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    ready = {
        "url": server.url,
        "conn": json.loads(emu.airflow_conn_json()),
        "accounts": len(emu.expected_account_ids),
        "startup_seconds": time.perf_counter() - started,
    }
    print(json.dumps(ready), flush=True)
    if args.watch_stdin:  # the parent holds our stdin open: when it dies, we stop instead of lingering
        threading.Thread(target=lambda: (sys.stdin.read(), stop.set()), daemon=True).start()
    stop.wait()
    server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
