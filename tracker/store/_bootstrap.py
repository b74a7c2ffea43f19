"""Opening a database: create MLMD's schema in an empty one, check any other.

Creation runs under a lock that every opener takes (SQLite's write lock, a
PostgreSQL advisory lock, a MySQL named lock), so processes opening one empty
database at once create the schema exactly once: the race MLMD users meet as
"MLMDEnv table exists but no schema_version can be found".
"""

from __future__ import annotations

import contextlib
import random
import time
from typing import Any

from tracker.errors import SchemaError, SchemaVersionError
from tracker.store._sql import Backend
from tracker.store.schema import SCHEMA_VERSION, SYSTEM_TYPES, TABLE_NAMES, ddl

_PG_LOCK_KEY = 0x747261636B6572  # "tracker"
_MYSQL_LOCK = "tracker.schema"

_LIST_TABLES = {
    "sqlite": "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'",
    "postgresql": "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()",
    "mysql": "SELECT table_name FROM information_schema.tables WHERE table_schema = DATABASE()",
}


def ensure_schema(backend: Backend, where: str) -> None:
    """Create the schema in an empty database, or check that it is MLMD's version 10.

    *where* names the database in error messages (a URL without its password).
    Raises SchemaError or SchemaVersionError and changes nothing when the
    database is not one tracker can use.
    """
    conn = backend.engine.raw_connection()
    try:
        cursor = conn.cursor()
        _lock(backend, cursor)
        try:
            _check_or_create(backend, cursor, where)
            conn.commit()
        finally:
            if backend.name == "mysql":
                cursor.execute(f"SELECT RELEASE_LOCK('{_MYSQL_LOCK}')")
        if backend.name == "sqlite":
            # Only now that the file is known to be a store: WAL is saved in the file, and
            # lets readers and one writer work at once. (A no-op for in-memory databases.)
            _use_wal(backend, cursor)
    except BaseException:
        conn.rollback()
        raise
    finally:
        conn.close()


def _use_wal(backend: Backend, cursor: Any) -> None:
    """Switch a SQLite file to WAL. The switch needs the file to itself and SQLite does not wait for that:
    a process opening the store at the same moment makes it fail, so wait and try again (or find it done)."""
    deadline = time.monotonic() + 10
    while True:
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except backend.dbapi.OperationalError:
            if time.monotonic() > deadline:
                raise
        time.sleep(0.01 + 0.04 * random.random())
        with contextlib.suppress(backend.dbapi.OperationalError):
            if str(cursor.execute("PRAGMA journal_mode").fetchone()[0]).lower() == "wal":
                return  # another process switched it


def _lock(backend: Backend, cursor: Any) -> None:
    if backend.name == "sqlite":
        cursor.execute("BEGIN IMMEDIATE")
    elif backend.name == "postgresql":
        cursor.execute(f"SELECT pg_advisory_xact_lock({_PG_LOCK_KEY})")
    else:
        cursor.execute(f"SELECT GET_LOCK('{_MYSQL_LOCK}', 120)")
        if cursor.fetchone()[0] != 1:
            raise SchemaError("timed out waiting for another process to create the schema; retry")


def _check_or_create(backend: Backend, cursor: Any, where: str) -> None:
    cursor.execute(_LIST_TABLES[backend.name])
    present = {str(row[0]) for row in cursor.fetchall()}
    if not present:
        for statement in ddl(backend.name):
            cursor.execute(statement)
        _seed(cursor, backend)
        return
    folded = {name.lower() for name in present}
    if "mlmdenv" not in folded:
        shown = ", ".join(sorted(present)[:5]) + (", ..." if len(present) > 5 else "")
        raise SchemaError(
            f"{where} holds tables ({shown}) but no MLMD schema (no MLMDEnv table); tracker "
            "left it untouched. Point tracker at an empty database or one written by ml-metadata."
        )
    missing = sorted(name for name in TABLE_NAMES if name.lower() not in folded)
    cursor.execute("SELECT schema_version FROM MLMDEnv")
    versions = [int(row[0]) for row in cursor.fetchall()]
    if not versions and not missing and _is_empty(cursor, "Type"):
        _seed(cursor, backend)  # an earlier creation stopped before its last step
        return
    if len(versions) != 1:
        raise SchemaError(
            f"{where}: MLMDEnv holds {len(versions)} schema versions instead of one; the "
            "database is damaged or another tool is creating it. Inspect it before use."
        )
    version = versions[0]
    if version > SCHEMA_VERSION:
        raise SchemaVersionError(
            f"{where} has MLMD schema version {version}, newer than the version "
            f"{SCHEMA_VERSION} tracker writes; upgrade tracker, or use the ml-metadata release "
            "that wrote it. The database was left untouched."
        )
    if version < SCHEMA_VERSION:
        raise SchemaVersionError(
            f"{where} has MLMD schema version {version}, older than {SCHEMA_VERSION}; upgrade it "
            "once with ml-metadata 1.17: MetadataStore(config, enable_upgrade_migration=True). "
            "The database was left untouched."
        )
    if missing:
        raise SchemaError(
            f"{where} has MLMD schema version {version} but lacks the tables "
            f"{', '.join(missing)}; the database is damaged. It was left untouched."
        )


def _is_empty(cursor: Any, table: str) -> bool:
    cursor.execute(f"SELECT COUNT(*) FROM {table}")
    return int(cursor.fetchone()[0]) == 0


def _seed(cursor: Any, backend: Backend) -> None:
    mark = "?" if backend.name == "sqlite" else "%s"
    for name, kind in SYSTEM_TYPES:
        cursor.execute(f"INSERT INTO Type (name, type_kind) VALUES ({mark}, {mark})", (name, int(kind)))
    cursor.execute(f"INSERT INTO MLMDEnv (schema_version) VALUES ({mark})", (SCHEMA_VERSION,))
