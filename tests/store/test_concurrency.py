"""Many processes writing into one store at once, on every backend.

These are the guarantees behind "never losing a record": 16 processes x 300
atomic put_execution calls end with exact row counts and no error, and 16
processes racing to create the same type and context all get the one row.
"""

from __future__ import annotations

import multiprocessing
import sqlite3
import threading
import traceback
from pathlib import Path
from typing import Any

import pytest
from databases import table_contents

import tracker
from tracker import (
    Artifact,
    ArtifactType,
    Context,
    ContextType,
    Event,
    EventType,
    Execution,
    ExecutionType,
    PropertyType,
)
from tracker.errors import ConcurrencyError

PROCESSES = 16
CALLS = 300
RUNS = 10  # contexts shared by all processes
CTX = multiprocessing.get_context("fork")


def _declare(store: tracker.Store) -> None:
    store.put_artifact_type(ArtifactType("DataSet", {"day": PropertyType.INT, "split": PropertyType.STRING}))
    store.put_artifact_type(ArtifactType("Model", {"version": PropertyType.INT, "name": PropertyType.STRING}))
    store.put_execution_type(ExecutionType("Trainer", {"step": PropertyType.INT}))
    store.put_context_type(ContextType("Run"))


def _record(url: str, worker: int, barrier: Any, results: Any) -> None:
    try:
        with tracker.connect(url) as store:
            barrier.wait()
            _declare(store)  # every process declares the shared types at once
            for i in range(CALLS):
                store.put_execution(
                    Execution(type="Trainer", properties={"step": i}),
                    [(Artifact(type="DataSet", uri=f"{worker}/{i}", properties={"day": i, "split": "train"}),
                      Event(type=EventType.INPUT, path=["data"])),
                     (Artifact(type="Model", uri=f"{worker}/{i}/m", properties={"version": i, "name": "m"}),
                      Event(type=EventType.OUTPUT, path=["model"]))],
                    [Context(type="Run", name=f"run-{i % RUNS}")],
                )  # fmt: skip
        results.put((worker, None))
    except BaseException:  # report, never hang the parent
        results.put((worker, traceback.format_exc()))


def _run_all(target: Any, url: str) -> list[Any]:
    barrier = CTX.Barrier(PROCESSES)
    results = CTX.Queue()
    procs = [CTX.Process(target=target, args=(url, w, barrier, results)) for w in range(PROCESSES)]
    for p in procs:
        p.start()
    outcomes = [results.get(timeout=600) for _ in procs]
    for p in procs:
        p.join(timeout=60)
    return [value for _, value in sorted(outcomes)]


def test_sixteen_processes_record_at_once(store_url: str) -> None:
    """16 x 300 put_execution calls into one store: no error and exact row counts."""
    tracker.connect(store_url).close()  # the schema exists before the race starts
    errors = [e for e in _run_all(_record, store_url) if e]
    assert errors == []
    rows = table_contents(store_url)
    total = PROCESSES * CALLS
    counts = {name: len(rows[name]) for name in rows}
    assert counts == {
        "Artifact": 2 * total, "ArtifactProperty": 4 * total, "Association": total, "Attribution": 2 * total,
        "Context": RUNS, "ContextProperty": 0, "Event": 2 * total, "EventPath": 2 * total, "Execution": total,
        "ExecutionProperty": total, "MLMDEnv": 1, "ParentContext": 0, "ParentType": 0, "Type": 9 + 4,
        "TypeProperty": 5,
    }  # fmt: skip


def _create_same(url: str, worker: int, barrier: Any, results: Any) -> None:
    try:
        with tracker.connect(url) as store:
            barrier.wait()
            type_id = store.put_context_type(ContextType("Pipeline", {"owner": PropertyType.STRING}))
            (context_id,) = store.put_contexts(
                [Context(type="Pipeline", name="nightly", properties={"owner": f"worker {worker}"})],
                reuse_existing=True,
            )
        results.put((worker, (type_id, context_id)))
    except BaseException:
        results.put((worker, traceback.format_exc()))


def test_racing_get_or_create_yields_one_row(store_url: str) -> None:
    """16 processes create the same type and context at the same moment: one row each, one id for all."""
    tracker.connect(store_url).close()
    outcomes = _run_all(_create_same, store_url)
    assert all(isinstance(o, tuple) for o in outcomes), outcomes
    assert len(set(outcomes)) == 1
    rows = table_contents(store_url)
    assert [r[1] for r in rows["Type"]].count("Pipeline") == 1
    assert len(rows["Context"]) == 1 and len(rows["TypeProperty"]) == 1
    assert len(rows["ContextProperty"]) == 1  # the winner's properties only


def _open_empty(url: str, worker: int, barrier: Any, results: Any) -> None:
    try:
        barrier.wait()
        tracker.connect(url).close()
        results.put((worker, None))
    except BaseException:
        results.put((worker, traceback.format_exc()))


@pytest.mark.parametrize("attempt", range(2))
def test_racing_opens_of_an_empty_database_create_the_schema_once(store_url: str, attempt: int) -> None:
    """16 processes opening one empty database at once: one schema, one MLMDEnv row, nine system types."""
    assert [e for e in _run_all(_open_empty, store_url) if e] == []
    rows = table_contents(store_url)
    assert rows["MLMDEnv"] == [(10,)] and len(rows["Type"]) == 9


def _hold_write_lock(path: str, seconds: float) -> sqlite3.Connection:
    """Take the database's write lock from another connection; release it after *seconds* (0: never)."""
    holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN IMMEDIATE")
    if seconds:
        threading.Timer(seconds, holder.rollback).start()
    return holder


def test_a_writer_that_cannot_get_the_lock_gives_up_cleanly(tmp_path: Path) -> None:
    """A write lock held by another process past every retry: ConcurrencyError, and nothing written."""
    path = str(tmp_path / "locked.sqlite")
    with tracker.connect(f"sqlite:///{path}?timeout=0.01") as store:
        store.put_context_type(ContextType("Run"))
        holder = _hold_write_lock(path, 0)
        try:
            with pytest.raises(
                ConcurrencyError, match=r"put_contexts kept conflicting .*\(12 attempts\): database is locked"
            ):
                store.put_contexts([Context(type="Run", name="r")])
        finally:
            holder.rollback()
            holder.close()
        assert store.get_contexts() == []


def test_a_writer_waits_out_a_short_lock(tmp_path: Path) -> None:
    """A lock released while the writer retries: the write goes through once, without an error."""
    path = str(tmp_path / "locked.sqlite")
    with tracker.connect(f"sqlite:///{path}?timeout=0.01") as store:
        store.put_context_type(ContextType("Run"))
        holder = _hold_write_lock(path, 0.2)
        try:
            assert store.put_contexts([Context(type="Run", name="r")]) == [1]
        finally:
            holder.close()
        assert [c.name for c in store.get_contexts()] == ["r"]
