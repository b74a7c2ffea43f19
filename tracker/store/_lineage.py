"""Lineage traversal in one recursive SQL statement, then hydration in the same transaction.

The walk is a ``WITH RECURSIVE`` query over Event: each row is a node reached
(kind 0 = artifact, 1 = execution), the event it was reached through, whether
it is a stop node, and, with a hop limit, its distance from the start.
``UNION`` (not ``UNION ALL``) drops rows seen before, so the walk ends on any
graph, cycles included, and the number of round trips does not depend on depth.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import and_, bindparam, case, literal, literal_column, or_, select

from tracker.errors import FilterError, InvalidArgumentError
from tracker.store import _edges as edges
from tracker.store import _filter
from tracker.store import _nodes as nodes
from tracker.store import schema as s
from tracker.store._query import filtered_rows, plan
from tracker.store._sql import Tx, rows_for_ids
from tracker.store._types import TypeRegistry
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

DIRECTIONS = ("upstream", "downstream", "both")
#: Events that make an artifact an input of an execution, and an output (MLMD's grouping).
INPUTS = (EventType.INPUT, EventType.DECLARED_INPUT, EventType.INTERNAL_INPUT)
OUTPUTS = (EventType.OUTPUT, EventType.DECLARED_OUTPUT, EventType.INTERNAL_OUTPUT, EventType.PENDING_OUTPUT)
#: Most starting ids in one call (they travel as one IN list).
MAX_START_IDS = 10_000


@dataclass
class LineageGraph:
    """A part of the lineage graph: nodes, the events between them, their contexts and types.

    Lists are sorted by id; events by artifact id, execution id and type.
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


def _steps(direction: str) -> tuple[tuple[EventType, ...], tuple[EventType, ...]]:
    """The event types followed from an artifact, and from an execution."""
    if direction == "downstream":
        return INPUTS, OUTPUTS
    if direction == "upstream":
        return OUTPUTS, INPUTS
    everything = tuple(EventType)
    return everything, everything


def _types_in(column: Any, types: tuple[EventType, ...]) -> Any:
    # constants of the code, not user input: written into the SQL text
    return column.in_([literal_column(str(int(t))) for t in types])


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
    # each filter gets its own parameter prefix, so that one statement can hold all four
    plans: dict[str, _filter.Plan | None] = {
        "sa": plan(start_a, "artifact", backend) if isinstance(start_a, str) else None,
        "se": plan(start_e, "execution", backend) if isinstance(start_e, str) else None,
        "xa": plan(stop_at_artifacts, "artifact", backend) if stop_at_artifacts else None,
        "xe": plan(stop_at_executions, "execution", backend) if stop_at_executions else None,
    }
    shape = (
        "lineage",
        direction,
        max_hops is not None,
        "ids" if isinstance(start_a, list) else None,
        "ids" if isinstance(start_e, list) else None,
        *((p.key if p else None) for p in plans.values()),
    )

    def build() -> Any:
        return _walk(backend, direction, max_hops is not None, start_a is not None, start_e is not None, plans)

    params: dict[str, Any] = {}
    for prefix, p in plans.items():
        if p is not None:
            params.update(_filter.bound(p, prefix))
            if prefix.startswith("x"):  # stop filters are used twice: on the starting nodes too
                params.update(_filter.bound(p, prefix + "0"))
    if isinstance(start_a, list):
        params["start_a"] = start_a or [0]
    if isinstance(start_e, list):
        params["start_e"] = start_e or [0]
    if max_hops is not None:
        params["hops"] = max_hops
    texts = [t for t in (start_a, start_e, stop_at_artifacts, stop_at_executions) if isinstance(t, str)]
    rows = filtered_rows(tx, tx.backend.prepared_lru(shape, build), params, "; ".join(texts) or None)

    stopped = {(int(row[0]), int(row[1])) for row in rows if row[2]} if not include_stops else set()
    kept_nodes: set[tuple[int, int]] = set()
    events: dict[int, tuple[Any, ...]] = {}
    for row in rows:
        key = (int(row[0]), int(row[1]))
        if key in stopped:
            continue
        kept_nodes.add(key)
        if row[3] is not None:
            events[int(row[3])] = tuple(row[3:])
    return _hydrate(tx, types, kept_nodes, list(events.values()))


