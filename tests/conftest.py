"""Test-session wiring shared by every test package.

Airflow reads its configuration when first imported, so the isolated AIRFLOW_HOME must be set here,
before any test module imports Airflow. One home (and, for tests that need it, one migrated metadata
database) serves the whole session.
"""

from __future__ import annotations

import base64
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

_HOME = Path(os.environ.get("MSADS_TEST_AIRFLOW_HOME") or tempfile.mkdtemp(prefix="msads-airflow-home-"))
os.environ["AIRFLOW_HOME"] = str(_HOME)
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
os.environ.setdefault("AIRFLOW__CORE__UNIT_TEST_MODE", "False")
os.environ.setdefault("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", f"sqlite:///{_HOME / 'airflow.db'}")
os.environ.setdefault("AIRFLOW__CORE__DAGS_FOLDER", str(_HOME / "dags"))
os.environ.setdefault("AIRFLOW__CORE__TEST_CONNECTION", "Enabled")
os.environ.setdefault("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS", "True")
# One Fernet key for this process and every `airflow` subprocess, so connections one writes the other reads.
os.environ.setdefault("AIRFLOW__CORE__FERNET_KEY", base64.urlsafe_b64encode(os.urandom(32)).decode())
(_HOME / "dags").mkdir(parents=True, exist_ok=True)

AIRFLOW_HOME = _HOME

# The emulator's fixtures (msads_emulator, msads_emulator_factory) are opt-in: installing the provider
# registers no pytest plugin. Users do the same in their conftest.py, or pass
# `-p airflow_provider_msads.testing.pytest_plugin`.
pytest_plugins = ["airflow_provider_msads.testing.pytest_plugin"]


AIRFLOW_CLI = [sys.executable, "-m", "airflow"]


@pytest.fixture(scope="session")
def airflow_cli() -> list[str]:
    """The `airflow` command of the interpreter running the tests (works in any venv)."""
    return list(AIRFLOW_CLI)


@pytest.fixture(scope="session")
def airflow_db() -> Path:
    """A migrated Airflow metadata database, shared by every test that needs one (≈ 6 s, once)."""
    marker = _HOME / ".migrated"
    if not marker.exists():
        subprocess.run([*AIRFLOW_CLI, "db", "migrate"], check=True, capture_output=True, timeout=300)
        marker.touch()
    return _HOME
