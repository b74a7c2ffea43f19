"""Fixtures for the fluent layer: tracker configured with a fresh store and value directory."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

import tracker
from tracker.sdk import _state, runs


@pytest.fixture
def tracked(store: tracker.Store, tmp_path: Path) -> Iterator[tracker.Store]:
    """Steps and runs record into a fresh store (each backend in turn) and a fresh value directory."""
    tracker.configure(store=store, values=str(tmp_path / "values"))
    yield store
    runs._process_runs.clear()  # runs made for steps outside any run: not to be finished at exit
    _state.reset()


def executions(store: tracker.Store, step_type: str) -> list[tracker.Execution]:
    return store.get_executions_by_type(step_type)


def io(store: tracker.Store, execution_id: int) -> dict[str, list[tuple[str, tracker.Artifact]]]:
    """The execution's inputs and outputs: {"INPUT": [(path, artifact)], "OUTPUT": [...]}, in event order."""
    found: dict[str, list[tuple[str, tracker.Artifact]]] = {"INPUT": [], "OUTPUT": []}
    for event in store.get_events_by_execution_ids([execution_id]):
        (artifact,) = store.get_artifacts_by_id([event.artifact_id])
        found[event.type.name].append(("/".join(map(str, event.path)), artifact))
    return found
