"""Whose a value is: the fingerprint says what its bytes are, the MAC says this user's tracker stored it.

Every value tracker stores is recorded with a MAC (HMAC-SHA256) of its fingerprint and serializer,
made with a secret key: 32 random bytes in ``$TRACKER_KEY_FILE``, by default
``$XDG_CONFIG_HOME/tracker/values.key`` (``~/.config/tracker/values.key``), created 0600 on first use.
The key lives outside every database and value directory: whoever can write those but cannot read
the key cannot make a record that loads, because loading checks the MAC before a byte is unpickled.
The key is read once per process.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import os
import secrets
import stat
import threading
from pathlib import Path
from typing import Any

import blake3

from tracker.errors import UntrustedValueError, ValueStoreError
from tracker.values import _paths

#: The fingerprint's hash: BLAKE3, about four times sha256's speed, and faster still on several cores.
ALGORITHM = "blake3"
#: The environment variable that names the key file.
KEY_ENV_VAR = "TRACKER_KEY_FILE"
#: The custom property that holds a stored value's MAC.
MAC_PROPERTY = "tracker_value_mac"
_SCHEME = "hmac-sha256"
_KEY_BYTES = 32
_ALLOW = (
    "if you trust where it came from, pass allow_untrusted=True to tracker.load (or make the value store "
    "with tracker.ValueStore(..., allow_untrusted=True))"
)

_keys: dict[tuple[str | None, str | None, str | None], Any] = {}
_lock = threading.Lock()


def new_hash() -> Any:
    """A BLAKE3 hasher; large updates use every core."""
    return blake3.blake3(max_threads=blake3.blake3.AUTO)


def key_file() -> Path:
    """Where this user's key is: ``$TRACKER_KEY_FILE``, else ``<config dir>/tracker/values.key``."""
    named = os.environ.get(KEY_ENV_VAR)
    if named:
        return Path(named).expanduser().absolute()
    config = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return Path(config).absolute() / "tracker" / "values.key"


def sign(fingerprint: str, serializer: str) -> str:
    """The MAC recorded with a value stored now (the key is created on first use)."""
    key = _key(create=True)
    assert key is not None
    return _mac(key, fingerprint, serializer)


def verify(fingerprint: str, serializer: str, mac: str | None) -> None:
    """Return if *mac* is this user's MAC of the value; else raise, saying why and how to load it anyway.

    Raises:
        UntrustedValueError: no MAC, no key to check it with, or a MAC the key does not verify.
        ValueStoreError: the key file is not one tracker can trust (a link, someone else's, readable by others).
    """
    if not mac:
        raise UntrustedValueError(
            f"value {fingerprint} carries no MAC (custom property {MAC_PROPERTY!r}), so nothing shows that your "
            "tracker stored it (ml-metadata, an older tracker or a forged record may have); it was not "
            f"unpickled; {_ALLOW}"
        )
    key = _key(create=False)
    if key is None:
        raise UntrustedValueError(
            f"value {fingerprint} has a MAC but there is no key at {key_file()} to check it with (the values you "
            f"store create it; set {KEY_ENV_VAR} to the key file this value was stored with); it was not "
            f"unpickled; {_ALLOW}"
        )
    if not hmac.compare_digest(mac.encode("utf-8", "replace"), _mac(key, fingerprint, serializer).encode()):
        raise UntrustedValueError(
            f"the MAC of value {fingerprint} does not verify with your key {key_file()}: it was stored with "
            f"another key (another user or machine: set {KEY_ENV_VAR} to that key file) or its record was "
            f"forged; it was not unpickled; {_ALLOW}"
        )


def _mac(key: Any, fingerprint: str, serializer: str) -> str:
    mac = key.copy()  # an HMAC keyed once per process: each value costs one update
    mac.update(f"tracker value|{fingerprint}|{serializer}".encode())
    return f"{_SCHEME}:{mac.hexdigest()}"


def _key(*, create: bool) -> Any:
    """The user's key as a keyed HMAC, or None if there is no key file (and *create* is false)."""
    where = (os.environ.get(KEY_ENV_VAR), os.environ.get("XDG_CONFIG_HOME"), os.environ.get("HOME"))
    found = _keys.get(where)  # by what names the key file: no path work on the write path
    if found is not None:
        return found
    with _lock:
        path = key_file()
        data = _read(path)
        if data is None and create:
            data = _create(path)
        if data is None:
            return None
        _keys[where] = found = hmac.new(data, digestmod=hashlib.sha256)
        return found


def _read(path: Path) -> bytes | None:
    """The key in *path*, or None if there is none; ValueStoreError if it is not one to trust."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        return None
    except OSError as exc:
        if os.path.islink(path):
            raise ValueStoreError(
                f"the key file {path} is a symbolic link; tracker reads its key only from a regular file of "
                "yours: replace the link with the file it points to"
            ) from None
        raise ValueStoreError(f"cannot read the key file {path}: {exc}; set {KEY_ENV_VAR} to one you can") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise ValueStoreError(f"the key file {path} is not a regular file; set {KEY_ENV_VAR} to one")
        data = os.read(fd, _KEY_BYTES + 1)
    finally:
        os.close(fd)
    if hasattr(os, "geteuid") and info.st_uid != os.geteuid():
        raise ValueStoreError(
            f"the key file {path} belongs to uid {info.st_uid}, not to you (uid {os.geteuid()}): its owner could "
            f"replace it; copy it to a file of your own (chmod 600) and set {KEY_ENV_VAR} to that"
        )
    if os.name == "posix" and info.st_mode & 0o077:
        raise ValueStoreError(
            f"the key file {path} can be read or written by others (mode {stat.S_IMODE(info.st_mode):04o}); "
            f"whoever reads it can make values tracker trusts: chmod 600 {path}"
        )
    if len(data) != _KEY_BYTES:
        raise ValueStoreError(
            f"the key file {path} does not hold a tracker key ({_KEY_BYTES} random bytes); delete it and a new one "
            "is made (values stored with the old key then load only with allow_untrusted=True)"
        )
    return data


def _create(path: Path) -> bytes:
    """A new key in *path*, written whole before it appears there; another process's key if it won the race."""
    try:
        return _write(path)
    except OSError as exc:
        raise ValueStoreError(
            f"cannot create the key file {path} ({type(exc).__name__}: {exc.strerror or exc}); set {KEY_ENV_VAR} "
            "to a path you can write (values are stored with a MAC made with it)"
        ) from None


def _write(path: Path) -> bytes:
    _paths.private_dirs(path.parent)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.new")
    with _paths.private_file(temporary) as file:
        file.write(secrets.token_bytes(_KEY_BYTES))
        file.flush()
        os.fsync(file.fileno())
    try:
        os.link(temporary, path)  # atomic, and never replaces a key another process made meanwhile
    except FileExistsError:
        pass
    except OSError:  # a file system without hard links
        with contextlib.suppress(FileExistsError), _paths.private_file(path) as file:
            file.write(temporary.read_bytes())
    finally:
        temporary.unlink(missing_ok=True)
    found = _read(path)
    assert found is not None
    return found


def _after_fork() -> None:
    global _lock
    _lock = threading.Lock()


os.register_at_fork(after_in_child=_after_fork)