def _walk(
    backend: str, direction: str, limited: bool, from_a: bool, from_e: bool, plans: dict[str, _filter.Plan | None]
) -> Any:
    a, x = s.artifact, s.execution
    zero = literal(0)

    def starts(kind: int, table: Any, ids_param: str, filter_plan: _filter.Plan | None, prefix: str) -> Any:
        cond = (
            table.c.id.in_(_filter.ids(filter_plan, backend, prefix))
            if filter_plan is not None
            else table.c.id.in_(bindparam(ids_param, expanding=True))
        )
        stop_plan, stop_prefix = (plans["xa"], "xa0") if kind == 0 else (plans["xe"], "xe0")
        # a starting node that is a stop node is not expanded either (as in MLMD)
        stop = (
            case((table.c.id.in_(_filter.ids(stop_plan, backend, stop_prefix)), 1), else_=0)
            if stop_plan is not None
            else zero
        )
        columns = [literal(kind).label("kind"), table.c.id.label("id"), zero.label("event_id"), stop.label("stop")]
        if limited:
            columns.append(zero.label("depth"))
        return select(*columns).where(cond)

    anchors = []
    if from_a:
        anchors.append(starts(0, a, "start_a", plans["sa"], "sa"))
    if from_e:
        anchors.append(starts(1, x, "start_e", plans["se"], "se"))
    if len(anchors) == 1:
        anchor = anchors[0]
    else:  # a recursive CTE's first part must be one SELECT for SQLAlchemy: select from the union
        both = anchors[0].union_all(anchors[1]).subquery("lineage_start")
        anchor = select(*both.c)
    walk = anchor.cte("lineage_walk", recursive=True)

    from_artifact, from_execution = _steps(direction)
    ea, ee = s.event.alias("ea"), s.event.alias("ee")
    joined = walk.outerjoin(
        ea, and_(walk.c.kind == 0, ea.c.artifact_id == walk.c.id, _types_in(ea.c.type, from_artifact))
    ).outerjoin(ee, and_(walk.c.kind == 1, ee.c.execution_id == walk.c.id, _types_in(ee.c.type, from_execution)))
    stop_branches = []
    if plans["xe"] is not None:
        stop_branches.append((ea.c.execution_id.in_(_filter.ids(plans["xe"], backend, "xe")), 1))
    if plans["xa"] is not None:
        stop_branches.append((ee.c.artifact_id.in_(_filter.ids(plans["xa"], backend, "xa")), 1))
    stop = case(*stop_branches, else_=0) if stop_branches else zero
    columns = [
        (1 - walk.c.kind).label("kind"),
        case((walk.c.kind == 0, ea.c.execution_id), else_=ee.c.artifact_id).label("id"),
        case((walk.c.kind == 0, ea.c.id), else_=ee.c.id).label("event_id"),
        stop.label("stop"),
    ]
    conditions = [or_(ea.c.id.is_not(None), ee.c.id.is_not(None)), walk.c.stop == 0]
    if limited:
        columns.append((walk.c.depth + 1).label("depth"))
        conditions.append(walk.c.depth < bindparam("hops"))
    walk = walk.union(select(*columns).select_from(joined).where(*conditions))
    # each node with the event it was reached by (UNION made the rows unique, up to depth)
    event = s.event.alias("reached_by")
    return select(
        walk.c.kind,
        walk.c.id,
        walk.c.stop,
        event.c.id,
        event.c.artifact_id,
        event.c.execution_id,
        event.c.type,
        event.c.milliseconds_since_epoch,
    ).select_from(walk.outerjoin(event, event.c.id == walk.c.event_id))


def _hydrate(tx: Tx, types: TypeRegistry, kept: set[tuple[int, int]], event_rows: list[Any]) -> LineageGraph:
    artifact_ids = sorted(i for k, i in kept if k == 0)
    execution_ids = sorted(i for k, i in kept if k == 1)
    graph = LineageGraph()
    graph.artifacts = nodes.get_by_ids(tx, types, nodes.ARTIFACT, artifact_ids)  # type: ignore[assignment]
    graph.executions = nodes.get_by_ids(tx, types, nodes.EXECUTION, execution_ids)  # type: ignore[assignment]
    graph.events = sorted(
        edges.events_from_rows(tx, event_rows), key=lambda e: (e.artifact_id, e.execution_id, int(e.type))
    )
    graph.attributions = [
        Attribution(artifact_id=i, context_id=c) for i, c in _links(tx, s.attribution, "artifact_id", artifact_ids)
    ]
    graph.associations = [
        Association(execution_id=i, context_id=c) for i, c in _links(tx, s.association, "execution_id", execution_ids)
    ]
    context_ids = sorted({a.context_id for a in graph.attributions} | {a.context_id for a in graph.associations})
    graph.contexts = nodes.get_by_ids(tx, types, nodes.CONTEXT, context_ids)  # type: ignore[assignment]
    for kind, found, target in (
        (TypeKind.ARTIFACT, graph.artifacts, graph.artifact_types),
        (TypeKind.EXECUTION, graph.executions, graph.execution_types),
        (TypeKind.CONTEXT, graph.contexts, graph.context_types),
    ):
        for type_id in sorted({n.type_id for n in found if n.type_id is not None}):
            target.append(types.by_id(tx, type_id, kind).entity())  # type: ignore[arg-type]
    return graph


def _links(tx: Tx, table: Any, column: str, ids: list[int]) -> list[tuple[int, int]]:
    """(node id, context id) pairs of *table* for the nodes in *ids*, sorted."""
    rows = rows_for_ids(
        tx,
        ("lineage_links", column),
        lambda where_in: select(table.c[column], table.c.context_id).where(where_in(table.c[column])),
        ids,
    )
    return sorted((int(i), int(c)) for i, c in rows)
