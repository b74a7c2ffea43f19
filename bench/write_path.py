"""Write-path benchmark: tracker against ml-metadata, in one process, printed as ratios.

Both implementations write the same records into SQLite files in a temporary
directory, in turns, so that whatever the machine is doing hits both alike.
What is reported is tracker's time per operation divided by ml-metadata's,
never an absolute time to pass or fail. See bench/README.md.

Scenarios:
  a-id    a training step through ``put_execution`` (one execution, an input and an
          output artifact with two properties each, their events with one path
          step each, one context link); a new context every 10 steps, which the
          later steps pass with its id
  a-name  the same step, but every step passes the context by (type, name) and
          lets ``put_execution`` reuse the stored one
  b       artifacts with two properties each through ``put_artifacts``, in batches

ml-metadata runs twice: as it ships (rollback journal) and on a database file
switched to WAL beforehand. tracker runs with its own defaults (WAL,
synchronous=NORMAL).

Run it with ``nox -s bench`` (ml-metadata 1.17 needs Python 3.9-3.11), or
``python bench/write_path.py --quick`` where both packages are installed.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import json
import pstats
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from _common import (
    add_json_options,
    environment_line,
    filesystem,
    format_table,
    git_revision,
    journal_mode_and_rows,
    machine,
    met_cell,
    rotated,
    target_cell,
    target_met,
    time_summary,
    version,
    where,
    write_results,
)

import tracker
from tracker import (
    Artifact,
    ArtifactType,
    Context,
    ContextType,
    Event,
    EventType,
    Execution,
    ExecutionState,
    ExecutionType,
    PropertyType,
)

try:
    from ml_metadata.metadata_store import metadata_store
    from ml_metadata.proto import metadata_store_pb2 as mlmd
except ImportError as exc:  # pragma: no cover - depends on the environment
    sys.exit(
        f"bench/write_path.py needs ml-metadata ({exc}); run it with `nox -s bench`, "
        "which installs ml-metadata 1.17.1 on Python 3.11"
    )

#: A step opens a new context every this many steps; the others link to the current one.
CONTEXT_EVERY = 10
#: The tables whose row counts must match between implementations after a run.
COUNTED_TABLES = (
    "Artifact",
    "ArtifactProperty",
    "Execution",
    "Context",
    "Event",
    "EventPath",
    "Attribution",
    "Association",
)

TRACKER = "tracker"
MLMD = "ml-metadata"
MLMD_WAL = "ml-metadata WAL"
IMPLEMENTATIONS = (TRACKER, MLMD, MLMD_WAL)
#: ``PRAGMA journal_mode`` each implementation's file must report after a run.
JOURNAL_MODES = {TRACKER: "wal", MLMD: "delete", MLMD_WAL: "wal"}


# --- the two implementations, behind one interface ---

Op = Callable[[], object]


class Writer(Protocol):
    """One store, open on one file, with its types registered."""

    def step(self, i: int, *, context_by_id: bool) -> Op:
        """Build the records of training step *i*; the returned call writes them."""
        ...

    def batch(self, j: int, size: int) -> Op:
        """Build batch *j* of *size* artifacts; the returned call writes them."""
        ...

    def close(self) -> None: ...


def _context_name(i: int) -> str:
    return f"run-{i // CONTEXT_EVERY}"


class TrackerWriter:
    """tracker as a user writes it: types by name, records as dataclasses."""

    def __init__(self, path: Path) -> None:
        self.store = tracker.connect(str(path))
        self.store.put_artifact_type(ArtifactType("DataSet", {"rows": PropertyType.INT, "split": PropertyType.STRING}))
        self.store.put_artifact_type(
            ArtifactType("Model", {"version": PropertyType.INT, "framework": PropertyType.STRING})
        )
        self.store.put_execution_type(ExecutionType("Trainer"))
        self.store.put_context_type(ContextType("Run"))
        self.context_id: int | None = None

    def step(self, i: int, *, context_by_id: bool) -> Op:
        execution = Execution(type="Trainer", last_known_state=ExecutionState.COMPLETE)
        data = Artifact(type="DataSet", uri=f"data/{i}", properties={"rows": i, "split": "train"})
        model = Artifact(type="Model", uri=f"models/{i}", properties={"version": i, "framework": "jax"})
        pairs = [
            (data, Event(type=EventType.INPUT, path=["data"])),
            (model, Event(type=EventType.OUTPUT, path=["model"])),
        ]
        context = Context(type="Run", name=_context_name(i))
        if context_by_id and i % CONTEXT_EVERY:
            context.id = self.context_id
        # By name, put_execution's default reuse_existing_contexts=True finds the stored context.

        def write() -> None:
            _, _, (self.context_id,) = self.store.put_execution(execution, pairs, [context])

        return write

    def batch(self, j: int, size: int) -> Op:
        artifacts = [
            Artifact(type="DataSet", uri=f"batch/{j}/{k}", properties={"rows": k, "split": "eval"}) for k in range(size)
        ]
        return lambda: self.store.put_artifacts(artifacts)

    def close(self) -> None:
        self.store.close()


class MlmdWriter:
    """ml-metadata's MetadataStore on a SQLite file, optionally switched to WAL before it opens it."""

    def __init__(self, path: Path, *, wal: bool) -> None:
        if wal:
            connection = sqlite3.connect(path)
            connection.execute("PRAGMA journal_mode=WAL")  # persistent: stored in the file
            connection.close()
        config = mlmd.ConnectionConfig()
        config.sqlite.filename_uri = str(path)
        config.sqlite.connection_mode = mlmd.SqliteMetadataSourceConfig.READWRITE_OPENCREATE
        self.store: Any = metadata_store.MetadataStore(config)
        self.data_type = self.store.put_artifact_type(
            mlmd.ArtifactType(name="DataSet", properties={"rows": mlmd.INT, "split": mlmd.STRING})
        )
        self.model_type = self.store.put_artifact_type(
            mlmd.ArtifactType(name="Model", properties={"version": mlmd.INT, "framework": mlmd.STRING})
        )
        self.trainer_type = self.store.put_execution_type(mlmd.ExecutionType(name="Trainer"))
        self.run_type = self.store.put_context_type(mlmd.ContextType(name="Run"))
        self.context_id: int | None = None

    def _artifact(self, type_id: int, uri: str, props: dict[str, int | str]) -> Any:
        artifact = mlmd.Artifact(type_id=type_id, uri=uri)
        for name, value in props.items():
            if isinstance(value, int):
                artifact.properties[name].int_value = value
            else:
                artifact.properties[name].string_value = value
        return artifact

    def _event(self, kind: Any, key: str) -> Any:
        event = mlmd.Event(type=kind)
        event.path.steps.add().key = key
        return event

    def step(self, i: int, *, context_by_id: bool) -> Op:
        execution = mlmd.Execution(type_id=self.trainer_type, last_known_state=mlmd.Execution.COMPLETE)
        data = self._artifact(self.data_type, f"data/{i}", {"rows": i, "split": "train"})
        model = self._artifact(self.model_type, f"models/{i}", {"version": i, "framework": "jax"})
        pairs = [(data, self._event(mlmd.Event.INPUT, "data")), (model, self._event(mlmd.Event.OUTPUT, "model"))]
        context = mlmd.Context(type_id=self.run_type, name=_context_name(i))
        if context_by_id and i % CONTEXT_EVERY:
            context.id = self.context_id
        reuse = not context_by_id

        def write() -> None:
            _, _, (self.context_id,) = self.store.put_execution(
                execution, pairs, [context], reuse_context_if_already_exist=reuse
            )

        return write

    def batch(self, j: int, size: int) -> Op:
        artifacts = [
            self._artifact(self.data_type, f"batch/{j}/{k}", {"rows": k, "split": "eval"}) for k in range(size)
        ]
        return lambda: self.store.put_artifacts(artifacts)

    def close(self) -> None:
        self.store = None  # ml-metadata has no close(); dropping the last reference closes the file
        gc.collect()


