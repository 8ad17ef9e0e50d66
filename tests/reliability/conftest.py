"""Reliability suite wiring: the outcome recorder (printed in the terminal summary and written to a file
under the pytest tmp dir), real `airflow dags test` runs via tests/e2e's machinery, and SQL targets."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parent.parent / "e2e"))  # msads_e2e_helpers: shared dags-test machinery

from msads_e2e_helpers import AirflowE2E, install_example_dags
from msads_reliability_helpers import RECORDER, Recorder, SqlTarget, make_sql_target

TABLE_FILE = "msads-reliability-table.md"


@pytest.fixture(scope="session")
def recorder(tmp_path_factory: pytest.TempPathFactory) -> Recorder:
    """Each reliability test reports what it injected and what it lost, duplicated or leaked."""
    RECORDER.path = tmp_path_factory.getbasetemp() / TABLE_FILE
    return RECORDER


@pytest.fixture(scope="session")
def reliability_e2e(
    airflow_db: Path, airflow_cli: list[str], tmp_path_factory: pytest.TempPathFactory
) -> AirflowE2E:
    install_example_dags(airflow_db)
    return AirflowE2E(airflow_db, airflow_cli, tmp_path_factory.mktemp("reliability-dag-runs"))


@pytest.fixture(params=["sqlite", "postgresql", "mariadb"])
def sql_target(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SqlTarget]:
    target = make_sql_target(request.param, tmp_path)
    yield target
    target.drop()


@pytest.fixture(params=["postgresql", "mariadb"])
def server_target(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SqlTarget]:
    target = make_sql_target(request.param, tmp_path)
    yield target
    target.drop()


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not RECORDER.outcomes:
        return
    table = RECORDER.table()
    terminalreporter.section("msads reliability: faults injected, runs, rows lost, duplicates, secrets found")
    for line in table.splitlines():
        terminalreporter.write_line(line)
    if RECORDER.path is not None:
        RECORDER.path.write_text(table + "\n")
        terminalreporter.write_line(f"(written to {RECORDER.path})")
