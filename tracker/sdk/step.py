"""``@tracker.step``: record each call of a function as an MLMD execution.

One wrapt wrapper per kind of callable, chosen once at decoration: plain
functions (and methods), coroutines (the execution spans the awaited body),
generators and async generators (the execution ends when they are exhausted
or closed). The wrapper keeps the function's signature, name, docstring and
type hints, and pickles by reference so module-level steps run in process pools.
"""

from __future__ import annotations

import functools
import importlib
import inspect
import weakref
from collections.abc import AsyncIterator, Callable, Generator, Iterable, Mapping
from typing import Any, ParamSpec, TypeVar, overload

import wrapt

from tracker.errors import InvalidArgumentError
from tracker.sdk.cache import Cache, as_policy
from tracker.sdk.record import StepSpec, record
from tracker.store import Store

P = ParamSpec("P")
R = TypeVar("R")


@overload
def step(fn: Callable[P, R], /) -> Callable[P, R]: ...
@overload
def step(
    *,
    name: str | None = None,
    type_name: str | None = None,
    outputs: str | Iterable[str] | None = None,
    output_types: Mapping[str, str] | None = None,
    params: Iterable[str] = (),
    artifacts: Iterable[str] = (),
    store: Store | None = None,
    keep_source: bool = False,
    cache: bool | Cache | None = None,
) -> Callable[[Callable[P, R]], Callable[P, R]]: ...
def step(
    fn: Any = None,
    /,
    *,
    name: str | None = None,
    type_name: str | None = None,
    outputs: str | Iterable[str] | None = None,
    output_types: Mapping[str, str] | None = None,
    params: Iterable[str] = (),
    artifacts: Iterable[str] = (),
    store: Store | None = None,
    keep_source: bool = False,
    cache: bool | Cache | None = None,
) -> Any:
    """Record each call of *fn* as an execution in the current run.

    Scalar arguments (None, bool, int, float, str) are recorded as the
    execution's properties (its hyperparameters); other arguments as input
    artifacts, the return value as output artifacts (one per element of a
    tuple or field of a NamedTuple). The function's result and exceptions
    reach the caller unchanged.

    Args:
        name: the step's name (default: the function's qualified name).
        type_name: the ExecutionType's name (default: the step's name).
        outputs: names of the outputs: one name, or one per element of a returned
            tuple or field of a returned dataclass (default: "output", or indexes).
        output_types: artifact type names by output name, e.g. ``{"output": "Model"}``
            (default: the value's registered type, "Metrics", or its class name).
        params: arguments to record as properties even when not scalars.
        artifacts: arguments to record as artifacts even when scalars.
        store: the store to record into (default: the current run's, else ``tracker.connect()``).
        keep_source: also record the function's source with each execution (custom property
            ``tracker_source``), so that ``tracker.testing.replay(..., code="recorded")`` can run it later.
        cache: reuse the recorded result of an earlier call with the same arguments, code and
            environment instead of running the body: True, a ``tracker.Cache(...)`` (what to ignore,
            a salt, a key function, a maximum age), False, or None for the project's default
            (``tracker.configure(cache=...)``). Generator steps are never cached. See docs/caching.md.

    Put ``@tracker.step`` above ``@classmethod`` and ``@staticmethod``.
    """
    if fn is None:  # used as @step(...)
        return functools.partial(step, name=name, type_name=type_name, outputs=outputs, output_types=output_types,
                                 params=params, artifacts=artifacts, store=store, keep_source=keep_source,
                                 cache=cache)  # fmt: skip
    target = getattr(fn, "__func__", fn)  # see through classmethod / staticmethod
    if not callable(target):
        raise InvalidArgumentError(f"@tracker.step decorates functions and methods, not {type(fn).__name__}")
    step_name = name or target.__qualname__
    policy = as_policy(cache, f"step {step_name!r}")
    names = (outputs,) if isinstance(outputs, str) else tuple(outputs) if outputs is not None else None
    spec = StepSpec(
        target,
        step_name,
        type_name or step_name,
        names,
        dict(output_types or {}),
        frozenset(params),
        frozenset(artifacts),
        store,
        keep_source,
        policy,
        _kind(target),
    )
    unknown = (spec.params | spec.artifacts) - set(spec.signature.parameters)
    if unknown:
        raise InvalidArgumentError(
            f"step {step_name!r} names {', '.join(sorted(unknown))} in params/artifacts, but its parameters are "
            f"{', '.join(spec.signature.parameters) or 'none'}"
        )
    ignored = set(policy.ignore) - set(spec.signature.parameters) - {"self"} if isinstance(policy, Cache) else set()
    if ignored:
        raise InvalidArgumentError(
            f"step {step_name!r}: Cache(ignore=...) names {', '.join(sorted(ignored))}, but its parameters are "
            f"{', '.join(spec.signature.parameters) or 'none'}"
        )
    if policy and spec.kind in ("generator", "asyncgen"):
        raise InvalidArgumentError(
            f"step {step_name!r} is a generator, and generator steps are not cached (their items stream to the "
            "caller as they come); cache the step that consumes them instead"
        )
    wrapper = StepFunction(fn, functools.partial(_WRAPPERS[_kind(target)], spec))
    _DECORATED[(getattr(target, "__module__", None) or "", target.__qualname__)] = wrapper
    return wrapper


