"""Runs: ``with tracker.run(...)`` groups the executions and artifacts of a block in a Context.

The current run lives in one ContextVar, so asyncio tasks see the run of the
code that created them. A new thread starts outside any run: carry the run
into a pool with ``contextvars.copy_context().run(fn)``, or pass
``run.handle()`` and enter ``tracker.attach(handle)`` there, which also
works in another process.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import socket
import threading
import time
import uuid
import warnings
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, Literal

from tracker.errors import AlreadyExistsError, InvalidArgumentError, NoActiveRunError, TrackerWarning, TrackingError
from tracker.sdk import _liveness, _redact, _state
from tracker.sdk._describe import as_property
from tracker.store import Context, ContextType, ParentContext, Store
from tracker.values import ValueStore

RUN_TYPE = "Run"
PIPELINE_TYPE = "Pipeline"
Status = Literal["running", "complete", "failed", "canceled"]

_current_run: ContextVar[Run | None] = ContextVar("tracker.current_run", default=None)


@dataclass(frozen=True)
class RunHandle:
    """A picklable reference to a run, to attach to it from another thread or process."""

    context_id: int
    name: str
    store_url: str = field(repr=False)  # may hold a password: never shown
    values_root: str


@dataclass(eq=False)
class Run:
    """One run: a Context of type "Run" in *store*, and where its values go."""

    store: Store
    values: ValueStore
    context_id: int
    name: str
    parent: Run | None = None
    properties: dict[str, Any] = field(default_factory=dict)
    status: Status = "running"

    @classmethod
    def start(cls, name: str | None, *, pipeline: str | None = None, properties: dict[str, Any] | None = None,
              store: Store, values: ValueStore, parent: Run | None = None) -> Run:  # fmt: skip
        """Record a new run (and its pipeline, and its parent link) in *store*."""
        _state.ensure_type(store, ContextType(RUN_TYPE))
        int_bits = store.int_bits
        given = {k: as_property(v, int_bits) for k, v in (properties or {}).items()}
        props: dict[str, Any] = {}  # gets tracker_redacted when a property looks secret
        props.update(_redact.properties(given, props))
        props["tracker_status"] = "running"
        props[_liveness.OWNER] = _liveness.owner()
        if pipeline:
            props["tracker_pipeline"] = pipeline
        wanted = name or f"run-{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:6]}"
        _liveness.recover_once(store)  # runs and steps an earlier process left RUNNING when it died
        context_id, final = _create_unique(store, wanted, props)
        run = cls(store, values, context_id, final, parent, props)
        _liveness.heartbeat.add(store, context=context_id, cancel=lambda reason: run.finish("canceled", reason))
        _liveness.watch_signals()
        try:
            links = [ParentContext(context_id, parent.context_id)] if parent is not None else []
            if pipeline:
                _state.ensure_type(store, ContextType(PIPELINE_TYPE))
                (pipeline_id,) = store.put_contexts([Context(type=PIPELINE_TYPE, name=pipeline)], reuse_existing=True)
                links.append(ParentContext(context_id, pipeline_id))
            if links:
                store.put_parent_contexts(links)
        except BaseException as exc:  # recorded, but not started in full: it ends here, failed, saying why
            with contextlib.suppress(Exception):
                run.finish("failed", f"the run could not be started: {_state.why(exc)}")
            _liveness.heartbeat.remove(store, context=context_id)
            raise
        return run

    def finish(self, status: Status, reason: str | None = None) -> None:
        """Record how the run ended (and why, for a run a signal ended)."""
        if self.status != "running":
            return  # ended already (by a signal, while the block was unwinding)
        self.status = status
        self.properties["tracker_status"] = status
        if reason is not None:
            self.properties["tracker_end_reason"] = reason
        try:
            self._save()
        finally:
            _liveness.heartbeat.remove(self.store, context=self.context_id)

    def log(self, values: dict[str, Any], *, metrics: bool = False) -> None:
        """Add custom properties to the run's context (``tracker.log_params`` / ``log_metrics`` outside a step).

        Metrics are also named in ``tracker_metric_names`` (comma-separated), so that
        readers can tell them from parameters. Parameters that look like credentials are
        recorded redacted, and named in ``tracker_redacted`` (docs/secrets.md).
        """
        int_bits = self.store.int_bits
        recorded = {k: as_property(v, int_bits) for k, v in values.items()}
        if not metrics:  # metrics are numbers: nothing to hide, and their values are the point
            recorded = _redact.properties(recorded, self.properties)  # secret-looking params: recorded redacted
        self.properties.update(recorded)
        if metrics:
            known = str(self.properties.get("tracker_metric_names") or "")
            names = dict.fromkeys([*filter(None, known.split(",")), *values])
            self.properties["tracker_metric_names"] = ",".join(names)
        self._save()

    def _save(self) -> None:
        self.store.put_contexts(
            [Context(type=RUN_TYPE, name=self.name, id=self.context_id, custom_properties=dict(self.properties))]
        )

    def handle(self) -> RunHandle:
        """A picklable handle for :func:`tracker.attach` in another thread or process."""
        return RunHandle(self.context_id, self.name, self.store._secret_url, str(self.values.root))


def _create_unique(store: Store, wanted: str, props: dict[str, Any]) -> tuple[int, str]:
    """Create the run's context as *wanted*, or *wanted* #2, #3... when the name is taken."""
    for attempt in range(1, 1000):
        name = wanted if attempt == 1 else f"{wanted} #{attempt}"
        try:
            (context_id,) = store.put_contexts([Context(type=RUN_TYPE, name=name, custom_properties=props)])
        except AlreadyExistsError:
            continue
        return context_id, name
    raise InvalidArgumentError(f"run name {wanted!r} is taken 999 times over; choose another name")


