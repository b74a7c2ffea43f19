"""Lineage graphs built lazily, and the two walks: the same records and the same answers as reading eagerly.

* A graph from ``get_lineage`` holds rows and builds its lists of records when first read: those records
  equal what the ordinary reads (``get_artifacts_by_id``, ``get_events_by_execution_ids``, ...) return, in
  every field, property kind and event path.
* The rows are read in the transaction of the walk: a graph shows the store as it was at the call, after
  later writes, after its store is closed, pickled and copied.
* What the records cannot hold (a damaged struct, an unknown state) raises in ``get_lineage``, not later.
* The walk by hops (SQLite's) and the recursive walk (PostgreSQL's and MySQL's) agree on random graphs,
  starts, directions, hop limits and stops, on every backend; and so do the three ways ids travel.
"""

from __future__ import annotations

import copy
import pickle
import random
from collections.abc import Iterator
from dataclasses import dataclass, fields

import pytest
from databases import BACKENDS, fresh_database
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import create_engine, update

import tracker
from tracker import (
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
    InvalidArgumentError,
    LineageGraph,
    PropertyType,
    ProtoValue,
)
from tracker.store import _walk, schema
from tracker.store._engine import resolve_url


@dataclass(frozen=True)
class Built:
    store: tracker.Store
    url: str
    artifacts: list[int]
    executions: list[int]
    contexts: list[int]


def build(store: tracker.Store, url: str, seed: int, n_artifacts: int = 30, n_executions: int = 20) -> Built:
    """A random graph: cycles, every event type, paths, properties of every kind, several contexts per node."""
    rng = random.Random(seed)
    store.put_artifact_type(ArtifactType("Data", {"day": PropertyType.INT, "note": PropertyType.STRING}))
    store.put_artifact_type(ArtifactType("Model", {"score": PropertyType.DOUBLE, "meta": PropertyType.STRUCT}))
    store.put_execution_type(ExecutionType("Step", {"lr": PropertyType.DOUBLE, "ok": PropertyType.BOOLEAN}))
    store.put_execution_type(ExecutionType("Eval"))
    store.put_context_type(ContextType("Run", {"owner": PropertyType.STRING}))
    store.put_context_type(ContextType("Pipeline"))

    def artifact(i: int) -> Artifact:
        if i % 3 == 0:
            return Artifact(type="Model", uri=f"m/{i}", name=f"a{i}", state=ArtifactState.LIVE,
                            properties={"score": i / 7, "meta": {"i": i, "tags": ["x", None, True]}},
                            custom_properties={"blob": ProtoValue("t/x.Y", bytes([i % 256, 0]))})  # fmt: skip
        if i % 3 == 1:
            return Artifact(type="Data", uri=f"d/{i}", name=f"a{i}", external_id=f"ext-{i}",
                            properties={"day": i, "note": f"n{i}"}, custom_properties={"flag": i % 2 == 0})  # fmt: skip
        return Artifact(type="Data", uri=None, state=ArtifactState(i % 7))

    artifacts = store.put_artifacts([artifact(i) for i in range(n_artifacts)])
    executions = store.put_executions(
        [
            Execution(type="Step", name=f"e{i}", last_known_state=ExecutionState(i % 7),
                      properties={"lr": 0.1 * i, "ok": i % 2 == 1}, custom_properties={"n": -i})
            if i % 4
            else Execution(type="Eval")
            for i in range(n_executions)
        ]
    )  # fmt: skip
    events: dict[tuple[int, int, EventType], Event] = {}
    for _ in range(2 * n_artifacts):
        a, e, t = rng.choice(artifacts), rng.choice(executions), rng.choice(list(EventType))
        path: list[str | int] = rng.choice([[], ["x"], [rng.randrange(3)], ["out", 1, "k"]])
        events[(a, e, t)] = Event(a, e, t, path)
    store.put_events(list(events.values()))
    contexts = store.put_contexts(
        [Context(type="Run", name=f"run{i}", properties={"owner": f"o{i}"}) for i in range(3)]
        + [Context(type="Pipeline", name="p")]
    )
    store.put_attributions_and_associations(
        sorted({Attribution(a, c) for a in artifacts for c in contexts if rng.random() < 0.3}, key=repr),
        sorted({Association(e, c) for e in executions for c in contexts if rng.random() < 0.3}, key=repr),
    )
    return Built(store, url, artifacts, executions, contexts)


@pytest.fixture(scope="module", params=BACKENDS)
def built(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Built]:
    with fresh_database(request.param, tmp_path_factory.mktemp("lazy")) as url, tracker.connect(url) as store:
        yield build(store, url, seed=7)


