"""The "machines" of the cross-machine token test: N forked processes discovering accounts in a loop.

Usage: msads_scale_token_worker.py CONN_ID GO_FILE SECONDS MACHINES_DIR N
The launcher imports Airflow and the provider once and configures the ORM (the slow part on a busy
host), disposes of its database connections, then forks N children. Each child takes its own HOME and
TMPDIR (``MACHINES_DIR/machine-<i>/``) before anything touches a lock file, so no lock is shared, and
reaches the shared PostgreSQL metadata DB (AIRFLOW__DATABASE__SQL_ALCHEMY_CONN) through Airflow's
Variable model. Each loop iteration is what one task does: MicrosoftAdsHook(conn_id).get_client() ->
discover_accounts(), with the hook's default token store (the encrypted Airflow Variable). Each child
writes one JSON result file; the launcher prints them as one JSON list. Never prints a token.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from pathlib import Path


def child(conn_id: str, go_file: Path, seconds: float, machine: Path) -> None:
    from airflow_provider_msads.hooks import token_store
    from airflow_provider_msads.hooks.msads import MicrosoftAdsHook

    for sub in ("home", "tmp"):
        (machine / sub).mkdir(parents=True, exist_ok=True)
    os.environ["HOME"] = str(machine / "home")
    os.environ["TMPDIR"] = str(machine / "tmp")
    os.environ.pop("MSADS_TOKEN_LOCK_DIR", None)
    tempfile.tempdir = None  # re-read TMPDIR: this "machine" has its own temp dir
    Path(f"{go_file}.ready.{os.getpid()}").touch()
    deadline = time.monotonic() + 60
    while not go_file.exists():
        if time.monotonic() > deadline:
            raise SystemExit("no go signal")
        time.sleep(0.01)
    token_store.reset_variable_calls()
    stop = time.monotonic() + seconds
    done, failures, accounts = 0, [], 0
    while time.monotonic() < stop:
        try:
            with MicrosoftAdsHook(conn_id).get_client() as client:
                accounts = sum(1 for _ in client.discover_accounts())
            done += 1
        except Exception as err:  # counted and reported (type and first line only)
            failures.append(f"{type(err).__name__}: {str(err).splitlines()[0][:300]}")
    result = {
        "discoveries": done,
        "failures": failures,
        "accounts": accounts,
        "variable_calls": token_store.variable_calls(),
        "tmpdir": tempfile.gettempdir(),
    }
    (machine / "result.json").write_text(json.dumps(result))


def main() -> None:
    conn_id, go_file, seconds = sys.argv[1], Path(sys.argv[2]), float(sys.argv[3])
    machines, count = Path(sys.argv[4]), int(sys.argv[5])
    from airflow import settings
    from airflow.models.variable import Variable

    from airflow_provider_msads.hooks.msads import MicrosoftAdsHook

    Variable.get("msads_scale_warm_up", default_var=None)  # configure the ORM once, before forking
    MicrosoftAdsHook(conn_id).settings  # noqa: B018 - parse the connection once (imports)
    if settings.engine is not None:
        settings.engine.dispose()  # no child inherits the parent's database sockets
    pids = []
    for i in range(count):
        pid = os.fork()
        if pid == 0:
            code = 0
            try:
                child(conn_id, go_file, seconds, machines / f"machine-{i}")
            except BaseException as err:  # reported by the exit code and stderr
                print(f"machine-{i}: {type(err).__name__}: {err}", file=sys.stderr)
                code = 1
            finally:
                os._exit(code)
        pids.append(pid)
    failed = [pid for pid in pids if os.waitpid(pid, 0)[1] != 0]
    results = [json.loads((machines / f"machine-{i}" / "result.json").read_text()) for i in range(count)]
    print(json.dumps(results))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
