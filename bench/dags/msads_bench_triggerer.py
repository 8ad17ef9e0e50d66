"""Bench DAG: N report waits that start straight on the triggerer (``start_from_trigger``).

Why not the report operator itself: its tasks first run on a worker (Submit) and then defer; on a
2-core machine, running 1,000 worker processes would take far longer than the measurement. Here the
scheduler defers each mapped task instance directly (Airflow's ``start_from_trigger``), with the same
trigger class and the same kwargs shape the operator writes, for report requests the benchmark
submitted beforehand (one task per wait: Airflow 3.3 starts only unmapped tasks from the
triggerer). The triggerer cannot tell the difference: it runs 1,000
``MicrosoftAdsReportTrigger`` instances, each polling its own report every ``poll_interval`` seconds.

``msads_bench_triggerer.json`` next to this file holds one kwargs dict per task (written by
``bench/run.py``).
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

from airflow.sdk import DAG, BaseOperator
from airflow.triggers.base import StartTriggerArgs

CLASSPATH = "airflow_provider_msads.triggers.reports.MicrosoftAdsReportTrigger"
KWARGS_FILE = Path(__file__).with_suffix(".json")


class WaitForReport(BaseOperator):
    """Starts on the triggerer with ``trigger_kwargs``; never runs on a worker during the benchmark."""

    start_trigger_args = StartTriggerArgs(
        trigger_cls=CLASSPATH,
        trigger_kwargs={},
        next_method="execute_complete",
        next_kwargs=None,
        timeout=None,
    )
    start_from_trigger = True

    def __init__(self, *, trigger_kwargs: dict[str, Any], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        # a copy per task: the class attribute is shared by every instance
        self.start_trigger_args = replace(type(self).start_trigger_args, trigger_kwargs=trigger_kwargs)

    def execute_complete(self, context: Any, event: dict[str, Any]) -> None:
        self.log.info("reports finished: %s", event.get("status"))


with DAG(
    dag_id="msads_bench_triggerer",
    schedule=None,
    start_date=datetime(2024, 1, 1),
    catchup=False,
    max_active_tasks=2000,
    tags=["msads", "bench"],
) as dag:
    # One task per wait, not one mapped task: Airflow 3.3 cannot start MAPPED tasks from the triggerer.
    for index, trigger_kwargs in enumerate(
        json.loads(KWARGS_FILE.read_text()) if KWARGS_FILE.exists() else []
    ):
        WaitForReport(task_id=f"wait_{index:04d}", trigger_kwargs=trigger_kwargs)
