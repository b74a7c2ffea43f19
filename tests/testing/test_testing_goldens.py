"""Golden stores: recorded by a function, listed from a copy, replayed in a copy, never written by a test."""

from __future__ import annotations

from pathlib import Path

import pytest
import testing_steps as steps

import tracker
from tracker.errors import ReplayError
from tracker.testing._stores import GOLDEN_STORE, golden_executions, open_golden, record_goldens, recording_into
from tracker.values import ValueStore

pytest_plugins = ["pytester"]


def record() -> None:
    data = steps.load(day=1)
    steps.evaluate(steps.train(data, lr=0.5), data)


def test_goldens_are_recorded_listed_and_replayed_in_a_copy(tmp_path: Path) -> None:
    """record_goldens makes the store; golden_executions lists its step executions; a replay goes to a copy."""
    goldens = tmp_path / "goldens"
    assert record_goldens(goldens, record) == 3
    assert sorted(p.name for p in goldens.iterdir()) == [GOLDEN_STORE]  # no values dir: all kept in the store
    before = (goldens / GOLDEN_STORE).read_bytes()
    listed = golden_executions(goldens)
    assert [e.custom_properties["tracker_step"] for e in listed] == ["load", "train", "evaluate"]
    assert [e.type for e in golden_executions(goldens, steps=["train"])] == ["train"]
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    golden = open_golden(goldens, listed[1].id, scratch)  # type: ignore[arg-type]
    try:
        with recording_into(golden.store, ValueStore(scratch / "values")):  # as the tracker_golden fixture does
            result = golden.replay()
        assert result.equal, str(result)
        assert golden.store.get_executions_by_id([result.replay_id])  # type: ignore[list-item]
    finally:
        golden.store.close()
    assert (goldens / GOLDEN_STORE).read_bytes() == before
    assert sorted(p.name for p in goldens.iterdir()) == [GOLDEN_STORE]


def test_recording_again_replaces_the_goldens(tmp_path: Path) -> None:
    """A refresh deletes the old store and values first: the new store holds one recording."""
    goldens = tmp_path / "goldens"
    record_goldens(goldens, record)
    assert record_goldens(goldens, lambda: steps.load(day=5)) == 1
    assert [e.properties["day"] for e in golden_executions(goldens)] == [5]


def test_missing_goldens_and_executions_are_replay_errors(tmp_path: Path) -> None:
    """No golden store names the refresh command; an execution gone since collection is named too."""
    with pytest.raises(ReplayError, match=r"no golden store at .*pytest --tracker-refresh-goldens"):
        golden_executions(tmp_path)
    record_goldens(tmp_path, record)
    with pytest.raises(ReplayError, match="has no execution 99 any more"):
        open_golden(tmp_path, 99, tmp_path / "..")


def test_goldens_in_process(pytester: pytest.Pytester) -> None:
    """The marker, the refresh option and the tracker_golden fixture, in one pytest process."""
    pytester.makepyfile(
        test_inner_inprocess_goldens="""
        import pytest
        import testing_steps as steps

        def record():
            steps.train(steps.load(day=2))

        @pytest.mark.tracker_goldens("goldens", record=record)
        def test_golden(tracker_golden):
            tracker_golden.replay().assert_equal()
            assert tracker_golden.store.get_executions("type = 'Run'") == []
        """
    )
    missing = pytester.runpytest("-p", "no:cacheprovider")
    missing.assert_outcomes(errors=1)
    missing.stdout.fnmatch_lines(["*no golden store at *goldens*; record it with `pytest --tracker-refresh-goldens`*"])
    pytester.runpytest("-p", "no:cacheprovider", "--tracker-refresh-goldens").assert_outcomes(passed=2)
    pytester.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=2)
    (pytester.path / "goldens" / GOLDEN_STORE).unlink()
    tracker.Store(str(pytester.path / "goldens" / GOLDEN_STORE)).close()  # a store with no executions at all
    empty = pytester.runpytest("-p", "no:cacheprovider")
    empty.assert_outcomes(errors=1)
    empty.stdout.fnmatch_lines(["*the golden store in *goldens holds no execution to replay*"])
