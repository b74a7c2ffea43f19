"""Process-wide tracking state: the default store and value store, the error policy, caches."""

from __future__ import annotations

import contextlib
import os
import re
import threading
import warnings
import weakref
from collections import OrderedDict
from collections.abc import Iterable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, Literal

from tracker.errors import InvalidArgumentError, TrackerWarning, TrackingError
from tracker.sdk import _redact
from tracker.store import ArtifactType, ContextType, ExecutionType, Store, connect
from tracker.values import ValueStore

OnError = Literal["warn", "raise"]

_lock = threading.Lock()
_store: Store | None = None
_values: ValueStore | None = None
_on_error: OnError = "warn"
_cache: Any = None  # the project's default for steps that say nothing: True, False or a tracker.Cache

#: Whether steps and ``log_*`` record in the calling context (``tracker.testing.no_tracking()`` turns it off).
enabled: ContextVar[bool] = ContextVar("tracker.enabled", default=True)


def configure(
    *,
    store: Store | str | None = None,
    values: ValueStore | str | None = None,
    on_error: OnError | None = None,
    cache: Any = None,
    redact_names: Iterable[str] | None = None,
    redact_patterns: Iterable[str | re.Pattern[str]] | None = None,
    unredacted_names: Iterable[str] | None = None,
) -> None:
    """Set what steps and runs use by default.

    *store*: a Store or a URL (default: ``tracker.connect()``, i.e. ``$TRACKER_URL`` or
    ``./.tracker/mlmd.sqlite``). *values*: a ValueStore or a directory for stored values
    (default ``$TRACKER_VALUES`` or ``./.tracker/values``). *on_error*: what a step does
    when it cannot record: ``"warn"`` (default: a TrackerWarning, and the function's
    result or exception reaches the caller unchanged) or ``"raise"`` (a TrackerError).
    *cache*: whether steps that do not say (``@tracker.step(cache=...)``) reuse earlier
    results: True, False or a ``tracker.Cache(...)`` (see docs/caching.md).

    Secret-looking arguments and parameters are always recorded redacted (see docs/secrets.md).
    *redact_names*: more argument and parameter names whose values are redacted whole, matched
    case-insensitively, shell wildcards allowed (``["internal_id", "corp_*"]``). *redact_patterns*:
    more regular expressions; the text they match is redacted wherever it appears in a recorded
    string (``[r"corp-[0-9a-f]{32}"]``). *unredacted_names*: names the built-in rules take for
    secrets that are not (``["session"]``); their values are still scanned. Each replaces what an
    earlier call gave; ``[]`` clears it.

    Raises:
        RedactionConfigError: a pattern that does not compile or matches empty text, or a name
            that is not a non-empty string.
    """
    global _store, _values, _on_error, _cache
    if on_error is not None and on_error not in ("warn", "raise"):
        raise InvalidArgumentError(f"on_error must be 'warn' or 'raise', not {on_error!r}")
    if cache is not None:
        from tracker.sdk.cache import as_policy

        as_policy(cache, "tracker.configure")
    redaction = None
    if redact_names is not None or redact_patterns is not None or unredacted_names is not None:
        redaction = _redact.updated(redact_names, redact_patterns, unredacted_names)  # checked before any change
    with _lock:
        if store is not None:
            _store = connect(store) if isinstance(store, str) else store
        if values is not None:
            _values = ValueStore(values) if isinstance(values, str) else values
        if on_error is not None:
            _on_error = on_error
        if cache is not None:
            _cache = cache
        if redaction is not None:
            _redact.use(redaction)


def reset() -> None:
    """Forget the defaults (closing a default store tracker opened itself) and the caches."""
    global _store, _values, _on_error, _cache
    with _lock:
        _store, _values, _on_error, _cache = None, None, "warn", None
        _redact.use(None)
        artifacts.clear()
        registered.clear()


