"""``replay``: run a recorded execution again on its recorded inputs, and compare the outputs with the record.

The replay is recorded like any call of the step, as a new execution in a run named ``replay of execution
<id>``; both carry the custom property ``tracker_replay_of`` (the replayed execution's id), so a replay can
never pass for the original: lineage assertions skip replays, and a filter finds or leaves them out
(``custom_properties.tracker_replay_of.int_value IS NULL``). The replayed execution is only read.
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from os import PathLike
from typing import Any

from tracker.errors import (
    InvalidArgumentError,
    NotFoundError,
    OutputMismatchError,
    ReplayError,
    ValueIntegrityError,
    ValueStoreError,
)
from tracker.sdk import _describe, _state, runs
from tracker.sdk.load import load
from tracker.sdk.record import mark_next_call
from tracker.sdk.runs import current_run
from tracker.sdk.runs import run as start_run
from tracker.sdk.step import spec_of
from tracker.sdk.step import step as make_step
from tracker.store import Artifact, Event, EventType, Execution, ExecutionState, Store
from tracker.testing._calling import Code, Outcome, arguments, describe, find_step, invoke, label
from tracker.testing._diff import Difference, diff, short
from tracker.values import ValueStore

#: The custom property that marks an execution (and its run) as a replay: the id of the execution replayed.
REPLAY_OF = "tracker_replay_of"
#: States of executions that can be replayed: they ended, with outputs or with an exception.
REPLAYABLE = (ExecutionState.COMPLETE, ExecutionState.CACHED, ExecutionState.FAILED)


@dataclass(frozen=True)
class _Unstored:
    """A recorded output that has no stored value to compare with."""

    reason: str


@dataclass
class ReplayResult:
    """A replay's outputs next to the recorded ones: equal, or a list of differences.

    Attributes:
        execution: the execution that was replayed (as recorded; it is never changed).
        replay_id: the id of the execution that records the replay (None if tracking could not record it).
        code: ``"current"`` or ``"recorded"``: which code ran.
        recorded: the recorded outputs, by output path (``"output"``, ``"model"``, ``"yield[2]"``).
        outputs: the replay's outputs, by the same paths.
        error: the exception the replay raised, if it raised.
        differences: where the replay differs from the record; empty when it matches.

    .. versionadded:: 0.1
    """

    execution: Execution
    replay_id: int | None
    code: Code
    recorded: dict[str, Any]
    outputs: dict[str, Any]
    error: Exception | None
    differences: list[Difference]
    rtol: float = 1e-7
    atol: float = 0.0

    @property
    def equal(self) -> bool:
        """Whether the replay matches the record: the same outputs (within tolerance), or the same exception."""
        return not self.differences

    def assert_equal(self) -> None:
        """Raise OutputMismatchError, listing every difference, unless the replay matches the record."""
        __tracebackhide__ = True  # pytest shows the test's line, not this one
        if self.differences:
            raise OutputMismatchError(str(self), self.differences)

    def __str__(self) -> str:
        what = f"replay of {describe(self.execution)} with the {self.code} code"
        where = f" (recorded as execution {self.replay_id})" if self.replay_id is not None else ""
        tolerance = f"rtol={self.rtol:g}, atol={self.atol:g}"
        if not self.differences:
            outcome = f"raised {exception_name(self.error)} as recorded" if self.error else (
                f"{len(self.outputs)} output(s) equal to the record within {tolerance}")  # fmt: skip
            return f"{what}{where}: {outcome}"
        count = len(self.differences)
        lines = [f"{what}{where} differs from the record in {count} place{'s' * (count != 1)} ({tolerance}):"]
        lines += [f"  {d}" for d in self.differences]
        return "\n".join(lines)


def replay(
    execution: Execution | int,
    *,
    store: Store | None = None,
    values: ValueStore | str | PathLike[str] | None = None,
    step: Callable[..., Any] | None = None,
    instance: object = None,
    code: Code = "current",
    inputs: Mapping[str, Any] | None = None,
    rtol: float = 1e-7,
    atol: float = 0.0,
) -> ReplayResult:
    """Run a recorded execution again, on its recorded inputs, and compare its outputs with the recorded ones.

    The inputs are loaded from the value store and checked against their fingerprints first; the step is
    then called as it is today (found by the module and name it was recorded under), or with the code
    recorded with it (``code="recorded"``, for steps decorated with ``keep_source=True``). Coroutine steps
    are awaited in an event loop of their own; generator steps are run to their end. An exception the step
    raises is part of the result, not raised: it matches the record when the recorded execution failed with
    the same type of exception.

    The replay is recorded as a new execution of the step, in a run named ``replay of execution <id>``
    (inside the current run when that run records into *store*); both carry the custom property
    ``tracker_replay_of`` with the replayed execution's id, so it never passes for the original.

    Args:
        execution: the recorded execution, or its id.
        store: the store that holds it, where the replay is recorded too (default: the current run's, else
            the default store).
        values: where its values are stored, when not where their URIs say (a golden store moved with its
            repository).
        step: the code to run instead of the recorded step's current code (a step defined elsewhere, or
            under another name); with *instance*, it is bound to it.
        instance: the object to call a method step on (its method as the object has it today).
        code: ``"current"`` (default) or ``"recorded"``.
        inputs: values to pass instead of recorded ones, by parameter name (an input that could not be
            stored, say); the replay records their names in ``tracker_replay_inputs``.
        rtol: relative tolerance for floating-point outputs (as ``numpy.isclose``).
        atol: absolute tolerance for floating-point outputs.

    Returns:
        The comparison; ``result.equal`` says whether it matches, ``result.assert_equal()`` raises if not.

    Raises:
        ReplayError: the execution did not end, was not recorded by a step, or its step or an input cannot be
            found.
        ValueIntegrityError: an input's (or recorded output's) stored bytes no longer match its fingerprint.
        NotFoundError: no execution with that id.

    Example::

        result = tracker.testing.replay(execution_id)
        result.assert_equal()          # OutputMismatchError: model.weights[3]: expected 0.25, got 0.5 ...

    .. versionadded:: 0.1
    """
    if code not in ("current", "recorded"):
        raise InvalidArgumentError(f"code must be 'current' or 'recorded', not {code!r}")
    if code == "recorded" and step is not None:
        raise InvalidArgumentError("step= gives the code to run, code='recorded' asks for the recorded one: pass one")
    target_store = store or _current_store()
    original = fetch(target_store, execution)
    reader = ValueStore(values) if isinstance(values, (str, PathLike)) else values
    events = target_store.get_events_by_execution_ids([original.id])  # type: ignore[list-item]
    found = target_store.get_artifacts_by_id(sorted({e.artifact_id for e in events}))
    artifacts = {a.id: a for a in found if a.id is not None}
    called = find_step(original, step, instance, code)
    overrides = dict(inputs or {})
    args, kwargs = arguments(original, called, [e for e in events if e.type is EventType.INPUT], artifacts, reader,
                             overrides)  # fmt: skip
    recorded = recorded_outputs(original, [e for e in events if e.type is EventType.OUTPUT], artifacts, reader)
    if spec_of(called) is None:  # plain code (recorded, or given): record it as the step it replays
        names = _output_names(events) if code == "recorded" else None
        step_name = str(original.custom_properties.get("tracker_step") or original.type)
        called = make_step(name=step_name, type_name=original.type, outputs=names)(called)
    facts: dict[str, Any] = {REPLAY_OF: original.id, "tracker_replay_code": code}
    if code == "recorded":
        facts.update({k: original.custom_properties[k] for k in ("tracker_function", "tracker_source_sha256")
                      if k in original.custom_properties})  # fmt: skip
    if overrides:
        facts["tracker_replay_inputs"] = ", ".join(sorted(overrides))
    outcome, error, replay_id, metrics = run_recorded(target_store, original, called, args, kwargs, facts)
    outputs = _outputs(outcome, called, metrics)
    differences = _differences(original, recorded, outputs, outcome, error, rtol, atol)
    return ReplayResult(original, replay_id, code, recorded, outputs, error, differences, rtol, atol)


def fetch(store: Store, execution: Execution | int) -> Execution:
    """The stored execution (by id, or fresh from the store), if it can be replayed.

    Raises:
        NotFoundError: no such execution.
        ReplayError: it has not ended (RUNNING, NEW) or was canceled.
    """
    execution_id = execution.id if isinstance(execution, Execution) else execution
    if not isinstance(execution_id, int) or isinstance(execution_id, bool):
        raise InvalidArgumentError(f"replay takes an Execution or an execution id, not {execution!r}")
    found = store.get_executions_by_id([execution_id])
    if not found:
        raise NotFoundError(f"no execution with id {execution_id} in {store.url}")
    original = found[0]
    if original.last_known_state not in REPLAYABLE:
        raise ReplayError(
            f"cannot replay {describe(original)}: it is {original.last_known_state.name}; only executions that "
            "ended (COMPLETE, CACHED or FAILED) have outputs or an exception to compare with"
        )
    return original


def _current_store() -> Store:
    current = current_run()
    return current.store if current is not None else _state.default_store()


def recorded_outputs(
    execution: Execution, events: list[Event], artifacts: Mapping[int, Artifact], values: ValueStore | None
) -> dict[str, Any]:
    """The recorded outputs of *execution* by path, loaded and verified (an _Unstored where there is no value)."""
    found: dict[str, Any] = {}
    for event in events:
        artifact = artifacts[event.artifact_id]
        path = label(event.path)
        try:
            found[path] = load(artifact, values=values)
        except ValueIntegrityError as exc:
            raise ValueIntegrityError(
                f"cannot replay {describe(execution)}: its recorded output {path} ({artifact.type} #{artifact.id}) "
                f"was changed after it was recorded, so it was not loaded: {exc}"
            ) from exc
        except ValueStoreError as exc:
            found[path] = _Unstored(str(exc))
    return found


def _output_names(events: list[Event]) -> tuple[str, ...] | None:
    """The output names a step declared, as its recorded output paths show them (None for the defaults)."""
    names = [str(e.path[0]) for e in events if e.type is EventType.OUTPUT and e.path and isinstance(e.path[0], str)]
    names = [n for n in dict.fromkeys(names) if n not in ("output", "yield", "metrics")]
    return tuple(names) or None


def run_recorded(
    store: Store, original: Execution, called: Callable[..., Any], args: list[Any], kwargs: dict[str, Any],
    facts: dict[str, Any],
) -> tuple[Outcome, Exception | None, int | None, dict[str, float]]:  # fmt: skip
    """Call *called* in a replay run of *store*, its execution marked with *facts*.

    Returns what it gave, what it raised, the id of its execution and the metrics it logged.
    """
    current = current_run()
    # inside the current run when it records into the same store; else on its own, outside any run. Either
    # way in a copy of the caller's context: its other context variables are the step's too.
    detached = current is not None and current.store is not store
    return contextvars.copy_context().run(_in_replay_run, store, original, called, args, kwargs, facts, detached)


class _Raised(Exception):
    """The step raised: the replay run is marked failed, and the exception handed back."""


def _in_replay_run(
    store: Store, original: Execution, called: Callable[..., Any], args: list[Any], kwargs: dict[str, Any],
    facts: dict[str, Any], detached: bool,
) -> tuple[Outcome, Exception | None, int | None, dict[str, float]]:  # fmt: skip
    if detached:
        runs._current_run.set(None)  # this context is a copy, dropped on return: the caller's run is untouched
    token = _state.enabled.set(True)  # a replay is recorded, even where tracking is switched off
    limit = _closed_early_at(original)
    outcome, error = Outcome(), None
    try:
        name = f"replay of execution {original.id}"
        with start_run(name, store=store, properties={REPLAY_OF: original.id}), mark_next_call(facts) as mark:
            try:
                outcome = invoke(called, args, kwargs, limit)
            except Exception as exc:
                error = exc
                raise _Raised from exc
    except _Raised:
        pass
    finally:
        _state.enabled.reset(token)
    recording = mark.recording
    replay_id = recording.execution_id if recording is not None else None
    metrics = dict(recording.logged_metrics) if recording is not None else {}
    return outcome, error, replay_id, metrics


def _closed_early_at(original: Execution) -> int | None:
    """How many items a generator step yielded before it was closed, if it was closed early."""
    facts = original.custom_properties
    count = facts.get("tracker_yielded", 0)
    return int(count) if facts.get("tracker_closed_early") and isinstance(count, int) else None


def _outputs(outcome: Outcome, called: Callable[..., Any], metrics: dict[str, float]) -> dict[str, Any]:
    spec = spec_of(called)
    found = {label(["yield", i]): item for i, item in enumerate(outcome.yielded)}
    for path, value in _describe.split_outputs(outcome.returned, spec.outputs if spec else None):
        found[label(path)] = value
    if metrics:
        found["metrics"] = metrics
    return found


def _differences(
    original: Execution, recorded: dict[str, Any], outputs: dict[str, Any], outcome: Outcome,
    error: Exception | None, rtol: float, atol: float,
) -> list[Difference]:  # fmt: skip
    facts = original.custom_properties
    if original.last_known_state is ExecutionState.FAILED:
        expected = str(facts.get("tracker_error_type", "an exception"))
        said = f"{expected}: {short(facts.get('tracker_error_message', ''))}"
        if error is None:
            return [Difference("output", "error", said, f"no exception ({len(outputs)} output(s))")]
        if exception_name(error) != expected:
            return [Difference("output", "error", said, f"{exception_name(error)}: {short(str(error))}")]
        return []
    if error is not None:
        return [Difference("output", "error", "a result", f"{exception_name(error)}: {short(str(error))}",
                           "the replay raised; the recorded execution completed")]  # fmt: skip
    found: list[Difference] = []
    yielded = facts.get("tracker_yielded")
    if isinstance(yielded, int) and yielded != outcome.count:
        found.append(Difference("yield", "length", f"{yielded} items", f"{outcome.count}"))
    for path, expected in recorded.items():
        if path not in outputs:
            found.append(Difference(path, "missing", short(expected), "nothing"))
        elif isinstance(expected, _Unstored):
            found.append(Difference(path, "unstored", "a stored value", short(outputs[path]),
                                    f"the recorded output has no stored value: {expected.reason}"))  # fmt: skip
        else:
            found += diff(expected, outputs[path], rtol=rtol, atol=atol, path=path)
    found += [Difference(path, "extra", "nothing", short(v)) for path, v in outputs.items() if path not in recorded]
    return found


def exception_name(error: BaseException | None) -> str:
    """``builtins.ValueError``: an exception's type as executions record it (``tracker_error_type``)."""
    cls = type(error)
    return f"{cls.__module__}.{cls.__qualname__}"
