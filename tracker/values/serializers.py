"""The only module that pickles and unpickles: cloudpickle, behind a small Serializer interface.

Every stored value is unpickled by :func:`load_trusted`, which first checks that this user's tracker
stored it (its MAC, see ``_trust``) and then that its bytes are the ones fingerprinted, before the
serializer sees a byte. ``tests/reliability/test_unpickling_module.py`` fails if any other module of
tracker calls an unpickler.
"""

from __future__ import annotations

import pickle
from collections.abc import Callable
from typing import IO, Any, Protocol

import cloudpickle  # type: ignore[import-untyped]

from tracker.errors import ValueIntegrityError, ValueStoreError
from tracker.values import _trust

_CHUNK = 1 << 20


class Serializer(Protocol):
    """Turns values into bytes on a file and back. ``name`` is recorded with each stored value."""

    name: str

    def dump(self, value: Any, file: IO[bytes]) -> None: ...

    def load(self, file: IO[bytes]) -> Any: ...


class CloudpickleSerializer:
    """cloudpickle, protocol 5: functions, lambdas and classes of ``__main__`` included."""

    name = "cloudpickle"

    def dump(self, value: Any, file: IO[bytes]) -> None:
        cloudpickle.dump(value, file, protocol=pickle.HIGHEST_PROTOCOL)

    def load(self, file: IO[bytes]) -> Any:
        return pickle.load(file)


SERIALIZERS: dict[str, Serializer] = {"cloudpickle": CloudpickleSerializer()}


def load_trusted(
    open_bytes: Callable[[], IO[bytes]],
    *,
    fingerprint: str,
    serializer: str,
    mac: str | None,
    allow_untrusted: bool,
    what: str,
) -> Any:
    """The value whose serialized bytes *open_bytes* opens, once they are shown to be this user's.

    In this order, and nothing is opened before the first check passes: the MAC must verify with the
    user's key (unless *allow_untrusted*), then the bytes must hash to *fingerprint*; only then are they
    unpickled. *what* names the bytes in messages (``"the file /x/blake3/ab/ab..."``).

    Raises:
        UntrustedValueError: no MAC, or one the key does not verify; nothing was opened.
        ValueIntegrityError: the bytes do not hash to *fingerprint*; nothing was unpickled.
        ValueStoreError: an unknown serializer, or a key file that cannot be trusted.
    """
    found = SERIALIZERS.get(serializer)
    if found is None:
        raise ValueStoreError(
            f"value {fingerprint} was stored with unknown serializer {serializer!r}; known: {', '.join(SERIALIZERS)}"
        )
    if not allow_untrusted:
        _trust.verify(fingerprint, serializer, mac)
    with open_bytes() as file:
        digest = _trust.new_hash()
        for chunk in iter(lambda: file.read(_CHUNK), b""):
            digest.update(chunk)
        if f"{_trust.ALGORITHM}:{digest.hexdigest()}" != fingerprint:
            raise ValueIntegrityError(
                f"{what} no longer matches its fingerprint {fingerprint}; it was changed after it was stored, so "
                "it was not loaded"
            )
        file.seek(0)
        return found.load(file)
