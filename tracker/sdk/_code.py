"""The code a step runs: its own source and the first-party functions, classes and constants it reaches.

"First party" means the user's own modules: anything imported from a file that
is not in the standard library, not in an installed package (site-packages)
and not tracker itself; ``__main__`` always is. From the step's function the
walk follows the global names and attributes its byte code mentions, its
closure and its defaults: a first-party function or class found there is
hashed and followed in turn; a module-level constant (a number, a string, a
tuple of them) of a first-party module is hashed by value. Installed packages
are not followed: their versions are the environment's part of a cache key.

Names are resolved on every call, so a helper redefined in a notebook counts;
what a function's code says is worked out once per code object.
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import os
import site
import sys
import sysconfig
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

#: Digests are this many hex digits of a sha256 (128 bits).
DIGEST_LENGTH = 32
_OWN_PACKAGE = __name__.partition(".")[0]
_CONSTANT_TYPES = (bool, int, float, complex, str, bytes, type(None))


def digest(data: bytes | str) -> str:
    """A short hex digest of *data*, as every part of a cache key is written."""
    return hashlib.sha256(data.encode() if isinstance(data, str) else data).hexdigest()[:DIGEST_LENGTH]


def code_digests(func: Any, *more: Any) -> tuple[dict[str, str], list[types.ModuleType]]:
    """{qualified name: digest} of *func*, the objects in *more* and the first-party code they reach,
    and the first-party modules that code lives in."""
    found: dict[str, str] = {}
    modules: dict[str, types.ModuleType] = {}
    pending = [inspect.unwrap(func), *more]
    while pending:
        obj = pending.pop()
        label = _label(obj)
        if label in found:
            continue
        module = sys.modules.get(getattr(obj, "__module__", None) or "")
        if module is not None:
            modules.setdefault(module.__name__, module)
        if isinstance(obj, type):
            found[label] = _class_digest(obj)
            pending.extend(_reached(obj))
        elif isinstance(obj, types.FunctionType):
            found[label] = _function_digest(obj.__code__, obj)
            pending.extend(_reached(obj))
        else:  # a constant: (label, value) as _reached yields it
            found[label] = digest(repr(obj.value))
    return dict(sorted(found.items())), list(modules.values())


class _Constant:
    """A first-party module-level constant reached from code, named by module and global name."""

    __slots__ = ("label", "value")

    def __init__(self, label: str, value: object) -> None:
        self.label, self.value = label, value


def _label(obj: Any) -> str:
    if isinstance(obj, _Constant):
        return obj.label
    return f"{getattr(obj, '__module__', None) or '?'}.{getattr(obj, '__qualname__', None) or repr(obj)}"


def _reached(obj: type | types.FunctionType) -> Iterator[Any]:
    """The first-party functions, classes and constants *obj* refers to."""
    if isinstance(obj, type):
        for member in vars(obj).values():
            for function in _functions_in(member):
                yield from _reached(function)
        for base in obj.__bases__:
            if is_first_party(base):
                yield base
        return
    globals_, module_name = obj.__globals__, obj.__module__
    names = _names(obj.__code__)  # globals and attributes alike: byte code keeps both in co_names
    referred: list[tuple[str | None, Any]] = [(name, globals_[name]) for name in names if name in globals_]
    referred += [(None, cell.cell_contents) for cell in obj.__closure__ or () if _filled(cell)]
    referred += [(None, value) for value in (obj.__defaults__ or ())]
    referred += [(None, value) for value in (obj.__kwdefaults__ or {}).values()]
    for name, value in referred:
        if isinstance(value, types.ModuleType):
            if _module_is_first_party(value.__name__):  # `import helpers` then `helpers.clean(...)`
                for attribute in sorted(names & vars(value).keys()):
                    yield from _worth_following(getattr(value, attribute), value.__name__, attribute)
            continue
        yield from _worth_following(value, module_name, name)


def _worth_following(value: Any, module_name: str, name: str | None) -> Iterator[Any]:
    if isinstance(value, _CONSTANT_TYPES) or (
        isinstance(value, (tuple, frozenset)) and all(isinstance(v, _CONSTANT_TYPES) for v in value)
    ):
        if name is not None and _module_is_first_party(module_name) and not name.startswith("__"):
            yield _Constant(f"{module_name}.{name}", value)
        return
    for function in _functions_in(value):
        if is_first_party(function):
            yield function
    if isinstance(value, type) and is_first_party(value):
        yield value


def _functions_in(value: Any) -> Iterator[types.FunctionType]:
    """The plain functions behind *value*: itself, a method's, a wrapper's (steps, partials), a property's."""
    if isinstance(value, (staticmethod, classmethod)):
        value = value.__func__
    elif isinstance(value, property):
        yield from (f for f in (value.fget, value.fset, value.fdel) if isinstance(f, types.FunctionType))
        return
    elif isinstance(value, functools.partial):
        value = value.func
    elif isinstance(value, types.MethodType):
        value = value.__func__
    try:
        value = inspect.unwrap(value)
    except ValueError:  # a cycle of __wrapped__
        return
    if isinstance(value, types.FunctionType):
        yield value


