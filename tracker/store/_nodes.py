"""Artifacts, executions and contexts: insert, update, read and delete, with their properties.

The three kinds share one implementation, driven by a :class:`NodeKind`
that names each kind's tables and columns.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

from sqlalchemy import Table, bindparam, delete, select, update

from tracker.errors import InvalidArgumentError, NotFoundError, PropertyError
from tracker.store import _values as values
from tracker.store import schema as s
from tracker.store._sql import Tx, chunks, insert_into, rows_for_ids
from tracker.store._types import StoredType, TypeRegistry, check_name
from tracker.store.entities import (
    Artifact,
    ArtifactState,
    Context,
    Execution,
    ExecutionState,
    PropertyType,
    TypeKind,
    _Node,
)


@dataclass(frozen=True)
class NodeKind:
    """Where one kind of node lives in MLMD's schema."""

    word: str
    type_kind: TypeKind
    table: Table
    props: Table
    owner: str
    cls: type[_Node]
    state: str | None = None
    states: type[IntEnum] | None = None

    @property
    def columns(self) -> list[str]:
        return [c.name for c in self.table.columns]


ARTIFACT = NodeKind(
    "artifact", TypeKind.ARTIFACT, s.artifact, s.artifact_property, "artifact_id", Artifact, "state", ArtifactState
)
EXECUTION = NodeKind(
    "execution",
    TypeKind.EXECUTION,
    s.execution,
    s.execution_property,
    "execution_id",
    Execution,
    "last_known_state",
    ExecutionState,
)
CONTEXT = NodeKind("context", TypeKind.CONTEXT, s.context, s.context_property, "context_id", Context)
_EMPTY_VALUES = dict.fromkeys((*values.VALUE_COLUMNS, "byte_value"))


def put(
    tx: Tx, types: TypeRegistry, kind: NodeKind, nodes: Sequence[_Node], now: int, *, reuse_existing: bool = False
) -> list[int]:
    """Insert nodes without an id, update nodes with one; return ids in input order.

    With *reuse_existing*, a new node that exists already resolves to the
    existing one, unchanged (get-or-create): a context by its type and name,
    an artifact or execution by its external id.
    """
    ids: list[int] = []
    prop_rows: list[dict[str, Any]] = []
    for node in nodes:
        if not isinstance(node, kind.cls):
            raise InvalidArgumentError(f"expected {kind.cls.__name__}, got {type(node).__name__}")
        stored_type = resolve_type(tx, types, kind, node)
        props = _property_rows(tx, types, kind, stored_type, node)
        row = _row(kind, node, stored_type.id, now)
        if node.id is None:
            node_id = _reuse(tx, kind, row) if reuse_existing else None
            if node_id is None:
                node_id, inserted = _insert(tx, kind, row, reuse_existing)
                if inserted:
                    prop_rows += _owned(kind, node_id, props)
        else:
            node_id = int(node.id)
            _update(tx, kind, node_id, row)
            prop_rows += _owned(kind, node_id, _changed_properties(tx, kind, node_id, props))
        ids.append(node_id)
    tx.executemany(
        tx.backend.prepared(("insert_props", kind.word), lambda: insert_into(tx.backend, kind.props)), prop_rows
    )
    return ids


def resolve_type(tx: Tx, types: TypeRegistry, kind: NodeKind, node: _Node) -> StoredType:
    """The stored type a node names by ``type_id``, or else by ``type`` (its name)."""
    if node.type_id is not None:
        return types.by_id(tx, int(node.type_id), kind.type_kind)
    if node.type:
        return types.by_name(tx, kind.type_kind, node.type, None)
    raise InvalidArgumentError(
        f"this {kind.word} names no type; set type='TypeName' or type_id=<id> "
        f"(register the type with store.put_{kind.word}_type)"
    )


def _row(kind: NodeKind, node: _Node, type_id: int, now: int) -> dict[str, Any]:
    check_name(f"{kind.word} name", node.name)
    check_name(f"{kind.word} external_id", node.external_id)
    if kind is CONTEXT and not node.name:
        raise InvalidArgumentError("a context needs a name, unique within its type")
    row: dict[str, Any] = {
        "type_id": type_id,
        "name": node.name or None,
        "external_id": node.external_id or None,
        "create_time_since_epoch": now,
        "last_update_time_since_epoch": now,
    }
    if kind is ARTIFACT:
        row["uri"] = node.uri  # type: ignore[attr-defined]
    if kind.state is not None:
        state = int(getattr(node, kind.state))
        row[kind.state] = state or None  # MLMD leaves UNKNOWN as NULL
    return row


