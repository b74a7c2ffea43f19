"""``tracker.load``: the value behind an artifact, verified against its fingerprint."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from tracker.errors import ValueStoreError
from tracker.sdk import _state
from tracker.sdk.record import INLINE_PROPERTY
from tracker.store import Artifact, ProtoValue, Store
from tracker.values import ValueStore, load_inline
from tracker.values.store import ALGORITHM


def load(artifact: Artifact | int, *, store: Store | None = None, values: ValueStore | None = None) -> Any:
    """The Python value an artifact recorded, after checking its bytes against the recorded fingerprint.

    *artifact* is an Artifact or an artifact id (looked up in *store*, default the
    default store). A small value is kept in the artifact itself; a larger one is
    read from the value store its URI names.

    Raises:
        ValueStoreError: the artifact has no stored value (with the reason recorded), or the file is gone.
        ValueIntegrityError: the stored bytes were changed; nothing was unpickled.
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
    inline = artifact.custom_properties.get(INLINE_PROPERTY)
    if isinstance(inline, ProtoValue):
        return load_inline(inline.value, fingerprint, serializer)
    return _values_for(artifact, values).get(fingerprint, serializer)


def _values_for(artifact: Artifact, values: ValueStore | None) -> ValueStore:
    if values is not None:
        return values
    uri = urlparse(artifact.uri or "")
    if uri.scheme == "file":  # <root>/blake3/<2 hex>/<64 hex>
        return ValueStore(Path(unquote(uri.path)).parents[2])
    return _state.default_values()
