"""The report file: zip (or bare CSV) -> header metadata + a stream of typed rows, memory flat.

Layout (``guides/reports.md#reportschema``; pack README §3): UTF-8 BOM; an optional header block of
single-cell lines ``"Report Name: …"`` … ``"Rows: N"`` and a blank line; the column-name row (the request's
column names); data rows; an optional blank line and a copyright footer (``©2026 Microsoft Corporation…``,
the docs print ``@``). A row whose first cell starts with "Total" is data (no total row exists in v13).
``"--"`` (not computed) and ``""`` (not applicable) become None; a trailing ``%`` is stripped.

Speed: rows are converted a block at a time, column by column, with one converter per column chosen
from its kind before the first row — ``map(int, column)`` runs in C; a block that holds a None marker or
a ``%`` falls back to a per-cell path for that column only; integer and decimal columns memoize the
values they repeat (ids, small counts), up to ``MEMO_MAX`` distinct ones. Rows are copies of one dict
holding every key, filled column by column. Blocks are small (``BLOCK_ROWS``) so a block's strings and
rows stay in cache and die young, and text is decoded 64 KiB at a time. The header's ``Rows: N`` is
checked at the end of the stream: a mismatch raises, so a transaction consuming the rows rolls back.

Text view (:meth:`ReportFile.text_blocks`): the same blocks as columns of SQL literals, for loaders that
hand text to the database (PostgreSQL ``COPY``). A column already in canonical form passes through
untouched; any other is converted as above and written back, so both views give the same values and
raise the same errors.
"""

from __future__ import annotations

import contextlib
import csv
import io
import re
import zipfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from itertools import chain, islice, repeat
from pathlib import Path
from typing import IO, Any

from airflow_provider_msads.client.reporting.columns import (
    TIME_PERIOD,
    TIME_PERIOD_KINDS,
    ColumnKind,
    name_kind,
)
from airflow_provider_msads.client.reporting.errors import MalformedReportError, ReportRowCountError

Row = dict[str, Any]
#: Rows converted per block: small enough that a block's strings and rows stay in the CPU cache and die
#: young (fewer objects survive into older GC generations); measured best at 128-512 (bench/README.md).
BLOCK_ROWS = 256
#: Characters decoded per read: the default 8 KiB makes one pure-Python ZipExtFile.read1 call per 8 KiB.
_TEXT_CHUNK = 1 << 16
_ZIP_MAGIC = b"PK\x03\x04"
#: Largest CSV inside a zip that is opened at all (declared size; a zip bomb is refused before reading).
DEFAULT_MAX_UNCOMPRESSED_BYTES = 32 * 1024**3
_NONE = {"--": None, "": None}
#: Distinct values an integer/decimal column memoizes before it drops the memo (bounds RSS: ~3 MB a column).
MEMO_MAX = 16_384
_none_get = _NONE.get
_HEADER_LINE = re.compile(
    r"^(Report Name|Report Time|Time Zone|Last Completed Available Day|Last Completed Available Hour|"
    r"Report Aggregation|Report Filter|Potential Incomplete Data|Rows): ?(.*)$",
    re.DOTALL,
)
_FOOTER = re.compile(r"^[\u00a9@]\s*\d{4} Microsoft Corporation")
_GMT_TIME = "%m/%d/%Y %I:%M:%S %p"


@dataclass(frozen=True, slots=True)
class ReportMetadata:
    """The report's header block (all None when the file has none).

    ``last_completed_day`` / ``last_completed_hour``: the date and the hour (0-23, UTC) of "Last Completed
    Available Day/Hour"; rows after them may still change (restatement). ``rows``: the ``Rows: N`` count.
    """

    report_name: str | None = None
    report_time: str | None = None
    time_zone: str | None = None
    start: date | None = None
    end: date | None = None
    last_completed_day: date | None = None
    last_completed_hour: int | None = None
    aggregation: str | None = None
    potential_incomplete_data: bool = False
    rows: int | None = None


