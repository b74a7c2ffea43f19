"""What one ``@tracker.step`` call costs, as ratios measured in one run of this script. See bench/README.md.

Scenarios:
  call   a trivial step (two scalar parameters, a small list in, a small dataclass out) called
         inside ``tracker.run``, in one process, in interleaved rounds, against
           - the same function undecorated (a ratio with no target: it says how much a call costs);
           - ml-metadata's ``put_execution`` writing one execution with two properties, an input and
             an output artifact, their events and the link to one context, as shipped (rollback
             journal) and on a file switched to WAL (target: tracker <= 1.5x each).
         tracker gets a new list (and makes a new object) in every call, so nothing is found by
         identity; a second tracker variant passes the same list object every time (an identity
         cache hit: the input is linked, not stored again).
  large  a step returning a 200 MB NumPy array against ``cloudpickle.dump`` of the same array to a
         file: time (target <= 1.3x), both sides in turns in one subprocess per round, and the peak
         RSS one call adds (target: no second copy), each side in a fresh subprocess per round so
         that peaks do not mix.

Run it with ``nox -s bench_step`` (ml-metadata 1.17 needs Python 3.9-3.11; numpy is installed
there too), or ``python bench/step_overhead.py --quick`` where tracker, ml-metadata and numpy are
installed.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import gc
import json
import os
import pickle
import pstats
import resource
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Sequence
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import cloudpickle
from _common import (
    add_json_options,
    environment_line,
    file_create_us,
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
from tracker.errors import TrackerWarning

try:
    import numpy as np
    from ml_metadata.metadata_store import metadata_store
    from ml_metadata.proto import metadata_store_pb2 as mlmd
except ImportError as exc:  # pragma: no cover - depends on the environment
    sys.exit(
        f"bench/step_overhead.py needs ml-metadata and numpy ({exc}); run it with `nox -s bench_step`, "
        "which installs both on Python 3.11"
    )

Op = Callable[[], object]


# --- the step ---


@dataclass
class Model:
    """The step's small result."""

    weight: float
    bias: float


def train(data: list[float], lr: float, epochs: int) -> Model:
    """The trivial step: two scalar parameters, a small list in, a small dataclass out."""
    return Model(weight=lr, bias=sum(data) * epochs)


tracked_train = tracker.step(train)


def _inputs(i: int) -> tuple[list[float], float, int]:
    """Call *i*'s arguments: a new list with new contents, and scalars that vary (so every result is new)."""
    return [float(i), i + 0.5, i + 0.25], 0.001 * (i + 1), i % 50 + 1


# --- (1) call: the sides ---

PLAIN = "plain function"
TRACKED = "tracker, new list"
TRACKED_SAME = "tracker, same list"
MLMD = "ml-metadata"
MLMD_WAL = "ml-metadata WAL"
SIDES = (PLAIN, TRACKED, TRACKED_SAME, MLMD, MLMD_WAL)
#: ``PRAGMA journal_mode`` each side's file must report after a run.
JOURNAL_MODES = {TRACKED: "wal", TRACKED_SAME: "wal", MLMD: "delete", MLMD_WAL: "wal"}
#: Calls of the plain function timed together (one alone is close to the clock's own cost).
PLAIN_BATCH = 100
#: The tables whose rows per call are reported, to show what each side writes. They are counted once the
#: side has closed its file: ml-metadata links its own SQLite, and a second SQLite library opening the same
#: file in the same process breaks its locks.
COUNTED_TABLES = (
    "Execution",
    "ExecutionProperty",
    "Artifact",
    "ArtifactProperty",
    "Event",
    "EventPath",
    "Attribution",
    "Association",
)


class Side(Protocol):
    """One side of the comparison, set up on a fresh directory."""

    @property
    def calls_per_op(self) -> int:
        """Calls one op makes (the op's time is divided by it)."""
        ...

    @property
    def database(self) -> Path | None:
        """The SQLite file it writes, if any."""
        ...

    def op(self, i: int) -> Op:
        """Build call *i*'s inputs (outside the clock); the returned callable is what is timed."""
        ...

    def close(self) -> None: ...


class PlainSide:
    """The undecorated function, PLAIN_BATCH calls per op."""

    calls_per_op = PLAIN_BATCH
    database = None

    def op(self, i: int) -> Op:
        inputs = [_inputs(i * PLAIN_BATCH + k) for k in range(PLAIN_BATCH)]

        def calls() -> None:
            for data, lr, epochs in inputs:
                train(data, lr, epochs)

        return calls

    def close(self) -> None:
        pass


