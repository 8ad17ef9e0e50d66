"""Report files in Microsoft's layout, written as a zip straight to disk, one row at a time.

Layout (reporting README §3.1-§3.2, byte-compared with ``sample-files/``): a zip with one entry
``<ReportRequestId part before "_">.csv``; UTF-8 with BOM; every field double-quoted; CRLF line ends;
9 header lines (Report Name, Report Time, Time Zone, Last Completed Available Day, Last Completed
Available Hour, Report Aggregation, Report Filter, Potential Incomplete Data, Rows), a blank line, the
column names as requested, the rows, a blank line, the copyright footer. ``ExcludeReportHeader`` drops the
header block and its blank line, ``ExcludeColumnHeaders`` the column row, ``ExcludeReportFooter`` the blank
line and the footer. Tsv: the same with tabs.

Memory stays flat in the report's size: the row count is known before the first row (entities x periods),
so rows go from the generator through ``csv.writer`` into the zip stream; nothing is collected.
"""

from __future__ import annotations

import csv
import io
import operator
import threading
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

from airflow_provider_msads.testing.data import Account
from airflow_provider_msads.testing.reporting.columns import dependency, formatter
from airflow_provider_msads.testing.reporting.request import ReportSpec
from airflow_provider_msads.testing.reporting.timezones import display_name
from airflow_provider_msads.testing.reporting.world import Entity, World, apply_chain, hour_share

BOM = "\ufeff"
EOL = "\r\n"
HEADER_KEYS = (
    "Report Name",
    "Report Time",
    "Time Zone",
    "Last Completed Available Day",
    "Last Completed Available Hour",
    "Report Aggregation",
    "Report Filter",
    "Potential Incomplete Data",
    "Rows",
)
#: Time of day printed after the Last Completed Available Day (the sample files' value).
COMPLETED_AT = "10:15:00 PM"


class Cancelled(Exception):
    """Generation stopped because the emulator was reset or stopped."""


@dataclass(frozen=True, slots=True)
class Period:
    """One value of the TimePeriod column and the days (and hour) whose numbers it sums."""

    label: str
    days: tuple[date, ...]
    hour: int | None = None


@dataclass(frozen=True, slots=True)
class ReportFile:
    """A generated report: where the zip is and what is in it."""

    path: Path | None  # None when the report has no rows (the service sends no file then)
    entry_name: str
    rows: int
    size: int
    potential_incomplete_data: bool
    last_completed_day: date


def us_date(day: date) -> str:
    return f"{day.month}/{day.day}/{day.year}"


def _us_datetime(moment: datetime) -> str:
    hour = moment.hour % 12 or 12
    half = "AM" if moment.hour < 12 else "PM"
    return f"{us_date(moment.date())} {hour}:{moment.minute:02d}:{moment.second:02d} {half}"


def _days(start: date, end: date) -> Iterator[date]:
    for n in range((end - start).days + 1):
        yield start + timedelta(days=n)


def periods(spec: ReportSpec) -> list[Period]:
    """The TimePeriod values of the report, in file order (formats: reporting README §1.5)."""
    if spec.start is None or spec.end is None:
        return [Period("", ())]
    days = tuple(_days(spec.start, spec.end))
    agg = spec.aggregation
    if agg == "Summary":
        return [Period("", days)]
    if agg == "Daily":
        return [Period(d.isoformat(), (d,)) for d in days]
    if agg == "Hourly":
        v2 = spec.format_version == "2.0"
        out: list[Period] = []
        for d in days:
            label = d.isoformat() if v2 else f"{us_date(d)} 12:00:00 AM"
            out.extend(Period(f"{label}|{h}", (d,), h) for h in range(24))
        return out
    if agg == "HourOfDay":
        return [Period(str(h), days, h) for h in range(24)]
    if agg == "DayOfWeek":  # 1 = Sunday
        groups: dict[int, list[date]] = {}
        for d in days:
            groups.setdefault((d.weekday() + 1) % 7 + 1, []).append(d)
        return [Period(str(k), tuple(v)) for k, v in sorted(groups.items())]
    buckets: dict[str, list[date]] = {}
    for d in days:
        if agg in ("Weekly", "WeeklyStartingMonday"):
            back = d.weekday() if agg == "WeeklyStartingMonday" else (d.weekday() + 1) % 7
            key = (d - timedelta(days=back)).isoformat()
        elif agg == "Monthly":
            key = d.replace(day=1).isoformat()
        else:  # Yearly
            key = str(d.year)
        buckets.setdefault(key, []).append(d)
    return [Period(k, tuple(v)) for k, v in buckets.items()]


