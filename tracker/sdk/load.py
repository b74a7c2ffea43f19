"""``tracker.load``: the value behind an artifact, once it is shown to be one this user's tracker stored.

A value is read by its fingerprint from a value store the caller knows (the one passed, else the
current run's or the default one), never from wherever the artifact's URI points: the URI must be
exactly what tracker writes for that fingerprint, and name that store's root when no store is passed.
"""

from __future__ import annotations

from typing import Any

from tracker.errors import ValueIntegrityError, ValuePathError, ValueStoreError
from tracker.sdk import _state
from tracker.sdk.record import INLINE_PROPERTY
from tracker.sdk.runs import current_run
from tracker.store import Artifact, ProtoValue, Store
from tracker.values import ValueStore
from tracker.values._paths import root_of_uri, same_directory
from tracker.values.store import ALGORITHM, MAC_PROPERTY, names_of


def load(
    artifact: Artifact | int,
    *,
    store: Store | None = None,
    values: ValueStore | None = None,
    allow_untrusted: bool = False,
) -> Any:
    """The Python value an artifact recorded, after checking who stored it and that its bytes are unchanged.

    *artifact* is an Artifact or an artifact id (looked up in *store*, default the default store). A
    small value is kept in the artifact itself; a larger one is read from a value store: *values*, else
    the current run's or the default one, whichever root the artifact's URI names.

    Before anything is unpickled, the value's MAC (custom property ``tracker_value_mac``) must verify
    with this user's key, and its bytes must hash to its fingerprint. Values stored by ml-metadata, by
    an older tracker or by another user have no MAC this key verifies: they load only with
    *allow_untrusted* (or from a ``ValueStore(..., allow_untrusted=True)``). See docs/safety.md.

    Raises:
        UntrustedValueError: the value has no MAC, or one this user's key does not verify; nothing was unpickled.
        ValuePathError: the artifact's URI is not what tracker writes for the value, names a directory that
            is not a value store in use here, or leads through a link; nothing was opened.
        ValueIntegrityError: the stored bytes were changed; nothing was unpickled.
        ValueStoreError: the artifact has no stored value (with the reason recorded), or the file is gone.
    """
    if not isinstance(artifact, Artifact):
        found = (store or _state.default_store()).get_artifacts_by_id([artifact])
        if not found:
            raise ValueStoreError(f"no artifact with id {artifact}")
        artifact = found[0]
    fingerprint = artifact.external_id or ""
    if not fingerprint.startswith(f"{ALGORITHM}:"):
        reason = artifact.custom_properties.get("tracker_unstored_reason", "it was not recorded by a tracker step")
        raise ValueStoreError(f"artifact {artifact.id} has no stored value: {reason}")
    serializer = str(artifact.custom_properties.get("tracker_serializer", "cloudpickle"))
    recorded = artifact.custom_properties.get(MAC_PROPERTY)
    mac = recorded if isinstance(recorded, str) else None
    inline = artifact.custom_properties.get(INLINE_PROPERTY)
    try:
        if isinstance(inline, ProtoValue):
            reader = values or _in_use()[0]
            return reader.load_inline(inline.value, fingerprint, serializer, mac=mac, allow_untrusted=allow_untrusted)
        reader = _reader(artifact.uri, fingerprint, values)
        return reader.get(fingerprint, serializer, mac=mac, allow_untrusted=allow_untrusted)
    except (ValueIntegrityError, ValuePathError) as exc:  # a refusal names the record at fault
        raise type(exc)(f"artifact {artifact.id} ({artifact.type}): {exc}") from exc


def _in_use() -> list[ValueStore]:
    """The value stores a load without ``values=`` may read from: the current run's, then the default one."""
    run = current_run()
    default = _state.default_values()
    return [run.values, default] if run is not None and run.values is not default else [default]


def _reader(uri: str | None, fingerprint: str, values: ValueStore | None) -> ValueStore:
    """The value store to read *fingerprint* from, once *uri* is shown to be one tracker writes for it."""
    named = root_of_uri(uri, names_of(fingerprint)) if uri is not None else None
    if values is not None:
        return values  # the caller's store, wherever the URI says the value was (a store that moved)
    stores = _in_use()
    if named is None:
        return stores[0]
    for candidate in stores:
        if same_directory(candidate.root, named):
            return candidate
    raise ValuePathError(
        f"its value is in {named}, which is not a value store in use here ({', '.join(str(s.root) for s in stores)}), "
        f"so nothing was opened; if that directory is yours, pass values=tracker.ValueStore({str(named)!r})"
    )
