"""``tracker.log_params`` and ``tracker.log_metrics``: values that are neither arguments nor results."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tracker.errors import InvalidArgumentError
from tracker.sdk import _state
from tracker.sdk._describe import plain
from tracker.sdk.record import current_call
from tracker.sdk.runs import require_run
from tracker.store._values import check


def _merged(values: Mapping[str, Any] | None, more: dict[str, Any], what: str) -> dict[str, Any]:
    merged = {name: plain(value) for name, value in {**(values or {}), **more}.items()}
    if not merged:
        raise InvalidArgumentError(f"{what} needs at least one name=value")
    for name, value in merged.items():
        check(name, value, None)  # a PropertyError now, not a failed record later
    return merged


def log_params(params: Mapping[str, Any] | None = None, /, **more: Any) -> None:
    """Record parameters of the current step (as custom properties of its execution) or run (of its context).

    Values that look like credentials (by their name, such as ``api_key``, or their text, such as a
    URL's password) are recorded redacted; see docs/secrets.md.

    Example: ``tracker.log_params(seed=7, optimizer="adam")``.
    """
    merged = _merged(params, more, "log_params")
    if not _state.enabled.get():
        return  # tracking is off here: checked, recorded nowhere
    call = current_call()
    if call is not None and call.active:
        call.logged_params.update(merged)
    else:
        require_run().log(merged)


def log_metrics(metrics: Mapping[str, float] | None = None, /, **more: float) -> None:
    """Record metrics of the current step (as a Metrics output artifact) or run (on its context).

    Example: ``tracker.log_metrics(rmse=0.42, r2=0.81)``.
    """
    merged = _merged(metrics, more, "log_metrics")
    for name, value in merged.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise InvalidArgumentError(f"metric {name!r} is {value!r}; metrics are numbers")
    if not _state.enabled.get():
        return
    call = current_call()
    if call is not None and call.active:
        call.logged_metrics.update(merged)
    else:
        require_run().log(merged, metrics=True)
