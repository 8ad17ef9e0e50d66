"""Reports through MicrosoftAdsHook(...).get_client(): in-process, and inside a @task of a real
``airflow dags test`` run (the way users call it), against the emulator and its credential-checking
storage origin."""

from __future__ import annotations

import json
import os
import subprocess
import textwrap
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_msads.client.reporting import ReportRequest
from airflow_provider_msads.client.token_cache import MemoryTokenStore
from airflow_provider_msads.hooks.msads import MicrosoftAdsHook
from airflow_provider_msads.testing import DEMO_DEVELOPER_TOKEN, DEMO_REFRESH_TOKEN, Emulator

DAG_ID = "msads_hook_report_e2e"
CONN_ID = "msads_report_e2e"


def _active(emu: Emulator) -> list[int]:
    return [
        a
        for a in emu.expected_account_ids
        if emu.data.account_by_id[a].lifecycle_status not in ("Draft", "Pending")
    ]


def test_hook_client_runs_a_report(msads_emulator: Emulator, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_MSADS_HOOK_REPORT", msads_emulator.airflow_conn_json())
    yesterday = msads_emulator.reporting.today - timedelta(days=1)
    request = ReportRequest(
        report="CampaignPerformance",
        columns=["CampaignId", "CampaignName", "Clicks", "Spend"],
        aggregation="Daily",
        start=yesterday,
        end=yesterday,
        account_ids=_active(msads_emulator),
    )
    hook = MicrosoftAdsHook("msads_hook_report", token_store=MemoryTokenStore())
    with hook.get_client() as client, client.run_report(request) as report:
        rows = list(report)
    assert rows and all(r["TimePeriod"] == yesterday for r in rows)
    assert len(rows) == msads_emulator.reporting.jobs[0].file.rows
    assert msads_emulator.reporting.counters["credential_rejections"] == 0


DAG_FILE = textwrap.dedent(
    f'''
    from __future__ import annotations

    import json
    from datetime import date

    from airflow.sdk import dag, task


    @dag(dag_id="{DAG_ID}", schedule=None, catchup=False)
    def hook_report_e2e():
        @task
        def pull(params: dict) -> dict:
            from airflow_provider_msads.client.reporting import ReportRequest
            from airflow_provider_msads.hooks.msads import MicrosoftAdsHook

            day = date.fromisoformat(params["day"])
            request = ReportRequest(
                report="AccountPerformance",
                columns=["AccountId", "AccountName", "Impressions", "Clicks", "Spend"],
                aggregation="Daily", start=day, end=day, account_ids=params["accounts"],
            )
            with MicrosoftAdsHook("{CONN_ID}").get_client() as client, client.run_report(request) as report:
                rows = list(report)
                summary = {{"rows": len(rows), "declared": report.metadata.rows,
                           "clicks": sum(r["Clicks"] for r in rows), "spend": str(sum(r["Spend"] for r in rows))}}
            print("REPORT-SUMMARY", json.dumps(summary))
            return summary

        pull(params={{"day": "{{DAY}}", "accounts": {{ACCOUNTS}}}})


    hook_report_e2e()
    '''
)


@pytest.mark.e2e
@pytest.mark.timeout(400)
def test_run_report_inside_a_task_of_airflow_dags_test(
    airflow_db: Path, airflow_cli: list[str], msads_emulator: Any
) -> None:
    emu: Emulator = msads_emulator
    day = emu.reporting.today - timedelta(days=1)
    accounts = _active(emu)
    dag_file = DAG_FILE.replace("{DAY}", day.isoformat()).replace("{ACCOUNTS}", json.dumps(accounts))
    dags = Path(os.environ["AIRFLOW__CORE__DAGS_FOLDER"])
    (dags / f"{DAG_ID}.py").write_text(dag_file)
    env = {**os.environ, f"AIRFLOW_CONN_{CONN_ID.upper()}": emu.airflow_conn_json()}
    result = subprocess.run(
        [*airflow_cli, "dags", "test", DAG_ID], env=env, capture_output=True, text=True, timeout=300
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-4000:]
    lines = [line for line in output.splitlines() if "REPORT-SUMMARY" in line]
    assert lines, output[-4000:]
    summary = json.loads(lines[-1].split("REPORT-SUMMARY", 1)[1])
    assert summary["rows"] == summary["declared"] == len(accounts)
    assert emu.reporting.counters["submits"] == 1 and emu.reporting.counters["credential_rejections"] == 0
    for secret in (DEMO_DEVELOPER_TOKEN, DEMO_REFRESH_TOKEN, *emu.identity.access_tokens):
        assert secret not in output
    assert "sig=" not in output
