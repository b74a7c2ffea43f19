"""The only module that pickles and unpickles: cloudpickle, behind a small Serializer interface."""

from __future__ import annotations

import pickle
from typing import IO, Any, Protocol

import cloudpickle  # type: ignore[import-untyped]


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
