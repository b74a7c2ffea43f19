"""Listing: orderings, limits, keyset page tokens that survive inserts, and their errors."""

from __future__ import annotations

import pytest

import tracker
from tracker import Artifact, ArtifactType, Context, ContextType, InvalidArgumentError, PropertyType


def _fill(store: tracker.Store, count: int) -> list[int]:
    store.put_artifact_type(ArtifactType("Item", {"n": PropertyType.INT, "even": PropertyType.BOOLEAN}))
    return store.put_artifacts(
        [Artifact(type="Item", name=f"item-{i:03d}", properties={"n": i, "even": i % 2 == 0}) for i in range(count)]
    )


def _walk(store: tracker.Store, **kwargs: object) -> list[int]:
    seen: list[int] = []
    token = None
    while True:
        page = store.list_artifacts(page_token=token, **kwargs)  # type: ignore[arg-type]
        seen.extend(int(a.id or 0) for a in page)
        token = page.next_page_token
        if token is None:
            return seen


def test_no_silent_cap(store: tracker.Store) -> None:
    """ml-metadata stops at 101 without a token; here every node comes back, or a token for the rest."""
    made = _fill(store, 250)
    assert [a.id for a in store.get_artifacts()] == made
    page = store.list_artifacts(page_size=1000)
    assert [a.id for a in page] == made and page.next_page_token is None
    assert _walk(store, page_size=101) == made


@pytest.mark.parametrize("page_size", [1, 7, 25, 26])
@pytest.mark.parametrize("descending", [False, True])
@pytest.mark.parametrize("order_by", ["id", "create_time", "last_update_time"])
def test_pages_concatenate_to_the_listing(
    store: tracker.Store, page_size: int, descending: bool, order_by: str
) -> None:
    _fill(store, 25)
    # several artifacts share a create time: ties are broken by id
    expected = [int(a.id or 0) for a in store.get_artifacts(order_by=order_by, descending=descending)]
    key = {"id": "id", "create_time": "create_time_since_epoch", "last_update_time": "last_update_time_since_epoch"}
    listed = store.get_artifacts(order_by=order_by, descending=descending)
    sort_keys = [(getattr(a, key[order_by]), a.id) for a in listed]
    assert sort_keys == sorted(sort_keys, reverse=descending)
    assert _walk(store, page_size=page_size, order_by=order_by, descending=descending) == expected
    assert len(expected) == 25


def test_filtered_pages(store: tracker.Store) -> None:
    made = _fill(store, 30)
    evens = [made[i] for i in range(0, 30, 2)]
    assert _walk(store, filter="properties.even.bool_value", page_size=4) == evens
    assert _walk(store, filter="properties.n.int_value >= 28", page_size=1, descending=True) == [made[29], made[28]]


def test_last_update_time_follows_updates(store: tracker.Store) -> None:
    made = _fill(store, 3)
    first = store.get_artifacts_by_id([made[0]])[0]
    first.custom_properties["touched"] = True
    store.put_artifacts([first])
    newest = store.get_artifacts(order_by="last_update_time", descending=True, limit=1)
    assert [a.id for a in newest] == [made[0]]


def test_inserts_while_paging_neither_skip_nor_repeat(store: tracker.Store) -> None:
    made = _fill(store, 20)
    for descending in (False, True):
        seen: list[int] = []
        page = store.list_artifacts(page_size=6, order_by="create_time", descending=descending)
        while True:
            seen.extend(int(a.id or 0) for a in page)
            store.put_artifacts([Artifact(type="Item", properties={"n": -1})])  # a new row between pages
            if page.next_page_token is None:
                break
            page = store.list_artifacts(
                page_size=6, order_by="create_time", descending=descending, page_token=page.next_page_token
            )
        assert len(seen) == len(set(seen))
        assert set(made) <= set(seen)


def test_limit(store: tracker.Store) -> None:
    made = _fill(store, 10)
    assert [a.id for a in store.get_artifacts(limit=3)] == made[:3]
    assert [a.id for a in store.get_artifacts(limit=3, descending=True)] == made[-1:-4:-1]
    assert [a.id for a in store.get_artifacts("properties.n.int_value > 7", limit=5)] == made[8:]


def test_empty_store(store: tracker.Store) -> None:
    page = store.list_executions()
    assert page.items == [] and page.next_page_token is None and len(page) == 0
    assert store.get_contexts(limit=5) == []


def test_contexts_and_executions_page_too(store: tracker.Store) -> None:
    store.put_context_type(ContextType("Run"))
    made = store.put_contexts([Context(type="Run", name=f"run-{i}") for i in range(5)])
    page = store.list_contexts(page_size=2, descending=True)
    assert [c.id for c in page] == made[:-3:-1]
    rest = store.list_contexts(page_size=10, descending=True, page_token=page.next_page_token)
    assert [c.id for c in rest] == made[-3::-1] and rest.next_page_token is None


def test_a_token_belongs_to_its_listing(store: tracker.Store) -> None:
    _fill(store, 5)
    token = store.list_artifacts(page_size=2, filter="properties.n.int_value >= 0").next_page_token
    assert token is not None
    for other in (
        lambda: store.list_artifacts(page_size=2, page_token=token),
        lambda: store.list_artifacts(page_size=2, filter="properties.n.int_value >= 1", page_token=token),
        lambda: store.list_artifacts(page_size=2, filter="properties.n.int_value >= 0", descending=True,
                                     page_token=token),
        lambda: store.list_artifacts(page_size=2, filter="properties.n.int_value >= 0", order_by="create_time",
                                     page_token=token),
        lambda: store.list_executions(page_size=2, filter="properties.n.int_value >= 0", page_token=token),
    ):  # fmt: skip
        with pytest.raises(InvalidArgumentError, match="another listing"):
            other()
    # a page size of its own is fine
    page = store.list_artifacts(page_size=10, filter="properties.n.int_value >= 0", page_token=token)
    assert len(page) == 3


@pytest.mark.parametrize("token", ["", "garbage!", "WzEsMl0", "bnVsbA", "W10", 42])
def test_a_forged_token_is_refused(store: tracker.Store, token: object) -> None:
    with pytest.raises(InvalidArgumentError, match="not a page token"):
        store.list_artifacts(page_token=token)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"page_size": 0}, "page_size must be a positive integer"),
        ({"page_size": -3}, "page_size must be a positive integer"),
        ({"page_size": True}, "page_size must be a positive integer"),
        ({"order_by": "name"}, "order_by must be"),
    ],
)
def test_bad_listing_arguments(store: tracker.Store, kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidArgumentError, match=message):
        store.list_artifacts(**kwargs)  # type: ignore[arg-type]


def test_bad_limit(store: tracker.Store) -> None:
    with pytest.raises(InvalidArgumentError, match="limit must be a positive integer"):
        store.get_artifacts(limit=0)
