"""One import-cost probe in a fresh interpreter.

``import airflow`` already imports this provider's ``provider_info`` (provider discovery reads every
``apache_airflow_provider`` entry point), so "bare Airflow" is Airflow with this distribution hidden
from ``importlib.metadata``. Modes (what is *timed*, in-process, after the untimed setup):

* ``airflow``: ``import airflow`` as installed (context: what every Airflow process pays anyway);
* ``package``: setup ``import airflow`` with the provider hidden; timed: ``import airflow_provider_msads``
  and its provider registration (``provider_info.get_provider_info()``), i.e. what the provider adds to
  every Airflow process;
* ``hook``: setup ``import airflow``; timed: ``from ...hooks.msads import MicrosoftAdsHook`` (what a task
  that uses the hook pays; context);
* ``dags-baseline``: setup ``import airflow.sdk``; timed: execute the Airflow-only twins of the example
  DAGs (``bench/import_baseline/``);
* ``dags``: setup ``import airflow.sdk``; timed: execute the provider's example DAG files.

Prints one JSON line: ``timed`` seconds and the top-level modules the timed step added.
"""

from __future__ import annotations

import json
import runpy
import sys
import time
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
DISTRIBUTION = "airflow-provider-msads"


def hide_distribution() -> None:
    """Make ``importlib.metadata`` (and its backport) forget this provider, as if not installed."""
    import importlib.metadata as stdlib_metadata

    modules: list[Any] = [stdlib_metadata]
    try:
        import importlib_metadata

        modules.append(importlib_metadata)
    except ImportError:
        pass
    for module in modules:
        original = module.distributions

        def distributions(*args: Any, _original: Any = original, **kwargs: Any) -> Any:
            for dist in _original(*args, **kwargs):
                name = (dist.metadata["Name"] or "").lower().replace("_", "-")
                if name != DISTRIBUTION:
                    yield dist

        module.distributions = distributions


def main() -> int:
    mode = sys.argv[1]
    if mode == "package":
        hide_distribution()
    if mode != "airflow":
        import airflow
    if mode.startswith("dags"):
        import airflow.sdk
    if mode == "package" and "airflow_provider_msads" in sys.modules:
        raise SystemExit("the provider was imported although hidden: the baseline is not bare")

    before = set(sys.modules)
    started = time.perf_counter()
    if mode == "airflow":
        import airflow  # noqa: F401
    elif mode == "package":
        import airflow_provider_msads  # noqa: F401
        from airflow_provider_msads.provider_info import get_provider_info

        get_provider_info()
    elif mode == "hook":
        from airflow_provider_msads.hooks.msads import MicrosoftAdsHook  # noqa: F401
    elif mode == "dags":
        for path in sorted((BENCH.parent / "example_dags").glob("msads_*.py")):
            runpy.run_path(str(path))
    elif mode == "dags-baseline":
        for path in sorted((BENCH / "import_baseline").glob("baseline_*.py")):
            runpy.run_path(str(path))
    else:
        raise SystemExit(f"unknown mode {mode!r}")
    timed = time.perf_counter() - started
    added = sorted({name.split(".")[0] for name in set(sys.modules) - before})
    print(json.dumps({"mode": mode, "timed": timed, "added_top_level": added}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