def header_lines(
    spec: ReportSpec, *, rows: int, now: datetime, last_complete: date, incomplete: bool
) -> list[str]:
    name = spec.report_name if spec.report_name is not None else f"{spec.type}-{_us_datetime(now)}"
    if spec.start is None or spec.end is None:
        report_time = ""
    elif spec.start == spec.end:
        report_time = us_date(spec.start)
    else:
        report_time = f"{us_date(spec.start)},{us_date(spec.end)}"
    completed = f"{us_date(last_complete)} {COMPLETED_AT} (GMT)"
    values = (
        name,
        report_time,
        display_name(spec.time_zone),
        completed,
        completed,
        spec.aggregation,
        "",
        "true" if incomplete else "false",
        str(rows),
    )
    return [f"{k}: {v}" for k, v in zip(HEADER_KEYS, values, strict=True)]


def footer_line(now: datetime) -> str:
    return f"\u00a9{now.year} Microsoft Corporation. All rights reserved. "


def entry_name(report_request_id: str, spec: ReportSpec) -> str:
    """The zip entry: the ReportRequestId part before ``_`` (observed since ~2022, README §3.1)."""
    return report_request_id.split("_", 1)[0] + (".tsv" if spec.format == "Tsv" else ".csv")


class ReportWriter:
    """Generates one report's rows from the :class:`World` and writes the zip."""

    def __init__(
        self, world: World, spec: ReportSpec, accounts: list[Account], *, now: datetime, last_complete: date
    ) -> None:
        self.world = world
        self.spec = spec
        self.accounts = accounts
        self.now = now
        self.today = now.date()
        self.last_complete = last_complete
        self.periods = periods(spec)

    def entities(self) -> Iterator[Entity]:
        s = self.spec
        return self.world.entities(s.level, self.accounts, s.campaigns, s.ad_groups, s.whole_accounts)

    def count_rows(self) -> int:
        entities = sum(1 for _ in self.entities())
        rows = entities * len(self.periods)
        return min(rows, self.spec.max_rows) if self.spec.max_rows is not None else rows

    @property
    def potential_incomplete_data(self) -> bool:
        return self.spec.end is not None and self.spec.end > self.last_complete

    def rows(self, cancel: threading.Event | None = None) -> Iterator[tuple[str, ...]]:
        """Data rows as tuples of cell texts: accounts in scope order, then periods, then the account's
        entities (row order is not documented by Microsoft; clients must not depend on it).

        Hot path of big reports: the cells that depend only on the entity (ids, names, statuses...) are
        rendered once per entity, the rest per row, and a precompiled permutation puts them in column order.
        """
        spec = self.spec
        kinds = [dependency(c) for c in spec.columns]
        fmts = [formatter(c, spec.level, spec.format_version) for c in spec.columns]
        entity_fmts = [f for f, k in zip(fmts, kinds, strict=True) if k == "entity"]
        metric_fmts = [f for f, k in zip(fmts, kinds, strict=True) if k == "metrics"]
        row_fmts = [f for f, k in zip(fmts, kinds, strict=True) if k in ("row", "period")]
        # combined = entity cells + metric cells + row cells; ``order`` picks them in column order
        slots: dict[str, list[int]] = {"entity": [], "metrics": [], "row": []}
        for i, k in enumerate(kinds):
            slots["row" if k == "period" else k].append(i)
        flat = slots["entity"] + slots["metrics"] + slots["row"]
        position = {col: pos for pos, col in enumerate(flat)}
        order = [position[i] for i in range(len(kinds))]
        pick = operator.itemgetter(*order) if len(order) > 1 else (lambda cells: (cells[order[0]],))
        world = self.world
        seen_top = world.seen_top
        today, last = self.today, self.last_complete
        limit = spec.max_rows
        zero = (0, 0, 0, 0, 0)
        emitted = 0
        for account in self.accounts:
            prepared = [
                (e, world.chain(e), [f(e, "", zero) for f in entity_fmts])
                for e in world.entities(
                    spec.level, [account], spec.campaigns, spec.ad_groups, spec.whole_accounts
                )
            ]
            if not prepared:
                continue
            base = world.base(prepared[0][0])
            for period in self.periods:
                label, hour = period.label, period.hour
                tops = [seen_top(base, day, today, last) for day in period.days]
                for entity, chain, cells in prepared:
                    if limit is not None and emitted >= limit:
                        return
                    if cancel is not None and emitted % 4096 == 0 and cancel.is_set():
                        raise Cancelled("report generation cancelled (emulator reset or stopped)")
                    if len(tops) == 1 and hour is None:
                        metrics = apply_chain(chain, tops[0])
                    else:
                        imp = clk = spd = conv = rev = 0
                        for top in tops:
                            m = apply_chain(chain, top)
                            if hour is None:
                                imp += m[0]
                                clk += m[1]
                                spd += m[2]
                                conv += m[3]
                                rev += m[4]
                            else:
                                imp += hour_share(m[0], hour)
                                clk += hour_share(m[1], hour)
                                spd += hour_share(m[2], hour)
                                conv += hour_share(m[3], hour)
                                rev += hour_share(m[4], hour)
                        metrics = (imp, clk, spd, conv, rev)
                    combined = cells + [f(entity, label, metrics) for f in metric_fmts]
                    if row_fmts:
                        combined += [f(entity, label, metrics) for f in row_fmts]
                    yield pick(combined)
                    emitted += 1

    def write(
        self, directory: Path, report_request_id: str, cancel: threading.Event | None = None
    ) -> ReportFile:
        """Write ``<directory>/<id>.zip``; a report without rows writes nothing (``path`` None)."""
        spec = self.spec
        name = entry_name(report_request_id, spec)
        rows = self.count_rows()
        incomplete = self.potential_incomplete_data
        if rows == 0:
            return ReportFile(None, name, 0, 0, incomplete, self.last_complete)
        path = directory / (report_request_id.split("_", 1)[0] + ".zip")
        stamp = self.now.timetuple()[:6]
        info = zipfile.ZipInfo(name, date_time=(max(stamp[0], 1980), *stamp[1:]))  # type: ignore[arg-type]
        info.compress_type = zipfile.ZIP_DEFLATED
        info.external_attr = 0o644 << 16
        try:
            with (
                zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive,
                archive.open(info, "w", force_zip64=True) as raw,
            ):
                text = io.TextIOWrapper(raw, encoding="utf-8", newline="", write_through=False)
                self.write_csv(text, rows, incomplete, cancel)
                text.flush()
                text.detach()
        except BaseException:
            path.unlink(missing_ok=True)
            raise
        return ReportFile(path, name, rows, path.stat().st_size, incomplete, self.last_complete)

    def write_csv(
        self, out: io.TextIOBase, rows: int, incomplete: bool, cancel: threading.Event | None = None
    ) -> None:
        spec = self.spec
        writer = csv.writer(
            out, delimiter="\t" if spec.format == "Tsv" else ",", quoting=csv.QUOTE_ALL, lineterminator=EOL
        )
        out.write(BOM)
        if not spec.exclude_report_header:
            for line in header_lines(
                spec, rows=rows, now=self.now, last_complete=self.last_complete, incomplete=incomplete
            ):
                writer.writerow([line])
            out.write(EOL)
        if not spec.exclude_column_headers:
            writer.writerow(spec.columns)
        writer.writerows(self.rows(cancel))
        if not spec.exclude_report_footer:
            out.write(EOL)
            writer.writerow([footer_line(self.now)])
