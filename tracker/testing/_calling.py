"""What a replay calls, and with what: the step found again, its recorded arguments rebuilt, the call driven.

A recorded execution names its function (``tracker_module`` and ``tracker_function``) and holds its
arguments: scalars as properties (declared ones in ``properties``, others in ``custom_properties``), other
values as INPUT artifacts whose event path is the parameter's name (``["data"]``, ``["args", 0]``,
``["kwargs", "key"]``). ``None`` is not recorded, so a parameter the record lacks was ``None``, or is new
since the recording: it gets its default, else ``None``.
"""

from __future__ import annotations

import ast
import asyncio
import builtins
import contextvars
import hashlib
import importlib
import inspect
import textwrap
import threading
import types
from collections.abc import AsyncGenerator, Callable, Generator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from tracker.errors import ReplayError, ValueIntegrityError, ValueStoreError
from tracker.sdk.load import load
from tracker.sdk.record import MAX_YIELDED
from tracker.sdk.step import decorated, spec_of
from tracker.store import Artifact, Event, Execution
from tracker.values import ValueStore

Code = Literal["current", "recorded"]
_MISSING = object()


def describe(execution: Execution) -> str:
    """``execution 7 (step 'train')``: how messages name an execution."""
    name = execution.custom_properties.get("tracker_step") or execution.type
    return f"execution {execution.id} (step {name!r})"


def label(path: list[str | int] | tuple[str | int, ...]) -> str:
    """An event path as Python would reach the value: ``model``, ``yield[3]``, ``output[0]``, ``args[1]``."""
    if not path:
        return "output"
    head, rest = (path[0], path[1:]) if isinstance(path[0], str) else ("output", path)
    return str(head) + "".join(f"[{step!r}]" if isinstance(step, str) else f"[{step}]" for step in rest)


# --- finding the code ---


def find_step(
    execution: Execution, step: Callable[..., Any] | None, instance: object, code: Code
) -> Callable[..., Any]:
    """The callable to replay *execution* with: *step*, today's step, or the recorded code.

    Raises:
        ReplayError: the step cannot be found, needs an instance, or has no recorded source.
    """
    if code == "recorded":
        return _recorded_code(execution, instance)
    if step is not None:
        return step.__get__(instance, type(instance)) if instance is not None else step
    module, qualname = _where(execution)
    owner, _, attr = qualname.rpartition(".")
    if instance is not None:
        method: Callable[..., Any] | None = getattr(instance, attr, None)
        if method is None:
            raise ReplayError(f"cannot replay {describe(execution)}: {type(instance).__name__} has no method {attr!r}")
        return method
    found = _imported(module, qualname, execution)
    if found is not None:
        if _needs_instance(module, owner, attr, execution):
            raise ReplayError(
                f"cannot replay {describe(execution)}: it is a method of {owner}; pass the object to call it on, "
                f"replay(..., instance={owner.rpartition('.')[2]}(...))"
            )
        if not callable(found):
            raise ReplayError(f"cannot replay {describe(execution)}: {module}.{qualname} is not callable now")
        return found  # type: ignore[no-any-return]
    live = decorated(module, qualname)
    if live is not None and (not owner or owner.endswith("<locals>")):
        return live
    raise ReplayError(
        f"cannot replay {describe(execution)}: {module}.{qualname} cannot be imported, and no step of that name "
        "was decorated in this process; pass the code to run with replay(..., step=...)"
    )


def _where(execution: Execution) -> tuple[str, str]:
    module = execution.custom_properties.get("tracker_module")
    qualname = execution.custom_properties.get("tracker_function")
    if not isinstance(module, str) or not isinstance(qualname, str) or not qualname:
        raise ReplayError(
            f"cannot replay execution {execution.id} ({execution.type}): it was not recorded by a tracker step "
            "(it has no tracker_module and tracker_function); pass the code to run with replay(..., step=...)"
        )
    return module, qualname


def _imported(module: str, qualname: str, execution: Execution) -> Any:
    """The object at *module*.*qualname* today, or None when it cannot be reached by importing."""
    if "<locals>" in qualname.split("."):
        return None
    try:
        found: Any = importlib.import_module(module)
    except ImportError as exc:
        if exc.name == module:
            return None  # the module is gone (or was a script's): the caller looks further
        raise ReplayError(f"cannot replay {describe(execution)}: importing {module} raised {exc!r}") from exc
    except Exception as exc:
        raise ReplayError(f"cannot replay {describe(execution)}: importing {module} raised {exc!r}") from exc
    for part in qualname.split(".") if qualname else ():
        found = getattr(found, part, _MISSING)
        if found is _MISSING:
            return None
    return found


