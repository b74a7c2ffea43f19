"""The examples of docs/testing.md run, and print what the page says they print."""

from __future__ import annotations

import doctest
from pathlib import Path

import tracker.testing._diff
from tracker.sdk import _state, runs

DOCS = Path(__file__).resolve().parent.parent.parent / "docs"


def test_testing_page_examples() -> None:
    """Every >>> example of the testing guide runs as shown (on a store of its own, in a temporary directory)."""
    try:
        result = doctest.testfile(
            str(DOCS / "testing.md"),
            module_relative=False,
            optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE,
            raise_on_error=False,
            verbose=False,
        )
    finally:
        runs._process_runs.clear()  # the page's steps outside a run: not to be finished at exit
        _state.reset()  # the page configures a store of its own
    assert result.attempted > 40
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples in docs/testing.md failed (see above)"


def test_docstring_examples() -> None:
    """The examples in tracker.testing's docstrings run as shown."""
    result = doctest.testmod(tracker.testing._diff, optionflags=doctest.ELLIPSIS, raise_on_error=False, verbose=False)
    assert result.attempted >= 1 and result.failed == 0
