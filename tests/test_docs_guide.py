"""The examples of docs/guide.md run, and print what the guide says they print."""

from __future__ import annotations

import doctest
import sys
import types
from collections.abc import Iterator
from pathlib import Path

import pytest

from tracker.sdk import _state, runs

GUIDE = Path(__file__).resolve().parent.parent / "docs" / "guide.md"


def run_guide(module: types.ModuleType, *, verbose: bool = False) -> doctest.TestResults:
    """Run the guide's examples in *module*'s namespace; failures are printed, as doctest does."""
    test = doctest.DocTestParser().get_doctest(GUIDE.read_text(encoding="utf-8"), {}, "guide.md", str(GUIDE), 0)
    test.globs = vars(module)  # not a copy: what the guide defines belongs to the module
    runner = doctest.DocTestRunner(verbose=verbose, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    runner.run(test, clear_globs=False)
    return runner.summarize(verbose=False)


@pytest.fixture
def guide_module() -> Iterator[types.ModuleType]:
    """An importable module for the guide's code, as a reader's script or REPL session would be.

    A step records the packages its function's module imported; the guide's steps are defined
    in this module, so their environment names numpy, as a reader's would.
    """
    module = types.ModuleType("tracker_guide")
    sys.modules[module.__name__] = module
    try:
        yield module
    finally:
        del sys.modules[module.__name__]
        store = vars(module).get("store")
        if store is not None:
            store.close()
        runs._process_runs.clear()  # runs made for steps outside any run: not to be finished at exit
        _state.reset()


def test_guide_examples(guide_module: types.ModuleType) -> None:
    """Every example of the guide runs and prints what the guide shows."""
    result = run_guide(guide_module)
    assert result.attempted > 40
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples in docs/guide.md failed (see above)"
