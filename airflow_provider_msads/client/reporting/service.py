"""Submit -> poll -> download -> typed rows, over the client's request runner and HTTP client.

Submit and Poll go through ``RequestRunner`` (token, retries with backoff, one refresh on 109/401,
TrackingId in errors). The download is a plain GET of the poll's URL with NO API header at all (the
storage host must never see a token); it streams into a temporary file, bounded in bytes and time,
retried on 5xx / reset / truncation, and an expired URL (403/404 from storage) is replaced by polling
again. The file is checked whole (zip CRC, header) before a single row is handed out.
"""

from __future__ import annotations

import contextlib
import logging
import random
import tempfile
import time
import zipfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import httpx

from airflow_provider_msads.client.reporting.columns import ColumnKind
from airflow_provider_msads.client.reporting.errors import (
    MalformedReportError,
    ReportDownloadError,
    ReportTimeoutError,
    report_failed,
)
from airflow_provider_msads.client.reporting.parser import (
    DEFAULT_MAX_UNCOMPRESSED_BYTES,
    ReportFile,
    ReportMetadata,
    kind_of,
    merge_metadata,
)
from airflow_provider_msads.client.reporting.protocol import (
    POLL,
    SUBMIT,
    ReportingCodec,
    ReportStatus,
    check_report_request_id,
    poll_body,
    redact_url,
)
from airflow_provider_msads.client.reporting.request import ReportRequest

if TYPE_CHECKING:
    from airflow_provider_msads.client.wire import RequestRunner, WireRequestBody

log = logging.getLogger(__name__)

#: Headers that must never reach the storage host (API credentials and account context).
FORBIDDEN_DOWNLOAD_HEADERS = ("Authorization", "DeveloperToken", "CustomerId", "CustomerAccountId")
_EXPIRED = frozenset({403, 404, 410})


@dataclass(frozen=True, slots=True)
class ReportingOptions:
    """How long and how hard to wait for and fetch reports.

    :param poll_intervals: waits between polls, in seconds; the last one repeats (the SDK starts at 1 s;
        the docs advise 2-15 minutes for big reports — use the deferrable operator for those).
    :param max_wait: total seconds to wait for Success before :class:`ReportTimeoutError`.
    :param download_timeout: total seconds for one download attempt (connect to last byte).
    :param download_attempts: attempts per URL on 5xx / reset / truncated / corrupt files.
    :param url_refreshes: times an expired URL (403/404 from storage) is replaced by polling again.
    :param max_download_bytes: cap on the zip's size; ``max_uncompressed_bytes`` on the CSV inside.
    :param temp_dir: where downloads are written (the system temp dir when None).
    """

    poll_intervals: tuple[float, ...] = (1.0, 2.0, 3.0, 5.0, 10.0, 15.0, 30.0)
    max_wait: float = 3600.0
    download_timeout: float = 1800.0
    download_attempts: int = 3
    url_refreshes: int = 2
    max_download_bytes: int = 8 * 1024**3
    max_uncompressed_bytes: int = DEFAULT_MAX_UNCOMPRESSED_BYTES
    temp_dir: str | None = None


class Report:
    """A report's rows (dicts keyed by column name, typed values), streamed from downloaded files.

    Iterate it (more than once if needed) inside the ``run_report`` / ``download_report`` block; the
    files are deleted when the block ends. ``metadata`` is the header block (merged over the parts of a
    split request); ``columns`` and ``kinds`` describe every row.
    """

    def __init__(
        self,
        files: Sequence[ReportFile],
        *,
        columns: tuple[str, ...],
        kinds: dict[str, ColumnKind],
        metadata: ReportMetadata,
    ) -> None:
        self._files = tuple(files)
        self.columns = columns
        self.kinds = kinds
        self.metadata = metadata

    def __iter__(self) -> Iterator[dict[str, Any]]:
        for part in self._files:
            yield from part

    @classmethod
    def from_files(cls, files: Sequence[ReportFile], request: ReportRequest | None = None) -> Report:
        """The report of downloaded ``files``: columns and kinds from ``request`` (the files' own when
        None), metadata merged over the files."""
        if request is not None:
            columns = request.columns
            kinds = {c: kind_of(c, request.aggregation) for c in columns}
        elif files:
            columns, kinds = files[0].columns, files[0].kinds
        else:
            columns, kinds = (), {}
        metadata = merge_metadata([f.metadata for f in files]) if files else ReportMetadata(rows=0)
        return cls(files, columns=columns, kinds=kinds, metadata=metadata)

    def text_blocks(self) -> Iterator[list[Sequence[str | None]]]:
        """The rows as blocks of columns of SQL literals (:meth:`ReportFile.text_blocks`), every part."""
        for part in self._files:
            yield from part.text_blocks()

    @classmethod
    def combine(cls, reports: Sequence[Report]) -> Report:
        """Several reports of the same columns (a request split by accounts) as one: parts in order,
        metadata merged (:func:`merge_metadata`: complete only as far as the least complete part)."""
        if len(reports) == 1:
            return reports[0]
        if not reports:
            return cls.from_files([])
        first = reports[0]
        for other in reports[1:]:
            if other.columns != first.columns or other.kinds != first.kinds:
                raise ValueError(
                    f"cannot combine reports of different columns: {list(first.columns)} and "
                    f"{list(other.columns)}"
                )
        return cls(
            [f for r in reports for f in r._files],
            columns=first.columns,
            kinds=first.kinds,
            metadata=merge_metadata([r.metadata for r in reports]),
        )

    @property
    def parts(self) -> int:
        return len(self._files)

    def __repr__(self) -> str:
        return f"Report(columns={len(self.columns)}, parts={len(self._files)}, rows={self.metadata.rows})"


