"""Edges between nodes: events (with paths), attributions, associations, parent contexts.

Also the deletes, which must take a node's edges with it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from functools import partial
from typing import Any

from sqlalchemy import Table, bindparam, delete, insert, literal_column, or_, select

from tracker.errors import AlreadyExistsError, InvalidArgumentError
from tracker.store import schema as s
from tracker.store._nodes import ARTIFACT, CONTEXT, EXECUTION, NodeKind, require
from tracker.store._sql import Tx, chunks, insert_into, rows_for_ids
from tracker.store.entities import Association, Attribution, Event, EventType, ParentContext, PathStep

# --- events ---


def check_event(event: Event) -> None:
    """InvalidArgumentError unless *event* is an Event with a valid type and path."""
    if not isinstance(event, Event):
        raise InvalidArgumentError(f"expected Event, got {type(event).__name__}")
    try:
        EventType(event.type)
    except ValueError:
        raise InvalidArgumentError(f"event type {event.type!r} is not an EventType") from None
    for step in event.path:
        if isinstance(step, bool) or not isinstance(step, (int, str)):
            raise InvalidArgumentError(f"event path step {step!r} is neither a key (str) nor an index (int)")


def put_events(tx: Tx, events: Sequence[Event], now: int, *, verify: bool = True) -> None:
    """Insert events and their paths; their artifacts and executions must exist.

    ``verify=False`` skips the existence check, for callers that just wrote those nodes.
    """
    seen: set[tuple[int, int, int]] = set()
    for event in events:
        check_event(event)
        key = (int(event.artifact_id), int(event.execution_id), int(event.type))
        if key in seen:
            raise AlreadyExistsError(
                f"the event {EventType(event.type).name} between artifact {key[0]} and execution "
                f"{key[1]} is given twice; an event is unique per artifact, execution and type"
            )
        seen.add(key)
    if verify:
        require(tx, ARTIFACT, {e.artifact_id for e in events})
        require(tx, EXECUTION, {e.execution_id for e in events})
    stmt = tx.backend.prepared("insert_event", lambda: insert_into(tx.backend, s.event))
    ids = tx.insert_all(
        stmt,
        [
            {
                "artifact_id": e.artifact_id,
                "execution_id": e.execution_id,
                "type": int(e.type),
                "milliseconds_since_epoch": e.milliseconds_since_epoch or now,
            }
            for e in events
        ],
    )
    steps = [_step(event_id, step) for event_id, e in zip(ids, events, strict=True) for step in e.path]
    tx.executemany(tx.backend.prepared("insert_event_path", lambda: insert_into(tx.backend, s.event_path)), steps)


def _step(event_id: int, step: PathStep) -> dict[str, Any]:
    if isinstance(step, int):
        return {"event_id": event_id, "is_index_step": True, "step_index": step, "step_key": None}
    return {"event_id": event_id, "is_index_step": False, "step_index": None, "step_key": step}


def get_events(tx: Tx, column: str, ids: Iterable[int]) -> list[Event]:
    """Events whose *column* (``artifact_id``, ``execution_id`` or ``id``) is in *ids*, by event id."""
    e = s.event
    rows = rows_for_ids(
        tx,
        ("events_by", column),
        lambda where_in: (
            select(e.c.id, e.c.artifact_id, e.c.execution_id, e.c.type, e.c.milliseconds_since_epoch)
            .where(where_in(e.c[column]))
            .order_by(e.c.id)
        ),
        [int(i) for i in ids],
    )
    path_rows = rows_for_ids(tx, "event_paths", path_steps(tx.backend.name), sorted({int(r[0]) for r in rows}))
    return events_with_paths(rows, path_rows)


def path_steps(backend: str) -> Callable[[Callable[[Any], Any]], Any]:
    """``build(where_in)`` of the select of path steps (event_id, is_index_step, step_index, step_key) of the
    events ``where_in(event_id)`` picks, by event and in path order."""
    p = s.event_path
    # EventPath has no position column: steps come back in the order they were written.
    physical = {"sqlite": "rowid", "postgresql": "ctid"}.get(backend)
    return lambda where_in: (
        select(p.c.event_id, p.c.is_index_step, p.c.step_index, p.c.step_key)
        .where(where_in(p.c.event_id))
        .order_by(p.c.event_id, *([literal_column(physical)] if physical else []))
    )


def events_with_paths(rows: Iterable[Any], path_rows: Iterable[Any]) -> list[Event]:
    """Events, by id, from rows of (id, artifact_id, execution_id, type, milliseconds) and the rows of their
    path steps (``path_steps``, in path order)."""
    types = {int(t): t for t in EventType}
    events: dict[int, Event] = {}
    for event_id, artifact_id, execution_id, kind, millis in rows:
        events[int(event_id)] = Event(int(artifact_id), int(execution_id), types.get(kind) or EventType(kind), [],
                                      int(millis or 0))  # fmt: skip
    for event_id, is_index, index, key in path_rows:
        events[int(event_id)].path.append(int(index) if is_index else key)
    return [events[i] for i in sorted(events)]


# --- context links ---


def _insert_ignoring_duplicates(tx: Tx, table: Table) -> Any:
    name = tx.backend.name
    values: dict[str, Any] = {c.name: bindparam(c.name) for c in table.columns if c.name != "id"}
    if name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert  # only PostgreSQL stores need it

        return pg_insert(table).values(values).on_conflict_do_nothing()
    return insert(table).values(values).prefix_with("OR IGNORE" if name == "sqlite" else "IGNORE")


def link(
    tx: Tx, attributions: Sequence[Attribution], associations: Sequence[Association], *, verify: bool = True
) -> None:
    """Attribute artifacts and associate executions to contexts; existing links are kept.

    ``verify=False`` skips the existence checks, for callers that just wrote those nodes.
    """
    for edge, cls in [(a, Attribution) for a in attributions] + [(a, Association) for a in associations]:
        if not isinstance(edge, cls):
            raise InvalidArgumentError(f"expected {cls.__name__}, got {type(edge).__name__}")
    if verify:
        require(tx, CONTEXT, {a.context_id for a in attributions} | {a.context_id for a in associations})
        require(tx, ARTIFACT, {a.artifact_id for a in attributions})
        require(tx, EXECUTION, {a.execution_id for a in associations})
    for table, rows in (
        (s.attribution, [{"context_id": a.context_id, "artifact_id": a.artifact_id} for a in attributions]),
        (s.association, [{"context_id": a.context_id, "execution_id": a.execution_id} for a in associations]),
    ):
        tx.executemany(tx.backend.prepared(("link", table.name), partial(_insert_ignoring_duplicates, tx, table)), rows)


def put_parent_contexts(tx: Tx, links: Sequence[ParentContext]) -> None:
    """Insert child→parent links; a duplicate or a cycle is refused."""
    for edge in links:
        if not isinstance(edge, ParentContext):
            raise InvalidArgumentError(f"expected ParentContext, got {type(edge).__name__}")
        if edge.child_id == edge.parent_id:
            raise InvalidArgumentError(f"context {edge.child_id} cannot be its own parent")
    require(tx, CONTEXT, {e.child_id for e in links} | {e.parent_id for e in links})
    stmt = tx.backend.prepared("insert_parent_context", lambda: insert_into(tx.backend, s.parent_context))
    for edge in links:
        if edge.child_id in ancestors(tx, [edge.parent_id]):
            raise InvalidArgumentError(
                f"making context {edge.parent_id} the parent of {edge.child_id} would close a cycle: "
                f"{edge.child_id} is already an ancestor of {edge.parent_id}"
            )
        if edge.parent_id in related(tx, "parents", edge.child_id):
            raise AlreadyExistsError(f"context {edge.parent_id} is already a parent of {edge.child_id}")
        tx.execute(stmt, {"context_id": edge.child_id, "parent_context_id": edge.parent_id})


def related(tx: Tx, direction: str, context_id: int) -> list[int]:
    """Ids of the direct ``parents`` or ``children`` of a context."""
    pc = s.parent_context.c
    mine, theirs = (
        (pc.context_id, pc.parent_context_id) if direction == "parents" else (pc.parent_context_id, pc.context_id)
    )
    stmt = tx.backend.prepared(
        ("related", direction), lambda: select(theirs).where(mine == bindparam("id")).order_by(theirs)
    )
    return [int(r[0]) for r in tx.rows(stmt, {"id": context_id})]


def ancestors(tx: Tx, start: Iterable[int]) -> set[int]:
    """Every context above *start* (and *start* itself)."""
    seen = set(start)
    frontier = list(seen)
    while frontier:
        frontier = [p for c in frontier for p in related(tx, "parents", c) if p not in seen]
        seen.update(frontier)
    return seen


def linked_ids(tx: Tx, table: Table, have: str, want: str, value: int) -> list[int]:
    """Ids in column *want* of the link rows whose *have* column equals *value*."""
    stmt = tx.backend.prepared(
        ("linked", table.name, have),
        lambda: select(table.c[want]).where(table.c[have] == bindparam("v")).order_by(table.c[want]),
    )
    return [int(r[0]) for r in tx.rows(stmt, {"v": value})]


# --- deletes ---


def delete_nodes(tx: Tx, kind: NodeKind, ids: Sequence[int]) -> None:
    """Delete nodes with their properties, events (and paths), and context links."""
    require(tx, kind, ids)
    statements = [tx.backend.prepared(("delete", kind.word, i), build) for i, build in enumerate(_deletes(kind))]
    for batch in chunks(sorted(set(int(i) for i in ids))):
        for stmt in statements:
            tx.execute(stmt, {"ids": batch})


def _in(column: Any) -> Any:
    return column.in_(bindparam("ids", expanding=True))


def _deletes(kind: NodeKind) -> list[Callable[[], Any]]:
    """Builders of the DELETE statements for *kind*, edges first, the nodes last."""
    builders: list[Callable[[], Any]]
    if kind is CONTEXT:
        pc = s.parent_context.c
        builders = [
            lambda: delete(s.attribution).where(_in(s.attribution.c.context_id)),
            lambda: delete(s.association).where(_in(s.association.c.context_id)),
            lambda: delete(s.parent_context).where(or_(_in(pc.context_id), _in(pc.parent_context_id))),
        ]
    else:
        e, p = s.event, s.event_path
        link = s.attribution if kind is ARTIFACT else s.association
        builders = [
            lambda: delete(p).where(p.c.event_id.in_(select(e.c.id).where(_in(e.c[kind.owner])).scalar_subquery())),
            lambda: delete(e).where(_in(e.c[kind.owner])),
            lambda: delete(link).where(_in(link.c[kind.owner])),
        ]
    return [
        *builders,
        lambda: delete(kind.props).where(_in(kind.props.c[kind.owner])),
        lambda: delete(kind.table).where(_in(kind.table.c.id)),
    ]
