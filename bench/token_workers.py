"""Token-endpoint calls across separate processes: N hook calls, each in its own process, in batches.

Real Airflow workers run each task in its own process, so an in-process token cache proves nothing;
the shared cache (encrypted Variable + file lock) must make every process after the first reuse the
same access token. Two ways to get separate processes:

* ``--mode fork``: a parent that imported Airflow (but never fetched a token) forks one child per call,
  ``--concurrency`` at a time (how LocalExecutor-style workers start tasks; cheap enough for 200);
* ``--mode spawn``: one fresh ``python`` interpreter per call (``python -c``-style; slow, so fewer).

Expects AIRFLOW_HOME / AIRFLOW_CONN_MSADS_DEFAULT in the environment (set by ``run.py``). Prints one JSON
line: calls, failures, distinct pids, wall seconds, and the token store's Variable calls per call
(``hooks.token_store.variable_calls()``, counted in each call's own process).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor


def one_call(account_id: int) -> tuple[int, int, int]:
    """The unit of work of one 'task': a fresh hook and client, one API call.

    Returns the pid and the Variable reads / writes the token store made for it.
    """
    from airflow_provider_msads.hooks import token_store
    from airflow_provider_msads.hooks.msads import MicrosoftAdsHook

    before = token_store.variable_calls()
    with MicrosoftAdsHook("msads_default").get_client() as client:
        client.get_account(account_id)
    after = token_store.variable_calls()
    return os.getpid(), after["get"] - before["get"], after["set"] - before["set"]


def _warm_parent() -> None:
    """Pay the one-off costs once, before forking, as a worker's long-lived parent has.

    The first ORM query of a process configures every Airflow mapper (~2 s here); doing it in the
    parent keeps the harness fast. No token is touched, and the pooled database connections are
    disposed of so that no child inherits a parent's socket.
    """
    from airflow import settings
    from airflow.models.variable import Variable

    from airflow_provider_msads.hooks.msads import MicrosoftAdsHook  # noqa: F401

    Variable.get("msads_bench_warm_up", default_var=None)
    if settings.engine is not None:
        settings.engine.dispose()


def _spawn(account_id: int) -> tuple[int, int, int]:
    proc = subprocess.run(
        [sys.executable, __file__, "--single", str(account_id)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr[-2000:])
    pid, gets, sets = json.loads(proc.stdout.strip().splitlines()[-1])
    return int(pid), int(gets), int(sets)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mode", choices=("fork", "spawn"), default="fork")
    parser.add_argument("--account-ids", default="", help="comma-separated ids, one call (process) each")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--single", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.single is not None:
        print(json.dumps(one_call(args.single)))
        return 0

    ids = [int(x) for x in args.account_ids.split(",") if x]
    started = time.perf_counter()
    pids: list[int] = []
    gets = sets = 0
    failures: list[str] = []
    if args.mode == "fork":
        _warm_parent()
        ctx = multiprocessing.get_context("fork")
        # maxtasksperchild=1: every call gets a brand-new process, nothing cached in memory between calls.
        with ctx.Pool(processes=args.concurrency, maxtasksperchild=1) as pool:
            results = [pool.apply_async(one_call, (i,)) for i in ids]
            for result in results:
                try:
                    pid, got, put = result.get(timeout=300)
                    pids.append(pid)
                    gets, sets = gets + got, sets + put
                except Exception as err:
                    failures.append(f"{type(err).__name__}: {err}"[:500])
    else:
        with ThreadPoolExecutor(max_workers=args.concurrency) as pool:
            futures = [pool.submit(_spawn, i) for i in ids]
            for future in futures:
                try:
                    pid, got, put = future.result()
                    pids.append(pid)
                    gets, sets = gets + got, sets + put
                except Exception as err:
                    failures.append(f"{type(err).__name__}: {err}"[:500])
    print(
        json.dumps(
            {
                "mode": args.mode,
                "calls": len(ids),
                "ok": len(pids),
                "failures": failures[:5],
                "failed": len(failures),
                "distinct_pids": len(set(pids)),
                "seconds": time.perf_counter() - started,
                "variable_gets_per_call": gets / len(pids) if pids else None,
                "variable_sets_per_call": sets / len(pids) if pids else None,
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
