"""tracker.testing.replay: a recorded execution run again on its recorded inputs, its outputs compared."""

from __future__ import annotations

import asyncio
import pickle
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import numpy as np
import pytest
import testing_steps as steps
from testing_steps import Model

import tracker
from tracker import Artifact, Execution, ExecutionState, ProtoValue
from tracker.errors import (
    InvalidArgumentError,
    NotFoundError,
    OutputMismatchError,
    ReplayError,
    ValueIntegrityError,
)
from tracker.sdk import _state
from tracker.testing import assert_ran, no_tracking, replay
from tracker.values import ValueStore, load_inline


def recorded(store: tracker.Store, step_name: str) -> Execution:
    """The one original (not replayed) execution of a step."""
    (found,) = store.get_executions(
        f"custom_properties.tracker_step.string_value = '{step_name}' "
        "AND custom_properties.tracker_replay_of.int_value IS NULL"
    )
    return found


def input_of(store: tracker.Store, execution: Execution) -> Artifact:
    """The one input artifact of an execution."""
    (event,) = [e for e in store.get_events_by_execution_ids([execution.id]) if e.type.name == "INPUT"]  # type: ignore[list-item]
    (artifact,) = store.get_artifacts_by_id([event.artifact_id])
    return artifact


def _run_stream() -> list[float]:
    async def consume() -> list[float]:
        return [x async for x in steps.stream([1.0, 2.0])]

    return asyncio.run(consume())


CALLS: dict[str, Callable[[], Any]] = {
    "load": lambda: steps.load(day=3, rows=2),
    "train": lambda: steps.train(steps.load(day=1), lr=0.5),
    "evaluate": lambda: steps.evaluate(steps.Model([1.0, 3.0]), [1.0, 2.0]),
    "split": lambda: steps.split([1.0, 2.0, 3.0], at=1),
    "features": lambda: steps.features([1.0, 2.0], scale=3.0),
    "fetch": lambda: asyncio.run(steps.fetch([1.0, 2.0])),
    "batches": lambda: list(steps.batches([1.0, 2.0, 3.0])),
    "stream": _run_stream,
    "varargs": lambda: steps.varargs([1.0], [2.0], scale=2.0, first=[3.0], second=[4.0]),
    "Trainer.default": lambda: steps.Trainer.default([1.0]),
    "Trainer.normalize": lambda: steps.Trainer.normalize([1.0, 4.0]),
}


@pytest.mark.parametrize("step_name", list(CALLS))
def test_a_step_whose_code_did_not_change_replays_equal(tracker_run: tracker.Run, step_name: str) -> None:
    """Functions, tuple outputs, arrays, coroutines, generators, async generators, *args/**kwargs, class and
    static methods: each replays on its recorded inputs to the recorded outputs."""
    CALLS[step_name]()
    original = recorded(tracker_run.store, step_name)
    result = replay(original)
    assert result.equal, str(result)
    assert result.error is None and result.differences == []
    assert set(result.outputs) == set(result.recorded) and result.recorded
    result.assert_equal()  # does not raise
    assert str(result).endswith("equal to the record within rtol=1e-07, atol=0")


def test_a_replay_is_a_new_execution_that_points_to_the_original(tracker_run: tracker.Run) -> None:
    """The replay is recorded as its own execution, marked tracker_replay_of, in a replay run nested in the
    current one; it links to the same input artifact; the original is untouched and still counted alone."""
    store = tracker_run.store
    steps.train(steps.load(day=1))
    original = recorded(store, "train")
    result = replay(original.id)  # type: ignore[arg-type]
    assert result.replay_id is not None and result.replay_id != original.id
    (again,) = store.get_executions_by_id([result.replay_id])
    assert again.custom_properties["tracker_replay_of"] == original.id
    assert again.custom_properties["tracker_replay_code"] == "current"
    assert again.last_known_state is ExecutionState.COMPLETE and again.type == original.type
    assert store.get_executions_by_id([original.id]) == [original]  # type: ignore[list-item]
    (context,) = store.get_contexts_by_execution(again.id)  # type: ignore[arg-type]
    assert context.name == f"replay of execution {original.id}"
    assert context.custom_properties["tracker_replay_of"] == original.id
    assert [c.id for c in store.get_parent_contexts_by_context(context.id)] == [tracker_run.context_id]  # type: ignore[arg-type]

    def input_ids(execution_id: int) -> list[int]:
        return [e.artifact_id for e in store.get_events_by_execution_ids([execution_id]) if e.type.name == "INPUT"]

    assert input_ids(result.replay_id) == input_ids(original.id)  # type: ignore[arg-type]
    assert len(assert_ran(steps.train, times=1)) == 1  # the replay never passes for a run of the step
    replays = store.get_executions("custom_properties.tracker_replay_of.int_value IS NOT NULL")
    assert [e.id for e in replays] == [result.replay_id]


