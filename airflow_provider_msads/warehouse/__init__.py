"""SQL warehouse output for discovered accounts: dialects and an atomic, idempotent table writer.

Plain DB-API code with no Airflow import, so it can be used (and tested) from any Python process.
"""

from __future__ import annotations

from airflow_provider_msads.warehouse.dialect import (
    MYSQL,
    POSTGRESQL,
    SQLITE,
    SqlDialect,
    UnsupportedDialectError,
    dialect_for_hook,
    get_dialect,
    validate_identifier,
)
from airflow_provider_msads.warehouse.writer import (
    ACCOUNT_COLUMNS,
    DEFAULT_TABLE,
    TABLE_COLUMNS,
    AccountTableWriter,
    WriteStats,
)

__all__ = [
    "ACCOUNT_COLUMNS",
    "DEFAULT_TABLE",
    "MYSQL",
    "POSTGRESQL",
    "SQLITE",
    "TABLE_COLUMNS",
    "AccountTableWriter",
    "SqlDialect",
    "UnsupportedDialectError",
    "WriteStats",
    "dialect_for_hook",
    "get_dialect",
    "validate_identifier",
]
