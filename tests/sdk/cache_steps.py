"""Module-level cached steps and the classes they return (a rebuilt result's class must import by name)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any, NamedTuple

import tracker

#: how many times each body ran
CALLS: dict[str, int] = {}
THRESHOLD = 0.5


def ran(name: str) -> None:
    CALLS[name] = CALLS.get(name, 0) + 1


def clean(values: list[float]) -> list[float]:
    """A first-party helper the steps below call."""
    return [v for v in values if v >= THRESHOLD]


@tracker.step(cache=True)
def prepare(values: list[float], scale: float = 1.0, verbose: bool = False) -> list[float]:
    ran("prepare")
    return [v * scale for v in clean(values)]


@tracker.step(cache=tracker.Cache(ignore=["verbose"]))
def quiet(values: list[float], verbose: bool = False) -> float:
    ran("quiet")
    return sum(values)


class Split(NamedTuple):
    train: list[float]
    test: list[float] | None


@dataclass
class Report:
    score: float
    notes: str | None


@tracker.step(cache=True)
def split(values: list[float]) -> Split:
    ran("split")
    half = len(values) // 2
    return Split(values[:half], values[half:] or None)


@tracker.step(cache=True, outputs=("low", "high", "none"))
def pair(values: list[float]) -> tuple[float, float, None]:
    ran("pair")
    return min(values), max(values), None


@tracker.step(cache=True, outputs=("score", "notes"))
def report(values: list[float]) -> Report:
    ran("report")
    return Report(sum(values), None)


@tracker.step(cache=True)
def nothing(values: list[float]) -> None:
    ran("nothing")


@tracker.step(cache=True)
def fit(values: list[float], lr: float = 0.1) -> dict[str, float]:
    ran("fit")
    tracker.log_params(epochs=3)
    tracker.log_metrics(loss=lr / 2)
    return {"weight": sum(values) * lr}


@tracker.step(cache=True)
async def fetch(values: list[float]) -> list[float]:
    ran("fetch")
    await asyncio.sleep(0)
    return sorted(values)


class Model:
    """A model whose state is part of a cached method call's key."""

    def __init__(self, bias: float) -> None:
        self.bias = bias

    @tracker.step(cache=True)
    def predict(self, values: list[float]) -> list[float]:
        ran("predict")
        return [v + self.bias for v in values]


@tracker.step(cache=True)
def big(blob: Any) -> int:
    ran("big")
    return 1


@tracker.step(cache=tracker.Cache(salt="v1"))
def salted(values: list[float]) -> float:
    ran("salted")
    return sum(values)


@tracker.step(cache=tracker.Cache(max_age=0.2))
def short_lived(values: list[float]) -> float:
    ran("short_lived")
    return sum(values)


@tracker.step
def undecided(values: list[float]) -> float:
    """No cache= of its own: the project's default decides."""
    ran("undecided")
    return sum(values)


@tracker.step(cache=True)
def large_output(n: int) -> bytes:
    ran("large_output")
    return bytes(range(256)) * n