class TrackerSide:
    """``tracked_train`` inside one ``tracker.run``, on its own store and value directory."""

    calls_per_op = 1

    def __init__(self, directory: Path, *, same_list: bool) -> None:
        self.database = directory / "tracker.sqlite"
        self.store = tracker.connect(str(self.database))
        self.values = tracker.ValueStore(directory / "values")
        self._stack = contextlib.ExitStack()
        self._stack.callback(self.store.close)
        self._stack.enter_context(tracker.run("bench", store=self.store, values=self.values))
        self._same = [0.5, 1.5, 2.5] if same_list else None

    def op(self, i: int) -> Op:
        data, lr, epochs = _inputs(i)
        if self._same is not None:
            data = self._same
        return lambda: tracked_train(data, lr, epochs)

    def close(self) -> None:
        self._stack.close()


class MlmdSide:
    """ml-metadata's ``put_execution`` with the records of one call, optionally on a WAL file."""

    calls_per_op = 1

    def __init__(self, directory: Path, *, wal: bool) -> None:
        self.database = directory / "mlmd.sqlite"
        if wal:
            with closing(sqlite3.connect(self.database)) as connection:
                connection.execute("PRAGMA journal_mode=WAL")  # persistent: stored in the file
        config = mlmd.ConnectionConfig()
        config.sqlite.filename_uri = str(self.database)
        config.sqlite.connection_mode = mlmd.SqliteMetadataSourceConfig.READWRITE_OPENCREATE
        self.store: Any = metadata_store.MetadataStore(config)
        self.list_type = self.store.put_artifact_type(mlmd.ArtifactType(name="list"))
        self.model_type = self.store.put_artifact_type(mlmd.ArtifactType(name="Model"))
        self.train_type = self.store.put_execution_type(
            mlmd.ExecutionType(name="train", properties={"lr": mlmd.DOUBLE, "epochs": mlmd.INT})
        )
        self.run_type = self.store.put_context_type(mlmd.ContextType(name="Run"))
        (self.context_id,) = self.store.put_contexts([mlmd.Context(type_id=self.run_type, name="bench")])

    def _artifact(self, type_id: int, name: str) -> Any:
        return mlmd.Artifact(
            type_id=type_id, uri=f"file:///values/{name}", external_id=f"blake3:{name}", state=mlmd.Artifact.LIVE
        )

    def _event(self, kind: Any, key: str) -> Any:
        event = mlmd.Event(type=kind)
        event.path.steps.add().key = key
        return event

    def op(self, i: int) -> Op:
        _, lr, epochs = _inputs(i)
        execution = mlmd.Execution(type_id=self.train_type, last_known_state=mlmd.Execution.COMPLETE)
        execution.properties["lr"].double_value = lr
        execution.properties["epochs"].int_value = epochs
        pairs = [
            (self._artifact(self.list_type, f"data-{i}"), self._event(mlmd.Event.INPUT, "data")),
            (self._artifact(self.model_type, f"model-{i}"), self._event(mlmd.Event.OUTPUT, "output")),
        ]
        context = mlmd.Context(id=self.context_id, type_id=self.run_type, name="bench")
        return lambda: self.store.put_execution(
            execution, pairs, [context], reuse_artifact_if_already_exist_by_external_id=True
        )

    def close(self) -> None:
        self.store = None  # ml-metadata has no close(); dropping the last reference closes the file
        gc.collect()


def open_side(side: str, directory: Path) -> Side:
    directory.mkdir(parents=True)
    if side == PLAIN:
        return PlainSide()
    if side in (TRACKED, TRACKED_SAME):
        return TrackerSide(directory, same_list=side == TRACKED_SAME)
    return MlmdSide(directory, wal=side == MLMD_WAL)


# --- (1) call: measuring ---


@dataclass
class Timing:
    """One side's timed calls in one round, on one fresh directory."""

    seconds: list[float]  # per call
    journal_mode: str | None
    rows_per_call: dict[str, float]

    @property
    def median_us(self) -> float:
        return statistics.median(self.seconds) * 1e6

    @property
    def mean_us(self) -> float:
        return statistics.fmean(self.seconds) * 1e6


