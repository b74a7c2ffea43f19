"""Statements compiled once per backend, run on the driver's own cursor.

Per-statement overhead, not the database, is what a Python store pays for
(see DESIGN.md), so the store builds each SQLAlchemy statement once, compiles
it once for its dialect, and executes the SQL text on the pooled DBAPI
connection. :class:`Tx` is one transaction on such a connection.
"""

from __future__ import annotations

import contextlib
import operator
import random
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from typing import Any, Generic, TypeVar

from sqlalchemy import Engine, Table, bindparam, insert
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.sql import ClauseElement

from tracker.errors import (
    AlreadyExistsError,
    CommitUnknownError,
    ConcurrencyError,
    DatabaseError,
    InvalidArgumentError,
    TrackerError,
)
from tracker.store._values import Flavor

T = TypeVar("T")

#: How many statements built from filters each store keeps compiled.
LRU_SIZE = 256

#: How often a transaction that lost a lock or deadlock race is run again.
MAX_ATTEMPTS = 12


class Prepared:
    """One statement compiled for one dialect."""

    __slots__ = ("_compiled", "_literals", "_pick", "expanding", "sql")

    def __init__(self, statement: ClauseElement, engine: Engine) -> None:
        compiled: Any = statement.compile(dialect=engine.dialect)  # a SQLCompiler
        self._compiled = compiled
        self.sql = compiled.string
        # positional dialects (qmark, format) take a tuple in positiontup order
        names = tuple(compiled.positiontup or ()) if compiled.positional else ()
        self._pick: Callable[[Mapping[str, Any]], Any] | None = None
        if len(names) == 1:
            self._pick = lambda params, name=names[0]: (params[name],)
        elif names:
            self._pick = operator.itemgetter(*names)
        self.expanding = any(b.expanding for b in compiled.binds.values())
        # literals in the statement (``id > 0``) became bound parameters with a value
        self._literals = {
            compiled.bind_names[b]: b.value for b in compiled.binds.values() if b.value is not None and not b.expanding
        }

    def bind(self, params: Mapping[str, Any]) -> tuple[str, Sequence[Any] | Mapping[str, Any]]:
        """The SQL text and driver parameters for *params*."""
        if self.expanding:
            state = self._compiled.construct_expanded_state(params)
            if self._compiled.positional:
                return state.statement, state.positional_parameters
            return state.statement, state.parameters
        if self._literals:
            params = {**self._literals, **params}
        if self._pick is not None:
            return self.sql, self._pick(params)
        return self.sql, params


