"""A mixed session: tracker and ml-metadata take turns writing one store, each with its own open connection."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ml_metadata.proto import metadata_store_pb2 as pb
from test_interop_convert import Mlmd, canon, from_mlmd, snapshot

from tracker import (
    Artifact,
    ArtifactState,
    ArtifactType,
    Attribution,
    Context,
    ContextType,
    Event,
    EventType,
    Execution,
    ExecutionState,
    ExecutionType,
    PropertyType,
)

if TYPE_CHECKING:
    from conftest import Database


def test_mixed_session_each_library_reads_and_extends_the_others_records(database: Database) -> None:
    """ml-metadata and tracker alternately write one store; lineage, updates and type changes cross both ways."""
    # ml-metadata creates the store, a type and an artifact
    mlmd = database.mlmd()
    dataset_type = mlmd.put_artifact_type(pb.ArtifactType(name="DataSet", properties={"day": pb.INT}))
    data = pb.Artifact(type_id=dataset_type, uri="data/day-1", name="day-1")
    data.properties["day"].int_value = 1
    data.custom_properties["schema"].struct_value.update({"columns": ["a", "b"], "rows": 10})
    [data_id] = mlmd.put_artifacts([data])
    schema = database.schema()

    # tracker opens it, reads the artifact and records a run that reads it and writes a model
    store = database.tracker()
    [day1] = store.get_artifacts_by_id([data_id])
    assert (day1.type, day1.uri, day1.properties, day1.custom_properties) == (
        "DataSet", "data/day-1", {"day": 1}, {"schema": {"columns": ["a", "b"], "rows": 10.0}}
    )  # fmt: skip
    store.put_artifact_type(ArtifactType("Model", {"version": PropertyType.INT}))
    store.put_execution_type(ExecutionType("Trainer", {"lr": PropertyType.DOUBLE}))
    store.put_context_type(ContextType("Experiment"))
    execution_id, (_, model_id), (experiment_id,) = store.put_execution(
        Execution(type="Trainer", properties={"lr": 0.05}, last_known_state=ExecutionState.RUNNING),
        [
            (day1, Event(type=EventType.INPUT, path=["examples", 0])),
            (
                Artifact(type="Model", uri="models/1", properties={"version": 1}),
                Event(type=EventType.OUTPUT, path=["model"]),
            ),
        ],
        [Context(type="Experiment", name="baseline")],
    )

    # ml-metadata follows the lineage tracker wrote: events of the artifact, then the downstream subgraph
    [event] = from_mlmd(mlmd.get_events_by_artifact_ids([data_id]))
    assert (event.execution_id, event.type, event.path) == (execution_id, EventType.INPUT, ["examples", 0])
    options = pb.LineageSubgraphQueryOptions(max_num_hops=2, direction=pb.LineageSubgraphQueryOptions.DOWNSTREAM)
    options.starting_artifacts.filter_query = f"id = {data_id}"
    graph = mlmd.get_lineage_subgraph(options)
    assert sorted(a.id for a in graph.artifacts) == [data_id, model_id]
    assert [e.id for e in graph.executions] == [execution_id]
    assert sorted((e.artifact_id, e.execution_id, e.type) for e in graph.events) == [
        (data_id, execution_id, pb.Event.INPUT),
        (model_id, execution_id, pb.Event.OUTPUT),
    ]
    lineage = sorted(from_mlmd(list(graph.artifacts)), key=lambda a: a.id)
    assert canon(lineage) == canon(store.get_artifacts_by_id([data_id, model_id]))
    assert canon(from_mlmd(list(graph.executions))) == canon(store.get_executions_by_id([execution_id]))

    # ml-metadata adds a property to a type tracker has cached, marks the model live, nests the experiment
    mlmd.put_artifact_type(
        pb.ArtifactType(name="DataSet", properties={"day": pb.INT, "split": pb.STRING}), can_add_fields=True
    )
    [model] = mlmd.get_artifacts_by_id([model_id])
    model.state = pb.Artifact.LIVE
    model.custom_properties["accuracy"].double_value = 0.9
    mlmd.put_artifacts([model])
    [project_id] = mlmd.put_contexts(
        [pb.Context(type_id=mlmd.put_context_type(pb.ContextType(name="Project")), name="p")]
    )
    mlmd.put_parent_contexts([pb.ParentContext(child_id=experiment_id, parent_id=project_id)])

    # tracker uses the new property, completes the run and files the new data under the experiment
    [day2_id] = store.put_artifacts(
        [Artifact(type="DataSet", uri="data/day-2", properties={"day": 2, "split": "eval"})]
    )
    [run] = store.get_executions_by_id([execution_id])
    run.last_known_state = ExecutionState.COMPLETE
    store.put_executions([run])
    store.put_attributions_and_associations([Attribution(day2_id, experiment_id)], [])

    # each sees the other's latest writes, and both see one and the same store
    [model_seen] = store.get_artifacts_by_id([model_id])
    assert (model_seen.state, model_seen.custom_properties) == (ArtifactState.LIVE, {"accuracy": 0.9})
    assert [c.name for c in store.get_parent_contexts_by_context(experiment_id)] == ["p"]
    [day2] = mlmd.get_artifacts_by_id([day2_id])
    assert (day2.properties["day"].int_value, day2.properties["split"].string_value) == (2, "eval")
    assert mlmd.get_executions_by_id([execution_id])[0].last_known_state == pb.Execution.COMPLETE
    assert sorted(a.id for a in mlmd.get_artifacts_by_context(experiment_id)) == [data_id, model_id, day2_id]
    assert canon(snapshot(store)) == canon(snapshot(Mlmd(mlmd)))
    assert database.schema() == schema
    assert database.query("SELECT schema_version FROM MLMDEnv") == [(10,)]
