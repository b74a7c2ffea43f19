"""Opening and closing stores: URLs, the default location, closed stores, engines."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from databases import fresh_database

import tracker
from tracker.errors import ConfigurationError, StoreClosedError


def test_default_store_is_a_sqlite_file_under_dot_tracker(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With no URL and no TRACKER_URL, the store is ./.tracker/mlmd.sqlite."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("TRACKER_URL", raising=False)
    with tracker.connect() as store:
        assert store.backend == "sqlite"
    assert (tmp_path / ".tracker" / "mlmd.sqlite").is_file()


def test_tracker_url_names_the_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """TRACKER_URL is used when connect() gets no URL; a plain path is a SQLite file."""
    monkeypatch.setenv("TRACKER_URL", str(tmp_path / "runs" / "meta.sqlite"))
    with tracker.connect() as store:
        assert store.url.endswith("runs/meta.sqlite")
    assert (tmp_path / "runs" / "meta.sqlite").is_file()


def test_in_memory_sqlite(tmp_path: Path) -> None:
    """sqlite:// is an in-memory store that works across calls."""
    with tracker.connect("sqlite://") as store:
        store.put_context_type(tracker.ContextType("Run"))
        assert [t.name for t in store.get_context_types()] == ["Run"]


@pytest.mark.parametrize(
    ("url", "message"),
    [("oracle://scott@db/x", "unsupported store URL scheme 'oracle'"), ("postgresql://:::", "cannot parse")],
)
def test_bad_urls_are_refused(url: str, message: str) -> None:
    """An unsupported or unparsable URL raises ConfigurationError."""
    with pytest.raises(ConfigurationError, match=message):
        tracker.connect(url)


def test_passwords_never_show(tmp_path: Path) -> None:
    """A store's url and repr, and URL errors, hide the password."""
    # trust auth on the test server accepts any password
    with fresh_database("postgresql", tmp_path) as url, tracker.connect(url.replace("@", ":secret@", 1)) as store:
        assert "secret" not in repr(store) and "secret" not in store.url
    with pytest.raises(ConfigurationError) as caught:
        tracker.connect("oracle://scott:secret@db/x")
    assert "secret" not in str(caught.value)


def test_a_closed_store_raises(store: tracker.Store) -> None:
    """Every call on a closed store raises StoreClosedError; closing twice is fine."""
    store.close()
    store.close()
    assert "(closed)" in repr(store)
    with pytest.raises(StoreClosedError, match="closed"):
        store.get_artifacts()
    with pytest.raises(StoreClosedError):
        store.put_artifact_type(tracker.ArtifactType("X"))


def test_stores_on_one_url_share_an_engine(tmp_path: Path) -> None:
    """Two stores on one URL share an engine; closing one leaves the other working."""
    path = str(tmp_path / "s.sqlite")
    first, second = tracker.connect(path), tracker.connect(path)
    first.close()
    second.put_context_type(tracker.ContextType("Run"))
    assert [t.name for t in second.get_context_types()] == ["Run"]
    second.close()


def test_a_forked_child_opens_its_own_connections(tmp_path: Path) -> None:
    """After fork, the child writes through fresh connections and the parent still works."""
    store = tracker.connect(str(tmp_path / "fork.sqlite"))
    store.put_context_type(tracker.ContextType("Run"))
    pid = os.fork()
    if pid == 0:  # the child
        try:
            store.put_contexts([tracker.Context(type="Run", name="from-child")])
        finally:
            os._exit(0)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert [c.name for c in store.get_contexts()] == ["from-child"]
    store.close()


def test_close_waits_for_a_call_running_in_another_thread(store: tracker.Store, store_url: str) -> None:
    """close() from one thread while another's call waits on a lock: the call finishes, then the connections
    go, and none is left open for the garbage collector (a ResourceWarning before)."""
    import gc
    import threading
    import time
    import warnings

    from sqlalchemy import create_engine

    from tracker.store._engine import resolve_url

    (execution_id,) = store.put_executions([tracker.Execution(type=store_type(store))])
    engine = create_engine(resolve_url(store_url))
    holder = engine.raw_connection()
    cursor = holder.cursor()
    if store.backend == "sqlite":
        cursor.execute("BEGIN IMMEDIATE")  # the write lock: touch() waits for it
    else:
        if store.backend == "postgresql":
            cursor.execute("BEGIN")
        else:
            cursor.execute("START TRANSACTION")
        cursor.execute(f"SELECT id FROM Execution WHERE id = {execution_id} FOR UPDATE")
    failures: list[BaseException] = []

    def touch() -> None:
        try:
            store.touch(executions=[execution_id])
        except BaseException as exc:  # reported by the test
            failures.append(exc)

    toucher, closer = threading.Thread(target=touch), threading.Thread(target=store.close)
    try:
        toucher.start()
        time.sleep(0.5)  # the touch is waiting for the lock
        closer.start()
        time.sleep(0.5)
        assert closer.is_alive(), "close() returned while a call was still running"
    finally:
        holder.rollback()
        holder.close()
        engine.dispose()
    toucher.join(30)
    closer.join(30)
    assert not failures and not toucher.is_alive() and not closer.is_alive()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        gc.collect()
    assert not [w for w in caught if issubclass(w.category, ResourceWarning)]
    with pytest.raises(StoreClosedError):
        store.get_executions()


def store_type(store: tracker.Store) -> str:
    """An execution type in *store* (made if missing)."""
    store.put_execution_type(tracker.ExecutionType("Step"))
    return "Step"