@contextlib.contextmanager
def run(
    name: str | None = None,
    *,
    pipeline: str | None = None,
    properties: dict[str, Any] | None = None,
    store: Store | None = None,
    values: ValueStore | None = None,
) -> Iterator[Run]:
    """Group the steps called in the block into one run.

    The run is a Context of type "Run" named *name* (a taken name gets a
    " #2" suffix; no name gets a generated one), linked to a Context of type
    "Pipeline" named *pipeline* when given, and to the enclosing run when
    nested. Every execution of a step in the block, and every artifact it
    reads or writes, is linked to it. Its status (running, complete, failed,
    canceled) and times are recorded as custom properties, with *properties*
    (those that look like credentials redacted: see docs/secrets.md).

    Example::

        with tracker.run("baseline", pipeline="housing") as run:
            model = train(load(day=1), lr=0.05)
    """
    parent = _current_run.get()
    target = store or (parent.store if parent else _state.default_store())
    where = values or (parent.values if parent else _state.default_values())
    if parent is not None and parent.store is not target:
        parent = None  # a run in another store: a parent link would name a context of the wrong store
    started = Run.start(name, pipeline=pipeline, properties=properties, store=target, values=where, parent=parent)
    token = _current_run.set(started)
    try:
        yield started
    except KeyboardInterrupt:
        _finish(started, "canceled", unwinding=True)
        raise
    except BaseException:
        _finish(started, "failed", unwinding=True)
        raise
    else:
        _finish(started, "complete", unwinding=False)
    finally:
        _current_run.reset(token)  # always a token, never set(None)


def _finish(run: Run, status: Status, *, unwinding: bool) -> None:
    """Record the end of *run*. When that fails, the error policy applies (a TrackingError, or its warning),
    except while the block's own exception is *unwinding*: that one goes on, never replaced; a warning says
    the rest. The run stays "running" in the store then, and ``tracker.recover()`` marks it once this process
    has ended."""
    try:
        run.finish(status)
    except Exception as exc:
        error = TrackingError(
            f"tracker could not record the end of run {run.name!r} ({status}): {_state.why(exc)}; it stays "
            "running in the store until tracker.recover() marks it, once this process has ended"
        )
        error.__cause__ = exc
        if unwinding:
            warnings.warn(str(error), TrackerWarning, stacklevel=4)
        else:
            _state.report(error)


def current_run() -> Run | None:
    """The innermost run of the calling code, or None outside any."""
    return _current_run.get()


@contextlib.contextmanager
def attach(handle: RunHandle) -> Iterator[Run]:
    """Make the run behind *handle* current here (another thread or process); it is not finished on exit."""
    store = Store(handle.store_url)
    attached = Run(store, ValueStore(handle.values_root), handle.context_id, handle.name)
    token = _current_run.set(attached)
    try:
        yield attached
    finally:
        _current_run.reset(token)
        store.close()


# --- the run of steps called outside any run ---

_process_lock = threading.Lock()
_process_runs: dict[tuple[int, str], Run] = {}


def run_for(store: Store | None) -> Run:
    """The current run; outside any, a run for this process in *store* (or the default store)."""
    current = _current_run.get()
    if current is not None and (store is None or store is current.store):
        return current
    target = store or _state.default_store()
    key = (os.getpid(), target.url)
    with _process_lock:
        found = _process_runs.get(key)
        if found is None or found.store is not target:
            name = f"process {socket.gethostname()}:{os.getpid()} {time.strftime('%Y-%m-%d %H:%M:%S')}"
            found = Run.start(name, store=target, values=_state.default_values())
            _process_runs[key] = found
        return found


def require_run() -> Run:
    """The current run, or NoActiveRunError."""
    current = _current_run.get()
    if current is None:
        raise NoActiveRunError("this needs an active run: call it inside `with tracker.run(...)` or a step")
    return current


@atexit.register
def _finish_process_runs() -> None:
    for (pid, _), found in list(_process_runs.items()):
        if pid != os.getpid():
            continue  # a forked child leaves its parent's run alone
        with contextlib.suppress(Exception):  # the store may be gone at exit; nothing to tell anyone
            found.finish("complete")
