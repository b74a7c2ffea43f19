"""Record a small training pipeline in the default store and print the model's lineage.

Run it with ``nox -s example`` (or ``python examples/quickstart.py`` where tracker is
installed). The store is ``./.tracker/mlmd.sqlite`` unless TRACKER_URL names another;
each run adds one more pipeline run to it.
"""

from __future__ import annotations

import random

import tracker
from tracker import (
    Artifact,
    ArtifactBaseType,
    ArtifactType,
    Context,
    ContextType,
    Event,
    EventType,
    Execution,
    ExecutionBaseType,
    ExecutionState,
    ExecutionType,
    PropertyType,
)


def record_pipeline(store: tracker.Store) -> int:
    """Record load -> train -> evaluate as three executions in one run; return the model's id."""
    store.put_artifact_type(
        ArtifactType(
            "DataSet", {"day": PropertyType.INT, "split": PropertyType.STRING}, base_type=ArtifactBaseType.DATASET
        )
    )
    store.put_artifact_type(ArtifactType("SavedModel", {"version": PropertyType.INT}, base_type=ArtifactBaseType.MODEL))
    store.put_artifact_type(ArtifactType("Metrics", base_type=ArtifactBaseType.METRICS))
    store.put_execution_type(
        ExecutionType(
            "Trainer", {"lr": PropertyType.DOUBLE, "epochs": PropertyType.INT}, base_type=ExecutionBaseType.TRAIN
        )
    )
    store.put_execution_type(ExecutionType("Evaluator", base_type=ExecutionBaseType.EVALUATE))
    store.put_context_type(ContextType("Run", {"pipeline": PropertyType.STRING}))

    run_name = f"housing-{random.getrandbits(32):08x}"
    run = Context(type="Run", name=run_name, properties={"pipeline": "housing"})
    data = Artifact(type="DataSet", uri="data/housing/day1", properties={"day": 1, "split": "train"})
    model = Artifact(type="SavedModel", uri=f"models/{run_name}", properties={"version": 1})
    train = Execution(type="Trainer", properties={"lr": 0.05, "epochs": 10}, last_known_state=ExecutionState.COMPLETE)
    _, (data_id, model_id), (run_id,) = store.put_execution(
        train,
        [(data, Event(type=EventType.INPUT, path=["data"])), (model, Event(type=EventType.OUTPUT, path=["model"]))],
        [run],
    )
    data.id, model.id, run.id = data_id, model_id, run_id
    metrics = Artifact(type="Metrics", uri=f"metrics/{run_name}", custom_properties={"rmse": 0.42, "r2": 0.81})
    store.put_execution(
        Execution(type="Evaluator", last_known_state=ExecutionState.COMPLETE),
        [
            (model, Event(type=EventType.INPUT, path=["model"])),
            (data, Event(type=EventType.INPUT, path=["data"])),
            (metrics, Event(type=EventType.OUTPUT, path=["metrics"])),
        ],
        [run],
    )
    return model_id


def describe(node: tracker.Artifact | tracker.Execution) -> str:
    props = {**node.properties, **node.custom_properties}
    shown = ", ".join(f"{k}={v}" for k, v in sorted(props.items()))
    where = f" {node.uri}" if isinstance(node, tracker.Artifact) and node.uri else ""
    return f"{node.type} #{node.id}{where}" + (f" ({shown})" if shown else "")


def print_lineage(store: tracker.Store, artifact_id: int) -> None:
    """Print what produced the artifact, from what, in which run, and what used it."""
    (artifact,) = store.get_artifacts_by_id([artifact_id])
    print(f"lineage of {describe(artifact)}")
    for event in store.get_events_by_artifact_ids([artifact_id]):
        (execution,) = store.get_executions_by_id([event.execution_id])
        if event.type == EventType.OUTPUT:
            print(f"  made by   {describe(execution)}, {execution.last_known_state.name}")
            for used in store.get_events_by_execution_ids([execution.id]):  # type: ignore[list-item]
                if used.type == EventType.INPUT:
                    (source,) = store.get_artifacts_by_id([used.artifact_id])
                    print(f"    from    {'/'.join(map(str, used.path))}: {describe(source)}")
        else:
            print(f"  used by   {describe(execution)}")
            for made in store.get_events_by_execution_ids([execution.id]):  # type: ignore[list-item]
                if made.type == EventType.OUTPUT:
                    (output,) = store.get_artifacts_by_id([made.artifact_id])
                    print(f"    making  {'/'.join(map(str, made.path))}: {describe(output)}")
    for context in store.get_contexts_by_artifact(artifact_id):
        print(f"  in run    {context.name} ({context.type}, pipeline={context.properties.get('pipeline')})")


def main() -> None:
    with tracker.connect() as store:
        model_id = record_pipeline(store)
        print(f"store: {store.url}\n")
        print_lineage(store, model_id)


if __name__ == "__main__":
    main()
