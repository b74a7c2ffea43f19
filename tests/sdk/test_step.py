"""@tracker.step on plain functions: what one call records, and that the call itself is unchanged."""

from __future__ import annotations

import inspect
import pickle
import threading
from dataclasses import dataclass
from typing import NamedTuple

import pytest
from conftest import executions, io

import tracker
from tracker import ArtifactBaseType, ExecutionState, PropertyType
from tracker.errors import InvalidArgumentError, TrackerError, TrackerWarning


@dataclass
class Model:
    weight: float


class Split(NamedTuple):
    train: list[int]
    test: list[int]


@tracker.step
def train(data: list[float], lr: float = 0.1, epochs: int = 3, note: str | None = None) -> Model:
    """Fit a model."""
    return Model(sum(data) * lr)


def test_the_function_looks_the_same() -> None:
    """Name, docstring, signature, annotations and __wrapped__ are the function's own."""
    assert train.__name__ == "train" and train.__doc__ == "Fit a model."
    assert str(inspect.signature(train)) == str(inspect.signature(train.__wrapped__))
    assert train.__annotations__ == train.__wrapped__.__annotations__


def test_a_call_records_an_execution_with_inputs_outputs_and_parameters(tracked: tracker.Store) -> None:
    """Scalars are properties (declared from annotations), other arguments inputs, the result an output."""
    with tracker.run("r") as run:
        model = train([1.0, 2.0], lr=0.5)
    assert model == Model(1.5)
    (execution,) = executions(tracked, "train")
    assert execution.last_known_state is ExecutionState.COMPLETE
    assert execution.properties == {"lr": 0.5, "epochs": 3}  # note=None is not recorded
    assert tracked.get_execution_type("train").properties == {
        "lr": PropertyType.DOUBLE, "epochs": PropertyType.INT, "note": PropertyType.STRING}  # fmt: skip
    facts = execution.custom_properties
    assert facts["tracker_step"] == "train" and facts["tracker_function"] == "train"
    assert facts["tracker_module"] == __name__ and len(facts["tracker_source_sha256"]) == 64
    assert execution.create_time_since_epoch <= execution.last_update_time_since_epoch  # start, end
    recorded = io(tracked, execution.id)  # type: ignore[arg-type]
    assert [(p, a.type) for p, a in recorded["INPUT"]] == [("data", "list")]
    assert [(p, a.type) for p, a in recorded["OUTPUT"]] == [("output", "Model")]
    assert tracker.load(recorded["OUTPUT"][0][1]) == Model(1.5)
    assert [c.id for c in tracked.get_contexts_by_execution(execution.id)] == [run.context_id]  # type: ignore[arg-type]


def test_values_passed_on_link_by_identity_and_equal_content_by_fingerprint(tracked: tracker.Store) -> None:
    """A step's output given to the next step is the same artifact; equal content is too."""
    with tracker.run():
        data = [1.0, 2.0]
        train(data)
        train(data, lr=0.2)
        train([1.0, 2.0], lr=0.3)  # another list, same content
    inputs = [io(tracked, e.id)["INPUT"][0][1].id for e in executions(tracked, "train")]  # type: ignore[arg-type]
    assert len(set(inputs)) == 1
    assert len(tracked.get_artifacts_by_type("list")) == 1


@tracker.step(outputs=("train", "test"))
def split(rows: list[int]) -> tuple[list[int], list[int]]:
    return rows[:2], rows[2:]


@tracker.step
def split_named(rows: list[int]) -> Split:
    return Split(rows[:1], rows[1:])


@tracker.step(name="evaluate", type_name="Evaluator")
def evaluate_model(model: Model) -> dict[str, float]:
    return {"rmse": 0.5, "n": 3}


@tracker.step
def nothing(rows: list[int]) -> None:
    return None


def test_outputs(tracked: tracker.Store) -> None:
    """Tuples give one artifact per element, NamedTuples per field; dicts of numbers are Metrics; None none."""
    with tracker.run():
        train_rows, _ = split([1, 2, 3])
        split_named([4, 5])
        evaluate_model(Model(1.0))
        nothing(train_rows)
    by_type = {e.type: io(tracked, e.id)["OUTPUT"] for e in tracked.get_executions()}  # type: ignore[arg-type]
    assert [p for p, _ in by_type["split"]] == ["train", "test"]
    assert [p for p, _ in by_type["split_named"]] == ["train", "test"]
    ((path, metrics),) = by_type["Evaluator"]
    assert path == "output"
    assert (
        metrics.type == "Metrics" and metrics.custom_properties["rmse"] == 0.5 and metrics.custom_properties["n"] == 3
    )
    assert tracked.get_artifact_type("Metrics").base_type is ArtifactBaseType.METRICS
    assert by_type["nothing"] == []
    nothing_id = executions(tracked, "nothing")[0].id
    assert [a.id for _, a in io(tracked, nothing_id)["INPUT"]] == [by_type["split"][0][1].id]  # type: ignore[arg-type]


@tracker.step(params=["layers"], artifacts=["seed"])
def configured(layers: list[int], seed: int) -> int:
    return seed


def test_params_and_artifacts_can_be_chosen(tracked: tracker.Store) -> None:
    """params= records a non-scalar as a property; artifacts= records a scalar as an artifact."""
    with tracker.run():
        configured([64, 32], 7)
    (execution,) = executions(tracked, "configured")
    assert execution.custom_properties["layers"] == {"items": [64.0, 32.0]}
    assert [p for p, _ in io(tracked, execution.id)["INPUT"]] == ["seed"]  # type: ignore[arg-type]


