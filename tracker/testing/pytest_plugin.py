"""tracker's pytest plugin: fixtures for code that uses tracker, and golden tests from recorded runs.

pytest loads this module through the ``pytest11`` entry point wherever tracker is installed; ``-p
no:tracker`` turns it off. Loading it changes nothing: it defines fixtures (each named ``tracker_*``),
registers the ``tracker_goldens`` marker and the ``--tracker-refresh-goldens`` option, and acts only in
the tests that use them. Every fixture keeps to its test's own temporary directory, so they work the
same under pytest-xdist.

Fixtures:

- ``tracker_store``: a new, empty SQLite store per test (a copy of a template made once per session, so
  no schema is created per test). Steps and runs in the test record into it, and their values go to the
  test's temporary directory.
- ``tracker_run``: an active run in ``tracker_store``, named after the test.
- ``tracker_disabled``: steps run as plain functions and ``tracker.log_*`` do nothing in the test.
- ``tracker_golden``: one recorded execution of a golden store, with ``@pytest.mark.tracker_goldens``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from tracker.sdk.runs import Run
    from tracker.store import Store
    from tracker.testing import Golden, StoreTemplate

REFRESH_OPTION = "--tracker-refresh-goldens"
GOLDENS_MARKER = "tracker_goldens"


def pytest_addoption(parser: pytest.Parser) -> None:
    """``--tracker-refresh-goldens``."""
    parser.getgroup("tracker").addoption(
        REFRESH_OPTION,
        action="store_true",
        default=False,
        help="record the golden stores of @pytest.mark.tracker_goldens tests again (by calling their record= "
        "functions) before replaying them",
    )


def pytest_configure(config: pytest.Config) -> None:
    """Register the ``tracker_goldens`` marker."""
    config.addinivalue_line(
        "markers",
        f"{GOLDENS_MARKER}(directory, record=None, steps=None): run the test once per execution recorded in the "
        "golden store in directory, given to it by the tracker_golden fixture; record= is the function that "
        f"makes the store again under {REFRESH_OPTION}",
    )


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Parametrize ``tracker_golden`` over the executions of the test's golden store."""
    if "tracker_golden" not in metafunc.fixturenames:
        return
    marker = metafunc.definition.get_closest_marker(GOLDENS_MARKER)
    if marker is None:
        pytest.fail(
            f"{metafunc.definition.nodeid} uses tracker_golden; mark it with "
            f"@pytest.mark.{GOLDENS_MARKER}(directory, record=...) to say which golden store to replay",
            pytrace=False,
        )
    from tracker.errors import ReplayError
    from tracker.testing._stores import golden_executions, record_goldens

    directory, record, steps = _goldens_arguments(marker, metafunc)
    if metafunc.config.getoption(REFRESH_OPTION):
        refreshed: set[Path] = metafunc.config.stash.setdefault(_REFRESHED, set())
        if directory not in refreshed:
            if hasattr(metafunc.config, "workerinput"):
                pytest.fail(f"run {REFRESH_OPTION} without -n: every xdist worker would record the goldens")
            if record is None:
                pytest.fail(f"{REFRESH_OPTION}: {metafunc.definition.nodeid} gives no record= to make {directory}")
            record_goldens(directory, record)
            refreshed.add(directory)
    try:
        executions = golden_executions(directory, steps)
    except ReplayError as exc:
        pytest.fail(str(exc), pytrace=False)
    if not executions:
        pytest.fail(f"the golden store in {directory} holds no execution to replay", pytrace=False)
    ids = [f"{e.custom_properties.get('tracker_step', e.type)}-{e.id}" for e in executions]
    metafunc.parametrize("tracker_golden", [(str(directory), e.id) for e in executions], ids=ids, indirect=True)


_REFRESHED = pytest.StashKey[set[Path]]()


def _goldens_arguments(marker: pytest.Mark, metafunc: pytest.Metafunc) -> tuple[Path, Callable[[], Any] | None, Any]:
    args, kwargs = list(marker.args), dict(marker.kwargs)
    directory = kwargs.pop("directory", None) or (args.pop(0) if args else None)
    record = kwargs.pop("record", None) or (args.pop(0) if args else None)
    steps = kwargs.pop("steps", None)
    if directory is None or args or kwargs:
        pytest.fail(f"use @pytest.mark.{GOLDENS_MARKER}(directory, record=..., steps=...), not {marker}", pytrace=False)
    path = Path(directory)
    if not path.is_absolute():  # relative to the test's file, so the suite runs from anywhere
        path = metafunc.definition.path.parent / path
    return path, record, steps


@pytest.fixture(scope="session")
def tracker_store_template(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StoreTemplate]:
    """An empty store made once per session (per worker, under xdist), copied by ``tracker_store``.

    Values the tests store are signed with a key made for the session (``$TRACKER_KEY_FILE`` in the
    session's temporary directory, unless it is set already), not with the user's own key.
    """
    from tracker.testing import StoreTemplate
    from tracker.values._trust import KEY_ENV_VAR

    with pytest.MonkeyPatch.context() as patch:
        if not os.environ.get(KEY_ENV_VAR):
            patch.setenv(KEY_ENV_VAR, str(tmp_path_factory.getbasetemp() / "tracker-values.key"))
        yield StoreTemplate(tmp_path_factory.mktemp("tracker-template"))


@pytest.fixture
def tracker_store(tracker_store_template: StoreTemplate, tmp_path: Path) -> Iterator[Store]:
    """A new, empty store for this test; steps and runs in the test record into it, and nowhere else.

    It is the default store while the test runs, with values in the test's temporary directory, and it
    is closed after the test. It is a copy of a template: no schema is created per test.
    """
    from tracker.testing._stores import recording_into
    from tracker.values import ValueStore

    store = tracker_store_template.new(tmp_path / "tracker-mlmd.sqlite")
    try:
        with recording_into(store, ValueStore(tmp_path / "tracker-values")):
            yield store
    finally:
        store.close()


@pytest.fixture
def tracker_run(tracker_store: Store, request: pytest.FixtureRequest) -> Iterator[Run]:
    """An active run in ``tracker_store``, named after the test; steps called in the test belong to it."""
    from tracker.sdk.runs import run

    with run(request.node.name, store=tracker_store) as started:
        yield started


@pytest.fixture
def tracker_disabled(tracker_store: Store) -> Iterator[None]:
    """Tracking is off in this test: steps run as plain functions, ``tracker.log_*`` calls do nothing.

    What still records (a run the test enters, a thread it starts, which does not inherit the switch)
    goes to the test's own ``tracker_store``.
    """
    from tracker.testing import no_tracking

    with no_tracking():
        yield


@pytest.fixture
def tracker_golden(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Golden]:
    """One execution of the golden store named by ``@pytest.mark.tracker_goldens``, in a copy of that store.

    ``tracker_golden.replay()`` replays it; the replay is recorded in the copy, never in the golden store.
    """
    param = getattr(request, "param", None)
    if param is None:  # pragma: no cover - pytest_generate_tests fails the test at collection first
        pytest.fail(f"tracker_golden needs @pytest.mark.{GOLDENS_MARKER}(directory) on the test", pytrace=False)
    from tracker.testing._stores import open_golden, recording_into
    from tracker.values import ValueStore

    directory, execution_id = param
    golden = open_golden(directory, execution_id, tmp_path)
    try:
        with recording_into(golden.store, ValueStore(tmp_path / "tracker-values")):
            yield golden
    finally:
        golden.store.close()
