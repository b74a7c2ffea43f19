"""Events, context links, parent contexts, the atomic put_execution, and deletes."""

from __future__ import annotations

import pytest
from databases import table_contents

import tracker
from tracker import (
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
    ParentContext,
    PropertyType,
)
from tracker.errors import AlreadyExistsError, InvalidArgumentError, NotFoundError, PropertyError


@pytest.fixture
def typed(store: tracker.Store) -> tracker.Store:
    store.put_artifact_type(ArtifactType("DataSet", {"day": PropertyType.INT}))
    store.put_execution_type(ExecutionType("Trainer"))
    store.put_context_type(ContextType("Run"))
    return store


def test_events_keep_their_paths(typed: tracker.Store) -> None:
    """Paths of keys and indexes come back in order; a time is filled in when left at 0."""
    a, b = typed.put_artifacts([Artifact(type="DataSet"), Artifact(type="DataSet")])
    (e,) = typed.put_executions([Execution(type="Trainer")])
    typed.put_events([Event(a, e, EventType.INPUT, ["data", 0, "x", 7]),
                      Event(b, e, EventType.OUTPUT, [], milliseconds_since_epoch=123)])  # fmt: skip
    events = typed.get_events_by_execution_ids([e])
    assert [(x.artifact_id, x.type, x.path) for x in events] == [(a, EventType.INPUT, ["data", 0, "x", 7]),
                                                                 (b, EventType.OUTPUT, [])]  # fmt: skip
    assert events[0].milliseconds_since_epoch > 0 and events[1].milliseconds_since_epoch == 123
    assert typed.get_events_by_artifact_ids([b]) == [events[1]]


@pytest.mark.parametrize(
    ("event", "error", "message"),
    [
        (Event(999, 0, EventType.INPUT), NotFoundError, "no artifact with id 999"),
        (Event(0, 999, EventType.INPUT), NotFoundError, "no execution with id 999"),
        (Event(0, 0, EventType.INPUT, [1.5]), InvalidArgumentError, "neither a key"),  # type: ignore[list-item]
        (Event(0, 0, 42), InvalidArgumentError, "not an EventType"),  # type: ignore[arg-type]
    ],
    ids=["artifact", "execution", "path", "type"],
)
def test_bad_events_are_refused(typed: tracker.Store, store_url: str, event: Event, error: type[Exception],
                                message: str) -> None:  # fmt: skip
    """An event to a missing node, with a bad path step or type, raises and writes nothing."""
    (a,) = typed.put_artifacts([Artifact(type="DataSet")])
    (e,) = typed.put_executions([Execution(type="Trainer")])
    event.artifact_id = event.artifact_id or a
    event.execution_id = event.execution_id or e
    before = table_contents(store_url)
    with pytest.raises(error, match=message):
        typed.put_events([Event(a, e, EventType.OUTPUT), event])
    assert table_contents(store_url) == before


def test_a_duplicate_event_is_refused(typed: tracker.Store, store_url: str) -> None:
    """(artifact, execution, type) is unique, within a batch and against the store."""
    (a,) = typed.put_artifacts([Artifact(type="DataSet")])
    (e,) = typed.put_executions([Execution(type="Trainer")])
    with pytest.raises(AlreadyExistsError, match="given twice"):
        typed.put_events([Event(a, e, EventType.INPUT), Event(a, e, EventType.INPUT)])
    typed.put_events([Event(a, e, EventType.INPUT)])
    before = table_contents(store_url)
    with pytest.raises(AlreadyExistsError):
        typed.put_events([Event(a, e, EventType.INPUT, ["again"])])
    assert table_contents(store_url) == before


def test_context_links_are_idempotent(typed: tracker.Store) -> None:
    """Attributions and associations link nodes to contexts; linking twice is a no-op."""
    (a,) = typed.put_artifacts([Artifact(type="DataSet")])
    (e,) = typed.put_executions([Execution(type="Trainer")])
    c1, c2 = typed.put_contexts([Context(type="Run", name="one"), Context(type="Run", name="two")])
    for _ in range(2):
        typed.put_attributions_and_associations([Attribution(a, c1), Attribution(a, c2)], [Association(e, c1)])
    assert [c.id for c in typed.get_contexts_by_artifact(a)] == [c1, c2]
    assert [c.id for c in typed.get_contexts_by_execution(e)] == [c1]
    assert [x.id for x in typed.get_artifacts_by_context(c2)] == [a]
    assert [x.id for x in typed.get_executions_by_context(c1)] == [e]
    with pytest.raises(NotFoundError, match="no context with id 999"):
        typed.put_attributions_and_associations([Attribution(a, 999)], [])


