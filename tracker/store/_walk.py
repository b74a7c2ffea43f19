"""The lineage walk: which artifacts, executions and events a lineage query reaches.

Two ways to one answer, chosen by where the database runs:

- PostgreSQL and MySQL: one ``WITH RECURSIVE`` query over Event, so that the
  number of round trips over the network does not depend on depth. Each row is
  a node reached (kind 0 = artifact, 1 = execution), the event it was reached
  through, whether it is a stop node, and, with a hop limit, its distance.
  ``UNION`` (not ``UNION ALL``) drops rows seen before, so the walk ends on any
  graph, cycles included.
- SQLite runs in the process, where a query costs a function call rather than
  a round trip: one indexed query per hop over the whole frontier (as
  ml-metadata walks), with the visited set in Python. SQLite runs a recursive
  CTE a row at a time, through its queue; a hop's query runs set at a time,
  three times faster on a deep graph (bench/README.md, "Queries").

Both give the same nodes and events (tests/store/test_lineage_lazy.py compares
them on random graphs).
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field
from itertools import repeat
from operator import itemgetter
from typing import Any

from sqlalchemy import ARRAY, Integer, and_, any_, bindparam, case, cast, func, literal, literal_column, or_, select

from tracker.store import _filter
from tracker.store import schema as s
from tracker.store._query import filtered_rows
from tracker.store._sql import Backend, Tx, rows_for_ids
from tracker.store.entities import EventType

DIRECTIONS = ("upstream", "downstream", "both")
#: Events that make an artifact an input of an execution, and an output (MLMD's grouping).
INPUTS = (EventType.INPUT, EventType.DECLARED_INPUT, EventType.INTERNAL_INPUT)
OUTPUTS = (EventType.OUTPUT, EventType.DECLARED_OUTPUT, EventType.INTERNAL_OUTPUT, EventType.PENDING_OUTPUT)
#: The columns of an event row, everywhere in the lineage code.
EVENT_COLUMNS = ("id", "artifact_id", "execution_id", "type", "milliseconds_since_epoch")


@dataclass
class Query:
    """The checked arguments of one lineage query.

    A start is a list of ids, a filter or None; plans holds the resolved filters, by the
    parameter prefix each gets: ``sa``/``se`` start, ``xa``/``xe`` stop.
    """

    direction: str
    max_hops: int | None
    start_a: list[int] | str | None
    start_e: list[int] | str | None
    plans: dict[str, _filter.Plan | None]
    include_stops: bool
    texts: str | None  # the filter texts, for FilterError messages


@dataclass
class Walk:
    """What a walk reached: artifact and execution ids, and rows of the events kept (EVENT_COLUMNS)."""

    artifacts: set[int] = field(default_factory=set)
    executions: set[int] = field(default_factory=set)
    events: list[tuple[Any, ...]] = field(default_factory=list)


def walk(tx: Tx, query: Query) -> Walk:
    """The nodes and events *query* reaches, by the walk that suits the backend."""
    return by_hops(tx, query) if tx.backend.name == "sqlite" else by_recursion(tx, query)


def steps(direction: str) -> tuple[tuple[EventType, ...], tuple[EventType, ...]]:
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


# --- id sets: one parameter where the database takes one ---

_JSON: weakref.WeakKeyDictionary[Backend, bool] = weakref.WeakKeyDictionary()


def _id_set_mode(tx: Tx) -> str:
    """How a set of ids travels: a JSON array (SQLite), an array (PostgreSQL), or IN lists."""
    backend = tx.backend
    if backend.name == "postgresql":
        return "array"
    if backend.name == "sqlite":
        if backend not in _JSON:  # json_each is built in since SQLite 3.38, and in most builds before
            try:
                tx.cursor.execute("SELECT count(*) FROM json_each('[1]')").fetchall()
                _JSON[backend] = True
            except backend.dbapi.OperationalError:
                _JSON[backend] = False
        if _JSON[backend]:
            return "json"
    return "in"


def id_rows(
    tx: Tx,
    key: Hashable,
    build: Callable[[Callable[[Any], Any]], Any],
    ids: Sequence[int],
    params: dict[str, Any] | None = None,
    *,
    from_user: bool = False,
    text: str | None = None,
) -> list[Any]:
    """The rows of ``build(where_in)`` for the (distinct) *ids*, ``where_in(column)`` being the id test.

    On SQLite the ids travel as one JSON array read by ``json_each``, on PostgreSQL as one
    array (``= ANY``): one statement, joined to the ids, however many. Elsewhere, IN lists
    of at most 500, padded to fixed sizes so that each size is compiled once. *from_user*:
    the statement holds a filter (it is cached in the bounded cache); *text* names it in a
    FilterError.
    """
    if not ids:
        return []
    backend = tx.backend
    prepare = backend.prepared_lru if from_user else backend.prepared
    mode = _id_set_mode(tx)
    if mode == "json":
        stmt = prepare((key, "json"), lambda: build(_in_json))
        # the repr of a list of ints is a JSON array, made twice as fast as by json.dumps; sorted, because
        # SQLite looks the ids up in the order given, and in order its B-tree pages stay at hand (3x faster)
        return filtered_rows(tx, stmt, {**(params or {}), "ids": repr(sorted(ids))}, text)
    if mode == "array":
        stmt = prepare((key, "any"), lambda: build(_in_array))
        return filtered_rows(tx, stmt, {**(params or {}), "ids": list(ids)}, text)
    return rows_for_ids(
        tx, key, build, ids, params, prepare=prepare, read=lambda stmt, bound: filtered_rows(tx, stmt, bound, text)
    )


def _in_json(column: Any) -> Any:
    return column.in_(select(literal_column("value")).select_from(func.json_each(bindparam("ids"))))


def _in_array(column: Any) -> Any:
    # typed as the id columns are: an array of smallints (psycopg's guess for small ids) is not hashed
    # by the planner, which then compares each row with every id
    return column == any_(cast(bindparam("ids"), ARRAY(Integer)))


# --- SQLite: one query per hop ---


def by_hops(tx: Tx, query: Query) -> Walk:
    """Breadth first from the starting nodes, one query per hop and kind of node on the frontier.

    Each node is expanded once, at its shortest distance; a stop node is not expanded. The events
    are those followed from an expanded node: with a hop limit, from nodes nearer than the limit.
    This is the set the recursive query gives (which also walks the longer paths, to no effect).
    """
    seen: list[set[int]] = [set(), set()]  # by kind: artifacts, executions
    stopped: list[set[int]] = [set(), set()]
    frontier: list[list[int]] = [[], []]
    for kind, start in ((0, query.start_a), (1, query.start_e)):
        if start is None:
            continue
        ids = [int(i) for i in start] if isinstance(start, list) else _matching(tx, query, kind)
        seen[kind].update(ids)
        stopped[kind] = _stops(tx, query, kind, ids)
        frontier[kind] = [i for i in seen[kind] if i not in stopped[kind]]
    follow = steps(query.direction)
    track = not query.include_stops and (query.plans["xa"] is not None or query.plans["xe"] is not None)
    reached: list[tuple[int, int, int]] = []  # (event id, kind, node id): which node each event led to
    events: dict[int, tuple[Any, ...]] = {}
    hops = 0
    while (frontier[0] or frontier[1]) and (query.max_hops is None or hops < query.max_hops):
        new: list[set[int]] = [set(), set()]
        for kind in (0, 1):
            if not frontier[kind]:
                continue
            other, at = (1, 2) if kind == 0 else (0, 1)  # an artifact leads to the execution_id, and back
            rows = _events_of(tx, kind, follow[kind], frontier[kind])
            events.update(zip(map(_first, rows), rows, strict=True))
            if track:
                reached += zip(map(_first, rows), repeat(other), map(itemgetter(at), rows))
            new[other] |= set(map(itemgetter(at), rows))
        for kind in (0, 1):
            new[kind] -= seen[kind]
            seen[kind] |= new[kind]
            stops = _stops(tx, query, kind, list(new[kind]))
            stopped[kind] |= stops
            frontier[kind] = list(new[kind] - stops)
        hops += 1
    if query.include_stops:
        return Walk(seen[0], seen[1], list(events.values()))
    kept = {event_id for event_id, kind, node in reached if node not in stopped[kind]}
    return Walk(
        seen[0] - stopped[0],
        seen[1] - stopped[1],
        [row for event_id, row in events.items() if event_id in kept] if track else list(events.values()),
    )


_first = itemgetter(0)


def _events_of(tx: Tx, kind: int, types: tuple[EventType, ...], ids: list[int]) -> list[Any]:
    """Events of *types* at the artifacts (kind 0) or executions (kind 1) *ids*."""
    e = s.event
    column = "artifact_id" if kind == 0 else "execution_id"
    return id_rows(
        tx,
        ("lineage_hop", column, types),
        lambda where_in: select(*(e.c[c] for c in EVENT_COLUMNS)).where(
            where_in(e.c[column]), _types_in(e.c.type, types)
        ),
        ids,
    )


def _matching(tx: Tx, query: Query, kind: int) -> list[int]:
    """Ids of the starting nodes a filter selects."""
    prefix = "sa" if kind == 0 else "se"
    plan = query.plans[prefix]
    assert plan is not None  # a start that is not a list of ids is a filter
    stmt = tx.backend.prepared_lru(
        ("lineage_start", kind, plan.key), lambda: _filter.ids(plan, tx.backend.name, prefix)
    )
    return [int(row[0]) for row in filtered_rows(tx, stmt, _filter.bound(plan, prefix), query.texts)]


def _stops(tx: Tx, query: Query, kind: int, ids: list[int]) -> set[int]:
    """Those of *ids* that are stop nodes."""
    prefix = "xa" if kind == 0 else "xe"
    plan = query.plans[prefix]
    if plan is None or not ids:
        return set()

    def build(where_in: Callable[[Any], Any]) -> Any:
        matching = _filter.ids(plan, tx.backend.name, prefix)
        return matching.where(where_in(matching.selected_columns[0]))

    rows = id_rows(
        tx, ("lineage_stop", kind, plan.key), build, ids, _filter.bound(plan, prefix), from_user=True, text=query.texts
    )
    return {int(row[0]) for row in rows}


# --- PostgreSQL and MySQL: one recursive query ---


def by_recursion(tx: Tx, query: Query) -> Walk:
    """The walk as one ``WITH RECURSIVE`` statement: one round trip, whatever the depth."""
    backend = tx.backend.name
    plans = query.plans
    start_a, start_e = query.start_a, query.start_e
    shape = (
        "lineage",
        query.direction,
        query.max_hops is not None,
        "ids" if isinstance(start_a, list) else None,
        "ids" if isinstance(start_e, list) else None,
        *((p.key if p else None) for p in plans.values()),
    )

    def build() -> Any:
        return _recursive(backend, query.direction, query.max_hops is not None, start_a is not None,
                          start_e is not None, plans)  # fmt: skip

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
    if query.max_hops is not None:
        params["hops"] = query.max_hops
    rows = filtered_rows(tx, tx.backend.prepared_lru(shape, build), params, query.texts)

    stopped = {(int(row[0]), int(row[1])) for row in rows if row[2]} if not query.include_stops else set()
    found = Walk()
    events: dict[int, tuple[Any, ...]] = {}
    for row in rows:
        key = (int(row[0]), int(row[1]))
        if key in stopped:
            continue
        (found.artifacts if key[0] == 0 else found.executions).add(key[1])
        if row[3] is not None:
            events[int(row[3])] = tuple(row[3:])
    found.events = list(events.values())
    return found


def _recursive(
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

    from_artifact, from_execution = steps(direction)
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
        *(event.c[c] for c in EVENT_COLUMNS),
    ).select_from(walk.outerjoin(event, event.c.id == walk.c.event_id))
