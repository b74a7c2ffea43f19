"""Converters between ml-metadata's protos and tracker's records, and checks of the converters themselves.

The other interop modules import from here: :func:`from_mlmd` and :func:`to_mlmd`
translate records (one converter each way), :class:`Mlmd` puts tracker's API in
front of a real ml-metadata store, :func:`snapshot` reads everything a store holds
and :func:`canon` makes two reads comparable with ``==`` (tagging every number and
bool with its type, since ``1 == 1.0 == True`` in Python).
"""

from __future__ import annotations

import dataclasses
import enum
import time
from collections.abc import Sequence
from typing import Any

import pytest
from google.protobuf import struct_pb2, wrappers_pb2
from ml_metadata.metadata_store import metadata_store
from ml_metadata.proto import metadata_store_pb2 as pb

from tracker import (
    Artifact,
    ArtifactBaseType,
    ArtifactState,
    ArtifactType,
    Association,
    Attribution,
    Context,
    ContextType,
    Event,
    EventType,
    Execution,
    ExecutionBaseType,
    ExecutionState,
    ExecutionType,
    ParentContext,
    PropertyType,
    ProtoValue,
)

# --- ml-metadata protos -> tracker records ---


def _optional(message: Any, name: str) -> Any:
    return getattr(message, name) if message.HasField(name) else None


def _json(value: struct_pb2.Value) -> Any:
    kind = value.WhichOneof("kind")
    assert kind is not None, f"a struct holds a Value with nothing set: {value}"
    if kind == "struct_value":
        return {k: _json(v) for k, v in value.struct_value.fields.items()}
    if kind == "list_value":
        return [_json(v) for v in value.list_value.values]
    return None if kind == "null_value" else getattr(value, kind)  # number_value is a float


def value_from_proto(value: pb.Value) -> Any:
    """A property value as tracker holds it: int, float, str, bool, dict or ProtoValue."""
    kind = value.WhichOneof("value")
    assert kind is not None, f"ml-metadata returned a property with no value: {value}"
    if kind == "struct_value":
        return {k: _json(v) for k, v in value.struct_value.fields.items()}
    if kind == "proto_value":
        return ProtoValue(value.proto_value.type_url, value.proto_value.value)
    return getattr(value, kind)


def from_mlmd(message: Any) -> Any:
    """tracker's record for an ml-metadata type, node or event (or a list of them; None stays None)."""
    if message is None:
        return None
    if isinstance(message, (list, tuple)):
        return [from_mlmd(m) for m in message]
    if isinstance(message, pb.Event):
        steps = [getattr(step, step.WhichOneof("value")) for step in message.path.steps]
        kind = EventType(message.type)
        return Event(message.artifact_id, message.execution_id, kind, steps, message.milliseconds_since_epoch)
    if isinstance(message, (pb.ArtifactType, pb.ExecutionType, pb.ContextType)):
        cls = {pb.ArtifactType: ArtifactType, pb.ExecutionType: ExecutionType, pb.ContextType: ContextType}
        made = cls[type(message)](
            name=message.name,
            properties={k: PropertyType(v) for k, v in message.properties.items()},
            version=_optional(message, "version"),
            description=_optional(message, "description"),
            external_id=_optional(message, "external_id"),
            id=message.id,
        )
        if isinstance(made, (ArtifactType, ExecutionType)):
            made.base_type = type(made.base_type)(message.base_type)
        return made
    node = {pb.Artifact: Artifact, pb.Execution: Execution, pb.Context: Context}[type(message)](
        type=_optional(message, "type"),
        name=_optional(message, "name"),
        properties={k: value_from_proto(v) for k, v in message.properties.items()},
        custom_properties={k: value_from_proto(v) for k, v in message.custom_properties.items()},
        external_id=_optional(message, "external_id"),
        type_id=message.type_id,
        id=message.id,
        create_time_since_epoch=message.create_time_since_epoch,
        last_update_time_since_epoch=message.last_update_time_since_epoch,
    )
    if isinstance(node, Artifact):
        node.uri, node.state = _optional(message, "uri"), ArtifactState(message.state)
    if isinstance(node, Execution):
        node.last_known_state = ExecutionState(message.last_known_state)
    return node


# --- tracker records -> ml-metadata protos ---


def value_to_proto(value: Any, target: pb.Value) -> None:
    """Fill *target* with a tracker property value."""
    if isinstance(value, bool):
        target.bool_value = value
    elif isinstance(value, int):
        target.int_value = value
    elif isinstance(value, float):
        target.double_value = value
    elif isinstance(value, str):
        target.string_value = value
    elif isinstance(value, ProtoValue):
        target.proto_value.type_url, target.proto_value.value = value.type_url, value.value
    else:
        target.struct_value.SetInParent()  # an empty dict is still a struct
        target.struct_value.update(value)


