"""Smoke test of the benchmark suite: it runs end to end on tiny N and writes its table.

Nothing here asserts on timings (they depend on the machine); only that every section runs, measures
what it says, and reports it. The full suite is ``python bench/run.py``.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
RUN = REPO / "bench" / "run.py"


def run_suite(out: Path, *args: str, timeout: float = 600) -> tuple[str, dict[str, Any]]:
    proc = subprocess.run(
        [sys.executable, str(RUN), "--output-dir", str(out), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=REPO,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    markdown = (out / "latest.md").read_text()
    assert markdown.strip() in proc.stdout  # the table printed is the table written
    return markdown, json.loads((out / "latest.json").read_text())


def test_discovery_warehouse_import_sections_run_on_tiny_n(tmp_path: Path) -> None:
    markdown, result = run_suite(
        tmp_path,
        *("--sections", "discovery,warehouse,import", "--n", "1500", "--warehouse-n", "300"),
        *("--runs", "1", "--dbs", "sqlite", "--import-runs", "1"),
    )
    for heading in ("## Account discovery", "## Warehouse write", "## Import cost", "## Targets"):
        assert heading in markdown
    assert "reference, not measured here" in markdown.lower()

    discovery = result["data"]["discovery"]["1500"]
    for impl in ("rest", "soap", "raw-json", "raw-lxml"):
        (sample,) = discovery["list"][impl]
        assert sample["rows"] == 1500
        # token + GetUser + 2 pages (1000 + 500), counted by the emulator
        assert sample["server_requests"] == 4
        assert sample["server_counters"] == {"token": 1, "GetUser": 1, "SearchAccounts": 2}
        assert sample["peak_rss"] >= sample["base_rss"] > 0
        assert discovery["stream"][impl][0]["rows"] == 1500

    (write,) = result["data"]["warehouse"]["sqlite/300"]
    assert write["stats"]["first"]["inserted"] == 300
    assert write["stats"]["rerun"]["unchanged"] == 300

    imports = result["data"]["import"]["median_ms"]
    assert set(imports) == {"airflow", "package", "hook", "dags-baseline", "dags"}
    targets = {t["target"] for t in result["targets"]}
    assert any(t.startswith("discovery rest") for t in targets)
    assert any(t.startswith("import + DAG parse") for t in targets)


def test_reports_section_parses_the_same_rows_as_the_csv_loop(tmp_path: Path) -> None:
    markdown, result = run_suite(
        tmp_path, "--sections", "reports", "--report-rows", "3000", "--sdk-python", ""
    )
    assert "## Report parsing (3,000 rows" in markdown and "ours / csv loop:" in markdown
    reports = result["data"]["reports"]
    assert reports["results"]["ours"]["rows"] == reports["results"]["csv"]["rows"] == 3000
    assert reports["ratio_ours_to_csv"] > 0 and reports["speedup_vs_sdk"] is None
    targets = {t["target"]: t for t in result["targets"]}
    assert targets["report parse <= 1.3x the bare csv loop"]["met"] is not None


@pytest.mark.e2e
def test_token_section_counts_grants_of_a_real_dag_run(tmp_path: Path) -> None:
    markdown, result = run_suite(
        tmp_path,
        *("--sections", "tokens", "--token-tasks", "3", "--token-fork", "3", "--token-spawn", "1"),
        timeout=900,
    )
    assert "## Token-endpoint calls" in markdown
    tokens = result["data"]["tokens"]
    assert tokens["dags_test"]["mapped"] == 3
    assert tokens["dags_test"]["server_counters"]["GetAccount"] == 3
    assert tokens["fork"]["ok"] == 3 and tokens["fork"]["distinct_pids"] == 3
    assert tokens["spawn"]["ok"] == 1
    for scenario in ("dags_test", "fork", "spawn"):
        assert tokens[scenario]["grants"] >= 1  # the figure itself is the benchmark's to report