@contextlib.contextmanager
def defaults(store: Store, values: ValueStore) -> Iterator[None]:
    """Make *store* and *values* the defaults inside the block, then restore the previous defaults (and error
    policy, which the block may configure), as test fixtures need."""
    global _store, _values, _on_error, _cache
    with _lock:
        saved = _store, _values, _on_error, _cache
        _store, _values = store, values
    try:
        yield
    finally:
        with _lock:
            _store, _values, _on_error, _cache = saved


def cache_default() -> Any:
    """The project's caching default (``configure(cache=...)``): True, False, a tracker.Cache, or None."""
    return _cache


def default_store() -> Store:
    global _store
    with _lock:
        if _store is None:
            _store = connect()
        return _store


def default_values() -> ValueStore:
    global _values
    with _lock:
        if _values is None:
            _values = ValueStore()
        return _values


def why(exc: BaseException) -> str:
    """*exc* in a message: its type and first 2,000 characters (its own message names what failed)."""
    return f"{type(exc).__name__}: {exc}"[:2000]


def report(error: TrackingError) -> None:
    """Apply the error policy (``configure(on_error=...)``) to a failure of tracking itself, never of the
    user's code: raise *error*, or warn with its message."""
    if _on_error == "raise":
        raise error
    warnings.warn(str(error), TrackerWarning, stacklevel=5)


@dataclass(frozen=True)
class Known:
    """A live value's artifact: its id, and the fingerprint and size it was stored with (if it was)."""

    artifact_id: int
    fingerprint: str | None = None
    size: int | None = None


class ArtifactCache:
    """Which stored artifact a live Python object is, so passing it on links by identity.

    An object that can be weakly referenced (arrays, frames, most class instances)
    is held weakly, so caching never keeps a large value alive. Others (lists,
    dicts, tuples) are held, so their id is not reused while cached; the oldest
    entries go past *size*.
    """

    def __init__(self, size: int = 4096) -> None:
        self._entries: OrderedDict[tuple[int, int], tuple[Store, Any, Known]] = OrderedDict()
        self._size = size
        self._lock = threading.RLock()  # a weakref callback may run in a garbage collection under the lock

    def get(self, store: Store, value: Any) -> Known | None:
        key = (id(store), id(value))
        with self._lock:
            entry = self._entries.get(key)
            if entry is None or entry[0] is not store:
                return None
            held = entry[1]
            if (held() if isinstance(held, weakref.ref) else held) is not value:
                return None
            self._entries.move_to_end(key)
            return entry[2]

    def put(self, store: Store, value: Any, known: Known) -> None:
        key = (id(store), id(value))
        try:
            held: Any = weakref.ref(value, lambda _: self._forget(key))
        except TypeError:  # lists, dicts, tuples, ints, strs: no weak references
            held = value
        with self._lock:
            self._entries[key] = (store, held, known)
            self._entries.move_to_end(key)
            while len(self._entries) > self._size:
                self._entries.popitem(last=False)

    def _forget(self, key: tuple[int, int]) -> None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None and isinstance(entry[1], weakref.ref) and entry[1]() is None:
                del self._entries[key]

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


artifacts = ArtifactCache()
#: per store, the types this process registered in it already
registered: weakref.WeakKeyDictionary[Store, set[tuple[str, str, str, int]]] = weakref.WeakKeyDictionary()


def ensure_type(store: Store, declared: ArtifactType | ExecutionType | ContextType) -> None:
    """put_*_type once per process and store, not on every call."""
    done = registered.setdefault(store, set())
    key = (type(declared).__name__, declared.name, ",".join(sorted(declared.properties)),
           int(getattr(declared, "base_type", 0)))  # fmt: skip
    if key in done:
        return
    if isinstance(declared, ArtifactType):
        store.put_artifact_type(declared)
    elif isinstance(declared, ExecutionType):
        store.put_execution_type(declared)
    else:
        store.put_context_type(declared)
    done.add(key)


def _after_fork() -> None:
    global _lock
    _lock = threading.Lock()
    artifacts._lock = threading.RLock()


os.register_at_fork(after_in_child=_after_fork)