def to_mlmd(record: Any) -> Any:
    """The ml-metadata proto for a tracker type, node, event or edge; unset fields stay unset."""
    if isinstance(record, Event):
        event = pb.Event(type=int(record.type))
        for name in ("artifact_id", "execution_id", "milliseconds_since_epoch"):
            if getattr(record, name):  # put_execution fills the ids; the store fills the time
                setattr(event, name, getattr(record, name))
        for step in record.path:
            event.path.steps.add(**{"key" if isinstance(step, str) else "index": step})
        return event
    if isinstance(record, (Attribution, Association, ParentContext)):
        return getattr(pb, type(record).__name__)(**dataclasses.asdict(record))
    if isinstance(record, (ArtifactType, ExecutionType, ContextType)):
        made = getattr(pb, type(record).__name__)(name=record.name, properties=record.properties)
        for name in ("id", "version", "description", "external_id"):
            if getattr(record, name) is not None:
                setattr(made, name, getattr(record, name))
        if getattr(record, "base_type", 0):  # ml-metadata refuses an explicit UNSET on a new type
            made.base_type = int(record.base_type)
        return made
    node = getattr(pb, type(record).__name__)()
    for name in ("id", "type_id", "name", "external_id", "uri"):
        if getattr(record, name, None) is not None:
            setattr(node, name, getattr(record, name))
    for name in ("state", "last_known_state"):
        if getattr(record, name, 0):  # UNKNOWN is left unset, as tracker leaves the column NULL
            setattr(node, name, int(getattr(record, name)))
    for name, value in record.properties.items():
        value_to_proto(value, node.properties[name])
    for name, value in record.custom_properties.items():
        value_to_proto(value, node.custom_properties[name])
    return node


class Mlmd:
    """ml-metadata behind tracker's API: tracker records go in, tracker records come out."""

    def __init__(self, store: metadata_store.MetadataStore) -> None:
        self.raw = store

    def _put_type(self, method: str, declared: Any) -> int:
        return int(getattr(self.raw, method)(to_mlmd(declared), can_add_fields=True))  # tracker adds, too

    def put_artifact_type(self, declared: ArtifactType) -> int:
        return self._put_type("put_artifact_type", declared)

    def put_execution_type(self, declared: ExecutionType) -> int:
        return self._put_type("put_execution_type", declared)

    def put_context_type(self, declared: ContextType) -> int:
        return self._put_type("put_context_type", declared)

    def put_artifacts(self, records: Sequence[Artifact]) -> list[int]:
        return list(self.raw.put_artifacts([to_mlmd(r) for r in records]))

    def put_executions(self, records: Sequence[Execution]) -> list[int]:
        return list(self.raw.put_executions([to_mlmd(r) for r in records]))

    def put_contexts(self, records: Sequence[Context]) -> list[int]:
        return list(self.raw.put_contexts([to_mlmd(r) for r in records]))

    def put_events(self, events: Sequence[Event]) -> None:
        self.raw.put_events([to_mlmd(e) for e in events])

    def put_attributions_and_associations(self, attributions: Sequence[Any], associations: Sequence[Any]) -> None:
        self.raw.put_attributions_and_associations(
            [to_mlmd(a) for a in attributions], [to_mlmd(a) for a in associations]
        )

    def put_parent_contexts(self, links: Sequence[ParentContext]) -> None:
        self.raw.put_parent_contexts([to_mlmd(link) for link in links])

    def put_execution(self, execution: Execution, pairs: Sequence[Any], contexts: Sequence[Context]) -> Any:
        made = [(to_mlmd(a), None if e is None else to_mlmd(e)) for a, e in pairs]
        execution_id, artifact_ids, context_ids = self.raw.put_execution(
            to_mlmd(execution), made, [to_mlmd(c) for c in contexts]
        )
        return execution_id, list(artifact_ids), list(context_ids)

    def __getattr__(self, name: str) -> Any:
        """Every ``get_*`` method of MetadataStore, returning tracker records."""
        method = getattr(self.raw, name)
        return lambda *args, **kwargs: from_mlmd(method(*args, **kwargs))


# --- comparing what the two libraries read ---


