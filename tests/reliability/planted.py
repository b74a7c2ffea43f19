"""What the reliability tests plant and watch: pickles that create a marker file when loaded, and file opens.

A planted pickle is what an attacker who can write the database and the value directory would leave:
its bytes, unpickled, run code (here: create a marker file). ``Watch`` (Linux inotify) sees any file
opened in the directories it watches, and ``opens`` (an audit hook) every ``open`` the process makes.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import pathlib
import pickle
import struct
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from tracker.values import _trust

#: Ways a pickle runs code when loaded, each creating the marker file it is given.
GADGETS: dict[str, Callable[[str], tuple[Any, tuple[Any, ...]]]] = {
    "exec": lambda marker: (exec, (f"open({marker!r}, 'w').close()",)),
    "eval": lambda marker: (eval, (f"open({marker!r}, 'w').close()",)),
    "os.system": lambda marker: (os.system, (f"touch '{marker}'",)),
    "subprocess.call": lambda marker: (subprocess.call, (["touch", marker],)),
    "pathlib.Path.touch": lambda marker: (pathlib.Path.touch, (pathlib.Path(marker),)),
    "os.open": lambda marker: (os.open, (marker, os.O_CREAT | os.O_WRONLY, 0o600)),
}


class _Gadget:
    def __init__(self, reduced: tuple[Any, tuple[Any, ...]]) -> None:
        self.reduced = reduced

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        return self.reduced


def payload(marker: Path, gadget: str = "exec") -> bytes:
    """A pickle that creates *marker* when it is loaded (and refers to nothing of the tests)."""
    return pickle.dumps(_Gadget(GADGETS[gadget](str(marker))), protocol=5)


def fingerprint(data: bytes) -> str:
    """The fingerprint a value store gives these bytes."""
    return f"blake3:{_trust.new_hash().update(data).hexdigest()}"


def tail(fingerprint: str) -> str:
    """``blake3/<2 hex>/<64 hex>``: where a value file is below its root."""
    digest = fingerprint.partition(":")[2]
    return f"blake3/{digest[:2]}/{digest}"


def plant(root: Path, data: bytes) -> Path:
    """Write *data* where a value store keeps the value with its fingerprint, as an attacker would."""
    path = root / tail(fingerprint(data))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


# --- watching ---

_IN_ACCESS, _IN_OPEN = 0x1, 0x20
_EVENT = struct.Struct("iIII")


class Watch:
    """Every open or read of a file (or listing) in *directories* while it watches, by Linux inotify."""

    def __init__(self, directories: list[Path]) -> None:
        assert sys.platform == "linux", "inotify: these tests run on Linux"
        self._libc = ctypes.CDLL(None, use_errno=True)
        self.fd = self._libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
        assert self.fd >= 0, os.strerror(ctypes.get_errno())
        self._names: dict[int, Path] = {}
        for directory in directories:
            wd = self._libc.inotify_add_watch(self.fd, os.fsencode(directory), _IN_OPEN | _IN_ACCESS)
            assert wd >= 0, f"{directory}: {os.strerror(ctypes.get_errno())}"
            self._names[wd] = directory

    def events(self) -> list[str]:
        """What was opened or read since the last call: ``"<directory>/<name>"`` (no name: the directory)."""
        found: list[str] = []
        while True:
            try:
                data = os.read(self.fd, 1 << 16)
            except BlockingIOError:
                return found
            offset = 0
            while offset < len(data):
                wd, _, _, length = _EVENT.unpack_from(data, offset)
                name = data[offset + _EVENT.size : offset + _EVENT.size + length].rstrip(b"\0").decode()
                found.append(f"{self._names.get(wd)}/{name}")
                offset += _EVENT.size + length

    def close(self) -> None:
        os.close(self.fd)


_recording: list[list[str]] = []


def _audit(event: str, args: tuple[Any, ...]) -> None:
    if _recording and event == "open":
        path = args[0]
        _recording[-1].append(os.fsdecode(path) if isinstance(path, (str, bytes, os.PathLike)) else repr(path))


_hooked = False


@contextlib.contextmanager
def opens() -> Iterator[list[str]]:
    """The paths this process opens in the block (``open`` audit events: open(), os.open(), io.open())."""
    global _hooked
    if not _hooked:
        sys.addaudithook(_audit)  # for the life of the process; it records only inside this block
        _hooked = True
    found: list[str] = []
    _recording.append(found)
    try:
        yield found
    finally:
        _recording.pop()
