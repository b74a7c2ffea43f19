"""The metadata store: MLMD's data model and schema on SQLAlchemy Core."""

from tracker.store._lineage import LineageGraph
from tracker.store._query import Page
from tracker.store.entities import (
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
from tracker.store.store import Store, connect

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
    "LineageGraph",
    "Page",
    "ParentContext",
    "PropertyType",
    "ProtoValue",
    "Store",
    "connect",
]
