"""What the ``tracker_store`` fixture costs a test, against a plain ``tmp_path`` fixture, in one pytest run.

The script writes a throwaway test project whose tests use nothing but one fixture each: ``tmp_path``,
``tracker_store`` or ``tracker_run``, interleaved (plain, store, run, plain, store, run, ...), so a burst
of load on the machine hits each kind alike. It runs pytest on it in a fresh subprocess per round, with a
small plugin that records the duration pytest reports for each test's setup and teardown (the fixture's
whole cost; the test bodies do nothing). Per kind it prints the median setup + teardown time, the time
``tracker_store`` adds to ``tmp_path`` (which it uses itself), and their ratio, each the median over the
rounds. The first ``tracker_store`` test of a session also makes the template store that the others
copy: that one-off cost is printed apart, and left out of the per-test figures.

Target: ``tracker_store`` under 5 ms per test (setup + teardown, ``tmp_path`` included).

Run it with ``nox -s bench_fixture``, or ``python bench/fixture_cost.py`` where tracker and pytest are
installed; ``--quick`` for a smoke run, ``--basetemp`` to put the tests' temporary directories on another
file system (what creating a directory and copying a file cost decides the figures).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from _common import (
    add_json_options,
    environment_line,
    file_create_us,
    filesystem,
    format_table,
    git_revision,
    machine,
    met_cell,
    time_summary,
    version,
    write_results,
)

KINDS = ("tmp_path", "tracker_store", "tracker_run")
TARGET_MS = 5.0

#: Records each test's setup and teardown durations, as pytest measured them, into $FIXTURE_COST_OUT.
PROBE = """
import json, os

durations = {}

def pytest_runtest_logreport(report):
    if report.when in ("setup", "teardown"):
        durations.setdefault(report.nodeid, {})[report.when] = report.duration

def pytest_sessionfinish(session):
    with open(os.environ["FIXTURE_COST_OUT"], "w") as out:
        json.dump(durations, out)