def test_unknown_parameter_names_are_refused_at_decoration() -> None:
    """Naming a parameter the function lacks is an error when decorating, not at the first call."""
    with pytest.raises(InvalidArgumentError, match=r"names nope .* its parameters are a"):
        tracker.step(params=["nope"])(lambda a: a)


class Boom(Exception):
    pass


@tracker.step
def explode(rows: list[int]) -> None:
    raise Boom("bad rows")


@tracker.step
def interrupt() -> None:
    raise KeyboardInterrupt


def test_a_failure_is_recorded_and_re_raised_unchanged(tracked: tracker.Store) -> None:
    """FAILED with the exception's type and message; the caller gets the very same exception."""
    with tracker.run() as run, pytest.raises(Boom) as caught:
        explode([1])
    assert str(caught.value) == "bad rows" and caught.value.__traceback__ is not None
    (execution,) = executions(tracked, "explode")
    assert execution.last_known_state is ExecutionState.FAILED
    assert execution.custom_properties["tracker_error_type"].endswith("Boom")
    assert execution.custom_properties["tracker_error_message"] == "bad rows"
    assert run.status == "complete"  # the failure was caught inside the run


def test_keyboard_interrupt_is_canceled(tracked: tracker.Store) -> None:
    """A KeyboardInterrupt in a step records CANCELED, for the run too, and propagates."""
    with pytest.raises(KeyboardInterrupt), tracker.run() as run:
        interrupt()
    assert executions(tracked, "interrupt")[0].last_known_state is ExecutionState.CANCELED
    assert tracked.get_contexts_by_id([run.context_id])[0].custom_properties["tracker_status"] == "canceled"


@tracker.step
def make_lock(n: int) -> threading.Lock:
    return threading.Lock()


def test_an_unpicklable_value_reaches_the_caller_and_is_recorded_without_a_value(tracked: tracker.Store) -> None:
    """The value is returned unchanged, a TrackerWarning says why, the artifact has the reason and no uri."""
    with tracker.run(), pytest.warns(TrackerWarning, match=r"could not be stored .*lock"):
        lock = make_lock(1)
    assert isinstance(lock, type(threading.Lock()))
    ((_, artifact),) = io(tracked, executions(tracked, "make_lock")[0].id)["OUTPUT"]  # type: ignore[arg-type]
    assert artifact.uri is None and "lock" in artifact.custom_properties["tracker_unstored_reason"]
    with pytest.raises(tracker.errors.ValueStoreError, match="no stored value"):
        tracker.load(artifact)


def test_when_the_store_fails_the_result_still_arrives(tracked: tracker.Store) -> None:
    """Default policy: a TrackerWarning and the function's own result; with on_error='raise', a TrackerError."""
    tracked.close()
    with pytest.warns(TrackerWarning, match="could not record the start of step 'train'"):
        assert train([2.0]) == Model(0.2)
    with pytest.warns(TrackerWarning), pytest.raises(Boom):
        explode([1])
    tracker.configure(on_error="raise")
    with pytest.raises(TrackerError, match="closed"):
        train([2.0])


def test_module_level_steps_pickle_by_reference() -> None:
    """pickle and cloudpickle give back the very same step object."""
    from steps import scale

    assert pickle.loads(pickle.dumps(scale)) is scale
    import cloudpickle

    assert cloudpickle.loads(cloudpickle.dumps(scale)) is scale


@tracker.step
def grid_point(c: float = 1.0, max_iter: int = 100, flag: bool = False) -> None:
    return None


def test_numpy_scalars_are_parameters(tracked: tracker.Store) -> None:
    """np.float64, np.int64 and np.bool_ arguments are hyperparameters like their Python twins."""
    import numpy as np  # in the test extra

    with tracker.run():
        grid_point(c=np.float64(0.5), max_iter=np.int64(200), flag=np.bool_(True))
        tracker.log_params(n_iter=np.int32(7))
    (execution,) = executions(tracked, "grid_point")
    assert execution.properties == {"c": 0.5, "max_iter": 200, "flag": True}
    assert io(tracked, execution.id)["INPUT"] == []  # type: ignore[arg-type]


@tracker.step(outputs=("model", "report"), output_types={"model": "Model"})
def fit_named(rows: list[float]) -> tuple[Model, str]:
    return Model(sum(rows)), "fine"


def test_output_types_name_artifact_types_per_output(tracked: tracker.Store) -> None:
    """output_types chooses an output's artifact type; register_artifact_type does it for a Python type."""
    tracker.register_artifact_type(list, "Dataset", base_type=ArtifactBaseType.DATASET)
    try:
        with tracker.run():
            fit_named([1.0])
    finally:
        tracker.sdk._describe._TYPE_NAMES.pop(list)
    (execution,) = executions(tracked, "fit_named")
    recorded = io(tracked, execution.id)  # type: ignore[arg-type]
    assert [(p, a.type) for p, a in recorded["OUTPUT"]] == [("model", "Model"), ("report", "str")]
    assert [(p, a.type) for p, a in recorded["INPUT"]] == [("rows", "Dataset")]
    assert tracked.get_artifact_type("Dataset").base_type is ArtifactBaseType.DATASET
