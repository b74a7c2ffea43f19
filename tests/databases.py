"""Fresh, uniquely named databases on each backend, for tests and benchmarks.

The servers come from environment variables (see README): a listed backend that
cannot be reached fails loudly; it is never skipped.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import make_url

POSTGRESQL_URL = os.environ.get("TRACKER_TEST_POSTGRESQL_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
MYSQL_URL = os.environ.get("TRACKER_TEST_MYSQL_URL", "mysql://root@127.0.0.1:3306/test")
BACKENDS = [
    b.strip() for b in os.environ.get("TRACKER_TEST_BACKENDS", "sqlite,postgresql,mysql").split(",") if b.strip()
]


def _name() -> str:
    return f"tracker_test_{uuid.uuid4().hex[:12]}"


@contextmanager
def fresh_database(backend: str, directory: Path) -> Iterator[str]:
    """Yield the URL of a new, empty database on *backend*; drop it afterwards."""
    name = _name()
    if backend == "sqlite":
        yield str(directory / f"{name}.sqlite")
    elif backend == "postgresql":
        import psycopg

        admin = make_url(POSTGRESQL_URL)
        dsn = admin.set(drivername="postgresql").render_as_string(hide_password=False)
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        try:
            yield admin.set(database=name).render_as_string(hide_password=False)
        finally:
            with psycopg.connect(dsn, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    elif backend == "mysql":
        import pymysql

        admin = make_url(MYSQL_URL)
        kwargs = {"host": admin.host or "127.0.0.1", "port": admin.port or 3306, "user": admin.username or "root",
                  "password": admin.password or "", "autocommit": True}  # fmt: skip
        with pymysql.connect(**kwargs) as conn, conn.cursor() as cursor:
            cursor.execute(f"CREATE DATABASE `{name}`")
        try:
            yield admin.set(database=name).render_as_string(hide_password=False)
        finally:
            with pymysql.connect(**kwargs) as conn, conn.cursor() as cursor:
                cursor.execute(f"DROP DATABASE IF EXISTS `{name}`")
    else:
        raise ValueError(f"unknown backend {backend!r} in TRACKER_TEST_BACKENDS; use sqlite, postgresql, mysql")


def table_contents(url: str) -> dict[str, list[tuple[object, ...]]]:
    """Every row of every MLMD table, sorted: a snapshot to prove a failed call wrote nothing."""
    from sqlalchemy import create_engine, text

    from tracker.store._engine import resolve_url
    from tracker.store.schema import TABLE_NAMES

    engine = create_engine(resolve_url(url))
    try:
        with engine.connect() as conn:
            return {
                name: sorted((tuple(row) for row in conn.execute(text(f"SELECT * FROM {name}"))), key=repr)
                for name in sorted(TABLE_NAMES)
            }
    finally:
        engine.dispose()