def merge_metadata(parts: Sequence[ReportMetadata]) -> ReportMetadata:
    """One metadata for rows merged from several files (a request split by accounts).

    The earliest ``last_completed_day``/hour (data is complete only up to the least complete part), the
    summed row count, incomplete when any part is.
    """
    if len(parts) == 1:
        return parts[0]
    if not parts:
        return ReportMetadata(rows=0)
    first = parts[0]
    days = [p.last_completed_day for p in parts if p.last_completed_day is not None]
    hours = [(p.last_completed_day, p.last_completed_hour) for p in parts if p.last_completed_day is not None]
    counts = [p.rows for p in parts]
    return ReportMetadata(
        report_name=first.report_name,
        report_time=first.report_time,
        time_zone=first.time_zone,
        start=first.start,
        end=first.end,
        last_completed_day=min(days) if days else None,
        last_completed_hour=min(hours, key=lambda h: (h[0], h[1] or 0))[1] if hours else None,
        aggregation=first.aggregation,
        potential_incomplete_data=any(p.potential_incomplete_data for p in parts),
        rows=None if any(c is None for c in counts) else sum(c for c in counts if c is not None),
    )


# -- converters: one per column, applied to a whole column of a block ---------------------------------


def _bad(column: str, kind: str, value: str) -> MalformedReportError:
    return MalformedReportError(f"column {column!r}: {value[:40]!r} is not a valid {kind} value")


class _Column:
    """Converts one column of a block; remembers whether values carry a '%' so later blocks stay fast.

    Integer and decimal columns keep a bounded memo of text -> value: report rows repeat their ids
    (account, campaign, ad group), small counts and markers on every row, and a dict lookup costs a
    quarter of ``int()``/``Decimal()`` on a string. A column with more distinct values than
    ``MEMO_MAX`` (a per-row id, money) drops its memo and converts every value directly.
    """

    __slots__ = ("kind", "memo", "name", "percent")

    def __init__(self, name: str, kind: ColumnKind) -> None:
        self.name = name
        self.kind = kind
        self.percent = False
        self.memo: dict[str, Any] | None = dict(_NONE) if kind in ("integer", "decimal") else None

    def convert(self, values: tuple[str, ...]) -> list[Any] | Any:
        if self.kind == "text":
            if "--" in values or "" in values:  # comparing lengths first: cheaper than hashing each name
                return map(_none_get, values, values)
            return values
        memo = self.memo
        if memo is None:
            return self.convert_each(values)
        try:  # a warm memo holds every value of the block
            return list(map(memo.__getitem__, values))
        except KeyError:
            pass
        missing = set(values).difference(memo)
        if missing:
            new = tuple(missing)
            memo.update(zip(new, self.convert_each(new), strict=True))
            if len(memo) > MEMO_MAX:
                self.memo = None  # too many distinct values to pay: this block still uses it
        return list(map(memo.__getitem__, values))

    def literals(self, values: tuple[str, ...]) -> Sequence[str | None]:
        """The column as text every SQL database parses as its kind, None for a marker; the same values
        (and the same errors) as :meth:`convert`, without building a Python object per cell.

        A block already in canonical form (``123``, ``4.56``, ``2026-06-01``; checked with C string
        methods over the whole column) passes through as it is, a ``%`` column without its ``%``; any
        other block is converted (each distinct value once when they repeat) and written back as
        canonical text.
        """
        kind = self.kind
        if kind == "text":
            converted = self.convert(values)
            return converted if isinstance(converted, tuple) else list(converted)
        if kind == "decimal" and self.percent:
            values = tuple(map(str.rstrip, values, repeat("%")))
        if _canonical(kind, values):
            return values
        distinct = tuple(set(values))
        if len(distinct) * 2 > len(values):
            return list(map(_literal, self.convert(values)))
        # Repeating values (an Hourly TimePeriod, a marker-heavy column): convert each one once.
        texts = dict(zip(distinct, map(_literal, self.convert(distinct)), strict=True))
        return list(map(texts.__getitem__, values))

    def convert_each(self, values: tuple[str, ...]) -> list[Any] | Any:
        kind = self.kind
        try:  # the usual block: no markers, so the whole column converts in C
            if kind == "integer":
                return list(map(int, values))
            if kind == "decimal":
                if self.percent:
                    return list(map(Decimal, map(str.rstrip, values, repeat("%"))))
                return list(map(Decimal, values))
            if kind == "date":
                return list(map(date.fromisoformat, values))
        except (ValueError, InvalidOperation):
            pass
        try:  # markers ("--", "") in this block: skip them inline
            if kind == "integer":
                return [None if v in _NONE else int(v) for v in values]
            if kind == "decimal" and self.percent:
                return [None if v in _NONE else Decimal(v.rstrip("%")) for v in values]
            if kind == "decimal":
                return [None if v in _NONE else Decimal(v) for v in values]
        except (ValueError, InvalidOperation):
            pass
        return [None if v in _NONE else self.cell(v) for v in values]

    def cell(self, value: str) -> Any:
        """The careful per-cell path: markers, '%', thousands separators, Yearly/hourly TimePeriod."""
        kind = self.kind
        try:
            if kind == "integer":
                return int(value)
            if kind == "decimal":
                if value.endswith("%"):
                    self.percent = True
                    value = value[:-1]
                return Decimal(value.replace(",", ""))
            if kind == "date":
                if len(value) == 4 and value.isdigit():  # Yearly TimePeriod: yyyy
                    return date(int(value), 1, 1)
                return date.fromisoformat(value)
            if kind == "datetime":
                return _hourly(value)
        except (ValueError, InvalidOperation):
            pass
        raise _bad(self.name, kind, value)


