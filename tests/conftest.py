"""Store fixtures: every contract test runs on each backend in TRACKER_TEST_BACKENDS."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from databases import BACKENDS, fresh_database

import tracker


@pytest.fixture(params=BACKENDS)
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The URL of a new, empty database on one backend."""
    with fresh_database(request.param, tmp_path) as url:
        yield url


@pytest.fixture
def store(store_url: str) -> Iterator[tracker.Store]:
    """An open store in a new database; closed after the test."""
    with tracker.connect(store_url) as opened:
        yield opened
