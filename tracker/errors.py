"""Every error tracker raises on purpose, under one base class.

The hierarchy::

    TrackerError
     +-- ConfigurationError        a store URL or option that cannot work
     +-- SchemaError               the database is not a store tracker can open
     |    +-- SchemaVersionError   an MLMD schema of another version
     +-- StoreClosedError          a method called after Store.close()
     +-- NotFoundError             an id, name or type that does not exist (also LookupError)
     +-- AlreadyExistsError        a name, external id or edge that must be unique
     +-- InvalidArgumentError      a value the data model cannot hold (also ValueError)
     |    +-- PropertyError        a property unknown to its type, or of the wrong kind
     |    +-- TypeConflictError    a type redeclared with a property of another kind
     +-- ConcurrencyError          a write that kept conflicting with other writers
     +-- ValueStoreError           a stored value that cannot be written or read back
     |    +-- ValueIntegrityError  a stored value whose bytes no longer match its fingerprint
     +-- NoActiveRunError          a run-level call made outside any run or step

    TrackerWarning                 tracking could not record something; the user's code went on

Each message names the object at fault and says how to fix it. A store method
that raises has written nothing: its transaction is rolled back.
"""

from __future__ import annotations

__all__ = [
    "AlreadyExistsError",
    "ConcurrencyError",
    "ConfigurationError",
    "InvalidArgumentError",
    "NotFoundError",
    "PropertyError",
    "SchemaError",
    "SchemaVersionError",
    "StoreClosedError",
    "NoActiveRunError",
    "TrackerError",
    "TrackerWarning",
    "TypeConflictError",
    "ValueIntegrityError",
    "ValueStoreError",
]


class TrackerError(Exception):
    """Base class of every error tracker raises on purpose."""


class ConfigurationError(TrackerError):
    """A store URL, driver or option that cannot work."""


class SchemaError(TrackerError):
    """The database holds tables that are not an MLMD store; it was left untouched."""


class SchemaVersionError(SchemaError):
    """The database is an MLMD store of a schema version tracker does not write."""


class StoreClosedError(TrackerError):
    """The store was closed; open a new one with ``tracker.connect()``."""


class NotFoundError(TrackerError, LookupError):
    """An id, name or type that the store does not hold."""


class AlreadyExistsError(TrackerError):
    """A name, external id or edge that must be unique is already taken."""


class InvalidArgumentError(TrackerError, ValueError):
    """A value that MLMD's data model cannot hold."""


class PropertyError(InvalidArgumentError):
    """A property that its type does not declare, or a value of the wrong kind."""


class TypeConflictError(InvalidArgumentError):
    """A type redeclared with a property of a different kind than the stored one."""


class ConcurrencyError(TrackerError):
    """A write kept conflicting with concurrent writers and was given up."""


class ValueStoreError(TrackerError):
    """A value could not be stored, or a stored value cannot be read back."""


class ValueIntegrityError(ValueStoreError):
    """A stored value's bytes do not match the fingerprint recorded for it; it was not loaded."""


class NoActiveRunError(TrackerError):
    """A call that needs a current step or run was made outside any."""


class TrackerWarning(UserWarning):
    """Tracking could not record something; the user's code ran and returned as usual."""
