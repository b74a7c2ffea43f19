"""Lineage: the walk (see ``_walk``), then the nodes, events, links and types it reached, in one transaction.

Every row of the answer is read in the transaction of the walk, so that a
:class:`LineageGraph` is one consistent picture, even while other processes
write. The rows are read joined to the set of ids the walk reached (one
statement per table on SQLite and PostgreSQL), and kept as they come: the
Artifact, Execution, Context, Event, Attribution and Association objects are
built from them the first time a list is read, which a caller that reads only
a few lists (or none) never pays for.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from operator import itemgetter
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from tracker.errors import FilterError, InvalidArgumentError
from tracker.store import _nodes as nodes
from tracker.store import _values as values
from tracker.store import _walk
from tracker.store import schema as s
from tracker.store._edges import path_steps
from tracker.store._query import plan
from tracker.store._sql import Tx
from tracker.store._types import TypeRegistry
from tracker.store._walk import DIRECTIONS, EVENT_COLUMNS, INPUTS, OUTPUTS, id_rows
from tracker.store.entities import (
    Artifact,
    ArtifactState,
    ArtifactType,
    Association,
    Attribution,
    Context,
    ContextType,
    Event,
    EventType,
    Execution,
    ExecutionState,
    ExecutionType,
    PropertyValue,
    TypeKind,
)

__all__ = ["DIRECTIONS", "INPUTS", "MAX_START_IDS", "OUTPUTS", "LineageGraph", "lineage"]

#: Most starting ids in one call.
MAX_START_IDS = 10_000


@dataclass
class LineageGraph:
    """A part of the lineage graph: nodes, the events between them, their contexts and types.

    Lists are sorted by id; events by artifact id, execution id and type. A graph
    from ``Store.get_lineage`` holds every row it needs, read in one transaction,
    and builds each list of records the first time it is read: a graph stays
    valid and complete after its store is closed. Its lists are plain lists, to
    read, change or replace like any attribute.
    """

    artifacts: list[Artifact] = field(default_factory=list)
    executions: list[Execution] = field(default_factory=list)
    contexts: list[Context] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    artifact_types: list[ArtifactType] = field(default_factory=list)
    execution_types: list[ExecutionType] = field(default_factory=list)
    context_types: list[ContextType] = field(default_factory=list)
    attributions: list[Attribution] = field(default_factory=list)
    associations: list[Association] = field(default_factory=list)

    if not TYPE_CHECKING:  # (hidden from type checkers, which would then accept any attribute name)

        def __getattr__(self, name: str) -> Any:
            # Python calls this only for an attribute the instance lacks: a list not built yet
            rows = self.__dict__.get("_rows")
            build = _BUILDERS.get(name)
            if rows is None or build is None:
                raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")
            built = self.__dict__.setdefault(name, build(rows))  # two threads at once: both get the first
            if all(n in self.__dict__ for n in _BUILDERS):
                self.__dict__.pop("_rows", None)
            return built


@dataclass
class _Rows:
    """The rows of a lineage answer, in the columns of the selects below, as the driver returned them."""

    flavor: values.Flavor
    type_names: dict[int, str]
    artifacts: list[Any]  # _NODE_COLUMNS, uri, state, then _PROPERTY_COLUMNS: a row per property
    executions: list[Any]  # _NODE_COLUMNS, last_known_state, _PROPERTY_COLUMNS
    contexts: list[Any]  # _NODE_COLUMNS, _PROPERTY_COLUMNS
    events: list[Any]  # EVENT_COLUMNS
    paths: list[Any]  # event_id, is_index_step, step_index, step_key; in path order
    attributions: list[Any]  # artifact_id, context_id
    associations: list[Any]  # execution_id, context_id


Start = Iterable[int] | str | None


def _start(name: str, value: Start) -> list[int] | str | None:
    if value is None:
        return None
    if isinstance(value, str):
        if not value.strip():
            raise FilterError(value, len(value), "a condition", f"{name}: the filter is empty; give ids or a filter")
        return value
    try:
        ids = list(dict.fromkeys(value))
    except TypeError:
        raise InvalidArgumentError(f"{name} must be ids or a filter string, not {type(value).__name__}") from None
    if any(isinstance(i, bool) or not isinstance(i, int) for i in ids):
        raise InvalidArgumentError(f"{name} must be integer ids or a filter string, not {ids[:5]!r}")
    if len(ids) > MAX_START_IDS:
        raise InvalidArgumentError(
            f"{name}: {len(ids)} starting ids; at most {MAX_START_IDS} per call (or use a filter)"
        )
    return ids


def lineage(
    tx: Tx,
    types: TypeRegistry,
    *,
    artifacts: Start,
    executions: Start,
    direction: str,
    max_hops: int | None,
    stop_at_artifacts: str | None,
    stop_at_executions: str | None,
    include_stops: bool,
) -> LineageGraph:
    """The lineage subgraph around the starting nodes (see Store.get_lineage)."""
    start_a = _start("artifacts", artifacts)
    start_e = _start("executions", executions)
    if start_a is None and start_e is None:
        raise InvalidArgumentError("get_lineage needs starting artifacts or executions (ids or a filter)")
    if direction not in DIRECTIONS:
        raise InvalidArgumentError(f"direction must be one of {', '.join(DIRECTIONS)}, not {direction!r}")
    if max_hops is not None and (isinstance(max_hops, bool) or not isinstance(max_hops, int) or max_hops < 0):
        raise InvalidArgumentError(f"max_hops must be None (no limit) or an integer >= 0, not {max_hops!r}")
    for name, stop in (("stop_at_artifacts", stop_at_artifacts), ("stop_at_executions", stop_at_executions)):
        if stop is not None and not isinstance(stop, str):
            raise InvalidArgumentError(f"{name} must be a filter string, not {type(stop).__name__}")
    if isinstance(start_a, list):
        nodes.require(tx, nodes.ARTIFACT, start_a)
    if isinstance(start_e, list):
        nodes.require(tx, nodes.EXECUTION, start_e)

    backend = tx.backend.name
    texts = [t for t in (start_a, start_e, stop_at_artifacts, stop_at_executions) if isinstance(t, str)]
    query = _walk.Query(
        direction=direction,
        max_hops=max_hops,
        start_a=start_a,
        start_e=start_e,
        # each filter gets its own parameter prefix, so that one statement can hold all four
        plans={
            "sa": plan(start_a, "artifact", backend) if isinstance(start_a, str) else None,
            "se": plan(start_e, "execution", backend) if isinstance(start_e, str) else None,
            "xa": plan(stop_at_artifacts, "artifact", backend) if stop_at_artifacts else None,
            "xe": plan(stop_at_executions, "execution", backend) if stop_at_executions else None,
        },
        include_stops=include_stops,
        texts="; ".join(texts) or None,
    )
    return _graph(tx, types, _walk.walk(tx, query))


# --- reading the rows, in the transaction of the walk ---


_first, _second = itemgetter(0), itemgetter(1)


def _graph(tx: Tx, types: TypeRegistry, found: _walk.Walk) -> LineageGraph:
    artifact_ids, execution_ids = list(found.artifacts), list(found.executions)
    attributions = _links(tx, s.attribution, "artifact_id", artifact_ids)
    associations = _links(tx, s.association, "execution_id", execution_ids)
    context_ids = list(set(map(_second, attributions)) | set(map(_second, associations)))
    rows = _Rows(
        flavor=tx.backend.flavor,
        type_names={},
        artifacts=_node_rows(tx, nodes.ARTIFACT, artifact_ids),
        executions=_node_rows(tx, nodes.EXECUTION, execution_ids),
        contexts=_node_rows(tx, nodes.CONTEXT, context_ids),
        events=found.events,
        paths=_path_rows(tx, list(map(_first, found.events))),
        attributions=attributions,
        associations=associations,
    )
    _check(rows)
    graph = LineageGraph.__new__(LineageGraph)
    listed: dict[str, Any] = {}
    for kind, node_rows, name in (
        (TypeKind.ARTIFACT, rows.artifacts, "artifact_types"),
        (TypeKind.EXECUTION, rows.executions, "execution_types"),
        (TypeKind.CONTEXT, rows.contexts, "context_types"),
    ):
        stored = [types.by_id(tx, int(type_id), kind) for type_id in sorted(set(map(_second, node_rows)))]
        rows.type_names.update((t.id, t.name) for t in stored)
        listed[name] = [t.entity() for t in stored]
    graph.__dict__.update(listed, _rows=rows)
    return graph


#: The columns read of each kind of node: those all kinds share, then uri and state, or the state.
_NODE_COLUMNS = ("id", "type_id", "name", "external_id", "create_time_since_epoch", "last_update_time_since_epoch")
_EXTRA_COLUMNS = {"artifact": ("uri", "state"), "execution": ("last_known_state",), "context": ()}
#: The columns read of a property row, after the node's.
_PROPERTY_COLUMNS = ("name", "is_custom_property", *values.VALUE_COLUMNS)


def _node_rows(tx: Tx, kind: nodes.NodeKind, ids: list[int]) -> list[Any]:
    """The nodes with their properties: a row per property, or one row with NULL properties."""
    t, p = kind.table, kind.props
    columns = [t.c[c] for c in (*_NODE_COLUMNS, *_EXTRA_COLUMNS[kind.word])] + [p.c[c] for c in _PROPERTY_COLUMNS]
    return id_rows(
        tx,
        ("lineage_nodes", kind.word),
        lambda where_in: (
            select(*columns).select_from(t.outerjoin(p, p.c[kind.owner] == t.c.id)).where(where_in(t.c.id))
        ),
        ids,
    )


def _links(tx: Tx, table: Any, column: str, ids: list[int]) -> list[Any]:
    """(node id, context id) rows of *table* for the nodes in *ids*."""
    return id_rows(
        tx,
        ("lineage_links", column),
        lambda where_in: select(table.c[column], table.c.context_id).where(where_in(table.c[column])),
        ids,
    )


def _path_rows(tx: Tx, event_ids: list[int]) -> list[Any]:
    return id_rows(tx, "lineage_paths", path_steps(tx.backend.name), event_ids)


def _check(rows: _Rows) -> None:
    """Raise now, in get_lineage, what building the records later would: values the records cannot hold."""
    for state in set(map(itemgetter(7), rows.artifacts)):
        ArtifactState(state or 0)
    for state in set(map(itemgetter(6), rows.executions)):
        ExecutionState(state or 0)
    for event_type in set(map(itemgetter(3), rows.events)):
        EventType(event_type)
    for word, node_rows in (("artifact", rows.artifacts), ("execution", rows.executions), ("context", rows.contexts)):
        layout = _LAYOUTS[word]
        name, first = layout.width, layout.width + 2  # ints, floats and plain strings decode as they are
        for row in node_rows:
            if row[name] is not None and row[first] is None and row[first + 1] is None:
                text = row[first + 2]
                if text is None or text.startswith(values.STRUCT_PREFIX):
                    layout.value(row, rows.flavor)


# --- building the records, the first time a list is read ---


class _Layout:
    """Where the columns of a kind's node rows are: the node's, then a property's."""

    def __init__(self, word: str) -> None:
        names = (*_NODE_COLUMNS, *_EXTRA_COLUMNS[word], *_PROPERTY_COLUMNS)
        self.width = len(_NODE_COLUMNS) + len(_EXTRA_COLUMNS[word])
        self.names = names
        self.at = {name: i for i, name in enumerate(names)}  # "name": the property's, which comes last

    def value(self, row: Any, flavor: values.Flavor) -> PropertyValue:
        return values.decode_row(row, self.at, self.names, flavor)

    def nodes(self, rows: _Rows, node_rows: list[Any], make: Callable[..., Any]) -> list[Any]:
        """``make(row, **fields)`` for each node, by id, with its properties."""
        found: dict[int, tuple[Any, dict[str, PropertyValue], dict[str, PropertyValue]]] = {}
        name = self.width
        for row in node_rows:
            node = found.get(row[0])
            if node is None:
                node = found[row[0]] = (row, {}, {})
            if row[name] is not None:  # a property (its name is NOT NULL)
                node[2 if row[name + 1] else 1][row[name]] = self.value(row, rows.flavor)
        out = []
        for node_id in sorted(found):
            row, properties, custom = found[node_id]
            type_id = int(row[1])
            out.append(
                make(
                    row,
                    id=int(node_id),
                    type_id=type_id,
                    type=rows.type_names[type_id],
                    name=row[2],
                    external_id=row[3],
                    create_time_since_epoch=int(row[4]),
                    last_update_time_since_epoch=int(row[5]),
                    properties=properties,
                    custom_properties=custom,
                )
            )
        return out


