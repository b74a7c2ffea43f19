"""tracker.testing.diff: structural differences, by path, with tolerances for numbers, arrays and frames."""

from __future__ import annotations

import copy
import math
import threading
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import pandas as pd
from hypothesis import given
from hypothesis import strategies as st

from tracker.testing import Difference, diff
from tracker.testing._diff import MAX_DIFFERENCES


@dataclass
class Layer:
    weights: list[float]
    bias: float


class Plain:
    """No __eq__ of its own: compared by attribute."""

    def __init__(self, coef: np.ndarray, name: str) -> None:
        self.coef = coef
        self.name = name


class Slotted:
    __slots__ = ("a", "b")

    def __init__(self, a: int, b: float) -> None:
        self.a, self.b = a, b


class Money:
    """Its own __eq__ decides, without looking at attributes."""

    def __init__(self, cents: int) -> None:
        self.cents = cents

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Money) and self.cents // 100 == other.cents // 100

    __hash__ = None  # type: ignore[assignment]


class Never:
    """Equal to nothing, whatever its attributes."""

    def __init__(self, x: int) -> None:
        self.x = x

    def __eq__(self, other: object) -> bool:
        return False

    __hash__ = None  # type: ignore[assignment]


class Pair(NamedTuple):
    left: float
    right: float


def paths(found: list[Difference]) -> list[str]:
    return [d.path for d in found]


def test_equal_values_have_no_differences() -> None:
    """Equal scalars, containers, arrays and frames give an empty list."""
    value = {"a": [1, 2.5, "x", None, True], "b": (b"raw", {1, 2}), "c": np.arange(6.0).reshape(2, 3)}
    assert diff(value, copy.deepcopy(value)) == []
    frame = pd.DataFrame({"x": [1.0, 2.0], "y": ["a", "b"]})
    assert diff(frame, frame.copy()) == []


def test_a_nested_difference_is_reported_at_its_path() -> None:
    """The path reads as Python would reach the value; the difference says how far apart the numbers are."""
    (found,) = diff({"model": [Layer([1.0, 2.0], 0.5)]}, {"model": [Layer([1.0, 2.5], 0.5)]}, path="output")
    assert found.path == "output['model'][0].weights[1]"
    assert (found.kind, found.expected, found.actual) == ("value", "2.0", "2.5")
    assert (
        str(found) == "output['model'][0].weights[1]: expected 2.0, got 2.5 (off by 0.5, more than the 2e-07 allowed)"
    )


def test_floats_match_within_tolerance_and_nan_matches_nan() -> None:
    """|actual - expected| <= atol + rtol * |expected|, as numpy.isclose; NaN equals NaN; ints compare exactly."""
    assert diff(1.0, 1.0 + 1e-9) == []
    assert paths(diff(1.0, 1.001)) == ["value"]
    assert diff(1.0, 1.001, rtol=1e-2) == []
    assert diff(0.0, 1e-3, atol=1e-2) == []
    assert diff(math.nan, math.nan) == [] and paths(diff(math.nan, 1.0)) == ["value"]
    assert diff(1, 1.0) == [] and diff(np.float32(0.5), 0.5) == []  # numbers of different types compare as numbers
    assert [d.detail for d in diff(10, 12)] == ["off by 2"]
    assert paths(diff(math.inf, -math.inf)) == ["value"] and diff(math.inf, math.inf) == []
    assert [d.detail for d in diff(10**400, 10.0**300)] == [""]  # too large for a float: compared as they are


def test_types_lengths_keys_and_sets() -> None:
    """Another type, length, missing or extra key, or set element is a difference of its own kind."""
    assert [d.kind for d in diff([1], (1,))] == ["type"]
    assert [d.kind for d in diff(True, 1)] == ["type"]
    assert [(d.kind, d.path) for d in diff([1, 2, 3], [1, 2])] == [("length", "value")]
    found = diff({"a": 1, "b": 2}, {"a": 1, "c": 3})
    assert [(d.kind, d.path) for d in found] == [("missing", "value['b']"), ("extra", "value['c']")]
    (found_set,) = diff({1, 2}, {2, 3})
    assert found_set.detail == "missing {1}, extra {3}"
    assert [d.kind for d in diff("abc", "abd")] == ["value"]


