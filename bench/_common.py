"""Helpers the benchmarks in bench/ share: the machine they ran on, plain-text tables, ratios, results files.

The scripts run as ``python bench/<name>.py``, so this directory is on ``sys.path`` and they import it as
``from _common import ...``; so do the subprocess workers they start with ``python <script> --worker ...``.
It needs the standard library only: mlflow_compare.py's workers may run in an interpreter without tracker or
ml-metadata.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import platform
import shutil
import sqlite3
import statistics
import subprocess
import tempfile
import time
from collections.abc import Sequence
from contextlib import closing
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent

#: What one second is in each unit the results are reported in.
UNIT_SCALE: dict[str, float] = {"ms": 1000, "us": 1e6}


# --- the machine ---


def version(distribution: str) -> str:
    """The installed version of *distribution*, or ``"?"``."""
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return "?"


def filesystem(path: Path) -> str:
    """The file system type *path* lives on (Linux), which decides what a commit costs."""
    try:
        mounts = [line.split()[1:3] for line in Path("/proc/mounts").read_text().splitlines()]
    except OSError:
        return "?"
    target = str(path.resolve())
    found = [(point, kind) for point, kind in mounts if target == point or target.startswith(point.rstrip("/") + "/")]
    return max(found, key=lambda m: len(m[0]))[1] if found else "?"


def git_revision() -> str:
    """``git describe --always --dirty`` of the checkout bench/ is in, or ``"?"``."""
    try:
        out = subprocess.run(
            ["git", "describe", "--always", "--dirty"], cwd=BENCH_DIR, capture_output=True, text=True, check=True
        )
    except (OSError, subprocess.CalledProcessError):
        return "?"
    return out.stdout.strip()


def file_create_us(directory: Path, count: int = 200) -> float:
    """The median time to create (O_EXCL) and close an empty file in *directory*, in microseconds.

    tracker's value store creates a file for every new value (MLflow, too, for an artifact's copy). On the
    2-core VM this was written on, the cost moved between 10 us and 800 us from one directory and minute to
    the next while other processes wrote to the same disk.
    """
    probe = Path(tempfile.mkdtemp(prefix="file-create-", dir=directory))
    seconds = []
    for i in range(count):
        start = time.perf_counter()
        os.close(os.open(probe / str(i), os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
        seconds.append(time.perf_counter() - start)
    shutil.rmtree(probe)
    return statistics.median(seconds) * 1e6


def machine() -> dict[str, Any]:
    """The first keys of every benchmark's ``environment``: Python, platform, CPUs and load average."""
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "load_average": os.getloadavg() if hasattr(os, "getloadavg") else None,
    }


def environment_line(env: dict[str, Any], *, tracker_version: str, versus: str) -> str:
    """The report's first line: tracker (*tracker_version*) against *versus*, and the machine.

    It ends with the file-creation time when *env* has ``file_create_us``.
    """
    load = f"{env['load_average'][0]:.1f}" if env["load_average"] else "?"
    line = (
        f"tracker {tracker_version} ({env['tracker_git']}) vs {versus} | "
        f"Python {env['python']} | {env['platform']} | {env['cpus']} CPUs, load {load} | "
        f"files on {env['filesystem']}"
    )
    if "file_create_us" in env:
        line += f" ({env['file_create_us']:.0f} us to create one)"
    return line


# --- measuring ---


def rotated(items: tuple[str, ...], r: int) -> tuple[str, ...]:
    """*items* in round *r*'s order: rotated by *r* places, so that each goes first in turn."""
    shift = r % len(items)
    return items[shift:] + items[:shift]


def journal_mode_and_rows(database: Path, tables: Sequence[str]) -> tuple[str, dict[str, int]]:
    """*database*'s ``PRAGMA journal_mode`` (lower case) and the row count of each of *tables*."""
    with closing(sqlite3.connect(database)) as connection:
        mode = str(connection.execute("PRAGMA journal_mode").fetchone()[0]).lower()
        rows = {t: connection.execute(f'SELECT COUNT(*) FROM "{t}"').fetchone()[0] for t in tables}
    return mode, rows


def time_summary(seconds: Sequence[float], unit: str) -> dict[str, float]:
    """Median, p90, p99, max and mean of *seconds*, in *unit* (``"ms"`` or ``"us"``), keys suffixed with it."""
    values = sorted(s * UNIT_SCALE[unit] for s in seconds)
    return {
        f"median_{unit}": statistics.median(values),
        f"p90_{unit}": values[int(0.9 * (len(values) - 1))],
        f"p99_{unit}": values[int(0.99 * (len(values) - 1))],
        f"max_{unit}": values[-1],
        f"mean_{unit}": statistics.fmean(values),
    }


def target_met(ratio: float, target: float | None) -> bool | None:
    """Whether *ratio* is at most *target*; None where there is no target."""
    return None if target is None else ratio <= target


# --- reporting ---


def where(filename: str, line: int, name: str) -> str:
    """A cProfile entry's place, short: installed files from their package, this repository's from its root."""
    if filename == "~":
        return name  # a builtin
    for marker in ("/site-packages/", "/lib/python3."):
        if marker in filename:
            filename = filename.split(marker, 1)[1]
            break
    else:
        filename = os.path.relpath(filename, BENCH_DIR.parent)
    return f"{filename}:{line}({name})"


def format_table(rows: Sequence[Sequence[str]], *, text_columns: int, strip: bool = False) -> str:
    """A plain-text table, the first row its header: the first *text_columns* left-aligned, the rest right-aligned.

    With *strip*, trailing spaces (empty right-aligned cells at the end of a row) are cut from each line.
    """
    widths = [max(len(row[k]) for row in rows) for k in range(len(rows[0]))]
    lines = []
    for row in rows:
        line = "  ".join(
            cell.ljust(w) if k < text_columns else cell.rjust(w)
            for k, (cell, w) in enumerate(zip(row, widths, strict=True))
        )
        lines.append(line.rstrip() if strip else line)
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def target_cell(target: float | None) -> str:
    """A table cell for a ratio's target: ``<= 1.50``, or ``-`` where there is none."""
    return "-" if target is None else f"<= {target:.2f}"


def met_cell(flag: bool | None) -> str:
    """A table cell for whether a target was met: ``yes``, ``NO``, or ``-`` where there is no target."""
    return "-" if flag is None else ("yes" if flag else "NO")


def add_json_options(parser: argparse.ArgumentParser) -> None:
    """``--json PATH`` and ``--no-json``, which :func:`write_results` follows."""
    parser.add_argument("--json", type=Path, help="where to write the results (default: bench/results/<time>.json)")
    parser.add_argument("--no-json", action="store_true", help="write no results file")


def write_results(report: dict[str, Any], path: Path | None, name: str) -> None:
    """Write *report* as JSON to *path* (default: bench/results/<name>-<time>.json) and print where."""
    out = path or BENCH_DIR / "results" / f"{name}-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"\nresults: {out}")