def measure_side(side: str, directory: Path, warmup: int, count: int) -> Timing:
    """Open *side* on *directory*, warm it up, time *count* ops, close it."""
    opened = open_side(side, directory)
    try:
        ops = count if opened.calls_per_op == 1 else max(1, count // opened.calls_per_op)
        first = max(1, warmup // opened.calls_per_op)
        for i in range(first):
            opened.op(i)()
        gc.collect()
        clock = time.perf_counter
        seconds = []
        for i in range(first, first + ops):
            op = opened.op(i)
            start = clock()
            op()
            seconds.append((clock() - start) / opened.calls_per_op)
    finally:
        opened.close()
    if opened.database is None:
        return Timing(seconds, None, {})
    mode, rows = journal_mode_and_rows(opened.database, COUNTED_TABLES)
    if mode != JOURNAL_MODES[side]:
        sys.exit(f"{side} ran with journal_mode={mode}, not {JOURNAL_MODES[side]}: not comparable")
    return Timing(seconds, mode, {table: n / (first + ops) for table, n in rows.items()})


def measure_calls(args: argparse.Namespace, directory: Path) -> list[dict[str, Timing]]:
    """*repeats* rounds of every side, each round in a rotated order, each side on a new directory."""
    rounds = []
    for r in range(args.repeats):
        order = rotated(SIDES, r)
        timings: dict[str, Timing] = {}
        for side in order:
            print(f"  call: round {r + 1}/{args.repeats}, {side} ...", file=sys.stderr, flush=True)
            timings[side] = measure_side(
                side, directory / f"call-{r}-{side.replace(' ', '-')}", args.warmup, args.iterations
            )
        expected = {TRACKED: 2.0, TRACKED_SAME: 1.0, MLMD: 2.0, MLMD_WAL: 2.0}  # new artifacts per call
        for side, artifacts in expected.items():
            got = timings[side].rows_per_call
            wanted = {"Execution": 1.0, "Artifact": artifacts, "Event": 2.0}
            if any(abs(got[table] - n) > 0.01 for table, n in wanted.items()):
                sys.exit(f"{side} did not write one execution, {artifacts:g} artifacts and 2 events per call: {got}")
        rounds.append(timings)
    return rounds


@dataclass(frozen=True)
class Comparison:
    """A tracker side against a baseline side, over all rounds: the median of the rounds' ratios of medians."""

    side: str
    baseline: str
    rounds: list[tuple[Timing, Timing]]
    target: float | None

    @property
    def side_us(self) -> float:
        return statistics.median(t.median_us for t, _ in self.rounds)

    @property
    def baseline_us(self) -> float:
        return statistics.median(b.median_us for _, b in self.rounds)

    @property
    def ratios(self) -> list[float]:
        return [t.median_us / b.median_us for t, b in self.rounds]

    @property
    def ratio(self) -> float:
        return statistics.median(self.ratios)

    @property
    def mean_ratio(self) -> float:
        return statistics.median(t.mean_us / b.mean_us for t, b in self.rounds)

    @property
    def met(self) -> bool | None:
        return target_met(self.ratio, self.target)


#: The tracked call may cost at most this many times ml-metadata's put_execution.
CALL_TARGET = 1.5


def compare_calls(rounds: list[dict[str, Timing]]) -> list[Comparison]:
    return [
        Comparison(side, baseline, [(r[side], r[baseline]) for r in rounds], None if baseline == PLAIN else CALL_TARGET)
        for side in (TRACKED, TRACKED_SAME)
        for baseline in (MLMD, MLMD_WAL, PLAIN)
    ]


def call_table(comparisons: Sequence[Comparison]) -> str:
    rows = [("tracked call", "against", "tracker us", "baseline us", "ratio", "rounds", "target", "met?", "mean ratio")]
    for c in comparisons:
        rows.append(
            (
                c.side,
                c.baseline,
                f"{c.side_us:.1f}",
                f"{c.baseline_us:.2f}" if c.baseline == PLAIN else f"{c.baseline_us:.1f}",
                f"{c.ratio:.0f}" if c.ratio >= 100 else f"{c.ratio:.2f}",
                f"{min(c.ratios):.0f}-{max(c.ratios):.0f}"
                if c.ratio >= 100
                else f"{min(c.ratios):.2f}-{max(c.ratios):.2f}",
                target_cell(c.target),
                met_cell(c.met),
                f"{c.mean_ratio:.0f}" if c.mean_ratio >= 100 else f"{c.mean_ratio:.2f}",
            )
        )
    return format_table(rows, text_columns=2, strip=True)


def rows_table(rounds: list[dict[str, Timing]]) -> str:
    """Rows each side writes per call (from the last round), table by table."""
    last = rounds[-1]
    sides = [s for s in SIDES if s != PLAIN]
    rows = [("table", *sides)]
    for table in COUNTED_TABLES:
        rows.append((table, *(f"{last[s].rows_per_call[table]:.1f}" for s in sides)))
    return format_table(rows, text_columns=1, strip=True)


# --- (1) call: where tracker's time goes ---


def breakdown_calls(args: argparse.Namespace, directory: Path) -> str:
    """Wall-clock time of the parts of a tracked call (no profiler): its two ``put_execution``, its two
    ``ValueStore.put``, and the rest, timed by wrappers set on the store and value store instances."""
    opened = TrackerSide(directory / "breakdown", same_list=False)
    clock = time.perf_counter
    parts: list[tuple[str, float]] = []

    def timed(fn: Callable[..., Any], names: tuple[str, str]) -> Callable[..., Any]:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            start = clock()
            try:
                return fn(*args, **kwargs)
            finally:
                done = sum(1 for name, _ in parts if name in names)
                parts.append((names[min(done, 1)], clock() - start))

        return wrapper

    execution_names = (
        "put_execution at the start (execution RUNNING, input, run link)",
        "put_execution at the end (outputs, COMPLETE)",
    )
    value_names = ("ValueStore.put of the input list", "ValueStore.put of the output Model")
    calls: list[dict[str, float]] = []
    try:
        for i in range(args.warmup):
            opened.op(i)()
        opened.store.put_execution = timed(opened.store.put_execution, execution_names)  # type: ignore[method-assign]
        opened.values.put = timed(opened.values.put, value_names)  # type: ignore[method-assign]
        for i in range(args.warmup, args.warmup + args.iterations):
            op = opened.op(i)
            parts.clear()
            start = clock()
            op()
            total = clock() - start
            call = dict(parts)
            call["the rest (arguments, descriptions, wrappers)"] = total - sum(call.values())
            call["the whole call"] = total
            calls.append(call)
    finally:
        opened.close()
    names = [*execution_names, *value_names, "the rest (arguments, descriptions, wrappers)", "the whole call"]
    rows = [("part of one tracked call (new list)", "median us", "mean us")]
    for name in names:
        values = [call[name] * 1e6 for call in calls]
        rows.append((name, f"{statistics.median(values):.1f}", f"{statistics.fmean(values):.1f}"))
    return (
        f"wall-clock parts of {TRACKED!r}, no profiler: {args.iterations} calls after {args.warmup} warm-up "
        "(medians do not add up to the whole; means do)\n\n" + format_table(rows, text_columns=1, strip=True)
    )


def profile_calls(args: argparse.Namespace, directory: Path, top: int) -> str:
    """cProfile of TRACKED's timed calls (warm-up excluded): the top *top* functions by own and cumulative time."""
    opened = open_side(TRACKED, directory / "profile")
    profiler = cProfile.Profile()
    try:
        for i in range(args.warmup):
            opened.op(i)()
        for i in range(args.warmup, args.warmup + args.iterations):
            op = opened.op(i)
            profiler.enable()
            op()
            profiler.disable()
    finally:
        opened.close()
    # {(file, line, function): (primitive calls, calls, own seconds, cumulative seconds, callers)}
    stats: dict[tuple[str, int, str], tuple[int, int, float, float, Any]] = pstats.Stats(profiler).stats  # type: ignore[attr-defined]
    per_call = 1e6 / args.iterations
    total = sum(entry[2] for entry in stats.values()) * per_call
    lines = [
        f"cProfile of {TRACKED!r}: {args.iterations} calls after {args.warmup} warm-up; mean us per call, "
        f"{total:.0f} us in all under the profiler (WAL checkpoints included; cProfile inflates Python calls)"
    ]
    for title, column in (("own", 2), ("cumulative", 3)):
        lines += ["", f"top {top} by {title} time:", f"{'own us':>8} {'own %':>6} {'cum us':>8} {'calls':>6}  function"]
        for (filename, line, name), entry in sorted(stats.items(), key=lambda kv: -kv[1][column])[:top]:
            lines.append(
                f"{entry[2] * per_call:8.1f} {100 * entry[2] * per_call / total:6.1f} {entry[3] * per_call:8.1f} "
                f"{entry[1] / args.iterations:6.1f}  {where(filename, line, name)}"
            )
    return "\n".join(lines)


# --- large: time with both sides in turns in one process; memory in a fresh process per side ---

TRACKER_LARGE = "tracker step"
PICKLE_LARGE = "cloudpickle.dump"
#: The same, made durable as tracker makes its files: the file synced, then its directory.
DURABLE_LARGE = "cloudpickle.dump+fsync"
LARGE_SIDES = (TRACKER_LARGE, PICKLE_LARGE, DURABLE_LARGE)
#: The worker that times both sides, in turns, in one process.
LARGE_TIME = "time both"
#: The tracked call may take at most this many times cloudpickle.dump's time.
LARGE_TIME_TARGET = 1.3
#: "No second copy": the tracked call's peak RSS increase stays below this fraction of the array's size.
LARGE_MEMORY_TARGET = 0.5

#: The arrays the large step returns, by index: 0 for the warm-up, 1 for the measured call.
_ARRAYS: dict[int, Any] = {}


def produce(index: int) -> Any:
    """The large step: returns an array made beforehand (its making is not timed)."""
    return _ARRAYS[index]


def _peak_rss() -> int:
    """This process's peak resident set size so far, in bytes."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024


def _rss() -> int | None:
    """This process's resident set size now, in bytes (Linux), else None."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
    except (OSError, IndexError, ValueError):
        return None
    return pages * os.sysconf("SC_PAGE_SIZE")


def _large_array(size_mb: int) -> Any:
    """A float64 array of *size_mb* MB of random values, filled in place (no temporary copy)."""
    array = np.empty(size_mb * 1_000_000 // 8, dtype=np.float64)
    np.random.default_rng(7).random(out=array)
    return array


def _slug(side: str) -> str:
    """A side's name as a directory name."""
    return "".join(c if c.isalnum() else "-" for c in side)


def _settle() -> None:
    """Collect garbage and flush dirty pages, so that neither lands inside the next timing."""
    gc.collect()
    if hasattr(os, "sync"):
        os.sync()


class LargeWriter:
    """One side of the large scenario, set up (and warmed up) on *directory* in this process."""

    def __init__(self, side: str, directory: Path, stack: contextlib.ExitStack) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.side = side
        self.directory = directory
        _ARRAYS[0] = np.zeros(16)
        if side == TRACKER_LARGE:
            self.store = tracker.connect(str(directory / "tracker.sqlite"))
            stack.callback(self.store.close)
            self.run = stack.enter_context(
                tracker.run("large", store=self.store, values=tracker.ValueStore(directory / "values"))
            )
            self.step = tracker.step(produce)
        self.write(0)  # warm-up: types, source facts, statements; the file's code paths
        self.remove_files()

    def write(self, index: int) -> None:
        if self.side == TRACKER_LARGE:
            self.step(index)
        else:
            with (self.directory / "array.pkl").open("wb") as file:
                cloudpickle.dump(_ARRAYS[index], file, protocol=pickle.HIGHEST_PROTOCOL)
                if self.side == DURABLE_LARGE:
                    file.flush()
                    os.fsync(file.fileno())
            if self.side == DURABLE_LARGE:
                directory = os.open(self.directory, os.O_RDONLY)
                try:
                    os.fsync(directory)
                finally:
                    os.close(directory)

    def stored(self, nbytes: int) -> int:
        """How many values of at least *nbytes* this side has written."""
        if self.side == TRACKER_LARGE:
            artifacts = self.store.get_artifacts_by_context(self.run.context_id)
            sizes = [a.custom_properties.get("tracker_size") for a in artifacts if a.external_id]
            return sum(1 for size in sizes if isinstance(size, int) and size >= nbytes)
        target = self.directory / "array.pkl"
        return int(target.exists() and target.stat().st_size >= nbytes)

    def remove_files(self) -> None:
        """Delete the large files written so far (200 MB each), outside the clock; the records stay."""
        for path in self.directory.rglob("*"):
            if path.is_file() and path.suffix not in (".sqlite", ".sqlite-wal", ".sqlite-shm"):
                path.unlink()


def _tracker_warnings(caught: list[warnings.WarningMessage]) -> list[str]:
    return sorted({f"{w.category.__name__}: {w.message}" for w in caught if issubclass(w.category, TrackerWarning)})


def large_time_worker(directory: Path, size_mb: int, writes: int) -> dict[str, Any]:
    """Time *writes* writes by each side, in turns, in this process: each a new array with new contents."""
    with contextlib.ExitStack() as stack:
        caught = stack.enter_context(warnings.catch_warnings(record=True))
        warnings.simplefilter("always")
        writers = {side: LargeWriter(side, directory / _slug(side), stack) for side in LARGE_SIDES}
        base = _large_array(size_mb)
        nbytes = int(base.nbytes)
        seconds: dict[str, list[float]] = {side: [] for side in LARGE_SIDES}
        stored = 0
        for k in range(writes):
            # A new object with new contents: tracker finds nothing by identity or by content. tracker's
            # identity cache keeps each one alive, so this process grows by one array per write.
            _ARRAYS[1] = base.copy()
            _ARRAYS[1][0] = -1.0 - k
            for side in LARGE_SIDES[k % len(LARGE_SIDES) :] + LARGE_SIDES[: k % len(LARGE_SIDES)]:  # rotated
                _settle()
                start = time.perf_counter()
                writers[side].write(1)
                seconds[side].append(time.perf_counter() - start)
                if side == TRACKER_LARGE:
                    stored = writers[side].stored(nbytes)
                writers[side].remove_files()
            del _ARRAYS[1]
    return {"seconds": seconds, "array_bytes": nbytes, "stored": stored, "warnings": _tracker_warnings(caught)}


def large_memory_worker(side: str, directory: Path, size_mb: int) -> dict[str, Any]:
    """The peak RSS one write of the large array by *side* adds, in this (fresh) process."""
    with contextlib.ExitStack() as stack:
        caught = stack.enter_context(warnings.catch_warnings(record=True))
        warnings.simplefilter("always")
        writer = LargeWriter(side, directory, stack)
        _ARRAYS[1] = _large_array(size_mb)
        nbytes = int(_ARRAYS[1].nbytes)
        _settle()
        rss_before, peak_before = _rss(), _peak_rss()
        writer.write(1)
        peak_after = _peak_rss()
        stored = writer.stored(nbytes)
        writer.remove_files()
        _ARRAYS.clear()
        gc.collect()
        rss_after_drop = _rss()
    return {
        "side": side,
        "array_bytes": nbytes,
        "stored": stored,
        "rss_before": rss_before,
        "peak_before": peak_before,
        "peak_after": peak_after,
        "rss_after_drop": rss_after_drop,
        "warnings": _tracker_warnings(caught),
    }


def _run_large(worker: str, directory: Path, args: argparse.Namespace) -> dict[str, Any]:
    command = [sys.executable, __file__, "--worker", worker, "--worker-dir", str(directory)]
    command += ["--size-mb", str(args.size_mb), "--large-writes", str(args.large_writes)]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode:
        sys.exit(f"the {worker} worker failed ({done.returncode}):\n{done.stderr}")
    result: dict[str, Any] = json.loads(done.stdout.splitlines()[-1])
    return result


def measure_large(args: argparse.Namespace, directory: Path) -> list[dict[str, dict[str, Any]]]:
    """*repeats* rounds: a timing worker, and a memory worker per side (alternating which goes first)."""
    rounds = []
    for r in range(args.repeats):
        results: dict[str, dict[str, Any]] = {}
        for worker in (LARGE_TIME, *(LARGE_SIDES if r % 2 == 0 else LARGE_SIDES[::-1])):
            print(f"  large: round {r + 1}/{args.repeats}, {worker} ...", file=sys.stderr, flush=True)
            where = directory / f"large-{r}-{_slug(worker)}"
            results[worker] = _run_large(worker, where, args)
            shutil.rmtree(where)
        rounds.append(results)
    return rounds


def _added(result: dict[str, Any]) -> int:
    """The peak RSS the call added: over the larger of the RSS and the peak just before it."""
    before = max(int(result["peak_before"]), int(result["rss_before"] or 0))
    return max(0, int(result["peak_after"]) - before)


def _kept(result: dict[str, Any]) -> float:
    """RSS still held after the caller dropped the array, as a fraction of the array (1.0: it is alive)."""
    if result["rss_before"] is None or result["rss_after_drop"] is None:
        return float("nan")
    nbytes = int(result["array_bytes"])
    return (int(result["rss_after_drop"]) - int(result["rss_before"]) + nbytes) / nbytes


def large_summary(rounds: list[dict[str, dict[str, Any]]], writes: int) -> dict[str, Any]:
    timed = [r[LARGE_TIME] for r in rounds]
    nbytes = timed[0]["array_bytes"]
    medians = {side: [statistics.median(t["seconds"][side]) for t in timed] for side in LARGE_SIDES}
    ratios = [t / p for t, p in zip(medians[TRACKER_LARGE], medians[PICKLE_LARGE], strict=True)]
    durable = [t / p for t, p in zip(medians[TRACKER_LARGE], medians[DURABLE_LARGE], strict=True)]
    stored = all(t["stored"] == writes for t in timed) and all(r[TRACKER_LARGE]["stored"] == 1 for r in rounds)
    added = {side: statistics.median(_added(r[side]) / nbytes for r in rounds) for side in LARGE_SIDES}
    ratio = statistics.median(ratios)
    return {
        "array_bytes": nbytes,
        "stored": stored,
        "warnings": sorted({w for r in rounds for result in r.values() for w in result["warnings"]}),
        "seconds": {side: statistics.median(medians[side]) for side in LARGE_SIDES},
        "ratio": ratio,
        "ratios_per_round": ratios,
        "ratio_durable": statistics.median(durable),
        "ratios_durable_per_round": durable,
        "time_target": LARGE_TIME_TARGET,
        "time_met": stored and ratio <= LARGE_TIME_TARGET,
        "peak_added_fraction": added,
        "memory_target": LARGE_MEMORY_TARGET,
        "memory_met": stored and added[TRACKER_LARGE] < LARGE_MEMORY_TARGET,
        "kept_fraction": {side: statistics.median(_kept(r[side]) for r in rounds) for side in LARGE_SIDES},
    }


def large_table(summary: dict[str, Any]) -> str:
    ratios = summary["ratios_per_round"]
    mb = summary["array_bytes"] / 1e6
    rows = [("side", "seconds", "ratio", "rounds", "target", "met?", "peak RSS added", "target", "met?", "kept after")]
    for side in LARGE_SIDES:
        mine = side == TRACKER_LARGE
        added = summary["peak_added_fraction"][side]
        rows.append(
            (
                side,
                f"{summary['seconds'][side]:.3f}",
                f"{summary['ratio']:.2f}" if mine else "1",
                f"{min(ratios):.2f}-{max(ratios):.2f}" if mine else "",
                target_cell(LARGE_TIME_TARGET) if mine else "",
                met_cell(summary["time_met"]) if mine else "",
                f"{added * mb:.0f} MB ({added:.2f}x)",
                f"< {LARGE_MEMORY_TARGET:.2f}x" if mine else "",
                met_cell(summary["memory_met"]) if mine else "",
                f"{summary['kept_fraction'][side] * mb:.0f} MB",
            )
        )
    text = format_table(rows, text_columns=1, strip=True)
    durable = summary["ratios_durable_per_round"]
    text += (
        f"\ntracker step / {DURABLE_LARGE}: {summary['ratio_durable']:.2f} (rounds {min(durable):.2f}-"
        f"{max(durable):.2f}): tracker syncs its file and directory before the record commits"
    )
    if not summary["stored"]:
        text += (
            "\n\nNOT STORED: the tracked call did not store the array, so its time and memory are not comparable:\n  "
            + "\n  ".join(summary["warnings"] or ["(no warning)"])
        )
    return text


# --- reporting ---


def environment(directory: Path) -> dict[str, Any]:
    return {
        **machine(),
        "tracker": version("mlmd-tracker"),
        "tracker_git": git_revision(),
        "ml-metadata": version("ml-metadata"),
        "SQLAlchemy": version("SQLAlchemy"),
        "cloudpickle": version("cloudpickle"),
        "numpy": version("numpy"),
        "sqlite (Python's sqlite3)": sqlite3.sqlite_version,
        "directory": str(directory),
        "filesystem": filesystem(directory),
        "file_create_us": file_create_us(directory),
    }


def _timing_summary(timing: Timing) -> dict[str, Any]:
    return {
        **time_summary(timing.seconds, "us"),
        "journal_mode": timing.journal_mode,
        "rows_per_call": timing.rows_per_call,
    }


# --- command line ---


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--iterations", type=int, default=2000, help="timed calls per side and round (default 2000)")
    parser.add_argument("--warmup", type=int, default=200, help="untimed calls before them (default 200)")
    parser.add_argument("--repeats", type=int, default=5, help="rounds of all sides, interleaved (default 5)")
    parser.add_argument("--size-mb", type=int, default=200, help="the large array's size in MB (default 200)")
    parser.add_argument(
        "--scenario", action="append", choices=("call", "large"), help="run only this scenario (default: both)"
    )
    parser.add_argument(
        "--quick", action="store_true", help="a smoke run: 200 calls, a 20 MB array written twice, 2 rounds"
    )
    parser.add_argument(
        "--profile",
        type=int,
        nargs="?",
        const=25,
        metavar="TOP",
        help="also print a cProfile of the tracked call (call scenario): the TOP functions (default 25)",
    )
    parser.add_argument(
        "--tmpdir",
        type=Path,
        help="where the stores and values go (default: the system's temp directory); the file system decides "
        "what a commit and a new file cost",
    )
    add_json_options(parser)
    parser.add_argument(
        "--large-writes", type=int, default=5, help="timed writes per side in each round of large (default 5)"
    )
    parser.add_argument("--worker", choices=(*LARGE_SIDES, LARGE_TIME), help=argparse.SUPPRESS)
    parser.add_argument("--worker-dir", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.quick:
        args.iterations, args.warmup, args.repeats, args.size_mb, args.large_writes = 200, 50, 2, 20, 2
    args.scenario = args.scenario or ["call", "large"]
    if min(args.iterations, args.repeats, args.size_mb, args.large_writes) < 1 or args.warmup < 0:
        parser.error("counts must be positive (the warm-up may be 0)")
    return args


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    if args.worker:
        if args.worker == LARGE_TIME:
            print(json.dumps(large_time_worker(args.worker_dir, args.size_mb, args.large_writes)))
        else:
            print(json.dumps(large_memory_worker(args.worker, args.worker_dir, args.size_mb)))
        return
    tracker.configure(on_error="raise")  # a failure to record must stop the benchmark, not be timed
    calls: list[dict[str, Timing]] = []
    large: list[dict[str, dict[str, Any]]] = []
    profile = ""
    with tempfile.TemporaryDirectory(prefix="tracker-bench-", dir=args.tmpdir) as tmp:
        directory = Path(tmp)
        env = environment(directory)
        if "call" in args.scenario:
            calls = measure_calls(args, directory)
            if args.profile:
                profile = breakdown_calls(args, directory) + "\n\n" + profile_calls(args, directory, args.profile)
        if "large" in args.scenario:
            large = measure_large(args, directory)

    print(environment_line(env, tracker_version=env["tracker"], versus=f"ml-metadata {env['ml-metadata']}"))
    report: dict[str, Any] = {
        "environment": env,
        "settings": {k: v for k, v in vars(args).items() if "worker" not in k and k not in ("json", "tmpdir")},
    }
    if calls:
        comparisons = compare_calls(calls)
        print(
            f"\ncall: a trivial step in tracker.run, us per call, the median of {args.iterations} calls after "
            f"{args.warmup} warm-up (the plain function: calls in batches of {PLAIN_BATCH}), median over "
            f"{args.repeats} rounds;\nratio: tracker / baseline, the median of the rounds' ratios of medians; "
            "rounds: their range; mean ratio: the same with means\n"
        )
        print(call_table(comparisons))
        print("\nrows written per call (last round):\n")
        print(rows_table(calls))
        if profile:
            print(f"\n{profile}")
        report["call"] = {
            "comparisons": [
                {
                    "side": c.side,
                    "against": c.baseline,
                    "tracker_us": c.side_us,
                    "baseline_us": c.baseline_us,
                    "ratio": c.ratio,
                    "ratios_per_round": c.ratios,
                    "mean_ratio": c.mean_ratio,
                    "target": c.target,
                    "met": c.met,
                }
                for c in comparisons
            ],
            "rounds": [{side: _timing_summary(t) for side, t in timings.items()} for timings in calls],
        }
    if large:
        summary = large_summary(large, args.large_writes)
        print(
            f"\nlarge: a step returning a {summary['array_bytes'] / 1e6:.0f} MB float64 array vs cloudpickle.dump to a "
            f"file, {args.repeats} rounds;\nseconds: median of one write, {args.large_writes} per side and round, the "
            "sides in turns in one process; ratio: tracker / cloudpickle.dump, the median of the rounds' ratios of "
            "medians;\npeak RSS added: one write in a fresh process per side and round, its peak RSS over the "
            "process's RSS with the array made (median; as a fraction of the array);\nkept after: RSS still held "
            "once the caller dropped the array (the array itself would be 1.00x)\n"
        )
        print(large_table(summary))
        report["large"] = {"summary": summary, "rounds": large}

    if not args.no_json:
        write_results(report, args.json, "step_overhead")


if __name__ == "__main__":
    main()