def _needs_instance(module: str, owner: str, attr: str, execution: Execution) -> bool:
    """Whether *owner*.*attr* is a method of instances (not a function, class method or static method)."""
    cls = _imported(module, owner, execution) if owner else None
    if not isinstance(cls, type):
        return False
    raw = inspect.getattr_static(cls, attr, None)
    inner = raw.__wrapped__ if spec_of(raw) is not None else raw
    return not isinstance(raw, (classmethod, staticmethod)) and not isinstance(inner, (classmethod, staticmethod))


def _recorded_code(execution: Execution, instance: object) -> Callable[..., Any]:
    """The function compiled from the source recorded with *execution*, bound as it was, in today's module."""
    facts = execution.custom_properties
    source = facts.get("tracker_source")
    if not isinstance(source, str):
        raise ReplayError(
            f"cannot replay {describe(execution)} with its recorded code: no source was recorded with it; "
            "decorate the step with @tracker.step(keep_source=True) to record it, or replay with code='current'"
        )
    expected = facts.get("tracker_source_sha256")
    if isinstance(expected, str) and hashlib.sha256(source.encode()).hexdigest() != expected:
        raise ReplayError(
            f"cannot replay {describe(execution)} with its recorded code: the recorded source does not match the "
            f"sha256 recorded with it ({expected[:12]}...); it was changed after it was recorded, so it was not run"
        )
    module, qualname = _where(execution)
    owner, _, _ = qualname.rpartition(".")
    function, kind = _compile(source, module, qualname, execution)
    in_class = bool(owner) and not owner.endswith("<locals>")
    if kind == "staticmethod" or not in_class:
        return function
    if kind == "classmethod":
        cls = type(instance) if instance is not None else _imported(module, owner, execution)
        if not isinstance(cls, type):
            raise ReplayError(
                f"cannot replay {describe(execution)}: its class {owner} cannot be imported; pass instance="
            )
        return types.MethodType(function, cls)
    if instance is None:
        raise ReplayError(
            f"cannot replay {describe(execution)}: it is a method of {owner}; pass the object to call it on, "
            f"replay(..., instance={owner.rpartition('.')[2]}(...))"
        )
    return types.MethodType(function, instance)


def _compile(source: str, module: str, qualname: str, execution: Execution) -> tuple[Callable[..., Any], str]:
    """Compile a recorded ``def`` (its decorators dropped) among today's globals of its module."""
    try:
        tree = ast.parse(textwrap.dedent(source))
    except SyntaxError as exc:
        raise ReplayError(f"cannot replay {describe(execution)}: its recorded source does not parse ({exc})") from exc
    node = tree.body[0] if tree.body else None
    if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
        raise ReplayError(f"cannot replay {describe(execution)}: its recorded source is not a function definition")
    names = {ast.unparse(d) for d in node.decorator_list}
    kind = "classmethod" if "classmethod" in names else "staticmethod" if "staticmethod" in names else "function"
    node.decorator_list = []
    imported = _imported(module, "", execution) if module else None
    namespace: dict[str, Any] = dict(vars(imported)) if isinstance(imported, types.ModuleType) else {}
    namespace.setdefault("__name__", module)
    namespace.setdefault("__builtins__", builtins)
    code = compile(ast.Module([node], type_ignores=[]), f"<recorded source of {qualname}>", "exec")
    exec(code, namespace)  # the user asked for this code, read from their store, checked against its hash
    function: Callable[..., Any] = namespace[node.name]
    # a name of its own: the step registry keeps pointing at today's step, not at this copy
    function.__qualname__ = f"{qualname}.<recorded>"
    return function, kind


# --- the arguments ---


