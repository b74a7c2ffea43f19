"""What code ran, where: source hashes, Python and package versions, git state.

Everything here is computed once per process (or once per function or
module) and cached, because it runs on every tracked call.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.metadata
import inspect
import os
import platform
import socket
import subprocess
import sys
import types
from pathlib import Path
from typing import Any


@functools.cache
def process_facts() -> dict[str, Any]:
    """Facts about this process that every execution shares."""
    return {
        "tracker_python": platform.python_version(),
        "tracker_platform": platform.platform(terse=True),
        "tracker_host": socket.gethostname(),
    }


def source_facts(func: Any) -> dict[str, Any]:
    """Module, qualified name and a sha256 of the function's source (when it has one)."""
    return dict(_source_facts(getattr(func, "__wrapped__", func)))


@functools.lru_cache(maxsize=4096)
def _source_facts(func: Any) -> tuple[tuple[str, Any], ...]:
    facts: dict[str, Any] = {
        "tracker_module": getattr(func, "__module__", None) or "",
        "tracker_function": getattr(func, "__qualname__", None) or repr(func),
    }
    try:
        source = inspect.getsource(func)
    except (OSError, TypeError):
        pass  # built in, or defined where no source file exists (a REPL)
    else:
        facts["tracker_source_sha256"] = hashlib.sha256(source.encode()).hexdigest()
    module = sys.modules.get(facts["tracker_module"])
    packages = _packages_of(module) if module is not None else {}
    if packages:
        facts["tracker_packages"] = packages
    git = _git_state(_directory_of(module)) if module is not None else {}
    facts.update(git)
    return tuple(facts.items())


def source_text(func: Any) -> str | None:
    """The source of a function, its decorators included, or None when it has none (built in, a REPL)."""
    return _source_text(getattr(func, "__wrapped__", func))


@functools.lru_cache(maxsize=1024)
def _source_text(func: Any) -> str | None:
    try:
        return inspect.getsource(func)
    except (OSError, TypeError):
        return None


def _directory_of(module: types.ModuleType) -> str | None:
    path = getattr(module, "__file__", None)
    return str(Path(path).resolve().parent) if path else None


@functools.cache
def _distributions() -> dict[str, list[str]]:
    """Top-level import names -> the distributions that install them.

    Python 3.10's ``packages_distributions()`` reads only ``top_level.txt``, which many
    wheels (numpy, pandas, scikit-learn) no longer ship: the installed files tell too.
    """
    found: dict[str, list[str]] = {}
    for dist in importlib.metadata.distributions():
        name = dist.metadata["Name"]
        if not name:
            continue
        tops = (dist.read_text("top_level.txt") or "").split()
        if not tops:
            tops = [_top_name(str(path)) for path in dist.files or ()]
        for top in dict.fromkeys(t for t in tops if t):
            found.setdefault(top, []).append(name)
    return found


def _top_name(path: str) -> str:
    """The import name a file of a distribution belongs to, or "" (metadata, scripts, data)."""
    first, _, rest = path.partition("/")
    if first in ("..", "") or first.endswith((".dist-info", ".egg-info", ".data")) or ("." in first and rest):
        return ""
    if not rest:  # a module at the top: name.py, or an extension name.cpython-311-x86_64-linux-gnu.so
        stem, dot, suffix = first.partition(".")
        return stem if dot and suffix.split(".")[-1] in ("py", "so", "pyd") and stem.isidentifier() else ""
    return first if first.isidentifier() else ""


@functools.lru_cache(maxsize=1024)
def _version(distribution: str) -> str | None:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


def _packages_of(module: types.ModuleType) -> dict[str, str]:
    """Versions of the installed distributions whose packages *module* imported at top level."""
    tops = {
        (value.__name__ if isinstance(value, types.ModuleType) else getattr(value, "__module__", "") or "").split(".")[
            0
        ]
        for value in vars(module).values()
        if isinstance(value, types.ModuleType) or callable(value)
    }
    found: dict[str, str] = {}
    distributions = _distributions()
    for top in sorted(tops - {"", "builtins", "__main__", module.__name__.split(".")[0]}):
        for dist in distributions.get(top, ()):
            version = _version(dist)
            if version:
                found[dist] = version
    return found


@functools.lru_cache(maxsize=64)
def _git_state(directory: str | None) -> dict[str, Any]:
    """The commit and dirtiness of the git work tree holding *directory*, if any."""
    if directory is None or not os.path.isdir(directory):
        return {}
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=directory, capture_output=True, text=True, timeout=5, check=True
        ).stdout.strip()
        status = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=directory, capture_output=True, text=True, timeout=5, check=True,
        ).stdout  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return {}  # not a repository, no git, or git too slow: nothing to record
    return {"tracker_git_commit": commit, "tracker_git_dirty": bool(status.strip())}
