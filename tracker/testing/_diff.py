"""Structural comparison of two values: what differs, where, by how much.

Numbers compare with a tolerance, as ``numpy.isclose`` does: ``|actual - expected| <= atol + rtol * |expected|``,
NaN equal to NaN. NumPy arrays compare by shape, dtype and element (with the index of the first difference);
pandas frames by columns, index and each column's values; mappings by key, sequences by index, dataclasses
and plain objects by attribute. NumPy and pandas are never imported here: a value can only be an array or a
frame if its library is loaded already.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
import reprlib
import sys
from collections.abc import Mapping, Sequence, Set
from dataclasses import dataclass
from typing import Any

from tracker.values import ValueStore

#: At most this many differences are reported per comparison; one more says that the list was cut.
MAX_DIFFERENCES = 50

_repr = reprlib.Repr()
_repr.maxstring = 60
_repr.maxother = 60
_repr.maxlist = _repr.maxtuple = _repr.maxdict = _repr.maxset = 6


def short(value: Any) -> str:
    """A repr of *value* cut to about one line (reprlib: a broken ``__repr__`` gives ``<X instance at ...>``)."""
    return _repr.repr(value)


@dataclass(frozen=True)
class Difference:
    """One place where two values differ.

    Attributes:
        path: where, as Python would reach it from the output: ``model.weights[3]``, ``output['rmse']``.
        kind: ``"value"``, ``"type"``, ``"shape"``, ``"dtype"``, ``"length"``, ``"missing"`` (expected, not
            found), ``"extra"`` (found, not expected), ``"index"``, ``"error"`` (a raised exception) or
            ``"unstored"`` (no recorded value to compare with).
        expected: the expected side, short.
        actual: the actual side, short.
        detail: how they differ, when there is more to say (how far apart, how many elements).

    .. versionadded:: 0.1
    """

    path: str
    kind: str
    expected: str
    actual: str
    detail: str = ""

    def __str__(self) -> str:
        text = f"{self.path}: expected {self.expected}, got {self.actual}"
        return f"{text} ({self.detail})" if self.detail else text


def diff(expected: Any, actual: Any, *, rtol: float = 1e-7, atol: float = 0.0, path: str = "value") -> list[Difference]:
    """Where *actual* differs from *expected*, element by element; an empty list when they match.

    Floats (and NumPy and pandas numbers) match within ``atol + rtol * |expected|``; NaN matches NaN.
    Containers are walked: dicts by key, lists and tuples by index, sets by element, dataclasses and other
    objects by attribute (unless their class defines ``__eq__``, which then decides). Values of different
    types differ, except numbers of different types (``1`` and ``1.0``), which compare as numbers.

    Args:
        expected: the reference value (a recorded output, the first of two runs).
        actual: the value to check.
        rtol: relative tolerance for floating-point numbers.
        atol: absolute tolerance for floating-point numbers.
        path: the name of the root in the differences' paths.

    Returns:
        At most ``MAX_DIFFERENCES`` differences (and a last one saying that more were cut), in the order
        the values were walked.

    Example::

        >>> [str(d) for d in diff({"w": [1.0, 2.0]}, {"w": [1.0, 2.5]}, path="model")]
        ["model['w'][1]: expected 2.0, got 2.5 (off by 0.5, more than the 2e-07 allowed)"]

    .. versionadded:: 0.1
    """
    walker = _Walker(rtol, atol)
    walker.walk(expected, actual, path)
    return walker.found


class _Cut(Exception):
    """Enough differences were found."""


class _Walker:
    def __init__(self, rtol: float, atol: float) -> None:
        self.rtol, self.atol = rtol, atol
        self.found: list[Difference] = []
        self._seen: set[tuple[int, int]] = set()

    def walk(self, expected: Any, actual: Any, path: str) -> None:
        try:
            self._walk(expected, actual, path)
        except _Cut:
            self.found.append(Difference(path, "cut", "", "", f"more differences not shown (over {MAX_DIFFERENCES})"))

    def add(self, path: str, kind: str, expected: str, actual: str, detail: str = "") -> None:
        if len(self.found) >= MAX_DIFFERENCES:
            raise _Cut
        self.found.append(Difference(path, kind, expected, actual, detail))

    def _walk(self, expected: Any, actual: Any, path: str) -> None:
        if expected is actual:
            return
        pandas = sys.modules.get("pandas")
        if pandas is not None and isinstance(expected, (pandas.DataFrame, pandas.Series, pandas.Index)):
            return self._pandas(pandas, expected, actual, path)
        numpy = sys.modules.get("numpy")
        if numpy is not None and isinstance(expected, numpy.ndarray):
            return self._array(numpy, expected, actual, path)
        if _is_number(expected) and _is_number(actual):
            return self._number(expected, actual, path)
        if type(expected) is not type(actual):
            return self.add(
                path, "type", _type_name(expected), _type_name(actual), f"was {short(expected)}, is {short(actual)}"
            )
        if isinstance(expected, (str, bytes, bytearray, bool, type(None))):
            if expected != actual:
                self.add(path, "value", short(expected), short(actual))
            return None
        key = (id(expected), id(actual))
        if key in self._seen:
            return None  # a cycle, or the same pair reached twice: compared once
        self._seen.add(key)
        if isinstance(expected, Mapping):
            return self._mapping(expected, actual, path)
        if isinstance(expected, tuple) and hasattr(type(expected), "_fields"):  # a NamedTuple: by field name
            for name in type(expected)._fields:  # type: ignore[attr-defined]
                self._walk(getattr(expected, name), getattr(actual, name), f"{path}.{name}")
            return None
        if isinstance(expected, Sequence):
            return self._sequence(expected, actual, path)
        if isinstance(expected, Set):
            return self._set(expected, actual, path)
        return self._object(expected, actual, path)

    # --- kinds of values ---

    def _number(self, expected: Any, actual: Any, path: str) -> None:
        if isinstance(expected, numbers.Integral) and isinstance(actual, numbers.Integral):
            if int(expected) != int(actual):
                self.add(path, "value", short(expected), short(actual), f"off by {int(actual) - int(expected)}")
            return
        try:
            e, a = complex(expected), complex(actual)
        except (TypeError, ValueError, OverflowError):  # a number without a complex value, or a huge int
            if expected != actual:
                self.add(path, "value", short(expected), short(actual))
            return
        if _close(e, a, self.rtol, self.atol):
            return
        self.add(path, "value", short(expected), short(actual), _how_far(e, a, self.rtol, self.atol))

    def _mapping(self, expected: Mapping[Any, Any], actual: Mapping[Any, Any], path: str) -> None:
        for key in expected:
            if key not in actual:
                self.add(f"{path}[{key!r}]", "missing", short(expected[key]), "nothing")
        for key in actual:
            if key not in expected:
                self.add(f"{path}[{key!r}]", "extra", "nothing", short(actual[key]))
        for key in expected:
            if key in actual:
                self._walk(expected[key], actual[key], f"{path}[{key!r}]")

    def _sequence(self, expected: Sequence[Any], actual: Sequence[Any], path: str) -> None:
        if len(expected) != len(actual):
            self.add(path, "length", f"{len(expected)} items", f"{len(actual)}")
        for i, (e, a) in enumerate(zip(expected, actual)):  # noqa: B905 - lengths were compared above
            self._walk(e, a, f"{path}[{i}]")

    def _set(self, expected: Set[Any], actual: Set[Any], path: str) -> None:
        missing, extra = expected - actual, actual - expected
        if missing or extra:
            detail = ", ".join(part for part in (missing and f"missing {short(set(missing))}",
                                                 extra and f"extra {short(set(extra))}") if part)  # fmt: skip
            self.add(path, "value", short(expected), short(actual), detail)

    def _object(self, expected: Any, actual: Any, path: str) -> None:
        if dataclasses.is_dataclass(expected) and not isinstance(expected, type):
            for f in dataclasses.fields(expected):
                self._walk(getattr(expected, f.name), getattr(actual, f.name), f"{path}.{f.name}")
            return
        own_eq = type(expected).__eq__ is not object.__eq__  # type: ignore[comparison-overlap]
        if own_eq:  # the class says what equal means
            try:
                if bool(expected == actual):
                    return
            except Exception:  # an __eq__ that cannot answer (an array-like): look inside instead
                own_eq = False
        mine, theirs = _attributes(expected), _attributes(actual)
        if mine is not None and theirs is not None:
            before = len(self.found)
            self._mapping_of_attributes(mine, theirs, path)
            if own_eq and len(self.found) == before:
                self.add(path, "value", short(expected), short(actual), "unequal by its class's __eq__")
            return
        if own_eq:
            self.add(path, "value", short(expected), short(actual))
            return
        mine_bytes, their_bytes = _serialized(expected), _serialized(actual)
        if mine_bytes is None or their_bytes is None:
            detail = "no equality, attributes or bytes to compare them by"
            self.add(path, "value", short(expected), short(actual), detail)
        elif mine_bytes != their_bytes:
            self.add(path, "value", short(expected), short(actual), "their serialized bytes differ")

    def _mapping_of_attributes(self, expected: dict[str, Any], actual: dict[str, Any], path: str) -> None:
        for name in expected:
            if name not in actual:
                self.add(f"{path}.{name}", "missing", short(expected[name]), "nothing")
        for name in actual:
            if name not in expected:
                self.add(f"{path}.{name}", "extra", "nothing", short(actual[name]))
        for name in expected:
            if name in actual:
                self._walk(expected[name], actual[name], f"{path}.{name}")

    def _array(self, np: Any, expected: Any, actual: Any, path: str) -> None:
        if not isinstance(actual, np.ndarray):
            return self.add(path, "type", "ndarray", _type_name(actual), f"is {short(actual)}")
        if expected.shape != actual.shape:
            return self.add(path, "shape", str(expected.shape), str(actual.shape))
        if expected.dtype != actual.dtype:
            self.add(path, "dtype", str(expected.dtype), str(actual.dtype))
        numeric = all(np.issubdtype(a.dtype, np.number) or a.dtype == np.bool_ for a in (expected, actual))
        if numeric:
            if expected.dtype == np.bool_ or actual.dtype == np.bool_:
                differs = expected != actual
            else:
                differs = ~np.isclose(actual, expected, rtol=self.rtol, atol=self.atol, equal_nan=True)
            count = int(np.count_nonzero(differs))
            if not count:
                return None
            first = tuple(int(i) for i in np.argwhere(differs)[0])
            where = f"{path}[{', '.join(map(str, first))}]" if first else path
            e, a = expected[first], actual[first]
            detail = f"{count} of {expected.size} elements differ; this is the first"
            if expected.dtype != np.bool_ and actual.dtype != np.bool_:
                gap = np.abs(actual.astype(np.complex128) - expected.astype(np.complex128))
                gap = gap[differs & ~np.isnan(gap)]
                if gap.size:
                    detail += f"; largest difference {float(gap.max()):.6g}"
            return self.add(where, "value", short(e.item()), short(a.item()), detail)
        try:
            if bool(np.array_equal(expected, actual)):
                return None
        except Exception:  # elements that cannot say whether they are equal: compared one by one below
            pass
        for index in np.ndindex(expected.shape):  # object or text arrays: element by element
            self._walk(expected[index], actual[index], f"{path}[{', '.join(map(str, index))}]")
        return None

    def _pandas(self, pd: Any, expected: Any, actual: Any, path: str) -> None:
        if type(expected) is not type(actual):
            return self.add(path, "type", _type_name(expected), _type_name(actual), f"is {short(actual)}")
        if isinstance(expected, pd.Index):
            if not expected.equals(actual):
                self.add(path, "index", short(list(expected)), short(list(actual)))
            return None
        if not expected.index.equals(actual.index):
            return self.add(f"{path}.index", "index", short(list(expected.index)), short(list(actual.index)))
        if isinstance(expected, pd.Series):
            return self._column(pd, expected, actual, path)
        self._mapping_of_columns(pd, expected, actual, path)
        return None

    def _mapping_of_columns(self, pd: Any, expected: Any, actual: Any, path: str) -> None:
        for name in expected.columns:
            if name not in actual.columns:
                self.add(f"{path}[{name!r}]", "missing", f"a column of {expected[name].dtype}", "nothing")
        for name in actual.columns:
            if name not in expected.columns:
                self.add(f"{path}[{name!r}]", "extra", "nothing", f"a column of {actual[name].dtype}")
        for name in expected.columns:
            if name in actual.columns:
                self._column(pd, expected[name], actual[name], f"{path}[{name!r}]")

    def _column(self, pd: Any, expected: Any, actual: Any, path: str) -> None:
        if expected.dtype != actual.dtype:
            self.add(path, "dtype", str(expected.dtype), str(actual.dtype))
        numeric = pd.api.types.is_numeric_dtype
        if numeric(expected.dtype) and numeric(actual.dtype) and not pd.api.types.is_bool_dtype(expected.dtype):
            np = sys.modules["numpy"]  # pandas imports it
            e = expected.to_numpy(dtype=np.complex128, na_value=np.nan)
            a = actual.to_numpy(dtype=np.complex128, na_value=np.nan)
            differs = ~np.isclose(a, e, rtol=self.rtol, atol=self.atol, equal_nan=True)
            if differs.any():
                first = int(np.argmax(differs))
                count = int(np.count_nonzero(differs))
                detail = f"{count} of {len(e)} rows differ; this is the first"
                where = f"{path}[{_scalar(expected.index[first])!r}]"
                self.add(where, "value", short(_scalar(expected.iloc[first])), short(_scalar(actual.iloc[first])),
                         detail)  # fmt: skip
            return
        for label, e, a in zip(expected.index, expected.array, actual.array):  # noqa: B905 - same index
            if _missing(pd, e) and _missing(pd, a):
                continue
            before = len(self.found)
            self._walk(_scalar(e), _scalar(a), f"{path}[{_scalar(label)!r}]")
            if len(self.found) > before:
                return  # the first differing row of a column is enough to find it


def _is_number(value: Any) -> bool:
    return isinstance(value, numbers.Number) and not isinstance(value, bool) and type(value).__name__ != "bool_"


def _close(expected: complex, actual: complex, rtol: float, atol: float) -> bool:
    if expected == actual:
        return True
    if _nan(expected) or _nan(actual):
        return _nan(expected) and _nan(actual)
    if math.isinf(abs(expected)) or math.isinf(abs(actual)):
        return False
    return abs(actual - expected) <= atol + rtol * abs(expected)


def _nan(value: complex) -> bool:
    return math.isnan(value.real) or math.isnan(value.imag)


def _how_far(expected: complex, actual: complex, rtol: float, atol: float) -> str:
    if _nan(expected) or _nan(actual) or math.isinf(abs(expected)) or math.isinf(abs(actual)):
        return ""
    gap = abs(actual - expected)
    allowed = atol + rtol * abs(expected)
    return f"off by {gap:.6g}" + (f", more than the {allowed:.3g} allowed" if allowed else "")


def _type_name(value: Any) -> str:
    cls = type(value)
    return cls.__qualname__ if cls.__module__ == "builtins" else f"{cls.__module__}.{cls.__qualname__}"


def _attributes(value: Any) -> dict[str, Any] | None:
    """An object's attributes (``__dict__`` and ``__slots__``), or None when it keeps none of either."""
    found: dict[str, Any] | None = None
    if hasattr(value, "__dict__"):
        found = dict(vars(value))
    for cls in type(value).__mro__:
        for name in getattr(cls, "__slots__", ()):
            if name not in ("__dict__", "__weakref__") and hasattr(value, name):
                found = found if found is not None else {}
                found[name] = getattr(value, name)
    return found


def _missing(pd: Any, value: Any) -> bool:
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def _scalar(value: Any) -> Any:
    item = getattr(value, "item", None)
    if callable(item) and getattr(value, "shape", None) == ():
        return item()
    return value


def _serialized(value: Any) -> str | None:
    try:
        return ValueStore().fingerprint(value)
    except Exception:
        return None
