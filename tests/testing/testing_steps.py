"""Module-level steps that the replay tests record, change and replay (importable by name, as replay needs)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

import tracker


@dataclass
class Model:
    """A tiny linear model: its weights and a name."""

    weights: list[float]
    name: str = "linear"


class Split(NamedTuple):
    train: list[float]
    test: list[float]


@tracker.step
def load(day: int, rows: int = 4) -> list[float]:
    """Rows of data for one day."""
    return [float(day * 10 + i) for i in range(rows)]


@tracker.step
def train(data: list[float], lr: float = 0.1, epochs: int = 2) -> Model:
    """Fit weights: each is a data row times the learning rate times the epochs."""
    return Model([x * lr * epochs for x in data])


@tracker.step
def evaluate(model: Model, data: list[float]) -> dict[str, float]:
    """Metrics of a model on data."""
    return {"mean_weight": sum(model.weights) / len(model.weights), "rows": float(len(data))}


@tracker.step(outputs=("train", "test"))
def split(data: list[float], at: int = 2) -> tuple[list[float], list[float]]:
    """Two parts of the data."""
    return data[:at], data[at:]


@tracker.step
def features(data: list[float], scale: float = 1.0) -> np.ndarray:
    """The data as a NumPy column, scaled."""
    return np.asarray(data, dtype=np.float64).reshape(-1, 1) * scale


@tracker.step
def fail_on_negative(data: list[float]) -> float:
    """Raises ValueError for negative data, else sums it."""
    if any(x < 0 for x in data):
        raise ValueError("negative data")
    return sum(data)


@tracker.step
async def fetch(data: list[float], delay: float = 0.0) -> list[float]:
    """An async step: waits, then doubles the data."""
    await asyncio.sleep(delay)
    return [2 * x for x in data]


@tracker.step
def batches(data: list[float], size: int = 2) -> Iterator[list[float]]:
    """A generator step: the data in batches."""
    for i in range(0, len(data), size):
        yield data[i : i + size]


@tracker.step
async def stream(data: list[float]) -> AsyncIterator[float]:
    """An async generator step: the data, one row at a time."""
    for x in data:
        yield x


@tracker.step
def varargs(*parts: list[float], scale: float = 1.0, **named: list[float]) -> list[float]:
    """A step with *args and **kwargs: everything concatenated and scaled."""
    joined = [x for part in parts for x in part] + [x for key in sorted(named) for x in named[key]]
    return [x * scale for x in joined]


@tracker.step(keep_source=True)
def kept(data: list[float], offset: float = 1.0) -> list[float]:
    """A step that records its source, for replays of the recorded code."""
    return [x + offset for x in data]


class Trainer:
    """A class with method steps of the three kinds."""

    def __init__(self, factor: float) -> None:
        self.factor = factor

    @tracker.step
    def fit(self, data: list[float], lr: float = 0.5) -> Model:
        """Weights scaled by the trainer's factor."""
        return Model([x * lr * self.factor for x in data])

    @tracker.step(keep_source=True)
    def kept_fit(self, data: list[float]) -> Model:
        """A method that records its source."""
        return Model([x * self.factor for x in data])

    @tracker.step(keep_source=True)
    @classmethod
    def kept_default(cls, data: list[float]) -> Model:
        """A class method that records its source."""
        return Model(list(data), name=cls.__name__)

    @tracker.step(keep_source=True)
    @staticmethod
    def kept_normalize(data: list[float]) -> list[float]:
        """A static method that records its source."""
        return [x / max(data) for x in data]

    @tracker.step
    @classmethod
    def default(cls, data: list[float]) -> Model:
        """A class method step."""
        return Model(list(data), name=cls.__name__)

    @tracker.step
    @staticmethod
    def normalize(data: list[float]) -> list[float]:
        """A static method step."""
        top = max(data)
        return [x / top for x in data]


@tracker.step
def scored(data: list[float]) -> float:
    """Logs a metric while it runs (recorded as the output "metrics"), and returns the total."""
    tracker.log_metrics(mean=sum(data) / len(data))
    return sum(data)


@tracker.step(params=["weights"])
def weighted(data: list[float], weights: list[float]) -> float:
    """A list argument recorded as a property (params=), not as an artifact."""
    return sum(x * w for x, w in zip(data, weights, strict=True))
