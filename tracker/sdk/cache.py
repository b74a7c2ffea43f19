"""Step caching: a key from what decides a step's result, a lookup that proves the recorded outputs are intact.

The key of a call hashes five parts, each kept with the execution (custom
property ``tracker_cache_parts``) so that a miss can be explained later:

- ``step``: the step's name;
- ``code``: the digests of the step's source and of the first-party code it reaches (see ``_code``);
- ``args``: a digest per bound argument (scalars by type and value, other values by their stored
  fingerprint), minus the ignored ones; ``self`` too for a method;
- ``env``: the Python version and the versions of the packages that code imports;
- ``extra``: the user's salt and the digest of what their key function returned.

A hit needs a COMPLETE execution of the step with the same key (``tracker_cache_key``), young
enough, whose output artifacts are LIVE and whose stored values load and verify. When several
qualify, the newest is reused; the call is then recorded as a CACHED execution that points to it
(``tracker_cached_from``), with the same inputs and outputs. Nothing is locked: two processes that
compute the same key at once both run the body and both record COMPLETE executions with it, each a
true record of a run; later calls reuse the newer one.
"""

from __future__ import annotations

import dataclasses
import datetime
import functools
import hashlib
import json
import os
import platform
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from tracker.errors import InvalidArgumentError, TrackerError
from tracker.sdk import _code, _describe, _env, _redact
from tracker.store import Artifact, ArtifactState, EventType, Execution, Store
from tracker.values import ValueStore, _trust
from tracker.values.store import fingerprint

if TYPE_CHECKING:
    from tracker.sdk.record import StepSpec

KEY = "tracker_cache_key"
PARTS = "tracker_cache_parts"
PROBLEM = "tracker_cache_problem"
MISS = "tracker_cache_miss"
RESULT = "tracker_cache_result"
CACHED_FROM = "tracker_cached_from"
INVALIDATED_KEY = "tracker_cache_invalidated_key"
INVALIDATED_AT = "tracker_cache_invalidated_at"
ENV_VAR = "TRACKER_CACHE"
#: At most this many executions with the same key are tried before a call runs its body.
CANDIDATES = 5


@dataclass(frozen=True)
class Cache:
    """How a step's results are reused: ``@tracker.step(cache=tracker.Cache(...))``; ``cache=True`` is ``Cache()``.

    Args:
        ignore: parameters left out of the key (``"self"`` leaves out a method's instance), e.g. a
            verbosity flag or a worker count that does not change the result.
        salt: any text; changing it invalidates the step's earlier results (e.g. ``"v2"``).
        key: a function called with the step's arguments; its result (str, bytes, int, float, bool
            or a tuple of them) joins the key: for what the arguments do not show (a file's mtime, a table's version).
        max_age: results older than this (a ``timedelta`` or seconds) are not reused.
    """

    ignore: Iterable[str] = ()
    salt: str = ""
    key: Callable[..., Any] | None = None
    max_age: datetime.timedelta | float | None = None

    def __post_init__(self) -> None:
        ignore = (self.ignore,) if isinstance(self.ignore, str) else tuple(self.ignore)
        object.__setattr__(self, "ignore", frozenset(ignore))
        if not isinstance(self.salt, str):
            raise InvalidArgumentError(f"Cache(salt=...) takes text, not {type(self.salt).__name__}")
        if self.key is not None and not callable(self.key):
            raise InvalidArgumentError(f"Cache(key=...) takes a function of the step's arguments, not {self.key!r}")
        age = self.max_age.total_seconds() if isinstance(self.max_age, datetime.timedelta) else self.max_age
        if age is not None and (isinstance(age, bool) or not isinstance(age, (int, float)) or not age > 0):
            raise InvalidArgumentError(f"Cache(max_age=...) must be a positive timedelta or seconds, not {age!r}")

    @property
    def max_age_seconds(self) -> float | None:
        age = self.max_age
        return age.total_seconds() if isinstance(age, datetime.timedelta) else age


CacheSetting = bool | Cache | None