class RedactUrlQueries(logging.Filter):
    """Drops URL queries from httpx's own request log lines ("HTTP Request: GET <url> ...").

    A report download URL carries its SAS signature in the query; httpx logs every request URL at INFO,
    which Airflow task logs keep. Installed once on the ``httpx`` logger when reporting is first used.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and any(isinstance(a, httpx.URL) and a.query for a in record.args):
            record.args = tuple(
                redact_url(str(a)) if isinstance(a, httpx.URL) and a.query else a for a in record.args
            )
        return True


def install_log_redaction() -> None:
    logger = logging.getLogger("httpx")
    if not any(isinstance(f, RedactUrlQueries) for f in logger.filters):
        logger.addFilter(RedactUrlQueries())


class ReportingService:
    """The reporting operations of one ``MicrosoftAdsClient`` (shares its runner and HTTP client)."""

    def __init__(
        self,
        *,
        runner: RequestRunner,
        codec: ReportingCodec,
        http: httpx.Client,
        options: ReportingOptions,
        sleep: Callable[[float], None],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._runner = runner
        self._codec = codec
        self._http = http
        self.options = options
        self._sleep = sleep
        self._clock = clock
        install_log_redaction()

    # -- the three steps --------------------------------------------------------------------------

    def submit(self, request: ReportRequest) -> str:
        body = request.to_rest_body()  # refuses > 1,000 accounts: split() first
        return self._runner.call(SUBMIT, _wire(body), self._codec.report_request_id)

    def poll(self, report_request_id: str) -> ReportStatus:
        return self._runner.call(POLL, _wire(poll_body(report_request_id)), self._codec.report_status)

    def wait(self, report_request_id: str) -> ReportStatus:
        """Poll until Success (returned) or Error (raised), at most ``options.max_wait`` seconds."""
        check_report_request_id(report_request_id)
        started = self._clock()
        intervals = self.options.poll_intervals or (5.0,)
        attempt = 0
        slept = 0.0
        while True:
            status = self.poll(report_request_id)
            if status.status == "Success":
                return status
            if status.status == "Error":
                raise report_failed(report_request_id, tracking_id=None)
            pause = intervals[min(attempt, len(intervals) - 1)]
            attempt += 1
            # Both the clock and the sum of waits count (an injected sleep does not move the clock).
            if max(self._clock() - started, slept) + pause > self.options.max_wait:
                raise ReportTimeoutError(
                    f"report {report_request_id} still Pending after {self.options.max_wait:.0f} s "
                    "(the request id stays valid for about a day: poll it again later, or use the deferrable "
                    "operator so the wait happens on the triggerer)",
                    report_request_id=report_request_id,
                )
            self._sleep(pause)
            slept += pause

    @contextlib.contextmanager
    def download(
        self, report_request_id: str, status: ReportStatus, request: ReportRequest | None = None
    ) -> Iterator[Report]:
        check_report_request_id(report_request_id)
        if status.status != "Success":
            raise ValueError(f"download needs a Success status, got {status.status!r}")
        with self._tempdir() as tmp:
            part = self._fetch(report_request_id, status, request, tmp, 0)
            yield Report.from_files([part] if part is not None else [], request)

    @contextlib.contextmanager
    def run(self, request: ReportRequest) -> Iterator[Report]:
        """Submit every part first (Microsoft builds them in parallel), then wait for and fetch each."""
        parts = request.split()
        ids = [self.submit(part) for part in parts]
        with self._tempdir() as tmp:
            files: list[ReportFile] = []
            for index, (part, report_request_id) in enumerate(zip(parts, ids, strict=False)):
                status = self.wait(report_request_id)
                fetched = self._fetch(report_request_id, status, part, tmp, index)
                if fetched is not None:
                    files.append(fetched)
            yield Report.from_files(files, request)

    # -- internals --------------------------------------------------------------------------------

    @contextlib.contextmanager
    def _tempdir(self) -> Iterator[Path]:
        with tempfile.TemporaryDirectory(prefix="msads-report-", dir=self.options.temp_dir) as tmp:
            yield Path(tmp)

    def _fetch(
        self,
        report_request_id: str,
        status: ReportStatus,
        request: ReportRequest | None,
        tmp: Path,
        index: int,
    ) -> ReportFile | None:
        """Download + check one file; None when the status carries no URL (no data: no file)."""
        refreshes = 0
        while True:
            if status.download_url is None:
                log.info(
                    "report %s: Success without a download URL (no data for these parameters)",
                    report_request_id,
                )
                return None
            target = tmp / f"part-{index}.zip"
            if not self._download(status.download_url, target):  # False: the URL has expired
                if refreshes >= self.options.url_refreshes:
                    raise ReportDownloadError(
                        f"the download URL of report {report_request_id} was refused as expired "
                        f"{refreshes + 1} times; submit the report again",
                        operation="DownloadReport",
                        retryable=False,
                    )
                refreshes += 1
                log.info("report %s: download URL expired, polling for a fresh one", report_request_id)
                status = self.poll(report_request_id)
                if status.status != "Success":
                    raise report_failed(report_request_id, tracking_id=None)
                continue
            return self._open(target, request)

    def _open(self, path: Path, request: ReportRequest | None) -> ReportFile:
        return ReportFile(
            path,
            aggregation=request.aggregation if request is not None else None,
            expected_columns=request.columns if request is not None else None,
            require_header=request is not None,
            max_uncompressed_bytes=self.options.max_uncompressed_bytes,
        )

    def _download(self, url: str, target: Path) -> bool:
        """GET the URL into ``target``, retried; False when storage refuses it as expired (403/404/410)."""
        attempts = max(1, self.options.download_attempts)
        for attempt in range(1, attempts + 1):
            try:
                if not self._download_once(url, target):
                    return False
                _check_zip(target)
                return True
            except (ReportDownloadError, MalformedReportError) as exc:
                if attempt >= attempts or not getattr(exc, "retryable", True):
                    raise
                wait = random.uniform(0, min(30.0, 2.0 ** (attempt - 1)))
                log.warning(
                    "report download from %s failed (attempt %d of %d), retrying in %.1f s: %s",
                    redact_url(url), attempt, attempts, wait, exc,
                )  # fmt: skip
                self._sleep(wait)
        return False  # not reached: the last attempt returns or raises

    def _download_once(self, url: str, target: Path) -> bool:
        options = self.options
        request = self._http.build_request(
            "GET", url, timeout=httpx.Timeout(min(60.0, options.download_timeout))
        )
        for name in FORBIDDEN_DOWNLOAD_HEADERS:  # even if a caller's httpx.Client carries defaults
            request.headers.pop(name, None)
        deadline = self._clock() + options.download_timeout
        where = redact_url(url)
        try:
            response = self._http.send(request, stream=True, follow_redirects=False)
        except httpx.TimeoutException as exc:
            raise ReportDownloadError(f"download from {where} timed out ({type(exc).__name__})") from None
        except httpx.TransportError as exc:
            raise ReportDownloadError(f"download from {where} failed: {type(exc).__name__}") from None
        try:
            if response.status_code in _EXPIRED:
                return False
            if response.status_code >= 500 or response.status_code == 429:
                raise ReportDownloadError(f"storage answered HTTP {response.status_code} for {where}")
            if response.status_code != 200:
                raise _final(f"storage answered HTTP {response.status_code} for {where}; expected the file")
            declared = response.headers.get("Content-Length")
            if declared is not None and declared.isdigit() and int(declared) > options.max_download_bytes:
                raise _final(
                    f"the report is {declared} bytes, over the {options.max_download_bytes}-byte limit"
                )
            size = 0
            with target.open("wb") as out:
                for chunk in response.iter_bytes():
                    size += len(chunk)
                    if size > options.max_download_bytes:
                        raise _final(
                            f"the report exceeds the {options.max_download_bytes}-byte download limit"
                        )
                    if self._clock() > deadline:
                        raise ReportDownloadError(
                            f"download from {where} took longer than {options.download_timeout:.0f} s"
                        )
                    out.write(chunk)
            return True
        except httpx.TimeoutException as exc:
            raise ReportDownloadError(f"download from {where} timed out ({type(exc).__name__})") from None
        except httpx.TransportError as exc:  # reset, truncated body (RemoteProtocolError)
            raise ReportDownloadError(f"download from {where} broke off: {type(exc).__name__}") from None
        finally:
            response.close()


def _final(message: str) -> ReportDownloadError:
    """A download failure that retrying the same URL cannot fix (size limit, unexpected status)."""
    return ReportDownloadError(message, operation="DownloadReport", retryable=False)


def _check_zip(path: Path) -> None:
    """Whole-file integrity before any row is used: zip CRCs (a bare CSV passes unchecked)."""
    with path.open("rb") as fh:
        if fh.read(4) != b"PK\x03\x04":
            return
    try:
        with zipfile.ZipFile(path) as archive:
            bad = archive.testzip()
    except (zipfile.BadZipFile, EOFError, OSError) as exc:
        raise MalformedReportError(f"the downloaded zip is corrupt or truncated ({exc})") from None
    if bad is not None:
        raise MalformedReportError(f"the downloaded zip is corrupt (CRC error in {bad!r})")


def _wire(body: dict[str, Any]) -> WireRequestBody:
    """The runner passes request bodies to the codec untouched; Reporting bodies are plain JSON dicts
    (``ReportingCodec.encode`` serialises them), not one of the Customer Management request types."""
    return cast("WireRequestBody", body)
