"""A worker for the kill tests: records steps until it is killed, told to stop, or done.

    python kill_worker.py URL VALUES LOG WORKER STEPS

After each step returns (its end is committed), the worker appends "WORKER I" to LOG and fsyncs
it: the steps it saw committed. STEPS = 0 runs until the file named by $STOP_FILE exists.
$KILL_AT = "POINT:N" makes it SIGKILL itself the Nth time it reaches POINT of a step's lifecycle:

- before_value_write / after_value_write: around storing a value in the value store;
- during_value_write: after the Nth chunk of serialized bytes reached the value store's writer;
- inside_transaction: after a write transaction's statements ran, before its COMMIT;
- after_transaction: after put_execution committed, before the step goes on.
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Callable
from typing import Any

import tracker


@tracker.step(outputs=("summary", "blob"))
def work(worker: int, i: int, data: list[int]) -> tuple[list[int], bytes]:
    """Two outputs: a small one (kept inline) and 100 kB (a file in the value store)."""
    return [worker, i, sum(data)], bytes([i % 256]) * 100_000


def _die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def install_kill_point(spec: str | None) -> None:
    """Patch tracker so that the process kills itself at the Nth time it reaches the named point."""
    if not spec:
        return
    point, _, nth_text = spec.partition(":")
    nth, seen = int(nth_text or 1), [0]

    def reached() -> None:
        seen[0] += 1
        if seen[0] == nth:
            _die()

    from tracker.store import store as store_module
    from tracker.values import store as values_module

    def around(owner: Any, name: str, before: bool, after: bool) -> None:
        original: Callable[..., Any] = getattr(owner, name)

        def patched(*args: Any, **kwargs: Any) -> Any:
            if before:
                reached()
            result = original(*args, **kwargs)
            if after:
                reached()
            return result

        setattr(owner, name, patched)

    if point == "before_value_write":
        around(values_module.ValueStore, "put", True, False)
    elif point == "after_value_write":
        around(values_module.ValueStore, "put", False, True)
    elif point == "during_value_write":
        around(values_module._SpoolingWriter, "write", False, True)
    elif point == "after_transaction":
        around(store_module.Store, "put_execution", False, True)
    elif point == "inside_transaction":
        original_run = store_module.run

        def run(backend: Any, fn: Callable[..., Any], *, write: bool, what: str) -> Any:
            if not write:
                return original_run(backend, fn, write=write, what=what)

            def then_die(tx: Any) -> Any:
                result = fn(tx)
                reached()  # every statement ran; the COMMIT has not
                return result

            return original_run(backend, then_die, write=write, what=what)

        store_module.run = run  # type: ignore[assignment]
    else:
        raise SystemExit(f"unknown kill point {point!r}")


def main() -> None:
    url, values, log, worker, steps = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
    install_kill_point(os.environ.get("KILL_AT"))
    stop = os.environ.get("STOP_FILE")
    tracker.configure(store=url, values=values, on_error="raise")
    with tracker.run(f"worker-{worker}-{os.getpid()}"), open(log, "a") as out:
        i = 0
        while (steps == 0 or i < steps) and not (stop and os.path.exists(stop)):
            work(worker, i, list(range(i % 50)))
            out.write(f"{worker} {i}\n")
            out.flush()
            os.fsync(out.fileno())
            i += 1


if __name__ == "__main__":
    main()