def open_writer(implementation: str, path: Path) -> Writer:
    if implementation == TRACKER:
        return TrackerWriter(path)
    return MlmdWriter(path, wal=implementation == MLMD_WAL)


# --- scenarios ---


@dataclass(frozen=True)
class Scenario:
    """One kind of operation, timed *count* times after *warmup* untimed ones."""

    key: str
    title: str
    unit: str
    warmup: int
    count: int
    op: Callable[[Writer, int], Op]
    #: The ratio tracker / ml-metadata aimed for, per ml-metadata variant (missing: no target).
    targets: dict[str, float] = field(default_factory=dict)


def scenarios(args: argparse.Namespace) -> list[Scenario]:
    step_targets = {MLMD: 1.0, MLMD_WAL: 0.5}
    batches, rest = divmod(args.artifacts, args.batch_size)
    if rest or not batches:
        sys.exit(f"--artifacts ({args.artifacts}) must be a positive multiple of --batch-size ({args.batch_size})")
    size = args.batch_size
    every = {
        "a-id": Scenario(
            "a-id",
            "(a) training step, context by id",
            "step",
            args.warmup,
            args.iterations,
            lambda w, i: w.step(i, context_by_id=True),
            step_targets,
        ),
        "a-name": Scenario(
            "a-name",
            "(a) training step, context by name",
            "step",
            args.warmup,
            args.iterations,
            lambda w, i: w.step(i, context_by_id=False),
            step_targets,
        ),
        "b": Scenario(
            "b",
            f"(b) put_artifacts, {size} per call",
            f"call of {size}",
            args.warmup_batches,
            batches,
            lambda w, j: w.batch(j, size),
            {MLMD: 1.0},
        ),
    }
    return [every[key] for key in args.scenario]


