"""A content-addressed store of values: files named by the BLAKE3 hash of their serialized bytes.

A value is serialized once and hashed while it is written: a small one in
memory (and not written at all when its content is stored already), a large
one straight to a temporary file (one pass, no second copy in memory). Either
is synced to the disk and renamed into place, and its directory synced, so a
file under its final name is always complete, and stays there through a crash
or a power loss once a record that names it is committed.
Each stored value comes with a MAC of its fingerprint, made with this user's
key (see ``_trust``). Loading checks the MAC, then the bytes against the
fingerprint, before anything is unpickled, and reads files only below the
store's root, through no symbolic link. The directories and files the store
creates are private to their owner (0700 and 0600, whatever the umask).
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import functools
import io
import itertools
import os
import stat
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from tracker.errors import ValueStoreError, ValueWriteError
from tracker.values import _paths, _trust
from tracker.values._trust import ALGORITHM, MAC_PROPERTY, new_hash
from tracker.values.serializers import SERIALIZERS, Serializer, load_trusted

__all__ = ["ALGORITHM", "MAC_PROPERTY", "StoredValue", "ValueStore", "load_inline", "names_of", "new_hash"]

DEFAULT_ROOT = Path(".tracker") / "values"
ROOT_ENV_VAR = "TRACKER_VALUES"
_IN_MEMORY = 1 << 20  # values up to this size are serialized in memory first
_OVERLAP = 1 << 22  # buffers from this size are hashed while they are written


_WRITE_BACK = 1 << 25  # a large file is handed to the disk every 32 MB written, while the rest is written


@functools.cache
def _hasher() -> concurrent.futures.ThreadPoolExecutor:
    return concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="tracker-hash")


@functools.cache
def _syncer() -> concurrent.futures.ThreadPoolExecutor:
    return concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="tracker-sync")


_datasync = getattr(os, "fdatasync", os.fsync)  # macOS and Windows have fsync only


@dataclass(frozen=True)
class StoredValue:
    """Where a value went: ``fingerprint`` is ``"blake3:<hex>"`` of its serialized bytes."""

    fingerprint: str
    uri: str | None
    size: int
    serializer: str
    #: the serialized bytes of a small value kept inline (in the metadata store), instead of in a file
    inline: bytes | None = None
    #: the MAC to record with the value (custom property ``tracker_value_mac``): without it, it never loads
    mac: str | None = None


def fingerprint(value: Any, serializer: str = "cloudpickle") -> str:
    """The fingerprint a value store gives *value*: its serialized bytes hashed as they come, nothing kept."""
    sink = _HashingSink()
    SERIALIZERS[serializer].dump(value, sink)  # type: ignore[arg-type]
    return f"{ALGORITHM}:{sink.hash.hexdigest()}"


class _HashingSink:
    """A file that only hashes what is written to it."""

    def __init__(self) -> None:
        self.hash = new_hash()

    def write(self, data: Any) -> int:
        view = memoryview(data)  # bytes, or a PickleBuffer (protocol 5) straight from an array
        if view.format != "B" or view.ndim != 1:
            view = view.cast("B")
        self.hash.update(view)
        return view.nbytes


class _SpoolingWriter:
    """Hashes every byte written; keeps small values in memory, spills large ones to a file.

    A small value whose content is stored already is then never written at all.
    A large buffer is hashed on another thread while it is written (both let go
    of the GIL), so storing costs about one pass over the bytes, not two. The
    file is written with ``os.write`` (no buffer to flush, so nothing fails late
    on close) and made durable before it is renamed into place. ``failure`` is
    the first I/O error of the store itself, to tell it from a value the
    serializer cannot handle.
    """

    def __init__(self, directory: Path) -> None:
        self.hash = new_hash()
        self.size = 0
        self._directory = directory
        self._chunks: list[bytes] = []  # small values only: a large one goes to the file as it comes
        self.fd: int | None = None
        self.temp: Path | None = None
        self.failure: ValueWriteError | None = None
        self._unsynced = 0  # bytes written since the last early write-back began
        self._syncing: concurrent.futures.Future[None] | None = None

    def write(self, data: Any) -> int:
        view = memoryview(data)  # bytes, or a PickleBuffer (protocol 5) straight from a NumPy array
        if view.format != "B" or view.ndim != 1:
            view = view.cast("B")  # as bytes, without a copy (pickle hands over contiguous buffers only)
        self.size += view.nbytes
        if self.fd is None and self.size > _IN_MEMORY:
            self._spill()  # before keeping a copy of a large buffer
        if self.fd is None:
            self.hash.update(view)
            self._chunks.append(bytes(view))
        elif view.nbytes >= _OVERLAP:
            hashing = _hasher().submit(self.hash.update, view)
            try:
                self._write(view)
            finally:
                hashing.result()  # the view must outlive its hashing
        else:
            self.hash.update(view)
            self._write(view)
        return view.nbytes

    def _failed(self, doing: str, path: Path, exc: OSError) -> ValueWriteError:
        """The error to raise for *exc*, remembered as the store's (not the value's) failure."""
        reason = f"[Errno {exc.errno}] {exc.strerror}" if exc.strerror else f"{type(exc).__name__}: {exc}"
        failure = ValueWriteError(f"the value store could not {doing} {path}: {reason}", str(path))
        if self.failure is None:
            self.failure = failure
        return failure

    def _write(self, view: memoryview) -> None:
        """Write *view*; every 32 MB, start syncing what is written so far on another thread, so the disk
        takes the bytes while the rest is written and the sync before the rename has only the tail left."""
        assert self.fd is not None and self.temp is not None
        for start in range(0, view.nbytes, _WRITE_BACK):
            part = view[start : start + _WRITE_BACK]
            try:
                _paths.write_all(self.fd, part)
            except OSError as exc:
                raise self._failed("write", self.temp, exc) from exc
            self._unsynced += part.nbytes
            if self._unsynced >= _WRITE_BACK and (self._syncing is None or self._syncing.done()):
                self._synced()  # an early sync that failed fails the write now
                self._syncing = _syncer().submit(_datasync, self.fd)
                self._unsynced = 0

    def _synced(self) -> None:
        """Wait for the early sync under way, if any; ValueWriteError if it failed."""
        syncing, self._syncing = self._syncing, None
        if syncing is not None:
            try:
                syncing.result()
            except OSError as exc:
                assert self.temp is not None
                raise self._failed("sync", self.temp, exc) from exc

    def _spill(self) -> None:
        self.temp = temp = _temporary(self._directory)
        try:
            _paths.private_dirs(self._directory)
            self.fd = _paths.private_descriptor(temp)
        except OSError as exc:
            self.temp = None  # never made: not ours to remove
            raise self._failed("create", temp, exc) from exc
        chunks, self._chunks = self._chunks, []
        self._write(memoryview(b"".join(chunks)))

    def finish(self, names: tuple[str, str, str]) -> Path:
        """Put the bytes at *names* below the root, unless a file is there already (same name, same content).

        Either way the file, and its name, are on the disk when this returns: written, synced, renamed into
        place and its directory synced, so a record committed after it never names a file a crash can lose.
        """
        made: list[Path] = []
        directory = self._directory.joinpath(*names[:-1])
        try:
            directory = _paths.private_subdirs(self._directory, names[:-1], made)
        except OSError as exc:
            raise self._failed("create the directory", directory, exc) from exc
        final = directory / names[-1]
        try:
            stored = stat.S_ISREG(os.lstat(final).st_mode)
        except FileNotFoundError:
            stored = False
        if stored:
            self.discard()  # the same content is stored already (by another writer, whose rename may be recent)
        else:
            if self.fd is None:
                self._spill()
            assert self.fd is not None and self.temp is not None
            self._synced()
            fd, self.fd = self.fd, None
            try:
                try:
                    os.fsync(fd)
                finally:
                    os.close(fd)
            except OSError as exc:
                raise self._failed("sync", self.temp, exc) from exc
            try:
                os.replace(self.temp, final)  # atomic: readers see the whole file or none (a link planted there goes)
            except OSError as exc:
                raise self._failed("rename a value into", final, exc) from exc
            self.temp = None
        for synced in [directory, *(d.parent for d in made)]:
            try:
                _paths.sync_directory(synced)
            except OSError as exc:
                raise self._failed("sync the directory", synced, exc) from exc
        return final

    def memory(self) -> bytes:
        """The bytes of a value that stayed in memory."""
        return b"".join(self._chunks)

    def discard(self) -> None:
        """Close and remove the temporary file, if any; never raises (it runs while another error is raised)."""
        with contextlib.suppress(ValueWriteError):
            self._synced()  # its descriptor must stay open until the sync under way ends
        if self.fd is not None:
            with contextlib.suppress(OSError):
                os.close(self.fd)
            self.fd = None
        if self.temp is not None:
            with contextlib.suppress(OSError):
                os.unlink(self.temp)
            self.temp = None


_counter = itertools.count()


def _temporary(directory: Path) -> Path:
    """A name no other writer (process or thread) uses, in the store's own directory (same file system)."""
    return directory / f".incoming-{os.getpid()}-{threading.get_ident()}-{next(_counter)}"


