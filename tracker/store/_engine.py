"""Store URLs and engines: one SQLAlchemy engine per URL per process, safe across fork."""

from __future__ import annotations

import os
import re
import threading
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, make_url
from sqlalchemy.engine import URL
from sqlalchemy.exc import ArgumentError, NoSuchModuleError
from sqlalchemy.pool import StaticPool

from tracker.errors import ConfigurationError

DEFAULT_PATH = Path(".tracker") / "mlmd.sqlite"
ENV_VAR = "TRACKER_URL"

#: URL schemes users write, and the SQLAlchemy driver tracker uses for each.
_DRIVERS = {
    "sqlite": "sqlite",
    "postgresql": "postgresql+psycopg",
    "postgres": "postgresql+psycopg",
    "mysql": "mysql+pymysql",
    "mariadb": "mysql+pymysql",
}
_EXTRAS = {"postgresql": "postgresql", "mysql": "mysql"}

_lock = threading.Lock()
_ENGINES: dict[str, tuple[Engine, int]] = {}


def resolve_url(url: str | None) -> URL:
    """The SQLAlchemy URL for *url*, ``$TRACKER_URL`` or the default SQLite file.

    A plain path (no ``://``) is a SQLite file. ``postgresql://`` uses psycopg 3 and
    ``mysql://`` / ``mariadb://`` use PyMySQL, unless the URL names a driver itself.
    """
    text = url or os.environ.get(ENV_VAR) or str(DEFAULT_PATH)
    if "://" not in text:
        path = Path(text).expanduser().absolute()
        _private_database(path)
        return URL.create("sqlite", database=str(path))
    try:
        parsed = make_url(text)
    except (ArgumentError, ValueError) as exc:
        # the parser's message may quote a piece of the URL (a password where a port should be): not shown
        detail = re.sub(r"'[^']*'", "'...'", str(exc))
        raise ConfigurationError(f"cannot parse store URL {_redact(text)!r}: {detail}") from None
    scheme = parsed.drivername
    if "+" not in scheme:
        if scheme not in _DRIVERS:
            raise ConfigurationError(
                f"unsupported store URL scheme {scheme!r}; use sqlite:///path, "
                "postgresql://user@host/db or mysql://user@host/db"
            )
        parsed = parsed.set(drivername=_DRIVERS[scheme])
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        if parsed.query.get("uri") in (None, "", "false", "0") and not parsed.database.startswith("file:"):
            _private_database(Path(parsed.database).expanduser().absolute())
        else:  # an SQLite URI filename (?uri=true): SQLite opens it as it says
            Path(parsed.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    return parsed


def _private_database(path: Path) -> None:
    """Create a new SQLite file, and the directories missing above it, readable by their owner only.

    Directories tracker creates are 0700 and a new database file 0600, whatever the umask; SQLite
    gives its -wal and -shm files the database file's mode. A directory or database that exists
    already is left as it is: tracker never changes the permissions of what the user made.
    """
    missing: list[Path] = []
    current = path.parent
    while not os.path.lexists(current) and current != current.parent:
        missing.append(current)
        current = current.parent
    for directory in reversed(missing):
        try:
            os.mkdir(directory, 0o700)
        except FileExistsError:
            continue  # made meanwhile by another process
        os.chmod(directory, 0o700)  # the umask may have taken bits away
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags, 0o600)  # an empty file is an empty SQLite database
    except FileExistsError:
        return
    try:
        if hasattr(os, "fchmod"):
            os.fchmod(fd, 0o600)
    finally:
        os.close(fd)


def _redact(text: str) -> str:
    try:
        return shown(make_url(text))
    except (ArgumentError, ValueError):
        return "<unparsable URL>"


#: Query parameters of a URL that hold credentials (``?password=`` works with psycopg and PyMySQL).
_SECRET_QUERY = re.compile(r"pass|pwd|secret|token|key|auth|cred", re.IGNORECASE)


def shown(url: URL) -> str:
    """*url* as it may be printed or recorded: the password, and query parameters such as
    ``?password=`` or ``?sslpassword=``, are replaced by ``***``."""
    text = url.render_as_string(hide_password=True)
    if not any(_SECRET_QUERY.search(k) for k in url.query):
        return text
    head, _, query = text.partition("?")
    pairs = [p.partition("=") for p in query.split("&")]
    return head + "?" + "&".join(k + "=***" if _SECRET_QUERY.search(k) else k + s + v for k, s, v in pairs)


def acquire(url: URL) -> Engine:
    """The engine for *url*, created on first use; pair each call with :func:`release`."""
    key = url.render_as_string(hide_password=False)
    with _lock:
        engine, users = _ENGINES.get(key) or (_create(url), 0)
        _ENGINES[key] = (engine, users + 1)
        return engine


def release(engine: Engine) -> None:
    """Forget one user of *engine*; the last one disposes it."""
    key = engine.url.render_as_string(hide_password=False)
    with _lock:
        current, users = _ENGINES.get(key, (None, 0))
        if current is not engine:
            return
        if users > 1:
            _ENGINES[key] = (engine, users - 1)
            return
        del _ENGINES[key]
    engine.dispose()


def _create(url: URL) -> Engine:
    backend = url.get_backend_name()
    kwargs: dict[str, Any] = {}
    if backend == "sqlite":
        # isolation_level=None: tracker issues BEGIN IMMEDIATE / COMMIT itself. A writer waits up
        # to `timeout` seconds (?timeout= in the URL, default 60) for the write lock.
        args: dict[str, Any] = {"isolation_level": None, "check_same_thread": False}
        if "timeout" not in url.query:
            args["timeout"] = 60.0
        kwargs["connect_args"] = args
        if url.database in (None, "", ":memory:"):
            kwargs["poolclass"] = StaticPool  # every checkout must see the same memory database
    elif backend == "mysql":
        # READ COMMITTED: a read after a lost insert race sees the winner's row.
        kwargs["isolation_level"] = "READ COMMITTED"
        # Strict mode: a value that does not fit is an error, never silently cut.
        kwargs["connect_args"] = {
            "init_command": "SET SESSION sql_mode = CONCAT_WS(',', @@sql_mode, 'STRICT_ALL_TABLES')"
        }
    try:
        engine = create_engine(url, **kwargs)
    except (NoSuchModuleError, ModuleNotFoundError) as exc:
        extra = _EXTRAS.get(backend, backend)
        raise ConfigurationError(
            f"no database driver for {backend}: {exc}; install it with pip install 'mlmd-tracker[{extra}]'"
        ) from None
    if backend == "sqlite":
        event.listen(engine, "connect", _sqlite_on_connect)
    return engine


def _sqlite_on_connect(dbapi_connection: Any, connection_record: Any) -> None:
    # per connection; safe from corruption in WAL mode, which the schema check turns on
    dbapi_connection.execute("PRAGMA synchronous=NORMAL")


def _drop_inherited_pools() -> None:
    """A forked child must not reuse its parent's connections (nor a lock held at fork time)."""
    global _lock
    _lock = threading.Lock()
    for engine, _ in list(_ENGINES.values()):
        engine.dispose(close=False)


os.register_at_fork(after_in_child=_drop_inherited_pools)