def _hourly(value: str) -> datetime:
    """Hourly TimePeriod: ``2026-06-01|7`` (FormatVersion 2.0; hour may be zero-padded) or v1.0's
    ``6/1/2026 12:00:00 AM|7`` — the hour's start, naive (the report's time zone)."""
    day_text, _, hour_text = value.rpartition("|")
    day_text = day_text.strip()
    if "/" in day_text:
        day = datetime.strptime(day_text, _GMT_TIME if ":" in day_text else "%m/%d/%Y").date()
    else:
        day = date.fromisoformat(day_text)
    return datetime(day.year, day.month, day.day, int(hour_text))


def _canonical(kind: ColumnKind, values: tuple[str, ...]) -> bool:
    if kind == "integer" or kind == "decimal":
        return _plain_numbers(values, decimal=kind == "decimal")
    return kind == "date" and _iso_days(values)


def _plain_numbers(values: tuple[str, ...], *, decimal: bool) -> bool:
    """Every value is ASCII digits (a decimal: with at most one point), the form ``int()``/``Decimal()``
    and every database read alike; checked with C string methods over the whole column."""
    if not all(values):
        return False
    digits = "".join(values)
    if decimal and "." in digits:
        if "." in values or digits.count(".") != sum(map(str.__contains__, values, repeat("."))):
            return False
        digits = digits.replace(".", "")
    return digits.isascii() and digits.isdigit()


def _iso_days(values: tuple[str, ...]) -> bool:
    """Every value is a valid day written ``YYYY-MM-DD`` (checked once per distinct value)."""
    for value in set(values):
        try:
            if date.fromisoformat(value).isoformat() != value:
                return False
        except ValueError:
            return False
    return True


def _literal(value: int | Decimal | date | datetime | str | None) -> str | None:
    """A typed cell as the text a SQL database parses: plain digits (no exponent), ISO 8601 days/times;
    None (a marker) stays None."""
    if value is None:
        return None
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, datetime):
        return value.isoformat(" ")
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def kind_of(column: str, aggregation: str | None) -> ColumnKind:
    """A column's kind by name alone (a file's column may be read without its report type)."""
    if column == TIME_PERIOD:
        return TIME_PERIOD_KINDS.get(aggregation or "Daily", "date")
    return name_kind(column)


# -- the file ------------------------------------------------------------------------------------------