def as_policy(setting: CacheSetting, where: str) -> Cache | bool | None:
    """Check a ``cache=`` setting: True, False, None (the project default) or a Cache."""
    if setting is None or isinstance(setting, (bool, Cache)):
        return setting
    raise InvalidArgumentError(f"{where}: cache= takes True, False, None or tracker.Cache(...), not {setting!r}")


def policy_for(spec: StepSpec) -> Cache | None:
    """The caching that applies to a call of *spec* now: its own, else the project's; $TRACKER_CACHE=0 turns all off."""
    from tracker.sdk import _state

    env = os.environ.get(ENV_VAR, "").strip().lower()
    if env in ("0", "false", "no", "off"):
        return None
    setting = spec.cache if spec.cache is not None else _state.cache_default()
    if setting is None and env in ("1", "true", "yes", "on"):
        setting = True
    if spec.kind in ("generator", "asyncgen"):
        return None  # a stream is not replayed from records (docs/caching.md)
    if setting is True:
        return Cache()
    return setting or None


# --- the key ---


class NotCacheable(TrackerError):
    """Why a call gets no key, or a recorded execution cannot be reused."""


@dataclass
class KeyParts:
    """The parts of a call's cache key; ``problem`` says why there is no key."""

    step: str
    code: dict[str, str] = field(default_factory=dict)
    args: dict[str, str] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)
    extra: dict[str, str] = field(default_factory=dict)
    problem: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"step": self.step, "code": self.code, "args": self.args, "env": self.env, "extra": self.extra}

    @property
    def key(self) -> str | None:
        if self.problem is not None:
            return None
        return hashlib.sha256(json.dumps(self.as_dict(), sort_keys=True).encode()).hexdigest()

    def properties(self) -> dict[str, Any]:
        """The custom properties that keep these parts with an execution."""
        found: dict[str, Any] = {PARTS: self.as_dict()}
        if self.problem is None:
            found[KEY] = self.key
        else:
            found[PROBLEM] = self.problem
        return found


def key_parts(
    spec: StepSpec,
    policy: Cache,
    instance: Any,
    arguments: Iterable[tuple[str | tuple[str, str | int], Any]],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    fingerprint: Callable[[str, Any], str],
) -> KeyParts:
    """The parts of the key of a call; *fingerprint(label, value)* gives a stored value's fingerprint."""
    parts = KeyParts(spec.name)
    more = [type(instance)] if instance is not None and not isinstance(instance, type) else []
    if isinstance(instance, type):
        more.append(instance)  # a classmethod's class
    code, modules = _code.code_digests(spec.func, *(c for c in more if _code.is_first_party(c)))
    parts.code = code
    parts.env = {"python": platform.python_version()}
    for module in modules:
        parts.env.update(_packages(module.__name__))
    try:
        parts.args = _argument_digests(spec, policy, instance, arguments, fingerprint)
        if policy.salt:
            parts.extra["salt"] = policy.salt
        if policy.key is not None:
            parts.extra["key"] = _user_key(policy.key, args, kwargs)
    except NotCacheable as exc:
        parts.problem = str(exc)
    return parts


def _argument_digests(spec: StepSpec, policy: Cache, instance: Any, arguments: Iterable[tuple[Any, Any]],
                      fingerprint: Callable[[str, Any], str]) -> dict[str, str]:  # fmt: skip
    digests: dict[str, str] = {}
    if instance is not None and not isinstance(instance, type) and "self" not in policy.ignore:
        digests["self"] = _fingerprint_or_refuse("self", instance, lambda _, v: fingerprint_value(v))
    for name, given in arguments:
        parameter = name[0] if isinstance(name, tuple) else name
        if parameter in policy.ignore:
            continue
        label = "_".join(map(str, name)) if isinstance(name, tuple) else name
        value = _describe.plain(given)
        if is_input_artifact(spec, name, value) or not _describe.is_scalar(value):
            digests[label] = _fingerprint_or_refuse(label, given, fingerprint)
            continue
        digest = _code.digest(f"{type(value).__name__}:{value!r}")
        if _redact.argument(name, label, value, {}) is not value:
            # recorded redacted: a plain hash of a short secret could be guessed, so key it with this user's key
            digest = "keyed:" + _code.digest(_trust.sign(digest, "tracker cache argument"))
        digests[label] = digest
    return digests


