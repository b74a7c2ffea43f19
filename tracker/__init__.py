"""tracker: record ML pipelines as Google ML Metadata (MLMD) lineage, in any SQL database.

import tracker
store = tracker.connect()          # ./.tracker/mlmd.sqlite, or $TRACKER_URL
"""

from tracker import errors
from tracker.errors import (
    AlreadyExistsError,
    NotFoundError,
    TrackerError,
)
from tracker.store import (
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
    Store,
    connect,
)

__all__ = [
    "AlreadyExistsError",
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
    "NotFoundError",
    "ParentContext",
    "PropertyType",
    "ProtoValue",
    "Store",
    "TrackerError",
    "connect",
    "errors",
]