def test_numpy_arrays_by_shape_dtype_and_first_differing_element() -> None:
    """Arrays compare element-wise with tolerance; the first differing index and the count are reported."""
    expected = np.zeros((3, 4))
    actual = expected.copy()
    actual[1, 2], actual[2, 0] = 0.5, 0.25
    (found,) = diff(expected, actual, path="weights")
    assert found.path == "weights[1, 2]" and found.expected == "0.0" and found.actual == "0.5"
    assert found.detail == "2 of 12 elements differ; this is the first; largest difference 0.5"
    assert diff(expected + 1, expected + 1 + 1e-12) == []
    assert [d.kind for d in diff(expected, expected + 1e-12)] == ["value"]  # near zero only atol helps
    assert diff(expected, expected + 1e-12, atol=1e-9) == []
    assert [d.kind for d in diff(expected, np.zeros((4, 3)))] == ["shape"]
    assert [d.kind for d in diff(expected, expected.astype(np.float32))] == ["dtype"]
    assert diff(np.array([np.nan, 1.0]), np.array([np.nan, 1.0])) == []
    assert [d.kind for d in diff(np.array([True, False]), np.array([True, True]))] == ["value"]
    assert paths(diff(np.array(["a", "b"]), np.array(["a", "c"]))) == ["value[1]"]
    assert [d.kind for d in diff(np.arange(3), [0, 1, 2])] == ["type"]


def test_pandas_frames_by_columns_index_and_values() -> None:
    """Frames compare column by column: missing columns, another index, the first differing row of each column."""
    expected = pd.DataFrame({"x": [1.0, 2.0, 3.0], "y": ["a", "b", "c"], "z": [1, 2, 3]}, index=[10, 20, 30])
    actual = expected.copy()
    actual.loc[20, "x"] = 2.5
    actual.loc[30, "y"] = "d"
    actual = actual.drop(columns="z").assign(w=0)
    found = diff(expected, actual, path="frame")
    assert [(d.kind, d.path) for d in found] == [
        ("missing", "frame['z']"),
        ("extra", "frame['w']"),
        ("value", "frame['x'][20]"),
        ("value", "frame['y'][30]"),
    ]
    assert found[2].detail == "1 of 3 rows differ; this is the first"
    assert [d.kind for d in diff(expected, expected.set_axis([1, 2, 3]))] == ["index"]
    assert diff(expected[["x"]], expected[["x"]] * (1 + 1e-12)) == []
    assert [d.kind for d in diff(expected["z"], expected["z"].astype(float))] == ["dtype"]
    assert diff(pd.Series([1.0, None]), pd.Series([1.0, None])) == []
    assert [d.kind for d in diff(pd.Index([1, 2]), pd.Index([1, 3]))] == ["index"]
    assert [d.kind for d in diff(expected, expected["x"])] == ["type"]


def test_objects_by_attribute_unless_their_class_defines_equality() -> None:
    """Plain objects and slotted ones are walked by attribute; a class's own __eq__ decides for it."""
    (found,) = diff(Plain(np.array([1.0, 2.0]), "m"), Plain(np.array([1.0, 3.0]), "m"), path="model")
    assert found.path == "model.coef[1]"
    assert paths(diff(Slotted(1, 2.0), Slotted(1, 2.5))) == ["value.b"]
    assert diff(Money(150), Money(199)) == []
    assert paths(diff(Money(150), Money(250))) == ["value.cents"]  # unequal: the attributes say where
    (never,) = diff(Never(1), Never(1))
    assert never.detail == "unequal by its class's __eq__"
    assert paths(diff(Pair(1.0, 2.0), Pair(1.0, 3.0))) == ["value.right"]
    assert diff(object, object) == []  # the same object


