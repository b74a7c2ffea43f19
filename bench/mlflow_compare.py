"""tracker against MLflow: one small experiment run, each side in its own subprocess, as ratios. See bench/README.md.

One run is what a training script logs at its end: 5 parameters, 3 metrics and one small artifact.

  MLflow   ``mlflow.start_run``, ``mlflow.log_params``, ``mlflow.log_metrics``, ``mlflow.log_artifact``
           of a small file made beforehand (outside the clock), with a SQLite backend store
           (``sqlite:///...``) and a local artifact directory
  tracker  ``with tracker.run(...)``, ``tracker.log_params``, ``tracker.log_metrics``, and a
           ``@tracker.step`` returning a small dataclass: tracker's way to keep one small artifact
           (it pickles the object into its value store, one file, and records an execution, an
           output artifact and its event, linked to the run), on a SQLite store and a local value
           directory

MLflow pins protobuf and many other packages, so it runs in its own environment (``nox -s
bench_mlflow``); each side runs in a fresh subprocess per round (``--tracker-python`` and
``--mlflow-python`` may name two different interpreters), the two alternating, and the ratio is
tracker's median time per run over MLflow's, per round; the reported ratio is the median of the
rounds' ratios. Target: tracker <= 0.1x MLflow.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import pickle
import pstats
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
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
    target_cell,
    target_met,
    version,
    write_results,
)

TRACKER = "tracker"
MLFLOW = "mlflow"
SIDES = (TRACKER, MLFLOW)
#: tracker's time per run may be at most this fraction of MLflow's.
TARGET = 0.1
#: MLflow must not try to send usage data from the benchmark (it would also cost time the user may not pay).
WORKER_ENV = {"MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "true", "GIT_PYTHON_REFRESH": "quiet"}


# --- what one run logs ---


@dataclass
class Model:
    """The small object a run keeps (tracker: the step's result; MLflow: its pickle, as the file logged)."""

    weight: float
    bias: float
    classes: list[str]


def make_model(seed: int) -> Model:
    """The step tracker records: it returns the run's small artifact."""
    return Model(weight=0.5 + seed * 1e-3, bias=-0.25, classes=["cat", "dog", "bird"])


def params_of(i: int) -> dict[str, Any]:
    return {"lr": 0.001 * (i + 1), "epochs": 10 + i % 5, "batch_size": 32, "optimizer": "adam", "seed": i}


def metrics_of(i: int) -> dict[str, float]:
    return {"loss": 1.0 / (i + 1), "accuracy": 0.9 - i * 1e-5, "f1": 0.85}


# --- the workers: one side, a fresh process, a fresh directory ---


#: Set by ``--worker-profile TOP`` in a worker: profile its timed runs and report the TOP functions.
_PROFILE_TOP: int | None = None
_PROFILE_TEXT: list[str] = []


def _timed_runs(one_run: Callable[[int], None], warmup: int, runs: int) -> list[float]:
    for i in range(warmup):
        one_run(i)
    profiler = cProfile.Profile() if _PROFILE_TOP else None
    clock = time.perf_counter
    seconds = []
    for i in range(warmup, warmup + runs):
        if profiler:
            profiler.enable()
        start = clock()
        one_run(i)
        seconds.append(clock() - start)
        if profiler:
            profiler.disable()
    if profiler and _PROFILE_TOP:
        _PROFILE_TEXT.append(_profile_table(profiler, runs, _PROFILE_TOP))
    return seconds


def _profile_table(profiler: cProfile.Profile, runs: int, top: int) -> str:
    # {(file, line, function): (primitive calls, calls, own seconds, cumulative seconds, callers)}
    stats: dict[tuple[str, int, str], tuple[int, int, float, float, Any]] = pstats.Stats(profiler).stats  # type: ignore[attr-defined]
    per_run = 1e6 / runs
    total = sum(entry[2] for entry in stats.values()) * per_run
    lines = [
        f"{total:.0f} us per run under the profiler; top {top} by own time:",
        f"{'own us':>8} {'cum us':>8} {'calls':>6}  function",
    ]
    for (filename, line, name), entry in sorted(stats.items(), key=lambda kv: -kv[1][2])[:top]:
        where = (
            name
            if filename == "~"
            else f"{filename.split('/site-packages/')[-1].split('/lib/python3.')[-1]}:{line}({name})"
        )
        lines.append(f"{entry[2] * per_run:8.1f} {entry[3] * per_run:8.1f} {entry[1] / runs:6.1f}  {where}")
    return "\n".join(lines)


def tracker_worker(directory: Path, warmup: int, runs: int) -> dict[str, Any]:
    import tracker

    tracker.configure(
        store=str(directory / "tracker.sqlite"), values=str(directory / "values"), on_error="raise"
    )  # a failure to record must stop the benchmark, not be timed
    export = tracker.step(make_model)

    def one_run(i: int) -> None:
        with tracker.run(f"run-{i}"):
            tracker.log_params(params_of(i))
            tracker.log_metrics(metrics_of(i))
            export(i)

    seconds = _timed_runs(one_run, warmup, runs)
    store = tracker.connect(str(directory / "tracker.sqlite"))
    try:
        contexts = store.get_contexts_by_type("Run")
        executions = store.get_executions_by_type("make_model")
        models = [a for a in store.get_artifacts_by_type("Model") if a.external_id]
    finally:
        store.close()
    complete = [c for c in contexts if c.custom_properties.get("tracker_status") == "complete"]
    logged = [c for c in complete if "optimizer" in c.custom_properties and "f1" in c.custom_properties]
    return {
        "seconds": seconds,
        "checks": {"runs": len(logged), "executions": len(executions), "stored_artifacts": len(models)},
        "versions": {name: version(name) for name in ("mlmd-tracker", "SQLAlchemy", "cloudpickle")},
    }


def mlflow_worker(directory: Path, warmup: int, runs: int) -> dict[str, Any]:
    import mlflow

    mlflow.set_tracking_uri(f"sqlite:///{directory / 'mlflow.db'}")
    experiment_id = mlflow.create_experiment("bench", artifact_location=(directory / "artifacts").as_uri())
    mlflow.set_experiment(experiment_id=experiment_id)
    artifact = directory / "model.pkl"
    artifact.write_bytes(pickle.dumps(make_model(0), protocol=pickle.HIGHEST_PROTOCOL))

    def one_run(i: int) -> None:
        with mlflow.start_run(run_name=f"run-{i}"):
            mlflow.log_params(params_of(i))
            mlflow.log_metrics(metrics_of(i))
            mlflow.log_artifact(str(artifact))

    seconds = _timed_runs(one_run, warmup, runs)
    found = mlflow.search_runs(experiment_ids=[experiment_id], max_results=50_000, output_format="list")
    finished = [
        r for r in found if r.info.status == "FINISHED" and len(r.data.params) == 5 and len(r.data.metrics) == 3
    ]
    files = list((directory / "artifacts").glob("*/artifacts/model.pkl"))
    return {
        "seconds": seconds,
        "checks": {"runs": len(finished), "executions": len(finished), "stored_artifacts": len(files)},
        "versions": {name: version(name) for name in ("mlflow", "SQLAlchemy", "alembic", "protobuf")},
    }


WORKERS = {TRACKER: tracker_worker, MLFLOW: mlflow_worker}


def run_worker(
    side: str, python: str, directory: Path, warmup: int, runs: int, profile: int | None = None
) -> dict[str, Any]:
    """Run one side in a fresh *python* process on a fresh *directory*; its JSON result."""
    directory.mkdir(parents=True)
    command = [python, __file__, "--worker", side, "--worker-dir", str(directory)]
    command += ["--warmup", str(warmup), "--runs", str(runs)]
    if profile:
        command += ["--worker-profile", str(profile)]
    done = subprocess.run(command, capture_output=True, text=True, env={**os.environ, **WORKER_ENV})
    if done.returncode:
        sys.exit(f"the {side} worker ({python}) failed ({done.returncode}):\n{done.stderr[-5000:]}")
    result: dict[str, Any] = json.loads(done.stdout.splitlines()[-1])
    expected = warmup + runs
    if any(n != expected for n in result["checks"].values()):
        sys.exit(f"the {side} worker did not record {expected} runs, executions and artifacts: {result['checks']}")
    return result


# --- the comparison ---


@dataclass
class Round:
    """Both sides' per-run seconds in one round."""

    seconds: dict[str, list[float]]

    def median_ms(self, side: str) -> float:
        return statistics.median(self.seconds[side]) * 1000

    def mean_ms(self, side: str) -> float:
        return statistics.fmean(self.seconds[side]) * 1000

    @property
    def ratio(self) -> float:
        return self.median_ms(TRACKER) / self.median_ms(MLFLOW)

    @property
    def mean_ratio(self) -> float:
        return self.mean_ms(TRACKER) / self.mean_ms(MLFLOW)


def measure(args: argparse.Namespace, directory: Path) -> tuple[list[Round], dict[str, dict[str, str]]]:
    """*repeats* rounds of both sides, alternating which goes first."""
    pythons = {TRACKER: args.tracker_python, MLFLOW: args.mlflow_python}
    rounds = []
    versions: dict[str, dict[str, str]] = {}
    for r in range(args.repeats):
        order = SIDES if r % 2 == 0 else SIDES[::-1]
        seconds = {}
        for side in order:
            print(f"  round {r + 1}/{args.repeats}, {side} ...", file=sys.stderr, flush=True)
            where = directory / f"{side}-{r}"
            result = run_worker(side, pythons[side], where, args.warmup, args.runs)
            shutil.rmtree(where)
            seconds[side] = result["seconds"]
            versions[side] = result["versions"]
        rounds.append(Round(seconds))
    return rounds, versions


def table(rounds: Sequence[Round], versions: dict[str, dict[str, str]]) -> str:
    ratios = [r.ratio for r in rounds]
    ratio = statistics.median(ratios)
    header = ("one run", "tracker ms", "MLflow ms", "ratio", "rounds", "target", "met?", "mean ratio")
    row = (
        f"5 params, 3 metrics, 1 artifact (MLflow {versions[MLFLOW]['mlflow']})",
        f"{statistics.median(r.median_ms(TRACKER) for r in rounds):.2f}",
        f"{statistics.median(r.median_ms(MLFLOW) for r in rounds):.2f}",
        f"{ratio:.3f}",
        f"{min(ratios):.3f}-{max(ratios):.3f}",
        target_cell(TARGET),
        met_cell(target_met(ratio, TARGET)),
        f"{statistics.median(r.mean_ratio for r in rounds):.3f}",
    )
    return format_table((header, row), text_columns=1)


# --- reporting ---


def environment(args: argparse.Namespace, directory: Path) -> dict[str, Any]:
    return {
        **machine(),
        "tracker_git": git_revision(),
        "tracker_python": args.tracker_python,
        "mlflow_python": args.mlflow_python,
        "directory": str(directory),
        "filesystem": filesystem(directory),
        "file_create_us": file_create_us(directory),
    }


# --- command line ---


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=200, help="timed runs per side and round (default 200)")
    parser.add_argument("--warmup", type=int, default=20, help="untimed runs before them (default 20)")
    parser.add_argument("--repeats", type=int, default=5, help="rounds of both sides, alternating (default 5)")
    parser.add_argument("--quick", action="store_true", help="a smoke run: 30 runs after 5, 2 rounds")
    parser.add_argument(
        "--tracker-python", default=sys.executable, help="the interpreter with tracker (default: this one)"
    )
    parser.add_argument(
        "--mlflow-python", default=sys.executable, help="the interpreter with MLflow (default: this one)"
    )
    parser.add_argument(
        "--tmpdir", type=Path, help="where the stores and artifacts go (default: the system's temp directory)"
    )
    add_json_options(parser)
    parser.add_argument("--worker", choices=SIDES, help=argparse.SUPPRESS)
    parser.add_argument("--worker-dir", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--worker-profile", type=int, help=argparse.SUPPRESS)
    parser.add_argument(
        "--profile",
        type=int,
        nargs="?",
        const=20,
        metavar="TOP",
        help="also run each side once more under cProfile and print its TOP functions by own time (default 20)",
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.runs, args.warmup, args.repeats = 30, 5, 2
    if min(args.runs, args.repeats) < 1 or args.warmup < 0:
        parser.error("counts must be positive (the warm-up may be 0)")
    return args


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    if args.worker:
        global _PROFILE_TOP
        _PROFILE_TOP = args.worker_profile
        result = WORKERS[args.worker](args.worker_dir, args.warmup, args.runs)
        print(json.dumps({**result, "profile": "\n".join(_PROFILE_TEXT)}))
        return
    profiles: dict[str, str] = {}
    with tempfile.TemporaryDirectory(prefix="mlflow-bench-", dir=args.tmpdir) as tmp:
        directory = Path(tmp)
        env = environment(args, directory)
        rounds, versions = measure(args, directory)
        if args.profile:
            pythons = {TRACKER: args.tracker_python, MLFLOW: args.mlflow_python}
            for side in SIDES:
                print(f"  profile, {side} ...", file=sys.stderr, flush=True)
                found = run_worker(
                    side, pythons[side], directory / f"{side}-profile", args.warmup, args.runs, args.profile
                )
                profiles[side] = found["profile"]
    print(
        environment_line(
            env, tracker_version=versions[TRACKER]["mlmd-tracker"], versus=f"MLflow {versions[MLFLOW]['mlflow']}"
        )
    )
    print(
        f"ms: median time of one run of {args.runs} after {args.warmup} warm-up, each side in a fresh process per "
        f"round; median over {args.repeats} rounds\nratio: tracker / MLflow, the median of the rounds' ratios of "
        "medians; rounds: their range; mean ratio: the same with means\n"
    )
    print(table(rounds, versions))
    for side, text in profiles.items():
        print(f"\ncProfile of {side}, {args.runs} runs after {args.warmup} warm-up, mean per run: {text}")
    if not args.no_json:
        report = {
            "environment": env,
            "versions": versions,
            "settings": {"runs": args.runs, "warmup": args.warmup, "repeats": args.repeats},
            "ratio": statistics.median(r.ratio for r in rounds),
            "ratios_per_round": [r.ratio for r in rounds],
            "mean_ratio": statistics.median(r.mean_ratio for r in rounds),
            "target": TARGET,
            "rounds": [
                {
                    side: {
                        "median_ms": r.median_ms(side),
                        "mean_ms": r.mean_ms(side),
                        "p90_ms": sorted(r.seconds[side])[int(0.9 * (len(r.seconds[side]) - 1))] * 1000,
                        "max_ms": max(r.seconds[side]) * 1000,
                    }
                    for side in SIDES
                }
                for r in rounds
            ],
        }
        write_results(report, args.json, "mlflow_compare")


if __name__ == "__main__":
    main()