def test_parent_contexts(typed: tracker.Store, store_url: str) -> None:
    """Child→parent links are kept, a duplicate or a cycle is refused, nothing is half-written."""
    top, mid, leaf = typed.put_contexts([Context(type="Run", name=n) for n in ("top", "mid", "leaf")])
    typed.put_parent_contexts([ParentContext(mid, top), ParentContext(leaf, mid)])
    assert [c.id for c in typed.get_parent_contexts_by_context(leaf)] == [mid]
    assert [c.id for c in typed.get_children_contexts_by_context(top)] == [mid]
    before = table_contents(store_url)
    with pytest.raises(InvalidArgumentError, match="cycle"):
        typed.put_parent_contexts([ParentContext(top, leaf)])
    with pytest.raises(InvalidArgumentError, match="its own parent"):
        typed.put_parent_contexts([ParentContext(top, top)])
    with pytest.raises(AlreadyExistsError, match="already a parent"):
        typed.put_parent_contexts([ParentContext(leaf, top), ParentContext(mid, top)])
    with pytest.raises(NotFoundError):
        typed.put_parent_contexts([ParentContext(leaf, 12345)])
    assert table_contents(store_url) == before


def test_put_execution_writes_everything_at_once(typed: tracker.Store) -> None:
    """One call records the execution, its artifacts, events, contexts, attributions and associations."""
    data = Artifact(type="DataSet", uri="in", properties={"day": 1})
    model = Artifact(type="DataSet", uri="out")
    eid, (din, dout), (cid,) = typed.put_execution(
        Execution(type="Trainer"),
        [(data, Event(type=EventType.INPUT, path=["data"])), (model, Event(type=EventType.OUTPUT, path=["model", 0]))],
        [Context(type="Run", name="r")],
    )
    assert [(e.artifact_id, e.execution_id, e.type, e.path) for e in typed.get_events_by_execution_ids([eid])] == [
        (din, eid, EventType.INPUT, ["data"]), (dout, eid, EventType.OUTPUT, ["model", 0])]  # fmt: skip
    assert [a.id for a in typed.get_artifacts_by_context(cid)] == [din, dout]
    assert [e.id for e in typed.get_executions_by_context(cid)] == [eid]
    # the same run again: the context is reused, the existing input artifact is only linked
    data.id = din
    eid2, (din2,), (cid2,) = typed.put_execution(
        Execution(type="Trainer"), [(data, Event(type=EventType.INPUT))], [Context(type="Run", name="r")]
    )
    assert (din2, cid2) == (din, cid) and eid2 != eid


def test_put_execution_is_all_or_nothing(typed: tracker.Store, store_url: str) -> None:
    """A bad artifact late in the call leaves no execution, artifact, event or context behind."""
    before = table_contents(store_url)
    with pytest.raises(PropertyError):
        typed.put_execution(
            Execution(type="Trainer"),
            [(Artifact(type="DataSet"), Event(type=EventType.INPUT)),
             (Artifact(type="DataSet", properties={"day": "monday"}), Event(type=EventType.OUTPUT))],
            [Context(type="Run", name="r")],
        )  # fmt: skip
    with pytest.raises(InvalidArgumentError, match="pairs"):
        typed.put_execution(Execution(type="Trainer"), [Artifact(type="DataSet")])  # type: ignore[list-item]
    with pytest.raises(AlreadyExistsError):
        typed.put_execution(Execution(type="Trainer"), [], [Context(type="Run", name="r")] * 2,
                            reuse_existing_contexts=False)  # fmt: skip
    assert table_contents(store_url) == before