_LAYOUTS = {word: _Layout(word) for word in _EXTRA_COLUMNS}


def _artifacts(rows: _Rows) -> list[Artifact]:
    def make(row: Any, **fields: Any) -> Artifact:
        return Artifact(**fields, uri=row[6], state=ArtifactState(row[7] or 0))

    return _LAYOUTS["artifact"].nodes(rows, rows.artifacts, make)


def _executions(rows: _Rows) -> list[Execution]:
    def make(row: Any, **fields: Any) -> Execution:
        return Execution(**fields, last_known_state=ExecutionState(row[6] or 0))

    return _LAYOUTS["execution"].nodes(rows, rows.executions, make)


def _contexts(rows: _Rows) -> list[Context]:
    return _LAYOUTS["context"].nodes(rows, rows.contexts, lambda row, **fields: Context(**fields))


def _events(rows: _Rows) -> list[Event]:
    paths: dict[int, list[Any]] = {}
    for event_id, is_index, index, key in rows.paths:
        paths.setdefault(int(event_id), []).append(int(index) if is_index else key)
    kinds = {int(t): t for t in EventType}
    events = [
        Event(int(artifact_id), int(execution_id), kinds[int(kind)], paths.get(int(event_id)) or [], int(millis or 0))
        for event_id, artifact_id, execution_id, kind, millis in rows.events
    ]
    events.sort(key=lambda e: (e.artifact_id, e.execution_id, int(e.type)))
    return events


def _attributions(rows: _Rows) -> list[Attribution]:
    return [Attribution(artifact_id=a, context_id=c) for a, c in sorted((int(a), int(c)) for a, c in rows.attributions)]


def _associations(rows: _Rows) -> list[Association]:
    return [
        Association(execution_id=e, context_id=c) for e, c in sorted((int(e), int(c)) for e, c in rows.associations)
    ]


#: The lists a graph from the store builds when first read, and how.
_BUILDERS: dict[str, Callable[[_Rows], list[Any]]] = {
    "artifacts": _artifacts,
    "executions": _executions,
    "contexts": _contexts,
    "events": _events,
    "attributions": _attributions,
    "associations": _associations,
}

assert tuple(EVENT_COLUMNS) == ("id", "artifact_id", "execution_id", "type", "milliseconds_since_epoch")
