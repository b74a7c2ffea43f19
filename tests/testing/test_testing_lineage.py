"""Lineage assertions: they pass on what the steps recorded, and fail with the lineage they looked at."""

from __future__ import annotations

import pytest
import testing_steps as steps

import tracker
from tracker.errors import InvalidArgumentError, LineageAssertionError
from tracker.testing import assert_derived_from, assert_made_from, assert_produced, assert_ran, replay


@pytest.fixture
def pipeline(tracker_run: tracker.Run) -> dict[str, object]:
    """load -> train -> evaluate, and a second data set that trained nothing."""
    data = steps.load(day=1)
    other = steps.load(day=2)
    model = steps.train(data, lr=0.05)
    metrics = steps.evaluate(model, data)
    return {"data": data, "other": other, "model": model, "metrics": metrics}


def test_assert_made_from_passes_for_the_direct_inputs(pipeline: dict[str, object]) -> None:
    """The model was trained on the data: one execution of train read it and returned the model."""
    execution = assert_made_from(pipeline["model"], pipeline["data"], step=steps.train)
    assert execution.custom_properties["tracker_step"] == "train"
    assert assert_made_from(pipeline["metrics"], pipeline["model"], pipeline["data"], step="evaluate")
    assert assert_made_from(pipeline["model"])  # no inputs asked for: made by a step at all


def test_assert_made_from_fails_with_what_made_the_output(pipeline: dict[str, object]) -> None:
    """The message names the output and the missing input, and shows what made the output from what."""
    with pytest.raises(LineageAssertionError) as failed:
        assert_made_from(pipeline["model"], pipeline["other"], step=steps.train)
    message = str(failed.value)
    assert message.splitlines()[0] == "Model #3 was not made from list #2 (length 4) by step 'train'."
    made_by = "  execution 3 'train' (COMPLETE; epochs=2, lr=0.05): data=list #1 (length 4) -> output=Model #3"
    assert f"Model #3 was made by:\n{made_by}" in message
    assert "list #2 (length 4) was read by no step." in message
    with pytest.raises(LineageAssertionError, match="was read by: execution 3 'train'"):
        assert_made_from(pipeline["model"], pipeline["data"], step="evaluate")
    raw = [7.0]
    steps.train(raw)
    with pytest.raises(LineageAssertionError, match=r"No step returned list #\d+ .*: it was only ever an input"):
        assert_made_from([7.0], pipeline["model"])  # an equal list: found by content


def test_assert_derived_from_walks_upstream(pipeline: dict[str, object]) -> None:
    """Metrics derive from the data through the model; the graph it returns is the upstream lineage."""
    graph = assert_derived_from(pipeline["metrics"], pipeline["data"], pipeline["model"])
    assert {e.custom_properties["tracker_step"] for e in graph.executions} == {"load", "train", "evaluate"}
    with pytest.raises(LineageAssertionError) as failed:
        assert_derived_from(pipeline["metrics"], pipeline["other"])
    lines = str(failed.value).splitlines()
    assert lines[0] == "Metrics #4 does not derive from list #2 (length 4). Its upstream lineage:"
    assert "  execution 1 'load' (COMPLETE; day=1, rows=4): (nothing) -> output=list #1 (length 4)" in lines
    assert len(lines) == 4


def test_assert_ran_counts_executions_with_the_given_parameters(pipeline: dict[str, object]) -> None:
    """A step ran once with lr=0.05 in the run; load ran twice; a wrong count lists every execution of it."""
    (execution,) = assert_ran(steps.train, params={"lr": 0.05})
    assert execution.properties["lr"] == 0.05
    assert len(assert_ran("load", times=2)) == 2
    assert assert_ran(steps.load, times=None, params={"day": 2})
    assert assert_ran(steps.train, times=0, params={"lr": 0.5}) == []
    with pytest.raises(LineageAssertionError) as failed:
        assert_ran(steps.train, params={"lr": 0.5})
    lines = str(failed.value).splitlines()
    assert lines[0].startswith("step 'train' ran 0 times with lr=0.5 in run 'test_assert_ran_counts") and lines[
        0
    ].endswith(", expected once.")
    assert lines[2] == "  execution 3 'train' (COMPLETE; epochs=2, lr=0.05): data=list #1 (length 4) -> output=Model #3"
    with pytest.raises(
        LineageAssertionError,
        match=r"never ran in run .* Steps that did: 'load' \(twice\), 'train' \(once\), 'evaluate' \(once\)",
    ):
        assert_ran(steps.split)
    with pytest.raises(LineageAssertionError, match=r"ran twice .*expected once"):
        assert_ran(steps.load)