def eager(store: tracker.Store, graph: LineageGraph) -> LineageGraph:
    """The graph's records as the ordinary reads return them, for the same nodes and events."""
    artifact_ids = [int(a.id or 0) for a in graph.artifacts]
    execution_ids = [int(e.id or 0) for e in graph.executions]
    wanted = {(e.artifact_id, e.execution_id, e.type) for e in graph.events}
    events = [
        e for e in store.get_events_by_execution_ids(execution_ids) if (e.artifact_id, e.execution_id, e.type) in wanted
    ]
    attributions = sorted(
        {Attribution(a, int(c.id or 0)) for a in artifact_ids for c in store.get_contexts_by_artifact(a)},
        key=lambda x: (x.artifact_id, x.context_id),
    )
    associations = sorted(
        {Association(e, int(c.id or 0)) for e in execution_ids for c in store.get_contexts_by_execution(e)},
        key=lambda x: (x.execution_id, x.context_id),
    )
    contexts = store.get_contexts_by_id(sorted({x.context_id for x in [*attributions, *associations]}))

    def type_ids(nodes: list[Artifact] | list[Execution] | list[Context]) -> list[int]:
        return sorted({int(n.type_id or 0) for n in nodes})

    artifacts = store.get_artifacts_by_id(artifact_ids)
    executions = store.get_executions_by_id(execution_ids)
    return LineageGraph(
        artifacts=artifacts,
        executions=executions,
        contexts=contexts,
        events=sorted(events, key=lambda e: (e.artifact_id, e.execution_id, int(e.type))),
        artifact_types=store.get_artifact_types_by_id(type_ids(artifacts)),
        execution_types=store.get_execution_types_by_id(type_ids(executions)),
        context_types=store.get_context_types_by_id(type_ids(contexts)),
        attributions=attributions,
        associations=associations,
    )


@pytest.mark.parametrize(
    "kwargs",
    [
        {"artifacts": [1]},
        {"artifacts": [2, 5], "direction": "upstream"},
        {"executions": [3], "direction": "downstream", "max_hops": 3},
        {"artifacts": "type = 'Model'", "executions": [1], "max_hops": 4},
        {"artifacts": [1], "stop_at_executions": "type = 'Eval'", "include_stops": False},
    ],
)
def test_records_are_those_the_ordinary_reads_return(built: Built, kwargs: dict[str, object]) -> None:
    """Every field, property kind, state, path and link, as get_artifacts_by_id and friends give them."""
    graph = built.store.get_lineage(**kwargs)  # type: ignore[arg-type]
    assert graph.artifacts or graph.executions
    assert graph == eager(built.store, graph)


def test_a_lazy_graph_is_a_plain_graph(built: Built) -> None:
    """Equality, repr, fields and attributes behave as for a graph built by hand."""
    graph = built.store.get_lineage(artifacts=[1])
    again = built.store.get_lineage(artifacts=[1])
    plain = LineageGraph(**{f.name: list(getattr(again, f.name)) for f in fields(LineageGraph)})
    assert graph == plain and repr(graph) == repr(plain)
    assert graph.artifacts is graph.artifacts  # built once
    graph.events = []
    assert graph.events == [] and graph != plain
    with pytest.raises(AttributeError, match="no attribute 'artifcts'"):
        graph.artifcts  # type: ignore[attr-defined]  # noqa: B018
    assert "_rows" not in vars(graph)  # every list is built: the rows are let go


def test_a_graph_is_the_store_as_it_was(tmp_path_factory: pytest.TempPathFactory, store_url: str) -> None:
    """Writes after the call, before the lists are first read, do not show: all was read in one transaction."""
    with tracker.connect(store_url) as store:
        made = build(store, store_url, seed=3, n_artifacts=12, n_executions=8)
        before = store.get_lineage(artifacts=[made.artifacts[0]])
        expected = copy.deepcopy(store.get_lineage(artifacts=[made.artifacts[0]]))
        [artifact] = store.get_artifacts_by_id([before.artifacts[0].id or 0])
        artifact.custom_properties["changed"] = "yes"
        store.put_artifacts([artifact])
        store.put_attributions_and_associations([Attribution(int(artifact.id or 0), made.contexts[-1])], [])
        store.delete_executions([int(e.id or 0) for e in expected.executions])
        assert before == expected


def test_a_graph_outlives_its_store(store_url: str) -> None:
    """A graph needs no connection: its lists build after the store is closed, pickled or copied."""
    with tracker.connect(store_url) as store:
        made = build(store, store_url, seed=5, n_artifacts=12, n_executions=8)
        graphs = [store.get_lineage(artifacts=made.artifacts[:3]) for _ in range(4)]
        expected = eager(store, store.get_lineage(artifacts=made.artifacts[:3]))
    copied, deep = copy.copy(graphs[1]), copy.deepcopy(graphs[2])
    unpickled = pickle.loads(pickle.dumps(graphs[3]))
    assert graphs[0] == copied == deep == unpickled == expected


