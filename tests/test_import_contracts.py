"""The layering rules (glue -> client, never back; see README "Development"), checked on every run.

1. ``client/`` imports no Airflow, and nothing of the package outside ``client/``.
2. Product code never imports ``testing/`` (the emulator, its fixtures and the demo live there).
3. Airflow-facing code reaches the API only through ``client/``: no HTTP or XML library of its own,
   except the modules in :data:`HTTPX_ALLOWED`, which only hand an ``httpx.Client`` to ``client/``.

Every ``import`` statement counts, including the lazy ones inside functions and ``TYPE_CHECKING``
blocks: a forbidden import that only runs on some code path is still a dependency. Rule 1 is also
checked at run time: importing every ``client/`` module in a fresh interpreter loads no ``airflow``.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

PACKAGE = "airflow_provider_msads"
ROOT = Path(__file__).resolve().parents[1] / PACKAGE

#: Network / XML libraries that only ``client/`` (and the emulator in ``testing/``) may use.
WIRE_LIBRARIES = ("httpx", "lxml", "requests", "urllib.request", "http.client", "aiohttp", "suds", "zeep")
#: Airflow-facing modules that may import httpx, and why (each only passes a client into ``client/``).
HTTPX_ALLOWED = {
    f"{PACKAGE}.plugins.app": "the Connect page's shared httpx.Client (made by client.new_http_client)",
    f"{PACKAGE}.plugins.flow": "a type annotation of that client",
    f"{PACKAGE}.consent_cli": "an httpx.Timeout for client.new_http_client",
}


def module_name(path: Path, root: Path = ROOT) -> str:
    parts = path.relative_to(root.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path, root: Path = ROOT) -> Iterator[tuple[int, str]]:
    """``(line, imported module)`` for every import statement in the file, relative ones resolved."""
    package = module_name(path, root).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join([*package[: len(package) - node.level + 1], *([base] if base else [])])
            yield node.lineno, base
            for alias in node.names:  # `from airflow_provider_msads import testing` imports a module
                yield node.lineno, f"{base}.{alias.name}"


def _is(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def _outside_client(name: str, root: Path) -> bool:
    """A module or package of ours other than client/ (names from the root ``__init__`` are fine)."""
    if not _is(name, PACKAGE) or _is(name, f"{PACKAGE}.client") or name == PACKAGE:
        return False
    first = name.split(".")[1]
    return (root / first).is_dir() or (root / f"{first}.py").is_file()


def violations(root: Path = ROOT) -> list[str]:
    found: list[str] = []
    for path in sorted(root.rglob("*.py")):
        module = module_name(path, root)
        where = f"{path.relative_to(root.parent)}"
        in_client = _is(module, f"{PACKAGE}.client")
        in_testing = _is(module, f"{PACKAGE}.testing")
        for line, name in imports(path, root):
            if in_client and _is(name, "airflow"):
                found.append(f"{where}:{line}: client/ imports Airflow ({name})")
            if in_client and _outside_client(name, root):
                found.append(f"{where}:{line}: client/ imports {name} (outside client/)")
            if not in_testing and _is(name, f"{PACKAGE}.testing"):
                found.append(f"{where}:{line}: product code imports the testing side ({name})")
            wire = any(_is(name, lib) for lib in WIRE_LIBRARIES)
            allowed = _is(name, "httpx") and module in HTTPX_ALLOWED
            if wire and not in_client and not in_testing and not allowed:
                found.append(f"{where}:{line}: reaches the wire without client/ ({name})")
    return found


def test_the_layering_rules_hold() -> None:
    assert violations() == [], "\n".join(violations())


def test_the_checker_catches_each_kind_of_violation(tmp_path: Path) -> None:
    """A deliberate violation of every rule in a copy of the package is reported (the check can fail)."""
    fake = tmp_path / PACKAGE
    for sub in ("client", "hooks", "testing"):
        (fake / sub).mkdir(parents=True)
        (fake / sub / "__init__.py").write_text("")
    (fake / "__init__.py").write_text("")
    (fake / "client" / "bad.py").write_text(
        "def later():\n    from airflow.sdk import BaseHook\n    from ..hooks import msads\n"
    )
    (fake / "hooks" / "bad.py").write_text(
        "from airflow_provider_msads.testing import Emulator\nimport lxml.etree\n"
    )
    (fake / "hooks" / "bad2.py").write_text("from .. import testing\nimport httpx\n")
    found = "\n".join(violations(fake))
    assert "client/bad.py:2: client/ imports Airflow (airflow.sdk)" in found
    assert "client/bad.py:3: client/ imports airflow_provider_msads.hooks" in found
    assert "hooks/bad.py:1: product code imports the testing side" in found
    assert "hooks/bad2.py:1: product code imports the testing side" in found
    assert "hooks/bad.py:2: reaches the wire without client/ (lxml.etree)" in found
    assert "hooks/bad2.py:2: reaches the wire without client/ (httpx)" in found


@pytest.mark.parametrize("allowed", sorted(HTTPX_ALLOWED))
def test_the_allow_list_names_real_modules(allowed: str) -> None:
    path = ROOT.parent / (allowed.replace(".", "/") + ".py")
    assert path.is_file(), f"{allowed} is allowed to import httpx but does not exist: drop it"


def test_importing_every_client_module_loads_no_airflow() -> None:
    modules = sorted(module_name(p) for p in (ROOT / "client").rglob("*.py") if "__pycache__" not in p.parts)
    code = (
        "import importlib, sys\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        "leaked = sorted(m for m in sys.modules if m == 'airflow' or m.startswith('airflow.'))\n"
        "print(len(leaked), leaked[:5])\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("0 "), f"client/ loaded Airflow: {proc.stdout}"
