"""Nothing lost, nothing let in: fault sweeps over a step's writes (issue 8, item 2).

For k = 1, 2, ... the k-th ``os.write``, ``os.fsync`` or ``os.replace`` of the value store, or the k-th DBAPI
``cursor.execute`` / ``commit`` of the metadata store, fails, until a step runs with no fault left to inject
(the sweep ends by itself). After every injected fault:

- one clear error: with ``on_error="raise"`` a TrackingError naming what failed, with ``"warn"`` one
  TrackerWarning and the function's own result; or none at all when a retry absorbed the fault;
- no partial records: every artifact's value loads (or the artifact says why it has none), every execution
  holds all its events or only its inputs, no RUNNING execution is left while the database answered, every
  event, link and property names rows that exist, nothing is recorded twice;
- no temporary file under the value root;
- the next step works, without help, and so does a step given the failed call's result.

Also a full disk (RLIMIT_FSIZE in a subprocess, always; a small tmpfs where mounting is allowed), values the
serializer cannot write, and writes retried after a COMMIT that went through.
"""

from __future__ import annotations

import contextlib
import errno
import itertools
import json
import os
import pickle
import re
import subprocess
import sys
import textwrap
import threading
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from integrity import broken_references
from sqlalchemy import create_engine, text

import tracker
from tracker.errors import CommitUnknownError, TrackerError, TrackerWarning, TrackingError, ValueWriteError
from tracker.sdk import _state
from tracker.sdk.record import TRACKING_ERROR_TYPE
from tracker.store import _sql
from tracker.store._engine import resolve_url
from tracker.store.entities import EventType, ExecutionState
from tracker.values import ValueStore, _trust
from tracker.values.serializers import SERIALIZERS

BIG = 1_200_000  # bytes: over the value store's in-memory limit, so the value is written as it is serialized
REPORT = 70_000  # bytes: over the inline limit (64 KiB), under the in-memory one: written when it is complete
MAX_K = 400  # a sweep that has not ended by then never will
_seeds = itertools.count(1)


# --- the steps ---


@tracker.step(outputs=("model", "report", "note"))
def fit(data: bytes, rows: list[int], seed: int) -> tuple[bytes, bytes, str]:
    """Two inputs (one in a file, one inline) and three outputs (two in files, one inline)."""
    return data[::-1], data[:REPORT], f"fitted {seed} on {len(rows)} rows"


@tracker.step
def check(model: bytes) -> int:
    """A next step, given what a failed call returned: its input must be a value that loads."""
    return len(model)


@tracker.step
def grow(n: int) -> bytes:
    """A small call that makes a large value."""
    return os.urandom(16) + bytes(n)


FIT_INPUTS, FIT_OUTPUTS = 2, 3


def arguments() -> tuple[bytes, list[int], int]:
    """New contents every call: nothing is found by identity or content, every value is written."""
    seed = next(_seeds)
    return os.urandom(16) + bytes(BIG), [seed, seed + 1], seed


def expected(data: bytes, rows: list[int], seed: int) -> tuple[bytes, bytes, str]:
    return fit.__wrapped__(data, rows, seed)  # type: ignore[attr-defined, no-any-return]


# --- the world a sweep runs in ---


@dataclass
class Outcome:
    """What one call gave: its result, the TrackerWarnings it issued, the TrackerError it raised."""

    result: Any
    warned: list[str]
    error: TrackerError | None