def is_input_artifact(spec: StepSpec, name: Any, value: Any) -> bool:
    """Whether a step records the argument as an input artifact (else as a property); as ``Recording._begin``."""
    return name in spec.artifacts or not (name in spec.params or _describe.is_scalar(value))


def _fingerprint_or_refuse(label: str, value: Any, fingerprint: Callable[[str, Any], str]) -> str:
    try:
        return fingerprint(label, value)
    except NotCacheable:
        raise
    except Exception as exc:
        raise NotCacheable(
            f"argument {label!r} ({type(value).__name__}) has no fingerprint ({type(exc).__name__}: {exc}); pass "
            f"a value cloudpickle can serialize, or leave it out of the key with Cache(ignore=[{label!r}])"
        ) from exc


def _user_key(function: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> str:
    try:
        value = function(*args, **kwargs)
    except Exception as exc:
        raise NotCacheable(f"the cache key function raised {type(exc).__name__}: {exc}") from exc
    if not _plain_key(value):
        raise NotCacheable(
            f"the cache key function returned {type(value).__name__}; return str, bytes, a number, a bool, None or a "
            "tuple of them"
        )
    return _code.digest(f"{type(value).__name__}:{value!r}")


def _plain_key(value: Any) -> bool:
    if isinstance(value, tuple):
        return all(_plain_key(v) for v in value)
    return isinstance(value, (str, bytes, int, float, bool)) or value is None


#: The fingerprint a value store gives a value, computed without storing it.
fingerprint_value = fingerprint


@functools.lru_cache(maxsize=1024)
def _packages(module_name: str) -> dict[str, str]:
    """The installed packages a first-party module imports, with their versions (once per module and process)."""
    module = sys.modules.get(module_name)
    return _env._packages_of(module) if module is not None else {}


# --- the lookup ---


@dataclass
class Hit:
    """A recorded execution whose outputs were loaded and verified, and the result rebuilt from them."""

    source: Execution
    outputs: list[tuple[Artifact, list[str | int], Any]]  # artifact, event path, value
    result: Any


def find(store: Store, values: ValueStore, type_name: str, key: str, policy: Cache) -> tuple[Hit | None, str | None]:
    """The newest reusable execution with *key*, or None and why the ones with it were not reusable."""
    problems: list[str] = []
    for source in _with_key(store, key, policy):
        if source.type != type_name:
            continue
        try:
            return reuse(store, values, source), None
        except NotCacheable as exc:
            problems.append(f"execution {source.id} has this key, but {exc}")
    return None, "; ".join(problems) or None


def _with_key(store: Store, key: str, policy: Cache) -> list[Execution]:
    query = f"last_known_state = COMPLETE AND custom_properties.{KEY}.string_value = '{key}'"
    age = policy.max_age_seconds
    if age is not None:
        query += f" AND create_time_since_epoch >= {int((time.time() - age) * 1000)}"
    return store.get_executions(query, order_by="id", descending=True, limit=CANDIDATES)


def reuse(store: Store, values: ValueStore, source: Execution) -> Hit:
    """Load and verify every output of *source* and rebuild its result; NotCacheable says what is wrong."""
    from tracker.sdk.load import load  # load imports record, which imports this module

    shape = source.custom_properties.get(RESULT)
    if not isinstance(shape, str):
        raise NotCacheable("its result was not recorded in a form that can be rebuilt")
    events = [e for e in store.get_events_by_execution_ids([int(source.id or 0)]) if e.type is EventType.OUTPUT]
    artifacts = {a.id: a for a in store.get_artifacts_by_id([e.artifact_id for e in events])}
    outputs: list[tuple[Artifact, list[str | int], Any]] = []
    for event in events:
        artifact = artifacts[event.artifact_id]
        where = "/".join(map(str, event.path)) or f"artifact {artifact.id}"
        if artifact.state is not ArtifactState.LIVE:
            raise NotCacheable(f"its output {where!r} is {artifact.state.name if artifact.state else 'in no state'}")
        try:
            value = load(artifact, store=store, values=values)
        except TrackerError as exc:
            raise NotCacheable(f"its output {where!r} cannot be loaded: {exc}") from exc
        outputs.append((artifact, list(event.path), value))
    by_path = {tuple(path): value for _, path, value in outputs}
    return Hit(source, outputs, rebuild(json.loads(shape), by_path))


# --- results: recorded as a shape, rebuilt from the outputs ---


def result_shape(result: Any, names: tuple[str, ...] | None) -> str:
    """How to rebuild *result* from its output artifacts (as ``split_outputs`` made them), as JSON.

    Raises:
        NotCacheable: a result that the outputs cannot give back exactly.
    """
    if result is None:
        return json.dumps({"kind": "none"})
    fields = getattr(type(result), "_fields", None)
    if isinstance(result, tuple) and fields:
        paths = [[f] if item is not None else None for f, item in zip(fields, result, strict=True)]
        return json.dumps({"kind": "namedtuple", "type": _importable(type(result)), "paths": paths})
    if names and len(names) > 1 and dataclasses.is_dataclass(result) and not isinstance(result, type):
        own = [f.name for f in dataclasses.fields(result)]
        extra = set(getattr(result, "__dict__", {})) - set(own)
        if extra:
            raise NotCacheable(f"its result has attributes beyond its fields ({', '.join(sorted(extra))})")
        fields_ = {name: [name] if getattr(result, name) is not None else None for name in own}
        return json.dumps({"kind": "dataclass", "type": _importable(type(result)), "fields": fields_})
    if isinstance(result, tuple) and (names is None or len(names) > 1):
        if type(result) is not tuple:
            raise NotCacheable(f"its result is a {type(result).__qualname__}, a tuple subclass without fields")
        labels: list[str | int] = list(names) if names else list(range(len(result)))
        paths = [[p] if x is not None else None for p, x in zip(labels, result, strict=True)]
        return json.dumps({"kind": "tuple", "paths": paths})
    return json.dumps({"kind": "value", "path": [names[0] if names else "output"]})


def _importable(cls: type) -> str:
    from tracker.sdk.step import _import_by_name

    module, name = cls.__module__, cls.__qualname__
    try:
        found = _import_by_name(module, name)
    except Exception:
        found = None
    if found is not cls:
        raise NotCacheable(f"its result's class {module}.{name} cannot be imported by that name")
    return f"{module}:{name}"


def rebuild(shape: Mapping[str, Any], by_path: Mapping[tuple[Any, ...], Any]) -> Any:
    """The result a step returned, from its recorded shape and its outputs' values by event path."""
    from tracker.sdk.step import _import_by_name

    kind = shape.get("kind")
    try:
        if kind == "none":
            return None
        if kind == "value":
            return by_path[tuple(shape["path"])]
        if kind in ("tuple", "namedtuple"):
            items = [by_path[tuple(p)] if p is not None else None for p in shape["paths"]]
            if kind == "tuple":
                return tuple(items)
            return _import_by_name(*shape["type"].split(":", 1))(*items)
        if kind == "dataclass":
            cls = _import_by_name(*shape["type"].split(":", 1))
            made = cls.__new__(cls)
            for name, path in shape["fields"].items():
                object.__setattr__(made, name, by_path[tuple(path)] if path is not None else None)
            return made
    except KeyError as exc:
        raise NotCacheable(f"its output {'/'.join(map(str, exc.args[0]))!r} is missing") from None
    except Exception as exc:
        raise NotCacheable(f"its result cannot be rebuilt ({type(exc).__name__}: {exc})") from exc
    raise NotCacheable(f"its result was recorded in an unknown form {kind!r}")


def copied_properties(source: Execution, spec: StepSpec, already: Mapping[str, Any]) -> dict[str, Any]:
    """What the body logged on *source* (``tracker.log_params``), to record on the call that reuses it."""
    parameters = spec.signature.parameters
    spread = tuple(f"{n}_" for n, p in parameters.items() if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD))
    return {
        name: value
        for name, value in source.custom_properties.items()
        if not name.startswith("tracker_") and name not in already and name not in parameters
        and not name.startswith(spread)
    }  # fmt: skip
