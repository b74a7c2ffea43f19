"""Why a step call would (or did) reuse an earlier result, or not; and forgetting a step's cached results.

``tracker.explain_cache(step, *args, **kwargs)`` works the key out as the call
would, without running or recording anything, and compares it with what the
store holds: an execution with the same key that would be reused, or why none
is (failed, expired, invalidated, an output missing or changed), or else which
parts of the key differ from the step's latest recorded call: the code (which
function), an argument (which), the environment (which package), the salt.
"""

from __future__ import annotations

import datetime
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from tracker.errors import InvalidArgumentError, NotFoundError
from tracker.sdk import _state
from tracker.sdk import cache as cache_
from tracker.sdk.record import Recording, StepSpec
from tracker.sdk.runs import current_run
from tracker.store import Execution, ExecutionState, Store
from tracker.values import ValueStore

_COMPONENTS = {"step": "step", "code": "code", "args": "argument", "env": "environment", "extra": "salt"}


@dataclass(frozen=True)
class CacheDifference:
    """One part of a cache key that differs: *component* is "step", "code", "argument", "environment" or "salt"."""

    component: str
    name: str
    before: str | None
    after: str | None

    def __str__(self) -> str:
        if self.before is None:
            change = "added"
        elif self.after is None:
            change = "removed"
        elif self.component == "environment":
            change = f"{self.before} -> {self.after}"
        else:
            change = "changed"
        return f"{self.component} {self.name}: {change}"


@dataclass(frozen=True)
class CacheExplanation:
    """Whether a call is (or was) a cache hit, and why.

    Attributes:
        hit: the call reuses (or reused) the outputs of ``execution_id``.
        reason: one sentence on why.
        key: the call's cache key (None when it has none).
        execution_id: the execution reused, or the one compared with on a miss (None if there is none).
        differences: on a miss, the parts of the key that differ from ``execution_id``'s.
    """

    hit: bool
    reason: str
    key: str | None = None
    execution_id: int | None = None
    differences: tuple[CacheDifference, ...] = ()

    def __str__(self) -> str:
        lines = [("hit: " if self.hit else "miss: ") + self.reason + (":" if self.differences else "")]
        lines += [f"  {difference}" for difference in self.differences]
        return "\n".join(lines)


def explain_cache(step: Any, /, *args: Any, **kwargs: Any) -> CacheExplanation:
    """Explain whether calling ``step(*args, **kwargs)`` now would reuse an earlier result, without calling it.

    *step* is a decorated function, or a method of an instance (``model.fit``). The store
    asked is the step's own, else the current run's, else the default store.

    Raises:
        InvalidArgumentError: *step* is not a tracked step, or the arguments do not fit its signature.
    """
    from tracker.sdk.step import spec_of

    spec = spec_of(step)
    if spec is None:
        raise InvalidArgumentError(f"explain_cache takes a @tracker.step function, not {step!r}")
    policy = cache_.policy_for(spec)
    if policy is None:
        return CacheExplanation(False, f"caching is off for step {spec.name!r} (see docs/caching.md)")
    instance = getattr(step, "_self_instance", None)
    recording = Recording(spec, instance, args, kwargs)
    try:
        arguments = list(recording._arguments())
    except TypeError as exc:
        raise InvalidArgumentError(f"step {spec.name!r} cannot be called with these arguments: {exc}") from None
    parts = cache_.key_parts(spec, policy, instance, arguments, args, kwargs,
                             lambda _, value: cache_.fingerprint_value(value))  # fmt: skip
    store, values = _where(spec)
    return explain_parts(store, values, spec.type_name, parts.as_dict(), parts.key, parts.problem, policy)


def explain_execution(store: Store, execution_id: int, values: ValueStore | None = None) -> CacheExplanation:
    """Explain a recorded call: what it reused, or why it ran (against the executions of its step before it)."""
    found = store.get_executions_by_id([execution_id])
    if not found:
        raise NotFoundError(f"no execution with id {execution_id}")
    execution = found[0]
    props = execution.custom_properties
    parts, problem = props.get(cache_.PARTS), props.get(cache_.PROBLEM)
    key = props.get(cache_.KEY) or props.get(cache_.INVALIDATED_KEY)  # its own results may be forgotten since
    source = props.get(cache_.CACHED_FROM)
    if execution.last_known_state is ExecutionState.CACHED and isinstance(source, int):
        return CacheExplanation(True, f"it reused the outputs of execution {source}", _text(key), source)
    if not isinstance(parts, Mapping):
        return CacheExplanation(False, f"execution {execution_id} was recorded without caching")
    missed = props.get(cache_.MISS)
    explanation = explain_parts(store, values or _state.default_values(), str(execution.type), parts,
                                key if isinstance(key, str) else None, problem if isinstance(problem, str) else None,
                                cache_.Cache(), before=execution_id, verify=False)  # fmt: skip
    if isinstance(missed, str):
        return CacheExplanation(False, missed, explanation.key, explanation.execution_id, explanation.differences)
    return explanation