class ValueStore:
    """Values on the local file system under *root* (default ``./.tracker/values``, or ``$TRACKER_VALUES``).

    A value loads only if this user's tracker stored it (its MAC verifies with the user's key, see
    docs/safety.md), unless *allow_untrusted* is true: then values stored by ml-metadata, an older
    tracker or another user load too, from this store and whenever it is the one a load reads from.
    Its bytes are checked against the fingerprint either way. The root and the directories and files
    made in it are created private (0700, 0600); a root that exists already is left as it is.
    """

    def __init__(
        self,
        root: str | os.PathLike[str] | None = None,
        *,
        serializer: str = "cloudpickle",
        allow_untrusted: bool = False,
    ) -> None:
        self.root = Path(root or os.environ.get(ROOT_ENV_VAR) or DEFAULT_ROOT).expanduser().absolute()
        if serializer not in SERIALIZERS:
            raise ValueStoreError(f"unknown serializer {serializer!r}; known: {', '.join(SERIALIZERS)}")
        self._serializer: Serializer = SERIALIZERS[serializer]
        #: Whether values without a MAC of this user's key load from this store (see the class docstring).
        self.allow_untrusted = allow_untrusted

    def __repr__(self) -> str:
        return f"<tracker.ValueStore {self.root}>"

    def path_of(self, fingerprint: str) -> Path:
        """The file that holds the value with this fingerprint."""
        return self.root.joinpath(*names_of(fingerprint))

    def put(self, value: Any, *, inline_limit: int = 0) -> StoredValue:
        """Serialize *value* into the store (once per content) and say where it is.

        A value of at most *inline_limit* serialized bytes is not written to a
        file: its bytes come back in ``inline``, for the caller to keep. A file
        is synced, renamed into place and its directory synced before this
        returns: a record that names it can be committed.

        Raises:
            ValueWriteError: the store could not write, sync or rename the file (a full disk, an I/O
                error, a permission); no file of it is left behind.
            Exception: whatever the serializer raises for a value it cannot handle; no file is left
                behind either.
        """
        writer = _SpoolingWriter(self.root)
        try:
            try:
                self._serializer.dump(value, writer)  # type: ignore[arg-type]
            except Exception:
                if writer.failure is not None:  # the store failed, not the value (the serializer may hide why)
                    raise writer.failure from writer.failure.__cause__
                raise
            fingerprint = f"{ALGORITHM}:{writer.hash.hexdigest()}"
            mac = _trust.sign(fingerprint, self._serializer.name)
            if writer.size <= inline_limit and writer.temp is None:
                data = writer.memory()
                return StoredValue(fingerprint, None, writer.size, self._serializer.name, data, mac)
            final = writer.finish(names_of(fingerprint))
        except BaseException:
            writer.discard()
            raise
        return StoredValue(fingerprint, final.as_uri(), writer.size, self._serializer.name, None, mac)

    def fingerprint(self, value: Any) -> str:
        """The fingerprint *value* would be stored under: serialized and hashed as it comes, nothing kept."""
        return fingerprint(value, self._serializer.name)

    def get(
        self,
        fingerprint: str,
        serializer: str = "cloudpickle",
        *,
        mac: str | None = None,
        allow_untrusted: bool = False,
    ) -> Any:
        """The value stored under *fingerprint*, once its *mac* verifies and its bytes still match.

        *mac* is the MAC recorded with the value (``StoredValue.mac``, the artifact's ``tracker_value_mac``).
        With *allow_untrusted* (or a store made with it), a value without a valid MAC loads too.

        Raises:
            UntrustedValueError: no MAC, or one this user's key does not verify; nothing was opened.
            ValuePathError: a symbolic link, or something else than a regular file, below the root.
            ValueStoreError: no such value in this store.
            ValueIntegrityError: the file's bytes do not hash to *fingerprint*; nothing was unpickled.
        """
        names = names_of(fingerprint)
        path = self.root.joinpath(*names)

        def opened() -> IO[bytes]:
            try:
                return _paths.open_value(self.root, names)
            except FileNotFoundError:
                raise ValueStoreError(f"no stored value {fingerprint} under {self.root}") from None

        allowed = allow_untrusted or self.allow_untrusted
        return load_trusted(
            opened,
            fingerprint=fingerprint,
            serializer=serializer,
            mac=mac,
            allow_untrusted=allowed,
            what=f"the file {path}",
        )

    def load_inline(
        self,
        data: bytes,
        fingerprint: str,
        serializer: str = "cloudpickle",
        *,
        mac: str | None = None,
        allow_untrusted: bool = False,
    ) -> Any:
        """A value kept inline, as :func:`load_inline`; this store's *allow_untrusted* counts too."""
        return load_inline(
            data, fingerprint, serializer, mac=mac, allow_untrusted=allow_untrusted or self.allow_untrusted
        )


