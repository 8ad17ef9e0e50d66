"""docs/troubleshooting.md mentions every exception class the provider defines or raises."""

from __future__ import annotations

import ast
import builtins
import importlib
import inspect
import pkgutil
import re
from pathlib import Path

import airflow_provider_msads
from airflow_provider_msads.client import errors

REPO = Path(__file__).resolve().parents[2]
DOC = REPO / "docs" / "troubleshooting.md"
PACKAGE_DIR = Path(airflow_provider_msads.__file__).parent
#: DAG files, not library modules: importing them builds DAGs and they define no exceptions.
SKIPPED_PACKAGES = ("airflow_provider_msads.example_dags",)  # only inside a wheel


def _mentioned(name: str) -> bool:
    return re.search(rf"`{re.escape(name)}`", DOC.read_text()) is not None


def defined_exception_classes() -> dict[str, type[BaseException]]:
    """Every exception class defined in any module of the package (imported, so nothing is missed)."""
    found: dict[str, type[BaseException]] = {}
    prefix = airflow_provider_msads.__name__ + "."
    for info in pkgutil.walk_packages([str(PACKAGE_DIR)], prefix):
        if info.name.startswith(SKIPPED_PACKAGES):
            continue
        module = importlib.import_module(info.name)
        for obj in vars(module).values():
            if inspect.isclass(obj) and issubclass(obj, BaseException) and obj.__module__ == module.__name__:
                found[obj.__name__] = obj
    return found


def raised_builtin_exceptions() -> dict[str, list[str]]:
    """Built-in exceptions named in a ``raise`` anywhere in the package, with where they are raised."""
    found: dict[str, list[str]] = {}
    for path in sorted(PACKAGE_DIR.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.Raise) or node.exc is None:
                continue
            target = node.exc.func if isinstance(node.exc, ast.Call) else node.exc
            if not isinstance(target, ast.Name):
                continue
            obj = getattr(builtins, target.id, None)
            if inspect.isclass(obj) and issubclass(obj, BaseException):
                found.setdefault(target.id, []).append(f"{path.relative_to(REPO)}:{node.lineno}")
    return found


def test_the_whole_error_hierarchy_is_found() -> None:
    classes = defined_exception_classes()
    hierarchy = {
        obj.__name__
        for obj in vars(errors).values()
        if inspect.isclass(obj) and issubclass(obj, errors.MicrosoftAdsError)
    }
    assert len(hierarchy) >= 15, hierarchy  # the tree in errors.py's docstring
    assert hierarchy <= set(classes)
    # ... and beyond errors.py: msads-auth, the warehouse, the Connect page and the emulator.
    assert {"ConsentError", "UnsupportedDialectError", "FlowError", "FormError", "ApiFaultError"} <= set(
        classes
    )


def test_every_exception_class_is_in_troubleshooting() -> None:
    missing = sorted(name for name in defined_exception_classes() if not _mentioned(name))
    assert not missing, f"docs/troubleshooting.md does not mention: {missing}"


def test_every_raised_builtin_exception_is_in_troubleshooting() -> None:
    raised = raised_builtin_exceptions()
    assert {"ValueError", "TypeError", "RuntimeError"} <= set(raised), raised
    missing = {name: where for name, where in raised.items() if not _mentioned(name)}
    assert not missing, f"docs/troubleshooting.md does not mention: {missing}"


def test_the_documented_tree_matches_the_code() -> None:
    """Each class in the tree drawing sits under its real parent (indentation = depth)."""
    text = DOC.read_text()
    tree = text[
        text.index("```\nMicrosoftAdsError") + 4 : text.index("```", text.index("```\nMicrosoftAdsError") + 4)
    ]
    classes = defined_exception_classes()
    stack: list[tuple[int, str]] = []
    seen = 0
    for line in tree.splitlines():
        match = re.match(r"^([│├└─ ]*)(\w+)", line)
        assert match, line
        depth, name = len(match.group(1)) // 4, match.group(2)
        stack = stack[:depth]
        cls = classes[name]  # defined anywhere in the package (client.errors, client.consent, hooks...)
        if stack:
            assert cls.__mro__[1].__name__ == stack[-1][1], f"{name} is drawn under {stack[-1][1]}"
        stack.append((depth, name))
        seen += 1
    assert seen >= 16
