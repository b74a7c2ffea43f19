"""A small training pipeline, tracked with ``@tracker.step``, and what the store then knows.

Run it with ``nox -s example`` (or ``python examples/quickstart.py`` where tracker is
installed). It needs only the standard library. The records go to ``./.tracker/mlmd.sqlite``
(or ``$TRACKER_URL``) and the values to ``./.tracker/values``; each run adds one more run.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import tracker
from tracker import EventType


@dataclass
class LinearModel:
    """y = weight * x + bias."""

    weight: float
    bias: float

    def predict(self, x: float) -> float:
        return self.weight * x + self.bias


@tracker.step
def load(day: int, split: str = "train") -> list[list[float]]:
    """Rows of (x, y) for one day of data."""
    rng = random.Random(day)
    return [[x, 3.0 * x + 2.0 + rng.gauss(0, 0.5)] for x in (rng.uniform(0, 10) for _ in range(200))]


@tracker.step
def train(data: list[list[float]], lr: float = 0.1, epochs: int = 10) -> LinearModel:
    """Fit y = w x + b by gradient descent."""
    model = LinearModel(0.0, 0.0)
    for _ in range(epochs * 20):
        dw = sum((model.predict(x) - y) * x for x, y in data) / len(data)
        db = sum(model.predict(x) - y for x, y in data) / len(data)
        model = LinearModel(model.weight - lr * dw / 10, model.bias - lr * db)
    return model


@tracker.step
def evaluate(model: LinearModel, data: list[list[float]]) -> dict[str, float]:
    """Root mean squared error and R² of the model on the data."""
    errors = [(model.predict(x) - y) ** 2 for x, y in data]
    mean = sum(y for _, y in data) / len(data)
    total = sum((y - mean) ** 2 for _, y in data)
    return {"rmse": (sum(errors) / len(errors)) ** 0.5, "r2": 1 - sum(errors) / total}


def main() -> None:
    with tracker.run("baseline", pipeline="housing") as run:
        data = load(day=1)
        model = train(data, lr=0.05)
        metrics = evaluate(model, data)
    print(f"trained {model}, metrics {metrics}\n")

    # What the store knows now, from plain store queries.
    store = run.store
    (model_artifact,) = [a for a in store.get_artifacts_by_context(run.context_id) if a.type == "LinearModel"]
    print(f"run {run.name!r} in {store.url}")
    where = model_artifact.uri or "inline, in the store (a small value)"
    print(f"model: artifact #{model_artifact.id} ({model_artifact.type}), value {where}")
    for event in store.get_events_by_artifact_ids([model_artifact.id]):
        (execution,) = store.get_executions_by_id([event.execution_id])
        if event.type == EventType.OUTPUT:
            print(f"  made by {execution.type} #{execution.id} with {execution.properties}")
            for used in store.get_events_by_execution_ids([execution.id]):
                if used.type == EventType.INPUT:
                    (source,) = store.get_artifacts_by_id([used.artifact_id])
                    rows = source.custom_properties.get("length")
                    print(f"    from {used.path[0]}: {source.type} #{source.id}, {rows} rows")
        else:
            outputs = [e for e in store.get_events_by_execution_ids([execution.id]) if e.type == EventType.OUTPUT]
            for out in store.get_artifacts_by_id([e.artifact_id for e in outputs]):
                shown = {k: round(v, 3) for k, v in out.custom_properties.items() if k in ("rmse", "r2")}
                print(f"  evaluated by {execution.type} #{execution.id}: {out.type} {shown}")
    for context in store.get_contexts_by_artifact(model_artifact.id):
        parents = [p.name for p in store.get_parent_contexts_by_context(context.id)]
        print(f"  in run {context.name!r} ({context.custom_properties['tracker_status']}), pipeline {parents}")
    print(f"\nthe model, loaded back: {tracker.load(model_artifact)}")


if __name__ == "__main__":
    main()
