"""Testing with tracker: replay recorded executions, compare outputs, assert on lineage, isolate stores.

The pytest plugin (``tracker.testing.pytest_plugin``, which pytest loads wherever tracker is installed)
adds the fixtures ``tracker_store``, ``tracker_run``, ``tracker_disabled`` and ``tracker_golden``. What
they use is here, for any test runner:

- :func:`replay` runs a recorded execution again on its recorded inputs and compares the outputs with the
  recorded ones (:class:`ReplayResult`); :func:`check_determinism` runs a call twice and compares the runs
  (:class:`DeterminismResult`); :func:`diff` is the structural comparison both use (:class:`Difference`).
- :func:`assert_made_from`, :func:`assert_derived_from`, :func:`assert_ran` and :func:`assert_produced`
  check what was recorded, and show the lineage they looked at when it is not what they expected.
- :func:`no_tracking` switches recording off in a block; :class:`StoreTemplate` makes fresh stores fast;
  :class:`Golden` is one execution of a golden store.

Names are imported on first use, as in ``tracker`` itself: loading the pytest plugin imports none of
tracker's machinery until a test uses a fixture. The guide is docs/testing.md.
"""

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tracker.testing._determinism import DeterminismResult, check_determinism
    from tracker.testing._diff import Difference, diff
    from tracker.testing._lineage import assert_derived_from, assert_made_from, assert_produced, assert_ran
    from tracker.testing._replay import ReplayResult, replay
    from tracker.testing._stores import Golden, StoreTemplate, no_tracking

_LAZY = {
    "DeterminismResult": "tracker.testing._determinism",
    "Difference": "tracker.testing._diff",
    "Golden": "tracker.testing._stores",
    "ReplayResult": "tracker.testing._replay",
    "StoreTemplate": "tracker.testing._stores",
    "assert_derived_from": "tracker.testing._lineage",
    "assert_made_from": "tracker.testing._lineage",
    "assert_produced": "tracker.testing._lineage",
    "assert_ran": "tracker.testing._lineage",
    "check_determinism": "tracker.testing._determinism",
    "diff": "tracker.testing._diff",
    "no_tracking": "tracker.testing._stores",
    "replay": "tracker.testing._replay",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'tracker.testing' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


__all__ = [
    "DeterminismResult",
    "Difference",
    "Golden",
    "ReplayResult",
    "StoreTemplate",
    "assert_derived_from",
    "assert_made_from",
    "assert_produced",
    "assert_ran",
    "check_determinism",
    "diff",
    "no_tracking",
    "replay",
]