class ReportFile:
    """One downloaded report file (zip with one CSV, or a bare CSV) on disk; re-readable.

    The header block and the column row are read when it is opened, so ``metadata``/``columns`` are known
    before any row is; rows stream on each iteration.

    :param path: the file.
    :param aggregation: the request's aggregation (decides TimePeriod's kind); the header's when None.
    :param expected_columns: the request's columns; a file with other columns is refused.
    :param require_header: refuse a file without the header block (ours always ask for it: its
        ``Rows: N`` is what proves the file complete).
    """

    def __init__(
        self,
        path: str | Path,
        *,
        aggregation: str | None = None,
        expected_columns: Sequence[str] | None = None,
        require_header: bool = False,
        max_uncompressed_bytes: int = DEFAULT_MAX_UNCOMPRESSED_BYTES,
    ) -> None:
        self.path = Path(path)
        self._max_bytes = max_uncompressed_bytes
        with self._open() as (_stream, rows):
            self.metadata, self.columns = _read_head(rows)
        if require_header and self.metadata.rows is None:
            raise MalformedReportError(
                "the report has no header block (no 'Rows: N' line), so its completeness cannot be checked"
            )
        if expected_columns is not None and tuple(expected_columns) != self.columns and self.columns:
            raise MalformedReportError(
                f"the file's columns {list(self.columns)} differ from the requested {list(expected_columns)}"
            )
        agg = aggregation if aggregation is not None else self.metadata.aggregation
        self.kinds: dict[str, ColumnKind] = {c: kind_of(c, agg) for c in self.columns}

    def __iter__(self) -> Iterator[Row]:
        # Rows are built a block at a time and handed out by itertools.chain: no Python frame per row.
        return chain.from_iterable(self._blocks())

    def _blocks(self) -> Iterator[list[Row]]:
        with self._open() as (_stream, rows):
            _read_head(rows)
            yield from _typed_blocks(rows, self.columns, self.kinds, self.metadata.rows)

    def text_blocks(self) -> Iterator[list[Sequence[str | None]]]:
        """The rows as blocks of columns (one sequence per column, in ``columns`` order) of SQL literals.

        For bulk loaders that hand text to the database (PostgreSQL ``COPY``): the values, checks and
        errors of the typed rows (``Rows: N`` included), as ``None`` or text the database parses as the
        column's kind (integers and decimals as plain digits, dates ``YYYY-MM-DD``, hours
        ``YYYY-MM-DD HH:MM:SS``), so no Python object is built per cell.
        """
        with self._open() as (_stream, rows):
            _read_head(rows)
            yield from _text_blocks(rows, self.columns, self.kinds, self.metadata.rows)

    def __repr__(self) -> str:
        return f"ReportFile({self.path.name!r}, columns={len(self.columns)}, rows={self.metadata.rows})"

    def _open(self) -> _Opened:
        return _Opened(self.path, self._max_bytes)


class _Opened:
    """Context manager: the CSV text stream of a zip's single member (or of a bare CSV) + a csv reader."""

    def __init__(self, path: Path, max_bytes: int) -> None:
        self._path = path
        self._max = max_bytes
        self._closers: list[IO[Any] | zipfile.ZipFile] = []

    def __enter__(self) -> tuple[io.TextIOWrapper, Iterator[list[str]]]:
        raw = self._path.open("rb")
        self._closers.append(raw)
        binary: IO[bytes] = raw
        if raw.read(4) == _ZIP_MAGIC:
            raw.seek(0)
            try:
                archive = zipfile.ZipFile(raw)
            except zipfile.BadZipFile as exc:
                raise MalformedReportError(f"the download is not a readable zip ({exc})") from None
            self._closers.append(archive)
            members = [m for m in archive.infolist() if not m.is_dir()]
            if len(members) != 1:
                raise MalformedReportError(f"the zip holds {len(members)} files, expected exactly one report")
            if members[0].file_size > self._max:
                raise MalformedReportError(
                    f"the report unpacks to {members[0].file_size} bytes, over the {self._max}-byte limit"
                )
            binary = archive.open(members[0])
            self._closers.append(binary)
        else:
            raw.seek(0)
        text = io.TextIOWrapper(binary, encoding="utf-8-sig", newline="", errors="strict")  # type: ignore[type-var]
        # CPython's (and _pyio's) documented-in-source read size; no public parameter exists for it.
        text._CHUNK_SIZE = _TEXT_CHUNK  # type: ignore[attr-defined]
        self._closers.append(text)
        return text, csv.reader(text, strict=True)

    def __exit__(self, *exc: object) -> None:
        for closer in reversed(self._closers):
            with contextlib.suppress(Exception):  # closing after an error: the first error is what matters
                closer.close()


