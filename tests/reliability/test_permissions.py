"""What tracker creates is its owner's alone: directories 0700, files 0600, whatever the umask.

That is a new SQLite store (the database file, its -wal and -shm files, the directories made for it),
a new value directory (root, subdirectories, value files, temporary files) and the key file. A
directory or file the user made is left with the mode the user gave it.
"""

from __future__ import annotations

import os
import sqlite3
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import tracker
from tracker.values import ValueStore, _trust


@pytest.fixture(params=[0o000, 0o022, 0o002], ids=["umask-000", "umask-022", "umask-002"])
def umask(request: pytest.FixtureRequest) -> Iterator[int]:
    """A permissive umask for the test, restored after it."""
    previous = os.umask(request.param)
    try:
        yield request.param
    finally:
        os.umask(previous)


@pytest.fixture(autouse=True)
def key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "config" / "tracker" / "values.key"
    monkeypatch.setenv(_trust.KEY_ENV_VAR, str(path))
    return path


def mode(path: Path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


class _Probe:
    """Pickled after a large buffer: looks at the temporary file the value is being written to."""

    seen: dict[str, int] = {}  # noqa: RUF012

    def __init__(self, root: Path) -> None:
        self.root = root

    def __reduce__(self) -> tuple[Any, tuple[()]]:
        for path in self.root.iterdir():
            if path.name.startswith(".incoming"):
                _Probe.seen[path.name] = mode(path)
        return int, ()


def test_a_new_value_directory_is_private(umask: int, tmp_path: Path, key: Path) -> None:
    """The root and the parents made for it, the subdirectories, the temporary and the value files, the key."""
    root = tmp_path / "made" / "by" / "tracker"
    values = ValueStore(root)
    _Probe.seen.clear()
    stored = values.put([bytes(3_000_000), _Probe(root)])  # written through a temporary file
    assert len(_Probe.seen) == 1 and set(_Probe.seen.values()) == {0o600}
    path = values.path_of(stored.fingerprint)
    directories = [tmp_path / "made", tmp_path / "made" / "by", root, path.parent.parent, path.parent]
    assert {str(d.relative_to(tmp_path)): mode(d) for d in directories} == {
        str(d.relative_to(tmp_path)): 0o700 for d in directories
    }
    assert mode(path) == 0o600
    assert mode(key) == 0o600 and mode(key.parent) == 0o700 and mode(key.parent.parent) == 0o700
    small = values.put(list(range(30_000)))  # in memory first, then a file of its own
    assert mode(values.path_of(small.fingerprint)) == 0o600


def test_an_existing_value_directory_keeps_its_mode(umask: int, tmp_path: Path) -> None:
    """A root the user made (here 0755) is not chmod-ed; what tracker makes inside it is private."""
    root = tmp_path / "shared"
    root.mkdir()
    root.chmod(0o755)
    values = ValueStore(root)
    stored = values.put(list(range(30_000)))
    path = values.path_of(stored.fingerprint)
    assert mode(root) == 0o755
    assert (mode(path.parent.parent), mode(path.parent), mode(path)) == (0o700, 0o700, 0o600)


@pytest.mark.parametrize("form", ["path", "url"])
def test_a_new_sqlite_store_is_private(umask: int, tmp_path: Path, form: str) -> None:
    """The database, its -wal and -shm files (while it is open) and the directories made for it."""
    database = tmp_path / "new" / "dir" / "mlmd.sqlite"
    with tracker.connect(str(database) if form == "path" else f"sqlite:///{database}") as store:
        store.put_artifact_type(tracker.ArtifactType("Model"))
        store.get_artifact_types()
        files = [database, database.with_name("mlmd.sqlite-wal"), database.with_name("mlmd.sqlite-shm")]
        assert {f.name: mode(f) for f in files} == {f.name: 0o600 for f in files}
    assert (mode(tmp_path / "new"), mode(tmp_path / "new" / "dir")) == (0o700, 0o700)


def test_an_existing_database_and_its_directory_keep_their_modes(umask: int, tmp_path: Path) -> None:
    """A directory and a database file the user made (0755, 0644) are opened as they are."""
    directory = tmp_path / "mine"
    directory.mkdir()
    directory.chmod(0o755)
    database = directory / "mlmd.sqlite"
    sqlite3.connect(database).close()
    database.chmod(0o644)
    with tracker.connect(str(database)) as store:
        store.put_artifact_type(tracker.ArtifactType("Model"))
    assert (mode(directory), mode(database)) == (0o755, 0o644)
    empty = directory / "empty.sqlite"  # empty: tracker's own file would be too, the mode tells them apart
    empty.touch(0o640)
    empty.chmod(0o640)
    tracker.connect(str(empty)).close()
    assert mode(empty) == 0o640


def test_the_default_locations_are_private(umask: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``./.tracker/`` with ``mlmd.sqlite`` and ``values/``, made by tracker in a fresh working directory."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("TRACKER_URL", raising=False)
    monkeypatch.delenv("TRACKER_VALUES", raising=False)
    with tracker.connect() as store:
        store.put_artifact_type(tracker.ArtifactType("Model"))
    values = ValueStore()
    stored = values.put(list(range(30_000)))
    home = tmp_path / ".tracker"
    assert (mode(home), mode(home / "mlmd.sqlite"), mode(home / "values")) == (0o700, 0o600, 0o700)
    assert mode(values.path_of(stored.fingerprint)) == 0o600


def test_the_umask_is_back(umask: int) -> None:
    """The fixture sets the umask it says (and restores it afterwards: pytest's own files depend on it)."""
    current = os.umask(umask)
    os.umask(current)
    assert current == umask
