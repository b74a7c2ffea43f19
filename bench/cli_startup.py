"""How fast the ``tracker`` command starts: ``tracker --help``, and ``tracker runs`` on an empty store.

Each case runs the installed console script in a fresh process, in interleaved rounds with a
baseline of ``python -c pass`` (the interpreter's own start) in the same run, so the figures are
comparable on a noisy machine. Target: each command under 0.5 s (median) on the project machine;
the ratio to a bare interpreter start is printed too.

Run it with ``nox -s bench_cli`` (or ``python bench/cli_startup.py`` where tracker is installed).
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import (
    add_json_options,
    environment_line,
    filesystem,
    format_table,
    git_revision,
    machine,
    version,
    write_results,
)

TARGET_SECONDS = 0.5


def _timed(argv: list[str], env: dict[str, str] | None = None) -> float:
    started = time.perf_counter()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=15)
    add_json_options(parser)
    args = parser.parse_args()

    script = shutil.which("tracker") or str(Path(sys.executable).parent / "tracker")
    with tempfile.TemporaryDirectory() as scratch:
        empty = str(Path(scratch) / "empty.sqlite")
        subprocess.run([script, "runs", "--store", empty], check=True, capture_output=True)  # creates the schema
        cases = {
            "python -c pass (baseline)": [sys.executable, "-c", "pass"],
            "tracker --help": [script, "--help"],
            "tracker runs (empty store)": [script, "runs", "--store", empty],
        }
        for argv in cases.values():  # warm the file cache
            _timed(argv)
        times: dict[str, list[float]] = {name: [] for name in cases}
        for _ in range(args.rounds):
            for name, argv in cases.items():
                times[name].append(_timed(argv))

    base = statistics.median(times["python -c pass (baseline)"])
    rows = [["case", "median s", "min s", "x python start", "target", "met"]]
    env = {**machine(), "tracker_git": git_revision(), "filesystem": filesystem(Path(sys.executable))}
    report: dict[str, object] = {"environment": env, "rounds": args.rounds, "cases": {}}
    for name, seconds in times.items():
        median = statistics.median(seconds)
        is_target = not name.startswith("python")
        met = median < TARGET_SECONDS if is_target else None
        target = f"< {TARGET_SECONDS} s" if is_target else ""
        shown = {True: "yes", False: "NO", None: ""}[met]
        rows.append([name, f"{median:.3f}", f"{min(seconds):.3f}", f"{median / base:.1f}", target, shown])
        report["cases"][name] = {"median_s": median, "min_s": min(seconds), "ratio_to_python": median / base}  # type: ignore[index]
    print(environment_line(env, tracker_version=version("mlmd-tracker"), versus=f"click {version('click')}"))
    print(format_table(rows, text_columns=1))
    if not args.no_json:
        write_results(report, args.json, "cli_startup")


if __name__ == "__main__":
    main()