def explain_parts(
    store: Store,
    values: ValueStore,
    type_name: str,
    parts: Mapping[str, Any],
    key: str | None,
    problem: str | None,
    policy: cache_.Cache,
    *,
    before: int | None = None,
    verify: bool = True,
) -> CacheExplanation:
    """The explanation for a call of step type *type_name* with key *parts*, against the executions before *before*."""
    if problem is not None or key is None:
        return CacheExplanation(False, f"the call is not cacheable: {problem or 'it has no key'}")
    earlier = _earlier(store, f"custom_properties.{cache_.KEY}.string_value = '{key}'", type_name, before)
    problems: list[str] = []
    for execution in [e for e in earlier if e.last_known_state is ExecutionState.COMPLETE][: cache_.CANDIDATES]:
        age = policy.max_age_seconds
        if age is not None and (execution.create_time_since_epoch or 0) < (time.time() - age) * 1000:
            problems.append(f"execution {execution.id} has the same key but is older than max_age ({age:g} s)")
            continue
        if not verify:
            return CacheExplanation(True, f"execution {execution.id} has the same key", key, execution.id)
        try:
            cache_.reuse(store, values, execution)
        except cache_.NotCacheable as exc:
            problems.append(f"execution {execution.id} has the same key, but {exc}")
            continue
        return CacheExplanation(True, f"execution {execution.id} has the same key and its outputs verify", key,
                                execution.id)  # fmt: skip
    if problems:
        return CacheExplanation(False, "; ".join(problems), key, _first_id(earlier))
    invalidated = _earlier(store, f"custom_properties.{cache_.INVALIDATED_KEY}.string_value = '{key}'", type_name,
                           before, limit=1)  # fmt: skip
    if invalidated:
        return CacheExplanation(False, f"execution {invalidated[0].id} had the same key, but the step's cache was "
                                       "invalidated since", key, invalidated[0].id)  # fmt: skip
    if earlier:
        states = ", ".join(f"{e.id} {_state_name(e)}" for e in earlier[:5])
        return CacheExplanation(False, f"no execution with the same key completed (executions {states})", key,
                                earlier[0].id)  # fmt: skip
    with_parts = f"type = {_quoted(type_name)} AND custom_properties.{cache_.PARTS}.string_value IS NOT NULL"
    latest = _earlier(store, with_parts, type_name, before, 1)
    if not latest:
        return CacheExplanation(False, f"no earlier call of step {type_name!r} recorded a cache key", key)
    recorded = latest[0].custom_properties[cache_.PARTS]
    differences = tuple(differ(recorded if isinstance(recorded, Mapping) else {}, parts))
    reason = f"the key differs from that of execution {latest[0].id}, the step's latest call, in"
    if not differences:
        reason = f"execution {latest[0].id}, the step's latest call, has another key but the same parts"
    return CacheExplanation(False, reason, key, latest[0].id, differences)


def differ(before: Mapping[str, Any], after: Mapping[str, Any]) -> Iterator[CacheDifference]:
    """The differences between two calls' key parts, component by component."""
    for part, component in _COMPONENTS.items():
        old, new = before.get(part), after.get(part)
        if part == "step":
            if old != new:
                yield CacheDifference(component, "name", _text(old), _text(new))
            continue
        old_map = old if isinstance(old, Mapping) else {}
        new_map = new if isinstance(new, Mapping) else {}
        for name in sorted(old_map.keys() | new_map.keys()):
            if old_map.get(name) != new_map.get(name):
                shown = "key function" if (part, name) == ("extra", "key") else name
                yield CacheDifference("salt" if part == "extra" and name == "salt" else component, shown,
                                      _text(old_map.get(name)), _text(new_map.get(name)))  # fmt: skip


def invalidate_cache(step: Any, /, *, store: Store | None = None, dry_run: bool = False) -> int:
    """Forget the cached results of a step (a decorated function or its type name); return how many.

    With *dry_run*, only count them. Its COMPLETE executions keep their records and lineage but are no longer reused:
    their key moves to ``tracker_cache_invalidated_key``, with the time (ISO 8601, UTC) in
    ``tracker_cache_invalidated_at``.
    """
    from tracker.sdk.step import spec_of

    if isinstance(step, str):
        type_name, own_store = step, None
    else:
        spec = spec_of(step)
        if spec is None:
            raise InvalidArgumentError(f"invalidate_cache takes a @tracker.step function or a step name, not {step!r}")
        type_name, own_store = spec.type_name, spec.store
    target = store or own_store or _where_store()
    query = f"type = {_quoted(type_name)} AND last_known_state = COMPLETE"
    found = target.get_executions(f"{query} AND custom_properties.{cache_.KEY}.string_value IS NOT NULL")
    if dry_run:
        return len(found)
    now = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")  # text: ints are 32-bit on some
    for execution in found:
        key = execution.custom_properties.pop(cache_.KEY)
        execution.custom_properties[cache_.INVALIDATED_KEY] = key
        execution.custom_properties[cache_.INVALIDATED_AT] = now
    if found:
        target.put_executions(found)
    return len(found)


def _earlier(store: Store, query: str, type_name: str, before: int | None, limit: int = 50) -> list[Execution]:
    if before is not None:
        query += f" AND id < {int(before)}"
    found = store.get_executions(query, order_by="id", descending=True, limit=limit)
    return [e for e in found if e.type == type_name]


def _where(spec: StepSpec) -> tuple[Store, ValueStore]:
    run = current_run()
    if spec.store is not None:
        return spec.store, run.values if run is not None and run.store is spec.store else _state.default_values()
    if run is not None:
        return run.store, run.values
    return _state.default_store(), _state.default_values()


def _where_store() -> Store:
    run = current_run()
    return run.store if run is not None else _state.default_store()


def _quoted(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _first_id(executions: list[Execution]) -> int | None:
    return int(executions[0].id) if executions and executions[0].id is not None else None


def _state_name(execution: Execution) -> str:
    state = execution.last_known_state
    return state.name if isinstance(state, ExecutionState) else "UNKNOWN"


def _text(value: Any) -> str | None:
    return None if value is None else str(value)
