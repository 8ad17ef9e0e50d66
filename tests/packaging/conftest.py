"""Build the sdist and the wheel once per session, the way a release is built (``python -m build``).

``python -m build`` without ``--sdist``/``--wheel`` builds the sdist first and then the wheel *from the
unpacked sdist*, so a wheel that comes out complete also proves the sdist holds what a rebuild needs.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BUILD_TIMEOUT = 300


@dataclass(frozen=True)
class BuiltDist:
    sdist: Path
    wheel: Path


@pytest.fixture(scope="session")
def built_dist(tmp_path_factory: pytest.TempPathFactory) -> BuiltDist:
    pytest.importorskip("build", reason="the packaging tests need the dev extra: pip install -e '.[dev]'")
    out = tmp_path_factory.mktemp("dist")
    # setuptools writes <name>.egg-info into the source tree while building the sdist. Left there, it is a
    # second installed copy of the distribution for anything with the checkout on sys.path (PYTHONPATH),
    # which then registers the plugin twice: remove what this build created.
    stray_before = set(REPO.glob("*.egg-info"))
    proc = subprocess.run(
        [sys.executable, "-m", "build", "--outdir", str(out), str(REPO)],
        capture_output=True,
        text=True,
        timeout=BUILD_TIMEOUT,
        check=False,
    )
    for stray in set(REPO.glob("*.egg-info")) - stray_before:
        shutil.rmtree(stray, ignore_errors=True)
    assert proc.returncode == 0, f"python -m build failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    sdists = sorted(out.glob("*.tar.gz"))
    wheels = sorted(out.glob("*.whl"))
    assert len(sdists) == 1 and len(wheels) == 1, sorted(p.name for p in out.iterdir())
    return BuiltDist(sdist=sdists[0], wheel=wheels[0])
