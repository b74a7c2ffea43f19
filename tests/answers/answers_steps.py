"""A small pipeline for the lineage-answer tests: load, train (a model with predict), evaluate."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import tracker


@dataclass
class Model:
    weight: float

    def predict(self, x: float) -> float:
        return self.weight * x


@tracker.step
def load(day: int) -> list[float]:
    return [float(day + i) for i in range(10)]


@tracker.step
def train(data: list[float], lr: float = 0.1) -> Model:
    tracker.log_params(seed=7)
    return Model(weight=sum(data) * lr)


@tracker.step
def evaluate(model: Model, data: list[float]) -> dict[str, float]:
    error = sum((model.predict(x) - x) ** 2 for x in data) / len(data)
    return {"mse": error, "n": len(data)}


def pipeline(run_name: str, lr: float) -> tuple[list[float], Model, dict[str, float]]:
    with tracker.run(run_name, pipeline="toy"):
        data = load(day=1)
        model = train(data, lr=lr)
        return data, model, evaluate(model, data)


@dataclass
class Recorded:
    """What the ``recorded`` fixture made: the store, its URL, the value directory, and each run's values."""

    store: tracker.Store
    url: str
    values: Path
    baseline: tuple[Any, ...]
    tuned: tuple[Any, ...]
