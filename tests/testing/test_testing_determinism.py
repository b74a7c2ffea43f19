"""tracker.testing.check_determinism: the same call run several times, the runs' outputs compared."""

from __future__ import annotations

import itertools
import random

import numpy as np
import pytest
import testing_steps as steps

import tracker
from tracker.errors import InvalidArgumentError, OutputMismatchError
from tracker.testing import check_determinism


@tracker.step
def noisy(data: list[float]) -> list[float]:
    """Adds unseeded noise: not deterministic."""
    return [x + random.random() for x in data]


_calls = itertools.count()


def test_a_deterministic_call_passes(tracker_store: tracker.Store) -> None:
    """A call returning the same outputs every run is deterministic; the message says how many runs agreed."""
    result = check_determinism(lambda: steps.train([1.0, 2.0], lr=0.5), runs=3)
    assert result.deterministic and result.differences == [] and len(result.outputs) == 3
    result.assert_deterministic()
    assert str(result).endswith("<lambda>: 3 runs on the same inputs gave the same outputs")


def test_a_nondeterministic_call_reports_which_outputs_differ(tracker_run: tracker.Run) -> None:
    """Unseeded randomness shows up at the paths that differ, and assert_deterministic raises."""
    result = check_determinism(lambda: {"kept": [1.0], "noise": noisy([1.0, 2.0])})
    assert not result.deterministic
    assert [d.path for d in result.differences] == ["output['noise'][0]", "output['noise'][1]"]
    with pytest.raises(
        OutputMismatchError, match=r"is not deterministic: 2 runs on the same inputs differ in 2 places"
    ):
        result.assert_deterministic()
    assert len(tracker_run.store.get_executions()) == 2  # the steps it calls are recorded as usual


def test_each_later_run_is_named_when_there_are_more_than_two() -> None:
    """With more runs, each difference says which run it is (compared with the first)."""
    result = check_determinism(lambda: next(_calls) % 3 == 0, runs=3)
    assert [d.detail for d in result.differences] == ["run 2", "run 3"]


def test_exceptions_are_outcomes_too() -> None:
    """Raising the same exception type every time is deterministic; raising only sometimes is not."""
    assert check_determinism(lambda: 1 / 0).deterministic
    flaky = iter([1.0, None])
    (found,) = check_determinism(lambda: 1 / next(flaky)).differences  # type: ignore[operator]
    assert (found.kind, found.expected) == ("error", "a result")
    assert found.actual.startswith("builtins.TypeError")


def test_a_recorded_execution_is_replayed_each_time(tracker_run: tracker.Run) -> None:
    """Given an execution, each run is a replay on its recorded inputs, recorded as one."""
    steps.features([1.0, 2.0])
    noisy([1.0, 2.0])
    features, noisy_execution = tracker_run.store.get_executions()
    result = check_determinism(features)
    assert result.deterministic and len(result.replay_ids) == 2 and None not in result.replay_ids
    assert isinstance(result.outputs[0]["output"], np.ndarray)
    assert str(result) == f"execution {features.id} (step 'features'): 2 runs on the same inputs gave the same outputs"
    noisy_result = check_determinism(noisy_execution.id, rtol=0.0)  # type: ignore[arg-type]
    assert [d.path for d in noisy_result.differences] == ["output[0]", "output[1]"]
    assert check_determinism(noisy_execution, atol=1.0).deterministic  # within the tolerance asked for


def test_at_least_two_runs() -> None:
    """One run cannot disagree with itself."""
    with pytest.raises(InvalidArgumentError, match="at least 2 runs"):
        check_determinism(lambda: 1, runs=1)