@dataclass
class World:
    """A store (one backend), a value root, and what has been checked so far."""

    store: tracker.Store
    url: str
    root: Path
    checked_artifacts: int = 0
    checked_executions: int = 0
    #: executions left RUNNING by a call that could not reach the database: tracker.recover() marks them later
    running: set[int] = field(default_factory=set)

    def call(self, fn: Callable[..., Any], *args: Any, policy: str = "warn") -> Outcome:
        tracker.configure(on_error=policy)  # type: ignore[arg-type]
        result, error = None, None
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                result = fn(*args)
            except TrackerError as exc:
                error = exc
        others = [w for w in caught if not issubclass(w.category, TrackerWarning)]
        assert not others, [str(w.message) for w in others]
        return Outcome(result, [str(w.message) for w in caught], error)

    def fit_executions(self) -> list[tracker.Execution]:
        try:
            return self.store.get_executions_by_type("fit")
        except tracker.NotFoundError:  # before the first call
            return []

    def audit(self, *, running_allowed: bool) -> None:
        """No partial records, no temporary file: checks the records made since the last audit, and all links."""
        problems: list[str] = []
        values = ValueStore(self.root)
        new = [a for a in self.store.get_artifacts() if int(a.id or 0) > self.checked_artifacts]
        for artifact in new:
            if (artifact.external_id or "").startswith("blake3:"):
                try:
                    tracker.load(artifact, store=self.store, values=values)
                except TrackerError as exc:
                    problems.append(f"artifact {artifact.id}'s value does not load: {exc}")
            elif "tracker_unstored_reason" not in artifact.custom_properties:
                problems.append(f"artifact {artifact.id} has no value and says not why")
        self.checked_artifacts = max([self.checked_artifacts, *(int(a.id or 0) for a in new)])
        executions = self.store.get_executions()
        for execution in executions:
            number = int(execution.id or 0)
            if number > self.checked_executions or number in self.running:
                problems += _execution_problems(self.store, execution, running_allowed or number in self.running)
                if running_allowed and execution.last_known_state is ExecutionState.RUNNING:
                    self.running.add(number)
        self.checked_executions = max([self.checked_executions, *(int(e.id or 0) for e in executions)])
        problems += [
            f"{n} rows of {name} name a row that does not exist" for name, n in broken_references(self.url).items() if n
        ]
        problems += [f"temporary file left: {p}" for p in self.root.rglob(".incoming-*")]
        assert not problems, "\n".join(problems)

    def next_steps_work(self, result: Any) -> None:
        """A new call records in full, without a warning; a step given the failed call's result, too."""
        data, rows, seed = arguments()
        before = len(self.fit_executions())
        outcome = self.call(fit, data, rows, seed)
        assert outcome.error is None and outcome.warned == [] and outcome.result == expected(data, rows, seed)
        executions = self.fit_executions()
        assert len(executions) == before + 1 and executions[-1].last_known_state is ExecutionState.COMPLETE
        if result is not None:
            outcome = self.call(check, result[0])
            assert outcome.error is None and outcome.warned == [] and outcome.result == len(result[0])
            (last,) = self.store.get_executions_by_type("check")[-1:]
            events = self.store.get_events_by_execution_ids([int(last.id or 0)])
            (event,) = [e for e in events if e.type == EventType.INPUT]
            (artifact,) = self.store.get_artifacts_by_id([event.artifact_id])
            assert tracker.load(artifact, store=self.store, values=ValueStore(self.root)) == result[0]
        self.audit(running_allowed=False)


def _execution_problems(store: tracker.Store, execution: tracker.Execution, running_allowed: bool) -> list[str]:
    """What is partial about one execution of fit (or check): its events against its state."""
    events = store.get_events_by_execution_ids([int(execution.id or 0)])
    inputs = sum(1 for e in events if e.type == EventType.INPUT)
    outputs = sum(1 for e in events if e.type == EventType.OUTPUT)
    name = f"execution {execution.id} ({execution.type}, {execution.last_known_state.name})"
    wanted = {"fit": (FIT_INPUTS, FIT_OUTPUTS), "check": (1, 1), "hand_over": (0, 1), "grow": (0, 1)}[execution.type]
    problems = [f"{name}: an event without a path" for e in events if not e.path]
    if inputs != wanted[0]:
        problems.append(f"{name}: {inputs} inputs, not {wanted[0]}")
    state = execution.last_known_state
    if state is ExecutionState.COMPLETE and outputs != wanted[1]:
        problems.append(f"{name}: {outputs} outputs, not {wanted[1]}")
    elif state is ExecutionState.FAILED:
        if outputs:
            problems.append(f"{name}: FAILED with {outputs} outputs")
        if execution.custom_properties.get("tracker_error_type") != TRACKING_ERROR_TYPE:
            problems.append(f"{name}: FAILED without saying tracking failed: {execution.custom_properties}")
    elif state is ExecutionState.RUNNING:
        if not running_allowed:
            problems.append(f"{name}: left RUNNING while the database answered")
        if outputs:
            problems.append(f"{name}: RUNNING with {outputs} outputs")
    elif state is not ExecutionState.COMPLETE:
        problems.append(f"{name}: unexpected state")
    if not str(execution.external_id or "").startswith("tracker:"):
        problems.append(f"{name}: no external id {execution.external_id!r}")
    return problems


