"""Test-session wiring shared by every test package.

Airflow reads its configuration when first imported, so the isolated AIRFLOW_HOME must be set here,
before any test module imports Airflow. One home (and, for end-to-end tests, one migrated metadata
database) serves the whole session.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

_HOME = Path(os.environ.get("MSADS_TEST_AIRFLOW_HOME") or tempfile.mkdtemp(prefix="msads-airflow-home-"))
os.environ["AIRFLOW_HOME"] = str(_HOME)
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
os.environ.setdefault("AIRFLOW__CORE__UNIT_TEST_MODE", "False")
os.environ.setdefault("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", f"sqlite:///{_HOME / 'airflow.db'}")
os.environ.setdefault("AIRFLOW__CORE__DAGS_FOLDER", str(_HOME / "dags"))
os.environ.setdefault("AIRFLOW__CORE__TEST_CONNECTION", "Enabled")
(_HOME / "dags").mkdir(parents=True, exist_ok=True)

AIRFLOW_HOME = _HOME
