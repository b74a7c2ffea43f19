"""Listing nodes: filters, ordering, limits and keyset page tokens.

A page token names the last node of a page by its sort key and id, so the
next page starts right after it, however many rows were inserted meanwhile:
no row that existed when paging started is skipped or repeated.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import operator
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Generic, TypeVar

from sqlalchemy import and_, bindparam, or_, select

from tracker.errors import FilterError, InvalidArgumentError
from tracker.store import _filter
from tracker.store import _nodes as nodes
from tracker.store import schema as s
from tracker.store._sql import Prepared, Tx
from tracker.store._types import TypeRegistry
from tracker.store.entities import _Node

N = TypeVar("N")

#: ``order_by`` names and the column each sorts on.
ORDERS = {
    "id": "id",
    "create_time": "create_time_since_epoch",
    "last_update_time": "last_update_time_since_epoch",
    "create_time_since_epoch": "create_time_since_epoch",
    "last_update_time_since_epoch": "last_update_time_since_epoch",
}
_LINKS = {"artifact": s.attribution, "execution": s.association}
_TOKEN_VERSION = 1


@dataclass
class Page(Generic[N]):
    """One page of a listing: its nodes, and the token of the next page (None on the last)."""

    items: list[N] = field(default_factory=list)
    next_page_token: str | None = None

    def __iter__(self) -> Iterator[N]:
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)


@lru_cache(maxsize=512)
def plan(text: str, kind: str, backend: str) -> _filter.Plan:
    """The resolved filter, cached: the same text is parsed once per process."""
    return _filter.resolve(text, kind, backend)


def _filter_text(filter: str | None) -> str | None:
    if filter is None:
        return None
    if not isinstance(filter, str):
        raise InvalidArgumentError(f"filter must be a string such as \"name = 'x'\", not {type(filter).__name__}")
    return filter if filter.strip() else None


def order_column(order_by: str) -> str:
    """The column *order_by* sorts on; InvalidArgumentError for an unknown name."""
    column = ORDERS.get(order_by) if isinstance(order_by, str) else None
    if column is None:
        raise InvalidArgumentError(f"order_by must be 'id', 'create_time' or 'last_update_time', not {order_by!r}")
    return column


def _positive(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidArgumentError(f"{name} must be a positive integer, not {value!r}")
    return value


def select_nodes(
    tx: Tx,
    types: TypeRegistry,
    kind: nodes.NodeKind,
    filter: str | None,
    *,
    order_by: str = "id",
    descending: bool = False,
    limit: int | None = None,
    after: tuple[int, int] | None = None,
    context_id: int | None = None,
) -> list[_Node]:
    """The nodes of *kind* matching *filter* (in a context), sorted, after a key, at most *limit*."""
    text = _filter_text(filter)
    column = order_column(order_by)
    if limit is not None:
        _positive("limit", limit)
    backend = tx.backend
    found = plan(text, kind.word, backend.name) if text else None
    key = ("select", kind.word, found.key if found else None, column, bool(descending), after is not None,
           limit is not None, context_id is not None)  # fmt: skip

    def build() -> Any:
        t = kind.table
        stmt = select(t)
        if found is not None:
            stmt = stmt.where(_filter.where(found, backend.name))
        if context_id is not None:
            link = _LINKS[kind.word]
            stmt = stmt.where(t.c.id.in_(select(link.c[kind.owner]).where(link.c.context_id == bindparam("ctx"))))
        sort = t.c[column]
        if after is not None:
            beyond = operator.lt if descending else operator.gt  # the keyset condition, in the sort's direction
            after_id = beyond(t.c.id, bindparam("after_id"))
            if column != "id":
                after_key: Any = bindparam("after_key")
                after_id = or_(beyond(sort, after_key), and_(sort == after_key, after_id))
            stmt = stmt.where(after_id)
        order = [sort] if column == "id" else [sort, t.c.id]
        stmt = stmt.order_by(*(c.desc() if descending else c.asc() for c in order))
        if limit is not None:
            stmt = stmt.limit(bindparam("limit"))
        return stmt

    params: dict[str, Any] = _filter.bound(found) if found is not None else {}
    if context_id is not None:
        params["ctx"] = int(context_id)
    if after is not None:
        params["after_key"], params["after_id"] = after
    if limit is not None:
        params["limit"] = limit
    rows = filtered_rows(tx, backend.prepared_lru(key, build), params, text)
    return nodes.hydrate(tx, types, kind, rows)


def filtered_rows(tx: Tx, stmt: Prepared, params: dict[str, Any], text: str | None) -> list[Any]:
    """The rows of a statement that holds a filter; arithmetic the database refuses is a FilterError."""
    try:
        return tx.rows(stmt, params)
    except tx.backend.dbapi.Error as exc:
        if text is None or not _arithmetic_error(tx.backend.name, exc):
            raise
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise FilterError(text, 0, "values the database can compute", message) from exc


def _arithmetic_error(backend: str, exc: BaseException) -> bool:
    """An overflow, a division by zero or a value out of range, raised while evaluating a filter."""
    if backend == "postgresql":
        return str(getattr(exc, "sqlstate", "") or "").startswith("22")
    if backend == "mysql":
        return bool(exc.args) and exc.args[0] in (1264, 1365, 1690)
    return "overflow" in str(exc).lower()


def list_page(
    tx: Tx,
    types: TypeRegistry,
    kind: nodes.NodeKind,
    filter: str | None,
    *,
    order_by: str,
    descending: bool,
    page_size: int,
    page_token: str | None,
) -> Page[Any]:
    """One page of the listing, and the token of the next."""
    _positive("page_size", page_size)
    column = order_column(order_by)
    text = _filter_text(filter)
    identity = [kind.word, column, bool(descending), _digest(text)]
    after = _decode(page_token, identity) if page_token is not None else None
    found = select_nodes(
        tx, types, kind, text, order_by=order_by, descending=descending, limit=page_size + 1, after=after
    )
    if len(found) <= page_size:
        return Page(found, None)
    items = found[:page_size]
    last = items[-1]
    return Page(items, _encode([*identity, int(getattr(last, column)), int(last.id or 0)]))


def _digest(text: str | None) -> str:
    return hashlib.blake2b((text or "").encode(), digest_size=8).hexdigest()


def _encode(fields: list[Any]) -> str:
    raw = json.dumps([_TOKEN_VERSION, *fields], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode(token: str, identity: list[Any]) -> tuple[int, int]:
    """The (sort key, id) a token resumes after; InvalidArgumentError if it is not one of this listing's."""
    try:
        if not isinstance(token, str):
            raise TypeError
        fields = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        version, *rest = fields
        if version != _TOKEN_VERSION or len(rest) != 6:
            raise ValueError
        *ident, key, last_id = rest
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in (key, last_id)):
            raise ValueError
    except (TypeError, ValueError, binascii.Error, UnicodeDecodeError):
        raise InvalidArgumentError(
            f"{token!r:.60} is not a page token of this store; pass the next_page_token of the previous page"
        ) from None
    if ident != identity:
        raise InvalidArgumentError(
            "this page token belongs to another listing (another kind, filter or order); "
            "use it with the same arguments, or start again without page_token"
        )
    return int(key), int(last_id)
