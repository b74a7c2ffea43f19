"""The small graph on which ml-metadata 1.17's filter and lineage results were measured.

../shared/reference/mlmd.md §3.2 and §4.1 list what ml-metadata returned on it;
tests on this graph expect the same, except where tracker differs on purpose.
Ids are 1..5 (artifacts), 1..3 (executions), 1..2 (contexts) in a fresh store.
"""

from __future__ import annotations

from dataclasses import dataclass

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
    ParentContext,
    PropertyType,
)


@dataclass(frozen=True)
class Graph:
    store: tracker.Store
    #: create_time_since_epoch of a3, the first artifact made after the "classic" part
    later: int


def build(store: tracker.Store) -> Graph:
    """Write the reference graph into an empty store."""
    store.put_artifact_type(ArtifactType("DataSet", {"day": PropertyType.INT, "split": PropertyType.STRING}))
    store.put_artifact_type(ArtifactType("SavedModel"))
    store.put_artifact_type(ArtifactType("Metrics"))
    store.put_execution_type(ExecutionType("Trainer", {"state": PropertyType.STRING}))
    store.put_execution_type(ExecutionType("Evaluator"))
    store.put_context_type(ContextType("Pipeline"))
    store.put_context_type(ContextType("Experiment", {"note": PropertyType.STRING}))

    a1, a2 = store.put_artifacts(
        [
            Artifact(type="DataSet", uri="path/to/data", properties={"day": 1, "split": "train"}),
            Artifact(type="SavedModel", uri="path/to/model", state=ArtifactState.LIVE,
                     custom_properties={"accuracy": 0.95}),
        ]
    )  # fmt: skip
    (e1,) = store.put_executions(
        [Execution(type="Trainer", last_known_state=ExecutionState.COMPLETE, properties={"state": "COMPLETED"})]
    )
    later = store.get_artifacts_by_id([a2])[0].create_time_since_epoch + 1
    _wait_past(store, later)
    a3, a4, a5 = store.put_artifacts(
        [
            Artifact(type="DataSet", uri="path/to/eval/data", name="eval-day2", state=ArtifactState.LIVE,
                     properties={"day": 2, "split": "eval"}, custom_properties={"my:tag": "gold", "validated": True}),
            Artifact(type="Metrics", uri="path/to/metrics", external_id="metrics-ext-1", state=ArtifactState.LIVE),
            Artifact(type="SavedModel", uri="path/to/model/2", state=ArtifactState.ABANDONED),
        ]
    )  # fmt: skip
    e2, e3 = store.put_executions(
        [
            Execution(type="Evaluator", name="eval-run-1", last_known_state=ExecutionState.COMPLETE),
            Execution(type="Trainer", name="trainer-run-2", last_known_state=ExecutionState.FAILED,
                      custom_properties={"retries": 3}),
        ]
    )  # fmt: skip
    store.put_events(
        [
            Event(a1, e1, EventType.INPUT),
            Event(a2, e1, EventType.OUTPUT),
            Event(a2, e2, EventType.INPUT),
            Event(a3, e2, EventType.INPUT),
            Event(a4, e2, EventType.OUTPUT),
            Event(a5, e3, EventType.PENDING_OUTPUT),
        ]
    )
    pipeline, exp = store.put_contexts(
        [Context(type="Pipeline", name="pipeline1"), Context(type="Experiment", name="exp1",
                                                             properties={"note": "my first experiment"})]
    )  # fmt: skip
    store.put_parent_contexts([ParentContext(child_id=exp, parent_id=pipeline)])
    store.put_attributions_and_associations(
        [*(Attribution(a, exp) for a in (a2, a3, a4, a5)), Attribution(a3, pipeline)],
        [Association(e, exp) for e in (e1, e2, e3)],
    )
    assert (a1, a2, a3, a4, a5, e1, e2, e3, pipeline, exp) == (1, 2, 3, 4, 5, 1, 2, 3, 1, 2)
    return Graph(store, later)


def _wait_past(store: tracker.Store, millis: int) -> None:
    """Sleep until the store's clock (milliseconds) has reached *millis*."""
    import time

    while time.time() * 1000 < millis:
        time.sleep(0.002)


def ids(nodes: list[tracker.Artifact] | list[tracker.Execution] | list[tracker.Context]) -> list[int]:
    return [int(n.id or 0) for n in nodes]