def test_a_step_whose_code_changed_is_reported_at_the_path(
    tracker_run: tracker.Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Today's code computes something else: the difference is reported where it is, and assert_equal raises."""
    steps.train([1.0, 2.0], lr=0.5)
    original = recorded(tracker_run.store, "train")

    def train(data: list[float], lr: float = 0.1, epochs: int = 2) -> Model:
        return Model([x * lr * epochs for x in data[:-1]] + [99.0])

    monkeypatch.setattr(steps, "train", tracker.step(name="train")(train))
    result = replay(original)
    assert not result.equal
    assert [(d.path, d.expected, d.actual) for d in result.differences] == [("output.weights[1]", "2.0", "99.0")]
    with pytest.raises(OutputMismatchError) as raised:
        result.assert_equal()
    assert "differs from the record in 1 place" in str(raised.value)
    assert "output.weights[1]: expected 2.0, got 99.0" in str(raised.value)
    assert raised.value.differences == result.differences
    assert isinstance(raised.value, AssertionError)


def test_a_changed_output_declaration_shows_as_missing_and_extra_outputs(
    tracker_run: tracker.Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Outputs are compared by their paths: a renamed output is one missing and one extra."""
    steps.split([1.0, 2.0, 3.0])
    original = recorded(tracker_run.store, "split")

    @tracker.step(name="split", outputs=("fit", "test"))
    def split(data: list[float], at: int = 2) -> tuple[list[float], list[float]]:
        return data[:at], data[at:]

    monkeypatch.setattr(steps, "split", split)
    result = replay(original)
    assert [(d.kind, d.path) for d in result.differences] == [("missing", "train"), ("extra", "fit")]


def test_an_array_output_is_compared_with_tolerance(tracker_run: tracker.Run, monkeypatch: pytest.MonkeyPatch) -> None:
    """A replay whose array differs by less than the tolerance matches; beyond it, the first element is shown."""
    steps.features([1.0, 2.0, 3.0])
    original = recorded(tracker_run.store, "features")

    @tracker.step(name="features")
    def features(data: list[float], scale: float = 1.0) -> np.ndarray:
        return np.asarray(data).reshape(-1, 1) * scale * (1 + 1e-6)

    monkeypatch.setattr(steps, "features", features)
    assert replay(original, rtol=1e-5).equal
    (found,) = replay(original).differences
    assert found.path == "output[0, 0]" and found.detail.startswith("3 of 3 elements differ")


def test_a_tampered_inline_input_is_refused(tracker_run: tracker.Run) -> None:
    """An input whose stored bytes no longer match its fingerprint is not unpickled, and nothing is replayed."""
    store = tracker_run.store
    steps.train([1.0, 2.0])
    original = recorded(store, "train")
    artifact = input_of(store, original)
    stored = artifact.custom_properties["tracker_value"]
    mac = str(artifact.custom_properties["tracker_value_mac"])
    assert isinstance(stored, ProtoValue)
    assert load_inline(stored.value, artifact.external_id or "", mac=mac) == [1.0, 2.0]
    artifact.custom_properties["tracker_value"] = ProtoValue(stored.type_url, pickle.dumps([1.0, 666.0]))
    store.put_artifacts([artifact])
    before = len(store.get_executions())
    with pytest.raises(ValueIntegrityError, match=r"its input data \(list #\d+\) was changed after it was recorded"):
        replay(original)
    assert len(store.get_executions()) == before


def test_a_tampered_input_file_is_refused(tracker_run: tracker.Run) -> None:
    """The same for a large input kept in a file of the value store."""
    data = [float(i) for i in range(20_000)]  # over 64 KiB pickled: a file
    steps.train(data)
    original = recorded(tracker_run.store, "train")
    path = Path(urlparse(input_of(tracker_run.store, original).uri or "").path)
    path.write_bytes(path.read_bytes()[:-20] + b"\x00" * 20)
    with pytest.raises(ValueIntegrityError, match="was changed after it was recorded"):
        replay(original)


def test_a_missing_input_is_a_replay_error_and_can_be_given(tracker_run: tracker.Run) -> None:
    """An input whose value is gone cannot be replayed, unless given with inputs=; the replay says so."""
    data = [float(i) for i in range(20_000)]  # a file; the output, a float, is kept in the store
    steps.fail_on_negative(data)
    original = recorded(tracker_run.store, "fail_on_negative")
    shutil.rmtree(tracker_run.values.root)
    with pytest.raises(ReplayError, match=r"its input data .* cannot be loaded .*inputs=\{'data': \.\.\.\}"):
        replay(original)
    result = replay(original, inputs={"data": data})
    assert result.equal
    (again,) = tracker_run.store.get_executions_by_id([result.replay_id])  # type: ignore[list-item]
    assert again.custom_properties["tracker_replay_inputs"] == "data"
    with pytest.raises(ReplayError, match="inputs= names nope"):
        replay(original, inputs={"nope": 1})


def test_values_that_moved_are_read_from_where_they_are_now(tracker_run: tracker.Run, tmp_path: Path) -> None:
    """values= names the value store when the recorded URIs point elsewhere (a golden directory checked out)."""
    data = [float(i) for i in range(20_000)]
    steps.train(data)
    original = recorded(tracker_run.store, "train")
    moved = tmp_path / "moved"
    shutil.move(tracker_run.values.root, moved)
    assert replay(original, values=moved).equal


def test_a_step_that_fails_on_replay(tracker_run: tracker.Run, monkeypatch: pytest.MonkeyPatch) -> None:
    """An exception is part of the result, not raised: the replay differs, and is recorded as FAILED."""
    store = tracker_run.store
    steps.fail_on_negative([1.0, 2.0])
    original = recorded(store, "fail_on_negative")

    @tracker.step(name="fail_on_negative")
    def fail_on_negative(data: list[float]) -> float:
        raise RuntimeError("broken today")

    monkeypatch.setattr(steps, "fail_on_negative", fail_on_negative)
    result = replay(original)
    assert isinstance(result.error, RuntimeError) and not result.equal
    (found,) = result.differences
    assert (found.kind, found.actual) == ("error", "builtins.RuntimeError: 'broken today'")
    assert found.detail == "the replay raised; the recorded execution completed"
    (again,) = store.get_executions_by_id([result.replay_id])  # type: ignore[list-item]
    assert again.last_known_state is ExecutionState.FAILED
    assert again.custom_properties["tracker_error_type"] == "builtins.RuntimeError"
    (context,) = store.get_contexts_by_execution(again.id)  # type: ignore[arg-type]
    assert context.custom_properties["tracker_status"] == "failed"
    with pytest.raises(OutputMismatchError, match="the replay raised"):
        result.assert_equal()


def test_a_recorded_failure_replays_equal_when_it_fails_the_same_way(
    tracker_run: tracker.Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A FAILED execution matches a replay raising the same exception type; not one that returns."""
    with pytest.raises(ValueError, match="negative"):
        steps.fail_on_negative([-1.0])
    original = recorded(tracker_run.store, "fail_on_negative")
    result = replay(original)
    assert result.equal and isinstance(result.error, ValueError)
    assert "raised builtins.ValueError as recorded" in str(result)
    monkeypatch.setattr(steps, "fail_on_negative", tracker.step(name="fail_on_negative")(lambda data: 0.0))
    (found,) = replay(original).differences
    assert found.kind == "error" and found.actual == "no exception (1 output(s))"
    monkeypatch.setattr(steps, "fail_on_negative", tracker.step(name="fail_on_negative")(lambda data: 1 / 0))
    (found,) = replay(original).differences
    assert found.actual.startswith("builtins.ZeroDivisionError")


def test_a_method_step_replays_on_the_instance_given(tracker_run: tracker.Run) -> None:
    """A method needs the object to call it on: the same state matches, another differs, none is an error."""
    steps.Trainer(3.0).fit([1.0, 2.0])
    original = recorded(tracker_run.store, "Trainer.fit")
    assert replay(original, instance=steps.Trainer(3.0)).equal
    found = replay(original, instance=steps.Trainer(4.0)).differences
    assert [d.path for d in found] == ["output.weights[0]", "output.weights[1]"]
    with pytest.raises(ReplayError, match=r"it is a method of Trainer; pass the object .*instance=Trainer\(\.\.\.\)"):
        replay(original)


def test_async_steps_replay_inside_a_running_event_loop(tracker_run: tracker.Run) -> None:
    """A coroutine step replayed from async code runs in an event loop of its own, on another thread."""
    asyncio.run(steps.fetch([1.0]))
    original = recorded(tracker_run.store, "fetch")

    async def from_async_code() -> bool:
        return replay(original).equal

    assert asyncio.run(from_async_code())


def test_a_generator_closed_early_is_replayed_as_far(tracker_run: tracker.Run) -> None:
    """A generator the caller closed after some items is replayed for as many items, then closed."""
    generator = steps.batches([1.0, 2.0, 3.0, 4.0, 5.0], size=1)
    assert [next(generator), next(generator)] == [[1.0], [2.0]]
    generator.close()
    original = recorded(tracker_run.store, "batches")
    assert original.custom_properties["tracker_closed_early"] is True
    result = replay(original)
    assert result.equal, str(result)
    assert sorted(result.outputs) == ["yield[0]", "yield[1]"]


def test_the_recorded_code_can_be_replayed_when_it_was_kept(
    tracker_run: tracker.Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    """code='recorded' runs the source recorded with keep_source=True, in today's module; 'current' runs today's."""
    steps.kept([1.0, 2.0])
    steps.Trainer(2.0).kept_fit([1.0])
    original = recorded(tracker_run.store, "kept")
    assert "def kept(" in str(original.custom_properties["tracker_source"])
    monkeypatch.setattr(steps, "kept", tracker.step(name="kept")(lambda data, offset=1.0: [x - offset for x in data]))
    assert not replay(original).equal
    result = replay(original, code="recorded")
    assert result.equal, str(result)
    (again,) = tracker_run.store.get_executions_by_id([result.replay_id])  # type: ignore[list-item]
    assert again.custom_properties["tracker_replay_code"] == "recorded"
    assert again.custom_properties["tracker_function"] == "kept"
    assert again.custom_properties["tracker_source_sha256"] == original.custom_properties["tracker_source_sha256"]
    method = recorded(tracker_run.store, "Trainer.kept_fit")
    assert replay(method, code="recorded", instance=steps.Trainer(2.0)).equal
    with pytest.raises(ReplayError, match="it is a method of Trainer"):
        replay(method, code="recorded")


def test_the_recorded_code_must_have_been_kept_and_untouched(tracker_run: tracker.Run) -> None:
    """Without recorded source, or with source changed after the fact, code='recorded' is refused."""
    store = tracker_run.store
    steps.load(day=1)
    steps.kept([1.0])
    with pytest.raises(ReplayError, match=r"no source was recorded with it; .*keep_source=True"):
        replay(recorded(store, "load"), code="recorded")
    original = recorded(store, "kept")
    original.custom_properties["tracker_source"] = "def kept(data, offset=1.0):\n    return data\n"
    store.put_executions([original])
    with pytest.raises(ReplayError, match="does not match the sha256 recorded with it"):
        replay(original, code="recorded")
    with pytest.raises(InvalidArgumentError, match="pass one"):
        replay(original, code="recorded", step=steps.kept)
    with pytest.raises(InvalidArgumentError, match="code must be"):
        replay(original, code="latest")  # type: ignore[arg-type]


def test_steps_that_cannot_be_found_or_executions_that_cannot_be_replayed(tracker_run: tracker.Run) -> None:
    """Unknown steps, executions of no step, unfinished executions and unknown ids are clear errors."""
    store = tracker_run.store
    steps.load(day=1)
    original = recorded(store, "load")
    original.custom_properties["tracker_module"] = "no_such_module_anywhere"
    (moved_id,) = store.put_executions([Execution(type=original.type, custom_properties=original.custom_properties,
                                                  last_known_state=ExecutionState.COMPLETE)])  # fmt: skip
    with pytest.raises(ReplayError, match=r"no_such_module_anywhere.load cannot be imported.*replay\(\.\.\., step="):
        replay(moved_id)
    store.put_execution_type(tracker.ExecutionType("Trainer"))
    (foreign,) = store.put_executions([Execution(type="Trainer", last_known_state=ExecutionState.COMPLETE)])
    with pytest.raises(ReplayError, match="was not recorded by a tracker step"):
        replay(foreign)
    (running,) = store.put_executions([Execution(type="Trainer", last_known_state=ExecutionState.RUNNING)])
    with pytest.raises(ReplayError, match="it is RUNNING; only executions that ended"):
        replay(running)
    with pytest.raises(NotFoundError, match="no execution with id 9999"):
        replay(9999)
    with pytest.raises(InvalidArgumentError, match="an Execution or an execution id"):
        replay("1")  # type: ignore[arg-type]


def test_step_gives_the_code_to_run(tracker_run: tracker.Run) -> None:
    """step= replays with other code (a plain function is recorded as the replayed step); with instance=, bound."""
    steps.load(day=2)
    original = recorded(tracker_run.store, "load")
    result = replay(original, step=lambda day, rows=4: [float(day * 10 + i) for i in range(rows)])
    assert result.equal
    (again,) = tracker_run.store.get_executions_by_id([result.replay_id])  # type: ignore[list-item]
    assert again.custom_properties["tracker_step"] == "load" and again.type == original.type
    steps.Trainer(3.0).fit([1.0])
    fit = recorded(tracker_run.store, "Trainer.fit")
    assert replay(fit, step=steps.Trainer.fit, instance=steps.Trainer(3.0)).equal


def test_a_step_defined_in_a_function_is_found_while_it_lives(tracker_run: tracker.Run) -> None:
    """Steps that importing cannot reach (a test's own, a script's, a notebook's) are found among the live ones."""

    @tracker.step
    def local_double(data: list[float]) -> list[float]:
        return [2 * x for x in data]

    local_double([1.0])
    assert replay(recorded(tracker_run.store, local_double.__qualname__)).equal


def test_a_replay_is_recorded_even_where_tracking_is_off(tracker_run: tracker.Run) -> None:
    """no_tracking() does not stop a replay from recording itself: a replay must never go unrecorded."""
    steps.load(day=1)
    original = recorded(tracker_run.store, "load")
    with no_tracking():
        steps.load(day=2)  # not recorded
        result = replay(original)
    assert result.replay_id is not None
    assert len(assert_ran(steps.load, times=1)) == 1


def test_outside_any_run_the_replay_records_into_the_store_it_reads(tracker_store: tracker.Store) -> None:
    """Without a current run, the replay run is a run of its own in the replayed execution's store."""
    steps.load(day=4)
    original = recorded(tracker_store, "load")
    result = replay(original, store=tracker_store)
    (context,) = tracker_store.get_contexts_by_execution(result.replay_id)  # type: ignore[arg-type]
    assert context.name == f"replay of execution {original.id}"
    assert tracker_store.get_parent_contexts_by_context(context.id) == []  # type: ignore[arg-type]


@pytest.fixture
def tracked_elsewhere(store: tracker.Store, tmp_path: Path) -> Iterator[tracker.Store]:
    """Steps record into *store* (each backend in turn) and values into a fresh directory."""
    with _state.defaults(store, ValueStore(tmp_path / "values")):
        yield store


def test_replay_on_every_backend(tracked_elsewhere: tracker.Store) -> None:
    """Replays, of today's code and of the recorded source, read and record alike on SQLite, PostgreSQL and MariaDB."""
    with tracker.run("recorded"):
        steps.train(steps.load(day=1), lr=0.25)
        steps.kept([1.0, 2.0])
    original = recorded(tracked_elsewhere, "train")
    result = replay(original, store=tracked_elsewhere)
    assert result.equal, str(result)
    (again,) = tracked_elsewhere.get_executions_by_id([result.replay_id])  # type: ignore[list-item]
    assert again.custom_properties["tracker_replay_of"] == original.id
    assert replay(recorded(tracked_elsewhere, "kept"), store=tracked_elsewhere, code="recorded").equal


def test_metrics_logged_inside_a_step_are_an_output_compared_too(
    tracker_run: tracker.Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    """log_metrics in a step records the output "metrics"; a replay compares what the new code logs."""
    steps.scored([1.0, 3.0])
    original = recorded(tracker_run.store, "scored")
    assert replay(original).equal
    assert replay(original).outputs["metrics"] == {"mean": 2.0}

    @tracker.step(name="scored")
    def scored(data: list[float]) -> float:
        tracker.log_metrics(mean=max(data))
        return sum(data)

    monkeypatch.setattr(steps, "scored", scored)
    assert [d.path for d in replay(original).differences] == ["metrics['mean']"]


def test_a_recorded_output_changed_after_the_fact_is_refused(tracker_run: tracker.Run) -> None:
    """The recorded outputs are verified like the inputs: a tampered golden cannot pass or fail a replay."""
    store = tracker_run.store
    steps.load(day=1)
    original = recorded(store, "load")
    (event,) = store.get_events_by_execution_ids([original.id])  # type: ignore[list-item]
    (artifact,) = store.get_artifacts_by_id([event.artifact_id])
    stored = artifact.custom_properties["tracker_value"]
    assert isinstance(stored, ProtoValue)
    artifact.custom_properties["tracker_value"] = ProtoValue(stored.type_url, pickle.dumps([0.0]))
    store.put_artifacts([artifact])
    with pytest.raises(ValueIntegrityError, match=r"its recorded output output \(list #\d+\) was changed"):
        replay(original)


def test_a_generator_that_yields_another_number_of_items(
    tracker_run: tracker.Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The count of items is compared as well as each item."""
    list(steps.batches([1.0, 2.0, 3.0, 4.0]))
    original = recorded(tracker_run.store, "batches")

    @tracker.step(name="batches")
    def batches(data: list[float], size: int = 2) -> Iterator[list[float]]:
        yield data[:size]

    monkeypatch.setattr(steps, "batches", batches)
    found = replay(original).differences
    assert [(d.kind, d.path) for d in found] == [("length", "yield"), ("missing", "yield[1]")]


def test_args_kwargs_and_list_params_are_rebuilt(tracker_run: tracker.Run) -> None:
    """*args items, **kwargs items and lists recorded as properties (params=) come back as they were given,
    and inputs= can give a whole *args or **kwargs."""
    steps.varargs([1.0], [2.0], scale=3.0, first=[3.0], second=[4.0])
    steps.weighted([1.0, 2.0], [0.5, 0.25])
    original = recorded(tracker_run.store, "varargs")
    assert replay(original).equal
    changed = replay(original, inputs={"parts": ([1.0],), "named": {"first": [3.0]}})
    assert [d.kind for d in changed.differences] == ["length", "value"]  # [3.0, 9.0] for [3.0, 6.0, 9.0, 12.0]
    assert replay(recorded(tracker_run.store, "weighted")).equal


def test_recorded_class_and_static_methods(tracker_run: tracker.Run) -> None:
    """The recorded source of a class or static method is bound as it was: to the class, or to nothing."""
    steps.Trainer.kept_default([1.0])
    steps.Trainer.kept_normalize([1.0, 2.0])
    assert replay(recorded(tracker_run.store, "Trainer.kept_default"), code="recorded").equal
    assert replay(recorded(tracker_run.store, "Trainer.kept_normalize"), code="recorded").equal
    by_instance = replay(recorded(tracker_run.store, "Trainer.kept_default"), code="recorded",
                         instance=steps.Trainer(1.0))  # fmt: skip
    assert by_instance.equal


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("def kept(data, offset=1.0:\n    return data\n", "its recorded source does not parse"),
        ("x = 1\n", "its recorded source is not a function definition"),
    ],
)
def test_recorded_source_that_does_not_compile(tracker_run: tracker.Run, source: str, message: str) -> None:
    """Source that cannot be compiled into a function is a ReplayError, even when its hash matches."""
    import hashlib

    steps.kept([1.0])
    original = recorded(tracker_run.store, "kept")
    original.custom_properties["tracker_source"] = source
    original.custom_properties["tracker_source_sha256"] = hashlib.sha256(source.encode()).hexdigest()
    tracker_run.store.put_executions([original])
    with pytest.raises(ReplayError, match=message):
        replay(original, code="recorded")


def test_steps_that_are_gone_or_broken(
    tracker_run: tracker.Run, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A name that is no longer callable, a module that fails to import, a method an object lacks."""
    store = tracker_run.store
    steps.load(day=1)
    original = recorded(store, "load")
    monkeypatch.setattr(steps, "load", 42)
    with pytest.raises(ReplayError, match=r"testing_steps\.load is not callable now"):
        replay(original)
    (tmp_path / "broken_steps_module.py").write_text("import no_such_dependency_anywhere\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    original.custom_properties["tracker_module"] = "broken_steps_module"
    store.put_executions([original])
    with pytest.raises(ReplayError, match="importing broken_steps_module raised ModuleNotFoundError"):
        replay(original)
    steps.Trainer(1.0).fit([1.0])
    with pytest.raises(ReplayError, match="Model has no method 'fit'"):
        replay(recorded(store, "Trainer.fit"), instance=steps.Model([1.0]))


def test_a_failing_async_step_replayed_from_async_code(
    tracker_run: tracker.Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An exception raised on the replay's own event loop thread comes back as the replay's error."""
    asyncio.run(steps.fetch([1.0]))
    original = recorded(tracker_run.store, "fetch")

    @tracker.step(name="fetch")
    async def fetch(data: list[float], delay: float = 0.0) -> list[float]:
        raise TimeoutError("slow today")

    monkeypatch.setattr(steps, "fetch", fetch)

    async def from_async_code() -> Exception | None:
        return replay(original).error

    assert isinstance(asyncio.run(from_async_code()), TimeoutError)


def test_an_async_generator_closed_early_is_replayed_as_far(tracker_run: tracker.Run) -> None:
    """An async generator closed after one item is replayed for one item."""

    async def first() -> float:
        stream = steps.stream([5.0, 6.0, 7.0])
        item = await stream.__anext__()
        await stream.aclose()
        return item

    assert asyncio.run(first()) == 5.0
    result = replay(recorded(tracker_run.store, "stream"))
    assert result.equal and list(result.outputs) == ["yield[0]"]


def test_a_recorded_output_without_a_stored_value_is_a_difference(tracker_run: tracker.Run) -> None:
    """An output whose value is gone cannot be compared: the replay says so rather than pass."""
    store = tracker_run.store
    steps.train([float(i) for i in range(20_000)])  # the model is large too: a file
    original = recorded(store, "train")
    (output,) = [e for e in store.get_events_by_execution_ids([original.id]) if e.type.name == "OUTPUT"]  # type: ignore[list-item]
    (artifact,) = store.get_artifacts_by_id([output.artifact_id])
    Path(urlparse(artifact.uri or "").path).unlink()
    (found,) = replay(original).differences
    assert (found.kind, found.path) == ("unstored", "output")
    assert found.detail.startswith("the recorded output has no stored value: no stored value blake3:")


def test_a_module_that_raises_on_import(
    tracker_run: tracker.Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A step module that fails to import is a ReplayError naming what it raised."""
    steps.load(day=1)
    original = recorded(tracker_run.store, "load")
    (tmp_path / "raising_steps_module.py").write_text("raise RuntimeError('configuration missing')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    original.custom_properties["tracker_module"] = "raising_steps_module"
    tracker_run.store.put_executions([original])
    with pytest.raises(
        ReplayError, match=r"importing raising_steps_module raised RuntimeError\('configuration missing'\)"
    ):
        replay(original)


def test_a_recorded_class_method_of_a_class_that_cannot_be_imported(tracker_run: tracker.Run) -> None:
    """The recorded source of a class method needs its class: from the instance given, or by import."""

    class Local:
        @tracker.step(keep_source=True)
        @classmethod
        def make(cls, data: list[float]) -> list[float]:
            return list(data)

    Local.make([1.0])
    original = recorded(tracker_run.store, Local.make.__qualname__)
    with pytest.raises(ReplayError, match=r"its class .*Local cannot be imported; pass instance="):
        replay(original, code="recorded")
    assert replay(original, code="recorded", instance=Local()).equal


def test_a_replay_into_another_store_stays_out_of_the_current_run(tracker_run: tracker.Run, tmp_path: Path) -> None:
    """Replaying an execution of another store from inside a run: its replay run is a run of that store alone,
    and the caller's run stays current."""
    import contextvars

    from tracker.testing import StoreTemplate

    other = StoreTemplate(tmp_path).new(tmp_path / "other.sqlite")

    def record_elsewhere() -> None:  # outside the current run: a context of its own
        with tracker.run("elsewhere", store=other, values=ValueStore(tmp_path / "values")):
            steps.load(day=7)

    contextvars.Context().run(record_elsewhere)
    try:
        result = replay(recorded(other, "load"), store=other)
        assert result.equal and tracker.current_run() is tracker_run
        (context,) = other.get_contexts_by_execution(result.replay_id)  # type: ignore[arg-type]
        assert context.name.startswith("replay of execution")
        assert other.get_parent_contexts_by_context(context.id) == []  # type: ignore[arg-type]
        assert tracker_run.store.get_executions() == []
    finally:
        other.close()