def _filled(cell: types.CellType) -> bool:
    try:
        cell.cell_contents  # noqa: B018 - an empty cell raises
    except ValueError:
        return False
    return True


@functools.lru_cache(maxsize=4096)
def _names(code: types.CodeType) -> frozenset[str]:
    """The global and attribute names *code*, and the code nested in it, mention."""
    names: set[str] = set()
    stack = [code]
    while stack:
        current = stack.pop()
        names.update(current.co_names)
        stack.extend(c for c in current.co_consts if isinstance(c, types.CodeType))
    return frozenset(names)


@functools.lru_cache(maxsize=4096)
def _function_digest(code: types.CodeType, function: types.FunctionType) -> str:
    """Its source's digest (decorators included); the byte code's when there is no source (a REPL)."""
    try:
        return digest(inspect.getsource(function))
    except (OSError, TypeError):
        return _bytecode_digest(code)


def _bytecode_digest(code: types.CodeType) -> str:
    parts: list[bytes] = [code.co_code, repr(code.co_names).encode(), repr(code.co_varnames).encode()]
    for const in code.co_consts:
        parts.append(_bytecode_digest(const).encode() if isinstance(const, types.CodeType) else repr(const).encode())
    return digest(b"\0".join(parts))


def _class_digest(cls: type) -> str:
    try:
        return _class_source_digest(cls)
    except (OSError, TypeError):  # no source: its methods' code
        methods = sorted(
            (name, _bytecode_digest(f.__code__)) for name, m in vars(cls).items() for f in _functions_in(m)
        )
        return digest(repr(methods))


@functools.lru_cache(maxsize=1024)
def _class_source_digest(cls: type) -> str:
    return digest(inspect.getsource(cls))


def is_first_party(obj: Any) -> bool:
    """Whether *obj* (a function or class) comes from the user's own code."""
    return _module_is_first_party(getattr(obj, "__module__", None) or "")


@functools.lru_cache(maxsize=4096)
def _module_is_first_party(name: str) -> bool:
    if name == "__main__":
        return True
    top = name.partition(".")[0]
    if not top or top in sys.builtin_module_names or top in sys.stdlib_module_names or top == _OWN_PACKAGE:
        return False
    module = sys.modules.get(name)
    path = getattr(module, "__file__", None)
    if not path:
        return False  # built in, or a namespace without files
    resolved = os.path.realpath(path)
    return not any(resolved.startswith(prefix) for prefix in _installed_prefixes())


@functools.cache
def _installed_prefixes() -> tuple[str, ...]:
    """Directories whose modules are the standard library or installed packages."""
    paths = {sysconfig.get_paths()[key] for key in ("stdlib", "platstdlib", "purelib", "platlib")}
    paths.update(site.getsitepackages() if hasattr(site, "getsitepackages") else ())
    user_site = site.getusersitepackages() if hasattr(site, "getusersitepackages") else None
    if isinstance(user_site, str):
        paths.add(user_site)
    paths.add(str(Path(__file__).resolve().parents[1]))  # tracker itself
    return tuple(sorted({os.path.realpath(p) + os.sep for p in paths if p}))
