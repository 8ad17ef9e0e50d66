"""A report's rows as a file: CSV or JSON lines, written locally, then moved or uploaded into place.

Plain helpers for :class:`~airflow_provider_msads.operators.reports.MicrosoftAdsReportOperator`: the
file is complete before it is published, so readers never see half a report.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

FILE_FORMATS = ("csv", "jsonl")


def csv_cell(value: Any) -> Any:
    """A typed value as the csv module should write it: empty for missing, ISO days."""
    if value is None:
        return ""
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    return value


def json_value(value: Any) -> Any:
    """A typed value for JSON: ISO days, money as an exact decimal string."""
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


def write_rows(
    path: Path, columns: Sequence[str], rows: Iterable[Mapping[str, Any]], file_format: str
) -> int:
    """Stream ``rows`` into ``path`` as ``csv`` (with a header line) or ``jsonl``; returns the row count."""
    count = 0
    with path.open("w", encoding="utf-8", newline="") as out:
        if file_format == "csv":
            writer = csv.writer(out, lineterminator="\n")
            writer.writerow(columns)
            for row in rows:
                writer.writerow([csv_cell(row.get(c)) for c in columns])
                count += 1
        else:
            for row in rows:
                out.write(json.dumps({c: json_value(row.get(c)) for c in columns}, separators=(",", ":")))
                out.write("\n")
                count += 1
    return count


def publish(local: Path, destination: Any, conn_id: str | None) -> str:
    """Move the finished file into place: ``os.replace`` locally, one upload for object storage."""
    text = os.fspath(destination) if isinstance(destination, (str, os.PathLike)) else str(destination)
    if "://" not in text or text.startswith("file://"):
        target = Path(text.removeprefix("file://")).expanduser().resolve()
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        shutil.copyfile(local, staging)
        os.replace(staging, target)
        return str(target)
    from airflow.sdk import ObjectStoragePath

    target_path = (
        destination
        if isinstance(destination, ObjectStoragePath)
        else ObjectStoragePath(text, conn_id=conn_id)
    )
    with local.open("rb") as source, target_path.open("wb") as sink:  # type: ignore[no-untyped-call]
        while chunk := source.read(1024 * 1024):
            sink.write(chunk)
    return str(target_path)