def _property_rows(
    tx: Tx, types: TypeRegistry, kind: NodeKind, stored_type: StoredType, node: _Node
) -> list[dict[str, Any]]:
    flavor = tx.backend.flavor
    rows = []
    for custom, props in ((False, node.properties), (True, node.custom_properties)):
        for name, value in props.items():
            check_name("property name", name)
            declared: PropertyType | None = None
            if not custom:
                if name not in stored_type.properties:  # another process may have added it
                    stored_type = types.by_id(tx, stored_type.id, fresh=True)
                if name not in stored_type.properties:
                    raise PropertyError(
                        f"{kind.word} type {stored_type.name!r} declares no property {name!r}; "
                        f"declare it with store.put_{kind.word}_type(...) or pass it in custom_properties"
                    )
                declared = stored_type.properties[name]
            prop_kind = values.check(name, value, declared)
            row = {**_EMPTY_VALUES, "name": name, "is_custom_property": custom}
            row[values.COLUMN[prop_kind]] = values.encode(value, prop_kind, flavor)
            rows.append(row)
    return rows


def _owned(kind: NodeKind, node_id: int, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    for row in rows:
        row[kind.owner] = node_id
    return rows


def _insert(tx: Tx, kind: NodeKind, row: dict[str, Any], reuse_existing: bool) -> tuple[int, bool]:
    """Insert a node row: (its id, True); or, having lost a race to create it, (the winner's id, False)."""
    stmt = tx.backend.prepared(("insert_node", kind.word), lambda: insert_into(tx.backend, kind.table))
    if not reuse_existing or tx.backend.name == "sqlite":  # SQLite: the write lock rules out races
        return tx.insert(stmt, row), True
    savepoint = tx.savepoint()
    try:
        return tx.insert(stmt, row), True
    except tx.backend.dbapi.IntegrityError:
        tx.rollback_to(savepoint)  # another process created it since we looked
        found = _reuse(tx, kind, row)
        if found is None:
            raise
        return found, False


def _reuse(tx: Tx, kind: NodeKind, row: dict[str, Any]) -> int | None:
    t = kind.table
    if kind is CONTEXT:
        stmt = tx.backend.prepared(
            ("id_by_type_name", kind.word),
            lambda: select(t.c.id).where(t.c.type_id == bindparam("type_id"), t.c.name == bindparam("name")),
        )
        found = tx.rows(stmt, {"type_id": row["type_id"], "name": row["name"]})
    elif row["external_id"] is not None:
        stmt = tx.backend.prepared(
            ("id_by_external_id", kind.word), lambda: select(t.c.id).where(t.c.external_id == bindparam("x"))
        )
        found = tx.rows(stmt, {"x": row["external_id"]})
    else:
        return None
    return int(found[0][0]) if found else None


def _update(tx: Tx, kind: NodeKind, node_id: int, row: dict[str, Any]) -> None:
    t = kind.table
    stmt = tx.backend.prepared(("type_of", kind.word), lambda: select(t.c.type_id).where(t.c.id == bindparam("id")))
    found = tx.rows(stmt, {"id": node_id})
    if not found:
        raise NotFoundError(f"no {kind.word} with id {node_id} to update; leave id unset to insert a new one")
    if int(found[0][0]) != row["type_id"]:
        raise InvalidArgumentError(
            f"{kind.word} {node_id} has type id {found[0][0]}, not {row['type_id']}; a node's type cannot change"
        )
    changes = {k: v for k, v in row.items() if k != "create_time_since_epoch"}
    stmt = tx.backend.prepared(
        ("update_node", kind.word),
        lambda: update(t).where(t.c.id == bindparam("node_id")).values({k: bindparam(k) for k in changes}),
    )
    tx.execute(stmt, {**changes, "node_id": node_id})


def _changed_properties(tx: Tx, kind: NodeKind, node_id: int, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Make the stored properties of a node exactly *rows*, touching only what differs; return rows to insert.

    An update replaces a node's properties (as in MLMD), but rewriting unchanged
    rows would only churn MLMD's property indexes.
    """
    p = kind.props
    columns = ("name", "is_custom_property", *values.VALUE_COLUMNS)
    stmt = tx.backend.prepared(("props_of", kind.word), lambda: select(*(p.c[c] for c in columns)).where(
        p.c[kind.owner] == bindparam("id")))  # fmt: skip
    stored = {(r[0], bool(r[1])): _comparable(r[2:]) for r in tx.rows(stmt, {"id": node_id})}
    wanted = {(r["name"], r["is_custom_property"]): r for r in rows}
    stale = [key for key, value in stored.items()
             if key not in wanted or _comparable([wanted[key][c] for c in values.VALUE_COLUMNS]) != value]  # fmt: skip
    if stale:
        one = (p.c[kind.owner] == bindparam("id"), p.c.name == bindparam("n"), p.c.is_custom_property == bindparam("c"))
        stmt = tx.backend.prepared(("delete_prop", kind.word), lambda: delete(p).where(*one))
        tx.executemany(stmt, [{"id": node_id, "n": name, "c": custom} for name, custom in stale])
    return [row for key, row in wanted.items() if key not in stored or key in stale]


def _comparable(value_columns: Sequence[Any]) -> tuple[Any, ...]:
    """Property value columns as one comparable tuple, whatever types the driver returned."""
    int_value, double_value, string_value, proto_value, bool_value = value_columns
    if isinstance(proto_value, (bytes, bytearray, memoryview)):
        proto_value = bytes(proto_value)
    elif isinstance(proto_value, str):
        proto_value = proto_value.encode()
    return (int_value, double_value, string_value, proto_value, None if bool_value is None else bool(bool_value))


# --- reads ---


def get(tx: Tx, types: TypeRegistry, kind: NodeKind, key: str, where: Any, params: dict[str, Any]) -> list[_Node]:
    """Nodes matching *where* (cached under *key*), ordered by id."""
    t = kind.table
    stmt = tx.backend.prepared(("nodes", kind.word, key), lambda: select(t).where(where).order_by(t.c.id))
    return hydrate(tx, types, kind, tx.rows(stmt, params))


def get_by_ids(tx: Tx, types: TypeRegistry, kind: NodeKind, ids: Iterable[int]) -> list[_Node]:
    """The nodes with these ids, in the order given; missing ids are left out."""
    wanted = [int(i) for i in ids]
    t = kind.table
    rows = rows_for_ids(tx, ("nodes_by_ids", kind.word), lambda where_in: select(t).where(where_in(t.c.id)), wanted)
    found = {node.id: node for node in hydrate(tx, types, kind, rows)}
    return [found[i] for i in dict.fromkeys(wanted) if i in found]


def require(tx: Tx, kind: NodeKind, ids: Iterable[int]) -> None:
    """NotFoundError unless every id names a stored node of this kind."""
    wanted = set(int(i) for i in ids)
    t = kind.table
    stmt = tx.backend.prepared(
        ("existing", kind.word), lambda: select(t.c.id).where(t.c.id.in_(bindparam("ids", expanding=True)))
    )
    seen: set[int] = set()
    for batch in chunks(sorted(wanted)):
        seen.update(int(r[0]) for r in tx.rows(stmt, {"ids": batch}))
    missing = sorted(wanted - seen)
    if missing:
        raise NotFoundError(f"no {kind.word} with id {', '.join(map(str, missing[:10]))} in this store")


def hydrate(tx: Tx, types: TypeRegistry, kind: NodeKind, rows: Sequence[Any]) -> list[_Node]:
    """Node objects, with their properties and type names, from rows of the node table."""
    p = kind.props
    prop_rows = rows_for_ids(
        tx, ("props", kind.word), lambda where_in: select(p).where(where_in(p.c[kind.owner])), [r[0] for r in rows]
    )
    return build(kind, rows, prop_rows, lambda type_id: types.by_id(tx, type_id).name, tx.backend.flavor)


def build(
    kind: NodeKind,
    rows: Sequence[Any],
    prop_rows: Sequence[Any],
    type_name: Callable[[int], str | None],
    flavor: values.Flavor,
) -> list[_Node]:
    """Node objects from rows of the node table and of its property table (in their column order), in the
    order of *rows*; ``type_name(type_id)`` names their types."""
    columns = {name: i for i, name in enumerate(kind.columns)}
    pcols = {c.name: i for i, c in enumerate(kind.props.columns)}
    owner, name_at, custom_at = pcols[kind.owner], pcols["name"], pcols["is_custom_property"]
    props: dict[int, list[Any]] = {}
    for prop in prop_rows:
        props.setdefault(int(prop[owner]), []).append(prop)
    at_id, at_type, at_name, at_ext = columns["id"], columns["type_id"], columns["name"], columns["external_id"]
    at_created, at_updated = columns["create_time_since_epoch"], columns["last_update_time_since_epoch"]
    at_uri = columns.get("uri")
    at_state = columns[kind.state] if kind.state is not None else None
    states = list(kind.states) if kind.states is not None else []
    by_value = {int(member): member for member in states}
    type_names: dict[int, str | None] = {}
    cls = kind.cls
    prop_names = [c.name for c in kind.props.columns]
    out = []
    for r in rows:
        node = cls()
        node.id = int(r[at_id])
        type_id = node.type_id = int(r[at_type])
        if type_id not in type_names:
            type_names[type_id] = type_name(type_id)
        node.type = type_names[type_id]
        node.name = r[at_name]
        node.external_id = r[at_ext]
        node.create_time_since_epoch = int(r[at_created])
        node.last_update_time_since_epoch = int(r[at_updated])
        if at_uri is not None:
            node.uri = r[at_uri]  # type: ignore[attr-defined]
        if at_state is not None and kind.state is not None:
            state = r[at_state] or 0
            setattr(node, kind.state, by_value.get(state) or kind.states(state))  # type: ignore[misc]
        for prop in props.get(node.id, ()):
            target = node.custom_properties if prop[custom_at] else node.properties
            target[prop[name_at]] = values.decode_row(prop, pcols, prop_names, flavor)
        out.append(node)
    return out