def test_deleting_an_artifact_takes_its_edges(typed: tracker.Store) -> None:
    """delete_artifacts removes properties, events, paths and attributions; the execution stays."""
    eid, (a, b), (c,) = typed.put_execution(
        Execution(type="Trainer"),
        [(Artifact(type="DataSet", properties={"day": 1}), Event(type=EventType.INPUT, path=["x", 1])),
         (Artifact(type="DataSet"), Event(type=EventType.OUTPUT))],
        [Context(type="Run", name="r")],
    )  # fmt: skip
    typed.delete_artifacts([a])
    assert typed.get_artifacts_by_id([a]) == []
    assert [e.artifact_id for e in typed.get_events_by_execution_ids([eid])] == [b]
    assert [x.id for x in typed.get_artifacts_by_context(c)] == [b]
    assert [x.id for x in typed.get_executions_by_id([eid])] == [eid]


def test_deleting_executions_and_contexts(typed: tracker.Store, store_url: str) -> None:
    """Executions go with their events and associations; contexts with their links; the rest stays."""
    eid, (a,), (c,) = typed.put_execution(
        Execution(type="Trainer"), [(Artifact(type="DataSet"), Event(type=EventType.OUTPUT))],
        [Context(type="Run", name="r")],
    )  # fmt: skip
    (child,) = typed.put_contexts([Context(type="Run", name="child")])
    typed.put_parent_contexts([ParentContext(child, c)])
    typed.delete_executions([eid])
    assert typed.get_events_by_artifact_ids([a]) == [] and typed.get_executions_by_context(c) == []
    typed.delete_contexts([c])
    assert typed.get_contexts_by_artifact(a) == [] and typed.get_parent_contexts_by_context(child) == []
    assert [x.id for x in typed.get_artifacts()] == [a]
    rows = table_contents(store_url)
    assert rows["Event"] == rows["EventPath"] == rows["Attribution"] == rows["Association"] == []
    assert rows["ParentContext"] == [] and rows["ExecutionProperty"] == []


def test_deleting_a_missing_id_deletes_nothing(typed: tracker.Store, store_url: str) -> None:
    """One unknown id in the list raises NotFoundError and keeps every node."""
    ids = typed.put_artifacts([Artifact(type="DataSet")])
    before = table_contents(store_url)
    with pytest.raises(NotFoundError, match="no artifact with id 424242"):
        typed.delete_artifacts([*ids, 424242])
    assert table_contents(store_url) == before


def test_put_execution_links_stored_nodes_by_id(typed: tracker.Store, store_url: str) -> None:
    """Plain ints name stored artifacts and contexts to link without rewriting them; unknown ids raise."""
    (a,) = typed.put_artifacts([Artifact(type="DataSet", properties={"day": 3})])
    (c,) = typed.put_contexts([Context(type="Run", name="r", custom_properties={"status": "running"})])
    eid, ids, ctx_ids = typed.put_execution(Execution(type="Trainer"), [(a, Event(type=EventType.INPUT))], [c])
    assert (ids, ctx_ids) == ([a], [c])
    assert typed.get_artifacts_by_id([a])[0].properties == {"day": 3}
    assert typed.get_contexts_by_id([c])[0].custom_properties == {"status": "running"}
    assert [x.id for x in typed.get_executions_by_context(c)] == [eid]
    before = table_contents(store_url)
    with pytest.raises(NotFoundError, match="no artifact with id 777"):
        typed.put_execution(Execution(type="Trainer"), [(777, Event(type=EventType.INPUT))], [c])
    with pytest.raises(NotFoundError, match="no context with id 888"):
        typed.put_execution(Execution(type="Trainer"), [], [888])
    assert table_contents(store_url) == before


def test_put_execution_reuses_artifacts_by_external_id(typed: tracker.Store) -> None:
    """With reuse_artifacts_by_external_id, a new artifact whose external id exists resolves to it."""
    _, (first,), _ = typed.put_execution(
        Execution(type="Trainer"), [(Artifact(type="DataSet", external_id="sha:1"), Event(type=EventType.OUTPUT))]
    )
    _, (again,), _ = typed.put_execution(
        Execution(type="Trainer"),
        [(Artifact(type="DataSet", external_id="sha:1"), Event(type=EventType.INPUT))],
        reuse_artifacts_by_external_id=True,
    )
    assert again == first
    with pytest.raises(AlreadyExistsError):
        typed.put_execution(Execution(type="Trainer"), [(Artifact(type="DataSet", external_id="sha:1"), None)])
