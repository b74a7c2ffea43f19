"""Recording one call of a step: its execution, inputs and outputs, in two transactions.

When the body starts: the execution (RUNNING, with the parameters and the
code and environment facts), the input artifacts and their INPUT events, and
the link to the run. When it ends: the outputs with their OUTPUT events, the
final state and the run links, in one transaction. Values in files are on the
disk before either commits (see ``tracker.values``). When the end cannot be
recorded, a write of its own marks the execution FAILED, saying why, so no
execution is left with half its events. A failure of tracking itself goes
through the error policy (``tracker.configure(on_error=...)``, a TrackingError
or its warning); the user's result and exceptions always reach the caller
unchanged.
"""

from __future__ import annotations

import contextlib
import inspect
import typing
import uuid
import warnings
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from tracker.errors import TrackerWarning, TrackingError, ValueWriteError
from tracker.sdk import _describe, _env, _liveness, _redact, _state
from tracker.sdk import cache as cache_
from tracker.sdk.runs import Run, run_for
from tracker.store import (
    Artifact,
    ArtifactBaseType,
    ArtifactState,
    ArtifactType,
    Event,
    EventType,
    Execution,
    ExecutionState,
    ExecutionType,
    PropertyType,
    ProtoValue,
    Store,
)

#: Values up to this many serialized bytes are kept inline, in a custom property, rather than in a file.
INLINE_BYTES = 64 * 1024
INLINE_PROPERTY = "tracker_value"
INLINE_TYPE_URL = "type.tracker.dev/tracker.PickledValue"

#: Why an artifact was recorded without its value (it could not be serialized, or it holds a secret).
UNSTORED_PROPERTY = "tracker_unstored_reason"

#: Each execution's external id: this prefix and a random UUID (32 hex digits).
EXTERNAL_ID_PREFIX = "tracker:"

#: At most this many items a generator step yields are recorded as outputs.
MAX_YIELDED = 1000

_current_call: ContextVar[Recording | None] = ContextVar("tracker.current_call", default=None)
_mark: ContextVar[Mark | None] = ContextVar("tracker.mark", default=None)


@dataclass
class StepSpec:
    """What a decorated function records, fixed when it is decorated."""

    func: Callable[..., Any]
    name: str
    type_name: str
    outputs: tuple[str, ...] | None = None
    output_types: dict[str, str] = field(default_factory=dict)
    params: frozenset[str] = frozenset()
    artifacts: frozenset[str] = frozenset()
    store: Store | None = None
    keep_source: bool = False
    #: True, False, a tracker.Cache, or None for the project's default (``tracker.configure(cache=...)``)
    cache: bool | cache_.Cache | None = None
    #: "function", "coroutine", "generator" or "asyncgen"
    kind: str = "function"
    signature: inspect.Signature = field(init=False)
    bound_signature: inspect.Signature = field(init=False)
    declared: dict[str, PropertyType] = field(init=False)

    def __post_init__(self) -> None:
        self.signature = inspect.signature(self.func)
        self.bound_signature = self.signature.replace(parameters=list(self.signature.parameters.values())[1:])
        try:
            hints = typing.get_type_hints(self.func)
        except Exception:
            hints = {n: p.annotation for n, p in self.signature.parameters.items()}
        self.declared = {}
        for name, parameter in self.signature.parameters.items():
            kind = _describe.property_kind(hints.get(name, parameter.annotation))
            if kind is not None and name not in self.artifacts and parameter.kind not in (
                parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):  # fmt: skip
                self.declared[name] = kind