def canon(x: Any) -> Any:
    """*x* made comparable with ``==``: numbers and bools tagged with their type (1, 1.0 and True differ)."""
    if isinstance(x, enum.Enum):
        return f"{type(x).__name__}.{x.name}"
    if isinstance(x, (bool, int, float)):
        return (type(x).__name__, x)
    if isinstance(x, dict):
        return {k: canon(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [canon(v) for v in x]
    if dataclasses.is_dataclass(x):
        return {"record": type(x).__name__, **{f.name: canon(getattr(x, f.name)) for f in dataclasses.fields(x)}}
    return x  # str, bytes, None


def snapshot(store: Any) -> dict[str, list[Any]]:
    """Everything a store holds, read through its public API (tracker's, or ml-metadata's behind Mlmd)."""
    executions, contexts = store.get_executions(), store.get_contexts()
    events = store.get_events_by_execution_ids([e.id for e in executions])
    # ml-metadata's get_*_types() leave external_id out (its by-id read fills it): read the types by id.
    return {
        "artifact_types": store.get_artifact_types_by_id([t.id for t in store.get_artifact_types()]),
        "execution_types": store.get_execution_types_by_id([t.id for t in store.get_execution_types()]),
        "context_types": store.get_context_types_by_id([t.id for t in store.get_context_types()]),
        "artifacts": sorted(store.get_artifacts(), key=lambda n: n.id),  # ml-metadata: in no set order
        "executions": sorted(executions, key=lambda n: n.id),
        "contexts": sorted(contexts, key=lambda n: n.id),
        "events": sorted(events, key=lambda e: (e.execution_id, e.artifact_id, e.type)),
        "attributions": sorted(
            (Attribution(a.id, c.id) for c in contexts for a in store.get_artifacts_by_context(c.id)),
            key=dataclasses.astuple,
        ),
        "associations": sorted(
            (Association(e.id, c.id) for c in contexts for e in store.get_executions_by_context(c.id)),
            key=dataclasses.astuple,
        ),
        "parent_contexts": sorted(
            (ParentContext(c.id, p.id) for c in contexts for p in store.get_parent_contexts_by_context(c.id)),
            key=dataclasses.astuple,
        ),
    }


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def settle(seen: dict[str, list[Any]], since: int, until: int) -> dict[str, list[Any]]:
    """Set to 0 the times that the store filled in while the scenario ran (others stay, and will differ)."""
    for node in seen["artifacts"] + seen["executions"] + seen["contexts"]:
        assert since <= node.create_time_since_epoch <= node.last_update_time_since_epoch <= until, node
        node.create_time_since_epoch = node.last_update_time_since_epoch = 0
    for event in seen["events"]:
        if since <= event.milliseconds_since_epoch <= until:
            event.milliseconds_since_epoch = 0
    return seen


def as_read(value: Any) -> Any:
    """A property value as a store returns it: numbers inside a struct are floats, as in protobuf's Struct."""
    return _floats(value) if isinstance(value, dict) else value


def _floats(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _floats(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_floats(v) for v in value]
    return float(value) if type(value) is int else value


# --- checks of the converters (no database) ---

HELLO = ProtoValue(
    "type.googleapis.com/google.protobuf.StringValue", wrappers_pb2.StringValue(value="hi").SerializeToString()
)


@pytest.mark.parametrize(
    "value",
    [0, -(2**63), 2**63 - 1, 0.0, 2.5, "", "☃", True, False, {}, {"a": [1, None, True, {"b": []}]}, HELLO,
     ProtoValue("type.googleapis.com/google.protobuf.Empty")],
    ids=repr,
)  # fmt: skip
def test_property_values_survive_both_converters(value: Any) -> None:
    """A property value turned into an ml-metadata Value and back is what a store reads (struct numbers as floats)."""
    proto = pb.Value()
    value_to_proto(value, proto)
    assert canon(value_from_proto(proto)) == canon(as_read(value))


def test_records_survive_both_converters() -> None:
    """Types, nodes with every field set, and events turned into protos and back are equal to the originals."""
    records = [
        ArtifactType("A", {"p": PropertyType.PROTO}, version="1", description="d", external_id="x", id=10,
                     base_type=ArtifactBaseType.STATISTICS),
        ExecutionType("E", {"b": PropertyType.BOOLEAN}, id=11, base_type=ExecutionBaseType.DEPLOY),
        ContextType("C", {"s": PropertyType.STRUCT}, description="", id=12),
        Artifact(type="A", name="n", properties={"p": HELLO}, custom_properties={"c": 1.5}, external_id="y",
                 type_id=10, id=1, create_time_since_epoch=5, last_update_time_since_epoch=6, uri="u",
                 state=ArtifactState.REFERENCE),
        Execution(type="E", type_id=11, id=2, properties={"b": False}, last_known_state=ExecutionState.CANCELED),
        Context(type="C", name="c", type_id=12, id=3, custom_properties={"s": {"k": "v"}}),
        Event(1, 2, EventType.PENDING_OUTPUT, ["k", 0, "", -1], 1234),
    ]  # fmt: skip
    for record in records:
        if isinstance(record, (Artifact, Execution, Context)):
            made = to_mlmd(record)
            # the store fills in the type name and the times on read; to_mlmd leaves them out
            made.type = record.type
            made.create_time_since_epoch = record.create_time_since_epoch
            made.last_update_time_since_epoch = record.last_update_time_since_epoch
            assert canon(from_mlmd(made)) == canon(record)
        else:
            assert canon(from_mlmd(to_mlmd(record))) == canon(record)


def test_canon_tells_apart_what_python_calls_equal() -> None:
    """canon() keeps 1, 1.0 and True apart, and enum members apart from their numbers."""
    assert len({repr(canon(v)) for v in (1, 1.0, True, ExecutionState.NEW)}) == 4
    assert canon({"a": [1, {"b": 2.0}]}) != canon({"a": [1.0, {"b": 2.0}]})
