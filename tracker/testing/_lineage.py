"""Lineage assertions: questions about what a test's steps recorded, answered from the store.

Each takes the Python values steps saw (found as ``tracker.lineage`` finds them: by identity, as steps
passed them on, else by content), Artifact records or artifact ids. When the answer is no it raises
LineageAssertionError with the part of the lineage it looked at; when it is yes it returns what it
found, for further checks. Replays are never counted: they are not what the pipeline did (see
tracker.testing.replay).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from tracker.errors import InvalidArgumentError, LineageAssertionError, NotFoundError
from tracker.query.answers import resolve
from tracker.sdk import _state
from tracker.sdk.runs import Run, current_run
from tracker.sdk.step import spec_of
from tracker.store import Artifact, Context, EventType, Execution, LineageGraph, Store
from tracker.testing._calling import label
from tracker.testing._diff import diff, short
from tracker.testing._replay import REPLAY_OF

#: At most this many executions or artifacts are listed in a message; a last line counts the others.
MAX_LINES = 20
NOT_A_REPLAY = f"custom_properties.{REPLAY_OF}.int_value IS NULL"
IS_A_REPLAY = f"custom_properties.{REPLAY_OF}.int_value IS NOT NULL"
_MISSING = object()


def assert_made_from(output: Any, *inputs: Any, step: Callable[..., Any] | str | None = None,
                     store: Store | None = None) -> Execution:  # fmt: skip
    """Assert that *output* was made directly from *inputs*: one execution read them all and returned it.

    "Was this model trained on this data?" is ``assert_made_from(model, data, step=train)``.

    Args:
        output: the value a step returned (or its Artifact, or its id).
        inputs: values (or Artifacts, or ids) that step must have read, as arguments.
        step: the step that must have made it (a decorated function, or its name).
        store: where to look (default: the current run's store, else the default store).

    Returns:
        The execution that made *output* from *inputs*.

    Raises:
        LineageAssertionError: no execution (of *step*) both read every input and returned *output*; the
            message lists the executions that made *output*, with their inputs and outputs.

    .. versionadded:: 0.1
    """
    __tracebackhide__ = True  # pytest shows the failing assertion, not this function's body
    where = _store(store)
    made = _artifact(where, output, "the output")
    read = [_artifact(where, value, "the input") for value in inputs]
    makers = _executions_around(where, made, EventType.OUTPUT)
    name = _step_name(step) if step is not None else None
    chosen = [e for e in makers if name is None or _step_of(e) == name]
    events = _io(where, chosen)
    for execution in chosen:
        seen = {a for a, kind, _ in events.get(execution.id or 0, []) if kind is EventType.INPUT}
        if all(artifact.id in seen for artifact in read):
            return execution
    by = f" by step {name!r}" if name else ""
    if read:
        lines = [f"{_label(made)} was not made from {', '.join(_label(a) for a in read)}{by}."]
    else:
        lines = [f"{_label(made)} was not made{by or ' by any step'}."]
    if makers:
        lines.append(f"{_label(made)} was made by:")
        lines += _capped(_describe_executions(where, makers))
    else:
        lines.append(f"No step returned {_label(made)}: it was only ever an input.")
    for artifact in read:
        readers = _executions_around(where, artifact, EventType.INPUT)
        if readers:
            shown = ", ".join(_execution_label(e) for e in readers[:MAX_LINES])
            more = f" and {len(readers) - MAX_LINES} more" if len(readers) > MAX_LINES else ""
            lines.append(f"{_label(artifact)} was read by: {shown}{more}")
        else:
            lines.append(f"{_label(artifact)} was read by no step.")
    raise LineageAssertionError("\n".join(lines))


def assert_derived_from(output: Any, *sources: Any, store: Store | None = None) -> LineageGraph:
    """Assert that *output* derives from every one of *sources*, through any number of steps.

    Args:
        output: the value (or Artifact, or id) at the end of the chain.
        sources: values (or Artifacts, or ids) that must appear in its upstream lineage.
        store: where to look (default: the current run's store, else the default store).

    Returns:
        The upstream lineage of *output* (replays left out), from ``Store.get_lineage``.

    Raises:
        LineageAssertionError: a source is not upstream of *output*; the message draws the upstream lineage.

    .. versionadded:: 0.1
    """
    __tracebackhide__ = True  # pytest shows the failing assertion, not this function's body
    where = _store(store)
    made = _artifact(where, output, "the output")
    wanted = [_artifact(where, value, "the source") for value in sources]
    graph = where.get_lineage(artifacts=[made.id or 0], direction="upstream", stop_at_executions=IS_A_REPLAY,
                              include_stops=False)  # fmt: skip
    upstream = {a.id for a in graph.artifacts}
    missing = [a for a in wanted if a.id not in upstream]
    if not missing:
        return graph
    lines = [f"{_label(made)} does not derive from {', '.join(_label(a) for a in missing)}. Its upstream lineage:"]
    lines += _capped(_describe_graph(graph)) or [f"  nothing: no step returned {_label(made)}"]
    raise LineageAssertionError("\n".join(lines))


def assert_ran(
    step: Callable[..., Any] | str,
    *,
    times: int | None = 1,
    params: Mapping[str, Any] | None = None,
    run: Run | Context | None = None,
    store: Store | None = None,
) -> list[Execution]:
    """Assert that *step* ran *times* times (with *params*, when given) in *run*.

    Args:
        step: the decorated function, or the step's name.
        times: how many of its executions must match; None for at least one.
        params: parameters those executions must have had (``{"lr": 0.05}``); floats match to 1e-9.
        run: where to look: a run and the runs nested in it (default: the current run, else the whole store).
        store: the store (default: the run's, else the current run's, else the default store).

    Returns:
        The matching executions, oldest first.

    Raises:
        LineageAssertionError: another number of executions matched; the message lists every execution of
            the step in *run*, with its parameters, inputs and outputs.

    .. versionadded:: 0.1
    """
    __tracebackhide__ = True  # pytest shows the failing assertion, not this function's body
    if times is not None and times < 0:
        raise InvalidArgumentError(f"times must be at least 0 (or None for at least once), not {times}")
    name = _step_name(step)
    where, contexts, scope = _scope(run, store)
    condition = f"custom_properties.tracker_step.string_value = {_quoted(name)} AND {NOT_A_REPLAY}"
    executions = _executions(where, contexts, condition)
    wanted = dict(params or {})
    matching = [e for e in executions if _has_params(e, wanted)]
    if (len(matching) == times) if times is not None else bool(matching):
        return matching
    with_params = f" with {_params_text(wanted)}" if wanted else ""
    expected = "at least once" if times is None else _times(times)
    lines = [f"step {name!r} ran {_times(len(matching))}{with_params} {scope}, expected {expected}."]
    if executions:
        lines.append(f"Its executions {scope}:")
        lines += _capped(_describe_executions(where, executions))
    else:
        others = _executions(where, contexts, NOT_A_REPLAY)
        steps: dict[str, int] = {}
        for execution in others:
            steps[_step_of(execution)] = steps.get(_step_of(execution), 0) + 1
        ran = ", ".join(f"{s!r} ({_times(n)})" for s, n in steps.items()) or "none"
        lines.append(f"It never ran {scope}. Steps that did: {ran}.")
    raise LineageAssertionError("\n".join(lines))


def assert_produced(run: Run | Context, artifact_type: str, *, step: Callable[..., Any] | str | None = None,
                    store: Store | None = None) -> list[Artifact]:  # fmt: skip
    """Assert that *run* (or a run nested in it) produced at least one artifact of type *artifact_type*.

    Args:
        run: the run (a ``tracker.Run``, or its Context).
        artifact_type: the artifact type's name (``"Model"``, ``"Metrics"``, ``"ndarray"``).
        step: only count outputs of this step (a decorated function, or its name).
        store: the store (default: the run's, else the current run's, else the default store).

    Returns:
        The artifacts of that type the run's executions returned, by id.

    Raises:
        LineageAssertionError: none; the message lists what the run did produce, and by which execution.

    .. versionadded:: 0.1
    """
    __tracebackhide__ = True  # pytest shows the failing assertion, not this function's body
    where, contexts, scope = _scope(run, store)
    name = _step_name(step) if step is not None else None
    executions = [e for e in _executions(where, contexts, NOT_A_REPLAY) if name is None or _step_of(e) == name]
    events = _io(where, executions)
    produced: dict[int, tuple[Artifact, Execution]] = {}
    artifacts = _artifacts_by_id(where, [a for io in events.values() for a, kind, _ in io if kind is EventType.OUTPUT])
    for execution in executions:
        for artifact_id, kind, _ in events.get(execution.id or 0, []):
            if kind is EventType.OUTPUT and artifact_id in artifacts:
                produced.setdefault(artifact_id, (artifacts[artifact_id], execution))
    found = sorted((a for a, _ in produced.values() if a.type == artifact_type), key=lambda a: a.id or 0)
    if found:
        return found
    by = f" by step {name!r}" if name else ""
    lines = [f"no artifact of type {artifact_type!r} was produced{by} {scope}."]
    if produced:
        lines.append("It produced:")
        lines += _capped([f"  {_label(a)}, returned by {_execution_label(e)}" for a, e in produced.values()])
    else:
        lines.append(f"Nothing was produced{by} {scope}.")
    raise LineageAssertionError("\n".join(lines))


# --- finding things ---


def _store(store: Store | None) -> Store:
    if store is not None:
        return store
    current = current_run()
    return current.store if current is not None else _state.default_store()


def _scope(run: Run | Context | None, store: Store | None) -> tuple[Store, list[int] | None, str]:
    """The store, the run contexts to look in (None: the whole store) and how to name that scope."""
    if run is None:
        run = current_run()
        if run is None:
            where = _store(store)
            return where, None, f"in {where.url}"
    if isinstance(run, Run):
        where, root, name = store or run.store, run.context_id, run.name
    elif isinstance(run, Context) and run.id is not None:
        where, root, name = _store(store), run.id, run.name or str(run.id)
    else:
        raise InvalidArgumentError(f"run must be a tracker.Run or a stored Context, not {run!r}")
    contexts, queue = [root], [root]
    while queue:  # the runs nested in it, but not replays
        children = where.get_children_contexts_by_context(queue.pop())
        fresh = [c.id for c in children if c.id is not None and REPLAY_OF not in c.custom_properties]
        fresh = [c for c in fresh if c not in contexts]
        contexts += fresh
        queue += fresh
    return where, contexts, f"in run {name!r}"


def _executions(store: Store, contexts: list[int] | None, condition: str) -> list[Execution]:
    if contexts is None:
        return store.get_executions(condition)
    found = {e.id: e for c in contexts for e in store.get_executions_by_context(c, condition)}
    return [found[i] for i in sorted(i for i in found if i is not None)]


def _artifact(store: Store, value: Any, role: str) -> Artifact:
    """The stored artifact *value* stands for, as ``tracker.lineage`` finds it (record, id, identity, content)."""
    try:
        found = resolve(store, value)
    except NotFoundError as exc:
        raise LineageAssertionError(
            f"{role}, {short(value)} ({type(value).__qualname__}), is not recorded: {exc}"
        ) from exc
    if not isinstance(found, Artifact):
        raise InvalidArgumentError(f"{role} must be a value, an Artifact or an artifact id, not {type(value).__name__}")
    return found


def _executions_around(store: Store, artifact: Artifact, kind: EventType) -> list[Execution]:
    """The executions (replays left out) that had *artifact* as an input or an output."""
    ids = [e.execution_id for e in store.get_events_by_artifact_ids([artifact.id or 0]) if e.type is kind]
    return [e for e in store.get_executions_by_id(sorted(set(ids))) if REPLAY_OF not in e.custom_properties]


def _io(store: Store, executions: Iterable[Execution]) -> dict[int, list[tuple[int, EventType, str]]]:
    """Each execution's events, as (artifact id, INPUT or OUTPUT, path label)."""
    ids = [e.id for e in executions if e.id is not None]
    found: dict[int, list[tuple[int, EventType, str]]] = {i: [] for i in ids}
    for event in store.get_events_by_execution_ids(ids) if ids else []:
        found[event.execution_id].append((event.artifact_id, event.type, label(event.path)))
    return found


def _artifacts_by_id(store: Store, ids: Iterable[int]) -> dict[int, Artifact]:
    wanted = sorted(set(ids))
    return {a.id: a for a in store.get_artifacts_by_id(wanted) if a.id is not None} if wanted else {}


def _step_name(step: Callable[..., Any] | str) -> str:
    if isinstance(step, str):
        return step
    spec = spec_of(step)
    if spec is None:
        raise InvalidArgumentError(f"{short(step)} is not a tracker step; pass a @tracker.step function or a step name")
    return spec.name


def _step_of(execution: Execution) -> str:
    return str(execution.custom_properties.get("tracker_step") or execution.type)


def _has_params(execution: Execution, wanted: Mapping[str, Any]) -> bool:
    for name, expected in wanted.items():
        actual = execution.properties.get(name, execution.custom_properties.get(name, _MISSING))
        if actual is _MISSING:
            if expected is not None:  # None is never recorded: a missing parameter was None
                return False
        elif diff(expected, actual, rtol=1e-9):
            return False
    return True


def _quoted(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _times(n: int) -> str:
    return {0: "0 times", 1: "once", 2: "twice"}.get(n, f"{n} times")


# --- describing lineage ---


def _label(artifact: Artifact) -> str:
    """``Model #5``, with the cheap facts recorded about its value: ``list #3 (length 200)``."""
    facts = artifact.custom_properties
    about = [f"{k} {facts[k]}" for k in ("shape", "length") if k in facts]
    return f"{artifact.type} #{artifact.id}" + (f" ({', '.join(about)})" if about else "")


def _params_text(params: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}={v!r}" for k, v in params.items())


def _execution_label(execution: Execution) -> str:
    """``execution 4 'train' (COMPLETE; lr=0.05, epochs=10)``."""
    params = {**{k: v for k, v in execution.custom_properties.items() if not k.startswith("tracker_")},
              **execution.properties}  # fmt: skip
    inside = execution.last_known_state.name + (f"; {_params_text(params)}" if params else "")
    return f"execution {execution.id} {_step_of(execution)!r} ({inside})"


def _describe_executions(store: Store, executions: list[Execution]) -> list[str]:
    """One line per execution: its label, then its inputs -> outputs."""
    events = _io(store, executions)
    artifacts = _artifacts_by_id(store, [a for io in events.values() for a, _, _ in io])
    return [f"  {_execution_label(e)}: {_arrows(events.get(e.id or 0, []), artifacts)}" for e in executions]


def _describe_graph(graph: LineageGraph) -> list[str]:
    artifacts = {a.id: a for a in graph.artifacts if a.id is not None}
    events: dict[int, list[tuple[int, EventType, str]]] = {}
    for event in graph.events:
        events.setdefault(event.execution_id, []).append((event.artifact_id, event.type, label(event.path)))
    return [f"  {_execution_label(e)}: {_arrows(events.get(e.id or 0, []), artifacts)}" for e in graph.executions]


def _capped(lines: list[str]) -> list[str]:
    if len(lines) <= MAX_LINES:
        return lines
    return [*lines[:MAX_LINES], f"  ... and {len(lines) - MAX_LINES} more"]


def _arrows(io: list[tuple[int, EventType, str]], artifacts: Mapping[int, Artifact]) -> str:
    def side(kind: EventType) -> str:
        shown = [f"{path}={_label(artifacts[a]) if a in artifacts else f'#{a}'}" for a, k, path in io if k is kind]
        return ", ".join(shown) or "(nothing)"

    return f"{side(EventType.INPUT)} -> {side(EventType.OUTPUT)}"
