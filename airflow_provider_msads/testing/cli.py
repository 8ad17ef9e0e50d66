"""``msads-emulator``: run the emulator until SIGINT/SIGTERM.

The first stdout line is the base URL (scripts read it to find the port when ``--port 0``); the second is
a ready ``AIRFLOW_CONN_MSADS_DEFAULT='<json>'`` line for the demo identity. Both are flushed at once.
"""

from __future__ import annotations

import argparse
import shlex
import signal
import sys
import threading
import time
from collections.abc import Sequence
from datetime import date
from types import FrameType


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="msads-emulator",
        description="Local Microsoft identity platform + Customer Management v13 (REST and SOAP) + "
        "Reporting v13 (REST, files from a second storage origin).",
    )
    parser.add_argument("--host", default="127.0.0.1", help="interface to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="port to listen on; 0 picks a free one (default)")
    parser.add_argument(
        "--accounts", type=int, default=25, help="accounts the demo user can reach (default 25)"
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the synthetic data (default 0)")
    parser.add_argument(
        "--access-token-ttl",
        type=float,
        default=3600.0,
        help="access token lifetime in seconds (default 3600)",
    )
    parser.add_argument(
        "--refresh-token-ttl",
        type=float,
        default=90 * 86400.0,
        help="lifetime of rotated refresh tokens in seconds (default 90 days; the demo token never expires)",
    )
    parser.add_argument(
        "--environment",
        choices=("production", "sandbox"),
        default="production",
        help="which environment the printed connection targets (default production)",
    )
    parser.add_argument("--verbose", action="store_true", help="log every request to stderr")
    reporting = parser.add_argument_group("reporting")
    reporting.add_argument(
        "--report-lag-days",
        type=int,
        default=1,
        help="Last Completed Available Day = today - N; later days are provisional (default 1)",
    )
    reporting.add_argument(
        "--report-today",
        type=date.fromisoformat,
        default=None,
        metavar="YYYY-MM-DD",
        help="pin the reporting clock's date (default: today, UTC); it keeps running from there",
    )
    reporting.add_argument(
        "--report-pending-polls",
        type=int,
        default=1,
        help="Poll answers Pending N times per report before Success (default 1)",
    )
    reporting.add_argument(
        "--report-url-lifetime",
        type=float,
        default=300.0,
        help="seconds a report download URL stays valid (default 300, as on the real service)",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.accounts < 0:
        print("msads-emulator: --accounts must be >= 0", file=sys.stderr)
        return 2
    if args.report_lag_days < 0 or args.report_pending_polls < 0 or args.report_url_lifetime <= 0:
        print(
            "msads-emulator: --report-lag-days and --report-pending-polls must be >= 0, "
            "--report-url-lifetime > 0",
            file=sys.stderr,
        )
        return 2
    from airflow_provider_msads.testing.emulator import Emulator

    started = time.perf_counter()
    emu = Emulator(
        accounts=args.accounts,
        seed=args.seed,
        access_token_ttl=args.access_token_ttl,
        refresh_token_ttl=args.refresh_token_ttl,
        verbose=args.verbose,
        report_completion_lag_days=args.report_lag_days,
        report_pending_polls=args.report_pending_polls,
        report_url_lifetime=args.report_url_lifetime,
    )
    if args.report_today is not None:
        emu.reporting.set_today(args.report_today)
    try:
        emu.start(args.host, args.port)
    except OSError as exc:
        print(f"msads-emulator: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 1
    stop = threading.Event()

    def _on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, _on_signal)
    signal.signal(signal.SIGTERM, _on_signal)
    print(emu.url)
    print(f"AIRFLOW_CONN_MSADS_DEFAULT={shlex.quote(emu.airflow_conn_json(args.environment))}")
    print(
        f"# {len(emu.expected_account_ids)} accounts for demo user {emu.demo_user_id} "
        f"(seed {args.seed}); ready in {time.perf_counter() - started:.2f}s. Ctrl+C to stop.",
        flush=True,
    )
    print(f"# Reporting at the same URL; report files from {emu.storage_url}", flush=True)
    try:
        while not stop.wait(0.5):
            pass
    finally:
        emu.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
