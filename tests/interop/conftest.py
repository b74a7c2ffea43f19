"""Fixtures for the interop suite: fresh databases that tracker and the real ml-metadata both open.

ml-metadata is imported at the top on purpose: where it is missing, collection
fails and so does the suite; nothing here is ever skipped.
"""

from __future__ import annotations

import gc
import re
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
from databases import BACKENDS, fresh_database
from ml_metadata.metadata_store import metadata_store
from ml_metadata.proto import metadata_store_pb2
from sqlalchemy import make_url

import tracker


class Database:
    """One fresh database, opened by tracker or by ml-metadata, and inspected with the bare driver."""

    def __init__(self, backend: str, url: str) -> None:
        self.backend = backend
        self.url = url
        self._mlmd: list[metadata_store.MetadataStore] = []
        self._tracker: list[tracker.Store] = []

    def __repr__(self) -> str:
        return f"<Database {self.backend} {self.url}>"

    # --- the two stores ---

    def mlmd_config(self) -> metadata_store_pb2.ConnectionConfig:
        """The ml-metadata ConnectionConfig for this database (which the fixture has created already)."""
        config = metadata_store_pb2.ConnectionConfig()
        if self.backend == "sqlite":
            config.sqlite.filename_uri = self.url
            config.sqlite.connection_mode = metadata_store_pb2.SqliteMetadataSourceConfig.READWRITE_OPENCREATE
            return config
        url = make_url(self.url)
        if self.backend == "postgresql":
            config.postgresql.host = url.host or "127.0.0.1"
            config.postgresql.port = str(url.port or 5432)
            config.postgresql.user = url.username or "postgres"
            config.postgresql.password = url.password or ""
            config.postgresql.dbname = url.database or ""
            config.postgresql.skip_db_creation = True
        else:
            config.mysql.host = url.host or "127.0.0.1"
            config.mysql.port = url.port or 3306
            config.mysql.user = url.username or "root"
            config.mysql.password = url.password or ""
            config.mysql.database = url.database or ""
            config.mysql.skip_db_creation = True
        return config

    def mlmd(self) -> metadata_store.MetadataStore:
        """A new ml-metadata MetadataStore on this database (creating the schema if it is empty)."""
        store = metadata_store.MetadataStore(self.mlmd_config())
        self._mlmd.append(store)
        return store

    def tracker(self) -> tracker.Store:
        """A new tracker Store on this database, closed with the fixture."""
        store = tracker.connect(self.url)
        self._tracker.append(store)
        return store

    def close(self) -> None:
        """Close every store opened here, so that the database can be dropped."""
        for store in self._tracker:
            store.close()
        self._tracker.clear()
        self._mlmd.clear()
        gc.collect()  # a MetadataStore closes its connection when it is freed

    # --- inspection with the bare driver ---

    def query(self, sql: str) -> list[tuple[Any, ...]]:
        """Rows of one statement, run through the database's own driver (neither store is involved)."""
        return self.query_with_columns(sql)[1]

    def query_with_columns(self, sql: str) -> tuple[list[str], list[tuple[Any, ...]]]:
        """The column names and rows of one statement, through the database's own driver."""
        if self.backend == "sqlite":
            conn = sqlite3.connect(self.url)
            try:
                cursor = conn.execute(sql)
                return [d[0] for d in cursor.description], cursor.fetchall()
            finally:
                conn.close()
        url = make_url(self.url)
        if self.backend == "postgresql":
            import psycopg

            with psycopg.connect(url.set(drivername="postgresql").render_as_string(hide_password=False)) as conn:
                pg_cursor = conn.execute(sql)
                return [d.name for d in pg_cursor.description or ()], [tuple(r) for r in pg_cursor.fetchall()]
        import pymysql

        my_conn = pymysql.connect(host=url.host or "127.0.0.1", port=url.port or 3306, user=url.username or "root",
                                  password=url.password or "", database=url.database)  # fmt: skip
        try:
            with my_conn.cursor() as my_cursor:
                my_cursor.execute(sql)
                return [d[0] for d in my_cursor.description], [tuple(r) for r in my_cursor.fetchall()]
        finally:
            my_conn.close()

    def records(self, table: str) -> list[dict[str, Any]]:
        """Every row of *table* as a dict of column values."""
        quote = '"' if self.backend == "postgresql" else "`"
        columns, rows = self.query_with_columns(f"SELECT * FROM {quote}{table}{quote}")
        return [dict(zip(columns, row, strict=True)) for row in rows]

    def tables(self) -> list[str]:
        """The names of the tables in the database, as the database spells them."""
        sql = {
            "sqlite": "SELECT name FROM sqlite_master WHERE type = 'table'",
            "postgresql": "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'",
            "mysql": "SELECT table_name FROM information_schema.tables WHERE table_schema = DATABASE()",
        }[self.backend]
        return sorted(str(r[0]) for r in self.query(sql))

    def schema(self) -> dict[str, list[tuple[Any, ...]]]:
        """The database's schema, as the issue asks to compare it on each backend."""
        if self.backend == "sqlite":
            return {"sqlite_master": _sorted(self.query("SELECT type, name, tbl_name, sql FROM sqlite_master"))}
        if self.backend == "postgresql":
            return {
                "columns": _sorted(
                    self.query(
                        "SELECT table_name, column_name, ordinal_position, data_type, character_maximum_length, "
                        "is_nullable, column_default FROM information_schema.columns WHERE table_schema = 'public'"
                    )
                ),
                "indexes": _sorted(
                    self.query("SELECT tablename, indexname, indexdef FROM pg_indexes WHERE schemaname = 'public'")
                ),
                # pg_constraint, not information_schema.table_constraints: the latter names NOT NULL checks by oid.
                "constraints": _sorted(
                    self.query(
                        "SELECT conrelid::regclass::text, conname, contype, pg_get_constraintdef(oid) "
                        "FROM pg_constraint WHERE connamespace = 'public'::regnamespace"
                    )
                ),
                "sequences": _sorted(
                    self.query(
                        "SELECT sequencename, data_type, start_value, increment_by "
                        "FROM pg_sequences WHERE schemaname = 'public'"
                    )
                ),
            }
        created = {}
        for table in self.tables():
            (_, text) = self.query(f"SHOW CREATE TABLE `{table}`")[0]
            created[table] = [(re.sub(r" AUTO_INCREMENT=\d+", "", text),)]  # the next id is not schema
        return created

    def contents(self) -> dict[str, list[tuple[Any, ...]]]:
        """Every row of every table (keyed by lower-case table name), sorted; on PostgreSQL, the sequences too."""
        found = {t.lower(): _sorted([tuple(r.values()) for r in self.records(t)]) for t in self.tables()}
        if self.backend == "postgresql":
            sql = "SELECT sequencename, last_value FROM pg_sequences WHERE schemaname = 'public'"
            found["(sequences)"] = _sorted(self.query(sql))
        return found


def _sorted(rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    return sorted(rows, key=repr)


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    """Each backend of TRACKER_TEST_BACKENDS in turn."""
    return str(request.param)


@pytest.fixture
def new_database(backend: str, tmp_path: Path) -> Iterator[Callable[[], Database]]:
    """A factory of fresh, empty databases on one backend; each is dropped after the test."""
    with ExitStack() as stack:

        def make() -> Database:
            url = stack.enter_context(fresh_database(backend, tmp_path))
            database = Database(backend, url)
            stack.callback(database.close)
            return database

        yield make


@pytest.fixture
def database(new_database: Callable[[], Database]) -> Database:
    """One fresh, empty database on one backend."""
    return new_database()