@pytest.mark.parametrize(
    ("table", "values", "message"),
    [
        (schema.artifact_property, {"string_value": "mlmd-struct::not base64!"}, "not a valid MLMD struct"),
        (schema.artifact, {"state": 99}, "99 is not a valid ArtifactState"),
    ],
)
def test_what_records_cannot_hold_raises_in_get_lineage(
    store_url: str, table: object, values: dict[str, object], message: str
) -> None:
    """Building the records later could not raise then: get_lineage checks the rows it read."""
    with tracker.connect(store_url) as store:
        made = build(store, store_url, seed=9, n_artifacts=6, n_executions=4)
        target = made.artifacts[1]  # a Data artifact, with properties
        engine = create_engine(resolve_url(store_url))
        try:
            with engine.begin() as conn:
                owner = table.c.artifact_id if "artifact_id" in table.c else table.c.id  # type: ignore[attr-defined]
                stmt = update(table).where(owner == target).values(**values)  # type: ignore[arg-type]
                if "string_value" in values:
                    stmt = stmt.where(table.c.name == "note")  # type: ignore[attr-defined]
                conn.execute(stmt)
        finally:
            engine.dispose()
        with pytest.raises((InvalidArgumentError, ValueError), match=message):
            store.get_lineage(artifacts=[target], max_hops=0)


# --- the two walks, and the ways ids travel ---

QUERY = {
    "starts": st.one_of(
        st.tuples(st.lists(st.integers(1, 30), min_size=1, max_size=3, unique=True), st.none()),
        st.tuples(st.none(), st.lists(st.integers(1, 20), min_size=1, max_size=2, unique=True)),
        st.tuples(st.sampled_from(["type = 'Model'", "name = 'a4'", "uri LIKE 'd/1%'"]), st.none()),
        st.tuples(st.lists(st.integers(1, 30), max_size=1), st.sampled_from(["type = 'Eval'", "id < 3"])),
    ),
    "direction": st.sampled_from(_walk.DIRECTIONS),
    "max_hops": st.one_of(st.none(), st.integers(0, 7)),
    "stop_a": st.sampled_from([None, "type = 'Model'", "name = 'a1' OR name = 'a7'", "state = LIVE"]),
    "stop_e": st.sampled_from([None, "type = 'Eval'", "name = 'e2'"]),
    "include_stops": st.booleans(),
}


@settings(max_examples=60, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])  # fmt: skip
@given(**QUERY)
def test_the_walk_by_hops_and_the_recursive_walk_agree(
    built: Built,
    monkeypatch: pytest.MonkeyPatch,
    starts: tuple[list[int] | str | None, list[int] | str | None],
    direction: str,
    max_hops: int | None,
    stop_a: str | None,
    stop_e: str | None,
    include_stops: bool,
) -> None:
    kwargs = {"artifacts": starts[0], "executions": starts[1], "direction": direction, "max_hops": max_hops,
              "stop_at_artifacts": stop_a, "stop_at_executions": stop_e, "include_stops": include_stops}  # fmt: skip
    answers = []
    for walk in (_walk.by_hops, _walk.by_recursion):
        monkeypatch.setattr(_walk, "walk", walk)
        answers.append(built.store.get_lineage(**kwargs))  # type: ignore[arg-type]
    assert answers[0] == answers[1]


@pytest.mark.parametrize("mode", ["in", "json", "array"])
def test_every_way_ids_travel_gives_the_same_graph(store_url: str, monkeypatch: pytest.MonkeyPatch, mode: str) -> None:
    """JSON arrays (SQLite), arrays (PostgreSQL) and IN lists in batches of 500 (MySQL; SQLite without JSON)."""
    with tracker.connect(store_url) as store:
        if {"json": "sqlite", "array": "postgresql"}.get(mode, store.backend) != store.backend:
            pytest.skip(f"{mode} is for another backend")
        made = build(store, store_url, seed=11, n_artifacts=700, n_executions=300)  # over one batch of 500
        expected = store.get_lineage(artifacts=made.artifacts[:50])
        monkeypatch.setattr(_walk, "_id_set_mode", lambda tx: mode)
        for walk in (_walk.by_hops, _walk.by_recursion):
            monkeypatch.setattr(_walk, "walk", walk)
            found = store.get_lineage(artifacts=made.artifacts[:50])
            assert found == expected
        assert len(found.artifacts) > 500
