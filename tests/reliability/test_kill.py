"""Kill tests: a worker killed with SIGKILL anywhere in a step's lifecycle leaves a sound, complete store.

Per backend: the worker kills itself at each of five points of a step's life, at its 2nd and 5th
passage (before, during and after a value is written; inside a write transaction before its COMMIT;
after the COMMIT), and seven more times the test kills it after a random delay: 17 kills per
backend, 51 over the three. After each: MLMD's tables refer only to rows that exist (and SQLite's
integrity check passes), every step the worker saw committed is there and complete, every recorded
value loads and verifies, and recovery marks the killed step and run as CANCELED. Then the store
takes new steps as usual.

Many processes under kills: 16 workers record at once while one is killed every ~0.7 s, on SQLite
and PostgreSQL; afterwards the committed steps are exactly those the workers saw committed (a killed
worker may have committed one more it did not see).
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from databases import fresh_database
from integrity import broken_references, values_missing

import tracker
from tracker import EventType, ExecutionState

WORKER = Path(__file__).with_name("kill_worker.py")
POINTS = ["before_value_write", "during_value_write", "after_value_write", "inside_transaction", "after_transaction"]
KILLS = [(point, nth) for point in POINTS for nth in (2, 5)] + [("random", seed) for seed in range(7)]


def start_worker(url: str, tmp_path: Path, worker: int, steps: int, **env: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, str(WORKER), url, str(tmp_path / "values"), str(tmp_path / f"log-{worker}"), str(worker),
         str(steps)],
        cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env={**os.environ, **env},
    )  # fmt: skip


def logged(tmp_path: Path) -> Counter[tuple[int, int]]:
    """(worker, step) pairs the workers saw committed, from their logs."""
    seen: Counter[tuple[int, int]] = Counter()
    for log in tmp_path.glob("log-*"):
        for line in log.read_text().splitlines():
            worker, i = line.split()
            seen[int(worker), int(i)] += 1
    return seen


def steps_of(store: tracker.Store) -> list[tracker.Execution]:
    """The executions of the worker's step (none if a worker died before its first step registered it)."""
    try:
        return store.get_executions_by_type("work")
    except tracker.NotFoundError:
        return []


def committed(store: tracker.Store) -> Counter[tuple[int, int]]:
    """(worker, step) of every COMPLETE execution of the worker's step."""
    return Counter(
        (int(e.properties["worker"]), int(e.properties["i"]))  # type: ignore[arg-type]
        for e in steps_of(store)
        if e.last_known_state is ExecutionState.COMPLETE
    )


def assert_sound(url: str, tmp_path: Path) -> None:
    """The checks every kill must pass."""
    assert set(broken_references(url).values()) == {0}, broken_references(url)
    with tracker.connect(url) as store:
        saw, made = logged(tmp_path), committed(store)
        assert not saw - made, f"steps the worker saw committed are missing: {sorted(saw - made)}"
        assert set(made.values()) <= {1}, "a step was recorded twice"
        for execution in steps_of(store):
            if execution.last_known_state is not ExecutionState.COMPLETE:
                continue
            events = store.get_events_by_execution_ids([execution.id])  # type: ignore[list-item]
            assert sorted((e.type.name, tuple(e.path)) for e in events) == [
                ("INPUT", ("data",)), ("OUTPUT", ("blob",)), ("OUTPUT", ("summary",))]  # fmt: skip
        assert values_missing(store, tmp_path / "values") == []
        recovered = tracker.recover(store)
        running = [e for e in store.get_executions() if e.last_known_state is ExecutionState.RUNNING]
        assert running == [], f"still RUNNING after recovery: {running}"
        runs = store.get_contexts_by_type("Run")
        assert {c.custom_properties["tracker_status"] for c in runs} <= {"canceled", "complete"}
        assert len(recovered.runs) == sum(c.custom_properties["tracker_status"] == "canceled" for c in runs)
        for execution_id, reason in recovered.executions:
            assert reason.startswith("abandoned: its process"), (execution_id, reason)


@pytest.mark.slow
@pytest.mark.parametrize(("point", "nth"), KILLS, ids=[f"{p}-{n}" for p, n in KILLS])
def test_a_killed_worker_leaves_a_sound_store(store_url: str, tmp_path: Path, point: str, nth: int) -> None:
    if point == "random":
        process = start_worker(store_url, tmp_path, 0, 0)
        deadline = time.time() + 60
        while not (tmp_path / "log-0").exists() and time.time() < deadline and process.poll() is None:
            time.sleep(0.02)  # killed once it runs steps: the interpreter's start is not the point
        time.sleep(random.Random(nth).uniform(0.0, 0.6))
        process.kill()
    else:
        process = start_worker(store_url, tmp_path, 0, 40, KILL_AT=f"{point}:{nth}")
    _, err = process.communicate(timeout=120)
    assert process.returncode == -signal.SIGKILL, err.decode()
    assert_sound(store_url, tmp_path)
    again = start_worker(store_url, tmp_path, 1, 3)  # the store works on, with no help
    _, err = again.communicate(timeout=120)
    assert again.returncode == 0, err.decode()
    with tracker.connect(store_url) as store:
        assert sorted(w for w, _ in committed(store).elements() if w == 1) == [1, 1, 1]
        outputs = [e for e in store.get_events_by_execution_ids([
            e.id for e in store.get_executions_by_type("work") if e.properties["worker"] == 1])  # type: ignore[misc]
            if e.type is EventType.OUTPUT]  # fmt: skip
        assert len(outputs) == 6


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_many_workers_while_one_is_killed_every_moment(tmp_path: Path, backend: str) -> None:
    with fresh_database(backend, tmp_path) as store_url:
        _many_workers(store_url, tmp_path)


def _many_workers(store_url: str, tmp_path: Path) -> None:
    stop = tmp_path / "stop"
    workers = {w: start_worker(store_url, tmp_path, w, 0, STOP_FILE=str(stop)) for w in range(16)}
    deadline = time.time() + 60
    while len(list(tmp_path.glob("log-*"))) < 16 and time.time() < deadline:
        time.sleep(0.05)  # every worker is recording
    chooser = random.Random(16)
    killed: list[int] = []
    for _ in range(6):
        time.sleep(0.7)
        victim = chooser.choice(sorted(set(workers) - set(killed)))
        workers[victim].kill()
        killed.append(victim)
    stop.touch()
    for w, process in workers.items():
        _, err = process.communicate(timeout=180)
        assert process.returncode == (-signal.SIGKILL if w in killed else 0), err.decode()
    saw = logged(tmp_path)
    with tracker.connect(store_url) as store:
        made = committed(store)
    for w in workers:
        mine_saw = {i for (worker, i) in saw if worker == w}
        mine_made = {i for (worker, i) in made if worker == w}
        if w in killed:  # it may have committed one step it did not live to log
            assert mine_saw <= mine_made <= mine_saw | {len(mine_saw)}, w
        else:
            assert mine_made == mine_saw, w
    assert sum(saw.values()) >= 16, "the workers barely recorded anything"
    assert_sound(store_url, tmp_path)
