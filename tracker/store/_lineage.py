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
from operator import attrgetter, itemgetter
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from tracker.errors import FilterError, InvalidArgumentError
from tracker.store import _edges as edges
from tracker.store import _nodes as nodes
from tracker.store import _values as values
from tracker.store import _walk
from tracker.store import schema as s
from tracker.store._query import plan
from tracker.store._sql import Tx
from tracker.store._types import TypeRegistry
from tracker.store._walk import DIRECTIONS, EVENT_COLUMNS, INPUTS, OUTPUTS, id_rows
from tracker.store.entities import (
    Artifact,
    ArtifactType,
    Association,
    Attribution,
    Context,
    ContextType,
    Event,
    EventType,
    Execution,
    ExecutionType,
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
    artifacts: list[Any]  # the node table's columns, then the property table's: a row per property
    executions: list[Any]  # as artifacts
    contexts: list[Any]  # as artifacts
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


def _node_rows(tx: Tx, kind: nodes.NodeKind, ids: list[int]) -> list[Any]:
    """The nodes with their properties: the node table's columns, then the property table's (NULL where the
    node has none), a row per property."""
    t, p = kind.table, kind.props
    return id_rows(
        tx,
        ("lineage_nodes", kind.word),
        lambda where_in: (
            select(*t.c, *p.c).select_from(t.outerjoin(p, p.c[kind.owner] == t.c.id)).where(where_in(t.c.id))
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
    return id_rows(tx, "lineage_paths", edges.path_steps(tx.backend.name), event_ids)


def _check(rows: _Rows) -> None:
    """Raise now, in get_lineage, what building the records later would: values the records cannot hold."""
    for event_type in set(map(itemgetter(3), rows.events)):
        EventType(event_type)
    for kind, rows_of in _KINDS.items():
        node_rows = rows_of(rows)
        if kind.state is not None and kind.states is not None:
            for state in set(map(itemgetter(kind.columns.index(kind.state)), node_rows)):
                kind.states(state or 0)
        width, names = len(kind.columns), [c.name for c in kind.props.columns]
        at = {name: i for i, name in enumerate(names)}
        owner, number, real, string = (width + at[c] for c in (kind.owner, "int_value", "double_value", "string_value"))
        for row in node_rows:  # ints, floats and plain strings decode as they are
            if row[owner] is not None and row[number] is None and row[real] is None:
                text = row[string]
                if text is None or text.startswith(values.STRUCT_PREFIX):
                    values.decode_row(row[width:], at, names, rows.flavor)


# --- building the records, the first time a list is read ---


def _nodes(kind: nodes.NodeKind) -> Callable[[_Rows], list[Any]]:
    """The builder of the list of nodes of *kind*, by id."""

    def build(rows: _Rows) -> list[Any]:
        width = len(kind.columns)
        owner = width + [c.name for c in kind.props.columns].index(kind.owner)
        joined = _KINDS[kind](rows)
        node_rows = sorted({row[0]: row[:width] for row in joined}.values(), key=_first)
        prop_rows = [row[width:] for row in joined if row[owner] is not None]
        return nodes.build(kind, node_rows, prop_rows, rows.type_names.__getitem__, rows.flavor)

    return build


def _events(rows: _Rows) -> list[Event]:
    events = edges.events_with_paths(rows.events, rows.paths)
    events.sort(key=lambda e: (e.artifact_id, e.execution_id, int(e.type)))
    return events


def _attributions(rows: _Rows) -> list[Attribution]:
    return [Attribution(artifact_id=a, context_id=c) for a, c in sorted((int(a), int(c)) for a, c in rows.attributions)]


def _associations(rows: _Rows) -> list[Association]:
    return [
        Association(execution_id=e, context_id=c) for e, c in sorted((int(e), int(c)) for e, c in rows.associations)
    ]


#: The rows of each kind of node in a graph's rows.
_KINDS: dict[nodes.NodeKind, Callable[[_Rows], list[Any]]] = {
    nodes.ARTIFACT: attrgetter("artifacts"),
    nodes.EXECUTION: attrgetter("executions"),
    nodes.CONTEXT: attrgetter("contexts"),
}

#: The lists a graph from the store builds when first read, and how.
_BUILDERS: dict[str, Callable[[_Rows], list[Any]]] = {
    "artifacts": _nodes(nodes.ARTIFACT),
    "executions": _nodes(nodes.EXECUTION),
    "contexts": _nodes(nodes.CONTEXT),
    "events": _events,
    "attributions": _attributions,
    "associations": _associations,
}

assert tuple(EVENT_COLUMNS) == ("id", "artifact_id", "execution_id", "type", "milliseconds_since_epoch")
