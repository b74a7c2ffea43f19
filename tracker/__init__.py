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
from tracker.sdk import (
    Run,
    RunHandle,
    attach,
    configure,
    current_run,
    load,
    log_metrics,
    log_params,
    register_artifact_type,
    run,
    step,
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
from tracker.values import ValueStore

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
    "Run",
    "RunHandle",
    "Store",
    "TrackerError",
    "ValueStore",
    "attach",
    "configure",
    "connect",
    "current_run",
    "errors",
    "load",
    "log_metrics",
    "log_params",
    "register_artifact_type",
    "run",
    "step",
]
