"""Type-checked only (mypy in the typecheck session): @tracker.step keeps signatures for type checkers."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

from typing_extensions import assert_type

import tracker


@tracker.step
def load(day: int, split: str = "train") -> list[list[float]]:
    return [[float(day)]]


@tracker.step(outputs=("train", "test"))
def split(rows: list[int]) -> tuple[list[int], list[int]]:
    return rows, rows


@tracker.step
async def fetch(n: int) -> str:
    return str(n)


@tracker.step
def numbers(n: int) -> Iterator[int]:
    yield n


@tracker.step
async def stream(n: int) -> AsyncIterator[int]:
    yield n


assert_type(load(1), list[list[float]])
assert_type(load(day=1, split="test"), list[list[float]])
assert_type(split([1]), tuple[list[int], list[int]])
assert_type(numbers(1), Iterator[int])
assert_type(stream(1), AsyncIterator[int])


async def use() -> None:
    assert_type(await fetch(1), str)


load("one")  # type: ignore[arg-type]  # mypy must still see `day: int`
load(1, bad=2)  # type: ignore[call-arg]  # and no **kwargs