@pytest.fixture
def world(store: tracker.Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    """Steps record into a fresh store (each backend) and value root, in one run; the key exists already."""
    monkeypatch.setenv(_trust.KEY_ENV_VAR, str(tmp_path / "key"))
    monkeypatch.setattr(_sql, "_sleep", lambda seconds: None)  # retries without waiting
    monkeypatch.setattr(_state, "_on_error", _state._on_error)  # the tests set it: as it was afterwards
    made = World(store, store._secret_url, tmp_path / "values")
    with _state.defaults(store, ValueStore(made.root)), tracker.run("faults", store=store):
        made.next_steps_work(None)  # warm-up: the key, the types, the statements
        yield made
    _state.artifacts.clear()


# --- injecting faults ---


class Fault:
    """Counts the calls of one kind made on the test's thread; fails the k-th (``once``) or every one from the
    k-th on (``always``)."""

    def __init__(self, k: int, always: bool) -> None:
        self.k, self.always = k, always
        self.calls = 0
        self.fired = 0
        self._thread = threading.get_ident()

    def due(self) -> bool:
        if threading.get_ident() != self._thread:
            return False  # the heartbeat thread, say
        self.calls += 1
        if self.calls == self.k or (self.always and self.calls > self.k):
            self.fired += 1
            return True
        return False


@contextlib.contextmanager
def os_fault(name: str, k: int, always: bool, code: int) -> Iterator[Fault]:
    """``os.<name>`` (write, fsync, replace) fails with *code* on its k-th call."""
    fault = Fault(k, always)
    real = getattr(os, name)

    def failing(*args: Any, **kwargs: Any) -> Any:
        if fault.due():
            raise OSError(code, os.strerror(code))
        return real(*args, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(os, name, failing)
        yield fault


def driver_error(backend: str) -> Exception:
    """An error the database reports with the connection intact: its disk is full, or an I/O error."""
    if backend == "postgresql":
        import psycopg

        return psycopg.errors.DiskFull('could not extend file "base/1/2": No space left on device (injected)')
    if backend == "mysql":
        import pymysql

        return pymysql.err.OperationalError(1021, "Disk full (injected); waiting for someone to free some space")
    import sqlite3

    return sqlite3.OperationalError("disk I/O error (injected)")


class _Cursor:
    def __init__(self, connection: _Connection, cursor: Any) -> None:
        self._connection, self._cursor = connection, cursor

    def execute(self, *args: Any, **kwargs: Any) -> Any:
        return self._connection.call("execute", lambda: self._cursor.execute(*args, **kwargs))

    def executemany(self, *args: Any, **kwargs: Any) -> Any:
        return self._connection.call("execute", lambda: self._cursor.executemany(*args, **kwargs))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._cursor, name)


class _Connection:
    """A pooled connection whose cursors' execute and whose commit go through a DatabaseFault."""

    def __init__(self, plan: DatabaseFault, pooled: Any) -> None:
        self._plan, self._pooled = plan, pooled
        self._cursors: list[Any] = []

    def cursor(self) -> _Cursor:
        cursor = self._pooled.cursor()
        self._cursors.append(cursor)
        return _Cursor(self, cursor)

    def commit(self) -> None:
        self.call("commit", self._pooled.commit)

    def call(self, kind: str, operation: Callable[[], Any]) -> Any:
        return self._plan.call(kind, self, operation)

    def lose(self) -> Any:
        """Close the connection under its user, as a server that went away would.

        Python's sqlite3 closes a connection with a live statement as a "zombie" that keeps the
        transaction and its lock until the statement is finalized: a connection that really went
        away holds nothing, so its statements are ended first.
        """
        for cursor in self._cursors:
            with contextlib.suppress(Exception):
                cursor.close()
        dbapi_connection = self._pooled.dbapi_connection
        dbapi_connection.close()
        return dbapi_connection

    def __getattr__(self, name: str) -> Any:
        return getattr(self._pooled, name)


class DatabaseFault(Fault):
    """The k-th DBAPI ``execute`` (execute, executemany) or ``commit`` fails.

    Modes: ``lost`` closes the connection first, so the driver itself raises (for a COMMIT, after it went
    through: the client never learns the outcome); ``error`` raises a database error on a sound
    connection (a full disk); ``always`` loses the connection on every call from the k-th on.
    """

    def __init__(self, store: tracker.Store, kind: str, k: int, mode: str) -> None:
        super().__init__(k, mode == "always")
        self.kind, self.mode, self.backend = kind, mode, store.backend

    def call(self, kind: str, connection: _Connection, operation: Callable[[], Any]) -> Any:
        if kind != self.kind or not self.due():
            return operation()
        if self.mode == "error":
            raise driver_error(self.backend)
        if self.mode == "lost" and kind == "commit":
            operation()  # committed; the answer is lost with the connection
        gone = connection.lose()
        if kind == "commit":
            gone.commit()  # the driver's own error for a connection that went away
        gone.cursor().execute("SELECT 1")  # the same, for a statement
        raise AssertionError("a closed connection worked")


@contextlib.contextmanager
def database_fault(store: tracker.Store, kind: str, k: int, mode: str) -> Iterator[DatabaseFault]:
    fault = DatabaseFault(store, kind, k, mode)
    engine = store._open().engine
    real = engine.raw_connection
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(engine, "raw_connection", lambda: _Connection(fault, real()))
        yield fault


# --- the sweep ---


def sweep(
    world: World,
    arm: Callable[[int], contextlib.AbstractContextManager[Fault]],
    *,
    policy: Callable[[int], str],
    absorbed: bool,
    reachable: bool,
    says: str,
) -> int:
    """Fail the k-th call for k = 1, 2, ... until a call runs with no fault left to inject; check each failure.

    *absorbed*: a retry must hide the fault (no error, complete records). Else the call must fail with one
    clear error whose message matches *says*; *reachable*: the database answered, so nothing is left RUNNING.
    Returns how many faults were injected.
    """
    for k in range(1, MAX_K):
        data, rows, seed = arguments()
        before = {int(e.id or 0) for e in world.fit_executions()}
        with arm(k) as fault:
            outcome = world.call(fit, data, rows, seed, policy=policy(k))
        new = [e for e in world.fit_executions() if int(e.id or 0) not in before]
        if not fault.fired:  # k is past the last call: the sweep is over
            assert outcome.error is None and outcome.warned == [], (k, outcome)
            assert [e.last_known_state for e in new] == [ExecutionState.COMPLETE]
            world.audit(running_allowed=False)
            assert k > 1, "no call was made: nothing was swept"
            return k - 1
        where = f"k={k} ({fault.fired} failed of {fault.calls} calls)"
        if absorbed:
            assert outcome.error is None and outcome.warned == [], (where, outcome.error, outcome.warned)
            assert outcome.result == expected(data, rows, seed)
            assert [e.last_known_state for e in new] == [ExecutionState.COMPLETE], where
        else:
            if policy(k) == "raise":
                assert isinstance(outcome.error, TrackingError) and outcome.warned == [], (where, outcome)
                message = str(outcome.error)
            else:
                assert outcome.error is None and len(outcome.warned) == 1, (where, outcome.warned)
                assert outcome.result == expected(data, rows, seed), where
                message = outcome.warned[0]
            assert re.search(r"tracker could not record the (start|outputs) of step 'fit'", message), message
            assert re.search(says, message), (says, message)
            if "the start" in message:
                assert new == [], (where, "a failed start left an execution", message)
            else:
                assert len(new) == 1, (where, new)
                allowed = {ExecutionState.FAILED} | (set() if reachable else {ExecutionState.RUNNING})
                assert new[0].last_known_state in allowed, (where, new[0].last_known_state, message)
        world.audit(running_allowed=not reachable)
        world.next_steps_work(outcome.result)
    raise AssertionError(f"the sweep did not end after {MAX_K} faults")


def report(name: str, faults: int) -> None:
    print(f"\n[fault sweep] {name}: {faults} faults injected")


def warn_or_raise(k: int) -> str:
    """Both policies, in turns."""
    return "warn" if k % 2 else "raise"


# --- value store: write, fsync, rename ---

OS_CALLS = {
    "write": (errno.ENOSPC, "could not write"),
    "fsync": (errno.EIO, "could not sync"),
    "replace": (errno.EIO, "could not rename"),
}


@pytest.mark.parametrize("always", [False, True], ids=["once", "always"])
@pytest.mark.parametrize("name", list(OS_CALLS))
@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
def test_a_failed_value_write_records_nothing_partial(world: World, name: str, always: bool) -> None:
    """The k-th os.write / os.fsync / os.replace fails: one error naming it, the execution FAILED (or never
    started), its values' temporary files gone; the next step works."""
    code, says = OS_CALLS[name]
    faults = sweep(
        world,
        lambda k: os_fault(name, k, always, code),
        policy=warn_or_raise,
        absorbed=False,
        reachable=True,
        says=rf"ValueWriteError: the value store {says} .*\[Errno {code}\]",
    )
    report(f"os.{name} {'always' if always else 'once'}", faults)
    assert faults >= {"write": 5, "fsync": 5, "replace": 3}[name]  # every file of the call, inputs and outputs


# --- database: execute, commit ---

DB_MODES = {
    # (kind, mode): (absorbed, reachable, what the message says)
    ("execute", "lost"): (True, True, ""),
    ("execute", "error"): (False, True, r"DatabaseError: .*the database failed: .*injected"),
    ("execute", "always"): (False, False, r"DatabaseError: .*connection to the database was lost \(3 attempts\)"),
    ("commit", "lost"): (True, True, ""),
    ("commit", "error"): (True, True, ""),
    ("commit", "always"): (False, False, r"DatabaseError: .*the COMMIT failed \(3 attempts\)"),
}


@pytest.mark.parametrize(("kind", "mode"), list(DB_MODES), ids=[f"{k}-{m}" for k, m in DB_MODES])
def test_a_failed_database_call_records_nothing_partial(world: World, kind: str, mode: str) -> None:
    """The k-th cursor.execute or commit fails: a lost connection is tried again on a new one, a COMMIT that may
    have gone through is tried again without writing twice; what cannot be recorded fails with one error, and
    leaves the execution FAILED (or never started) when the database answers; the next step works."""
    absorbed, reachable, says = DB_MODES[kind, mode]
    faults = sweep(
        world,
        lambda k: database_fault(world.store, kind, k, mode),
        policy=warn_or_raise,
        absorbed=absorbed,
        reachable=reachable,
        says=says,
    )
    report(f"{world.store.backend} {kind} {mode}", faults)
    assert faults >= (10 if kind == "execute" else 2)


# --- runs: their start and their end ---


def run_statuses(store: tracker.Store, prefix: str) -> dict[str, str]:
    """Each run named *prefix*... and its recorded status."""
    return {
        str(c.name): str(c.custom_properties.get("tracker_status"))
        for c in store.get_contexts()
        if c.type == "Run" and str(c.name).startswith(prefix)
    }


@pytest.mark.parametrize("store_url", ["sqlite", "postgresql"], indirect=True)
def test_a_run_whose_start_or_end_fails_says_so_and_leaves_no_run_half_started(world: World) -> None:
    """The k-th database statement of a nested run with a pipeline fails, k = 1, 2, ...: a failed start raises
    the DatabaseError at the ``with`` line before the block runs, and leaves the run absent or marked failed; a
    failed end applies the error policy (its message names the run) after the block ran; the next run works."""
    faults = 0
    for k in range(1, MAX_K):
        name = f"nested-{k}"
        ran = False
        caught: list[str] = []
        error: BaseException | None = None
        tracker.configure(on_error=warn_or_raise(k))  # type: ignore[arg-type]
        with database_fault(world.store, "execute", k, "error") as fault, warnings.catch_warnings(record=True) as w:
            warnings.simplefilter("always")
            try:
                with tracker.run(name, pipeline=f"pipeline-{k}", store=world.store):
                    ran = True
            except TrackerError as exc:
                error = exc
            caught = [str(x.message) for x in w if issubclass(x.category, TrackerWarning)]
        statuses = run_statuses(world.store, name)
        if not fault.fired:
            assert ran and error is None and caught == [] and statuses == {name: "complete"}, (k, statuses)
            break
        faults += 1
        if not ran:  # the start failed: raised before the block, under either policy
            assert isinstance(error, tracker.errors.DatabaseError) and caught == [], (k, error, caught)
            assert set(statuses.values()) <= {"failed"}, (k, statuses)
        else:  # the end failed
            message = str(error) if error is not None else caught[0]
            assert (error is None) == (warn_or_raise(k) == "warn") and len(caught) == (error is None), (k, caught)
            assert f"could not record the end of run {name!r}" in message and "DatabaseError" in message
            assert statuses == {name: "running"}, (k, statuses)
        with tracker.run(f"after-{k}", store=world.store):
            world.next_steps_work(None)
        assert run_statuses(world.store, f"after-{k}") == {f"after-{k}": "complete"}
    report(f"{world.store.backend} run start and end", faults)
    assert faults >= 4  # the run, the pipeline, the parent links, the end


def test_a_failed_run_end_never_replaces_the_blocks_own_exception(store: tracker.Store, tmp_path: Path) -> None:
    """The block raises, and the run's end cannot be recorded (its store closed): the block's exception goes
    on unchanged, with either policy, and a warning says what was not recorded."""
    for policy in ("warn", "raise"):
        tracker.configure(on_error=policy)  # type: ignore[arg-type]
        try:
            with tracker.connect(store._secret_url) as own, warnings.catch_warnings(record=True) as w:
                warnings.simplefilter("always")
                block = tracker.run(f"closed-{policy}", store=own, values=ValueStore(tmp_path / "v"))
                with pytest.raises(KeyError, match="the block's own"), block:
                    own.close()
                    raise KeyError("the block's own")
            (warned,) = [str(x.message) for x in w if issubclass(x.category, TrackerWarning)]
            assert f"could not record the end of run 'closed-{policy}' (failed)" in warned
            assert "StoreClosedError" in warned
        finally:
            tracker.configure(on_error="warn")
    assert run_statuses(store, "closed-") == {"closed-warn": "running", "closed-raise": "running"}


# --- a server that ended its connections ---


def end_connections(url: str) -> int:
    """Have the server end every connection to the database of *url* (a restart, a proxy timeout): how many."""
    from sqlalchemy import make_url

    parsed = make_url(url)
    if parsed.get_backend_name() == "postgresql":
        import psycopg

        dsn = parsed.set(drivername="postgresql", database="postgres").render_as_string(hide_password=False)
        with psycopg.connect(dsn, autocommit=True) as admin:
            ended = admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
                (parsed.database,),
            ).fetchall()
        return len(ended)
    import pymysql

    login = {"host": parsed.host or "127.0.0.1", "port": parsed.port or 3306, "user": parsed.username or "root",
             "password": parsed.password or "", "autocommit": True}  # fmt: skip
    with pymysql.connect(**login) as admin, admin.cursor() as cursor:
        cursor.execute("SELECT id FROM information_schema.processlist WHERE db = %s AND id <> CONNECTION_ID()",
                       (parsed.database,))  # fmt: skip
        ids = [row[0] for row in cursor.fetchall()]
        for number in ids:
            with contextlib.suppress(pymysql.err.OperationalError):  # gone meanwhile
                cursor.execute(f"KILL {int(number)}")
    return len(ids)