# --- measuring ---


@dataclass
class Run:
    """One implementation's timed operations on one fresh file."""

    seconds: list[float]
    journal_mode: str
    rows: dict[str, int]

    @property
    def median_ms(self) -> float:
        return statistics.median(self.seconds) * 1000

    @property
    def mean_ms(self) -> float:
        return statistics.fmean(self.seconds) * 1000


def _timed(ops: Iterator[Op]) -> list[float]:
    """Seconds taken by each call; the records are built (by the iterator) outside the clock."""
    clock = time.perf_counter
    seconds = []
    for op in ops:
        start = clock()
        op()
        seconds.append(clock() - start)
    return seconds


def measure(scenario: Scenario, implementation: str, path: Path) -> Run:
    """Open a fresh store on *path*, warm it up, time the scenario's operations, close it."""
    writer = open_writer(implementation, path)
    try:
        for i in range(scenario.warmup):
            scenario.op(writer, i)()
        gc.collect()
        first = scenario.warmup
        seconds = _timed(scenario.op(writer, i) for i in range(first, first + scenario.count))
    finally:
        writer.close()
    mode, rows = journal_mode_and_rows(path, COUNTED_TABLES)
    if mode != JOURNAL_MODES[implementation]:
        sys.exit(f"{implementation} ran with journal_mode={mode}, not {JOURNAL_MODES[implementation]}: not comparable")
    return Run(seconds, mode, rows)


def measure_interleaved(scenario: Scenario, repeats: int, directory: Path) -> list[dict[str, Run]]:
    """*repeats* rounds of every implementation, each round in a rotated order, each run on a new file."""
    rounds = []
    for r in range(repeats):
        order = rotated(IMPLEMENTATIONS, r)
        runs: dict[str, Run] = {}
        for implementation in order:
            print(f"  {scenario.key}: round {r + 1}/{repeats}, {implementation} ...", file=sys.stderr, flush=True)
            path = directory / f"{scenario.key}-{implementation.replace(' ', '-')}-{r}.sqlite"
            runs[implementation] = measure(scenario, implementation, path)
            for leftover in directory.glob(path.name + "*"):
                leftover.unlink()
        counts = {implementation: run.rows for implementation, run in runs.items()}
        if len({json.dumps(c, sort_keys=True) for c in counts.values()}) != 1:
            sys.exit(f"{scenario.key}: the implementations wrote different rows: {counts}")
        rounds.append(runs)
    return rounds


