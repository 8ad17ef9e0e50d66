"""Defer the bench DAG's task instances onto the triggerer, as the task execution API does on ``defer()``.

Run with the cluster's Airflow environment (metadata database). Reads ``<dag_id> <run_id> <kwargs.json>``;
for the i-th mapped task instance it serializes ``MicrosoftAdsReportTrigger(**kwargs[i])`` the way the
task runner does (``trigger.serialize()`` + ``airflow.sdk.serde.serialize``), inserts the ``trigger`` row
and sets the task instance to ``deferred`` with ``next_method="execute_complete"`` (the same columns as
``airflow/api_fastapi/execution_api/routes/task_instances.py`` for ``TIDeferredStatePayload``). Prints
one JSON line with the count.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def main() -> int:
    dag_id, run_id, kwargs_file = sys.argv[1:4]
    from airflow.models.taskinstance import TaskInstance
    from airflow.models.trigger import Trigger
    from airflow.sdk.serde import serialize
    from airflow.utils.session import create_session
    from airflow.utils.state import TaskInstanceState
    from sqlalchemy import select, update

    from airflow_provider_msads.triggers.reports import MicrosoftAdsReportTrigger

    all_kwargs = json.loads(Path(kwargs_file).read_text())
    with create_session() as session:
        tis = session.scalars(
            select(TaskInstance)
            .where(TaskInstance.dag_id == dag_id, TaskInstance.run_id == run_id)
            .order_by(TaskInstance.map_index)
        ).all()
        if len(tis) != len(all_kwargs):
            raise SystemExit(f"expected {len(all_kwargs)} task instances, found {len(tis)}")
        for ti, kwargs in zip(tis, all_kwargs, strict=True):
            classpath, trigger_kwargs = MicrosoftAdsReportTrigger(**kwargs).serialize()
            row = Trigger(classpath=classpath, kwargs={})
            row.encrypted_kwargs = json.dumps(serialize(trigger_kwargs))
            session.add(row)
            session.flush()
            session.execute(
                update(TaskInstance)
                .where(TaskInstance.id == ti.id)
                .values(
                    state=TaskInstanceState.DEFERRED,
                    trigger_id=row.id,
                    next_method="execute_complete",
                    next_kwargs=serialize({}),
                    trigger_timeout=None,
                )
            )
    print(json.dumps({"deferred": len(tis)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
