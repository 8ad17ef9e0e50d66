"""``msads-emulator``: run the emulator until SIGINT/SIGTERM.

Everything on stdout is shell: ``export MSADS_EMULATOR_URL=<base URL>`` (scripts read the port from it
when ``--port 0``), ``export AIRFLOW_CONN_MSADS_DEFAULT='<json>'`` for the demo identity, and a comment;
all flushed at once. With ``--detach`` the emulator keeps serving in the background and the command
exits after printing (plus ``export MSADS_EMULATOR_PID=<pid>``), so ``eval "$(msads-emulator --detach)"``
sets both variables in the current shell.
"""

from __future__ import annotations

import argparse
import os
import shlex
import signal
import sys
import threading
import time
from collections.abc import Sequence
from datetime import date
from types import FrameType

_DETACHED_ENV = "_MSADS_EMULATOR_DETACHED"


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
        "--single-use-refresh-tokens",
        action="store_true",
        help="refuse a refresh token that was already redeemed (stricter than Microsoft; for scale tests)",
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
    parser.add_argument(
        "--detach",
        action="store_true",
        help="serve in the background and exit after printing the export lines (stop it with "
        "kill $MSADS_EMULATOR_PID)",
    )
    return parser


def _detach(argv: Sequence[str]) -> int:
    """Start the emulator as a background process, relay its export lines and its pid, and return."""
    import subprocess
    import tempfile

    args = [a for a in argv if a != "--detach"]
    # The child must hold none of the caller's pipes (`$(...)` would wait for it): its stderr goes to a
    # file, shown if it fails to start (and named, for --verbose request logs).
    log = tempfile.NamedTemporaryFile(prefix="msads-emulator-", suffix=".log", delete=False)  # noqa: SIM115
    child = subprocess.Popen(  # noqa: S603 - our own interpreter running this module
        [sys.executable, "-m", "airflow_provider_msads.testing.cli", *args],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=log,
        text=True,
        start_new_session=True,  # survives the shell's Ctrl+C and the end of `$(...)`
        env={**os.environ, _DETACHED_ENV: "1"},
    )
    log.close()
    assert child.stdout is not None
    lines = [line.rstrip("\n") for line in child.stdout]  # up to EOF: the child then writes to /dev/null
    child.stdout.close()
    if not any(line.startswith("export AIRFLOW_CONN_") for line in lines):
        code = child.wait(timeout=10)
        with open(log.name, errors="replace") as errors:
            sys.stderr.write(errors.read())
        print(f"msads-emulator: the background emulator exited with {code}", file=sys.stderr)
        return code or 1
    print(
        f"msads-emulator: serving in the background (pid {child.pid}); its log: {log.name}", file=sys.stderr
    )
    print(f"export MSADS_EMULATOR_PID={child.pid}")
    print(
        "\n".join(line.replace("Ctrl+C to stop", "stop it with: kill $MSADS_EMULATOR_PID") for line in lines)
    )
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.accounts < 0:
        print("msads-emulator: --accounts must be >= 0", file=sys.stderr)
        return 2
    if args.detach:
        return _detach(list(argv) if argv is not None else sys.argv[1:])
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
        single_use_refresh_tokens=args.single_use_refresh_tokens,
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
    print(f"export MSADS_EMULATOR_URL={shlex.quote(emu.url)}")
    print(f"export AIRFLOW_CONN_MSADS_DEFAULT={shlex.quote(emu.airflow_conn_json(args.environment))}")
    print(
        f"# {len(emu.expected_account_ids)} accounts for demo user {emu.demo_user_id} "
        f"(seed {args.seed}); ready in {time.perf_counter() - started:.2f}s. Ctrl+C to stop.",
        flush=True,
    )
    print(f"# Reporting at the same URL; report files from {emu.storage_url}", flush=True)
    if os.environ.get(_DETACHED_ENV):  # hand the pipe back: `--detach` relays everything up to EOF
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    try:
        while not stop.wait(0.5):
            pass
    finally:
        emu.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
