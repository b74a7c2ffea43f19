"""Liveness: who owns a RUNNING execution or run, a heartbeat while it runs, and recovery when its process died.

A step's execution and a run's context record their owner (custom property
``tracker_owner``: host, process id and the process's start, so a reused pid
is told apart) and, while they run, a heartbeat thread sets their
``last_update_time_since_epoch`` every ``$TRACKER_HEARTBEAT`` seconds (30).
``recover()`` marks abandoned those whose owner is gone: on this host, when
the process is dead (a live process is never marked, however long its step
or busy its machine); on another host, when the heartbeat stopped for
``stale_after`` seconds (10 minutes). MLMD has no ABANDONED state, so an
abandoned execution becomes CANCELED and an abandoned run "canceled", each
with the reason in ``tracker_abandoned``; ml-metadata reads both.

SIGTERM during a step records CANCELED before the process ends as it would
have; SIGINT raises KeyboardInterrupt, which the step records as CANCELED.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import threading
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tracker.errors import InvalidArgumentError, StoreClosedError
from tracker.store import Context, Execution, ExecutionState, Store

OWNER = "tracker_owner"
ABANDONED = "tracker_abandoned"
HEARTBEAT_ENV_VAR = "TRACKER_HEARTBEAT"
DEFAULT_HEARTBEAT = 30.0
DEFAULT_STALE_AFTER = 600.0
#: How long a signal handler waits for the CANCELED records before the process ends anyway.
SIGNAL_GRACE = 5.0


# --- who owns a record ---


def owner() -> str:
    """``"<host> <pid> <start>"`` for this process; <start> tells a reused pid apart ("-" where unknown)."""
    global _owner
    if _owner is None:
        _owner = f"{socket.gethostname()} {os.getpid()} {_process_start(os.getpid()) or '-'}"
    return _owner


_owner: str | None = None


def _process_start(pid: int) -> str | None:
    """When process *pid* started, as this boot's id and the clock ticks since boot (Linux), else None."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as file:
            stat = file.read().decode("ascii", "replace")
        with open("/proc/sys/kernel/random/boot_id") as file:
            boot = file.read().strip()
    except OSError:
        return None
    fields = stat.rpartition(")")[2].split()  # after the command name, which may hold spaces
    return f"{boot[:8]}:{fields[19]}" if len(fields) > 19 else None


def owner_gone(recorded: str) -> bool | None:
    """Whether the process named by *recorded* (an ``owner()`` string) has ended; None if it runs elsewhere."""
    host, _, rest = recorded.partition(" ")
    pid_text, _, start = rest.partition(" ")
    if host != socket.gethostname() or not pid_text.isdigit():
        return None
    pid = int(pid_text)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        pass  # alive, another user's
    except OSError:
        return None
    now = _process_start(pid)
    return start not in ("-", "") and now is not None and now != start  # the pid was reused


# --- the heartbeat, and what a signal must mark ---


@dataclass(eq=False)
class _Live:
    """The records this process has RUNNING in one store, and how to mark each one CANCELED.

    The store is held weakly: beating never keeps a store (and its connections) alive.
    """

    store: weakref.ref[Store]
    executions: dict[int, Callable[[str], None]] = field(default_factory=dict)
    contexts: dict[int, Callable[[str], None]] = field(default_factory=dict)