@dataclass
class Comparison:
    """tracker against one ml-metadata variant in one scenario, over all rounds.

    Each round gives a ratio of tracker's median to ml-metadata's median (and
    one of the means); the reported ratio is the median of the rounds' ratios.
    """

    scenario: Scenario
    variant: str
    rounds: list[tuple[Run, Run]]  # (tracker, ml-metadata) per round

    @property
    def tracker_ms(self) -> float:
        return statistics.median(t.median_ms for t, _ in self.rounds)

    @property
    def mlmd_ms(self) -> float:
        return statistics.median(m.median_ms for _, m in self.rounds)

    @property
    def ratios(self) -> list[float]:
        return [t.median_ms / m.median_ms for t, m in self.rounds]

    @property
    def ratio(self) -> float:
        return statistics.median(self.ratios)

    @property
    def mean_ratio(self) -> float:
        return statistics.median(t.mean_ms / m.mean_ms for t, m in self.rounds)

    @property
    def target(self) -> float | None:
        return self.scenario.targets.get(self.variant)

    @property
    def met(self) -> bool | None:
        return target_met(self.ratio, self.target)


def compare(scenario: Scenario, rounds: list[dict[str, Run]]) -> list[Comparison]:
    return [Comparison(scenario, variant, [(r[TRACKER], r[variant]) for r in rounds]) for variant in (MLMD, MLMD_WAL)]


# --- profile of tracker's side ---


def profile_tracker(scenario: Scenario, directory: Path, top: int) -> str:
    """cProfile of tracker's operations in *scenario* (warm-up excluded), as two top-*top* tables."""
    writer = open_writer(TRACKER, directory / f"profile-{scenario.key}.sqlite")
    profiler = cProfile.Profile()
    try:
        for i in range(scenario.warmup):
            scenario.op(writer, i)()
        for i in range(scenario.warmup, scenario.warmup + scenario.count):
            op = scenario.op(writer, i)
            profiler.enable()
            op()
            profiler.disable()
    finally:
        writer.close()
    # {(file, line, function): (primitive calls, calls, own seconds, cumulative seconds, callers)}
    stats: dict[tuple[str, int, str], tuple[int, int, float, float, Any]] = pstats.Stats(profiler).stats  # type: ignore[attr-defined]
    per_op = 1e6 / scenario.count
    lines = [
        f"cProfile of tracker, {scenario.title}: {scenario.count} ops after {scenario.warmup} warm-up; "
        f"mean us per {scenario.unit} (WAL checkpoints included; cProfile inflates Python calls)"
    ]
    for title, column in (("cumulative", 3), ("own", 2)):
        lines += ["", f"top {top} by {title} time:", f"{'cum us':>9} {'own us':>9} {'calls':>7}  function"]
        for (filename, line, name), entry in sorted(stats.items(), key=lambda kv: -kv[1][column])[:top]:
            lines.append(
                f"{entry[3] * per_op:9.1f} {entry[2] * per_op:9.1f} {entry[1] / scenario.count:7.1f}  "
                f"{where(filename, line, name)}"
            )
    return "\n".join(lines)


# --- reporting ---


def _table(comparisons: Sequence[Comparison]) -> str:
    header = (
        "scenario",
        "ml-metadata",
        "tracker ms",
        "ml-metadata ms",
        "ratio",
        "rounds",
        "target",
        "met?",
        "mean ratio",
    )
    rows = [header]
    for c in comparisons:
        rows.append(
            (
                c.scenario.title,
                "as shipped" if c.variant == MLMD else "WAL",
                f"{c.tracker_ms:.3f}",
                f"{c.mlmd_ms:.3f}",
                f"{c.ratio:.2f}",
                f"{min(c.ratios):.2f}-{max(c.ratios):.2f}",
                target_cell(c.target),
                met_cell(c.met),
                f"{c.mean_ratio:.2f}",
            )
        )
    return format_table(rows, text_columns=2)


def environment(directory: Path) -> dict[str, Any]:
    return {
        **machine(),
        "tracker": version("mlmd-tracker"),
        "tracker_git": git_revision(),
        "ml-metadata": version("ml-metadata"),
        "SQLAlchemy": version("SQLAlchemy"),
        "protobuf": version("protobuf"),
        "sqlite (Python's sqlite3)": sqlite3.sqlite_version,
        "directory": str(directory),
        "filesystem": filesystem(directory),
    }