def test_cycles_end_and_long_lists_are_cut() -> None:
    """A self-referencing value is compared once; more than MAX_DIFFERENCES differences end with a note."""
    a: list[object] = [1]
    a.append(a)
    b: list[object] = [2]
    b.append(b)
    assert paths(diff(a, b)) == ["value[0]"]
    found = diff(list(range(100)), [x + 1 for x in range(100)])
    assert len(found) == MAX_DIFFERENCES + 1 and found[-1].kind == "cut"


def test_values_without_attributes_compare_by_their_bytes() -> None:
    """An object with identity equality and no attributes is compared by its serialized bytes, if it has any."""
    assert diff(np.random.default_rng(1), np.random.default_rng(1)) == []
    assert [d.detail for d in diff(np.random.default_rng(1), np.random.default_rng(2))] == [
        "their serialized bytes differ"]  # fmt: skip
    unpicklable = [d.detail for d in diff(threading.Lock(), threading.Lock())]
    assert unpicklable == ["no equality, attributes or bytes to compare them by"]


def _containers(inner: st.SearchStrategy[object]) -> st.SearchStrategy[object]:
    return st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=3), inner, max_size=4)


json_like = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=5),
    _containers,
    max_leaves=20,
)


@given(json_like)
def test_a_value_never_differs_from_its_copy(value: object) -> None:
    """Round trip: any JSON-like value (NaN included) matches a deep copy of itself."""
    assert diff(value, copy.deepcopy(value)) == []


class BrokenRepr:
    def __init__(self, x: int) -> None:
        self.x = x

    def __repr__(self) -> str:
        raise RuntimeError("no repr")


class ArrayLike:
    """An __eq__ that cannot answer with a bool, as arrays do; no attributes of its own."""

    __slots__ = ()

    def __eq__(self, other: object) -> object:
        return np.array([True, False])

    __hash__ = None  # type: ignore[assignment]


class Opaque:
    """Its own __eq__, and nothing to look at inside."""

    __slots__ = ()

    def __eq__(self, other: object) -> bool:
        return False

    __hash__ = None  # type: ignore[assignment]


def test_odd_objects_still_get_a_difference() -> None:
    """A broken __repr__, an __eq__ that cannot answer, no attributes, attributes only one side has."""
    assert [d.expected for d in diff(BrokenRepr(1), BrokenRepr(2), path="v")] == ["1"]
    assert diff(BrokenRepr(1), BrokenRepr(1)) == []
    (broken,) = diff([BrokenRepr(1)], [1])
    assert broken.kind == "type" and broken.detail.startswith("was <BrokenRepr instance at ")
    assert diff(ArrayLike(), ArrayLike()) == []  # no attributes, the same bytes
    assert [d.detail for d in diff(Opaque(), Opaque())] == [""]
    one, other = Plain(np.array([1.0]), "m"), Plain(np.array([1.0]), "m")
    other.extra = 1  # type: ignore[attr-defined]
    del other.name
    assert [(d.kind, d.path) for d in diff(one, other)] == [("missing", "value.name"), ("extra", "value.extra")]


def test_object_arrays_and_object_columns_element_by_element() -> None:
    """Arrays of arrays, and object columns holding lists or missing values, are compared element by element."""
    ragged = np.array([np.arange(2), np.arange(3)], dtype=object)
    other = np.array([np.arange(2), np.arange(3) * 2], dtype=object)
    assert diff(ragged, ragged.copy()) == []
    assert paths(diff(ragged, other)) == ["value[1][1]"]
    column = pd.Series([[1, 2], None, "x"], dtype=object)
    assert diff(column, column.copy()) == []
    assert paths(diff(column, pd.Series([[1, 3], None, "x"], dtype=object))) == ["value[0][1]"]
