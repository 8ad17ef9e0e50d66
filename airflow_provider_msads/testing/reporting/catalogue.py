"""The report-type catalogue as the emulator needs it, read from the package's shipped data file.

``airflow_provider_msads/client/reporting/report_types.json`` is the one home of the 48 report types
(columns in schema order, documented required columns, aggregation/time support, scope members). The
emulator reads that *data file* through :mod:`importlib.resources`; it never imports client code, so the
emulator implements Microsoft's protocol and not the client's reading of it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

TYPE_SUFFIX = "ReportRequest"


@dataclass(frozen=True, slots=True)
class ReportTypeInfo:
    """One ``<Name>ReportRequest`` subtype."""

    type: str  # wire Type, e.g. "AccountPerformanceReportRequest"
    columns: frozenset[str]
    column_order: tuple[str, ...]
    required_columns: tuple[str, ...]  # documented required columns that are plain column names
    supports_aggregation: bool
    aggregations: tuple[str, ...]
    supports_time: bool
    scope_type: str | None
    scope_members: tuple[str, ...]
    has_filter: bool
    other_elements: tuple[str, ...]

    @property
    def name(self) -> str:
        return self.type[: -len(TYPE_SUFFIX)]


@dataclass(frozen=True, slots=True)
class ReportCatalogue:
    types: dict[str, ReportTypeInfo]  # by wire Type
    aggregations: tuple[str, ...]
    time_periods: tuple[str, ...]
    time_zones: tuple[str, ...]
    formats: tuple[str, ...]
    #: docs table "Aggregation and Time" (aggregation -> predefined periods, "custom" = custom range);
    #: empty when the shipped file does not carry it.
    aggregation_time_periods: dict[str, frozenset[str]]


def _aggregation_table(raw: Any) -> dict[str, frozenset[str]]:
    if not isinstance(raw, dict):
        return {}
    out: dict[str, frozenset[str]] = {}
    for aggregation, periods in raw.items():
        if isinstance(periods, list):
            out[aggregation] = frozenset(
                "custom" if str(p).lower().startswith("custom") else str(p) for p in periods
            )
    return out


@cache
def report_catalogue() -> ReportCatalogue:
    """Parse the shipped ``report_types.json`` once per process."""
    text = (
        resources.files("airflow_provider_msads.client.reporting")
        .joinpath("report_types.json")
        .read_text(encoding="utf-8")
    )
    raw = json.loads(text)
    types: dict[str, ReportTypeInfo] = {}
    for wire, entry in raw["report_types"].items():
        columns = tuple(entry["columns"])
        known = frozenset(columns)
        required = tuple(c for c in entry.get("required_columns") or () if c in known and c != "TimePeriod")
        scope = entry.get("scope") or {}
        types[wire] = ReportTypeInfo(
            type=wire,
            columns=known,
            column_order=columns,
            required_columns=required,
            supports_aggregation=bool(entry["supports_aggregation"]),
            aggregations=tuple(entry.get("aggregations") or ()),
            supports_time=bool(entry["supports_time"]),
            scope_type=scope.get("type"),
            scope_members=tuple(scope.get("members") or ()),
            has_filter=entry.get("filter") is not None and wire not in _NO_FILTER,
            other_elements=tuple(entry.get("other_elements") or ()),
        )
    return ReportCatalogue(
        types=types,
        aggregations=tuple(raw["aggregations"]),
        time_periods=tuple(raw["time_periods"]),
        time_zones=tuple(raw["time_zones"]),
        formats=tuple(raw["formats"]),
        aggregation_time_periods=_aggregation_table(raw.get("aggregation_time_periods")),
    )


# XSD: these three subtypes have no Filter element (reporting README §1.3).
_NO_FILTER = frozenset(
    {"AssetPerformanceReportRequest", "BudgetSummaryReportRequest", "ProductMatchCountReportRequest"}
)
