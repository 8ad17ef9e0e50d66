"""The built sdist and wheel: file lists, metadata, entry points, version, and ``twine check``.

Fast (one build per session, a few seconds); the slow install-and-run test is test_packaging_install.py.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile

import pytest
from msads_packaging_helpers import (
    DIST_NAME,
    PACKAGE,
    REPO,
    SDIST_EXCLUDED_PREFIXES,
    defines,
    package_sources,
    repo_files,
    sdist_files,
    source_version,
    wheel_entry_points,
    wheel_files,
    wheel_metadata,
    wheel_sources,
)

#: What the brief for a release says the wheel must carry (beyond "every package file", checked below).
REQUIRED_IN_WHEEL = (
    f"{PACKAGE}/__init__.py",
    f"{PACKAGE}/py.typed",
    f"{PACKAGE}/provider_info.py",
    f"{PACKAGE}/plugins/plugin.py",
    f"{PACKAGE}/testing/emulator.py",
    f"{PACKAGE}/testing/pytest_plugin.py",
    f"{PACKAGE}/example_dags/msads_accounts_to_sql.py",
    f"{PACKAGE}/example_dags/msads_accounts_to_xcom.py",
    f"{PACKAGE}/example_dags/msads_reports_to_sql.py",
    f"{PACKAGE}/operators/reports.py",
    f"{PACKAGE}/triggers/reports.py",
)

EXPECTED_ENTRY_POINTS = {
    "apache_airflow_provider": {"provider_info": f"{PACKAGE}.provider_info:get_provider_info"},
    "airflow.plugins": {"microsoft_advertising": f"{PACKAGE}.plugins.plugin:MicrosoftAdsPlugin"},
    "console_scripts": {
        "msads-auth": f"{PACKAGE}.consent_cli:main",
        "msads-emulator": f"{PACKAGE}.testing.cli:main",
        "msads-demo": f"{PACKAGE}.testing.demo_cli:main",
    },
    # No pytest11: the emulator's fixtures are opt-in (-p airflow_provider_msads.testing.pytest_plugin).
}


def test_file_names_carry_the_single_sourced_version(built_dist) -> None:
    version = source_version()
    assert built_dist.wheel.name == f"airflow_provider_msads-{version}-py3-none-any.whl"
    assert built_dist.sdist.name == f"airflow_provider_msads-{version}.tar.gz"


def test_wheel_holds_exactly_the_package(built_dist) -> None:
    files = wheel_files(built_dist.wheel)
    package = {f for f in files if ".dist-info/" not in f}
    for required in REQUIRED_IN_WHEEL:
        assert required in package, f"{required} is missing from the wheel"
    assert package == wheel_sources(), "wheel and source tree differ (missing or stray files)"
    assert not [f for f in files if f.startswith(("tests/", "bench/", "docs/", "scripts/"))]
    assert not [f for f in files if "conftest" in f or "/test_" in f]
    info = sorted(f for f in files if ".dist-info/" in f)
    assert any(f.endswith(".dist-info/licenses/LICENSE") for f in info), info
    assert any(f.endswith(".dist-info/licenses/NOTICE") for f in info), info


def test_wheel_metadata(built_dist) -> None:
    meta = wheel_metadata(built_dist.wheel)
    assert meta["Name"] == DIST_NAME
    assert meta["Version"] == source_version()
    assert meta["Requires-Python"] == ">=3.10"
    assert meta["License-Expression"] == "Apache-2.0"
    assert sorted(meta.get_all("License-File") or []) == ["LICENSE", "NOTICE"]
    classifiers = meta.get_all("Classifier") or []
    for minor in (10, 11, 12, 13):  # the Python versions .ci/matrix tests
        assert f"Programming Language :: Python :: 3.{minor}" in classifiers
    assert "Framework :: Apache Airflow :: Provider" in classifiers
    assert "Typing :: Typed" in classifiers
    urls = dict(u.split(", ", 1) for u in meta.get_all("Project-URL") or [])
    assert {"Homepage", "Documentation", "Source", "Issues", "Changelog"} <= set(urls), urls
    requires = meta.get_all("Requires-Dist") or []
    assert any(r.replace(" ", "").startswith("apache-airflow>=3.1") for r in requires), requires
    assert meta["Description-Content-Type"] == "text/markdown"
    assert "# airflow-provider-msads" in meta.get_payload()


def test_wheel_entry_points_resolve_inside_the_wheel(built_dist) -> None:
    entry_points = wheel_entry_points(built_dist.wheel)
    assert entry_points == EXPECTED_ENTRY_POINTS
    with zipfile.ZipFile(built_dist.wheel) as zf:
        for group in entry_points.values():
            for target in group.values():
                module, _, attr = target.partition(":")
                source = zf.read(module.replace(".", "/") + ".py").decode()
                assert not attr or defines(source, attr), f"{target}: {attr} is not defined in {module}"


def test_provider_info_from_the_wheel_reports_the_distribution_and_version(built_dist) -> None:
    """Import the provider info from the wheel itself (zipimport), not from the source tree."""
    code = (
        "import json, sys; sys.path.insert(0, sys.argv[1]);"
        "import airflow_provider_msads as m; assert m.__file__.startswith(sys.argv[1]), m.__file__;"
        "from airflow_provider_msads.provider_info import get_provider_info;"
        "print(json.dumps([m.__version__, get_provider_info()]))"
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    proc = subprocess.run(
        [sys.executable, "-c", code, str(built_dist.wheel)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=built_dist.wheel.parent,
        env=env,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    version, info = json.loads(proc.stdout)
    assert version == source_version()
    assert info["package-name"] == DIST_NAME
    assert info["versions"] == [version]
    assert [c["connection-type"] for c in info["connection-types"]] == ["msads"]


def test_sdist_is_the_checkout_minus_ci_files(built_dist) -> None:
    """The sdist rebuilds the wheel (``python -m build`` did exactly that) and carries the tests and docs."""
    files = sdist_files(built_dist.sdist)
    for needed in (
        "pyproject.toml",
        "README.md",
        "LICENSE",
        "NOTICE",
        "CHANGELOG.md",
        "MANIFEST.in",
        "PKG-INFO",
    ):
        assert needed in files, f"{needed} is missing from the sdist"
    for needed in ("tests/conftest.py", "docs/README.md", "docs/operators.md", "scripts/gen-operator-docs"):
        assert needed in files, f"{needed} is missing from the sdist"
    assert {f for f in files if f.startswith(f"{PACKAGE}/")} == package_sources()
    assert "example_dags/msads_accounts_to_xcom.py" in files and "setup.py" in files
    assert not [f for f in files if "__pycache__" in f or f.endswith((".pyc", ".pyo"))]
    assert not [f for f in files if f.startswith(SDIST_EXCLUDED_PREFIXES)]
    checkout = repo_files()
    if checkout is None:
        pytest.skip(
            "not a git checkout (running from an unpacked sdist?): the file-by-file comparison needs git"
        )
    expected = {f for f in checkout if not f.startswith(SDIST_EXCLUDED_PREFIXES)}
    generated = {f for f in files if f == "PKG-INFO" or f == "setup.cfg" or ".egg-info/" in f}
    assert files - generated == expected, {
        "missing from the sdist": sorted(expected - files),
        "not in the checkout": sorted(files - generated - expected),
    }


def test_twine_accepts_both(built_dist) -> None:
    pytest.importorskip("twine", reason="needs the dev extra: pip install -e '.[dev]'")
    proc = subprocess.run(
        [sys.executable, "-m", "twine", "check", "--strict", str(built_dist.sdist), str(built_dist.wheel)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.count("PASSED") == 2, proc.stdout
