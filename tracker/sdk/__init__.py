"""The fluent layer: ``@step``, ``run``, ``log_*`` and ``load`` over an explicit Store."""

from tracker.sdk._describe import register_artifact_type
from tracker.sdk._liveness import Recovered, recover
from tracker.sdk._state import configure
from tracker.sdk.cache import Cache
from tracker.sdk.explain import CacheDifference, CacheExplanation, explain_cache, invalidate_cache
from tracker.sdk.load import load
from tracker.sdk.log import log_metrics, log_params
from tracker.sdk.runs import Run, RunHandle, attach, current_run, run
from tracker.sdk.step import step

__all__ = [
    "Cache",
    "CacheDifference",
    "CacheExplanation",
    "Recovered",
    "Run",
    "RunHandle",
    "attach",
    "configure",
    "current_run",
    "explain_cache",
    "invalidate_cache",
    "load",
    "log_metrics",
    "log_params",
    "recover",
    "register_artifact_type",
    "run",
    "step",
]
