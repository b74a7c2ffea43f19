"""Runs: contexts, nesting, pipelines, and carrying the current run into threads, tasks and processes."""

from __future__ import annotations

import asyncio
import contextvars
import multiprocessing
import threading
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from pathlib import Path

import pytest
from conftest import executions
from steps import in_child, scale

import tracker
from tracker.errors import InvalidArgumentError, NoActiveRunError, PropertyError


def _context_ids(store: tracker.Store, execution: tracker.Execution) -> list[int]:
    return [c.id for c in store.get_contexts_by_execution(execution.id)]  # type: ignore[arg-type, misc]


def test_a_run_is_a_context_with_status_and_properties(tracked: tracker.Store) -> None:
    """A run records its name, properties and status; a taken name gets a suffix."""
    with tracker.run("baseline", properties={"owner": "ana", "seed": 2**40}) as first:
        assert tracker.current_run() is first
    with tracker.run("baseline") as second:
        pass
    assert tracker.current_run() is None
    stored = {c.name: c for c in tracked.get_contexts_by_type("Run")}
    assert set(stored) == {"baseline", "baseline #2"} and second.name == "baseline #2"
    props = stored["baseline"].custom_properties
    assert props["tracker_status"] == "complete" and props["owner"] == "ana"
    assert props["seed"] in (2**40, str(2**40))  # too wide for a 32-bit int column: kept as text there


def test_a_failing_block_fails_the_run(tracked: tracker.Store) -> None:
    """An exception leaving the block marks the run failed and propagates."""
    with pytest.raises(ZeroDivisionError), tracker.run("doomed") as run:
        _ = 1 / 0
    assert tracked.get_contexts_by_id([run.context_id])[0].custom_properties["tracker_status"] == "failed"


def test_nested_runs_and_pipelines(tracked: tracker.Store) -> None:
    """An inner run is a child of the outer one and of its pipeline; steps link to the innermost run."""
    with tracker.run("outer", pipeline="housing") as outer:
        scale([1.0])
        with tracker.run("inner", pipeline="housing") as inner:
            scale([2.0])
        with tracker.run("again", pipeline="housing"):
            pass
    first, second = executions(tracked, "scale")
    assert _context_ids(tracked, first) == [outer.context_id]
    assert _context_ids(tracked, second) == [inner.context_id]
    parents = {c.name for c in tracked.get_parent_contexts_by_context(inner.context_id)}
    assert parents == {"outer", "housing"}
    (pipeline,) = tracked.get_contexts_by_type("Pipeline")
    assert {c.name for c in tracked.get_children_contexts_by_context(pipeline.id)} == {"outer", "inner", "again"}


def test_a_run_in_another_store_has_no_parent_there(tracked: tracker.Store, tmp_path: Path) -> None:
    """Nested in a run of another store, a run is a top-level run of its own store."""
    with tracker.connect(str(tmp_path / "other.sqlite")) as other, tracker.run("outer"):
        with tracker.run("elsewhere", store=other) as inner:
            pass
        assert other.get_parent_contexts_by_context(inner.context_id) == []
        assert [c.name for c in other.get_contexts()] == ["elsewhere"]


def test_a_step_outside_any_run_goes_to_a_run_for_the_process(tracked: tracker.Store) -> None:
    """Steps called outside a run are recorded in one run made for this process."""
    scale([1.0])
    scale([2.0])
    (process_run,) = tracked.get_contexts_by_type("Run")
    assert process_run.name.startswith("process ")  # type: ignore[union-attr]
    assert {c for e in executions(tracked, "scale") for c in _context_ids(tracked, e)} == {process_run.id}


def test_threads_start_outside_the_run_unless_the_context_is_carried(tracked: tracker.Store) -> None:
    """A new thread is outside the run; copy_context() carries it into a pool."""
    with tracker.run("threads") as run, ThreadPoolExecutor(2) as pool:
        pool.submit(scale, [1.0]).result()
        context = contextvars.copy_context()
        pool.submit(context.run, scale, [2.0]).result()
    outside, inside = executions(tracked, "scale")
    assert _context_ids(tracked, inside) == [run.context_id]
    assert _context_ids(tracked, outside) != [run.context_id]