class Recording:
    """The records of one call, written as it starts and as it ends."""

    def __init__(self, spec: StepSpec, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        self.spec = spec
        self.active = False
        self.logged_params: dict[str, Any] = {}
        self.logged_metrics: dict[str, float] = {}
        self._instance, self._args, self._kwargs = instance, args, kwargs
        self._yielded: list[Any] = []
        self._yield_count = 0
        self._run: Run | None = None
        self._execution: Execution | None = None
        self._policy: cache_.Cache | None = None
        #: (the result,) when a cache hit made running the body unnecessary
        self.reused: tuple[Any] | None = None

    # --- the start ---

    @property
    def execution_id(self) -> int | None:
        """The id of the execution recording this call, once its start is recorded."""
        return self._execution.id if self._execution is not None else None

    def begin(self) -> None:
        if not _state.enabled.get():
            return  # tracking is off here (tracker.testing.no_tracking): the call runs unrecorded
        try:
            self._begin()
        except Exception as exc:
            # One transaction wrote the start, so nothing of this call is recorded (values stored for its inputs
            # are files no record names: harmless, and reused by content later).
            _state.report(self._error(f"the start of step {self.spec.name!r} (nothing of this call is recorded)", exc))

    def _begin(self) -> None:
        spec = self.spec
        run = self._run = run_for(spec.store)
        store = run.store
        int_bits = store.int_bits
        _state.ensure_type(store, ExecutionType(spec.type_name, dict(spec.declared)))
        properties: dict[str, Any] = {}
        custom: dict[str, Any] = {**_env.process_facts(), **_env.source_facts(spec.func), "tracker_step": spec.name,
                                  _liveness.OWNER: _liveness.owner()}  # fmt: skip
        if spec.keep_source:
            source = _env.source_text(spec.func)
            if source is not None:
                custom["tracker_source"] = source
        mark = _mark.get()
        if mark is not None and mark.recording is None and mark.parent is _current_call.get():
            custom.update(mark.facts)  # this call is the one the mark is for (a replay)
            mark.recording = self
        inputs: list[tuple[list[str | int], Any]] = []
        for name, given in self._arguments():
            value = _describe.plain(given)
            if isinstance(name, tuple):  # an item of *args or **kwargs
                path: list[str | int] = list(name)
                label = "_".join(map(str, name))
            else:
                path, label = [name], name
            if name in spec.artifacts or not (name in spec.params or _describe.is_scalar(value)):
                inputs.append((path, given))
            elif value is not None:
                value = _redact.argument(name, label, value, custom)  # secret-looking: recorded redacted
                declared = spec.declared.get(name) if isinstance(name, str) else None
                if declared is not None and _describe.fits(value, declared, int_bits):
                    properties[label] = value
                else:
                    custom[label] = _describe.as_property(value, int_bits)
        # A unique external id lets the store recognise this execution if it has to write it again after a
        # COMMIT that may have gone through (a connection lost while committing): no second row.
        execution = Execution(type=spec.type_name, properties=properties, custom_properties=custom,
                              external_id=f"{EXTERNAL_ID_PREFIX}{uuid.uuid4().hex}",
                              last_known_state=ExecutionState.RUNNING)  # fmt: skip
        policy = self._policy = cache_.policy_for(spec)
        pairs, values, prints = self._artifacts(run, inputs, EventType.INPUT, verify=policy is not None)
        if policy is not None and self._cached(run, policy, execution, pairs, values, prints):
            return
        execution.id, ids, _ = store.put_execution(
            execution, pairs, [run.context_id], reuse_artifacts_by_external_id=True
        )
        self._execution = execution
        self.active = True
        self._remember(store, pairs, values, ids)  # only now: the cache never names a row a rollback took away
        _liveness.heartbeat.add(store, execution=execution.id, cancel=self._cancel)
        _liveness.watch_signals()

    def _cancel(self, reason: str) -> None:
        """Record CANCELED: a signal is ending the process while the body runs."""
        if self.active:
            facts = {"tracker_error_type": "signal", "tracker_error_message": reason}
            self._finish(ExecutionState.CANCELED, "the cancellation", lambda: ([], facts))

    def _cached(self, run: Run, policy: cache_.Cache, execution: Execution, pairs: list[tuple[Artifact | int, Event]],
                values: list[Any], prints: dict[str, str]) -> bool:  # fmt: skip
        """Add the cache key to *execution*; on a hit, record it CACHED with the reused outputs and return True."""
        spec, store = self.spec, run.store
        parts = cache_.key_parts(spec, policy, self._instance, self._arguments(), self._args, self._kwargs,
                                 lambda label, value: prints.get(label) or cache_.fingerprint_value(value))  # fmt: skip
        execution.custom_properties.update(parts.properties())
        if parts.key is None:
            warnings.warn(f"step {spec.name!r} ran without its cache: {parts.problem}", TrackerWarning, stacklevel=6)
            return False
        hit, why_not = cache_.find(store, run.values, spec.type_name, parts.key, policy)
        if hit is None:
            if why_not:
                execution.custom_properties[cache_.MISS] = why_not[:10_000]
            return False
        execution.last_known_state = ExecutionState.CACHED
        execution.custom_properties.update(cache_.copied_properties(hit.source, spec, execution.custom_properties))
        execution.custom_properties[cache_.CACHED_FROM] = int(hit.source.id or 0)
        outputs: list[tuple[Artifact | int, Event]] = [
            (int(a.id or 0), Event(type=EventType.OUTPUT, path=path)) for a, path, _ in hit.outputs
        ]
        execution.id, ids, _ = store.put_execution(execution, [*pairs, *outputs], [run.context_id],
                                                   reuse_artifacts_by_external_id=True)  # fmt: skip
        self._remember(store, pairs, values, ids[: len(pairs)])
        for artifact, _, value in hit.outputs:
            size = artifact.custom_properties.get("tracker_size")
            known = _state.Known(int(artifact.id or 0), artifact.external_id, size if isinstance(size, int) else None)
            _state.artifacts.put(store, value, known)
        self._execution = execution
        self.reused = (hit.result,)
        return True

    def _arguments(self) -> Iterator[tuple[str | tuple[str, str | int], Any]]:
        """(name, value) of each bound argument, defaults applied; *args and **kwargs item by item."""
        # wrapt passes the instance (or class) of a method call apart from args, however it was called
        signature = self.spec.signature if self._instance is None else self.spec.bound_signature
        bound = signature.bind(*self._args, **self._kwargs)
        bound.apply_defaults()
        for name, value in bound.arguments.items():
            parameter = signature.parameters[name]
            if parameter.kind is parameter.VAR_POSITIONAL:
                yield from (((name, i), item) for i, item in enumerate(value))
            elif parameter.kind is parameter.VAR_KEYWORD:
                yield from (((name, key), item) for key, item in value.items())
            else:
                yield name, value

    # --- values to artifacts ---

    def _artifacts(
        self, run: Run, items: list[tuple[list[str | int], Any]], event_type: EventType, *, verify: bool = False
    ) -> tuple[list[tuple[Artifact | int, Event]], list[Any], dict[str, str]]:
        """(artifact or id, event) pairs for values, one per distinct artifact, the values in that order, and the
        fingerprint of each stored value by its label (path parts joined by "_").

        With *verify*, a value linked by identity is fingerprinted again even when large (caching needs it).
        """
        pairs: list[tuple[Artifact | int, Event]] = []
        kept: list[Any] = []
        prints: dict[str, str] = {}
        seen: set[object] = set()
        for path, value in items:
            artifact, fingerprint = self._artifact(run, value, path, event_type, verify)
            if fingerprint is not None:
                prints["_".join(map(str, path))] = fingerprint
            key = artifact if isinstance(artifact, int) else artifact.external_id or id(value)
            if key in seen:
                continue  # one event per artifact and direction, as MLMD requires
            seen.add(key)
            pairs.append((artifact, Event(type=event_type, path=path)))
            kept.append(value)
        return pairs, kept, prints

    def _artifact(self, run: Run, value: Any, path: list[str | int], event_type: EventType,
                  verify: bool = False) -> tuple[Artifact | int, str | None]:  # fmt: skip
        """The artifact to record *value* as (an id when it is stored already), and its fingerprint if stored."""
        store = run.store
        known = _state.artifacts.get(store, value)
        if known is not None and _unchanged(run, value, known, verify):
            return known.artifact_id, known.fingerprint  # passed on from an earlier step: link, don't store again
        type_name, base_type = _describe.artifact_type_of(value)
        chosen = self.spec.output_types.get(str(path[0])) if event_type is EventType.OUTPUT else None
        if chosen is not None:
            type_name, base_type = chosen, ArtifactBaseType.UNSET
        _state.ensure_type(store, ArtifactType(type_name, base_type=base_type))
        custom = _describe.describe(value)
        if type_name == _describe.METRICS_TYPE and _describe.is_metrics(value):
            custom = {"tracker_python_type": custom["tracker_python_type"], **_describe.metrics_properties(value)}
        secret = _secret_in(path, value)
        if secret is not None:  # kept out of the value store and the database: recorded without its value
            custom = _describe.describe(value)  # not a metrics dict's items: a key may be the secret
            custom[UNSTORED_PROPERTY] = _redact.MARKER.format(f"the value holds a secret, {secret}")
            _redact.note(custom, "value")
            return Artifact(type=type_name, custom_properties=custom, state=ArtifactState.LIVE), None
        try:
            stored = run.values.put(value, inline_limit=INLINE_BYTES)
        except ValueWriteError:
            raise  # the value store failed (a full disk, an I/O error), not the value: the step is not recorded
        except Exception as exc:  # the value cannot be serialized: recorded without a value, saying why
            reason = f"{type(exc).__name__}: {exc}"[:1000]
            warnings.warn(
                f"step {self.spec.name!r}: {'/'.join(map(str, path))} ({type(value).__name__}) could not be "
                f"stored ({reason}); it is recorded without a value",
                TrackerWarning,
                stacklevel=6,
            )
            custom[UNSTORED_PROPERTY] = reason
            return Artifact(type=type_name, custom_properties=custom, state=ArtifactState.LIVE), None
        custom.update(tracker_size=stored.size, tracker_serializer=stored.serializer, tracker_value_mac=stored.mac)
        if stored.inline is not None:  # small: kept in the store, committed with the records, no file
            custom[INLINE_PROPERTY] = ProtoValue(INLINE_TYPE_URL, stored.inline)
        artifact = Artifact(type=type_name, uri=stored.uri, external_id=stored.fingerprint, state=ArtifactState.LIVE,
                            custom_properties=custom)  # fmt: skip
        return artifact, stored.fingerprint

    @staticmethod
    def _remember(store: Store, pairs: list[tuple[Artifact | int, Event]], values: list[Any], ids: list[int]) -> None:
        for (artifact, _), value, artifact_id in zip(pairs, values, ids, strict=True):
            if isinstance(artifact, Artifact):
                size = artifact.custom_properties.get("tracker_size")
                known = _state.Known(artifact_id, artifact.external_id, size if isinstance(size, int) else None)
                _state.artifacts.put(store, value, known)

    # --- the end ---

    def yielded(self, item: Any) -> Any:
        """Note an item a generator step yielded (the first MAX_YIELDED become outputs)."""
        if self.active and self._yield_count < MAX_YIELDED:
            self._yielded.append(item)
        self._yield_count += 1
        return item

    def returned(self, result: Any) -> Any:
        """Record the outputs and COMPLETE; hand *result* back untouched."""
        if self.active:

            def outcome() -> tuple[list[tuple[list[str | int], Any]], dict[str, Any]]:
                outputs: list[tuple[list[str | int], Any]] = [(["yield", i], x) for i, x in enumerate(self._yielded)]
                outputs += _describe.split_outputs(result, self.spec.outputs)
                return outputs, self._result_facts(result)

            self._finish(ExecutionState.COMPLETE, "the outputs", outcome)
        return result

    def _result_facts(self, result: Any) -> dict[str, Any]:
        """For a cached step: how to rebuild *result* from its outputs, or why it cannot be reused."""
        if self._policy is None or cache_.KEY not in self._execution_facts():
            return {}
        try:
            return {cache_.RESULT: cache_.result_shape(result, self.spec.outputs)}
        except cache_.NotCacheable as exc:
            reason = f"the result cannot be reused: {exc}"
            warnings.warn(f"step {self.spec.name!r}: {reason}", TrackerWarning, stacklevel=6)
            return {cache_.PROBLEM: reason}

    def _execution_facts(self) -> dict[str, Any]:
        return self._execution.custom_properties if self._execution is not None else {}

    def failed(self, exc: BaseException) -> None:
        """Record FAILED (CANCELED for KeyboardInterrupt) with the exception's type and message."""
        if not self.active:
            return
        state = ExecutionState.CANCELED if isinstance(exc, KeyboardInterrupt) else ExecutionState.FAILED
        facts = {"tracker_error_type": f"{type(exc).__module__}.{type(exc).__qualname__}",
                 "tracker_error_message": str(exc)[:10_000]}  # fmt: skip
        self._finish(state, "the failure", lambda: ([], facts))

    def closed(self) -> None:
        """A generator step closed before it was exhausted: COMPLETE, with what it yielded so far."""
        if self.active:
            self.logged_params["tracker_closed_early"] = True
            self.returned(None)

    def _finish(self, state: ExecutionState, what: str,
                outcome: Callable[[], tuple[list[tuple[list[str | int], Any]], dict[str, Any]]]) -> None:  # fmt: skip
        """Record the end: *outcome()* gives the outputs and the facts to add. If that cannot be recorded, the
        execution is marked FAILED instead (when the database answers), and the error policy applies."""
        assert self._run is not None and self._execution is not None
        self.active = False
        run, execution = self._run, self._execution
        begun = dict(execution.custom_properties)  # as the start recorded them: _write_end adds to them
        facts: dict[str, Any] = {}
        try:
            outputs, facts = outcome()
            self._write_end(run, execution, state, outputs, facts)
        except Exception as exc:
            recorded = self._mark_unrecorded(run, execution, begun, state, facts, exc)
            _state.report(self._error(f"{what} of step {self.spec.name!r}", exc, recorded))
        finally:
            _liveness.heartbeat.remove(run.store, execution=execution.id)

    def _mark_unrecorded(self, run: Run, execution: Execution, begun: dict[str, Any], state: ExecutionState,
                         facts: dict[str, Any], cause: Exception) -> str:  # fmt: skip
        """After the end of the call could not be recorded: mark its execution FAILED (a FAILED or CANCELED end
        keeps its state and error) with the reason, in a write of its own with no outputs, and say what it left.

        The end wrote nothing (one transaction), so the execution holds its inputs and no output. It is
        marked only while still RUNNING: a write whose COMMIT went through after all is left as it is.
        """
        reason = _state.why(cause)
        properties = dict(begun)
        if state is ExecutionState.COMPLETE:
            state = ExecutionState.FAILED
            extra = {"tracker_error_type": TRACKING_ERROR_TYPE,
                     "tracker_error_message": f"tracker could not record the outputs: {reason}"}  # fmt: skip
        else:
            extra = {**facts, TRACKING_ERROR_PROPERTY: f"tracker could not record the end: {reason}"}
        properties.update(_redact.properties(extra, properties))
        marked = Execution(id=execution.id, type=execution.type, name=execution.name, external_id=execution.external_id,
                           properties=dict(execution.properties), custom_properties=properties,
                           last_known_state=state)  # fmt: skip
        store = run.store
        try:
            (now,) = store.get_executions_by_id([int(execution.id or 0)])
            if now.last_known_state is not ExecutionState.RUNNING:
                return f"its execution {execution.id} is {now.last_known_state.name} already"
            store.put_executions([marked])
        except Exception as exc:
            return (f"its execution {execution.id} stays RUNNING, with its inputs: it could not be marked FAILED "
                    f"either ({_state.why(exc)}); tracker.recover() marks it once this process has ended")  # fmt: skip
        return f"its execution {execution.id} is recorded {state.name}, with its inputs and no outputs"

    def _error(self, what: str, cause: Exception, recorded: str = "") -> TrackingError:
        """The TrackingError for a failure to record *what*, chained to its *cause*."""
        message = f"tracker could not record {what}: {_state.why(cause)}" + (f"; {recorded}" if recorded else "")
        error = TrackingError(message, self.spec.name, self.execution_id)
        error.__cause__ = cause
        return error

    def _write_end(self, run: Run, execution: Execution, state: ExecutionState,
                   outputs: list[tuple[list[str | int], Any]], facts: dict[str, Any]) -> None:  # fmt: skip
        if self.logged_metrics:
            outputs = [*outputs, (["metrics"], dict(self.logged_metrics))]
        pairs, values, _ = self._artifacts(run, outputs, EventType.OUTPUT)
        int_bits = run.store.int_bits
        execution.custom_properties.update(  # secret-looking params (and error messages) recorded redacted
            _redact.properties(
                {**{k: _describe.as_property(v, int_bits) for k, v in self.logged_params.items()}, **facts},
                execution.custom_properties,
            )
        )
        if self._yield_count:
            execution.custom_properties["tracker_yielded"] = self._yield_count
        execution.last_known_state = state
        _, ids, _ = run.store.put_execution(execution, pairs, [run.context_id], reuse_artifacts_by_external_id=True)
        self._remember(run.store, pairs, values, ids)


#: What a step's execution records as ``tracker_error_type`` when its outputs could not be recorded.
TRACKING_ERROR_TYPE = f"{TrackingError.__module__}.{TrackingError.__qualname__}"
#: Where a FAILED or CANCELED execution whose end could not be recorded in full says why.
TRACKING_ERROR_PROPERTY = "tracker_tracking_error"


#: Values up to this stored size are re-fingerprinted when passed on, so one changed in place is a new artifact.
RECHECK_BYTES = 1 << 20


def _secret_in(path: list[str | int], value: Any) -> str | None:
    """Where *value*, recorded at event *path* (its parameter or output name first), holds a secret, or None."""
    name = path[0] if path else None
    if isinstance(name, str) and value is not None and not isinstance(value, bool):
        reason = _redact.name_reason(name)
        if reason is not None:
            return f"{name!r}: {reason}"
    found = _redact.secret_in(value)
    return None if found is None else f"{'/'.join(map(str, path))}{found.removeprefix('the value')}"


def _unchanged(run: Run, value: Any, known: _state.Known, verify: bool = False) -> bool:
    """Whether a value seen before may link to its artifact: small stored values (all, with *verify*) must still
    serialize alike."""
    if known.fingerprint is None:
        return not verify  # not stored: identity decides, unless a cache key needs a fingerprint
    if not verify and (known.size is None or known.size > RECHECK_BYTES):
        return True  # large: identity decides (see docs/steps.md)
    try:
        return cache_.fingerprint_value(value) == known.fingerprint
    except Exception:
        return False


@contextlib.contextmanager
def record(spec: StepSpec, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Iterator[Recording]:
    """Record the call that runs inside the block; re-raise what it raises, unchanged."""
    recording = Recording(spec, instance, args, kwargs)
    recording.begin()
    token = _current_call.set(recording)
    try:
        yield recording
    except GeneratorExit:
        recording.closed()
        raise
    except BaseException as exc:
        recording.failed(exc)
        raise
    finally:
        _current_call.reset(token)


def current_call() -> Recording | None:
    """The step call the calling code runs in, if any."""
    return _current_call.get()


@dataclass(eq=False)
class Mark:
    """Custom properties for the next step call made directly in a block, and that call's recording."""

    facts: dict[str, Any]
    parent: Recording | None
    recording: Recording | None = None


@contextlib.contextmanager
def mark_next_call(facts: dict[str, Any]) -> Iterator[Mark]:
    """Add *facts* to the execution of the next step called directly in the block (not to steps it calls).

    This is how ``tracker.testing.replay`` marks the execution it records as a replay.
    """
    mark = Mark(dict(facts), _current_call.get())
    token = _mark.set(mark)
    try:
        yield mark
    finally:
        _mark.reset(token)
