"""End-to-end runs of the example DAGs: a real ``airflow dags test`` subprocess against the emulator.

One migrated Airflow home serves the whole session (``airflow_db`` from tests/conftest.py); the example
DAG files are copied into its dags folder once. Each run costs ~13 s, so the tests are few and check a lot.
Database servers that are not reachable make their tests SKIP with the reason (``MSADS_REQUIRE_DBS=1``
turns that into a failure).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from msads_e2e_helpers import AirflowE2E, DagRun, install_example_dags

__all__ = ["AirflowE2E", "DagRun"]


@pytest.fixture(scope="session")
def airflow_e2e(
    airflow_db: Path, airflow_cli: list[str], tmp_path_factory: pytest.TempPathFactory
) -> AirflowE2E:
    """A migrated AIRFLOW_HOME with the example DAGs in its dags folder."""
    install_example_dags(airflow_db)
    return AirflowE2E(airflow_db, airflow_cli, tmp_path_factory.mktemp("dag-runs"))
