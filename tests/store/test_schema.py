"""Opening databases: the schema of an empty one, and refusals that leave a database untouched."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from databases import table_contents

import tracker
from tracker.errors import SchemaError, SchemaVersionError
from tracker.store.schema import SCHEMA_VERSION, SYSTEM_TYPES, TABLE_NAMES


def test_an_empty_database_gets_mlmd_schema_version_10(store_url: str) -> None:
    """A new store has MLMD's 15 tables, schema version 10 and the nine seeded system types."""
    tracker.connect(store_url).close()
    contents = table_contents(store_url)
    assert set(contents) == TABLE_NAMES and len(TABLE_NAMES) == 15
    assert contents["MLMDEnv"] == [(SCHEMA_VERSION,)]
    seeded = sorted((row[0], row[1], row[3]) for row in contents["Type"])
    assert seeded == [(i, name, int(kind)) for i, (name, kind) in enumerate(SYSTEM_TYPES, start=1)]


def test_reopening_a_store_changes_nothing(store_url: str) -> None:
    """Opening an existing store again neither re-seeds nor alters it."""
    with tracker.connect(store_url) as store:
        store.put_artifact_type(tracker.ArtifactType("DataSet"))
    before = table_contents(store_url)
    tracker.connect(store_url).close()
    assert table_contents(store_url) == before


def test_user_types_start_at_id_10(store: tracker.Store) -> None:
    """Seeded types take ids 1 to 9, as in a store ml-metadata creates, and are hidden from listings."""
    assert store.put_artifact_type(tracker.ArtifactType("DataSet")) == 10
    assert [t.name for t in store.get_artifact_types()] == ["DataSet"]


def _sqlite_store(path: Path) -> Path:
    tracker.connect(str(path)).close()
    return path


def _bytes(path: Path) -> bytes:
    return path.read_bytes()


def _execute(path: Path, *statements: str) -> None:
    """Run SQL on the file behind tracker's back (to damage or alter a store)."""
    conn = sqlite3.connect(path)
    with conn:
        for statement in statements:
            conn.execute(statement)
    conn.close()


@pytest.mark.parametrize(("version", "words"), [(11, "newer"), (9, "older")])
def test_another_schema_version_is_refused_untouched(tmp_path: Path, version: int, words: str) -> None:
    """A database of another MLMD schema version raises SchemaVersionError; its file is unchanged."""
    path = _sqlite_store(tmp_path / "store.sqlite")
    _execute(path, f"UPDATE MLMDEnv SET schema_version = {version}")
    before = _bytes(path)
    with pytest.raises(SchemaVersionError, match=rf"version {version}, {words}"):
        tracker.connect(str(path))
    assert _bytes(path) == before


def test_a_database_of_other_tables_is_refused_untouched(store_url: str) -> None:
    """A database holding non-MLMD tables raises SchemaError and gains no tables."""
    from sqlalchemy import create_engine, inspect, text

    from tracker.store._engine import resolve_url

    engine = create_engine(resolve_url(store_url))
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE orders (id INTEGER PRIMARY KEY, total INTEGER)"))
    with pytest.raises(SchemaError, match=r"orders.*no MLMD schema"):
        tracker.connect(store_url)
    assert inspect(engine).get_table_names() == ["orders"]
    engine.dispose()


def test_a_damaged_store_is_refused(tmp_path: Path) -> None:
    """An MLMD store that lost a table is refused with a SchemaError naming it."""
    path = _sqlite_store(tmp_path / "store.sqlite")
    _execute(path, "DROP TABLE EventPath")
    with pytest.raises(SchemaError, match="EventPath"):
        tracker.connect(str(path))


def test_an_interrupted_creation_is_completed(tmp_path: Path) -> None:
    """Tables present but MLMDEnv and Type empty (a creator died mid-way): the next open finishes the job."""
    path = _sqlite_store(tmp_path / "store.sqlite")
    _execute(path, "DELETE FROM MLMDEnv", "DELETE FROM Type")
    tracker.connect(str(path)).close()
    contents = table_contents(str(path))
    assert contents["MLMDEnv"] == [(10,)] and len(contents["Type"]) == 9


def test_an_empty_mlmdenv_beside_data_is_refused(tmp_path: Path) -> None:
    """MLMDEnv empty but types present is damage, not an interrupted creation: refused."""
    path = _sqlite_store(tmp_path / "store.sqlite")
    _execute(path, "DELETE FROM MLMDEnv")
    with pytest.raises(SchemaError, match="0 schema versions"):
        tracker.connect(str(path))


def test_sqlite_store_uses_wal(tmp_path: Path) -> None:
    """The embedded store runs in WAL mode, so readers never block the writer."""
    path = _sqlite_store(tmp_path / "store.sqlite")
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    conn.close()
