"""``check_determinism``: the same call run several times on the same inputs, and which outputs differ."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from os import PathLike
from typing import Any

from tracker.errors import InvalidArgumentError, OutputMismatchError
from tracker.store import Execution, Store
from tracker.testing._calling import describe
from tracker.testing._diff import Difference, diff, short
from tracker.testing._replay import exception_name, replay
from tracker.values import ValueStore


@dataclass
class DeterminismResult:
    """The outputs of several runs of the same call on the same inputs, and where they differ from the first.

    Attributes:
        subject: what ran, in words.
        outputs: each run's outputs, by output path.
        errors: what each run raised (None where it returned).
        differences: where a later run differs from the first (the run is named in each difference's detail).
        replay_ids: for an execution, the replays that recorded the runs.

    .. versionadded:: 0.1
    """

    subject: str
    outputs: list[dict[str, Any]]
    errors: list[Exception | None]
    differences: list[Difference]
    replay_ids: list[int | None] = field(default_factory=list)

    @property
    def deterministic(self) -> bool:
        """Whether every run gave the same outputs (within tolerance), or raised the same type of exception."""
        return not self.differences

    def assert_deterministic(self) -> None:
        """Raise OutputMismatchError, listing what differs between the runs, unless they all agree."""
        __tracebackhide__ = True
        if self.differences:
            raise OutputMismatchError(str(self), self.differences)

    def __str__(self) -> str:
        runs_ = len(self.outputs)
        if not self.differences:
            return f"{self.subject}: {runs_} runs on the same inputs gave the same outputs"
        count = len(self.differences)
        lines = [f"{self.subject} is not deterministic: {runs_} runs on the same inputs differ in {count} "
                 f"place{'s' * (count != 1)}:"]  # fmt: skip
        lines += [f"  {d}" for d in self.differences]
        return "\n".join(lines)


def check_determinism(
    target: Execution | int | Callable[[], Any],
    *,
    runs: int = 2,
    rtol: float = 0.0,
    atol: float = 0.0,
    store: Store | None = None,
    values: ValueStore | str | PathLike[str] | None = None,
    instance: object = None,
) -> DeterminismResult:
    """Run the same call several times on the same inputs and report which outputs differ between runs.

    *target* is a recorded execution (or its id), replayed *runs* times on its recorded inputs (each run
    recorded as a replay, see :func:`replay`), or a callable taking no arguments, called *runs* times
    (``lambda: train(data, lr=0.1)``; steps it calls are recorded as usual). Outputs are compared with the
    first run's, exactly unless *rtol* or *atol* allow more. A callable that changes its inputs in place
    shows up as non-deterministic here, which it is.

    Returns:
        The runs' outputs and their differences; ``result.assert_deterministic()`` raises if there are any.

    Example::

        tracker.testing.check_determinism(lambda: train(data, lr=0.1)).assert_deterministic()

    .. versionadded:: 0.1
    """
    if runs < 2:
        raise InvalidArgumentError(f"a determinism check needs at least 2 runs, not {runs}")
    outputs: list[dict[str, Any]] = []
    errors: list[Exception | None] = []
    replay_ids: list[int | None] = []
    if isinstance(target, (Execution, int)):
        for _ in range(runs):
            result = replay(target, store=store, values=values, instance=instance, rtol=rtol, atol=atol)
            outputs.append(result.outputs)
            errors.append(result.error)
            replay_ids.append(result.replay_id)
        subject = describe(result.execution)
    else:
        for _ in range(runs):
            try:
                outputs.append({"output": target()})
                errors.append(None)
            except Exception as exc:
                outputs.append({})
                errors.append(exc)
        subject = getattr(target, "__qualname__", None) or repr(target)
    differences: list[Difference] = []
    for k in range(1, runs):
        found = _run_differences(outputs[0], errors[0], outputs[k], errors[k], rtol, atol)
        if runs > 2:
            found = [replace(d, detail="; ".join(filter(None, (d.detail, f"run {k + 1}")))) for d in found]
        differences += found
    return DeterminismResult(subject, outputs, errors, differences, replay_ids)


def _run_differences(
    first: dict[str, Any], first_error: Exception | None, other: dict[str, Any], other_error: Exception | None,
    rtol: float, atol: float,
) -> list[Difference]:  # fmt: skip
    if first_error is not None or other_error is not None:
        said = [
            f"{exception_name(e)}: {short(str(e))}" if e is not None else "a result" for e in (first_error, other_error)
        ]
        same = first_error is not None and other_error is not None and type(first_error) is type(other_error)
        return [] if same else [Difference("output", "error", said[0], said[1])]
    found: list[Difference] = []
    for path, expected in first.items():
        if path not in other:
            found.append(Difference(path, "missing", short(expected), "nothing"))
        else:
            found += diff(expected, other[path], rtol=rtol, atol=atol, path=path)
    found += [Difference(path, "extra", "nothing", short(v)) for path, v in other.items() if path not in first]
    return found
