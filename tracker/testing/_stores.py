"""Stores for tests: a template copied per test, tracking switched off, and golden stores to replay.

A new SQLite store costs its schema (about twenty tables and their indexes, then MLMD's seed rows): tens of
milliseconds, per test. :class:`StoreTemplate` pays that once and copies the finished file instead.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tracker.errors import ReplayError
from tracker.sdk import _state, runs
from tracker.sdk.runs import run as start_run
from tracker.store import Execution, Store
from tracker.testing._replay import REPLAY_OF, REPLAYABLE, ReplayResult, replay
from tracker.values import ValueStore

#: The files of a golden directory: the store, and the values too large to be kept in it.
GOLDEN_STORE = "mlmd.sqlite"
GOLDEN_VALUES = "values"


class StoreTemplate:
    """An empty SQLite store, created once in *directory* and copied for every new store.

    Example::

        template = StoreTemplate(tmp_dir)
        store = template.new(tmp_dir / "test_1.sqlite")   # a fresh store: a file copy, no schema to create

    .. versionadded:: 0.1
    """

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.path = Path(directory) / "template.sqlite"
        if not self.path.exists():
            # made under another name and renamed: a process that finds the file finds it whole
            building = self.path.with_name(f"template-{os.getpid()}.sqlite")
            Store(str(building)).close()  # the last connection closed: the WAL is checkpointed into the file
            os.replace(building, self.path)

    def new(self, path: str | os.PathLike[str]) -> Store:
        """A new, empty store at *path* (a SQLite file that must not exist yet), from a copy of the template."""
        shutil.copyfile(self.path, path)
        return Store(str(path))


@contextlib.contextmanager
def no_tracking() -> Iterator[None]:
    """Steps called in the block run as plain functions, and ``tracker.log_*`` calls do nothing.

    The switch follows the current context, as the current run does: asyncio tasks started in the block
    inherit it, new threads do not. Runs entered in the block are still recorded; a replay always is.

    Example::

        with tracker.testing.no_tracking():
            model = train(data)          # nothing recorded

    .. versionadded:: 0.1
    """
    token = _state.enabled.set(False)
    try:
        yield
    finally:
        _state.enabled.reset(token)


@contextlib.contextmanager
def recording_into(store: Store, values: ValueStore) -> Iterator[None]:
    """Steps and runs use *store* and *values* by default inside the block; the runs made there are finished."""
    with _state.defaults(store, values):
        try:
            yield
        finally:
            _finish_process_runs(store)


def _finish_process_runs(store: Store) -> None:
    """Finish the runs made for steps called outside any run in *store*, and forget them."""
    for key, found in list(runs._process_runs.items()):
        if found.store is store:
            del runs._process_runs[key]
            with contextlib.suppress(Exception):  # a store closed by the test: nothing left to record into
                found.finish("complete")


# --- golden stores ---


@dataclass
class Golden:
    """One recorded execution of a golden store, in a copy of that store made for one test.

    Attributes:
        store: the copy (replays are recorded there; the golden store itself is never written).
        execution: the recorded execution.
        values: the golden directory's value store (values too large to be kept in the store).

    .. versionadded:: 0.1
    """

    store: Store
    execution: Execution
    values: ValueStore

    def replay(self, **options: Any) -> ReplayResult:
        """:func:`tracker.testing.replay` of the execution, from this copy; *options* as there."""
        return replay(self.execution, store=self.store, values=self.values, **options)


def record_goldens(directory: str | os.PathLike[str], record: Callable[[], Any]) -> int:
    """Record the golden store of *directory* again: delete it, then run *record* with tracking into a new one.

    *record* calls the steps whose executions become the goldens (on small inputs, with fixed seeds). It
    runs in a run named ``goldens``. Returns how many executions it recorded.
    """
    root = Path(directory)
    root.mkdir(parents=True, exist_ok=True)
    for name in (GOLDEN_STORE, f"{GOLDEN_STORE}-wal", f"{GOLDEN_STORE}-shm"):
        (root / name).unlink(missing_ok=True)
    shutil.rmtree(root / GOLDEN_VALUES, ignore_errors=True)
    store = Store(str(root / GOLDEN_STORE))
    try:
        with recording_into(store, ValueStore(root / GOLDEN_VALUES)), start_run("goldens", store=store):
            record()
        return len(store.get_executions())
    finally:
        store.close()  # the last connection: the WAL goes into the file, which is then all there is
        with contextlib.suppress(OSError):
            (root / GOLDEN_VALUES).rmdir()  # no value was too large for the store: no directory to commit


def golden_executions(directory: str | os.PathLike[str], steps: Iterable[str] | None = None) -> list[Execution]:
    """The executions of the golden store in *directory* that can be replayed: ended, of a step, not replays.

    The store is read from a temporary copy, so the golden file is never opened for writing.

    Raises:
        ReplayError: there is no golden store in *directory*.
    """
    source = Path(directory) / GOLDEN_STORE
    if not source.exists():
        raise ReplayError(
            f"no golden store at {source}; record it with `pytest --tracker-refresh-goldens` (it runs the "
            "record= function of @pytest.mark.tracker_goldens)"
        )
    wanted = set(steps) if steps is not None else None
    with tempfile.TemporaryDirectory(prefix="tracker-goldens-") as scratch:
        copy = Path(scratch) / GOLDEN_STORE
        shutil.copyfile(source, copy)
        with Store(str(copy)) as store:
            found = store.get_executions(f"custom_properties.{REPLAY_OF}.int_value IS NULL")
    return [
        e for e in found
        if e.last_known_state in REPLAYABLE and "tracker_module" in e.custom_properties
        and (wanted is None or e.custom_properties.get("tracker_step") in wanted)
    ]  # fmt: skip


def open_golden(directory: str | os.PathLike[str], execution_id: int, scratch: Path) -> Golden:
    """A :class:`Golden` for one execution, in a copy of the golden store made in *scratch*."""
    copy = scratch / GOLDEN_STORE
    shutil.copyfile(Path(directory) / GOLDEN_STORE, copy)
    store = Store(str(copy))
    found = store.get_executions_by_id([execution_id])
    if not found:
        store.close()
        raise ReplayError(f"the golden store in {directory} has no execution {execution_id} any more; collect again")
    # the golden directory is the user's own, kept with their tests: its values are trusted whoever signed them
    return Golden(store, found[0], ValueStore(Path(directory) / GOLDEN_VALUES, allow_untrusted=True))