@contextlib.contextmanager
def _reading() -> Iterator[None]:
    """csv / zip / encoding failures while streaming, as MalformedReportError."""
    try:
        yield
    except csv.Error as exc:
        raise MalformedReportError(f"the CSV is malformed: {exc}") from None
    except UnicodeDecodeError as exc:
        raise MalformedReportError(
            f"the report is not UTF-8 text: {exc.reason} at byte {exc.start}"
        ) from None
    except (zipfile.BadZipFile, EOFError, OSError) as exc:
        raise MalformedReportError(f"the zip is corrupt or truncated ({type(exc).__name__}: {exc})") from None


def _read_head(rows: Iterator[list[str]]) -> tuple[ReportMetadata, tuple[str, ...]]:
    """Consume the header block (if any) and the column row; return them."""
    with _reading():
        return _head(rows)


def _head(rows: Iterator[list[str]]) -> tuple[ReportMetadata, tuple[str, ...]]:
    fields: dict[str, str] = {}
    for row in rows:
        if not row:
            if fields:
                continue  # the blank line after the header block
            raise MalformedReportError(
                "the report starts with a blank line instead of a header or column row"
            )
        first = row[0].lstrip("\ufeff")
        match = _HEADER_LINE.match(first) if len(row) == 1 else None
        if match:
            fields[match.group(1)] = match.group(2).strip()
            continue
        columns = tuple([first, *row[1:]])
        if len(set(columns)) != len(columns) or not all(columns):
            raise MalformedReportError(f"the column row {list(columns)[:10]} has empty or repeated names")
        return _metadata(fields), columns
    if fields:  # header only: a report without a column row cannot be read
        raise MalformedReportError("the report ends after its header block (no column row)")
    return ReportMetadata(), ()


def _data_blocks(rows: Iterator[list[str]], width: int, expected: int | None) -> Iterator[list[list[str]]]:
    """The data rows a block at a time (lists of cells); checks ``Rows: N`` after the last one."""
    widths = {width}
    count = 0
    ended = False
    while not ended:
        with _reading():
            block = list(islice(rows, BLOCK_ROWS))
        if not block:
            break
        if len(block) < BLOCK_ROWS or set(map(len, block)) != widths:
            block, tail = _split_tail(block, width, count)
            with _reading():
                _check_tail(tail, rows)
            ended = bool(tail) or len(block) < BLOCK_ROWS
        if not block:
            break
        count += len(block)
        yield block
    if expected is not None and count != expected:
        raise ReportRowCountError(
            f"the report header says Rows: {expected} but the file holds {count} data rows "
            "(truncated or corrupt download); nothing from it should be used"
        )


def _typed_blocks(
    rows: Iterator[list[str]], columns: tuple[str, ...], kinds: dict[str, ColumnKind], expected: int | None
) -> Iterator[list[Row]]:
    """Lists of typed rows, one per block of the file."""
    converters = [_Column(c, kinds[c]) for c in columns]
    # Rows start as copies of a dict that already holds every key (a copy is one memcpy, and filling
    # existing keys never resizes); each column is then stored into them in one tight loop.
    template = dict.fromkeys(columns)
    for block in _data_blocks(rows, len(columns), expected):
        typed = list(map(dict.copy, repeat(template, len(block))))
        for conv, values in zip(converters, zip(*block, strict=True), strict=True):
            name = conv.name
            for row, value in zip(typed, conv.convert(values), strict=True):
                row[name] = value
        yield typed


