"""Values: content-addressed storage of the Python objects steps read and write."""

from tracker.values.store import StoredValue, ValueStore, load_inline

__all__ = ["StoredValue", "ValueStore", "load_inline"]
