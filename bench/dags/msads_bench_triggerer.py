"""Bench DAG: N report tasks that the benchmark defers onto the triggerer without running them on a worker.

Why: running 1,000 report tasks on workers just to reach ``defer()`` would take far longer than the
measurement on a 2-core machine. The mapped task sits in a pool with no slots (``msads_bench_hold``), so
no worker ever runs it; ``bench/triggerer_defer.py`` then writes, for each task instance, exactly what
the task execution API writes when a task defers (a ``trigger`` row with the serialized
``MicrosoftAdsReportTrigger`` and the task instance set to ``deferred``). From there on the triggerer
cannot tell the difference: it runs N report triggers, each polling its own report request.
"""

from __future__ import annotations

import json
import os
from datetime import datetime
from typing import Any

from airflow.sdk import DAG, BaseOperator

POOL = "msads_bench_hold"
COUNT = int(os.environ.get("MSADS_BENCH_TRIGGERS", "0") or 0)


class WaitForReport(BaseOperator):
    """Never executed in the benchmark: deferred from outside, resumed (if ever) here."""

    def __init__(self, *, index: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.index = index

    def execute(self, context: Any) -> None:
        raise RuntimeError("the benchmark defers this task from outside; it must not run on a worker")

    def execute_complete(self, context: Any, event: dict[str, Any]) -> str:
        return json.dumps(event)


with DAG(
    dag_id="msads_bench_triggerer",
    schedule=None,
    start_date=datetime(2024, 1, 1),
    catchup=False,
    tags=["msads", "bench"],
) as dag:
    WaitForReport.partial(task_id="wait_for_report", pool=POOL).expand(index=list(range(COUNT)))
