"""A real distributed Airflow on one host, laid out as separate machines: the scale-test harness.

What runs (each a real ``airflow`` process): the API server (also the task execution API), the scheduler
(CeleryExecutor), the DAG processor, the triggerer and N ``airflow celery worker`` processes. Each has its
own HOME, TMPDIR, AIRFLOW_HOME, logs and copy of the DAG files, so nothing on disk is shared, as on
separate machines. What they do share is what real machines share: a PostgreSQL metadata database (a
fresh database per cluster, created and dropped here), Redis as the Celery broker (one queue per cluster,
so parallel runs do not steal each other's tasks), the configuration (environment) and the connections
(``AIRFLOW_CONN_*``, as a secrets backend would serve them).

Used by tests/scale (import it as ``msads_scale_cluster``) and by ``bench/run.py --sections triggerer``.
Requirements: ``apache-airflow-providers-celery`` (the ``test`` extra), Redis on 127.0.0.1:6379 and
PostgreSQL on 127.0.0.1:5432 (``.ci/services`` starts both). :func:`require_services` skips with the
reason when one is missing, or fails when ``MSADS_REQUIRE_DBS=1`` (CI).
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

PG_HOST, PG_PORT, PG_USER, PG_ADMIN_DB = "127.0.0.1", 5432, "postgres", "test"
REDIS_HOST, REDIS_PORT = "127.0.0.1", 6379
START_TIMEOUT = 120.0
STOP_TIMEOUT = 30.0

#: Settings that make a small cluster react in about a second instead of the production defaults
#: (tens of seconds); each is an ordinary Airflow option, the same on every "machine".
FAST_SETTINGS: dict[str, str] = {
    "AIRFLOW__SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME": "0.5",
    "AIRFLOW__SCHEDULER__JOB_HEARTBEAT_SEC": "2",
    "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "2",
    "AIRFLOW__SCHEDULER__TASK_QUEUED_TIMEOUT": "300",
    "AIRFLOW__TRIGGERER__JOB_HEARTBEAT_SEC": "2",
    # parse each DAG file once at start-up; the files never change during a run
    "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "600",
    "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "600",
    "AIRFLOW__DAG_PROCESSOR__PARSING_PROCESSES": "1",
    "AIRFLOW__DAG_PROCESSOR__PRINT_STATS_INTERVAL": "600",
    "AIRFLOW__CORE__MIN_SERIALIZED_DAG_UPDATE_INTERVAL": "600",
    "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
    "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
    "AIRFLOW__CORE__PARALLELISM": "64",
    "AIRFLOW__CORE__MAX_ACTIVE_TASKS_PER_DAG": "64",
    "AIRFLOW__SCHEDULER__MAX_TIS_PER_QUERY": "64",
    "AIRFLOW__CELERY__WORKER_PREFETCH_MULTIPLIER": "1",
    "AIRFLOW__CELERY__SYNC_PARALLELISM": "2",
    "AIRFLOW__API__WORKER_TIMEOUT": "300",
    # a busy 2-core host answers the task execution API slower than the 5 s default
    "AIRFLOW__WORKERS__EXECUTION_API_TIMEOUT": "60",
    # only the runs a test triggers: no scheduled run of a @daily example DAG on top
    "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "False",
}


def service_problem() -> str | None:
    """Why a cluster cannot start here (None: it can)."""
    try:
        import airflow.providers.celery  # noqa: F401
    except ImportError:
        return "apache-airflow-providers-celery is not installed (pip install -e '.[test]')"
    try:
        import psycopg  # noqa: F401
    except ImportError:
        return "psycopg (PostgreSQL driver) is not installed"
    try:
        with socket.create_connection((REDIS_HOST, REDIS_PORT), timeout=2) as sock:
            sock.sendall(b"PING\r\n")
            if not sock.recv(64).startswith(b"+PONG"):
                return f"the server on {REDIS_HOST}:{REDIS_PORT} does not answer PING like Redis"
    except OSError as err:
        return f"Redis is not reachable on {REDIS_HOST}:{REDIS_PORT} ({err}); .ci/services starts it"
    try:
        _admin_sql("SELECT 1")
    except Exception as err:
        return f"PostgreSQL is not reachable on {PG_HOST}:{PG_PORT} ({type(err).__name__}: {err})"
    return None


def require_services() -> None:
    """Skip with the reason when Redis/PostgreSQL/Celery are missing; fail instead under MSADS_REQUIRE_DBS."""
    import pytest

    problem = service_problem()
    if problem is None:
        return
    if os.environ.get("MSADS_REQUIRE_DBS"):
        pytest.fail(f"MSADS_REQUIRE_DBS is set but {problem}")
    pytest.skip(problem)


def _admin_sql(sql: str) -> None:
    import psycopg

    with psycopg.connect(
        host=PG_HOST, port=PG_PORT, user=PG_USER, dbname=PG_ADMIN_DB, autocommit=True, connect_timeout=5
    ) as conn:
        conn.execute(sql)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Machine:
    """One Airflow process with a disk of its own (HOME = AIRFLOW_HOME, TMPDIR inside it)."""

    name: str
    home: Path
    command: list[str]
    env: dict[str, str]
    output: Path
    process: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def start(self) -> None:
        with self.output.open("ab") as out:
            self.process = subprocess.Popen(
                self.command,
                env=self.env,
                cwd=self.home,  # not a checkout: a stray *.egg-info there would register plugins twice
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.started_at = time.monotonic()

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def tail(self, chars: int = 3000) -> str:
        return self.output.read_text(errors="replace")[-chars:] if self.output.exists() else ""

    def signal(self, signum: int) -> None:
        if self.alive():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.pid, signum)

    def wait(self, timeout: float) -> bool:
        if self.process is None:
            return True
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return False
        return True


@dataclass
class Cluster:
    """Start with ``with Cluster(...) as cluster:``; everything is stopped and the database dropped after.

    :param root: a fresh directory for the machines' disks and outputs.
    :param dag_files: DAG files copied into every machine's own dags folder.
    :param connections: ``conn_id -> AIRFLOW_CONN_* value`` for every machine.
    :param workers: number of ``airflow celery worker`` processes (each its own machine).
    :param worker_concurrency: Celery pool size per worker.
    :param env: extra settings for every machine (after :data:`FAST_SETTINGS`).
    :param triggerer: start an ``airflow triggerer``.
    :param celery_config: ``[celery] celery_config_options`` (e.g. a module that preloads the provider).
    :param python_path: directories put first on every machine's PYTHONPATH.
    :param warehouse_conn_id: also define this connection, pointing at the cluster's own database (a
        warehouse that is dropped with it); None: do not.
    """

    root: Path
    dag_files: Sequence[Path]
    connections: Mapping[str, str] = field(default_factory=dict)
    workers: int = 2
    worker_concurrency: int = 4
    env: Mapping[str, str] = field(default_factory=dict)
    triggerer: bool = True
    api_workers: int = 2
    warehouse_conn_id: str | None = "msads_warehouse"
    celery_config: str | None = None
    python_path: Sequence[Path] = ()
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex[:10])
    machines: list[Machine] = field(default_factory=list)
    api_url: str = ""

    @property
    def database(self) -> str:
        return f"msads_scale_{self.run_id}"

    @property
    def queue(self) -> str:
        return f"msads_scale_{self.run_id}"

    @property
    def sql_alchemy_conn(self) -> str:
        return f"postgresql+psycopg2://{PG_USER}@{PG_HOST}:{PG_PORT}/{self.database}"

    @property
    def warehouse_uri(self) -> str:
        """An Airflow connection URI for the cluster's own database (a warehouse that is dropped after)."""
        return f"postgres://{PG_USER}@{PG_HOST}:{PG_PORT}/{self.database}"

    # --- lifecycle ------------------------------------------------------------------------------

    def __enter__(self) -> Cluster:
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def start(self) -> None:
        """Create and migrate the database, start every process, wait until the API server answers."""
        _admin_sql(f'CREATE DATABASE "{self.database}"')
        self._database_created = True
        api_port = free_port()
        self.api_url = f"http://127.0.0.1:{api_port}"
        self._shared_env = self._common_env(api_port)
        migrate = self._machine("migrate", ["db", "migrate"])
        migrate.start()
        if not migrate.wait(START_TIMEOUT) or migrate.process is None or migrate.process.returncode != 0:
            raise RuntimeError(f"airflow db migrate failed:\n{migrate.tail()}")
        self.machines.remove(migrate)
        self._machine(
            "api-server",
            ["api-server", "--host", "127.0.0.1", "--port", str(api_port)],
            {"AIRFLOW__API__WORKERS": str(self.api_workers)},
        )
        self._machine("scheduler", ["scheduler"])
        self._machine("dag-processor", ["dag-processor"])
        if self.triggerer:
            self._machine("triggerer", ["triggerer", "--skip-serve-logs"])
        for index in range(1, self.workers + 1):
            self._machine(
                f"worker{index}",
                [
                    "celery",
                    "worker",
                    "--skip-serve-logs",
                    "--queues",
                    self.queue,
                    "--concurrency",
                    str(self.worker_concurrency),
                    "--celery-hostname",
                    f"worker{index}-{self.run_id}@localhost",
                    "--without-gossip",
                    "--without-mingle",
                ],
            )
        for machine in self.machines:
            machine.start()
        self.wait_for(self._api_up, "the API server to answer", START_TIMEOUT)

    def close(self) -> None:
        """Stop every process (SIGTERM, then SIGKILL) and drop the database."""
        self.stop()
        if getattr(self, "_database_created", False):
            with contextlib.suppress(Exception):
                _admin_sql(f'DROP DATABASE IF EXISTS "{self.database}" WITH (FORCE)')
            self._database_created = False

    def stop(self) -> None:
        for machine in self.machines:
            machine.signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT
        for machine in self.machines:
            if not machine.wait(max(0.1, deadline - time.monotonic())):
                machine.signal(signal.SIGKILL)
                machine.wait(10)

    # --- configuration --------------------------------------------------------------------------

    def _common_env(self, api_port: int) -> dict[str, str]:
        base = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW_", "AIRFLOW__"))}
        env = {
            **base,
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": self.sql_alchemy_conn,
            "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
            "AIRFLOW__CORE__FERNET_KEY": base64.urlsafe_b64encode(os.urandom(32)).decode(),
            "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(32),
            "AIRFLOW__API__SECRET_KEY": secrets.token_urlsafe(32),
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{api_port}/execution/",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
            "AIRFLOW__CELERY__BROKER_URL": f"redis://{REDIS_HOST}:{REDIS_PORT}/0",
            "AIRFLOW__CELERY__RESULT_BACKEND": f"db+postgresql://{PG_USER}@{PG_HOST}:{PG_PORT}/{self.database}",
            "AIRFLOW__CELERY__WORKER_CONCURRENCY": str(self.worker_concurrency),
            "AIRFLOW__OPERATORS__DEFAULT_QUEUE": self.queue,
            **FAST_SETTINGS,
            **self.env,
        }
        if self.python_path:
            paths = [str(p) for p in self.python_path]
            env["PYTHONPATH"] = os.pathsep.join([*paths, *filter(None, [base.get("PYTHONPATH")])])
        if self.celery_config:
            env["AIRFLOW__CELERY__CELERY_CONFIG_OPTIONS"] = self.celery_config
        connections = dict(self.connections)
        if self.warehouse_conn_id:
            connections.setdefault(self.warehouse_conn_id, self.warehouse_uri)
        for conn_id, value in connections.items():
            env[f"AIRFLOW_CONN_{conn_id.upper()}"] = value
        return env

    def _machine(self, name: str, args: list[str], extra_env: Mapping[str, str] | None = None) -> Machine:
        home = self.root / name
        tmp = home / "tmp"
        dags = home / "dags"
        for path in (home, tmp, dags):
            path.mkdir(parents=True, exist_ok=True)
        for dag_file in self.dag_files:
            shutil.copy2(dag_file, dags / Path(dag_file).name)
        env = {
            **self._shared_env,
            "HOME": str(home),
            "TMPDIR": str(tmp),
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
            "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(home / "logs"),
            **(extra_env or {}),
        }
        machine = Machine(name, home, [sys.executable, "-m", "airflow", *args], env, home / f"{name}.out")
        self.machines.append(machine)
        return machine

    def machine(self, name: str) -> Machine:
        return next(m for m in self.machines if m.name == name)

    # --- waiting --------------------------------------------------------------------------------

    def wait_for(self, condition: Any, what: str, timeout: float, interval: float = 0.5) -> Any:
        """Poll ``condition()`` until it is truthy; fail with every process's output tail otherwise."""
        deadline = time.monotonic() + timeout
        while True:
            dead = [m for m in self.machines if m.process is not None and not m.alive()]
            if dead:
                raise RuntimeError(
                    f"while waiting for {what}: {', '.join(m.name for m in dead)} exited\n" + self.tails()
                )
            value = condition()
            if value:
                return value
            if time.monotonic() > deadline:
                raise TimeoutError(f"waited {timeout:.0f} s for {what}\n" + self.tails())
            time.sleep(interval)

    def tails(self, chars: int = 1500) -> str:
        return "\n".join(f"--- {m.name} ---\n{m.tail(chars)}" for m in self.machines)

    def _api_up(self) -> bool:
        with contextlib.suppress(httpx.HTTPError):
            return httpx.get(f"{self.api_url}/api/v2/monitor/health", timeout=2).status_code == 200
        return False

    # --- the REST API and the metadata database -------------------------------------------------

    def api(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """A call to the public REST API as an admin (simple auth manager, all admins)."""
        if not getattr(self, "_token", None):
            response = httpx.get(f"{self.api_url}/auth/token", timeout=30)
            response.raise_for_status()
            self._token = str(response.json()["access_token"])
        headers = {"Authorization": f"Bearer {self._token}"}
        return httpx.request(method, f"{self.api_url}/api/v2{path}", headers=headers, timeout=60, **kwargs)

    def sql(self, query: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        import psycopg

        with psycopg.connect(
            host=PG_HOST, port=PG_PORT, user=PG_USER, dbname=self.database, connect_timeout=5
        ) as conn:
            return list(conn.execute(query, params).fetchall())  # type: ignore[arg-type]

    def dict_rows(self, query: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        """Rows as dicts keyed by column name."""
        import psycopg
        from psycopg.rows import dict_row

        with psycopg.connect(
            host=PG_HOST, port=PG_PORT, user=PG_USER, dbname=self.database, connect_timeout=5
        ) as conn:
            return list(conn.cursor(row_factory=dict_row).execute(query, params).fetchall())  # type: ignore[arg-type]

    def wait_for_dags(self, dag_ids: Sequence[str], timeout: float = START_TIMEOUT) -> None:
        """Until the DAG processor has parsed and serialized every one of ``dag_ids``."""

        def parsed() -> bool:
            rows = self.sql(
                "SELECT d.dag_id FROM dag d JOIN serialized_dag s ON s.dag_id = d.dag_id "
                "WHERE d.dag_id = ANY(%s)",
                (list(dag_ids),),
            )
            return {r[0] for r in rows} >= set(dag_ids)

        self.wait_for(parsed, f"the DAG processor to parse {', '.join(dag_ids)}", timeout)
        errors = self.sql("SELECT filename, stacktrace FROM import_error")
        if errors:
            raise RuntimeError(f"DAG import errors: {errors}")

    def trigger(self, dag_id: str, conf: Mapping[str, Any] | None = None) -> str:
        """Start a run through the REST API (as a user would); returns its run id."""
        response = self.api(
            "POST", f"/dags/{dag_id}/dagRuns", json={"logical_date": None, "conf": dict(conf or {})}
        )
        if response.status_code >= 400:
            raise RuntimeError(f"cannot trigger {dag_id}: {response.status_code} {response.text}")
        return str(response.json()["dag_run_id"])

    def wait_for_run(self, dag_id: str, run_id: str, timeout: float) -> str:
        """Until the run is finished; returns its state ("success" / "failed")."""

        def finished() -> str | None:
            rows = self.sql("SELECT state FROM dag_run WHERE dag_id = %s AND run_id = %s", (dag_id, run_id))
            state = rows[0][0] if rows else None
            return state if state in ("success", "failed") else None

        return str(self.wait_for(finished, f"run {run_id} of {dag_id} to finish", timeout, interval=1.0))

    def task_states(self, dag_id: str, run_id: str) -> dict[tuple[str, int], str | None]:
        rows = self.sql(
            "SELECT task_id, map_index, state FROM task_instance WHERE dag_id = %s AND run_id = %s",
            (dag_id, run_id),
        )
        return {(task_id, index): state for task_id, index, state in rows}

    def task_times(self, dag_id: str, run_id: str) -> tuple[float, float]:
        """Epoch seconds of the first task start and the last task end of a run."""
        rows = self.sql(
            "SELECT EXTRACT(EPOCH FROM MIN(start_date)), EXTRACT(EPOCH FROM MAX(end_date)) "
            "FROM task_instance WHERE dag_id = %s AND run_id = %s",
            (dag_id, run_id),
        )
        return float(rows[0][0]), float(rows[0][1])

    def hosts(self, dag_id: str, run_id: str) -> dict[str, int]:
        """Task instances per Celery worker that ran them (proves the work was spread)."""
        rows = self.sql(
            "SELECT hostname, COUNT(*) FROM task_instance WHERE dag_id = %s AND run_id = %s GROUP BY hostname",
            (dag_id, run_id),
        )
        return {str(host): int(count) for host, count in rows}

    def xcom(self, dag_id: str, run_id: str, task_id: str, key: str = "return_value") -> dict[int, Any]:
        """XCom values of one task by map index (-1 when not mapped), decoded from JSON."""
        rows = self.sql(
            "SELECT map_index, value FROM xcom WHERE dag_id = %s AND run_id = %s AND task_id = %s "
            "AND key = %s",
            (dag_id, run_id, task_id, key),
        )
        return {int(index): json.loads(value) if isinstance(value, str) else value for index, value in rows}

    # --- logs -----------------------------------------------------------------------------------

    def log_files(self) -> list[Path]:
        """Every file a process wrote: its stdout/stderr, its logs folder (task logs), its TMPDIR."""
        files: list[Path] = []
        for machine in self.machines:
            files.append(machine.output)
            for folder in (machine.home / "logs", machine.home / "tmp"):
                files.extend(p for p in folder.rglob("*") if p.is_file())
        return [f for f in files if f.exists()]

    def task_log_files(self) -> list[Path]:
        return [p for p in self.log_files() if "dag_id=" in str(p)]

    def find_secrets(self, values: Sequence[str]) -> list[str]:
        """``file: what`` for every secret value found in any file of :meth:`log_files`."""
        wanted = [(v, v.encode()) for v in values if v and len(v) > 5]
        found = []
        for path in self.log_files():
            data = path.read_bytes()
            for text, raw in wanted:
                if raw in data:
                    found.append(f"{path.relative_to(self.root)}: {text[:6]}…")
        return found


@contextlib.contextmanager
def timed() -> Iterator[dict[str, float]]:
    """``with timed() as t: ...`` then ``t["seconds"]``."""
    result: dict[str, float] = {}
    start = time.monotonic()
    try:
        yield result
    finally:
        result["seconds"] = time.monotonic() - start
