"""Module-level steps, importable by name (for pickling and process pools)."""

from __future__ import annotations

import tracker


@tracker.step
def scale(values: list[float], factor: float = 2.0) -> list[float]:
    """Multiply each value."""
    return [v * factor for v in values]


@tracker.step
def in_child(values: list[float]) -> float:
    return sum(values)
