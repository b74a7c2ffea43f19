"""Lineage traversal: ml-metadata's results on the reference graph, no hop cap, cycles, stops and errors."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from databases import BACKENDS, fresh_database
from reference_graph import Graph, build, ids

import tracker
from tracker import (
    Artifact,
    ArtifactType,
    Event,
    EventType,
    Execution,
    ExecutionType,
    FilterError,
    InvalidArgumentError,
    LineageGraph,
    NotFoundError,
)
from tracker.store._sql import Tx


@pytest.fixture(scope="module", params=BACKENDS)
def graph(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Graph]:
    with fresh_database(request.param, tmp_path_factory.mktemp("lineage")) as url, tracker.connect(url) as store:
        yield build(store)


def triples(found: LineageGraph) -> list[tuple[int, int, str]]:
    return [(e.artifact_id, e.execution_id, e.type.name) for e in found.events]


ALL_FIVE = [(1, 1, "INPUT"), (2, 1, "OUTPUT"), (2, 2, "INPUT"), (3, 2, "INPUT"), (4, 2, "OUTPUT")]


# (arguments, artifacts, executions, contexts, events) as ml-metadata 1.17 returned them (reference/mlmd.md §4.1)
AS_MLMD = [
    ({"artifacts": [2], "max_hops": 2}, [1, 2, 3, 4], [1, 2], [1, 2], ALL_FIVE),
    ({"artifacts": "id = 4", "max_hops": 10, "direction": "upstream"}, [1, 2, 3, 4], [1, 2], [1, 2], ALL_FIVE),
    (
        {"artifacts": "uri = 'path/to/data'", "max_hops": 10, "direction": "downstream"},
        [1, 2, 4],
        [1, 2],
        [2],
        [(1, 1, "INPUT"), (2, 1, "OUTPUT"), (2, 2, "INPUT"), (4, 2, "OUTPUT")],
    ),
    (
        {"artifacts": "uri = 'path/to/data'", "max_hops": 10, "direction": "downstream",
         "stop_at_executions": "type = 'Evaluator'"},
        [1, 2],
        [1, 2],
        [2],
        [(1, 1, "INPUT"), (2, 1, "OUTPUT"), (2, 2, "INPUT")],
    ),
    (
        {"artifacts": "uri = 'path/to/data'", "max_hops": 10, "direction": "downstream",
         "stop_at_executions": "type = 'Evaluator'", "include_stops": False},
        [1, 2],
        [1],
        [2],
        [(1, 1, "INPUT"), (2, 1, "OUTPUT")],
    ),
    (
        {"executions": "contexts_a.name = 'exp1' AND last_known_state = COMPLETE", "max_hops": 1},
        [1, 2, 3, 4],
        [1, 2],
        [1, 2],
        ALL_FIVE,
    ),
    ({"artifacts": [2], "max_hops": 0}, [2], [], [2], []),
]  # fmt: skip


@pytest.mark.parametrize(("kwargs", "artifacts", "executions", "contexts", "events"), AS_MLMD)
def test_lineage_gives_mlmds_results(
    graph: Graph,
    kwargs: dict[str, object],
    artifacts: list[int],
    executions: list[int],
    contexts: list[int],
    events: list[tuple[int, int, str]],
) -> None:
    found = graph.store.get_lineage(**kwargs)  # type: ignore[arg-type]
    assert ids(found.artifacts) == artifacts
    assert ids(found.executions) == executions
    assert ids(found.contexts) == contexts
    assert triples(found) == events


def test_the_subgraph_is_hydrated(graph: Graph) -> None:
    found = graph.store.get_lineage(artifacts=[2], max_hops=2)
    assert [a.uri for a in found.artifacts] == ["path/to/data", "path/to/model", "path/to/eval/data", "path/to/metrics"]
    assert found.artifacts[0].properties == {"day": 1, "split": "train"}
    assert [t.name for t in found.artifact_types] == ["DataSet", "SavedModel", "Metrics"]
    assert [t.name for t in found.execution_types] == ["Trainer", "Evaluator"]
    assert [t.name for t in found.context_types] == ["Pipeline", "Experiment"]
    assert [(a.artifact_id, a.context_id) for a in found.attributions] == [(2, 2), (3, 1), (3, 2), (4, 2)]
    assert [(a.execution_id, a.context_id) for a in found.associations] == [(1, 2), (2, 2)]
    assert found.executions[0].properties == {"state": "COMPLETED"}


def test_pending_outputs_are_outputs(graph: Graph) -> None:
    found = graph.store.get_lineage(artifacts=[5], direction="upstream")
    assert (ids(found.artifacts), ids(found.executions)) == ([5], [3])
    assert triples(found) == [(5, 3, "PENDING_OUTPUT")]


def test_starting_from_both_kinds(graph: Graph) -> None:
    found = graph.store.get_lineage(artifacts=[5], executions=[1], max_hops=1, direction="downstream")
    assert (ids(found.artifacts), ids(found.executions)) == ([2, 5], [1])


def test_a_filter_that_matches_nothing_gives_an_empty_graph(graph: Graph) -> None:
    found = graph.store.get_lineage(artifacts="id > 100")
    assert found == LineageGraph()


@pytest.fixture
def chain(store: tracker.Store) -> tuple[tracker.Store, list[int], list[int]]:
    """A chain of 150 steps: a0 -> e0 -> a1 -> e1 -> ... -> a150 (300 hops end to end)."""
    store.put_artifact_type(ArtifactType("Data"))
    store.put_execution_type(ExecutionType("Step"))
    artifacts = store.put_artifacts([Artifact(type="Data", name=f"a{i}") for i in range(151)])
    executions = store.put_executions([Execution(type="Step", name=f"e{i}") for i in range(150)])
    events = []
    for i, e in enumerate(executions):
        events += [Event(artifacts[i], e, EventType.INPUT), Event(artifacts[i + 1], e, EventType.OUTPUT)]
    store.put_events(events)
    return store, artifacts, executions


def test_no_hop_cap(chain: tuple[tracker.Store, list[int], list[int]]) -> None:
    """ml-metadata stops at 100 hops (51 artifacts on this chain); here the whole chain comes back."""
    store, artifacts, executions = chain
    whole = store.get_lineage(artifacts=[artifacts[-1]], direction="upstream")
    assert (ids(whole.artifacts), ids(whole.executions), len(whole.events)) == (artifacts, executions, 300)
    capped = store.get_lineage(artifacts=[artifacts[-1]], direction="upstream", max_hops=100)
    assert (ids(capped.artifacts), len(capped.executions), len(capped.events)) == (artifacts[-51:], 50, 100)
    down = store.get_lineage(artifacts=[artifacts[0]], direction="downstream", max_hops=3)
    assert (ids(down.artifacts), ids(down.executions)) == (artifacts[:2], executions[:2])
    assert store.get_lineage(artifacts=[artifacts[0]], direction="upstream").events == []


def test_statements_per_walk(
    chain: tuple[tracker.Store, list[int], list[int]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Where a query is a round trip (PostgreSQL, MySQL), the walk is one recursive query whatever the depth.
    SQLite runs in the process, where a query is a function call: there the walk is one query per hop, set at
    a time over the frontier (faster than SQLite's recursive query, which goes a row at a time)."""
    store, artifacts, _ = chain
    calls = 0
    execute = Tx.execute

    def counting(self: Tx, *args: object, **kwargs: object) -> object:
        nonlocal calls
        calls += 1
        return execute(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(Tx, "execute", counting)
    counts = []
    for hops in (2, 4, 6, 40, None):
        calls = 0
        store.get_lineage(artifacts=[artifacts[-1]], direction="upstream", max_hops=hops)
        counts.append(calls)
    if store.backend == "sqlite":
        # on a chain the frontier holds one node at a time: two more hops, two more queries
        assert counts[1] - counts[0] == counts[2] - counts[1] == 2, counts
        assert counts[4] - counts[3] == 300 - 40 + 1, counts  # on to the chain's start, and a hop that finds nothing
    else:
        assert len(set(counts)) == 1, counts


def test_stops_on_artifacts(chain: tuple[tracker.Store, list[int], list[int]]) -> None:
    store, artifacts, executions = chain
    found = store.get_lineage(artifacts=[artifacts[-1]], direction="upstream", stop_at_artifacts="name = 'a147'")
    assert (ids(found.artifacts), ids(found.executions)) == (artifacts[-4:], executions[-3:])
    without = store.get_lineage(
        artifacts=[artifacts[-1]], direction="upstream", stop_at_artifacts="name = 'a147'", include_stops=False
    )
    assert (ids(without.artifacts), ids(without.executions), len(without.events)) == (
        artifacts[-3:],
        executions[-3:],
        5,
    )


def test_a_starting_node_can_be_a_stop(chain: tuple[tracker.Store, list[int], list[int]]) -> None:
    """As in ml-metadata: it is not expanded, and left out with include_stops=False."""
    store, artifacts, _ = chain
    found = store.get_lineage(artifacts=[artifacts[5]], stop_at_artifacts="name = 'a5'")
    assert (ids(found.artifacts), found.executions, found.events) == ([artifacts[5]], [], [])
    assert store.get_lineage(artifacts=[artifacts[5]], stop_at_artifacts="name = 'a5'", include_stops=False) == (
        LineageGraph()
    )


def test_cycles_end(store: tracker.Store) -> None:
    """An artifact read and rewritten by one execution, and a loop of two steps: every walk ends."""
    store.put_artifact_type(ArtifactType("Data"))
    store.put_execution_type(ExecutionType("Step"))
    a, b, c = store.put_artifacts([Artifact(type="Data") for _ in range(3)])
    e, f = store.put_executions([Execution(type="Step"), Execution(type="Step")])
    store.put_events(
        [
            Event(a, e, EventType.INPUT),
            Event(a, e, EventType.OUTPUT),
            Event(b, e, EventType.OUTPUT),
            Event(b, f, EventType.INPUT),
            Event(a, f, EventType.OUTPUT),
            Event(c, f, EventType.UNKNOWN),
        ]
    )
    for direction in ("upstream", "downstream"):
        for hops in (None, 7):
            found = store.get_lineage(artifacts=[a], direction=direction, max_hops=hops)
            assert (ids(found.artifacts), ids(found.executions)) == ([a, b], [e, f])
            assert len(found.events) == 5
    # UNKNOWN events are followed only when walking both ways, as in ml-metadata
    both = store.get_lineage(artifacts=[a])
    assert (ids(both.artifacts), len(both.events)) == ([a, b, c], 6)


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({}, InvalidArgumentError, "needs starting artifacts or executions"),
        ({"artifacts": [1], "direction": "sideways"}, InvalidArgumentError, "direction must be one of"),
        ({"artifacts": [1], "max_hops": -1}, InvalidArgumentError, "max_hops must be"),
        ({"artifacts": [1], "max_hops": True}, InvalidArgumentError, "max_hops must be"),
        ({"artifacts": [1], "max_hops": 2.5}, InvalidArgumentError, "max_hops must be"),
        ({"artifacts": [1, 99]}, NotFoundError, "no artifact with id 99"),
        ({"executions": [42]}, NotFoundError, "no execution with id 42"),
        ({"artifacts": ["1"]}, InvalidArgumentError, "integer ids or a filter"),
        ({"artifacts": 7}, InvalidArgumentError, "ids or a filter string"),
        ({"artifacts": " "}, FilterError, "the filter is empty"),
        ({"artifacts": "uri ="}, FilterError, "a value"),
        ({"artifacts": [1], "stop_at_executions": "type =="}, FilterError, "a value"),
        ({"artifacts": [1], "stop_at_artifacts": 3}, InvalidArgumentError, "must be a filter string"),
        ({"artifacts": range(10_001)}, InvalidArgumentError, "at most 10000"),
    ],
)
def test_bad_lineage_arguments(graph: Graph, kwargs: dict[str, object], error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message):
        graph.store.get_lineage(**kwargs)  # type: ignore[arg-type]