def names_of(fingerprint: str) -> tuple[str, str, str]:
    """The path of a value's file below its store's root: ``("blake3", "<2 hex>", "<64 hex>")``.

    Raises:
        ValueStoreError: *fingerprint* is not a tracker fingerprint.
    """
    algorithm, _, digest = fingerprint.partition(":")
    if algorithm != ALGORITHM or len(digest) != 64 or not all(c in "0123456789abcdef" for c in digest):
        raise ValueStoreError(f"{fingerprint!r} is not a tracker fingerprint ('{ALGORITHM}:' and 64 hex digits)")
    return ALGORITHM, digest[:2], digest


def load_inline(
    data: bytes,
    fingerprint: str,
    serializer: str = "cloudpickle",
    *,
    mac: str | None = None,
    allow_untrusted: bool = False,
) -> Any:
    """A value kept inline (in its artifact), once its *mac* verifies and its bytes match *fingerprint*.

    Raises:
        UntrustedValueError: no MAC, or one this user's key does not verify (and not *allow_untrusted*).
        ValueIntegrityError: the bytes do not hash to *fingerprint*; nothing was unpickled.
    """
    opened = functools.partial(io.BytesIO, data)
    return load_trusted(
        opened,
        fingerprint=fingerprint,
        serializer=serializer,
        mac=mac,
        allow_untrusted=allow_untrusted,
        what="the inline value",
    )


os.register_at_fork(after_in_child=_hasher.cache_clear)  # a forked child has none of its parent's threads
