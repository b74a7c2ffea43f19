"""The examples of docs/queries.md run, and print what the page says they print."""

from __future__ import annotations

import doctest
from pathlib import Path

DOCS = Path(__file__).resolve().parent.parent / "docs"


def test_queries_page_examples() -> None:
    result = doctest.testfile(
        str(DOCS / "queries.md"),
        module_relative=False,
        optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE,
        raise_on_error=False,
        verbose=False,
    )
    assert result.attempted > 30
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples in docs/queries.md failed (see above)"