"""


def write_project(directory: Path, tests: int) -> None:
    """A test module with *tests* tests of each kind, interleaved, each using one fixture and doing nothing."""
    lines = []
    for i in range(tests):
        lines += [
            f"def test_tmp_path_{i}(tmp_path):\n    pass\n",
            f"def test_tracker_store_{i}(tracker_store):\n    pass\n",
            f"def test_tracker_run_{i}(tracker_run):\n    pass\n",
        ]
    (directory / "test_fixtures.py").write_text("\n\n".join(lines))
    (directory / "fixture_cost_probe.py").write_text(textwrap.dedent(PROBE))


def run_round(project: Path, basetemp: Path) -> dict[str, list[float]]:
    """One pytest session: the setup + teardown seconds of every test, by kind, in the order they ran."""
    out = project / "durations.json"
    env = {**os.environ, "FIXTURE_COST_OUT": str(out), "PYTHONPATH": str(project)}
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "fixture_cost_probe",
               "-p", "no:randomly", f"--basetemp={basetemp}", str(project / "test_fixtures.py")]  # fmt: skip
    done = subprocess.run(command, cwd=project, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"the benchmark's pytest run failed:\n{done.stdout}\n{done.stderr}")
    durations: dict[str, dict[str, float]] = json.loads(out.read_text())
    found: dict[str, list[float]] = {kind: [] for kind in KINDS}
    for nodeid, phases in durations.items():
        kind = next(k for k in KINDS if f"test_{k}_" in nodeid)
        found[kind].append(phases.get("setup", 0.0) + phases.get("teardown", 0.0))
    return found


def summarize(rounds: list[dict[str, list[float]]]) -> dict[str, Any]:
    """Per kind: the medians over rounds of each round's median (the template's test left out), and more."""
    summary: dict[str, Any] = {"template_ms": statistics.median(r["tracker_store"][0] * 1000 for r in rounds)}
    for kind in KINDS:
        per_round = [r[kind][1:] if kind == "tracker_store" else r[kind] for r in rounds]
        summary[kind] = {
            "median_ms": statistics.median(statistics.median(s) * 1000 for s in per_round),
            "rounds_ms": [statistics.median(s) * 1000 for s in per_round],
            **{k: v for k, v in time_summary([x for s in per_round for x in s], "ms").items() if k != "median_ms"},
        }
    base = summary["tmp_path"]["median_ms"]
    for kind in KINDS[1:]:
        ratios = [mine / plain for mine, plain in zip(summary[kind]["rounds_ms"], summary["tmp_path"]["rounds_ms"],
                                                      strict=True)]  # fmt: skip
        summary[kind]["ratio"] = statistics.median(ratios)
        summary[kind]["ratios"] = ratios
        summary[kind]["added_ms"] = summary[kind]["median_ms"] - base
    summary["tracker_store"]["target_ms"] = TARGET_MS
    summary["tracker_store"]["met"] = summary["tracker_store"]["median_ms"] < TARGET_MS
    return summary


def table(summary: dict[str, Any]) -> str:
    rows = [["fixture", "ms per test", "p90 ms", "mean ms", "vs tmp_path", "rounds", "added ms", "target", "met?"]]
    for kind in KINDS:
        s = summary[kind]
        ratio = s.get("ratio")
        rounds = f"{min(s['ratios']):.2f}-{max(s['ratios']):.2f}" if "ratios" in s else "-"
        target = f"< {s['target_ms']:.0f} ms" if "target_ms" in s else "-"
        rows.append([kind, f"{s['median_ms']:.2f}", f"{s['p90_ms']:.2f}", f"{s['mean_ms']:.2f}",
                     f"{ratio:.2f}" if ratio else "1", rounds, f"{s['added_ms']:.2f}" if ratio else "-", target,
                     met_cell(s.get("met"))])  # fmt: skip
    return format_table(rows, text_columns=1, strip=True)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tests", type=int, default=300, help="tests of each kind per round (default 300)")
    parser.add_argument("--repeats", type=int, default=3, help="rounds, each a fresh pytest process (default 3)")
    parser.add_argument("--quick", action="store_true", help="a smoke run: 50 tests of each kind, 2 rounds")
    parser.add_argument(
        "--basetemp",
        type=Path,
        help="where the tests' temporary directories go (default: under the system's temp directory)",
    )
    add_json_options(parser)
    args = parser.parse_args(argv)
    if args.quick:
        args.tests, args.repeats = 50, 2
    if args.tests < 2 or args.repeats < 1:
        parser.error("--tests must be at least 2 and --repeats at least 1")
    return args


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="tracker-fixture-cost-") as tmp:
        project = Path(tmp)
        write_project(project, args.tests)
        basetemp_root = args.basetemp or project / "basetemp"
        basetemp_root.mkdir(parents=True, exist_ok=True)
        env = {
            **machine(),
            "tracker": version("mlmd-tracker"),
            "tracker_git": git_revision(),
            "pytest": version("pytest"),
            "directory": str(basetemp_root),
            "filesystem": filesystem(basetemp_root),
            "file_create_us": file_create_us(basetemp_root),
        }
        rounds = [run_round(project, basetemp_root / f"round-{r}") for r in range(args.repeats)]
    summary = summarize(rounds)
    print(environment_line(env, tracker_version=env["tracker"], versus=f"tmp_path (pytest {env['pytest']})"))
    print(
        f"\nsetup + teardown of one test, as pytest reports them: the median of {args.tests} tests per kind, the "
        f"median over {args.repeats} rounds (a pytest process each);\nvs tmp_path: the ratio of the medians, "
        "median over the rounds (rounds: their range); added ms: what the fixture adds to tmp_path\n"
    )
    print(table(summary))
    print(f"\nonce per session (the first tracker_store test, left out above): {summary['template_ms']:.1f} ms")
    if not args.no_json:
        report = {"environment": env, "settings": {"tests": args.tests, "repeats": args.repeats}, "summary": summary}
        write_results(report, args.json, "fixture_cost")


if __name__ == "__main__":
    main()
