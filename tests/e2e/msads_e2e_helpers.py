"""Running example DAGs for real (``airflow dags test``) and reading what they left in the metadata DB.

Shared by tests/e2e and tests/reliability (import it as ``msads_e2e_helpers``; conftest module names
clash across folders, so the machinery lives here, not in a conftest).
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: The example DAGs, at the top of the checkout (the wheel carries a copy; see setup.py).
EXAMPLE_DAGS = Path(__file__).resolve().parents[2] / "example_dags"

RUN_TIMEOUT = 300  # seconds for one `airflow dags test`


@dataclass(frozen=True)
class DagRun:
    dag_id: str
    run_id: str
    state: str
    returncode: int
    log: Path

    def tail(self, lines: int = 60) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])


class AirflowE2E:
    """Runs example DAGs and reads what they left in the metadata database."""

    def __init__(self, home: Path, cli: list[str], logs: Path) -> None:
        self.home = home
        self.cli = cli
        self.logs = logs
        url = os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]
        if not url.startswith("sqlite:///"):
            raise RuntimeError(f"e2e tests read the metadata DB directly and expect SQLite, got {url}")
        self.metadata_db = Path(url.removeprefix("sqlite:///"))
        self._runs = 0

    def metadata(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with sqlite3.connect(self.metadata_db) as db:
            return list(db.execute(sql, params).fetchall())

    def forget_stored_tokens(self) -> None:
        """Drop rotated tokens a previous emulator issued (they would be unknown to a new one)."""
        with sqlite3.connect(self.metadata_db) as db:
            db.execute("DELETE FROM variable WHERE key LIKE 'msads_oauth_token__%'")

    def run(
        self,
        dag_id: str,
        connections: dict[str, str],
        env_extra: Mapping[str, str] | None = None,
        *,
        args: Sequence[str] = (),
    ) -> DagRun:
        """``airflow dags test <dag_id> [args]`` with ``AIRFLOW_CONN_<ID>`` variables; returns the new run.

        ``args``: e.g. a logical date and ``--conf '{...}'``.
        """
        env = {**os.environ, **(env_extra or {})}
        for conn_id, value in connections.items():
            env[f"AIRFLOW_CONN_{conn_id.upper()}"] = value
        # Not by run_id alone: rerunning a logical date replaces its run under the same run_id.
        query = "SELECT run_id, state, id, start_date FROM dag_run WHERE dag_id = ? ORDER BY id"
        before = {r[2:] + r[:1] for r in self.metadata(query, (dag_id,))}
        self._runs += 1
        log = self.logs / f"{self._runs:02d}-{dag_id}.log"
        with log.open("w") as out:
            proc = subprocess.run(
                [*self.cli, "dags", "test", dag_id, *args],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                timeout=RUN_TIMEOUT,
                check=False,
            )
        runs = [r for r in self.metadata(query, (dag_id,)) if r[2:] + r[:1] not in before]
        if len(runs) != 1:
            raise AssertionError(
                f"expected one new run of {dag_id}, found {runs}; log:\n{log.read_text()[-4000:]}"
            )
        return DagRun(dag_id, runs[0][0], runs[0][1], proc.returncode, log)

    def xcom(self, run: DagRun, task_id: str, key: str = "return_value") -> dict[int, Any]:
        """The XCom values of one task of a run, by map index (-1 when not mapped)."""
        rows = self.metadata(
            "SELECT map_index, value FROM xcom WHERE dag_id = ? AND run_id = ? AND task_id = ? AND key = ?",
            (run.dag_id, run.run_id, task_id, key),
        )
        # SQLite hands JSON scalars back as numbers, documents as text.
        return {index: json.loads(value) if isinstance(value, str) else value for index, value in rows}

    def all_xcom_text(self, run: DagRun) -> str:
        rows = self.metadata(
            "SELECT value FROM xcom WHERE dag_id = ? AND run_id = ?", (run.dag_id, run.run_id)
        )
        return "\n".join(str(r[0]) for r in rows)

    def task_states(self, run: DagRun) -> dict[tuple[str, int], str]:
        rows = self.metadata(
            "SELECT task_id, map_index, state FROM task_instance WHERE dag_id = ? AND run_id = ?",
            (run.dag_id, run.run_id),
        )
        return {(task_id, index): state for task_id, index, state in rows}


def install_example_dags(home: Path) -> list[Path]:
    """Copy the example DAG files into the dags folder of the test AIRFLOW_HOME."""
    dags_folder = Path(os.environ.get("AIRFLOW__CORE__DAGS_FOLDER", home / "dags"))
    dags_folder.mkdir(parents=True, exist_ok=True)
    source = EXAMPLE_DAGS
    copied = [Path(shutil.copy2(path, dags_folder / path.name)) for path in sorted(source.glob("msads_*.py"))]
    assert len(copied) == 3, f"expected the three example DAG files in {source}, found {copied}"
    return copied
