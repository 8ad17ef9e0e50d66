"""Scale-out on Airflow's own distributed engine: Celery workers that share only the metadata DB.

One cluster (tests/scale/msads_scale_cluster.py): API server, scheduler (CeleryExecutor), DAG processor,
triggerer and two Celery workers, each with its own HOME/TMPDIR/logs, PostgreSQL as the metadata DB,
Redis as the broker. The emulator issues short-lived access tokens and rotating refresh tokens, so the
run spans several token lifetimes while hundreds of mapped tasks on both workers need a token at once.

Asserted: every task instance succeeded, both workers ran tasks, the XCom rows and the warehouse table
are exactly what the emulator serves, no token grant failed, refresh grants per access-token lifetime
stay at or below 1.1, and no secret (the connection's or any token the emulator issued) is in any file a
process wrote (stdout/stderr, scheduler/triggerer/DAG-processor logs, task logs, TMPDIR).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from msads_scale_cluster import Cluster, require_services

from airflow_provider_msads.client import MicrosoftAdsClient
from airflow_provider_msads.client.settings import ConnectionSettings
from airflow_provider_msads.client.token_cache import MemoryTokenStore
from airflow_provider_msads.testing import (
    DEMO_CLIENT_SECRET,
    DEMO_DEVELOPER_TOKEN,
    DEMO_REFRESH_TOKEN,
    Emulator,
)

pytestmark = [pytest.mark.scale, pytest.mark.timeout(900)]

DAGS = Path(__file__).with_name("dags")
DISCOVERY_DAG = "msads_scale_discovery"
ACCOUNTS = 200  # mapped tasks per DAG
ACCESS_TOKEN_TTL = 30.0  # seconds: the run spans several lifetimes
RUN_TIMEOUT = 420.0
MAX_GRANTS_PER_LIFETIME = 1.1
FIELDS = ["account_id", "account_number", "account_name", "customer_id", "status", "currency"]
TABLE_COLUMNS = (*FIELDS[:4], "customer_name", *FIELDS[4:])


def short_lived_emulator() -> Emulator:
    """Short access tokens and, where the emulator offers it, single-use refresh tokens."""
    return Emulator(accounts=ACCOUNTS, seed=21, access_token_ttl=ACCESS_TOKEN_TTL)


def grants_per_lifetime(grant_times: list[float], ttl: float) -> float:
    """Refresh grants per access-token lifetime: ``ttl`` over the mean time between two grants.

    1.0 when each token is replaced exactly as it expires; a duplicate grant (two workers refreshing
    the same token) or refreshing much too early pushes it up. One grant (the run fit in one lifetime)
    counts as 1.0.
    """
    times = sorted(grant_times)
    if len(times) < 2:
        return float(len(times))
    return (len(times) - 1) * ttl / max(times[-1] - times[0], 1e-9)


def expected_rows(emu: Emulator) -> list[dict[str, Any]]:
    """Discovery as a fresh, independent consent would see it (its own chain: no effect on the DAG's)."""
    conn = json.loads(emu.airflow_conn_json(refresh_token=emu.issue_refresh_token()))
    settings = ConnectionSettings.from_connection_fields(
        login=conn["login"], password=conn["password"], extra=conn["extra"]
    )
    with MicrosoftAdsClient.from_settings(settings, token_store=MemoryTokenStore()) as client:
        accounts = list(client.discover_accounts(with_customer_names=True))
    assert [a.id for a in accounts] == sorted(emu.expected_account_ids)
    return [a.to_row() for a in accounts]


def summary(**values: Any) -> None:
    print("scale:", json.dumps(values, sort_keys=True, default=str))


def test_discovery_on_two_celery_workers(tmp_path: Path, record_property: Any) -> None:
    require_services()
    started = time.monotonic()
    emulator = short_lived_emulator()
    with emulator.serve() as emu:
        cluster = Cluster(
            tmp_path / "cluster",
            dag_files=[DAGS / "msads_scale_discovery.py"],
            connections={"msads_default": emu.airflow_conn_json()},
            celery_config="msads_scale_celery_config.CONFIG",
            python_path=[Path(__file__).parent],
        )
        with cluster:
            cluster.wait_for_dags([DISCOVERY_DAG])
            up = time.monotonic() - started
            run_id = cluster.trigger(DISCOVERY_DAG)
            state = cluster.wait_for_run(DISCOVERY_DAG, run_id, RUN_TIMEOUT)
            states = cluster.task_states(DISCOVERY_DAG, run_id)
            first_start, last_end = cluster.task_times(DISCOVERY_DAG, run_id)
            rows = cluster.xcom(DISCOVERY_DAG, run_id, "discover_account")
            table = cluster.sql(
                f"SELECT {', '.join(TABLE_COLUMNS)}, is_active_in_last_run FROM msads_accounts "
                "ORDER BY account_id"
            )
            grant_times = sorted(t.issued_at for t in emu.identity.access_tokens.values())
            token_failures = [r for r in emu.request_log if r.route == "token" and r.status != 200]
            grants = emu.grant_counts["refresh_token"]
            cluster.stop()  # flush every log before scanning
            issued = [*emu.identity.refresh_tokens, *emu.identity.access_tokens]
            leaked = cluster.find_secrets(
                [DEMO_REFRESH_TOKEN, DEMO_CLIENT_SECRET, DEMO_DEVELOPER_TOKEN, *issued]
            )
            worker_tasks = {
                m.name: len([p for p in (m.home / "logs").rglob("*.log") if "dag_id=" in str(p)])
                for m in cluster.machines
                if m.name.startswith("worker")
            }
            log_count = len(cluster.log_files())
        expected = expected_rows(emu)

    ratio = grants_per_lifetime(grant_times, ACCESS_TOKEN_TTL)
    facts = {
        "dag": DISCOVERY_DAG,
        "state": state,
        "task_instances": len(states),
        "mapped": len([k for k in states if k[0] == "discover_account"]),
        "cluster_up_s": round(up, 1),
        "run_s": round(last_end - first_start, 1),
        "total_s": round(time.monotonic() - started, 1),
        "refresh_grants": grants,
        "token_lifetimes": round((last_end - min(grant_times, default=last_end)) / ACCESS_TOKEN_TTL, 2),
        "grants_per_lifetime": round(ratio, 3),
        "tasks_per_worker": worker_tasks,
        "files_scanned": log_count,
    }
    summary(**facts)
    for key, value in facts.items():
        record_property(key, value)

    failed = {k: v for k, v in states.items() if v != "success"}
    assert state == "success" and not failed, f"run {state}; not successful: {sorted(failed.items())[:20]}"
    assert len([k for k in states if k[0] == "discover_account"]) == ACCOUNTS
    assert all(count > 0 for count in worker_tasks.values()), worker_tasks
    assert sum(worker_tasks.values()) == len(states)

    ids = sorted(emu.expected_account_ids)
    assert rows == {i: [{k: expected[i][k] for k in FIELDS}] for i in range(ACCOUNTS)}, "XCom rows differ"
    assert [dict(zip(TABLE_COLUMNS, row[:-1], strict=True)) for row in table] == [
        {k: r[k] for k in TABLE_COLUMNS} for r in expected
    ], "warehouse table differs"
    assert [row[0] for row in table] == ids
    assert all(row[7] for row in table)

    assert not token_failures, [(r.status, r.fault) for r in token_failures[:5]]
    assert ratio <= MAX_GRANTS_PER_LIFETIME, facts
    assert not leaked, leaked