def test_asyncio_tasks_inherit_the_run(tracked: tracker.Store) -> None:
    """Tasks created inside a run record into it, each task isolated from the others' runs."""

    @tracker.step
    async def double(rows: list[int]) -> list[int]:
        await asyncio.sleep(0.01)
        return rows * 2

    async def main() -> tuple[int, int]:
        async def in_own_run(name: str) -> int:
            with tracker.run(name) as run:
                await asyncio.gather(double([1]), double([2]))
                return run.context_id

        a, b = await asyncio.gather(in_own_run("a"), in_own_run("b"))
        return a, b

    a, b = asyncio.run(main())
    assert sorted(c for e in tracked.get_executions() for c in _context_ids(tracked, e)) == [a, a, b, b]


def _attached_child(handle: tracker.RunHandle) -> float:
    with tracker.attach(handle):
        return in_child([1.0, 2.0])


def test_a_child_process_attaches_to_the_run(tracked: tracker.Store) -> None:
    """A picklable handle lets a pool worker record into the parent's run; module-level steps pickle."""
    with tracker.run("pool") as run:
        handle = run.handle()
        assert "password" not in repr(handle) and handle.store_url not in repr(handle)
        with ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("fork")) as pool:
            assert list(pool.map(_attached_child, [handle, handle])) == [3.0, 3.0]
            assert pool.submit(scale, [1.0]).result() == [2.0]  # a step pickled by reference
    children = executions(tracked, "in_child")
    assert len(children) == 2 and all(_context_ids(tracked, e) == [run.context_id] for e in children)


def test_log_params_and_metrics(tracked: tracker.Store) -> None:
    """Inside a step they join its execution (params) and a Metrics output; inside a run, the run."""

    @tracker.step
    def fit(rows: list[float]) -> float:
        tracker.log_params(optimizer="adam", seed=7)
        tracker.log_metrics({"loss": 0.25}, steps=10)
        return sum(rows)

    with tracker.run("logged") as run:
        fit([1.0])
        tracker.log_params(dataset_version="v3")
        tracker.log_metrics(best_loss=0.25)
    (execution,) = executions(tracked, "test_log_params_and_metrics.<locals>.fit")
    assert execution.custom_properties["optimizer"] == "adam" and execution.custom_properties["seed"] == 7
    outputs = tracked.get_events_by_execution_ids([execution.id])  # type: ignore[list-item]
    (metrics,) = [a for a in tracked.get_artifacts_by_id([e.artifact_id for e in outputs]) if a.type == "Metrics"]
    assert metrics.custom_properties["loss"] == 0.25 and metrics.custom_properties["steps"] == 10
    run_props = tracked.get_contexts_by_id([run.context_id])[0].custom_properties
    assert run_props["dataset_version"] == "v3" and run_props["best_loss"] == 0.25


def test_logging_needs_a_run_and_good_values(tracked: tracker.Store) -> None:
    """Outside any run or step, logging raises NoActiveRunError; bad values raise at once."""
    with pytest.raises(NoActiveRunError, match=r"inside `with tracker\.run"):
        tracker.log_params(a=1)
    with tracker.run():
        with pytest.raises(InvalidArgumentError, match="metrics are numbers"):
            tracker.log_metrics(loss="low")  # type: ignore[arg-type]
        with pytest.raises(PropertyError, match="type list"):
            tracker.log_params(layers=[1, 2])
        with pytest.raises(InvalidArgumentError, match="at least one"):
            tracker.log_params()


def test_a_thread_lock_is_not_held_across_runs(tracked: tracker.Store) -> None:
    """Runs in several threads at once each record their own steps."""
    ids: dict[str, int] = {}

    def work(name: str) -> None:
        with tracker.run(name) as run:
            scale([float(len(name))])
            ids[name] = run.context_id

    threads = [threading.Thread(target=work, args=(f"t{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(c for e in executions(tracked, "scale") for c in _context_ids(tracked, e)) == sorted(ids.values())
