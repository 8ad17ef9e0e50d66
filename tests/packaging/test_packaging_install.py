"""The built wheel, installed into a fresh virtualenv (not the source tree), runs ``msads-demo``.

Slow (a full Airflow install, then ``airflow db migrate`` + ``airflow dags test``): marked e2e. pip's
cache is reused; when the repository's constraints file matches this Python it pins the install to what
CI tested. Nothing talks to anything but 127.0.0.1 except pip, to the package index.
"""

from __future__ import annotations

import os
import subprocess
import sys
import venv
from pathlib import Path

import pytest
from msads_packaging_helpers import DIST_NAME, PACKAGE, REPO, source_version

from airflow_provider_msads.testing import Emulator

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(1500)]

INSTALL_TIMEOUT = 900
DEMO_TIMEOUT = 420
ACCOUNTS = 12
SEED = 5


def _clean_env(venv_dir: Path) -> dict[str, str]:
    """The environment of a user's shell: no test-session Airflow settings, no source tree on the path."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("AIRFLOW", "MSADS_", "PYTHON", "VIRTUAL_ENV", "PYTEST"))
    }
    env["PATH"] = f"{venv_dir / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    return env


def _run(
    cmd: list[str], *, env: dict[str, str], cwd: Path, timeout: float
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False)


@pytest.fixture(scope="module")
def installed(built_dist, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str], Path]:
    root = tmp_path_factory.mktemp("wheel-venv")
    venv_dir = root / "venv"
    venv.EnvBuilder(with_pip=True, clear=True).create(venv_dir)
    env = _clean_env(venv_dir)
    python = str(venv_dir / "bin" / "python")
    minor = f"{sys.version_info[0]}.{sys.version_info[1]}"
    constraints = REPO / "constraints" / f"airflow-3.3-py{minor}.txt"
    pin = ["-c", str(constraints)] if constraints.exists() else []
    proc = _run(
        [python, "-m", "pip", "install", "-q", "--disable-pip-version-check", *pin, str(built_dist.wheel)],
        env=env,
        cwd=root,
        timeout=INSTALL_TIMEOUT,
    )
    assert proc.returncode == 0, (
        f"pip install of the wheel failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    )
    return venv_dir, env, root


def test_the_installed_package_is_the_wheel(installed) -> None:
    venv_dir, env, root = installed
    code = (
        "import importlib.metadata as md, airflow_provider_msads as m;"
        f"print(m.__file__); print(md.version({DIST_NAME!r})); print(m.__version__)"
    )
    proc = _run([str(venv_dir / "bin" / "python"), "-c", code], env=env, cwd=root, timeout=60)
    assert proc.returncode == 0, proc.stderr
    location, dist_version, version = proc.stdout.split()
    assert Path(location).is_relative_to(venv_dir), location  # site-packages, not the checkout
    assert "site-packages" in location and PACKAGE in location
    assert dist_version == version == source_version()


def test_console_scripts_start(installed) -> None:
    venv_dir, env, root = installed
    for script in ("msads-auth", "msads-emulator", "msads-demo"):
        proc = _run([str(venv_dir / "bin" / script), "--help"], env=env, cwd=root, timeout=60)
        assert proc.returncode == 0, f"{script} --help: {proc.stderr}"
        assert f"usage: {script}" in proc.stdout


def test_demo_runs_from_the_wheel_and_prints_the_discovered_accounts(installed) -> None:
    venv_dir, env, root = installed
    home = root / "demo-home"
    proc = _run(
        [
            str(venv_dir / "bin" / "msads-demo"),
            "--home",
            str(home),
            "--accounts",
            str(ACCOUNTS),
            "--seed",
            str(SEED),
        ],
        env=env,
        cwd=root,
        timeout=DEMO_TIMEOUT,
    )
    log = home / "demo-airflow.log"
    detail = proc.stdout + proc.stderr + (log.read_text()[-4000:] if log.exists() else "")
    assert proc.returncode == 0, detail
    expected = Emulator(accounts=ACCOUNTS, seed=SEED).expected_account_ids
    assert len(expected) == ACCOUNTS
    assert f"found {ACCOUNTS} accounts across" in proc.stdout, proc.stdout
    printed = [line.split()[0] for line in proc.stdout.splitlines() if line[:1].isdigit()]
    assert printed == [str(i) for i in expected], proc.stdout
    assert (home / "warehouse.sqlite").is_file()
    # The report step: yesterday's AccountPerformance through the deferred report tasks, spend per account.
    spend = proc.stdout.split("spend per account on", 1)
    assert len(spend) == 2, proc.stdout
    rows = [
        line.split() for line in spend[1].splitlines() if line.startswith("  ") and line.split()[0].isdigit()
    ]
    assert rows and {r[0] for r in rows} <= {str(i) for i in expected}, proc.stdout
