"""The public face: what `tracker` and its layers export, and the error hierarchy."""

from __future__ import annotations

import inspect
import subprocess
import sys

import pytest

import tracker
import tracker.errors
import tracker.store


def _public(module: object) -> set[str]:
    return {
        name
        for name, value in vars(module).items()
        if not name.startswith("_") and (inspect.isclass(value) or inspect.isfunction(value) or inspect.ismodule(value))
        and getattr(value, "__module__", getattr(value, "__name__", "")).startswith("tracker")
    }  # fmt: skip


def test_tracker_all_lists_every_public_name() -> None:
    """tracker.__all__ is sorted and names exactly what the package exposes."""
    assert tracker.__all__ == sorted(tracker.__all__)
    for name in tracker.__all__:  # names are imported on first use
        getattr(tracker, name)
    assert set(dir(tracker)) >= set(tracker.__all__)
    assert set(tracker.__all__) == _public(tracker) - {
        "cli",
        "query",
        "sdk",
        "store",
        "testing",
        "values",
    }  # layers, reached as tracker.store ...


def test_import_tracker_is_light() -> None:
    """`import tracker` loads neither SQLAlchemy nor the SDK: the command line starts fast."""
    code = "import sys, tracker; print(sorted(m for m in sys.modules if m.split('.')[0] in ('sqlalchemy', 'tracker')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "['tracker', 'tracker.errors']"


def test_an_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no attribute 'stepp'"):
        tracker.stepp  # type: ignore[attr-defined]  # noqa: B018


def test_store_all_lists_every_public_name() -> None:
    """tracker.store.__all__ names the entities, Store and connect."""
    assert tracker.store.__all__ == sorted(tracker.store.__all__)
    assert set(tracker.store.__all__) == _public(tracker.store) - {"entities", "schema", "store"}


def test_every_error_is_a_tracker_error_and_documented() -> None:
    """Each class in tracker.errors derives from TrackerError (or is its warning) and appears in the hierarchy."""
    classes = [v for v in vars(tracker.errors).values() if inspect.isclass(v) and issubclass(v, Exception)]
    assert {c.__name__ for c in classes} == set(tracker.errors.__all__)
    for cls in classes:
        assert issubclass(cls, (tracker.errors.TrackerError, tracker.errors.TrackerWarning))
        assert cls.__name__ in (tracker.errors.__doc__ or "")
        assert cls.__doc__


def test_lookup_and_value_errors_keep_their_builtin_parents() -> None:
    """NotFoundError is a LookupError and InvalidArgumentError a ValueError, for generic handlers."""
    assert issubclass(tracker.errors.NotFoundError, LookupError)
    assert issubclass(tracker.errors.PropertyError, ValueError)
