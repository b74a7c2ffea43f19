"""What a cache hit costs on a step with a 100 MB input, against running its trivial body, in one process.

Cases, each timed per call, in rounds whose order rotates (so a burst of load hits each alike):

- ``plain``: the undecorated function: the floor;
- ``fingerprint``: cloudpickle + BLAKE3 of the input, streamed, nothing kept: what one pass over the value costs;
- ``step, linked``: the step without caching, called with an input it has seen: linked by identity, not pickled;
- ``step, new input``: the step without caching, called with an equal copy: pickled and hashed once
  (its file exists already, so nothing is written);
- ``cache hit``: the step with ``cache=True``, called again with the same input: the input is
  fingerprinted once (it may have changed in place), the key looked up, the outputs loaded and verified,
  and a CACHED execution recorded. Its body never runs.

The hit should cost about one ``fingerprint`` pass plus a step's bookkeeping: a ratio near 1 against
``fingerprint`` shows the key pickles the value once. The ratio against ``step, new input`` says what a
hit costs next to running the (trivial) body tracked.

Run it with ``nox -s bench_cache``, or ``python bench/cache_hit.py`` where tracker and NumPy are
installed; ``--mb`` for another size, ``--rounds`` for more rounds.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from _common import (
    add_json_options,
    environment_line,
    filesystem,
    format_table,
    git_revision,
    machine,
    rotated,
    time_summary,
    version,
    write_results,
)

import tracker
from tracker.sdk.cache import fingerprint_value

CASES = ("plain", "fingerprint", "step, linked", "step, new input", "cache hit")


def trivial(data: Any) -> int:
    return 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mb", type=int, default=100, help="size of the input in MB (default 100)")
    parser.add_argument("--rounds", type=int, default=7, help="rounds (default 7)")
    add_json_options(parser)
    options = parser.parse_args()
    warnings.simplefilter("error")

    with tempfile.TemporaryDirectory(dir=Path.cwd()) as scratch:
        root = Path(scratch)
        tracker.configure(store=f"sqlite:///{root / 'mlmd.sqlite'}", values=str(root / "values"))
        uncached = tracker.step(name="uncached", cache=False)(trivial)
        cached = tracker.step(name="cached", cache=True)(trivial)
        data = np.random.default_rng(0).random(options.mb * 1_000_000 // 8)
        copies = [data.copy() for _ in range(options.rounds)]  # equal, not the same object: made before timing
        calls: dict[str, Callable[[], Any]] = {
            "plain": lambda: trivial(data),
            "fingerprint": lambda: fingerprint_value(data),
            "step, linked": lambda: uncached(data),
            "step, new input": lambda: uncached(copies.pop()),
            "cache hit": lambda: cached(data),
        }
        with tracker.run("bench"):
            uncached(data)  # stores the value: every later call finds its file
            cached(data)  # the miss that records the result every hit reuses
            seconds: dict[str, list[float]] = {case: [] for case in CASES}
            for r in range(options.rounds):
                for case in rotated(CASES, r):
                    start = time.perf_counter()
                    calls[case]()
                    seconds[case].append(time.perf_counter() - start)
        store = tracker.connect(f"sqlite:///{root / 'mlmd.sqlite'}")
        hits = [
            e for e in store.get_executions_by_type("cached") if e.last_known_state is tracker.ExecutionState.CACHED
        ]
        assert len(hits) == options.rounds, "every timed call of the cached step must be a hit"
        env = {**machine(), "tracker_git": git_revision(), "filesystem": filesystem(root), "numpy": version("numpy")}

    medians = {case: statistics.median(s) * 1000 for case, s in seconds.items()}
    rows = [["case", "median ms", "vs fingerprint", "vs step, new input"]]
    for case in CASES:
        rows.append([case, f"{medians[case]:.2f}", f"{medians[case] / medians['fingerprint']:.2f}",
                     f"{medians[case] / medians['step, new input']:.2f}"])  # fmt: skip
    print(environment_line(env, tracker_version=version("mlmd-tracker"), versus=f"{options.mb} MB NumPy input"))
    print(format_table(rows, text_columns=1))
    report = {
        "environment": env,
        "input_mb": options.mb,
        "cases": {case: time_summary(seconds[case], "ms") for case in CASES},
        "ratios": {
            "hit_vs_fingerprint": medians["cache hit"] / medians["fingerprint"],
            "hit_vs_uncached_new_input": medians["cache hit"] / medians["step, new input"],
            "hit_vs_uncached_linked": medians["cache hit"] / medians["step, linked"],
        },
    }
    if not options.no_json:
        write_results(report, options.json, "cache_hit")


if __name__ == "__main__":
    main()