def test_assert_ran_looks_in_nested_runs_and_the_whole_store(tracker_store: tracker.Store) -> None:
    """A run's scope includes the runs nested in it; without a run, the whole store is the scope."""
    with tracker.run("outer") as outer:
        with tracker.run("inner"):
            steps.load(day=1)
        steps.load(day=2)
    assert len(assert_ran(steps.load, times=2, run=outer)) == 2
    assert len(assert_ran(steps.load, times=2)) == 2
    (context,) = tracker_store.get_contexts("name = 'outer'")
    assert len(assert_ran(steps.load, times=2, run=context)) == 2
    with pytest.raises(LineageAssertionError, match=f"in {tracker_store.url}"):
        assert_ran(steps.train)


def test_None_parameters_match_parameters_that_were_not_recorded(tracker_run: tracker.Run) -> None:
    """None is never recorded, so params={"x": None} matches an execution without x."""
    steps.features([1.0])
    assert assert_ran(steps.features, params={"scale": 1.0, "missing": None})
    with pytest.raises(LineageAssertionError):
        assert_ran(steps.features, params={"missing": 1})


def test_assert_produced_finds_outputs_by_type(pipeline: dict[str, object], tracker_run: tracker.Run) -> None:
    """The run produced a Model (by train); no ndarray; the message lists what it did produce."""
    (model,) = assert_produced(tracker_run, "Model", step=steps.train)
    assert model.type == "Model"
    assert len(assert_produced(tracker_run, "list")) == 2
    with pytest.raises(LineageAssertionError) as failed:
        assert_produced(tracker_run, "ndarray")
    lines = str(failed.value).splitlines()
    assert lines[0].startswith("no artifact of type 'ndarray' was produced in run 'test_assert_produced")
    assert "  Model #3, returned by execution 3 'train' (COMPLETE; epochs=2, lr=0.05)" in lines
    with pytest.raises(LineageAssertionError, match="Nothing was produced by step 'split'"):
        assert_produced(tracker_run, "list", step="split")


def test_replays_are_never_counted(pipeline: dict[str, object], tracker_run: tracker.Run) -> None:
    """A replay of train makes no second training run, nor a second maker of the model."""
    (execution,) = assert_ran(steps.train)
    assert replay(execution).equal
    assert len(assert_ran(steps.train, times=1)) == 1
    assert assert_made_from(pipeline["model"], pipeline["data"]).id == execution.id
    graph = assert_derived_from(pipeline["model"], pipeline["data"])
    assert execution.id in [e.id for e in graph.executions] and len(graph.executions) == 2


def test_unrecorded_values_and_wrong_arguments(pipeline: dict[str, object], tracker_run: tracker.Run) -> None:
    """A value no step saw fails the assertion; a non-step, a bad count or a bad run is a usage error."""
    with pytest.raises(LineageAssertionError, match=r"the input, \[1\.5\] \(list\), is not recorded: no step"):
        assert_made_from(pipeline["model"], [1.5])
    with pytest.raises(LineageAssertionError, match="is not recorded"):
        assert_derived_from(lambda: None, pipeline["data"])
    with pytest.raises(InvalidArgumentError, match="not a tracker step"):
        assert_ran(print)
    with pytest.raises(InvalidArgumentError, match="times must be at least 0"):
        assert_ran(steps.train, times=-1)
    with pytest.raises(InvalidArgumentError, match=r"run must be a tracker\.Run"):
        assert_produced("run", "Model")  # type: ignore[arg-type]
    with pytest.raises(InvalidArgumentError, match="must be a value, an Artifact or an artifact id"):
        assert_made_from(tracker_run, pipeline["data"])
    artifact = tracker_run.store.get_artifacts_by_id([3])[0]
    assert assert_made_from(artifact, 1).id == assert_made_from(3, pipeline["data"]).id  # ids and records work too


def test_an_input_no_step_made_and_long_listings(tracker_run: tracker.Run) -> None:
    """A value only ever read was made by no step; long lists of executions end with a count."""
    raw = [3.0]
    steps.train(raw)
    with pytest.raises(LineageAssertionError, match=r"^list #1 \(length 1\) was not made by any step\."):
        assert_made_from(raw)
    for day in range(25):
        steps.load(day=day)
    with pytest.raises(LineageAssertionError) as failed:
        assert_ran(steps.load, times=3)
    lines = str(failed.value).splitlines()
    assert len(lines) == 2 + 20 + 1 and lines[-1] == "  ... and 5 more"


def test_an_explicit_store(tracker_store: tracker.Store, tmp_path: object) -> None:
    """store= looks in another store than the current one."""
    steps.load(day=1)
    other = tracker.connect(str(tmp_path) + "/other.sqlite")  # type: ignore[operator]
    try:
        with pytest.raises(LineageAssertionError, match="is not recorded"):
            assert_made_from([10.0, 11.0, 12.0, 13.0], store=other)
        assert assert_made_from([10.0, 11.0, 12.0, 13.0], store=tracker_store)
    finally:
        other.close()
