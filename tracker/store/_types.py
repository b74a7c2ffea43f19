"""Artifact, execution and context types: get-or-create, additive evolution, a cache.

A type is identified by (kind, name, version), as in MLMD. Declaring a type
again may add properties; changing the kind of a declared property raises
TypeConflictError. Types are never deleted, so the cache only needs a refresh
when another process added properties (see :meth:`TypeRegistry.by_id`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import and_, bindparam, select

from tracker.errors import InvalidArgumentError, NotFoundError, TypeConflictError
from tracker.store import schema as s
from tracker.store._sql import Tx, insert_into
from tracker.store.entities import (
    ArtifactType,
    ContextType,
    ExecutionType,
    PropertyType,
    TypeKind,
    _Type,
)

MAX_NAME = 255
TYPE_CLASSES: dict[TypeKind, type[_Type]] = {
    TypeKind.ARTIFACT: ArtifactType,
    TypeKind.EXECUTION: ExecutionType,
    TypeKind.CONTEXT: ContextType,
}
#: Base types are stored as a ParentType row to the seeded ``mlmd.*`` type; index = enum value.
_BASE_NAMES: dict[TypeKind, tuple[str, ...]] = {
    TypeKind.ARTIFACT: ("", "mlmd.Dataset", "mlmd.Model", "mlmd.Metrics", "mlmd.Statistics"),
    TypeKind.EXECUTION: ("", "mlmd.Train", "mlmd.Transform", "mlmd.Process", "mlmd.Evaluate", "mlmd.Deploy"),
    TypeKind.CONTEXT: ("",),
}
_SYSTEM_NAMES = frozenset(n for names in _BASE_NAMES.values() for n in names if n)
_COLUMNS = (
    s.type_.c.id,
    s.type_.c.name,
    s.type_.c.version,
    s.type_.c.type_kind,
    s.type_.c.description,
    s.type_.c.external_id,
)


@dataclass
class StoredType:
    """A type as the store holds it."""

    id: int
    kind: TypeKind
    name: str
    version: str | None
    description: str | None
    external_id: str | None
    properties: dict[str, PropertyType] = field(default_factory=dict)
    base_type: int = 0

    def entity(self) -> _Type:
        cls = TYPE_CLASSES[self.kind]
        made = cls(
            name=self.name,
            properties=dict(self.properties),
            version=self.version,
            description=self.description,
            external_id=self.external_id,
            id=self.id,
        )
        if self.kind is not TypeKind.CONTEXT:
            made.base_type = type(made.base_type)(self.base_type)  # type: ignore[attr-defined]
        return made


def check_name(what: str, name: str | None) -> None:
    """Names and versions are VARCHAR(255): refuse longer ones (MySQL would cut them)."""
    if name is not None and len(name) > MAX_NAME:
        raise InvalidArgumentError(f"{what} {name[:40]!r}... is {len(name)} characters long; the limit is {MAX_NAME}")


class TypeRegistry:
    """Type reads and writes for one store, with a cache of what was read."""

    def __init__(self) -> None:
        self._by_id: dict[int, StoredType] = {}
        self._by_key: dict[tuple[TypeKind, str, str | None], int] = {}

    def clear(self) -> None:
        """Forget everything: a rolled-back transaction may have filled the cache."""
        self._by_id.clear()
        self._by_key.clear()

    # --- writes ---

    def put(self, tx: Tx, declared: _Type) -> int:
        """Get or create *declared*, adding any new properties; return its id."""
        kind = declared.kind
        if not declared.name:
            raise InvalidArgumentError(f"a {_kind_word(kind)} type needs a name")
        check_name(f"{_kind_word(kind)} type name", declared.name)
        check_name("type version", declared.version)
        for prop, prop_kind in declared.properties.items():
            check_name("property name", prop)
            if PropertyType(prop_kind) is PropertyType.UNKNOWN:
                raise InvalidArgumentError(f"property {prop!r} of type {declared.name!r} has kind UNKNOWN")
        version = declared.version or None
        stored = self._find(tx, kind, declared.name, version)
        if stored is None and tx.backend.name != "sqlite":
            tx.execute(tx.backend.prepared("lock_types", _lock_types))  # serialize creators
            stored = self._find(tx, kind, declared.name, version)
        if stored is None:
            return self._create(tx, declared, version)
        self._evolve(tx, stored, declared)
        return stored.id

    def _create(self, tx: Tx, declared: _Type, version: str | None) -> int:
        stmt = tx.backend.prepared("insert_type", lambda: insert_into(tx.backend, s.type_))
        type_id = tx.insert(
            stmt,
            {
                "name": declared.name,
                "version": version,
                "type_kind": int(declared.kind),
                "description": declared.description,
                "input_type": None,
                "output_type": None,
                "external_id": declared.external_id or None,
            },
        )
        self._add_properties(tx, type_id, dict(declared.properties))
        base = int(getattr(declared, "base_type", 0))
        if base:
            self._add_base(tx, type_id, declared)
        return type_id

    def _evolve(self, tx: Tx, stored: StoredType, declared: _Type) -> None:
        added = {}
        for prop, prop_kind in declared.properties.items():
            have = stored.properties.get(prop)
            if have is None:
                added[prop] = PropertyType(prop_kind)
            elif have is not PropertyType(prop_kind):
                raise TypeConflictError(
                    f"{_kind_word(stored.kind)} type {stored.name!r} declares property {prop!r} as "
                    f"{have.name}, not {PropertyType(prop_kind).name}; keep {have.name}, or declare "
                    "the type under a new version"
                )
        base = int(getattr(declared, "base_type", 0))
        if base and stored.base_type and base != stored.base_type:
            names = _BASE_NAMES[stored.kind]
            raise TypeConflictError(
                f"type {stored.name!r} has base type {names[stored.base_type]!r}, not "
                f"{names[base]!r}; a base type cannot change"
            )
        if added:
            self._add_properties(tx, stored.id, added)
        if base and not stored.base_type:
            self._add_base(tx, stored.id, declared)
        if added or (base and not stored.base_type):
            self._by_id.pop(stored.id, None)

    def _add_properties(self, tx: Tx, type_id: int, props: dict[str, PropertyType]) -> None:
        stmt = tx.backend.prepared("insert_type_property", lambda: insert_into(tx.backend, s.type_property))
        tx.executemany(stmt, [{"type_id": type_id, "name": n, "data_type": int(k)} for n, k in props.items()])

    def _add_base(self, tx: Tx, type_id: int, declared: _Type) -> None:
        base_name = _BASE_NAMES[declared.kind][int(declared.base_type)]  # type: ignore[attr-defined]
        parent = self._find(tx, declared.kind, base_name, None)
        if parent is None:
            raise NotFoundError(f"the system type {base_name!r} is missing from this store")
        stmt = tx.backend.prepared("insert_parent_type", lambda: insert_into(tx.backend, s.parent_type))
        tx.executemany(stmt, [{"type_id": type_id, "parent_type_id": parent.id}])

    # --- reads ---

    def by_id(self, tx: Tx, type_id: int, kind: TypeKind | None = None, fresh: bool = False) -> StoredType:
        """The type with *type_id*; NotFoundError if none (of *kind*, when given)."""
        found = None if fresh else self._by_id.get(type_id)
        if found is None:
            loaded = self._load(tx, s.type_.c.id == bindparam("v"), ("type_by_id",), {"v": type_id})
            found = loaded[0] if loaded else None
        if found is None or (kind is not None and found.kind is not kind):
            what = "type" if kind is None else f"{_kind_word(kind)} type"
            raise NotFoundError(f"no {what} with id {type_id} in this store")
        return found

    def by_name(self, tx: Tx, kind: TypeKind, name: str, version: str | None) -> StoredType:
        found = self._find(tx, kind, name, version or None)
        if found is None:
            shown = f"{name!r}" + (f" version {version!r}" if version else "")
            raise NotFoundError(
                f"no {_kind_word(kind)} type {shown}; register it first with "
                f"store.put_{_kind_word(kind)}_type({TYPE_CLASSES[kind].__name__}(name={name!r}, ...))"
            )
        return found

    def all(self, tx: Tx, kind: TypeKind) -> list[StoredType]:
        """Every type of *kind* but the seeded ``mlmd.*`` ones, which MLMD lists only by name or id."""
        found = self._load(tx, s.type_.c.type_kind == bindparam("v"), ("types_of_kind",), {"v": int(kind)})
        return [t for t in found if t.name not in _SYSTEM_NAMES]

    def many(self, tx: Tx, kind: TypeKind, column: str, values: Sequence[Any]) -> list[StoredType]:
        """Types of *kind* whose *column* (``id`` or ``external_id``) is in *values*."""
        if not values:
            return []
        where = and_(s.type_.c[column].in_(bindparam("vs", expanding=True)), s.type_.c.type_kind == bindparam("k"))
        found = self._load(tx, where, ("types_by", column), {"vs": list(values), "k": int(kind)})
        order = {v: i for i, v in enumerate(values)}
        return sorted(found, key=lambda t: order[getattr(t, column)])

    def _find(self, tx: Tx, kind: TypeKind, name: str, version: str | None) -> StoredType | None:
        key = (kind, name, version)
        if key in self._by_key and self._by_key[key] in self._by_id:
            return self._by_id[self._by_key[key]]
        c = s.type_.c
        if version is None:
            where = and_(c.type_kind == bindparam("k"), c.name == bindparam("n"), c.version.is_(None))
            found = self._load(tx, where, ("type_by_name",), {"k": int(kind), "n": name})
        else:
            where = and_(c.type_kind == bindparam("k"), c.name == bindparam("n"), c.version == bindparam("v"))
            found = self._load(tx, where, ("type_by_version",), {"k": int(kind), "n": name, "v": version})
        return found[0] if found else None

    def _load(self, tx: Tx, where: Any, key: tuple[str, ...], params: dict[str, Any]) -> list[StoredType]:
        rows = tx.rows(tx.backend.prepared(key, lambda: select(*_COLUMNS).where(where).order_by(s.type_.c.id)), params)
        types = [StoredType(int(r[0]), TypeKind(r[3]), r[1], r[2], r[4], r[5]) for r in rows]
        if not types:
            return []
        ids = [t.id for t in types]
        by_id = {t.id: t for t in types}
        props = tx.rows(
            tx.backend.prepared(
                "type_props",
                lambda: select(s.type_property.c.type_id, s.type_property.c.name, s.type_property.c.data_type).where(
                    s.type_property.c.type_id.in_(bindparam("ids", expanding=True))
                ),
            ),
            {"ids": ids},
        )
        for type_id, name, data_type in props:
            by_id[int(type_id)].properties[name] = PropertyType(data_type or 0)
        parent = s.type_.alias("parent")
        bases = tx.rows(
            tx.backend.prepared(
                "type_bases",
                lambda: (
                    select(s.parent_type.c.type_id, parent.c.name)
                    .join(parent, parent.c.id == s.parent_type.c.parent_type_id)
                    .where(s.parent_type.c.type_id.in_(bindparam("ids", expanding=True)))
                ),
            ),
            {"ids": ids},
        )
        for type_id, parent_name in bases:
            names = _BASE_NAMES[by_id[int(type_id)].kind]
            if parent_name in names:
                by_id[int(type_id)].base_type = names.index(parent_name)
        for t in types:
            self._by_id[t.id] = t
            self._by_key[(t.kind, t.name, t.version)] = t.id
        return types


def _kind_word(kind: TypeKind) -> str:
    return kind.name.lower()


def _lock_types() -> Any:
    return select(s.mlmd_env.c.schema_version).with_for_update()
