"""A small training pipeline, tracked with ``@tracker.step``, and what the store then knows.

Run it with ``nox -s example`` (or ``python examples/quickstart.py`` where tracker is
installed). It needs only the standard library. The records go to ``./.tracker/mlmd.sqlite``
(or ``$TRACKER_URL``) and the values to ``./.tracker/values``; each run adds one more run.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import tracker


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

    # What the store knows now: each question is one line.
    lin = tracker.lineage(model)  # the value itself, an Artifact, or an artifact id
    made = lin.record
    print(f"model: artifact #{made.id} ({made.type}) in {run.store.url}")
    sources = [f"{a.type} #{a.id} of {a.custom_properties.get('length')} rows" for a in lin.datasets()]
    print(f"  1. trained on: {', '.join(sources)}")
    print(f"  2. hyperparameters: {lin.params}")
    print(f"  3. metrics: { {k: round(v, 3) for k, v in lin.metrics.items()} }")
    made_in, pipeline = lin.run, lin.pipeline
    if made_in is not None:
        status = made_in.custom_properties["tracker_status"]
        print(f"  4. made in run {made_in.name!r} ({status}) of pipeline {pipeline.name if pipeline else None!r}")
    others = [f"#{m.id}" for m in lin.other_models()]
    print(f"  5. other models trained on the same data: {', '.join(others) or 'none yet (run me again)'}")
    runs = run.store.get_contexts("type = 'Run'", order_by="create_time", descending=True, limit=2)
    if len(runs) == 2:
        changed = tracker.compare(list(reversed(runs))).differences()
        print(f"  6. against the run before: {len(changed.rows)} of {len(tracker.compare(runs).rows)} values differ")
    python, packages = lin.environment.get("python"), lin.packages
    print(f"  7. made with Python {python} and {packages or 'the standard library only'}")
    print("\nits lineage, as Mermaid (tracker lineage ID --format html -o lineage.html draws it):")
    print(lin.upstream().to_mermaid())
    print(f"the model, loaded back: {tracker.load(made)}")
    print(f"in the shell: tracker datasets {made.id}; tracker params {made.id}; tracker metrics {made.id}; ...")


if __name__ == "__main__":
    main()