def _text_blocks(
    rows: Iterator[list[str]], columns: tuple[str, ...], kinds: dict[str, ColumnKind], expected: int | None
) -> Iterator[list[Sequence[str | None]]]:
    """Blocks as columns of SQL literals (:meth:`ReportFile.text_blocks`)."""
    converters = [_Column(c, kinds[c]) for c in columns]
    for block in _data_blocks(rows, len(columns), expected):
        yield [
            conv.literals(values) for conv, values in zip(converters, zip(*block, strict=True), strict=True)
        ]


def _split_tail(block: list[list[str]], width: int, before: int) -> tuple[list[list[str]], list[list[str]]]:
    """Data rows up to the first blank line; everything after is the tail (footer)."""
    for i, row in enumerate(block):
        if not row:
            data, tail = block[:i], block[i:]
            break
    else:
        data, tail = block, []
    for i, row in enumerate(data):
        if len(row) != width:
            raise MalformedReportError(
                f"data row {before + i + 1} has {len(row)} fields, the column row has {width} "
                "(a truncated or corrupt file)"
            )
    return data, tail


def _check_tail(tail: list[list[str]], rest: Iterator[list[str]]) -> None:
    """After the data: only blank lines and the copyright footer may follow."""
    for row in [*tail, *rest]:
        if not row:
            continue
        if len(row) == 1 and _FOOTER.match(row[0].strip()):
            continue
        raise MalformedReportError(f"unexpected content after the data rows: {row[:3]!r}")


# -- header block -------------------------------------------------------------------------------------


def _metadata(fields: dict[str, str]) -> ReportMetadata:
    if not fields:
        return ReportMetadata()
    start, end = _report_time(fields.get("Report Time"))
    day = _gmt(fields.get("Last Completed Available Day"), "Last Completed Available Day")
    hour = _gmt(fields.get("Last Completed Available Hour"), "Last Completed Available Hour")
    rows_text = fields.get("Rows")
    if rows_text is not None and not rows_text.isdigit():
        raise MalformedReportError(f"header line 'Rows: {rows_text[:40]}' is not a count")
    incomplete = (fields.get("Potential Incomplete Data") or "").lower()
    return ReportMetadata(
        report_name=fields.get("Report Name") or None,
        report_time=fields.get("Report Time") or None,
        time_zone=fields.get("Time Zone") or None,
        start=start,
        end=end,
        last_completed_day=day.date() if day else None,
        last_completed_hour=hour.hour if hour else None,
        aggregation=fields.get("Report Aggregation") or None,
        potential_incomplete_data=incomplete == "true",
        rows=int(rows_text) if rows_text is not None else None,
    )


def _report_time(text: str | None) -> tuple[date | None, date | None]:
    """``6/1/2026,6/3/2026`` (also with a space after the comma, as the docs print it) or ``6/3/2026``."""
    if not text:
        return None, None
    parts = [p.strip() for p in text.split(",")]
    try:
        days = [datetime.strptime(p, "%m/%d/%Y").date() for p in parts if p]
    except ValueError:
        raise MalformedReportError(
            f"header line 'Report Time: {text[:60]}' is not M/D/YYYY[,M/D/YYYY]"
        ) from None
    if not days or len(days) > 2:
        raise MalformedReportError(f"header line 'Report Time: {text[:60]}' is not M/D/YYYY[,M/D/YYYY]")
    return days[0], days[-1]


def _gmt(text: str | None, name: str) -> datetime | None:
    """``6/4/2026 10:15:00 PM (GMT)`` -> naive UTC datetime ("ignore the (GMT) suffix", docs)."""
    if not text:
        return None
    value = text.replace("(GMT)", "").strip()
    for fmt in (_GMT_TIME, "%m/%d/%Y"):
        try:
            return datetime.strptime(value, fmt)
        except ValueError:
            continue
    raise MalformedReportError(f"header line '{name}: {text[:60]}' is not M/D/YYYY h:mm:ss AM/PM")


def looks_like_zip(head: bytes) -> bool:
    return head.startswith(_ZIP_MAGIC)