def arguments(
    execution: Execution,
    target: Callable[..., Any],
    events: list[Event],
    artifacts: Mapping[int, Artifact],
    values: ValueStore | None,
    overrides: Mapping[str, Any],
) -> tuple[list[Any], dict[str, Any]]:
    """The positional and keyword arguments *execution* was called with, rebuilt for *target*'s signature.

    Raises:
        ReplayError: an override names no parameter, or an input has no stored value.
        ValueIntegrityError: an input's stored bytes no longer match its fingerprint.
    """
    signature = inspect.signature(target)
    unknown = set(overrides) - set(signature.parameters)
    if unknown:
        raise ReplayError(
            f"cannot replay {describe(execution)}: inputs= names {', '.join(sorted(unknown))}, which "
            f"{target.__name__}{signature} does not take"
        )
    spec = spec_of(target)
    as_params = spec.params if spec is not None else frozenset()
    inputs = {tuple(e.path): artifacts[e.artifact_id] for e in events}
    properties = dict(execution.properties)
    custom = {k: v for k, v in execution.custom_properties.items() if not k.startswith("tracker_")}

    def value(path: tuple[str | int, ...], flat: str, default: Any) -> Any:
        if path in inputs:
            return _load_input(execution, path, inputs[path], values)
        found = properties.get(flat, custom.get(flat, default))
        if path[0] in as_params and isinstance(found, dict) and set(found) == {"items"}:
            return list(found["items"])  # a list recorded as a property through params=
        return found

    args: list[Any] = []
    kwargs: dict[str, Any] = {}
    for name, parameter in signature.parameters.items():
        if parameter.kind is parameter.VAR_POSITIONAL:
            if name in overrides:
                args.extend(overrides[name])
                continue
            i = 0
            while (name, i) in inputs or f"{name}_{i}" in custom:
                args.append(value((name, i), f"{name}_{i}", None))
                i += 1
        elif parameter.kind is parameter.VAR_KEYWORD:
            if name in overrides:
                kwargs.update(overrides[name])
                continue
            keys = [p[1] for p in inputs if len(p) == 2 and p[0] == name and isinstance(p[1], str)]
            keys += [k[len(name) + 1 :] for k in custom if k.startswith(f"{name}_") and k not in signature.parameters]
            for key in dict.fromkeys(keys):
                kwargs[key] = value((name, key), f"{name}_{key}", None)
        else:
            default = None if parameter.default is parameter.empty else parameter.default
            given = overrides[name] if name in overrides else value((name,), name, default)
            if parameter.kind is parameter.KEYWORD_ONLY:
                kwargs[name] = given
            else:
                args.append(given)
    return args, kwargs


def _load_input(
    execution: Execution, path: tuple[str | int, ...], artifact: Artifact, values: ValueStore | None
) -> Any:
    where = f"its input {label(path)} ({artifact.type} #{artifact.id})"
    try:
        return load(artifact, values=values)
    except ValueIntegrityError as exc:
        raise ValueIntegrityError(
            f"cannot replay {describe(execution)}: {where} was changed after it was recorded, so it was not "
            f"loaded: {exc}"
        ) from exc
    except ValueStoreError as exc:
        raise ReplayError(
            f"cannot replay {describe(execution)}: {where} cannot be loaded ({exc}); give it yourself with "
            f"replay(..., inputs={{{str(path[0])!r}: ...}})"
        ) from exc


# --- the call ---


@dataclass
class Outcome:
    """What one call gave: its return value, what it yielded (the first MAX_YIELDED items) and how many."""

    returned: Any = None
    yielded: list[Any] = field(default_factory=list)
    count: int = 0


def invoke(target: Callable[..., Any], args: list[Any], kwargs: dict[str, Any], limit: int | None) -> Outcome:
    """Call *target* and run what it gives to the end: a coroutine awaited, a generator (sync or async) drained.

    *limit* stops a generator after that many items (closing it), as a recorded one closed early was.
    """
    result = target(*args, **kwargs)
    if inspect.iscoroutine(result):
        return Outcome(returned=_run_async(result))
    if inspect.isgenerator(result):
        return _drain(result, limit)
    if inspect.isasyncgen(result):
        return _run_async(_adrain(result, limit))  # type: ignore[no-any-return]
    return Outcome(returned=result)


def _drain(generator: Generator[Any, Any, Any], limit: int | None) -> Outcome:
    outcome = Outcome()
    try:
        while limit is None or outcome.count < limit:
            item = next(generator)
            if outcome.count < MAX_YIELDED:
                outcome.yielded.append(item)
            outcome.count += 1
    except StopIteration as stop:
        outcome.returned = stop.value
    else:
        generator.close()
    return outcome


async def _adrain(generator: AsyncGenerator[Any, Any], limit: int | None) -> Outcome:
    outcome = Outcome()
    async for item in generator:
        if outcome.count < MAX_YIELDED:
            outcome.yielded.append(item)
        outcome.count += 1
        if limit is not None and outcome.count >= limit:
            await generator.aclose()
            break
    return outcome


def _run_async(awaitable: Any) -> Any:
    """Run a coroutine to its end: in a new event loop here, or in another thread if a loop runs here already."""

    async def main() -> Any:
        return await awaitable

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(main())
    box: dict[str, Any] = {}

    def in_thread() -> None:
        try:
            box["result"] = asyncio.run(main())
        except BaseException as exc:  # handed to the caller's thread below
            box["error"] = exc

    context = contextvars.copy_context()  # the replay's run and marks go with it
    worker = threading.Thread(target=context.run, args=(in_thread,), name="tracker-replay")
    worker.start()
    worker.join()
    if "error" in box:
        raise box["error"]
    return box["result"]
