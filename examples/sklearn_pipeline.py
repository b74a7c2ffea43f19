"""A scikit-learn pipeline, tracked with ``@tracker.step``, and what the store then knows.

Run it with ``nox -s example_sklearn`` (or ``python examples/sklearn_pipeline.py`` where tracker
and scikit-learn are installed). The data set ships with scikit-learn: nothing is downloaded. The
records go to ``./.tracker/mlmd.sqlite`` (or ``$TRACKER_URL``) and the values to
``./.tracker/values`` (or ``$TRACKER_VALUES``); each run adds one more run.
"""

from __future__ import annotations

import numpy as np
from sklearn import datasets
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, f1_score
from sklearn.model_selection import train_test_split

import tracker
from tracker import ArtifactBaseType, EventType, Execution, Store

# Name the artifact types after what they are, not after their Python classes.
tracker.register_artifact_type(LogisticRegression, "Model", base_type=ArtifactBaseType.MODEL)
tracker.register_artifact_type(np.ndarray, "Dataset", base_type=ArtifactBaseType.DATASET)


@tracker.step(outputs=("features", "labels"))
def load(name: str = "iris") -> tuple[np.ndarray, np.ndarray]:
    """One of the toy data sets scikit-learn ships, as (features, labels)."""
    bunch = getattr(datasets, f"load_{name}")()
    return bunch.data, bunch.target


@tracker.step(outputs=("train_x", "test_x", "train_y", "test_y"))
def split(
    x: np.ndarray, y: np.ndarray, test_size: float = 0.3, seed: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """A stratified train/test split."""
    return tuple(train_test_split(x, y, test_size=test_size, random_state=seed, stratify=y))


@tracker.step
def train(x: np.ndarray, y: np.ndarray, c: float = 1.0, max_iter: int = 200) -> LogisticRegression:
    """Logistic regression with inverse regularization strength *c*."""
    model = LogisticRegression(C=c, max_iter=max_iter).fit(x, y)
    tracker.log_params(n_iter=int(model.n_iter_.max()), classes=len(model.classes_))  # not arguments
    return model


@tracker.step
def evaluate(model: LogisticRegression, x: np.ndarray, y: np.ndarray) -> dict[str, float]:
    """Accuracy and macro-averaged F1 on held-out data."""
    predicted = model.predict(x)
    return {"accuracy": float(accuracy_score(y, predicted)), "f1_macro": float(f1_score(y, predicted, average="macro"))}


def made_by(store: Store, artifact_id: int, executions: set[int]) -> tuple[Execution, str]:
    """The execution among *executions* that output an artifact, and the name of that output."""
    events = store.get_events_by_artifact_ids([artifact_id])
    (event,) = [e for e in events if e.type == EventType.OUTPUT and e.execution_id in executions]
    (execution,) = store.get_executions_by_id([event.execution_id])
    return execution, str(event.path[0])


def main() -> None:
    with tracker.run("logreg", pipeline="iris-classifier") as run:
        x, y = load("iris")
        train_x, test_x, train_y, test_y = split(x, y, test_size=0.3, seed=1)
        model = train(train_x, train_y, c=0.5)
        metrics = evaluate(model, test_x, test_y)
    print(f"trained {model}, metrics {metrics}\n")

    # What the store knows now, from plain store queries.
    # A value stored before (same bytes) is the same artifact, so follow this run's executions only.
    store = run.store
    in_run = {e.id for e in store.get_executions_by_context(run.context_id)}
    (model_artifact,) = [a for a in store.get_artifacts_by_context(run.context_id) if a.type == "Model"]
    print(f"run {run.name!r} in {store.url}")
    where = model_artifact.uri or "inline, in the store (a small value)"
    print(f"model: artifact #{model_artifact.id} ({model_artifact.type}), value {where}")
    trainer, _ = made_by(store, model_artifact.id, in_run)
    facts = trainer.custom_properties
    logged = {k: v for k, v in facts.items() if not k.startswith("tracker_")}
    print(f"  made by {trainer.type} #{trainer.id} with {trainer.properties}, and logged {logged}")
    print(f"  with {facts['tracker_packages']} on Python {facts['tracker_python']}")
    for used in store.get_events_by_execution_ids([trainer.id]):
        if used.type != EventType.INPUT:
            continue
        (data,) = store.get_artifacts_by_id([used.artifact_id])
        splitter, part = made_by(store, data.id, in_run)
        (source,) = [e.artifact_id for e in store.get_events_by_execution_ids([splitter.id]) if e.path == ["x"]]
        loader, _ = made_by(store, source, in_run)
        print(
            f"    {used.path[0]}: {data.type} #{data.id} of shape {data.custom_properties['shape']}, the {part} "
            f"of {splitter.type} #{splitter.id} {splitter.properties} of data set {loader.properties['name']!r}"
        )
    for event in store.get_events_by_artifact_ids([model_artifact.id]):
        if event.type != EventType.INPUT or event.execution_id not in in_run:
            continue
        (evaluator,) = store.get_executions_by_id([event.execution_id])
        outputs = [
            e.artifact_id for e in store.get_events_by_execution_ids([evaluator.id]) if e.type == EventType.OUTPUT
        ]
        for out in store.get_artifacts_by_id(outputs):
            shown = {k: round(v, 3) for k, v in out.custom_properties.items() if not k.startswith("tracker_")}
            print(f"  evaluated by {evaluator.type} #{evaluator.id}: {out.type} {shown}")
    for context in store.get_contexts_by_execution(trainer.id):
        parents = [p.name for p in store.get_parent_contexts_by_context(context.id)]
        print(f"  in run {context.name!r} ({context.custom_properties['tracker_status']}), pipeline {parents}")
    runs = [c.name for c in store.get_contexts_by_artifact(model_artifact.id)]
    print(f"  runs that made or used this very model (same bytes): {runs}")
    print(f"\nthe model, loaded back: {tracker.load(model_artifact)!r}")


if __name__ == "__main__":
    main()