@pytest.mark.parametrize("store_url", ["postgresql", "mysql"], indirect=True)
def test_connections_the_server_ended_are_replaced(world: World) -> None:
    """The server ends the pooled connections between two steps: the next step records in full, with no warning
    (the dead connection fails, is discarded, and the write runs again on a new one)."""
    assert end_connections(world.url) >= 1
    world.next_steps_work(None)
    assert end_connections(world.url) >= 1
    outcome = world.call(check, b"after")
    assert outcome.warned == [] and outcome.result == 5


# --- the order: values on the disk, then the records ---


@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
def test_values_are_on_the_disk_before_their_records_commit(world: World) -> None:
    """Each value file is synced before it is renamed into place, its directory synced after, and both before
    the COMMIT of the transaction that records it."""
    log: list[tuple[str, int]] = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd: int) -> None:
        log.append(("fsync", os.fstat(fd).st_ino))
        real_fsync(fd)

    def replace(source: Any, target: Any) -> None:
        log.append(("replace", os.stat(source).st_ino))
        real_replace(source, target)
        log.append(("renamed into", os.stat(os.path.dirname(target)).st_ino))

    class Committing(DatabaseFault):  # fails nothing: notes each COMMIT
        def call(self, kind: str, connection: _Connection, operation: Callable[[], Any]) -> Any:
            if kind == "commit":
                log.append(("commit", 0))
            return operation()

    engine = world.store._open().engine
    real_connection = engine.raw_connection
    noting = Committing(world.store, "commit", 0, "error")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(os, "fsync", fsync)
        patch.setattr(os, "replace", replace)
        patch.setattr(engine, "raw_connection", lambda: _Connection(noting, real_connection()))
        outcome = world.call(fit, *arguments())
    assert outcome.warned == [] and outcome.error is None
    renames = [i for i, (what, _) in enumerate(log) if what == "replace"]
    assert len(renames) == 3  # the input in a file, two outputs
    for i in renames:
        file, directory = log[i][1], log[i + 1][1]
        commit = next(j for j in range(i, len(log)) if log[j][0] == "commit")
        assert ("fsync", file) in log[:i], f"file {file} renamed before it was synced: {log}"
        assert ("fsync", directory) in log[i + 2 : commit], f"directory {directory} not synced before COMMIT: {log}"
    world.audit(running_allowed=False)


