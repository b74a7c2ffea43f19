"""Lineage answers over the store: ``tracker.lineage(x)``, ``tracker.compare(...)``, and graph exports."""

from __future__ import annotations

from collections.abc import Iterable

from tracker.query.answers import Lineage, resolve
from tracker.query.comparison import Comparison, Row
from tracker.query.comparison import compare as _compare
from tracker.query.graph import Edge, Graph, Node
from tracker.store import Store

__all__ = ["Comparison", "Edge", "Graph", "Lineage", "Node", "Row", "compare", "lineage"]


def _store_of(x: object, store: Store | None) -> Store:
    if store is not None:
        return store
    owner = getattr(x, "store", None)  # a tracker.Run knows its store
    if isinstance(owner, Store):
        return owner
    from tracker.sdk import _state

    return _state.default_store()


def lineage(x: object, *, store: Store | None = None) -> Lineage:
    """What the store knows about *x*: an Artifact, Execution or Context record, an artifact id,
    a run (``tracker.Run``), or a value a step returned (found by identity, else by fingerprint).

    The store is *store*, else the run's, else the configured default (``TRACKER_URL`` or
    ``./.tracker/mlmd.sqlite``).

    Raises:
        NotFoundError: *x* is not in the store.
    """
    chosen = _store_of(x, store)
    return Lineage(chosen, resolve(chosen, x))


def compare(items: Iterable[object], *, store: Store | None = None) -> Comparison:
    """Runs or artifacts side by side: their parameters, metrics and environment, differences marked.

    Example: ``print(tracker.compare([run_a, run_b]).differences())``.
    """
    listed = list(items)
    return _compare([lineage(x, store=store) for x in listed])
