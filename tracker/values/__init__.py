"""Values: content-addressed storage of the Python objects steps read and write."""

from tracker.values.store import StoredValue, ValueStore

__all__ = ["StoredValue", "ValueStore"]
