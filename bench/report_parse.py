"""Parse a big report file: ours vs the official SDK's ReportFileReader vs a bare ``csv`` loop.

    python bench/report_parse.py                   # 1,000,000 rows, 3 runs each, SDK if available
    python bench/report_parse.py --rows 200000 --runs 1
    python bench/report_parse.py --sdk-python /path/to/venv/bin/python   # a venv with `msads` or `bingads`
    python bench/report_parse.py --sdk-python ''                         # without the SDK

Also the ``reports`` section of ``bench/run.py``. Without ``--sdk-python`` a throwaway venv with
msads 13.0.30.1 is built once in the temp dir (the SDK is never a dependency of this package).

Every measured run happens in a fresh subprocess (``--worker``), so peak RSS is that parser's alone.
Times are the worker's CPU time (``time.process_time``; wall time is printed too), imports excluded (the
SDK's models take seconds to import): on a shared machine CPU time is what stays comparable between
parsers measured one after another. The SDK is measured twice: converting its strings with the same
functions (the same typed rows as ours: the fair comparison) and as it yields them (strings only).
The file is a zip in Microsoft's layout (BOM, header block with ``Rows: N``, CRLF, quoted fields, footer)
with the columns of a daily KeywordPerformance report: ids, names, counts, money, a ``%`` rate, ``--``
quality scores. All three parsers produce the same typed values per row (ints, ``Decimal``, ``date``,
None for ``--``): the csv loop is the hand-written floor (one converter per column, inline), the SDK's
rows are converted with the same functions after its reader yields them. Goals (issue 18): ours at least
4x faster than the SDK reader and at most 1.3x the csv loop; RSS flat.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
COLUMNS = (
    "TimePeriod", "AccountId", "AccountName", "CampaignId", "CampaignName", "AdGroupId", "Keyword",
    "KeywordId", "DeviceType", "Impressions", "Clicks", "Ctr", "AverageCpc", "Spend",
    "ConversionsQualified", "Revenue", "QualityScore",
)  # fmt: skip
TARGET_SDK_RATIO = 4.0
TARGET_FLOOR_RATIO = 1.3
SDK_REQUIREMENT = "msads==13.0.30.1"


def sdk_venv_python() -> Path:
    """The python of a throwaway venv with the official SDK, built once (pip, <= 10 min) in the temp dir.

    Same cache as the parity test (tests/client/reporting/test_reporting_sdk_parity.py); the SDK is never a
    dependency of the package. Raises RuntimeError when it cannot be installed.
    """
    venv = Path(tempfile.gettempdir()) / f"msads-sdk-venv-{SDK_REQUIREMENT.split('==')[1]}"
    python = venv / "bin" / "python"
    if (venv / ".ready").exists():
        return python
    try:
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True, timeout=120)
        pip = subprocess.run(
            [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", SDK_REQUIREMENT],
            capture_output=True, text=True, timeout=600, check=False,
        )  # fmt: skip
    except (OSError, subprocess.SubprocessError) as exc:
        raise RuntimeError(f"could not build the SDK venv: {exc}") from None
    if pip.returncode != 0:
        raise RuntimeError(f"pip install {SDK_REQUIREMENT} failed: {pip.stderr.strip()[-300:]}")
    (venv / ".ready").touch()
    return python


def make_report(path: Path, rows: int, seed: int = 18) -> None:
    """Write a zip with ``rows`` data rows, streamed (never the whole CSV in memory)."""
    rnd = random.Random(seed)
    start = date(2026, 6, 1)
    days = max(1, min(30, rows // 1000 or 1))
    end = start + timedelta(days=days - 1)
    with (
        zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as archive,
        archive.open("10000000018.csv", "w", force_zip64=True) as raw,
    ):
        out = _TextSink(raw)
        w = csv.writer(out, quoting=csv.QUOTE_ALL, lineterminator="\r\n")
        out.write("\ufeff")
        for line in (
            "Report Name: bench keywords",
            f"Report Time: {start.month}/{start.day}/{start.year},{end.month}/{end.day}/{end.year}",
            "Time Zone: (GMT-08:00) Pacific Time (US & Canada); Tijuana",
            "Last Completed Available Day: 7/2/2026 10:15:00 PM (GMT)",
            "Last Completed Available Hour: 7/2/2026 10:15:00 PM (GMT)",
            "Report Aggregation: Daily",
            "Report Filter: ",
            "Potential Incomplete Data: false",
            f"Rows: {rows}",
        ):
            w.writerow([line])
        out.write("\r\n")
        w.writerow(COLUMNS)
        for i in range(rows):
            day = start + timedelta(days=i % days)
            impressions = rnd.randint(0, 20000)
            clicks = rnd.randint(0, impressions // 20 + 1)
            spend = Decimal(rnd.randint(0, 500000)) / 100
            w.writerow(
                    (
                        day.isoformat(), 100000000 + i % 50, f"Account {i % 50}", 200000000 + i % 700,
                        f"Campaign {i % 700}, \"brand\"", 300000000 + i % 5000, f"keyword {i % 9000}",
                        400000000 + i, ("Computer", "Smartphone", "Tablet")[i % 3], impressions, clicks,
                        f"{(clicks * 100 / impressions) if impressions else 0:.2f}%",
                        f"{(spend / clicks) if clicks else 0:.2f}", f"{spend:.2f}", f"{rnd.randint(0, 9)}.00",
                        f"{rnd.randint(0, 99999) / 100:.2f}", "--" if i % 7 == 0 else str(rnd.randint(1, 10)),
                    )
                )  # fmt: skip
        out.write("\r\n")
        w.writerow(["\u00a92026 Microsoft Corporation. All rights reserved. "])
        out.flush()


class _TextSink:
    """A tiny text adapter over a binary zip entry with a write buffer (csv.writer needs .write)."""

    def __init__(self, raw: Any) -> None:
        self._raw = raw
        self._parts: list[str] = []
        self._size = 0

    def write(self, text: str) -> int:
        self._parts.append(text)
        self._size += len(text)
        if self._size > 1 << 20:
            self.flush()
        return len(text)

    def flush(self) -> None:
        self._raw.write("".join(self._parts).encode("utf-8"))
        self._parts, self._size = [], 0


# -- the three parsers (each run in its own process) -------------------------------------------------


def _converters() -> list[Any]:
    """The same typed values as ours, written the plain way: one converter per column."""

    def none_or(conv: Any) -> Any:
        return lambda v: None if v == "--" or v == "" else conv(v)

    pct = lambda v: Decimal(v[:-1]) if v.endswith("%") else Decimal(v)  # noqa: E731
    kinds = {
        "TimePeriod": date.fromisoformat, "AccountId": int, "AccountName": str, "CampaignId": int,
        "CampaignName": str, "AdGroupId": int, "Keyword": str, "KeywordId": int, "DeviceType": str,
        "Impressions": int, "Clicks": int, "Ctr": pct, "AverageCpc": Decimal, "Spend": Decimal,
        "ConversionsQualified": Decimal, "Revenue": Decimal, "QualityScore": int,
    }  # fmt: skip
    return [none_or(kinds[c]) for c in COLUMNS]


def run_csv_loop(path: Path) -> int:
    """The floor: zipfile + csv.reader + per-column converters, the header skipped by counting lines."""
    import io

    convs = _converters()
    names = COLUMNS
    count = 0
    with zipfile.ZipFile(path) as archive, archive.open(archive.namelist()[0]) as raw:
        text = io.TextIOWrapper(raw, encoding="utf-8-sig", newline="")
        reader = csv.reader(text)
        for _ in range(11):  # 9 header lines, blank line, column row
            next(reader)
        for row in reader:
            if not row:
                break
            record = {n: f(v) for n, f, v in zip(names, convs, row, strict=False)}
            count += 1
    del record
    return count


def _prepare(impl: str) -> Any:
    """Imports (not timed: a one-off per process, and the SDK's pydantic models take seconds)."""
    if impl in ("sdk", "sdk-raw"):
        from bingads.v13.reporting import ReportFileReader  # type: ignore[import-not-found]

        return ReportFileReader
    if impl == "ours":
        sys.path.insert(0, str(REPO))
        from airflow_provider_msads.client.reporting.parser import ReportFile

        return ReportFile
    return None


def run_ours(path: Path, report_file: Any) -> int:
    count = 0
    for _row in report_file(path, require_header=True):
        count += 1
    return count


def run_sdk(path: Path, reader_class: Any, *, convert: bool = True) -> int:
    """The official SDK's ReportFileReader on the unzipped CSV (its download step unzips namelist()[0]
    the same way); rows converted with the same functions as the csv loop, or left as its strings."""
    convs = dict(zip(COLUMNS, _converters(), strict=True))
    identity = dict.fromkeys(COLUMNS, str)
    use = convs if convert else identity
    count = 0
    with tempfile.TemporaryDirectory() as tmp:
        with zipfile.ZipFile(path) as archive:
            csv_path = archive.extract(archive.namelist()[0], tmp)
        reader = reader_class(file_path=csv_path, format="Csv")
        try:
            for record in reader.get_report().report_records:
                {c: use[c](record.value(c)) for c in COLUMNS}
                count += 1
        finally:
            reader.close()
    return count


def worker(impl: str, path: Path) -> None:
    import resource

    prepared = _prepare(impl)
    started, cpu_started = time.perf_counter(), time.process_time()
    if impl == "ours":
        count = run_ours(path, prepared)
    elif impl == "csv":
        count = run_csv_loop(path)
    else:
        count = run_sdk(path, prepared, convert=impl == "sdk")
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    rss_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(
        json.dumps(
            {"impl": impl, "rows": count, "wall": elapsed, "seconds": cpu, "peak_rss_mb": rss_kb / 1024}
        )
    )


def measure(impl: str, path: Path, python: str, runs: int) -> dict[str, Any]:
    samples = []
    for _ in range(runs):
        env = dict(os.environ, PYTHONPATH=str(REPO))
        out = subprocess.run(
            [python, str(Path(__file__).resolve()), "--worker", impl, str(path)],
            capture_output=True, text=True, env=env, timeout=1800, check=False,
        )  # fmt: skip
        if out.returncode != 0:
            return {"impl": impl, "error": (out.stderr or out.stdout).strip().splitlines()[-1:]}
        samples.append(json.loads(out.stdout.strip().splitlines()[-1]))
    return {
        "impl": impl,
        "rows": samples[0]["rows"],
        "seconds": statistics.median(s["seconds"] for s in samples),
        "wall": statistics.median(s["wall"] for s in samples),
        "peak_rss_mb": max(s["peak_rss_mb"] for s in samples),
        "samples": [s["seconds"] for s in samples],
    }


def run(rows: int, runs: int, sdk_python: str | None, keep: Path | None = None) -> dict[str, Any]:
    """Generate the file, measure the three parsers, return results with same-run ratios."""
    with tempfile.TemporaryDirectory(prefix="msads-report-bench-") as tmp:
        path = keep or Path(tmp) / f"report-{rows}.zip"
        if not path.exists():
            make_report(path, rows)
        results = {
            "ours": measure("ours", path, sys.executable, runs),
            "csv": measure("csv", path, sys.executable, runs),
        }
        if sdk_python:
            results["sdk"] = measure("sdk", path, sdk_python, runs)
            results["sdk-raw"] = measure("sdk-raw", path, sdk_python, runs)
        size = path.stat().st_size
    ours = results["ours"].get("seconds")
    out: dict[str, Any] = {"rows": rows, "runs": runs, "zip_bytes": size, "results": results}
    if ours:
        csv_s = results["csv"].get("seconds")
        out["ratio_ours_to_csv"] = ours / csv_s if csv_s else None
        sdk_s = results.get("sdk", {}).get("seconds")
        out["speedup_vs_sdk"] = sdk_s / ours if sdk_s else None
        raw_s = results.get("sdk-raw", {}).get("seconds")
        out["speedup_vs_sdk_raw"] = raw_s / ours if raw_s else None
    return out


def render(out: dict[str, Any]) -> str:
    lines = [
        f"Report parse, {out['rows']:,} rows ({out['zip_bytes'] / 1e6:.1f} MB zip), median of {out['runs']}:",
        "| parser | CPU seconds | wall seconds | rows/s (CPU) | peak RSS MB |",
        "|---|---|---|---|---|",
    ]
    for name, label in (
        ("ours", "ours (ReportFile)"),
        ("csv", "bare csv loop"),
        ("sdk", "SDK ReportFileReader + the same conversion"),
        ("sdk-raw", "SDK ReportFileReader, strings only"),
    ):
        r = out["results"].get(name)
        if r is None:
            continue
        if "error" in r:
            lines.append(f"| {label} | failed: {r['error']} | | | |")
            continue
        lines.append(
            f"| {label} | {r['seconds']:.2f} | {r['wall']:.2f} | {r['rows'] / r['seconds']:,.0f} | {r['peak_rss_mb']:.0f} |"
        )
    if out.get("ratio_ours_to_csv"):
        verdict = "met" if out["ratio_ours_to_csv"] <= TARGET_FLOOR_RATIO else "MISSED"
        lines.append(
            f"ours / csv loop: {out['ratio_ours_to_csv']:.3f} (target <= {TARGET_FLOOR_RATIO}: {verdict})"
        )
    if out.get("speedup_vs_sdk"):
        verdict = "met" if out["speedup_vs_sdk"] >= TARGET_SDK_RATIO else "MISSED"
        lines.append(
            f"SDK (same typed rows) / ours: {out['speedup_vs_sdk']:.2f}x "
            f"(target >= {TARGET_SDK_RATIO}x: {verdict})"
        )
    if out.get("speedup_vs_sdk_raw"):
        lines.append(f"SDK (its strings only, no types) / ours: {out['speedup_vs_sdk_raw']:.2f}x")
    lines.append("CPU time of the parse in a fresh process, imports excluded; peak RSS of that process.")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--sdk-python",
        help="python of a venv with msads (or bingads); '' skips the SDK; default: build or reuse a cached "
        "throwaway venv in the temp dir",
    )
    parser.add_argument("--json", type=Path, help="also write the results as JSON")
    parser.add_argument("--worker", nargs=2, metavar=("IMPL", "PATH"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        worker(args.worker[0], Path(args.worker[1]))
        return 0
    sdk_python = args.sdk_python
    if sdk_python is None:
        try:
            sdk_python = str(sdk_venv_python())
        except RuntimeError as exc:
            print(f"no SDK comparison: {exc}", file=sys.stderr)
            sdk_python = ""
    out = run(args.rows, args.runs, sdk_python or None)
    print(render(out))
    if args.json:
        args.json.write_text(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