class Heartbeat:
    """One daemon thread per process that keeps this process's RUNNING records' update times recent."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._live: dict[int, _Live] = {}
        self._thread: threading.Thread | None = None
        self._wake = threading.Event()

    def add(self, store: Store, *, execution: int | None = None, context: int | None = None,
            cancel: Callable[[str], None]) -> None:  # fmt: skip
        """Beat for a record until :meth:`remove`; *cancel(reason)* records it CANCELED when a signal ends us."""
        with self._lock:
            live = self._live.get(id(store))
            if live is None or live.store() is not store:
                live = self._live[id(store)] = _Live(weakref.ref(store))
            if execution is not None:
                live.executions[execution] = cancel
            if context is not None:
                live.contexts[context] = cancel
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._beat, name="tracker-heartbeat", daemon=True)
                self._thread.start()

    def remove(self, store: Store, *, execution: int | None = None, context: int | None = None) -> None:
        with self._lock:
            live = self._live.get(id(store))
            if live is None or live.store() is not store:
                return
            live.executions.pop(execution, None) if execution is not None else None
            live.contexts.pop(context, None) if context is not None else None
            if not live.executions and not live.contexts:
                del self._live[id(store)]

    def records(self, store: Store) -> tuple[list[int], list[int]]:
        """The execution and context ids this process beats for in *store*."""
        with self._lock:
            live = self._live.get(id(store))
            if live is None or live.store() is not store:
                return [], []
            return list(live.executions), list(live.contexts)

    def cancels(self) -> list[Callable[[str], None]]:
        """What marks each live record CANCELED: executions first, then runs (innermost last registered)."""
        with self._lock:
            found = [c for live in self._live.values() for c in live.executions.values()]
            return found + [c for live in self._live.values() for c in reversed(list(live.contexts.values()))]

    def _beat(self) -> None:
        while True:
            self._wake.wait(interval())
            self._wake.clear()
            self._beat_once()  # a call of its own: no store stays referenced while the thread waits

    def _beat_once(self) -> None:
        with self._lock:
            work = [(key, live.store(), list(live.executions), list(live.contexts))
                    for key, live in self._live.items()]  # fmt: skip
        for key, store, executions, contexts in work:
            try:
                if store is None:
                    raise StoreClosedError("collected")
                store.touch(executions=executions, contexts=contexts)
            except StoreClosedError:
                with self._lock:  # closed or gone: nothing to beat for there any more
                    if key in self._live and self._live[key].store() is store:
                        del self._live[key]
            except Exception:  # unreachable now: its records go stale, and the next beat tries again
                pass

    def beat_now(self) -> None:
        """Wake the thread for a beat now (tests)."""
        self._wake.set()


def interval() -> float:
    """Seconds between beats: ``$TRACKER_HEARTBEAT``, else 30."""
    try:
        seconds = float(os.environ.get(HEARTBEAT_ENV_VAR) or DEFAULT_HEARTBEAT)
    except ValueError:
        return DEFAULT_HEARTBEAT
    return seconds if seconds > 0 else DEFAULT_HEARTBEAT


heartbeat = Heartbeat()


def watch_signals() -> None:
    """Make SIGTERM record this process's RUNNING records as CANCELED before it ends the process.

    Installed once, from the main thread, when a step or run first starts. A handler the program set
    is kept and called afterwards; an ignored signal stays ignored.
    """
    global _watching
    if _watching or threading.current_thread() is not threading.main_thread():
        return
    _watching = True
    previous = signal.getsignal(signal.SIGTERM)
    if previous in (signal.SIG_IGN, None):
        return

    def on_sigterm(signum: int, frame: Any) -> None:
        cancel_live(f"the process got signal {signal.Signals(signum).name}")
        if callable(previous):
            previous(signum, frame)
            return
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)  # end as the signal would have ended us

    with contextlib.suppress(ValueError, OSError):  # not the main interpreter, or no signals here
        signal.signal(signal.SIGTERM, on_sigterm)


_watching = False


def cancel_live(reason: str) -> None:
    """Record every live record of this process CANCELED (in another thread, waiting at most SIGNAL_GRACE).

    Another thread, because this one may be inside a transaction on the same database.
    """

    def mark() -> None:
        for cancel in heartbeat.cancels():
            with contextlib.suppress(Exception):
                cancel(reason)

    worker = threading.Thread(target=mark, name="tracker-cancel", daemon=True)
    worker.start()
    worker.join(SIGNAL_GRACE)


# --- recovery ---


@dataclass(frozen=True)
class Recovered:
    """What :func:`recover` marked (or, with ``dry_run``, would mark): ``(id, reason)`` pairs."""

    executions: list[tuple[int, str]]
    runs: list[tuple[int, str]]


def recover(store: Store | None = None, *, stale_after: float | None = None, dry_run: bool = False) -> Recovered:
    """Mark the RUNNING executions and running runs whose process is gone as CANCELED, saying why.

    On this host, a record whose process has ended is abandoned (a live process's never is,
    however long its step). A record owned on another host is abandoned when its heartbeat
    stopped more than *stale_after* seconds ago (default 600). Each gets ``tracker_abandoned``
    with the reason. Tracker does this by itself when a process first records into a store.

    Args:
        store: the store to check (default: the default store).
        stale_after: seconds without a heartbeat after which another host's record is abandoned.
        dry_run: only say what would be marked.
    """
    from tracker.sdk import _state

    store = store or _state.default_store()
    if stale_after is not None and (isinstance(stale_after, bool) or not stale_after > 0):
        raise InvalidArgumentError(f"stale_after must be a positive number of seconds, not {stale_after!r}")
    stale = DEFAULT_STALE_AFTER if stale_after is None else float(stale_after)
    now = time.time() * 1000
    executions: list[tuple[int, str]] = []
    running = store.get_executions("last_known_state = RUNNING")
    found = [e for e in running if isinstance(e.custom_properties.get(OWNER), str)]
    marked: list[Execution] = []
    for execution in found:
        reason = _why_abandoned(str(execution.custom_properties[OWNER]), execution.last_update_time_since_epoch, now,
                                stale)  # fmt: skip
        if reason is not None:
            executions.append((int(execution.id or 0), reason))
            execution.last_known_state = ExecutionState.CANCELED
            execution.custom_properties[ABANDONED] = reason
            marked.append(execution)
    runs: list[tuple[int, str]] = []
    query = "type = 'Run' AND custom_properties.tracker_status.string_value = 'running'"
    contexts = [c for c in store.get_contexts(query) if isinstance(c.custom_properties.get(OWNER), str)]
    stopped: list[Context] = []
    for context in contexts:
        reason = _why_abandoned(str(context.custom_properties[OWNER]), context.last_update_time_since_epoch, now, stale)
        if reason is not None:
            runs.append((int(context.id or 0), reason))
            context.custom_properties["tracker_status"] = "canceled"
            context.custom_properties[ABANDONED] = reason
            stopped.append(context)
    if not dry_run:
        if marked:
            store.put_executions(marked)
        if stopped:
            store.put_contexts(stopped)
    return Recovered(executions, runs)


def _why_abandoned(recorded: str, updated: int | None, now: float, stale_after: float) -> str | None:
    gone = owner_gone(recorded)
    host, _, rest = recorded.partition(" ")
    pid = rest.partition(" ")[0]
    if gone is True:
        return f"abandoned: its process {pid} on {host} ended without recording the end"
    if gone is None and updated is not None and now - updated > stale_after * 1000:
        return f"abandoned: no heartbeat from process {pid} on {host} for {int((now - updated) / 1000)} s"
    return None


_recovered: weakref.WeakSet[Store] = weakref.WeakSet()


def recover_once(store: Store) -> None:
    """Recover *store* the first time this process records into it (a failure is no reason to stop a run)."""
    if store in _recovered:
        return
    _recovered.add(store)
    with contextlib.suppress(Exception):
        recover(store)


def _after_fork() -> None:
    global _owner, heartbeat
    _owner = None
    heartbeat = Heartbeat()  # a forked child has none of its parent's records or threads


os.register_at_fork(after_in_child=_after_fork)