# --- retrying after a COMMIT that went through ---


def counts(url: str) -> dict[str, int]:
    engine = create_engine(resolve_url(url))
    try:
        with engine.connect() as conn:
            names = ("Execution", "Artifact", "Event", "EventPath", "Attribution", "Association", "Context")
            return {n: int(conn.execute(text(f"SELECT COUNT(*) FROM {n}")).scalar_one()) for n in names}
    finally:
        engine.dispose()


def test_put_execution_run_again_after_its_commit_went_through_writes_nothing_twice(
    store: tracker.Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The driver raises after COMMIT succeeded: put_execution runs again, finds its rows (the execution by its
    external id, an artifact by its external id or its event's path), and returns their ids."""
    monkeypatch.setattr(_sql, "_sleep", lambda seconds: None)
    store.put_execution_type(tracker.ExecutionType("job"))
    store.put_artifact_type(tracker.ArtifactType("blob"))
    store.put_context_type(tracker.ContextType("Run"))
    url = store._secret_url
    before = counts(url)
    execution = tracker.Execution(type="job", external_id="job-1", last_known_state=ExecutionState.RUNNING)
    pairs: list[tuple[tracker.Artifact | int, tracker.Event | None]] = [
        (tracker.Artifact(type="blob", external_id="blob-1"), tracker.Event(type=EventType.INPUT, path=["a"])),
        (tracker.Artifact(type="blob"), tracker.Event(type=EventType.INPUT, path=["b", 0])),  # no external id
    ]
    with database_fault(store, "commit", 1, "lost") as fault:
        execution.id, ids, (context_id,) = store.put_execution(
            execution, pairs, [tracker.Context(type="Run", name="r")]
        )
    assert fault.fired == 1 and fault.calls == 2  # the first COMMIT went through, the second found it all
    grown = {name: n - before[name] for name, n in counts(url).items()}
    assert grown == {"Execution": 1, "Artifact": 2, "Event": 2, "EventPath": 3, "Attribution": 2,
                     "Association": 1, "Context": 1}  # fmt: skip
    assert sorted(e.artifact_id for e in store.get_events_by_execution_ids([execution.id])) == sorted(ids)

    execution.last_known_state = ExecutionState.COMPLETE  # the end: an update, and an output without external id
    outputs: list[tuple[tracker.Artifact | int, tracker.Event | None]] = [
        (tracker.Artifact(type="blob"), tracker.Event(type=EventType.OUTPUT, path=["out"]))
    ]
    with database_fault(store, "commit", 1, "lost") as fault:
        _, (output,), _ = store.put_execution(execution, outputs, [context_id])
    assert fault.fired == 1
    grown = {name: n - before[name] for name, n in counts(url).items()}
    assert grown == {"Execution": 1, "Artifact": 3, "Event": 3, "EventPath": 4, "Attribution": 3,
                     "Association": 1, "Context": 1}  # fmt: skip
    (stored,) = store.get_executions_by_id([execution.id])
    assert stored.last_known_state is ExecutionState.COMPLETE
    assert output in {e.artifact_id for e in store.get_events_by_execution_ids([execution.id])}


def test_a_write_that_cannot_find_its_rows_says_its_outcome_is_unknown(
    store: tracker.Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """put_artifacts of a new artifact cannot tell its own row from another: after a COMMIT that may have gone
    through it raises CommitUnknownError instead of writing it again."""
    monkeypatch.setattr(_sql, "_sleep", lambda seconds: None)
    store.put_artifact_type(tracker.ArtifactType("blob"))
    with database_fault(store, "commit", 1, "lost"), pytest.raises(CommitUnknownError, match="may or may not"):
        store.put_artifacts([tracker.Artifact(type="blob")])
    assert len(store.get_artifacts()) == 1  # it had gone through, once


def test_without_the_retry_a_lost_commit_would_duplicate(store: tracker.Store, monkeypatch: pytest.MonkeyPatch) -> None:
    """The check above can fail: run again blindly (as if it were not an earlier attempt's), put_execution of a
    step's execution would hit its own external id."""
    monkeypatch.setattr(_sql, "_sleep", lambda seconds: None)
    monkeypatch.setattr(_sql.Tx, "__init__", _blind_tx_init)
    store.put_execution_type(tracker.ExecutionType("job"))
    with database_fault(store, "commit", 1, "lost"), pytest.raises(tracker.AlreadyExistsError):
        store.put_execution(tracker.Execution(type="job", external_id="job-1"))


def _blind_tx_init(self: Any, backend: Any, cursor: Any, maybe_committed: bool = False) -> None:
    self.backend, self.cursor, self.maybe_committed, self._savepoints = backend, cursor, False, 0


# --- values the serializer cannot write: the value's fault, recorded without a value ---


class Unpicklable:
    """Fails to pickle only after a large value before it was written to the temporary file."""

    def __reduce__(self) -> Any:
        raise TypeError("Unpicklable objects cannot be pickled (on purpose)")


@tracker.step
def hand_over(n: int) -> list[Any]:
    return [bytes(3_000_000), Unpicklable()]


def test_a_value_that_fails_mid_stream_is_recorded_without_a_value(world: World) -> None:
    """3 MB reach the temporary file before the serializer fails: one TrackerWarning, the artifact says why, the
    step COMPLETE, no temporary file."""
    outcome = world.call(hand_over, 1)
    assert outcome.error is None and len(outcome.warned) == 1, outcome
    assert re.search(r"output \(list\) could not be stored \(TypeError: Unpicklable", outcome.warned[0])
    (execution,) = world.store.get_executions_by_type("hand_over")
    assert execution.last_known_state is ExecutionState.COMPLETE
    (event,) = world.store.get_events_by_execution_ids([int(execution.id or 0)])
    (artifact,) = world.store.get_artifacts_by_id([event.artifact_id])
    assert "Unpicklable" in str(artifact.custom_properties["tracker_unstored_reason"]) and artifact.uri is None
    assert list(world.root.rglob(".incoming-*")) == []
    world.audit(running_allowed=False)


class MidStream:
    """A serializer that writes 2 MB, then fails."""

    name = "midstream"

    def dump(self, value: Any, file: Any) -> None:
        file.write(bytes(2_000_000))
        raise RuntimeError("the serializer broke mid-stream")

    def load(self, file: Any) -> Any:
        return pickle.load(file)  # never reached: nothing it wrote is stored


def test_a_serializer_that_raises_mid_stream_leaves_no_file(world: World) -> None:
    """The serializer's own error, after 2 MB were written: one warning, recorded without a value, no file."""
    run = tracker.current_run()
    assert run is not None
    with pytest.MonkeyPatch.context() as patch:
        patch.setitem(SERIALIZERS, "midstream", MidStream())
        patch.setattr(run, "values", ValueStore(world.root, serializer="midstream"))
        outcome = world.call(grow, 10)
    assert outcome.error is None and len(outcome.warned) == 1, outcome
    assert "output (bytes) could not be stored (RuntimeError: the serializer broke mid-stream)" in outcome.warned[0]
    assert list(world.root.rglob(".incoming-*")) == []
    (execution,) = world.store.get_executions_by_type("grow")
    assert execution.last_known_state is ExecutionState.COMPLETE
    world.audit(running_allowed=False)
    world.next_steps_work(None)


def test_short_writes_are_completed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """os.write may write less than asked: the value store writes the rest, and the file is whole."""
    monkeypatch.setenv(_trust.KEY_ENV_VAR, str(tmp_path / "key"))
    real = os.write
    values = ValueStore(tmp_path / "values")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(os, "write", lambda fd, data: real(fd, memoryview(data)[:4096]))
        stored = values.put(bytes(range(256)) * 10_000)
    assert values.get(stored.fingerprint, mac=stored.mac) == bytes(range(256)) * 10_000


def test_a_value_write_error_is_the_stores_not_the_values(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """ValueStore.put raises ValueWriteError (naming the file) for an I/O error, even when the serializer
    turned it into an error of its own; the temporary file is gone."""
    monkeypatch.setenv(_trust.KEY_ENV_VAR, str(tmp_path / "key"))
    values = ValueStore(tmp_path / "values")
    refused = pytest.raises(ValueWriteError, match=r"could not write .*\.incoming-.*\[Errno 5\]")
    with os_fault("write", 1, False, errno.EIO), refused as raised:
        values.put(bytes(3_000_000))
    assert raised.value.path is not None and ".incoming-" in raised.value.path
    assert list((tmp_path / "values").rglob(".incoming-*")) == []


def test_large_values_are_handed_to_the_disk_while_they_are_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A value larger than the write-back step is synced early, on another thread, while the rest is written;
    the file is whole. An early sync that fails fails the write: ValueWriteError, no temporary file."""
    from tracker.values import store as value_store

    monkeypatch.setenv(_trust.KEY_ENV_VAR, str(tmp_path / "key"))
    monkeypatch.setattr(value_store, "_WRITE_BACK", 1 << 20)
    real = value_store._datasync
    synced: list[str] = []

    def counting(fd: int) -> None:
        synced.append(threading.current_thread().name)
        real(fd)

    values = ValueStore(tmp_path / "values")
    data = os.urandom(6 << 20)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(value_store, "_datasync", counting)
        stored = values.put(data)
    assert synced and all(name.startswith("tracker-sync") for name in synced)
    assert values.get(stored.fingerprint, mac=stored.mac) == data

    def failing(fd: int) -> None:
        raise OSError(errno.EIO, os.strerror(errno.EIO))

    with pytest.MonkeyPatch.context() as patch, pytest.raises(ValueWriteError, match=r"could not sync .*\[Errno 5\]"):
        patch.setattr(value_store, "_datasync", failing)
        values.put(os.urandom(6 << 20))
    assert list((tmp_path / "values").rglob(".incoming-*")) == []


# --- a full disk ---

_FULL_DISK_WORKER = textwrap.dedent(
    """
    import json, resource, signal, sys, warnings
    import tracker

    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG, not a signal
    url, root, policy = sys.argv[1:4]
    tracker.configure(store=url, values=root, on_error=policy)

    @tracker.step
    def produce(n: int) -> bytes:
        return bytes(n)

    out = {}
    with warnings.catch_warnings(record=True) as caught, tracker.run("full"):
        warnings.simplefilter("always")
        produce(100)  # the key, the database and its WAL exist before the limit
        resource.setrlimit(resource.RLIMIT_FSIZE, (8 << 20, resource.RLIM_INFINITY))
        try:
            out["big"] = len(produce(20 << 20))
        except tracker.TrackerError as exc:
            out["error"] = f"{type(exc).__name__}: {exc}"
        out["small"] = len(produce(200_000))  # the next step, with a value in a file under the limit
    out["warnings"] = [str(w.message) for w in caught]
    print(json.dumps(out))
    """
)


@pytest.mark.parametrize("policy", ["warn", "raise"])
def test_a_file_size_limit_fails_the_step_cleanly(tmp_path: Path, policy: str) -> None:
    """RLIMIT_FSIZE (EFBIG) stops a 20 MB value at 8 MB: one clear error, the execution FAILED, no temporary
    file; the next step, whose value fits, works."""
    root = tmp_path / "values"
    url = str(tmp_path / "store.sqlite")
    env = {**os.environ, _trust.KEY_ENV_VAR: str(tmp_path / "key")}
    done = subprocess.run([sys.executable, "-c", _FULL_DISK_WORKER, url, str(root), policy], env=env,
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout.splitlines()[-1])
    problems = [out["error"]] if policy == "raise" else out["warnings"]
    assert out.get("big") == (20 << 20 if policy == "warn" else None) and len(problems) == 1, out
    said = r"the outputs of step 'produce': ValueWriteError: the value store could not write .*\[Errno 27\] File too"
    assert re.search(said + r" large; its execution \d+ is recorded FAILED", problems[0]), problems[0]
    assert out["small"] == 200_000
    assert list(root.rglob(".incoming-*")) == []
    with tracker.connect(url) as store:
        states = [e.last_known_state for e in store.get_executions_by_type("produce")]
        assert states == [ExecutionState.COMPLETE, ExecutionState.FAILED, ExecutionState.COMPLETE]
        assert not any(broken_references(url).values())


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 1 MiB tmpfs, where this process may mount one (root, outside most containers); else the test skips."""
    mount = tmp_path / "small"
    mount.mkdir()
    made = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m,mode=0700", "tmpfs", str(mount)],
                          capture_output=True, text=True)  # fmt: skip
    if made.returncode:
        pytest.skip(f"cannot mount a tmpfs here: {made.stderr.strip() or made.returncode}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
def test_a_full_disk_fails_the_step_cleanly(store: tracker.Store, small_disk: Path, tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    """ENOSPC on a 1 MiB tmpfs: one warning, the execution FAILED, the temporary file gone (so the space is free
    again: the next step's 600 KB value fits)."""
    monkeypatch.setenv(_trust.KEY_ENV_VAR, str(tmp_path / "key"))
    made = World(store, store._secret_url, small_disk / "values")
    with _state.defaults(store, ValueStore(made.root)), tracker.run("full disk", store=store):
        outcome = made.call(grow, 100)  # the key, the types
        outcome = made.call(grow, 2_000_000)
        assert outcome.result is not None and len(outcome.result) == 2_000_016 and len(outcome.warned) == 1
        assert re.search(r"the outputs of step 'grow': ValueWriteError: .*\[Errno 28\] No space left on device; its "
                         r"execution \d+ is recorded FAILED", outcome.warned[0])  # fmt: skip
        made.audit(running_allowed=False)
        assert list(made.root.rglob(".incoming-*")) == []
        outcome = made.call(grow, 600_000)
        assert outcome.warned == [] and outcome.result is not None and len(outcome.result) == 600_016
        states = [e.last_known_state for e in store.get_executions_by_type("grow")]
        assert states == [ExecutionState.COMPLETE, ExecutionState.FAILED, ExecutionState.COMPLETE]
        made.audit(running_allowed=False)
    _state.artifacts.clear()
