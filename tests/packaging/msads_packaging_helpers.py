"""What the distribution must contain, read from the source tree (not from the installed package)."""

from __future__ import annotations

import ast
import configparser
import email.parser
import email.policy
import subprocess
import tarfile
import zipfile
from email.message import Message
from pathlib import Path, PurePosixPath

REPO = Path(__file__).resolve().parents[2]
PACKAGE = "airflow_provider_msads"
DIST_NAME = "airflow-provider-msads"

#: Tracked files that deliberately stay out of the sdist: CI and dependency pins for this repository.
SDIST_EXCLUDED_PREFIXES = (".ci/", ".github/", "constraints/", ".gitignore", ".gitattributes")


def source_version() -> str:
    """``__version__`` as written in the package's ``__init__.py`` (parsed, not imported)."""
    tree = ast.parse((REPO / PACKAGE / "__init__.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "__version__" for t in node.targets
        ):
            value = ast.literal_eval(node.value)
            assert isinstance(value, str)
            return value
    raise AssertionError(f"{PACKAGE}/__init__.py does not assign __version__")


def package_sources() -> set[str]:
    """Every file of the import package in the source tree, as wheel paths (no caches)."""
    root = REPO / PACKAGE
    return {
        str(PurePosixPath(PACKAGE, p.relative_to(root).as_posix()))
        for p in root.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts and p.suffix not in (".pyc", ".pyo")
    }


def wheel_sources() -> set[str]:
    """What the wheel must hold: the package, plus the top-level ``example_dags/`` mapped into it (setup.py)."""
    examples = REPO / "example_dags"
    return package_sources() | {
        str(PurePosixPath(PACKAGE, "example_dags", p.name)) for p in examples.glob("*.py") if p.is_file()
    }


def wheel_files(wheel: Path) -> set[str]:
    with zipfile.ZipFile(wheel) as zf:
        return {n for n in zf.namelist() if not n.endswith("/")}


def wheel_text(wheel: Path, suffix: str) -> str:
    with zipfile.ZipFile(wheel) as zf:
        (name,) = [n for n in zf.namelist() if n.endswith(suffix) and ".dist-info/" in n]
        return zf.read(name).decode()


def wheel_metadata(wheel: Path) -> Message:
    return email.parser.Parser(policy=email.policy.compat32).parsestr(
        wheel_text(wheel, ".dist-info/METADATA")
    )


def wheel_entry_points(wheel: Path) -> dict[str, dict[str, str]]:
    parser = configparser.ConfigParser(delimiters=("=",))
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # keep "msads-auth" as written
    parser.read_string(wheel_text(wheel, ".dist-info/entry_points.txt"))
    return {section: dict(parser[section]) for section in parser.sections()}


def sdist_files(sdist: Path) -> set[str]:
    """Paths inside the sdist, without its ``<name>-<version>/`` top folder."""
    with tarfile.open(sdist) as tf:
        return {m.name.split("/", 1)[1] for m in tf.getmembers() if m.isfile() and "/" in m.name}


def repo_files() -> set[str] | None:
    """Tracked and untracked-but-not-ignored files of the checkout; None outside a git work tree."""
    try:
        proc = subprocess.run(
            ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
            cwd=REPO,
            capture_output=True,
            timeout=60,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    if proc.returncode != 0:
        return None
    return {p for p in proc.stdout.decode().split("\0") if p and (REPO / p).is_file()}


def defines(source: str, name: str) -> bool:
    """True if module ``source`` defines ``name`` at top level (a function, class or assignment)."""
    for node in ast.parse(source).body:
        if isinstance(node, ast.FunctionDef | ast.ClassDef) and node.name == name:
            return True
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == name for t in node.targets
        ):
            return True
    return False
