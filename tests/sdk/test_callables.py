"""Every kind of callable as a step: methods, class and static methods, coroutines, generators."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import AsyncIterator, Iterator

import pytest
from conftest import executions, io

import tracker
from tracker import ExecutionState


class Trainer:
    def __init__(self, scale: float) -> None:
        self.scale = scale

    @tracker.step
    def fit(self, rows: list[float], lr: float = 0.1) -> float:
        return sum(rows) * lr * self.scale

    @tracker.step
    @classmethod
    def build(cls, scale: float) -> Trainer:
        return cls(scale)

    @tracker.step
    @staticmethod
    def normalize(rows: list[float], by: float = 1.0) -> list[float]:
        return [r / by for r in rows]


def test_methods(tracked: tracker.Store) -> None:
    """self and cls are not recorded; the other arguments are, for every kind of method."""
    with tracker.run():
        trainer = Trainer.build(2.0)
        assert trainer.fit([1.0, 2.0], lr=0.5) == 3.0
        assert Trainer.fit(trainer, [1.0], lr=1.0) == 2.0
        assert Trainer.normalize([2.0], by=2.0) == [1.0]
        assert trainer.normalize([4.0], by=2.0) == [2.0]
    assert [e.properties for e in executions(tracked, "Trainer.build")] == [{"scale": 2.0}]
    fits = executions(tracked, "Trainer.fit")
    assert [e.properties for e in fits] == [{"lr": 0.5}, {"lr": 1.0}]
    assert [[p for p, _ in io(tracked, e.id)["INPUT"]] for e in fits] == [["rows"], ["rows"]]  # type: ignore[arg-type]
    assert [e.properties for e in executions(tracked, "Trainer.normalize")] == [{"by": 2.0}, {"by": 2.0}]
    # the Trainer the classmethod returned is the artifact the method calls get... as their instance? no:
    # an instance is not an argument of the call; only the class method's output is an artifact
    (built,) = io(tracked, executions(tracked, "Trainer.build")[0].id)["OUTPUT"]  # type: ignore[arg-type]
    assert built[1].type == "Trainer"


@tracker.step
async def fetch(rows: list[int], delay: float = 0.05) -> list[int]:
    await asyncio.sleep(delay)
    return [r + 1 for r in rows]


def test_a_coroutine_step_spans_the_awaited_body(tracked: tracker.Store) -> None:
    """The execution starts when the body starts and ends after the await, not when the coroutine is made."""
    assert inspect.iscoroutinefunction(fetch)

    async def main() -> list[int]:
        with tracker.run():
            return await fetch([1, 2], delay=0.2)

    assert asyncio.run(main()) == [2, 3]
    (execution,) = executions(tracked, "fetch")
    assert execution.last_known_state is ExecutionState.COMPLETE
    assert execution.last_update_time_since_epoch - execution.create_time_since_epoch >= 190
    assert [p for p, _ in io(tracked, execution.id)["OUTPUT"]] == ["output"]  # type: ignore[arg-type]


@tracker.step
def batches(rows: list[int], size: int = 2) -> Iterator[list[int]]:
    for i in range(0, len(rows), size):
        yield rows[i : i + size]
    return None


@tracker.step
def echo() -> Iterator[int]:
    received = yield 1
    while received is not None:
        received = yield received * 10


@tracker.step
def broken() -> Iterator[int]:
    yield 1
    raise ValueError("broken after one")


def test_generator_steps(tracked: tracker.Store) -> None:
    """Exhausted: COMPLETE with the yielded items as outputs; closed early: COMPLETE, marked; failed: FAILED."""
    assert inspect.isgeneratorfunction(batches)
    with tracker.run():
        assert list(batches([1, 2, 3])) == [[1, 2], [3]]
        first = batches([5, 6, 7, 8])
        assert next(first) == [5, 6]
        first.close()
        conversation = echo()
        assert next(conversation) == 1 and conversation.send(2) == 20 and conversation.send(3) == 30
        with pytest.raises(StopIteration):
            conversation.send(None)
        with pytest.raises(ValueError, match="broken after one"):
            list(broken())
    done, closed = executions(tracked, "batches")
    assert done.last_known_state is closed.last_known_state is ExecutionState.COMPLETE
    assert [p for p, _ in io(tracked, done.id)["OUTPUT"]] == ["yield/0", "yield/1"]  # type: ignore[arg-type]
    assert closed.custom_properties["tracker_closed_early"] is True
    assert closed.custom_properties["tracker_yielded"] == 1
    assert executions(tracked, "echo")[0].custom_properties["tracker_yielded"] == 3
    assert executions(tracked, "broken")[0].last_known_state is ExecutionState.FAILED


@tracker.step
async def stream(rows: list[int]) -> AsyncIterator[int]:
    for r in rows:
        await asyncio.sleep(0)
        yield r * 2


def test_async_generator_steps(tracked: tracker.Store) -> None:
    """An async generator step ends when exhausted, or when closed early."""
    assert inspect.isasyncgenfunction(stream)

    async def main() -> list[int]:
        with tracker.run():
            got = [x async for x in stream([1, 2, 3])]
            partial = stream([4, 5])
            got.append(await partial.__anext__())
            await partial.aclose()
            return got

    assert asyncio.run(main()) == [2, 4, 6, 8]
    done, closed = executions(tracked, "stream")
    assert [p for p, _ in io(tracked, done.id)["OUTPUT"]] == ["yield/0", "yield/1", "yield/2"]  # type: ignore[arg-type]
    assert closed.custom_properties["tracker_closed_early"] is True
