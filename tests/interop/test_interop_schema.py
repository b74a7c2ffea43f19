"""Schema interop: tracker creates exactly ml-metadata's schema, opens ml-metadata's unchanged, refuses the rest."""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from ml_metadata.metadata_store import metadata_store
from ml_metadata.proto import metadata_store_pb2

import tracker
from tracker.errors import SchemaError, SchemaVersionError

if TYPE_CHECKING:
    from conftest import Database

#: The Type rows every new store is seeded with: id, name, type_kind, then NULL version, description,
#: input_type, output_type and external_id.
SEEDED_TYPES = [
    (1, "mlmd.Dataset", 1, None, None, None, None, None),
    (2, "mlmd.Model", 1, None, None, None, None, None),
    (3, "mlmd.Metrics", 1, None, None, None, None, None),
    (4, "mlmd.Statistics", 1, None, None, None, None, None),
    (5, "mlmd.Train", 0, None, None, None, None, None),
    (6, "mlmd.Transform", 0, None, None, None, None, None),
    (7, "mlmd.Process", 0, None, None, None, None, None),
    (8, "mlmd.Evaluate", 0, None, None, None, None, None),
    (9, "mlmd.Deploy", 0, None, None, None, None, None),
]


def _type_rows(database: Database) -> list[tuple[object, ...]]:
    columns = "id, name, type_kind, version, description, input_type, output_type, external_id"
    return database.query(f"SELECT {columns} FROM Type ORDER BY id")


def test_new_store_schema_is_ml_metadatas(new_database: Callable[[], Database]) -> None:
    """An empty database opened by tracker gets the very schema ml-metadata 1.17 creates."""
    by_tracker, by_mlmd = new_database(), new_database()
    by_tracker.tracker().close()
    by_mlmd.mlmd()
    assert by_tracker.schema() == by_mlmd.schema()


def test_new_store_seeded_content_is_ml_metadatas(new_database: Callable[[], Database]) -> None:
    """A new tracker store holds what a new ml-metadata store holds: MLMDEnv = 10 and the nine mlmd.* types."""
    by_tracker, by_mlmd = new_database(), new_database()
    by_tracker.tracker().close()
    by_mlmd.mlmd()
    for database in (by_mlmd, by_tracker):
        assert database.query("SELECT schema_version FROM MLMDEnv") == [(10,)]
        assert _type_rows(database) == SEEDED_TYPES
    assert by_tracker.contents() == by_mlmd.contents()


def test_new_tracker_store_opens_in_ml_metadata(database: Database) -> None:
    """ml-metadata opens a store tracker created, without migrating or adding anything."""
    database.tracker().close()
    schema, contents = database.schema(), database.contents()
    store = database.mlmd()
    assert store.get_artifact_types() == []
    assert store.get_execution_types() == []
    assert database.schema() == schema
    assert database.contents() == contents


def test_ml_metadata_store_opens_in_tracker_unchanged(database: Database) -> None:
    """tracker opens a store ml-metadata created as it is: same tables, same rows, schema version 10."""
    store = database.mlmd()
    type_id = store.put_artifact_type(metadata_store_pb2.ArtifactType(name="DataSet"))
    store.put_artifacts([metadata_store_pb2.Artifact(type_id=type_id, uri="data/1")])
    tables, schema, contents = database.tables(), database.schema(), database.contents()
    with tracker.connect(database.url) as opened:
        assert [a.uri for a in opened.get_artifacts()] == ["data/1"]
    assert database.tables() == tables
    assert database.schema() == schema
    assert database.contents() == contents
    assert database.query("SELECT schema_version FROM MLMDEnv") == [(10,)]


# --- refusals (SQLite files, compared byte for byte) ---


def _mlmd_sqlite_store(path: Path) -> None:
    config = metadata_store_pb2.ConnectionConfig()
    config.sqlite.filename_uri = str(path)
    config.sqlite.connection_mode = metadata_store_pb2.SqliteMetadataSourceConfig.READWRITE_OPENCREATE
    store = metadata_store.MetadataStore(config)
    store.put_artifact_type(metadata_store_pb2.ArtifactType(name="DataSet"))
    del store


def _fingerprint(path: Path) -> dict[str, object]:
    """The file's SHA-256, the files beside it (a -wal left behind counts) and its journal-mode header bytes."""
    data = path.read_bytes()
    return {
        "sha256": hashlib.sha256(data).hexdigest(),
        "files": sorted(p.name for p in path.parent.iterdir()),
        "header bytes 18-19 (1 = rollback journal, 2 = WAL)": tuple(data[18:20]),
    }


@pytest.mark.parametrize("version", [9, 11])
def test_other_schema_version_is_refused_untouched(tmp_path: Path, version: int) -> None:
    """A SQLite store whose MLMDEnv says another version raises SchemaVersionError; the file is byte-identical."""
    path = tmp_path / "mlmd.sqlite"
    _mlmd_sqlite_store(path)
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE MLMDEnv SET schema_version = ?", (version,))
    conn.close()
    before = _fingerprint(path)
    with pytest.raises(SchemaVersionError, match=str(version)):
        tracker.connect(str(path))
    assert _fingerprint(path) == before


def test_unrelated_sqlite_file_is_refused_untouched(tmp_path: Path) -> None:
    """A SQLite file holding an unrelated table raises SchemaError; the file is byte-identical."""
    path = tmp_path / "other.sqlite"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE foo (x INTEGER)")
        conn.execute("INSERT INTO foo VALUES (1)")
    conn.close()
    before = _fingerprint(path)
    with pytest.raises(SchemaError):
        tracker.connect(str(path))
    assert _fingerprint(path) == before
