"""Cross-backend tests of the query API: every backend answers the query corpus exactly as SQLite does.

The corpus store (tests/query_corpus.py) is built once per backend. Each filter,
lineage query and ordered listing must give the same records on PostgreSQL and
MySQL as on SQLite, and paging through a listing, whatever the page size and
order, must give the unpaged sequence.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
import query_corpus as qc
from databases import BACKENDS, fresh_database

import tracker
from tracker import Artifact, ArtifactType

ORDERS = ["id", "create_time", "last_update_time"]
ORDER_KEYS = {"id": "id", "create_time": "create_time_since_epoch", "last_update_time": "last_update_time_since_epoch"}
#: Listings to page through: each kind, all of it and some filtered parts (joins included).
LISTINGS: list[tuple[qc.Kind, str | None]] = [
    ("artifacts", None),
    ("artifacts", "type = 'Model'"),
    ("artifacts", "custom_properties.owner.string_value = 'alice'"),
    ("artifacts", "contexts_c.type = 'Run' AND events_e.type = OUTPUT AND properties.split.string_value = 'train'"),
    ("artifacts", "contexts_c.name = 'run-0-0-0'"),
    ("executions", None),
    ("executions", "last_known_state != COMPLETE"),
    ("executions", "events_e.type = DECLARED_INPUT"),
    ("contexts", None),
    ("contexts", "parent_contexts_p.type = 'Experiment'"),
    ("contexts", "name = 'no such context'"),
]


@pytest.fixture(scope="module")
def stores(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[[str], tracker.Store]]:
    """The corpus store on a backend, built the first time a test asks for it (SQLite is the reference)."""
    opened: dict[str, tracker.Store | BaseException] = {}
    with ExitStack() as stack:

        def get(backend: str) -> tracker.Store:
            if backend not in opened:
                try:
                    url = stack.enter_context(fresh_database(backend, tmp_path_factory.mktemp(backend)))
                    qc.build(url)
                    opened[backend] = stack.enter_context(tracker.connect(url))
                except Exception as error:  # fail each test of this backend at once, without building again
                    opened[backend] = error
            found = opened[backend]
            if isinstance(found, BaseException):
                raise found
            return found

        yield get


@pytest.fixture(scope="module")
def on_sqlite(stores: Callable[[str], tracker.Store]) -> Callable[..., list[Any]]:
    """``_get`` on the SQLite store, each answer computed once: the reference for the other backends."""
    answers: dict[tuple[Any, ...], list[Any]] = {}

    def get(kind: str, text: str | None, **options: Any) -> list[Any]:
        key = (kind, text, *sorted(options.items()))
        if key not in answers:
            answers[key] = _get(stores("sqlite"), kind, text, **options)
        return answers[key]

    return get


def _get(store: tracker.Store, kind: str, text: str | None, **options: Any) -> list[Any]:
    return list(getattr(store, f"get_{kind}")(text, **options))


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("flt", qc.FILTERS + qc.TRACKER_ONLY, ids=str)
def test_filter_same_on_every_backend(
    stores: Callable[[str], tracker.Store], on_sqlite: Callable[..., list[Any]], backend: str, flt: qc.Filter
) -> None:
    """A filter selects the same records, in the same order (by id), on every backend."""
    found = _get(stores(backend), flt.kind, flt.text)
    ids = [n.id for n in found]
    assert ids == sorted(set(ids))
    assert found == on_sqlite(flt.kind, flt.text)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(("kind", "context_id", "text"), qc.BY_CONTEXT, ids=[f"{k}-{c}" for k, c, _ in qc.BY_CONTEXT])
def test_filter_within_a_context_same_on_every_backend(
    stores: Callable[[str], tracker.Store], backend: str, kind: str, context_id: int, text: str
) -> None:
    """get_artifacts_by_context / get_executions_by_context with a filter agree across backends."""
    found = getattr(stores(backend), f"get_{kind}_by_context")(context_id, text)
    assert found
    assert found == getattr(stores("sqlite"), f"get_{kind}_by_context")(context_id, text)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("query", qc.LINEAGE, ids=lambda q: q.name)
def test_lineage_same_on_every_backend(
    stores: Callable[[str], tracker.Store], backend: str, query: qc.LineageQuery
) -> None:
    """A lineage query returns the same graph (nodes, events, contexts, links and types) on every backend."""
    graph = stores(backend).get_lineage(**query.kwargs())
    assert graph == stores("sqlite").get_lineage(**query.kwargs())
    assert [a.id for a in graph.artifacts] == sorted(a.id for a in graph.artifacts)
    assert [(e.artifact_id, e.execution_id, e.type) for e in graph.events] == sorted(
        (e.artifact_id, e.execution_id, e.type) for e in graph.events
    )


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(("kind", "text"), LISTINGS, ids=[f"{k}-{t}" for k, t in LISTINGS])
def test_orderings_and_pages(
    stores: Callable[[str], tracker.Store],
    on_sqlite: Callable[..., list[Any]],
    backend: str,
    kind: str,
    text: str | None,
) -> None:
    """Each order sorts by its column, then id; pages of any size, and limits, give the unpaged sequence."""
    store = stores(backend)
    for order_by in ORDERS:
        for descending in (False, True):
            options = {"order_by": order_by, "descending": descending}
            unpaged = _get(store, kind, text, **options)
            ids = [n.id for n in unpaged]
            key = ORDER_KEYS[order_by]
            assert unpaged == sorted(unpaged, key=lambda n, key=key: (getattr(n, key), n.id), reverse=descending)
            assert unpaged == on_sqlite(kind, text, **options), (order_by, descending)
            for limit in (1, 10):
                assert [n.id for n in _get(store, kind, text, limit=limit, **options)] == ids[:limit]
            for page_size in (1, 7, 100, max(len(ids), 1)):  # the last: one full page, then maybe an empty one
                if len(ids) / page_size > 60:
                    continue  # enough round trips: the small pages run on the smaller listings
                assert _pages(store, kind, text, page_size, **options) == ids, (order_by, descending, page_size)


def _pages(store: tracker.Store, kind: str, text: str | None, page_size: int, **options: Any) -> list[int]:
    """Every id of a listing, read page by page; each page but the last is full."""
    found: list[int] = []
    token: str | None = None
    while True:
        page = getattr(store, f"list_{kind}")(text, page_size=page_size, page_token=token, **options)
        assert len(page.items) <= page_size
        found += [n.id for n in page]
        token = page.next_page_token
        if token is None:
            return found
        assert len(page.items) == page_size, "only the last page may be short"


@pytest.mark.parametrize("backend", BACKENDS)
def test_inserts_while_paging_skip_and_repeat_nothing(backend: str, tmp_path: Path) -> None:
    """Artifacts written between pages never make a listing skip or repeat one that existed when it started."""
    with fresh_database(backend, tmp_path) as url, tracker.connect(url) as store:
        store.put_artifact_type(ArtifactType("Data"))
        before = store.put_artifacts([Artifact(type="Data", name=f"a{i}") for i in range(40)])
        for order_by in ORDERS:
            for descending in (False, True):
                found: list[int] = []
                token: str | None = None
                while True:
                    page = store.list_artifacts(order_by=order_by, descending=descending, page_size=6, page_token=token)
                    found += [a.id for a in page]
                    store.put_artifacts([Artifact(type="Data") for _ in range(3)])
                    token = page.next_page_token
                    if token is None:
                        break
                assert len(found) == len(set(found))
                assert set(before) <= set(found), (order_by, descending)
