"""tracker: record ML pipelines as Google ML Metadata (MLMD) lineage, in any SQL database.

import tracker
store = tracker.connect()          # ./.tracker/mlmd.sqlite, or $TRACKER_URL
"""

from typing import TYPE_CHECKING, Any

from tracker import errors

if TYPE_CHECKING:  # the names below are imported on first use: ``import tracker`` stays fast (the CLI needs that)
    from tracker.errors import (
        AlreadyExistsError,
        FilterError,
        InvalidArgumentError,
        NotFoundError,
        TrackerError,
        TrackingError,
    )
    from tracker.query import Comparison, Graph, Lineage, compare, lineage
    from tracker.sdk import (
        Cache,
        CacheDifference,
        CacheExplanation,
        Recovered,
        Run,
        RunHandle,
        attach,
        configure,
        current_run,
        explain_cache,
        invalidate_cache,
        load,
        log_metrics,
        log_params,
        recover,
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
        LineageGraph,
        Page,
        ParentContext,
        PropertyType,
        ProtoValue,
        Store,
        connect,
    )
    from tracker.values import ValueStore

#: Where each public name lives; imported on first use (PEP 562), so that ``import tracker``
#: costs no database driver or SQLAlchemy import until something needs them.
_LAZY = {
    "AlreadyExistsError": "tracker.errors",
    "Artifact": "tracker.store",
    "ArtifactBaseType": "tracker.store",
    "ArtifactState": "tracker.store",
    "ArtifactType": "tracker.store",
    "Association": "tracker.store",
    "Attribution": "tracker.store",
    "Cache": "tracker.sdk",
    "CacheDifference": "tracker.sdk",
    "CacheExplanation": "tracker.sdk",
    "Comparison": "tracker.query",
    "Context": "tracker.store",
    "ContextType": "tracker.store",
    "Event": "tracker.store",
    "EventType": "tracker.store",
    "Execution": "tracker.store",
    "ExecutionBaseType": "tracker.store",
    "ExecutionState": "tracker.store",
    "ExecutionType": "tracker.store",
    "FilterError": "tracker.errors",
    "Graph": "tracker.query",
    "InvalidArgumentError": "tracker.errors",
    "Lineage": "tracker.query",
    "LineageGraph": "tracker.store",
    "NotFoundError": "tracker.errors",
    "Page": "tracker.store",
    "ParentContext": "tracker.store",
    "PropertyType": "tracker.store",
    "ProtoValue": "tracker.store",
    "Recovered": "tracker.sdk",
    "Run": "tracker.sdk",
    "RunHandle": "tracker.sdk",
    "Store": "tracker.store",
    "TrackerError": "tracker.errors",
    "TrackingError": "tracker.errors",
    "ValueStore": "tracker.values",
    "attach": "tracker.sdk",
    "compare": "tracker.query",
    "configure": "tracker.sdk",
    "connect": "tracker.store",
    "current_run": "tracker.sdk",
    "explain_cache": "tracker.sdk",
    "invalidate_cache": "tracker.sdk",
    "lineage": "tracker.query",
    "load": "tracker.sdk",
    "log_metrics": "tracker.sdk",
    "log_params": "tracker.sdk",
    "recover": "tracker.sdk",
    "register_artifact_type": "tracker.sdk",
    "run": "tracker.sdk",
    "step": "tracker.sdk",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'tracker' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


__all__ = [
    "AlreadyExistsError",
    "Artifact",
    "ArtifactBaseType",
    "ArtifactState",
    "ArtifactType",
    "Association",
    "Attribution",
    "Cache",
    "CacheDifference",
    "CacheExplanation",
    "Comparison",
    "Context",
    "ContextType",
    "Event",
    "EventType",
    "Execution",
    "ExecutionBaseType",
    "ExecutionState",
    "ExecutionType",
    "FilterError",
    "Graph",
    "InvalidArgumentError",
    "Lineage",
    "LineageGraph",
    "NotFoundError",
    "Page",
    "ParentContext",
    "PropertyType",
    "ProtoValue",
    "Recovered",
    "Run",
    "RunHandle",
    "Store",
    "TrackerError",
    "TrackingError",
    "ValueStore",
    "attach",
    "compare",
    "configure",
    "connect",
    "current_run",
    "errors",
    "explain_cache",
    "invalidate_cache",
    "lineage",
    "load",
    "log_metrics",
    "log_params",
    "recover",
    "register_artifact_type",
    "run",
    "step",
]