def _json_report(
    env: dict[str, Any],
    args: argparse.Namespace,
    results: dict[str, list[dict[str, Run]]],
    comparisons: list[Comparison],
) -> dict[str, Any]:
    def summary(run: Run) -> dict[str, Any]:
        return {**time_summary(run.seconds, "ms"), "journal_mode": run.journal_mode, "rows": run.rows}

    return {
        "environment": env,
        "settings": {k: v for k, v in vars(args).items() if k not in ("json", "no_json", "profile", "tmpdir")},
        "comparisons": [
            {
                "scenario": c.scenario.key,
                "title": c.scenario.title,
                "unit": c.scenario.unit,
                "vs": c.variant,
                "tracker_ms": c.tracker_ms,
                "mlmd_ms": c.mlmd_ms,
                "ratio": c.ratio,
                "ratios_per_round": c.ratios,
                "mean_ratio": c.mean_ratio,
                "target": c.target,
                "met": c.met,
            }
            for c in comparisons
        ],
        "rounds": {
            key: [{impl: summary(run) for impl, run in runs.items()} for runs in rounds]
            for key, rounds in results.items()
        },
    }


# --- command line ---


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--iterations", type=int, default=2000, help="timed steps per run in (a) (default 2000)")
    parser.add_argument("--warmup", type=int, default=200, help="untimed steps before them (default 200)")
    parser.add_argument("--repeats", type=int, default=5, help="rounds of all implementations, interleaved (default 5)")
    parser.add_argument("--artifacts", type=int, default=10_000, help="timed artifacts per run in (b) (default 10000)")
    parser.add_argument("--batch-size", type=int, default=100, help="artifacts per put_artifacts call (default 100)")
    parser.add_argument("--warmup-batches", type=int, default=5, help="untimed batches before them (default 5)")
    parser.add_argument(
        "--scenario",
        action="append",
        choices=("a-id", "a-name", "b"),
        help="run only this scenario (repeatable; default: all)",
    )
    parser.add_argument("--quick", action="store_true", help="a smoke run: 200 steps, 2,000 artifacts, 2 rounds")
    parser.add_argument(
        "--profile",
        type=int,
        nargs="?",
        const=15,
        metavar="TOP",
        help="also print a cProfile of tracker in each scenario: the TOP functions (default 15)",
    )
    parser.add_argument("--tmpdir", type=Path, help="where the SQLite files go (default: the system's temp directory)")
    add_json_options(parser)
    args = parser.parse_args(argv)
    if args.quick:
        args.iterations, args.warmup, args.repeats, args.artifacts, args.warmup_batches = 200, 50, 2, 2000, 2
    args.scenario = args.scenario or ["a-id", "a-name", "b"]
    if min(args.iterations, args.repeats, args.batch_size) < 1 or min(args.warmup, args.warmup_batches) < 0:
        parser.error("counts must be positive (warm-ups may be 0)")
    return args


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    chosen = scenarios(args)
    with tempfile.TemporaryDirectory(prefix="tracker-bench-", dir=args.tmpdir) as tmp:
        directory = Path(tmp)
        env = environment(directory)
        results = {scenario.key: measure_interleaved(scenario, args.repeats, directory) for scenario in chosen}
        profiles = [profile_tracker(s, directory, args.profile) for s in chosen] if args.profile else []
    comparisons = [c for s in chosen for c in compare(s, results[s.key])]

    print(environment_line(env, tracker_version=env["tracker"], versus=f"ml-metadata {env['ml-metadata']}"))
    print(
        f"ms: median time of one op, (a) one step of {args.iterations} after {args.warmup} warm-up, (b) one call of "
        f"{args.artifacts // args.batch_size} after {args.warmup_batches}; median over {args.repeats} rounds"
    )
    print(
        "ratio: tracker / ml-metadata, the median of the rounds' ratios (< 1: tracker is faster); rounds: their range"
    )
    print("mean ratio: the same with mean times, which also count slow outliers such as WAL checkpoints\n")
    print(_table(comparisons))
    for text in profiles:
        print(f"\n{text}")

    if not args.no_json:
        write_results(_json_report(env, args, results, comparisons), args.json, "write_path")


if __name__ == "__main__":
    main()
