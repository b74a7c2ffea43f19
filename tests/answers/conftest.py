"""Two runs of a small pipeline, recorded in a fresh store on each backend."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from answers_steps import Recorded, pipeline

import tracker
from tracker.sdk import _state, runs


@pytest.fixture
def recorded(store: tracker.Store, store_url: str, tmp_path: Path) -> Iterator[Recorded]:
    """Runs "baseline" (lr 0.1) and "tuned" (lr 0.2) of load -> train -> evaluate, on the same data."""
    values = tmp_path / "values"
    tracker.configure(store=store, values=str(values))
    try:
        yield Recorded(store, store_url, values, pipeline("baseline", 0.1), pipeline("tuned", 0.2))
    finally:
        runs._process_runs.clear()
        _state.reset()
