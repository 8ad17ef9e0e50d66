"""SQL warehouse output: atomic, idempotent tables in any database SQLAlchemy reaches.

Accounts (:class:`AccountTableWriter`: upsert with first/last seen and a vanished flag) and reports
(:class:`~airflow_provider_msads.warehouse.reports.ReportTableWriter`: window replace). No Airflow import:
usable (and tested) from any Python process with a SQLAlchemy engine.
"""

from __future__ import annotations

from airflow_provider_msads.warehouse.dialect import (
    UnsupportedDialectError,
    engine_for_hook,
    validate_identifier,
)
from airflow_provider_msads.warehouse.writer import (
    ACCOUNT_COLUMNS,
    DEFAULT_BATCH_SIZE,
    DEFAULT_TABLE,
    TABLE_COLUMNS,
    AccountTableWriter,
    WriteStats,
    accounts_table,
)

__all__ = [
    "ACCOUNT_COLUMNS",
    "DEFAULT_BATCH_SIZE",
    "DEFAULT_TABLE",
    "TABLE_COLUMNS",
    "AccountTableWriter",
    "UnsupportedDialectError",
    "WriteStats",
    "accounts_table",
    "engine_for_hook",
    "validate_identifier",
]