def _kind(target: Callable[..., Any]) -> str:
    if inspect.isasyncgenfunction(target):
        return "asyncgen"
    if inspect.iscoroutinefunction(target):
        return "coroutine"
    if inspect.isgeneratorfunction(target):
        return "generator"
    return "function"


def _function(spec: StepSpec, wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    with record(spec, instance, args, kwargs) as rec:
        if rec.reused is not None:
            return rec.reused[0]
        return rec.returned(wrapped(*args, **kwargs))
    raise AssertionError("unreachable")  # pragma: no cover - record() re-raises; mypy cannot see it


async def _coroutine(spec: StepSpec, wrapped: Any, instance: Any, args: tuple[Any, ...],
                     kwargs: dict[str, Any]) -> Any:  # fmt: skip
    with record(spec, instance, args, kwargs) as rec:
        if rec.reused is not None:
            return rec.reused[0]
        return rec.returned(await wrapped(*args, **kwargs))


def _generator(spec: StepSpec, wrapped: Any, instance: Any, args: tuple[Any, ...],
               kwargs: dict[str, Any]) -> Generator[Any, Any, Any]:  # fmt: skip
    with record(spec, instance, args, kwargs) as rec:
        inner = wrapped(*args, **kwargs)
        try:
            item = next(inner)
            while True:
                try:
                    sent = yield rec.yielded(item)
                except GeneratorExit:
                    inner.close()
                    raise
                except BaseException as thrown:  # throw() into the wrapper: pass it on to the generator
                    item = inner.throw(thrown)
                else:
                    item = inner.send(sent)
        except StopIteration as stop:
            return rec.returned(stop.value)


async def _asyncgen(spec: StepSpec, wrapped: Any, instance: Any, args: tuple[Any, ...],
                    kwargs: dict[str, Any]) -> AsyncIterator[Any]:  # fmt: skip
    with record(spec, instance, args, kwargs) as rec:
        inner = wrapped(*args, **kwargs)
        try:
            item = await inner.__anext__()
            while True:
                try:
                    sent = yield rec.yielded(item)
                except GeneratorExit:
                    await inner.aclose()
                    raise
                except BaseException as thrown:
                    item = await inner.athrow(thrown)
                else:
                    item = await inner.asend(sent)
        except StopAsyncIteration:
            rec.returned(None)


_WRAPPERS = {"function": _function, "coroutine": _coroutine, "generator": _generator, "asyncgen": _asyncgen}


class StepFunction(wrapt.FunctionWrapper):  # type: ignore[type-arg]
    """A tracked function; it pickles by reference, like a plain module-level function."""

    def __reduce__(self) -> tuple[Callable[[str, str], Any], tuple[str, str]]:
        return _import_by_name, (self.__module__, self.__qualname__)


#: The latest step decorated under each (module, qualified name), while it lives: how replay finds a step
#: defined where importing cannot reach it (a script's __main__, a notebook, a function's body).
_DECORATED: weakref.WeakValueDictionary[tuple[str, str], StepFunction] = weakref.WeakValueDictionary()


def decorated(module: str, qualname: str) -> StepFunction | None:
    """The live step last decorated as *module*.*qualname*, if any."""
    return _DECORATED.get((module, qualname))


def spec_of(fn: Any) -> StepSpec | None:
    """What a decorated function (or a method of one, bound or not) records; None for anything else."""
    wrapper = getattr(fn, "_self_wrapper", None)  # wrapt keeps our partial here, on bound wrappers too
    if isinstance(wrapper, functools.partial) and wrapper.args and isinstance(wrapper.args[0], StepSpec):
        return wrapper.args[0]
    return None


def _import_by_name(module: str, qualname: str) -> Any:
    found: Any = importlib.import_module(module)
    for part in qualname.split("."):
        found = getattr(found, part)
    return found