class Backend:
    """What differs between SQLite, PostgreSQL and MySQL, and the statement cache."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.name = engine.dialect.name  # "sqlite", "postgresql" or "mysql"
        self.flavor = Flavor(int_bits=64 if self.name == "sqlite" else 32, proto_base64=self.name != "postgresql")
        self.dbapi = engine.dialect.loaded_dbapi
        self._cache: dict[Hashable, Prepared] = {}
        self._lru: OrderedDict[Hashable, Prepared] = OrderedDict()

    def prepared(self, key: Hashable, build: Callable[[], ClauseElement]) -> Prepared:
        """The statement cached under *key*, built and compiled on first use."""
        found = self._cache.get(key)
        if found is None:
            found = self._cache[key] = Prepared(build(), self.engine)
        return found

    def prepared_lru(self, key: Hashable, build: Callable[[], ClauseElement]) -> Prepared:
        """As :meth:`prepared`, for statements made from user input (filters): the least used are dropped."""
        found = self._lru.get(key)
        if found is None:
            found = self._lru[key] = Prepared(build(), self.engine)
            if len(self._lru) > LRU_SIZE:
                self._lru.popitem(last=False)
        else:
            self._lru.move_to_end(key)
        return found

    def transient(self, exc: BaseException) -> bool:
        """Whether *exc* is a lock, busy or deadlock error worth a retry."""
        if self.name == "sqlite":
            text = str(exc).lower()
            return isinstance(exc, self.dbapi.OperationalError) and ("locked" in text or "busy" in text)
        if self.name == "postgresql":
            return getattr(exc, "sqlstate", None) in ("40001", "40P01", "55P03")
        code = exc.args[0] if getattr(exc, "args", None) else None
        return isinstance(exc, self.dbapi.OperationalError) and code in (1205, 1213)


def insert_into(backend: Backend, table: Table) -> ClauseElement:
    """INSERT of every column but ``id``; ``RETURNING id`` on PostgreSQL, which has no lastrowid."""
    stmt = insert(table).values({c.name: bindparam(c.name) for c in table.columns if c.name != "id"})
    if backend.name == "postgresql" and "id" in table.columns:
        stmt = stmt.returning(table.c.id)
    return stmt


class Tx:
    """One open transaction on a pooled DBAPI connection.

    ``maybe_committed`` is true when an earlier attempt of the same transaction
    failed in its COMMIT, which may have gone through: the writes must then
    recognise their own rows instead of adding them twice (see :func:`run`).
    """

    __slots__ = ("_savepoints", "backend", "cursor", "maybe_committed")

    def __init__(self, backend: Backend, cursor: Any, maybe_committed: bool = False) -> None:
        self.backend = backend
        self.cursor = cursor
        self.maybe_committed = maybe_committed
        self._savepoints = 0

    def execute(self, stmt: Prepared, params: Mapping[str, Any] | None = None) -> Any:
        sql, args = stmt.bind(params or {})
        self.cursor.execute(sql, args)
        return self.cursor

    def rows(self, stmt: Prepared, params: Mapping[str, Any] | None = None) -> list[Any]:
        return list(self.execute(stmt, params).fetchall())

    def executemany(self, stmt: Prepared, rows: Sequence[Mapping[str, Any]]) -> None:
        if rows:
            self.cursor.executemany(stmt.sql, [stmt.bind(row)[1] for row in rows])

    def insert(self, stmt: Prepared, params: Mapping[str, Any]) -> int:
        """Insert one row and return its new id (``stmt`` has RETURNING on PostgreSQL)."""
        cursor = self.execute(stmt, params)
        if self.backend.name == "postgresql":
            return int(cursor.fetchone()[0])
        return int(cursor.lastrowid)

    def insert_all(self, stmt: Prepared, rows: Sequence[Mapping[str, Any]]) -> list[int]:
        """Insert rows and return their ids, in order."""
        if self.backend.name == "postgresql" and len(rows) > 1:
            cursor = self.cursor
            cursor.executemany(stmt.sql, [stmt.bind(row)[1] for row in rows], returning=True)
            ids = [int(cursor.fetchone()[0])]
            while cursor.nextset():
                ids.append(int(cursor.fetchone()[0]))
            return ids
        return [self.insert(stmt, row) for row in rows]

    def savepoint(self) -> str:
        self._savepoints += 1
        name = f"tracker_sp{self._savepoints}"
        self.cursor.execute(f"SAVEPOINT {name}")
        return name

    def rollback_to(self, name: str) -> None:
        self.cursor.execute(f"ROLLBACK TO SAVEPOINT {name}")


#: How often a transaction is tried when its connection goes away (or cannot be made, or fails in COMMIT).
LOST_ATTEMPTS = 3

#: Seconds to wait before trying again, after the first and the second lost connection.
LOST_PAUSES = (0.05, 0.5)

_sleep = time.sleep  # tests make the waits instant


class Idempotent(Generic[T]):
    """A transaction body that is safe to run again after a COMMIT that may have gone through: with
    ``tx.maybe_committed`` it finds the rows an earlier run of it wrote instead of writing them twice."""

    __slots__ = ("fn",)

    def __init__(self, fn: Callable[[Tx], T]) -> None:
        self.fn = fn

    def __call__(self, tx: Tx) -> T:
        return self.fn(tx)


def run(backend: Backend, fn: Callable[[Tx], T], *, write: bool, what: str) -> T:
    """Run *fn* in one transaction; retry it when it loses a lock or deadlock race, or its connection.

    A transaction that lost a race is rolled back by the database: it runs again, up to
    MAX_ATTEMPTS times. One whose connection went away, or could not be made, is rolled back
    too (a connection that went away is discarded, not pooled again): it runs again on a new
    connection, up to LOST_ATTEMPTS times. A COMMIT that fails may have gone through (the
    connection can drop after the server committed): an :class:`Idempotent` *fn* (or a read)
    runs again with ``tx.maybe_committed`` set, and must then find what it wrote rather than
    write it twice; any other raises CommitUnknownError.

    Driver errors that are not races become typed errors: a unique key violation is
    AlreadyExistsError, a value the column cannot hold is InvalidArgumentError, the rest
    DatabaseError. The transaction is rolled back before anything raises.
    """
    dbapi = backend.dbapi
    idempotent = isinstance(fn, Idempotent) or not write  # a read commits nothing
    maybe_committed = False
    lost = 0
    for attempt in range(1, MAX_ATTEMPTS + 1):
        try:
            conn = backend.engine.raw_connection()
        except SQLAlchemyError as exc:  # the database cannot be reached (SQLAlchemy wraps the driver's error)
            lost += 1
            if lost < LOST_ATTEMPTS:
                _sleep(LOST_PAUSES[lost - 1])
                continue
            raise DatabaseError(
                f"{what}: cannot connect to the database ({lost} attempts): {_first_line(exc)}"
            ) from exc
        cursor = None
        committing = False
        try:
            cursor = conn.cursor()
            if backend.name == "sqlite":
                cursor.execute("BEGIN IMMEDIATE" if write else "BEGIN")
            result = fn(Tx(backend, cursor, maybe_committed))
            committing = True
            conn.commit()
            return result
        except BaseException as exc:
            gone = isinstance(exc, dbapi.Error) and _gone(backend, exc, conn, cursor)
            if cursor is not None:  # an SQLite connection closed under a live statement keeps its lock until then
                with contextlib.suppress(Exception):
                    cursor.close()
            _rollback(conn, gone)
            if isinstance(exc, TrackerError) or not isinstance(exc, dbapi.Error):
                raise
            if backend.transient(exc):  # a lost race: rolled back, in COMMIT too
                if attempt < MAX_ATTEMPTS:
                    _sleep(min(0.5, 0.005 * 2**attempt) * random.random())
                    continue
                raise ConcurrencyError(
                    f"{what} kept conflicting with concurrent writers ({attempt} attempts): {exc}"
                ) from exc
            if committing and not idempotent:
                raise CommitUnknownError(
                    f"{what}: the COMMIT failed ({_first_line(exc)}), and it may have gone through: the write may "
                    "or may not be recorded; look before writing it again"
                ) from exc
            if committing or gone:
                maybe_committed = maybe_committed or committing
                lost += 1
                if lost < LOST_ATTEMPTS:
                    _sleep(LOST_PAUSES[lost - 1])
                    continue
                happened = "the COMMIT failed" if committing else "the connection to the database was lost"
                raise DatabaseError(f"{what}: {happened} ({lost} attempts): {_first_line(exc)}") from exc
            if isinstance(exc, dbapi.IntegrityError):
                raise AlreadyExistsError(f"{what}: {_first_line(exc)}") from exc
            if _is_value_error(exc, dbapi):
                raise InvalidArgumentError(f"{what}: the database refused a value: {_first_line(exc)}") from exc
            raise DatabaseError(f"{what}: the database failed: {_first_line(exc)}") from exc
        finally:
            conn.close()
    raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises


def _gone(backend: Backend, exc: BaseException, conn: Any, cursor: Any) -> bool:
    """Whether *exc* says the connection went away (SQLAlchemy's test for each driver)."""
    try:
        return bool(backend.engine.dialect.is_disconnect(exc, conn.dbapi_connection, cursor))  # type: ignore[arg-type]
    except Exception:  # an error while asking: take the connection for lost
        return True


def _rollback(conn: Any, gone: bool = False) -> None:
    """Roll back; a connection that went away, or cannot roll back, is closed and never pooled again."""
    if not gone:
        try:
            conn.rollback()
            return
        except Exception:
            pass
    with contextlib.suppress(Exception):
        conn.invalidate()


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def _is_value_error(exc: BaseException, dbapi: Any) -> bool:
    """A value out of range or too long (DataError), or over a PostgreSQL limit (54xxx)."""
    sqlstate = getattr(exc, "sqlstate", None) or ""
    return isinstance(exc, dbapi.DataError) or sqlstate.startswith("54")


def rows_for_ids(
    tx: Tx,
    key: Hashable,
    build: Callable[[Callable[[Any], Any]], ClauseElement],
    ids: Iterable[Any],
    params: dict[str, Any] | None = None,
    *,
    prepare: Callable[[Hashable, Callable[[], ClauseElement]], Prepared] | None = None,
    read: Callable[[Prepared, dict[str, Any]], list[Any]] | None = None,
) -> list[Any]:
    """The rows of a statement with an ``IN`` list, for every id in *ids*, in batches.

    ``build(where_in)`` makes the statement; ``where_in(column)`` is the ``IN`` clause; *params*
    are its other parameters. Lists are padded to a few fixed sizes, each compiled once (by
    *prepare*, default ``tx.backend.prepared``), so that no statement is expanded per call
    (SQLAlchemy's expanding parameters cost more than the query for short lists). *read* runs
    a batch (default ``tx.rows``).
    """
    prepare = prepare or tx.backend.prepared
    read = read or tx.rows
    out: list[Any] = []
    for batch in chunks(dict.fromkeys(ids)):
        size = _bucket(len(batch))
        stmt = prepare((key, "in", size), _builder(build, size))
        padded = batch + [batch[-1]] * (size - len(batch))
        out.extend(read(stmt, {**(params or {}), **{f"in_{k}": v for k, v in enumerate(padded)}}))
    return out


def _builder(build: Callable[[Callable[[Any], Any]], ClauseElement], size: int) -> Callable[[], ClauseElement]:
    return lambda: build(lambda column: _fixed_in(column, size))


def _bucket(n: int) -> int:
    size = 8
    while size < n:
        size *= 4
    return min(size, 512)


def _fixed_in(column: Any, size: int) -> Any:
    return column.in_([bindparam(f"in_{k}") for k in range(size)])


def chunks(items: Iterable[T], size: int = 500) -> Iterable[list[T]]:
    """*items* in lists of at most *size* (keeps IN lists under driver limits)."""
    batch: list[T] = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch
