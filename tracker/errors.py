"""Every error tracker raises on purpose, under one base class.

The hierarchy::

    TrackerError
     +-- ConfigurationError        a store URL or option that cannot work
     |    +-- RedactionConfigError  a redact_names / redact_patterns entry that cannot be used (also ValueError)
     +-- SchemaError               the database is not a store tracker can open
     |    +-- SchemaVersionError   an MLMD schema of another version
     +-- StoreClosedError          a method called after Store.close()
     +-- NotFoundError             an id, name or type that does not exist (also LookupError)
     +-- AlreadyExistsError        a name, external id or edge that must be unique
     +-- InvalidArgumentError      a value the data model cannot hold (also ValueError)
     |    +-- PropertyError        a property unknown to its type, or of the wrong kind
     |    +-- TypeConflictError    a type redeclared with a property of another kind
     |    +-- FilterError          a filter query that does not parse, or names what does not exist
     +-- ConcurrencyError          a write that kept conflicting with other writers
     +-- DatabaseError             a database call that failed: the connection went away, or the server failed it
     |    +-- CommitUnknownError   a write whose COMMIT failed and that cannot be retried safely: recorded or not
     +-- ValueStoreError           a stored value that cannot be written or read back
     |    +-- ValueIntegrityError  a stored value whose bytes no longer match its fingerprint
     |    |    +-- UntrustedValueError  a stored value whose MAC is missing or does not verify with your key
     |    +-- ValuePathError       an artifact URI or value path that is not inside the value store's root
     |    +-- ValueWriteError      a value the value store could not write: a full disk, an I/O error, a permission
     +-- NoActiveRunError          a run-level call made outside any run or step
     +-- ReplayError               a recorded execution that cannot be replayed (tracker.testing)
     +-- LineageAssertionError     a lineage assertion that does not hold (also AssertionError)
     +-- OutputMismatchError       outputs that differ from the record, or between two runs (also AssertionError)
     +-- TrackingError             a step call that could not be recorded (raised with on_error="raise")

    TrackerWarning                 tracking could not record something; the user's code went on

Each message names the object at fault and says how to fix it. A store method
that raises has written nothing: its transaction is rolled back.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "AlreadyExistsError",
    "CommitUnknownError",
    "ConcurrencyError",
    "ConfigurationError",
    "DatabaseError",
    "FilterError",
    "InvalidArgumentError",
    "LineageAssertionError",
    "NotFoundError",
    "OutputMismatchError",
    "PropertyError",
    "RedactionConfigError",
    "SchemaError",
    "SchemaVersionError",
    "StoreClosedError",
    "NoActiveRunError",
    "ReplayError",
    "TrackerError",
    "TrackerWarning",
    "TrackingError",
    "TypeConflictError",
    "UntrustedValueError",
    "ValueIntegrityError",
    "ValuePathError",
    "ValueStoreError",
    "ValueWriteError",
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


class FilterError(InvalidArgumentError):
    """A filter query that does not parse or does not make sense.

    Attributes:
        filter: the filter text.
        position: the 0-based offset in *filter* where the problem is.
        expected: what was expected there, in words.
    """

    def __init__(self, filter: str, position: int, expected: str, detail: str = "") -> None:
        self.filter = filter
        self.position = position
        self.expected = expected
        shown, caret = _excerpt(filter.encode("utf-8", "replace").decode(), position)  # printable
        message = f"filter: expected {expected} at position {position}"
        if detail:
            message += f" ({detail})"
        super().__init__(f"{message}\n  {shown}\n  {caret}")


def _excerpt(text: str, position: int, width: int = 60) -> tuple[str, str]:
    """The part of *text* around *position* on one line, and a caret line under *position*."""
    start = max(0, position - width // 2)
    shown = text[start : start + width].replace("\n", " ").replace("\t", " ").replace("\r", " ")
    prefix = "..." if start else ""
    suffix = "..." if start + width < len(text) else ""
    return f"{prefix}{shown}{suffix}", " " * (len(prefix) + position - start) + "^"


class ConcurrencyError(TrackerError):
    """A write kept conflicting with concurrent writers and was given up."""


class ValueStoreError(TrackerError):
    """A value could not be stored, or a stored value cannot be read back."""


class ValueIntegrityError(ValueStoreError):
    """A stored value's bytes do not match the fingerprint recorded for it; it was not loaded."""


class NoActiveRunError(TrackerError):
    """A call that needs a current step or run was made outside any."""


class ReplayError(TrackerError):
    """A recorded execution cannot be replayed: its step, an input or its recorded code cannot be found.

    .. versionadded:: 0.1
    """


class LineageAssertionError(TrackerError, AssertionError):
    """A lineage assertion of ``tracker.testing`` does not hold; the message shows the lineage it looked at.

    .. versionadded:: 0.1
    """


class OutputMismatchError(TrackerError, AssertionError):
    """A replay's outputs differ from the recorded ones, or two runs of a step differ; the message lists where.

    Attributes:
        differences: the :class:`tracker.testing.Difference` list behind the message.

    .. versionadded:: 0.1
    """

    def __init__(self, message: str, differences: list[Any] | None = None) -> None:
        super().__init__(message)
        self.differences = list(differences or [])


class UntrustedValueError(ValueIntegrityError):
    """A stored value tracker cannot vouch for: it carries no MAC, or one your key does not verify; not loaded.

    Values stored by ml-metadata, or by tracker before values carried MACs, have none. Pass
    ``allow_untrusted=True`` to :func:`tracker.load` (or to :class:`tracker.ValueStore`) to load one whose
    origin you trust. See docs/safety.md.

    .. versionadded:: 0.1
    """


class ValuePathError(ValueStoreError):
    """An artifact URI or value path that would leave the value store's root (traversal, another scheme,
    a symbolic link, ...); nothing was opened.

    .. versionadded:: 0.1
    """


class RedactionConfigError(ConfigurationError, ValueError):
    """A ``tracker.configure(redact_names=..., redact_patterns=..., unredacted_names=...)`` entry that cannot be
    used: a pattern that is not a regular expression or matches empty text, a name that is not a string.

    Attributes:
        entry: the entry at fault, as given.

    .. versionadded:: 0.1
    """

    def __init__(self, message: str, entry: Any = None) -> None:
        super().__init__(message)
        self.entry = entry


class DatabaseError(TrackerError):
    """A database call failed for a reason of the database's own: its connection went away (and kept going
    away when the call was tried again), or the server or its disk failed the statement. The transaction was
    rolled back, and a connection that went away is not used again.

    .. versionadded:: 0.1
    """


class CommitUnknownError(DatabaseError):
    """The COMMIT of a write failed (the connection went away while committing, say), and the write is not one
    that can be tried again safely: it may or may not be recorded. Look before writing it again.

    Writes that recognise their own earlier commit are tried again instead: ``put_execution`` of an execution
    with an id or an ``external_id`` (steps give theirs one), type and context get-or-create, updates,
    context links and heartbeats.

    .. versionadded:: 0.1
    """


class ValueWriteError(ValueStoreError):
    """The value store could not write a value: the disk is full, a file is over the size limit, an I/O error,
    a permission. It is the store that failed, not the value; no file of it was left behind.

    Attributes:
        path: the file or directory that could not be written.

    .. versionadded:: 0.1
    """

    def __init__(self, message: str, path: str | None = None) -> None:
        super().__init__(message)
        self.path = path


class TrackingError(TrackerError):
    """A step call could not be recorded: its start, its outputs or its end. The message says what failed
    (the cause is chained) and what was recorded instead. With ``tracker.configure(on_error="raise")`` it is
    raised; with the default ``"warn"``, its message is the TrackerWarning's.

    Attributes:
        step_name: the step whose call it is.
        execution_id: the execution recording the call, if its start was recorded.

    .. versionadded:: 0.1
    """

    def __init__(self, message: str, step_name: str = "", execution_id: int | None = None) -> None:
        super().__init__(message)
        self.step_name = step_name
        self.execution_id = execution_id


class TrackerWarning(UserWarning):
    """Tracking could not record something; the user's code ran and returned as usual."""
