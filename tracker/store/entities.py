"""MLMD's data model as plain Python classes: types, nodes, edges and their enums.

The enums carry ml-metadata's numeric values, because those numbers are what
the database holds. Records are mutable dataclasses; the store never mutates
the objects it is given and returns new ones from every read.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any, ClassVar

__all__ = [
    "Artifact",
    "ArtifactBaseType",
    "ArtifactState",
    "ArtifactType",
    "Association",
    "Attribution",
    "Context",
    "ContextType",
    "Event",
    "EventType",
    "Execution",
    "ExecutionBaseType",
    "ExecutionState",
    "ExecutionType",
    "ParentContext",
    "PathStep",
    "PropertyType",
    "PropertyValue",
    "ProtoValue",
    "TypeKind",
]


class PropertyType(enum.IntEnum):
    """The kind of a declared property (MLMD ``PropertyType``)."""

    UNKNOWN = 0
    INT = 1
    DOUBLE = 2
    STRING = 3
    STRUCT = 4
    PROTO = 5
    BOOLEAN = 6


class ArtifactState(enum.IntEnum):
    """MLMD ``Artifact.State``."""

    UNKNOWN = 0
    PENDING = 1
    LIVE = 2
    MARKED_FOR_DELETION = 3
    DELETED = 4
    ABANDONED = 5
    REFERENCE = 6


class ExecutionState(enum.IntEnum):
    """MLMD ``Execution.State``."""

    UNKNOWN = 0
    NEW = 1
    RUNNING = 2
    COMPLETE = 3
    FAILED = 4
    CACHED = 5
    CANCELED = 6


class EventType(enum.IntEnum):
    """MLMD ``Event.Type``: how an artifact relates to an execution."""

    UNKNOWN = 0
    DECLARED_OUTPUT = 1
    DECLARED_INPUT = 2
    INPUT = 3
    OUTPUT = 4
    INTERNAL_INPUT = 5
    INTERNAL_OUTPUT = 6
    PENDING_OUTPUT = 7


class ArtifactBaseType(enum.IntEnum):
    """MLMD ``ArtifactType.SystemDefinedBaseType``."""

    UNSET = 0
    DATASET = 1
    MODEL = 2
    METRICS = 3
    STATISTICS = 4


class ExecutionBaseType(enum.IntEnum):
    """MLMD ``ExecutionType.SystemDefinedBaseType``."""

    UNSET = 0
    TRAIN = 1
    TRANSFORM = 2
    PROCESS = 3
    EVALUATE = 4
    DEPLOY = 5


class TypeKind(enum.IntEnum):
    """``Type.type_kind`` in MLMD's schema: which kind of node a type describes."""

    EXECUTION = 0
    ARTIFACT = 1
    CONTEXT = 2


@dataclass(frozen=True)
class ProtoValue:
    """A ``google.protobuf.Any``: a type URL and the serialized message bytes.

    tracker does not depend on protobuf; build the bytes with your message's
    ``SerializeToString()`` and read them back with ``ParseFromString()``.
    """

    type_url: str
    value: bytes = b""


#: What a property can hold: ``int`` (INT), ``float`` (DOUBLE), ``str`` (STRING),
#: ``bool`` (BOOLEAN), a JSON-like ``dict`` (STRUCT; numbers in it come back as
#: ``float``, as in protobuf's Struct) or a :class:`ProtoValue` (PROTO).
PropertyValue = int | float | str | bool | dict[str, Any] | ProtoValue

#: One step of an event path: a key (``str``) or an index (``int``).
PathStep = str | int


@dataclass
class _Type:
    kind: ClassVar[TypeKind]

    name: str
    properties: dict[str, PropertyType] = field(default_factory=dict)
    version: str | None = None
    description: str | None = None
    external_id: str | None = None
    id: int | None = None


@dataclass
class ArtifactType(_Type):
    """A class of artifacts (datasets, models, ...) and the properties they declare."""

    kind: ClassVar[TypeKind] = TypeKind.ARTIFACT
    base_type: ArtifactBaseType = ArtifactBaseType.UNSET


@dataclass
class ExecutionType(_Type):
    """A class of executions (a step, a trainer, ...) and the properties they declare."""

    kind: ClassVar[TypeKind] = TypeKind.EXECUTION
    base_type: ExecutionBaseType = ExecutionBaseType.UNSET


@dataclass
class ContextType(_Type):
    """A class of contexts (a run, a pipeline, an experiment, ...)."""

    kind: ClassVar[TypeKind] = TypeKind.CONTEXT


@dataclass
class _Node:
    """Fields every node shares. ``type`` names the type; ``type_id`` wins when both are set."""

    type: str | None = None
    name: str | None = None
    properties: dict[str, PropertyValue] = field(default_factory=dict)
    custom_properties: dict[str, PropertyValue] = field(default_factory=dict)
    external_id: str | None = None
    type_id: int | None = None
    id: int | None = None
    create_time_since_epoch: int = 0
    last_update_time_since_epoch: int = 0


@dataclass
class Artifact(_Node):
    """A value a step read or wrote: a dataset, a model, metrics."""

    uri: str | None = None
    state: ArtifactState = ArtifactState.UNKNOWN


@dataclass
class Execution(_Node):
    """One run of a step."""

    last_known_state: ExecutionState = ExecutionState.UNKNOWN


@dataclass
class Context(_Node):
    """A group of artifacts and executions: a run, a pipeline, an experiment.

    Unlike artifacts and executions, a context must have a name, unique within its type.
    """


@dataclass
class Event:
    """An artifact was an input or an output of an execution.

    ``path`` says where in the execution's arguments or results it sat, as keys
    and indexes: ``["model", 0]``. ``milliseconds_since_epoch`` is filled by
    the store when left at 0. In ``Store.put_execution`` the ids are filled in
    too: ``Event(type=EventType.INPUT, path=["data"])`` is enough there.
    """

    artifact_id: int = 0
    execution_id: int = 0
    type: EventType = EventType.UNKNOWN
    path: list[PathStep] = field(default_factory=list)
    milliseconds_since_epoch: int = 0


@dataclass(frozen=True)
class Attribution:
    """An artifact belongs to a context."""

    artifact_id: int
    context_id: int


@dataclass(frozen=True)
class Association:
    """An execution belongs to a context."""

    execution_id: int
    context_id: int


@dataclass(frozen=True)
class ParentContext:
    """A context sits inside another: a run inside its pipeline."""

    child_id: int
    parent_id: int
