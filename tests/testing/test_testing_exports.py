"""tracker.testing's public face: a short list, loaded on first use, every name documented."""

from __future__ import annotations

import inspect

import pytest

import tracker.testing
from tracker.testing._calling import label
from tracker.testing._determinism import _run_differences


def test_all_is_sorted_and_every_name_is_documented() -> None:
    """__all__ is sorted; each name loads on first use, is listed by dir() and has a docstring."""
    assert tracker.testing.__all__ == sorted(tracker.testing.__all__)
    for name in tracker.testing.__all__:
        value = getattr(tracker.testing, name)
        assert inspect.getdoc(value), name
        assert "versionadded" in (value.__doc__ or ""), name
    assert set(dir(tracker.testing)) >= set(tracker.testing.__all__)
    with pytest.raises(AttributeError, match="no attribute 'replay_all'"):
        tracker.testing.replay_all  # type: ignore[attr-defined]  # noqa: B018


def test_event_paths_read_as_python() -> None:
    """Output paths are shown as Python would reach the value."""
    assert [label(p) for p in ([], ["output"], ["yield", 3], [0], ["args", 1], ["kwargs", "k"])] == [
        "output", "output", "yield[3]", "output[0]", "args[1]", "kwargs['k']"]  # fmt: skip


def test_runs_with_other_outputs_differ_by_path() -> None:
    """An output only one run gave is missing from, or extra in, the other."""
    found = _run_differences({"a": 1, "b": 2}, None, {"a": 1, "c": 3}, None, 0.0, 0.0)
    assert [(d.kind, d.path) for d in found] == [("missing", "b"), ("extra", "c")]
