"""Where value files may be: inside their value store's root, reached without symbolic links, private.

Values are addressed by fingerprint under a root the user chose; an artifact's URI only has to agree
with that. :func:`root_of_uri` accepts exactly the URIs tracker writes (``file:///<root>/blake3/<2 hex>/
<64 hex>``, percent-encoded once, as :meth:`pathlib.Path.as_uri` makes them) and names the root they
point to. :func:`open_value` opens a value file one directory at a time below the root, following no
symbolic link, so that nothing planted inside the root can lead outside it. Directories and files
tracker creates are its owner's alone (0700, 0600), whatever the umask; existing ones are left as they are.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Sequence
from pathlib import Path
from typing import BinaryIO
from urllib.parse import unquote_to_bytes

from tracker.errors import ValuePathError

#: Longest URI, name and path accepted; the names and paths are the usual Linux limits.
MAX_URI = 8192
MAX_NAME = 255
MAX_PATH = 4096
_PLAIN = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-~")  # never percent-encoded
_HEX = frozenset("0123456789abcdefABCDEF")
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_DIRECTORY = getattr(os, "O_DIRECTORY", 0)
_NONBLOCK = getattr(os, "O_NONBLOCK", 0)  # a FIFO planted as a value must not block the open
_RELATIVE_OPENS = os.open in os.supports_dir_fd and bool(_NOFOLLOW and _DIRECTORY)


def root_of_uri(uri: str, names: Sequence[str]) -> Path:
    """The value store root that *uri* names for the value file at *names* (``blake3``, prefix, digest).

    Raises:
        ValuePathError: *uri* is not exactly what tracker writes for that value; nothing was opened.
    """
    why = _wrong_with(uri, names)
    if isinstance(why, Path):
        return why
    shown = repr(uri[:200] + ("..." if len(uri) > 200 else "")) if isinstance(uri, str) else repr(uri)
    raise ValuePathError(
        f"the uri {shown} is not one tracker writes for value {names[0]}:{names[-1]} ({why}), so nothing was "
        "opened: tracker reads a value only as file:///<value root>/blake3/<2 hex>/<64 hex>, inside a value "
        "store's root; the record was changed after it was written, or was not written by tracker"
    )


def _wrong_with(uri: object, names: Sequence[str]) -> str | Path:
    """What is wrong with *uri*, or the root it names when nothing is."""
    if not isinstance(uri, str):
        return f"it is a {type(uri).__name__}, not a string"
    if len(uri) > MAX_URI:
        return f"it is {len(uri)} characters long, more than {MAX_URI}"
    if "\x00" in uri:
        return "it holds a NUL character"
    if any(ord(c) < 0x20 or c == "\x7f" for c in uri):
        return "it holds a control character"
    if "\\" in uri:
        return "it holds a backslash"
    scheme, colon, _ = uri.partition(":")
    if not colon:
        return "it has no scheme"
    if scheme != "file":
        return f"its scheme is {scheme[:20]!r}, not 'file'"
    if not uri.startswith("file:///"):
        return "it is not of the form file:///<absolute path> (it names a host, or lacks slashes)"
    raw = uri[len("file://") :]
    if "?" in raw or "#" in raw:
        return "it has a query or a fragment"
    segments: list[str] = []
    total = 0
    for part in raw[1:].split("/"):
        if not part:
            return "it has an empty path segment ('//' or a trailing '/')"
        for i, c in enumerate(part):
            if c == "%":
                if not (set(part[i + 1 : i + 3]) <= _HEX and len(part[i + 1 : i + 3]) == 2):
                    return "it has a '%' that is not a percent-encoding"
            elif c not in _PLAIN:
                return f"it holds {c!r}, which tracker percent-encodes"
        data = unquote_to_bytes(part)
        try:
            name = data.decode("utf-8")
        except UnicodeDecodeError:
            return "a path segment is not valid UTF-8 once decoded (an overlong or broken encoding)"
        if "/" in name or "\\" in name:
            return "a path segment holds an encoded separator ('%2f' or '%5c')"
        if any(ord(c) < 0x20 or c == "\x7f" for c in name):
            return "a path segment holds an encoded NUL or control character"
        if name in (".", ".."):
            return "it has a '.' or '..' segment (plain or percent-encoded)"
        if any(c == "%" and set(name[i + 1 : i + 3]) <= _HEX and len(name[i + 1 : i + 3]) == 2
               for i, c in enumerate(name)):  # fmt: skip
            return "it is percent-encoded twice"
        if len(data) > MAX_NAME:
            return f"a path segment is {len(data)} bytes long, more than {MAX_NAME}"
        total += len(data) + 1
        segments.append(name)
    if total > MAX_PATH:
        return f"its path is {total} bytes long, more than {MAX_PATH}"
    if len(segments) < len(names) or segments[-len(names) :] != list(names):
        return f"it does not end in {'/'.join(names)}, the file of its fingerprint"
    return Path("/" + "/".join(segments[: -len(names)]))


def same_directory(a: Path, b: Path) -> bool:
    """Whether *a* and *b* name one directory (symbolic links resolved; nothing is opened)."""
    return os.path.normpath(a) == os.path.normpath(b) or os.path.realpath(a) == os.path.realpath(b)


def open_value(root: Path, names: Sequence[str]) -> BinaryIO:
    """The value file at *root*/*names*, opened for reading one directory at a time, following no link.

    *root* itself may be a symbolic link (the user chose it); below it, a link, a non-directory or a file
    that is not a regular one is refused.

    Raises:
        FileNotFoundError: there is no such file.
        ValuePathError: something below *root* on the way is a link or not what it should be.
    """
    if not _RELATIVE_OPENS:  # no openat() here: check the resolved path, then open it
        return _open_checked(root, names)
    directory = os.open(root, os.O_RDONLY | _DIRECTORY | _CLOEXEC)
    try:
        for i, name in enumerate(names):
            last = i == len(names) - 1
            flags = (os.O_RDONLY | _NONBLOCK) if last else (os.O_RDONLY | _DIRECTORY)
            try:
                opened = os.open(name, flags | _NOFOLLOW | _CLOEXEC, dir_fd=directory)
            except OSError as exc:
                if exc.errno in (errno.ELOOP, errno.ENOTDIR, errno.EMLINK):
                    raise _refused(root, names[: i + 1], directory, name) from None
                raise
            os.close(directory)
            directory = opened
        info = os.fstat(directory)
        if not stat.S_ISREG(info.st_mode):
            raise ValuePathError(f"{root.joinpath(*names)} is not a regular file, so it was not read")
        file = os.fdopen(directory, "rb")
    except BaseException:
        os.close(directory)
        raise
    return file


def _refused(root: Path, names: Sequence[str], directory: int, name: str) -> ValuePathError:
    path = root.joinpath(*names)
    try:
        is_link = stat.S_ISLNK(os.stat(name, dir_fd=directory, follow_symlinks=False).st_mode)
    except OSError:
        is_link = False
    what = "a symbolic link" if is_link else "not a directory"
    return ValuePathError(
        f"{path} is {what}: tracker follows no link below a value store's root ({root}), so a value outside "
        "it is never read; remove it (the value store writes only real directories and files)"
    )


def _open_checked(root: Path, names: Sequence[str]) -> BinaryIO:
    path = root.joinpath(*names)
    real_root = os.path.realpath(root)
    current = Path(real_root)
    for name in names:
        current = current / name
        if current.is_symlink():
            raise ValuePathError(f"{path} leads through the symbolic link {current}; tracker follows none below {root}")
    fd = os.open(path, os.O_RDONLY | _NOFOLLOW | _NONBLOCK | _CLOEXEC | getattr(os, "O_BINARY", 0))
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise ValuePathError(f"{path} is not a regular file, so it was not read")
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


# --- creating: private to the owner, whatever the umask ---


def private_dirs(path: Path) -> None:
    """Create *path* and its missing parents, each 0700; directories that exist already are left alone."""
    missing: list[Path] = []
    current = path
    while not os.path.lexists(current) and current != current.parent:
        missing.append(current)
        current = current.parent
    for directory in reversed(missing):
        _make_directory(directory)


def private_subdirs(root: Path, names: Sequence[str], made: list[Path] | None = None) -> Path:
    """*root*/*names*, each name a real directory (made 0700 if missing, refused if a link): the path.

    The directories it makes below *root* are added to *made* (to make their entries durable).
    """
    private_dirs(root)
    current = root
    for name in names:
        current = current / name
        try:
            mode = os.lstat(current).st_mode
        except FileNotFoundError:
            _make_directory(current)
            if made is not None:
                made.append(current)
            continue
        if not stat.S_ISDIR(mode):
            kind = "a symbolic link" if stat.S_ISLNK(mode) else "not a directory"
            raise ValuePathError(
                f"{current} is {kind}: tracker writes values only into real directories below {root}; remove it"
            )
    return current


def _make_directory(path: Path) -> None:
    try:
        os.mkdir(path, 0o700)
    except FileExistsError:
        return  # made meanwhile by another writer: not ours to change
    os.chmod(path, 0o700)  # the umask may have taken bits away


def private_file(path: Path) -> BinaryIO:
    """A new file at *path* (never an existing one, nor through a link), open for writing, mode 0600."""
    fd = private_descriptor(path)
    try:
        return os.fdopen(fd, "wb")
    except BaseException:
        os.close(fd)
        raise


def private_descriptor(path: Path) -> int:
    """A new file at *path*, as :func:`private_file`, as a file descriptor (written with :func:`write_all`)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW | _CLOEXEC | getattr(os, "O_BINARY", 0), 0o600)
    try:
        if hasattr(os, "fchmod"):
            os.fchmod(fd, 0o600)  # the umask may have taken bits away
    except BaseException:
        os.close(fd)
        raise
    return fd


# --- durable: what a record refers to is on the disk before the record is committed ---


def write_all(fd: int, data: memoryview) -> None:
    """Write all of *data* to *fd*: ``os.write`` may write less than asked (Linux: at most about 2 GiB a call)."""
    while data.nbytes:
        written = os.write(fd, data)
        data = data[written:]


def sync_directory(path: Path) -> None:
    """Make the entries of directory *path* (a file renamed into it, a directory made in it) durable."""
    if not _SYNC_DIRECTORIES:
        return  # Windows cannot open a directory; NTFS journals its entries anyway
    fd = os.open(path, os.O_RDONLY | _DIRECTORY | _CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


_SYNC_DIRECTORIES = os.name == "posix"
