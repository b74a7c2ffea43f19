"""The Store: MLMD's MetadataStore API, in plain Python, on SQLite, PostgreSQL or MySQL.

Every public method is one transaction: it commits all it was asked to write
or, when it raises, nothing. Methods that take many records return ids in the
order of their input. Method names follow ml-metadata's ``MetadataStore``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar, cast

from sqlalchemy import bindparam, func, select, update

from tracker.errors import InvalidArgumentError, StoreClosedError
from tracker.store import _edges as edges
from tracker.store import _lineage as lineage
from tracker.store import _nodes as nodes
from tracker.store import _query as query
from tracker.store import schema as s
from tracker.store._bootstrap import ensure_schema
from tracker.store._engine import acquire, release, resolve_url, shown
from tracker.store._lineage import LineageGraph
from tracker.store._query import Page
from tracker.store._sql import Backend, Idempotent, Tx, run
from tracker.store._types import TypeRegistry
from tracker.store.entities import (
    Artifact,
    ArtifactType,
    Association,
    Attribution,
    Context,
    ContextType,
    Event,
    Execution,
    ExecutionType,
    ParentContext,
    TypeKind,
    _Node,
    _Type,
)

T = TypeVar("T")
N = TypeVar("N", bound=_Node)
TT = TypeVar("TT", bound=_Type)

#: Seconds close() waits for calls running in other threads.
CLOSE_WAIT = 60.0


def _now() -> int:
    return time.time_ns() // 1_000_000


def _listed(records: Any, cls: type | tuple[type, ...], method: str) -> list[Any]:
    if isinstance(records, (cls, str, bytes)) or not isinstance(records, Iterable):
        raise InvalidArgumentError(f"{method} takes a list; wrap a single record: {method}([record])")
    return list(records)


class Store:
    """An MLMD metadata store in a SQL database.

    ``Store(url)`` opens the database, creating MLMD's schema (version 10) if
    it is empty; see :func:`tracker.connect` for the URLs it takes. Close it
    with :meth:`close` or use it as a context manager.
    """

    def __init__(self, url: str | None = None) -> None:
        sa_url = resolve_url(url)
        #: The store's URL, with any password hidden (in the userinfo and in ``?password=``-like parameters).
        self.url: str = shown(sa_url)
        self._secret_url = sa_url.render_as_string(hide_password=False)  # to reopen it in a child process
        engine = acquire(sa_url)
        try:
            self._backend: Backend | None = Backend(engine)
            ensure_schema(self._backend, self.url)
        except BaseException:
            release(engine)
            raise
        self._types = TypeRegistry()
        # Calls in flight, so that close() (from another thread: the heartbeat's, say) waits for them: a
        # connection handed back to a pool already disposed would never be closed.
        self._calls = threading.Condition()
        self._in_flight = 0

    @property
    def backend(self) -> str:
        """The database kind: ``"sqlite"``, ``"postgresql"`` or ``"mysql"``."""
        return self._open().name

    @property
    def int_bits(self) -> int:
        """Bits of an integer property here: 64 on SQLite, 32 on PostgreSQL and MySQL (MLMD's schema)."""
        return self._open().flavor.int_bits

    def info(self) -> dict[str, Any]:
        """What the store is: URL (password hidden), backend, server version, schema version, SQLite
        journal mode, and row counts of its main tables (``tracker doctor`` prints it)."""

        def read(tx: Tx) -> dict[str, Any]:
            cursor = tx.cursor
            backend = tx.backend.name
            version_sql = {"sqlite": "SELECT sqlite_version()", "postgresql": "SHOW server_version"}
            cursor.execute(version_sql.get(backend, "SELECT VERSION()"))
            server = str(cursor.fetchone()[0])
            schema_version = tx.rows(tx.backend.prepared("schema_version", lambda: select(s.mlmd_env.c.schema_version)))
            counts = {}
            for name, table in (("types", s.type_), ("artifacts", s.artifact), ("executions", s.execution),
                                ("contexts", s.context), ("events", s.event)):  # fmt: skip
                counts[name] = int(tx.rows(tx.backend.prepared(("count", name), _counting(table)))[0][0])
            journal = None
            if backend == "sqlite":
                cursor.execute("PRAGMA journal_mode")
                journal = str(cursor.fetchone()[0])
            return {
                "url": self.url,
                "backend": backend,
                "server_version": server,
                "schema_version": int(schema_version[0][0]) if schema_version else None,
                "journal_mode": journal,
                "counts": counts,
            }

        return self._read(read, "read the store's description")

    def close(self) -> None:
        """Release the database connections; later calls raise StoreClosedError.

        Calls running in other threads are waited for (up to a minute) before the connections go.
        """
        with self._calls:
            backend, self._backend = self._backend, None
            if backend is None:
                return
            self._calls.wait_for(lambda: self._in_flight == 0, timeout=CLOSE_WAIT)
        release(backend.engine)

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "" if self._backend is not None else " (closed)"
        return f"<tracker.Store {self.url}{state}>"

    def _open(self) -> Backend:
        if self._backend is None:
            raise StoreClosedError(f"the store at {self.url} is closed; open it again with tracker.connect()")
        return self._backend

    def _run(self, fn: Callable[[Tx], T], *, write: bool, what: str) -> T:
        with self._calls:
            backend = self._open()
            self._in_flight += 1
        try:
            return run(backend, fn, write=write, what=what)
        finally:
            with self._calls:
                self._in_flight -= 1
                if not self._in_flight:
                    self._calls.notify_all()

    def _read(self, fn: Callable[[Tx], T], what: str) -> T:
        return self._run(fn, write=False, what=what)

    def _write(self, fn: Callable[[Tx], T], what: str, *, idempotent: bool = False) -> T:
        """Run a write; *idempotent*: running *fn* again after a COMMIT that may have gone through writes
        nothing twice (see ``_sql.run``)."""
        try:
            return self._run(Idempotent(fn) if idempotent else fn, write=True, what=what)
        except BaseException:
            self._types.clear()  # the cache may hold rows the rollback removed
            raise

    # --- types ---

    def _put_type(self, declared: _Type, cls: type[_Type]) -> int:
        if not isinstance(declared, cls):
            raise InvalidArgumentError(f"expected {cls.__name__}, got {type(declared).__name__}")
        return self._write(
            lambda tx: self._types.put(tx, declared), f"put {cls.__name__} {declared.name!r}", idempotent=True
        )

    def put_artifact_type(self, artifact_type: ArtifactType) -> int:
        """Get or create an artifact type; new properties are added. Returns its id.

        Raises:
            TypeConflictError: a property is already declared with another kind.
        """
        return self._put_type(artifact_type, ArtifactType)

    def put_execution_type(self, execution_type: ExecutionType) -> int:
        """Get or create an execution type; new properties are added. Returns its id."""
        return self._put_type(execution_type, ExecutionType)

    def put_context_type(self, context_type: ContextType) -> int:
        """Get or create a context type; new properties are added. Returns its id."""
        return self._put_type(context_type, ContextType)

    def _type(self, kind: TypeKind, name: str, version: str | None) -> Any:
        return self._read(lambda tx: self._types.by_name(tx, kind, name, version).entity(), "get type")

    def _types_where(self, kind: TypeKind, column: str | None, values: Sequence[Any] = ()) -> Any:
        def read(tx: Tx) -> list[_Type]:
            found = self._types.all(tx, kind) if column is None else self._types.many(tx, kind, column, values)
            return [t.entity() for t in found]

        return self._read(read, "get types")

    def get_artifact_type(self, type_name: str, type_version: str | None = None) -> ArtifactType:
        """The artifact type with this name (and version). Raises NotFoundError."""
        return cast(ArtifactType, self._type(TypeKind.ARTIFACT, type_name, type_version))

    def get_execution_type(self, type_name: str, type_version: str | None = None) -> ExecutionType:
        """The execution type with this name (and version). Raises NotFoundError."""
        return cast(ExecutionType, self._type(TypeKind.EXECUTION, type_name, type_version))

    def get_context_type(self, type_name: str, type_version: str | None = None) -> ContextType:
        """The context type with this name (and version). Raises NotFoundError."""
        return cast(ContextType, self._type(TypeKind.CONTEXT, type_name, type_version))

    def get_artifact_types(self) -> list[ArtifactType]:
        """Every artifact type, by id (not the seeded ``mlmd.*`` base types, as in MLMD)."""
        return cast("list[ArtifactType]", self._types_where(TypeKind.ARTIFACT, None))

    def get_execution_types(self) -> list[ExecutionType]:
        """Every execution type, by id."""
        return cast("list[ExecutionType]", self._types_where(TypeKind.EXECUTION, None))

    def get_context_types(self) -> list[ContextType]:
        """Every context type, by id."""
        return cast("list[ContextType]", self._types_where(TypeKind.CONTEXT, None))

    def get_artifact_types_by_id(self, type_ids: Sequence[int]) -> list[ArtifactType]:
        """The artifact types with these ids, in that order; unknown ids are left out."""
        return cast("list[ArtifactType]", self._types_where(TypeKind.ARTIFACT, "id", list(type_ids)))

    def get_execution_types_by_id(self, type_ids: Sequence[int]) -> list[ExecutionType]:
        """The execution types with these ids, in that order."""
        return cast("list[ExecutionType]", self._types_where(TypeKind.EXECUTION, "id", list(type_ids)))

    def get_context_types_by_id(self, type_ids: Sequence[int]) -> list[ContextType]:
        """The context types with these ids, in that order."""
        return cast("list[ContextType]", self._types_where(TypeKind.CONTEXT, "id", list(type_ids)))

    def get_artifact_types_by_external_ids(self, external_ids: Sequence[str]) -> list[ArtifactType]:
        """The artifact types with these external ids, in that order."""
        return cast("list[ArtifactType]", self._types_where(TypeKind.ARTIFACT, "external_id", list(external_ids)))

    def get_execution_types_by_external_ids(self, external_ids: Sequence[str]) -> list[ExecutionType]:
        """The execution types with these external ids, in that order."""
        return cast("list[ExecutionType]", self._types_where(TypeKind.EXECUTION, "external_id", list(external_ids)))

    def get_context_types_by_external_ids(self, external_ids: Sequence[str]) -> list[ContextType]:
        """The context types with these external ids, in that order."""
        return cast("list[ContextType]", self._types_where(TypeKind.CONTEXT, "external_id", list(external_ids)))

    # --- nodes: writes ---

    def _put(self, kind: nodes.NodeKind, records: Sequence[_Node], method: str, reuse: bool = False) -> list[int]:
        batch = _listed(records, kind.cls, method)
        again = reuse or all(node.id is not None for node in batch)  # get-or-create and updates: safe to run again
        return self._write(
            lambda tx: nodes.put(tx, self._types, kind, batch, _now(), reuse_existing=reuse), method, idempotent=again
        )

    def put_artifacts(self, artifacts: Sequence[Artifact]) -> list[int]:
        """Insert artifacts without an id and update those with one; ids in input order.

        An update replaces the stored artifact: properties left out are removed.

        Raises:
            NotFoundError: an unknown type or id.
            PropertyError: a property the type does not declare, or of the wrong kind.
            AlreadyExistsError: a name taken within the type, or a taken external id.
        """
        return self._put(nodes.ARTIFACT, artifacts, "put_artifacts")

    def put_executions(self, executions: Sequence[Execution]) -> list[int]:
        """Insert or update executions, as :meth:`put_artifacts` does artifacts."""
        return self._put(nodes.EXECUTION, executions, "put_executions")

    def put_contexts(self, contexts: Sequence[Context], *, reuse_existing: bool = False) -> list[int]:
        """Insert or update contexts, as :meth:`put_artifacts` does artifacts.

        With ``reuse_existing=True``, a new context whose type and name exist
        already gets the existing id and is left unchanged (get-or-create; safe
        when many processes do it at once).
        """
        return self._put(nodes.CONTEXT, contexts, "put_contexts", reuse_existing)

    # --- nodes: reads ---

    def _get(self, kind: nodes.NodeKind, key: str, where: Any, params: dict[str, Any]) -> list[Any]:
        return self._read(lambda tx: nodes.get(tx, self._types, kind, key, where, params), f"get {kind.word}s")

    def _get_by_ids(self, kind: nodes.NodeKind, ids: Iterable[int]) -> list[Any]:
        wanted = list(ids)
        return self._read(lambda tx: nodes.get_by_ids(tx, self._types, kind, wanted), f"get {kind.word}s")

    def _get_by_type(
        self, kind: nodes.NodeKind, type_name: str, type_version: str | None, name: str | None = None
    ) -> list[Any]:
        def read(tx: Tx) -> list[_Node]:
            type_id = self._types.by_name(tx, kind.type_kind, type_name, type_version).id
            t = kind.table
            if name is None:
                return nodes.get(tx, self._types, kind, "by_type", t.c.type_id == bindparam("t"), {"t": type_id})
            where = (t.c.type_id == bindparam("t")) & (t.c.name == bindparam("n"))
            return nodes.get(tx, self._types, kind, "by_type_name", where, {"t": type_id, "n": name})

        return self._read(read, f"get {kind.word}s by type")

    def _get_linked(self, kind: nodes.NodeKind, link: Any, have: str, want: str, value: int) -> list[Any]:
        def read(tx: Tx) -> list[_Node]:
            return nodes.get_by_ids(tx, self._types, kind, edges.linked_ids(tx, link, have, want, value))

        return self._read(read, f"get {kind.word}s")

    def _select(self, kind: nodes.NodeKind, filter: str | None, order_by: str, descending: bool, limit: int | None,
                context_id: int | None = None) -> list[Any]:  # fmt: skip
        def read(tx: Tx) -> list[_Node]:
            return query.select_nodes(
                tx, self._types, kind, filter, order_by=order_by, descending=descending, limit=limit,
                context_id=context_id,
            )  # fmt: skip

        return self._read(read, f"get {kind.word}s")

    def _page(self, kind: nodes.NodeKind, filter: str | None, order_by: str, descending: bool, page_size: int,
              page_token: str | None) -> Page[Any]:  # fmt: skip
        def read(tx: Tx) -> Page[Any]:
            return query.list_page(
                tx, self._types, kind, filter, order_by=order_by, descending=descending, page_size=page_size,
                page_token=page_token,
            )  # fmt: skip

        return self._read(read, f"list {kind.word}s")

    def get_artifacts(
        self, filter: str | None = None, *, order_by: str = "id", descending: bool = False, limit: int | None = None
    ) -> list[Artifact]:
        """The artifacts matching *filter* (all of them without one), sorted; no cap unless *limit* is given.

        Args:
            filter: a filter query in MLMD's language (see docs/queries.md), e.g.
                ``"type = 'Model' AND properties.accuracy.double_value > 0.9"``.
            order_by: ``"id"``, ``"create_time"`` or ``"last_update_time"``; ties are broken by id.
            descending: newest (or highest) first.
            limit: at most this many.

        Raises:
            FilterError: a filter that does not parse or names what does not exist, with its position.
        """
        return self._select(nodes.ARTIFACT, filter, order_by, descending, limit)

    def get_executions(
        self, filter: str | None = None, *, order_by: str = "id", descending: bool = False, limit: int | None = None
    ) -> list[Execution]:
        """The executions matching *filter*, as :meth:`get_artifacts` lists artifacts."""
        return self._select(nodes.EXECUTION, filter, order_by, descending, limit)

    def get_contexts(
        self, filter: str | None = None, *, order_by: str = "id", descending: bool = False, limit: int | None = None
    ) -> list[Context]:
        """The contexts matching *filter*, as :meth:`get_artifacts` lists artifacts."""
        return self._select(nodes.CONTEXT, filter, order_by, descending, limit)

    def list_artifacts(
        self,
        filter: str | None = None,
        *,
        order_by: str = "id",
        descending: bool = False,
        page_size: int = 100,
        page_token: str | None = None,
    ) -> Page[Artifact]:
        """One page of the artifacts matching *filter*; pass ``next_page_token`` back for the next.

        Tokens are keyset cursors: rows inserted while paging are never the
        cause of a skipped or repeated row. A token works only with the same
        filter, order and kind (InvalidArgumentError otherwise).
        """
        return self._page(nodes.ARTIFACT, filter, order_by, descending, page_size, page_token)

    def list_executions(
        self,
        filter: str | None = None,
        *,
        order_by: str = "id",
        descending: bool = False,
        page_size: int = 100,
        page_token: str | None = None,
    ) -> Page[Execution]:
        """One page of the executions matching *filter*, as :meth:`list_artifacts`."""
        return self._page(nodes.EXECUTION, filter, order_by, descending, page_size, page_token)

    def list_contexts(
        self,
        filter: str | None = None,
        *,
        order_by: str = "id",
        descending: bool = False,
        page_size: int = 100,
        page_token: str | None = None,
    ) -> Page[Context]:
        """One page of the contexts matching *filter*, as :meth:`list_artifacts`."""
        return self._page(nodes.CONTEXT, filter, order_by, descending, page_size, page_token)

    def get_artifacts_by_id(self, artifact_ids: Iterable[int]) -> list[Artifact]:
        """The artifacts with these ids, in that order; unknown ids are left out."""
        return self._get_by_ids(nodes.ARTIFACT, artifact_ids)

    def get_executions_by_id(self, execution_ids: Iterable[int]) -> list[Execution]:
        """The executions with these ids, in that order; unknown ids are left out."""
        return self._get_by_ids(nodes.EXECUTION, execution_ids)

    def get_contexts_by_id(self, context_ids: Iterable[int]) -> list[Context]:
        """The contexts with these ids, in that order; unknown ids are left out."""
        return self._get_by_ids(nodes.CONTEXT, context_ids)

    def get_artifacts_by_type(self, type_name: str, type_version: str | None = None) -> list[Artifact]:
        """The artifacts of a type. Raises NotFoundError for an unknown type."""
        return self._get_by_type(nodes.ARTIFACT, type_name, type_version)

    def get_executions_by_type(self, type_name: str, type_version: str | None = None) -> list[Execution]:
        """The executions of a type. Raises NotFoundError for an unknown type."""
        return self._get_by_type(nodes.EXECUTION, type_name, type_version)

    def get_contexts_by_type(self, type_name: str, type_version: str | None = None) -> list[Context]:
        """The contexts of a type. Raises NotFoundError for an unknown type."""
        return self._get_by_type(nodes.CONTEXT, type_name, type_version)

    def get_artifact_by_type_and_name(
        self, type_name: str, artifact_name: str, type_version: str | None = None
    ) -> Artifact | None:
        """The artifact of this type with this name, or None."""
        found = self._get_by_type(nodes.ARTIFACT, type_name, type_version, artifact_name)
        return found[0] if found else None

    def get_execution_by_type_and_name(
        self, type_name: str, execution_name: str, type_version: str | None = None
    ) -> Execution | None:
        """The execution of this type with this name, or None."""
        found = self._get_by_type(nodes.EXECUTION, type_name, type_version, execution_name)
        return found[0] if found else None

    def get_context_by_type_and_name(
        self, type_name: str, context_name: str, type_version: str | None = None
    ) -> Context | None:
        """The context of this type with this name, or None."""
        found = self._get_by_type(nodes.CONTEXT, type_name, type_version, context_name)
        return found[0] if found else None

    def get_artifacts_by_uri(self, uri: str) -> list[Artifact]:
        """The artifacts with exactly this URI."""
        return self._get(nodes.ARTIFACT, "by_uri", s.artifact.c.uri == bindparam("u"), {"u": uri})

    def get_artifacts_by_external_ids(self, external_ids: Iterable[str]) -> list[Artifact]:
        """The artifacts with these external ids."""
        where = s.artifact.c.external_id.in_(bindparam("x", expanding=True))
        return self._get(nodes.ARTIFACT, "by_external_ids", where, {"x": list(external_ids)})

    def get_executions_by_external_ids(self, external_ids: Iterable[str]) -> list[Execution]:
        """The executions with these external ids."""
        where = s.execution.c.external_id.in_(bindparam("x", expanding=True))
        return self._get(nodes.EXECUTION, "by_external_ids", where, {"x": list(external_ids)})

    def get_contexts_by_external_ids(self, external_ids: Iterable[str]) -> list[Context]:
        """The contexts with these external ids."""
        where = s.context.c.external_id.in_(bindparam("x", expanding=True))
        return self._get(nodes.CONTEXT, "by_external_ids", where, {"x": list(external_ids)})

    def get_artifacts_by_context(
        self, context_id: int, filter: str | None = None, *, order_by: str = "id", descending: bool = False
    ) -> list[Artifact]:
        """The artifacts attributed to a context (and matching *filter*), by id unless *order_by* says otherwise."""
        return self._select(nodes.ARTIFACT, filter, order_by, descending, None, context_id)

    def get_executions_by_context(
        self, context_id: int, filter: str | None = None, *, order_by: str = "id", descending: bool = False
    ) -> list[Execution]:
        """The executions associated with a context (and matching *filter*), as :meth:`get_artifacts_by_context`."""
        return self._select(nodes.EXECUTION, filter, order_by, descending, None, context_id)

    def get_contexts_by_artifact(self, artifact_id: int) -> list[Context]:
        """The contexts an artifact is attributed to, by id."""
        return self._get_linked(nodes.CONTEXT, s.attribution, "artifact_id", "context_id", artifact_id)

    def get_contexts_by_execution(self, execution_id: int) -> list[Context]:
        """The contexts an execution is associated with, by id."""
        return self._get_linked(nodes.CONTEXT, s.association, "execution_id", "context_id", execution_id)

    def get_parent_contexts_by_context(self, context_id: int) -> list[Context]:
        """The direct parents of a context."""
        return self._get_linked(nodes.CONTEXT, s.parent_context, "context_id", "parent_context_id", context_id)

    def get_children_contexts_by_context(self, context_id: int) -> list[Context]:
        """The direct children of a context."""
        return self._get_linked(nodes.CONTEXT, s.parent_context, "parent_context_id", "context_id", context_id)

    # --- edges ---

    def put_events(self, events: Sequence[Event]) -> None:
        """Record events; their artifacts and executions must exist.

        Raises:
            NotFoundError: an artifact or execution id that does not exist.
            AlreadyExistsError: the same (artifact, execution, type) recorded before.
        """
        batch = _listed(events, Event, "put_events")
        self._write(lambda tx: edges.put_events(tx, batch, _now()), "put_events")

    def get_events_by_execution_ids(self, execution_ids: Iterable[int]) -> list[Event]:
        """The events of these executions, in the order they were recorded."""
        ids = list(execution_ids)
        return self._read(lambda tx: edges.get_events(tx, "execution_id", ids), "get events")

    def get_events_by_artifact_ids(self, artifact_ids: Iterable[int]) -> list[Event]:
        """The events of these artifacts, in the order they were recorded."""
        ids = list(artifact_ids)
        return self._read(lambda tx: edges.get_events(tx, "artifact_id", ids), "get events")

    def put_attributions_and_associations(
        self, attributions: Sequence[Attribution], associations: Sequence[Association]
    ) -> None:
        """Link artifacts and executions to contexts; links that exist are left as they are."""
        a = _listed(attributions, Attribution, "put_attributions_and_associations")
        b = _listed(associations, Association, "put_attributions_and_associations")
        self._write(lambda tx: edges.link(tx, a, b), "put_attributions_and_associations", idempotent=True)

    def put_parent_contexts(self, parent_contexts: Sequence[ParentContext]) -> None:
        """Make contexts children of others. A duplicate link or a cycle is refused."""
        links = _listed(parent_contexts, ParentContext, "put_parent_contexts")
        self._write(lambda tx: edges.put_parent_contexts(tx, links), "put_parent_contexts")

    def touch(self, *, executions: Sequence[int] = (), contexts: Sequence[int] = ()) -> None:
        """Set the last update time of these executions and contexts to now, and change nothing else.

        This is a heartbeat: a RUNNING execution whose process is alive keeps it recent (see
        ``tracker.recover``). Ids that do not exist are ignored.
        """
        wanted = [(kind, sorted(set(map(int, ids)))) for kind, ids in ((nodes.EXECUTION, executions),
                                                                        (nodes.CONTEXT, contexts)) if ids]  # fmt: skip

        def write(tx: Tx) -> None:
            now = _now()
            for kind, ids in wanted:
                t = kind.table
                stmt = tx.backend.prepared(("touch", kind.word), lambda t=t: update(t).where(  # type: ignore[misc]
                    t.c.id == bindparam("node_id")).values(last_update_time_since_epoch=bindparam("now")))  # fmt: skip
                tx.executemany(stmt, [{"node_id": i, "now": now} for i in ids])

        if wanted:
            self._write(write, "touch", idempotent=True)

    def put_execution(
        self,
        execution: Execution,
        artifact_and_events: Sequence[tuple[Artifact | int, Event | None]] = (),
        contexts: Sequence[Context | int] = (),
        *,
        reuse_existing_contexts: bool = True,
        reuse_artifacts_by_external_id: bool = False,
    ) -> tuple[int, list[int], list[int]]:
        """Record one execution with its artifacts, events and contexts, atomically.

        Artifacts and contexts without an id are inserted, those with one
        updated; a plain ``int`` in their place names a stored one to link,
        unchanged. Each event gets the ids of its artifact and of the
        execution. Every artifact is attributed to, and the execution
        associated with, every context. A new context whose type and name
        exist is reused unless ``reuse_existing_contexts=False``; with
        ``reuse_artifacts_by_external_id=True``, so is a new artifact whose
        external id exists.

        Safe to retry: when the connection drops during COMMIT, the outcome is unknown, and the
        write runs again on a new connection, finding what a COMMIT that went through wrote (the
        execution by its id or ``external_id``, a new artifact by its external id or by its event's
        type and path, events and links that exist): nothing is recorded twice. A new execution
        without an ``external_id`` (or a new artifact with neither an external id nor an event)
        cannot be found again: CommitUnknownError says its outcome is unknown instead.

        Returns:
            (execution id, artifact ids in input order, context ids in input order)

        Raises:
            NotFoundError: an id, given as a record's ``id`` or as an ``int``, that does not exist.
            DatabaseError: the database failed, or its connection kept going away (three tries).
        """
        if not isinstance(execution, Execution):
            raise InvalidArgumentError(f"expected Execution, got {type(execution).__name__}")
        pairs = _listed(artifact_and_events, tuple, "put_execution") if artifact_and_events else []
        for pair in pairs:
            if not (isinstance(pair, tuple) and len(pair) == 2 and isinstance(pair[0], (Artifact, int))):
                raise InvalidArgumentError("artifact_and_events holds (Artifact or artifact id, Event or None) pairs")
            if pair[1] is not None:
                edges.check_event(pair[1])
        ctxs = _listed(contexts, (Context, int), "put_execution") if contexts else []

        def write(tx: Tx) -> tuple[int, list[int], list[int]]:
            now = _now()
            again = tx.maybe_committed  # an earlier attempt may have committed: find its rows, add none twice
            (execution_id,) = nodes.put(tx, self._types, nodes.EXECUTION, [execution], now, reuse_existing=again)
            records: list[Artifact | int] = [a for a, _ in pairs]
            recorded = edges.get_events(tx, "execution_id", [execution_id]) if again else []
            if recorded:
                records = _claimed(pairs, recorded)
            artifact_ids = self._put_or_link(tx, nodes.ARTIFACT, records, now,
                                             reuse_artifacts_by_external_id or again)  # fmt: skip
            have = {(e.artifact_id, int(e.type)) for e in recorded}
            events = [
                Event(aid, execution_id, e.type, list(e.path), e.milliseconds_since_epoch)
                for aid, (_, e) in zip(artifact_ids, pairs, strict=True)
                if e is not None and (aid, int(e.type)) not in have
            ]
            if events:
                edges.put_events(tx, events, now, verify=False)  # the nodes were just written or checked
            context_ids = self._put_or_link(tx, nodes.CONTEXT, ctxs, now, reuse_existing_contexts or again)
            if context_ids:
                edges.link(
                    tx,
                    [Attribution(a, c) for c in context_ids for a in dict.fromkeys(artifact_ids)],
                    [Association(execution_id, c) for c in context_ids],
                    verify=False,
                )
            return execution_id, artifact_ids, context_ids

        # Safe to run again after a COMMIT that may have gone through when every new record can be found:
        # the execution by its id or external id, a new artifact by its external id or its event's path.
        findable = (execution.id is not None or bool(execution.external_id)) and all(
            isinstance(a, int) or a.id is not None or bool(a.external_id) or e is not None for a, e in pairs
        )
        return self._write(write, "put_execution", idempotent=findable)

    def _put_or_link(self, tx: Tx, kind: nodes.NodeKind, items: list[Any], now: int, reuse: bool) -> list[int]:
        """Ids for records (written) and plain ints (checked to exist), in input order."""
        records = [item for item in items if not isinstance(item, int)]
        written = iter(nodes.put(tx, self._types, kind, records, now, reuse_existing=reuse))
        linked = [int(item) for item in items if isinstance(item, int)]
        if linked:
            nodes.require(tx, kind, linked)
        return [int(item) if isinstance(item, int) else next(written) for item in items]

    # --- deletes ---

    # --- lineage ---

    def get_lineage(
        self,
        *,
        artifacts: Iterable[int] | str | None = None,
        executions: Iterable[int] | str | None = None,
        direction: str = "both",
        max_hops: int | None = None,
        stop_at_artifacts: str | None = None,
        stop_at_executions: str | None = None,
        include_stops: bool = True,
    ) -> LineageGraph:
        """The lineage around some artifacts and executions, in one query and one transaction.

        Args:
            artifacts: starting artifacts, as ids or a filter (``"type = 'Model'"``).
            executions: starting executions, as ids or a filter.
            direction: ``"upstream"`` (what they came from), ``"downstream"`` (what
                came from them) or ``"both"``.
            max_hops: how far to walk; a hop is node to event to node. None walks
                the whole connected graph; 0 returns the starting nodes only.
            stop_at_artifacts: a filter; artifacts matching it end the walk.
            stop_at_executions: a filter; executions matching it end the walk.
            include_stops: whether the nodes where the walk ended (and the events
                to them) are in the result.

        Returns:
            The artifacts, executions and events reached, their contexts with the
            attributions and associations, and the types they use.

        Raises:
            NotFoundError: a starting id that does not exist.
            FilterError: a filter that does not parse.
            InvalidArgumentError: no starting nodes, or a bad direction or hop limit.
        """

        def read(tx: Tx) -> LineageGraph:
            return lineage.lineage(
                tx,
                self._types,
                artifacts=artifacts,
                executions=executions,
                direction=direction,
                max_hops=max_hops,
                stop_at_artifacts=stop_at_artifacts,
                stop_at_executions=stop_at_executions,
                include_stops=include_stops,
            )

        return self._read(read, "get lineage")

    def delete_artifacts(self, artifact_ids: Iterable[int]) -> None:
        """Delete artifacts with their properties, events and attributions.

        Lineage through them is lost: executions that read or wrote them stay.
        Raises NotFoundError, deleting nothing, if any id does not exist.
        """
        ids = list(artifact_ids)
        self._write(lambda tx: edges.delete_nodes(tx, nodes.ARTIFACT, ids), "delete_artifacts")

    def delete_executions(self, execution_ids: Iterable[int]) -> None:
        """Delete executions with their properties, events and associations."""
        ids = list(execution_ids)
        self._write(lambda tx: edges.delete_nodes(tx, nodes.EXECUTION, ids), "delete_executions")

    def delete_contexts(self, context_ids: Iterable[int]) -> None:
        """Delete contexts with their properties, links and parent/child links.

        The artifacts and executions in them stay.
        """
        ids = list(context_ids)
        self._write(lambda tx: edges.delete_nodes(tx, nodes.CONTEXT, ids), "delete_contexts")


def _claimed(pairs: Sequence[tuple[Artifact | int, Event | None]], recorded: Sequence[Event]) -> list[Artifact | int]:
    """The artifacts of *pairs*, a new one without an external id replaced by the id of the artifact that an
    already recorded event of the execution links with the same type and path (an earlier attempt wrote it)."""
    free = list(recorded)
    out: list[Artifact | int] = []
    for artifact, event in pairs:
        if isinstance(artifact, Artifact) and artifact.id is None and not artifact.external_id and event is not None:
            found = next((r for r in free if int(r.type) == int(event.type) and r.path == list(event.path)), None)
            if found is not None:
                free.remove(found)
                out.append(int(found.artifact_id))
                continue
        out.append(artifact)
    return out


def _counting(table: Any) -> Callable[[], Any]:
    return lambda: select(func.count()).select_from(table)


def connect(url: str | None = None) -> Store:
    """Open the metadata store at *url*, creating MLMD's schema if the database is empty.

    *url* is, in order of precedence, the argument, the ``TRACKER_URL``
    environment variable, or the SQLite file ``./.tracker/mlmd.sqlite``:

    - ``"runs/mlmd.sqlite"`` or ``"sqlite:///runs/mlmd.sqlite"``: a SQLite file
      (``"sqlite://"`` is an in-memory database, gone when the store closes);
    - ``"postgresql://user:password@host:5432/db"``: PostgreSQL through psycopg 3
      (``pip install 'mlmd-tracker[postgresql]'``);
    - ``"mysql://user:password@host:3306/db"``: MySQL or MariaDB through PyMySQL
      (``pip install 'mlmd-tracker[mysql]'``).

    Raises:
        ConfigurationError: the URL or its driver cannot be used.
        SchemaError: the database holds other tables, or another MLMD schema version.
    """
    return Store(url)
