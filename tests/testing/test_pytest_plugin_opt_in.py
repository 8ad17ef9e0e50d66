"""Installing the provider loads no pytest plugin; ``-p airflow_provider_msads.testing.pytest_plugin`` does.

Runs pytest in a fresh directory (none of this repository's conftest files) the way a user's project
would: without the flag the emulator fixtures do not exist, with it they work.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

USER_TEST = """
def test_uses_the_emulator(msads_emulator):
    assert msads_emulator.url.startswith("http://127.0.0.1:")
"""


def _pytest(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTEST_ADDOPTS"}
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args, "test_user.py"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_fixtures_only_with_the_plugin_flag(tmp_path: Path) -> None:
    (tmp_path / "test_user.py").write_text(USER_TEST)
    (tmp_path / "pytest.ini").write_text("[pytest]\n")  # this directory is the rootdir, not the checkout
    without = _pytest(tmp_path)
    assert without.returncode != 0 and "fixture 'msads_emulator' not found" in without.stdout, without.stdout
    with_flag = _pytest(tmp_path, "-p", "airflow_provider_msads.testing.pytest_plugin")
    assert with_flag.returncode == 0, with_flag.stdout + with_flag.stderr
    assert "1 passed" in with_flag.stdout
