"""Python values as MLMD records: which are parameters, what type an artifact is, what it is like.

Pure functions of values and annotations; nothing here touches a store.
"""

from __future__ import annotations

import contextlib
import dataclasses
import numbers
import types
import typing
from collections.abc import Mapping
from typing import Any

from tracker.store._values import kind_of
from tracker.store.entities import ArtifactBaseType, PropertyType

SCALARS = (bool, int, float, str, type(None))
_KIND_OF_ANNOTATION: dict[Any, PropertyType] = {
    bool: PropertyType.BOOLEAN,
    int: PropertyType.INT,
    float: PropertyType.DOUBLE,
    str: PropertyType.STRING,
}
METRICS_TYPE = "Metrics"

#: Artifact type names for Python types, set with :func:`tracker.register_artifact_type`.
_TYPE_NAMES: dict[type, tuple[str, ArtifactBaseType]] = {}


def plain(value: Any) -> Any:
    """A NumPy scalar (``np.int64(3)``, ``np.float32``, ``np.bool_``, a 0-d array) as the Python scalar it holds."""
    if type(value).__module__ == "numpy" and getattr(value, "shape", None) == () and hasattr(value, "item"):
        return value.item()
    return value


def is_scalar(value: object) -> bool:
    """Scalars (None, bool, int, float, str) become execution properties: the hyperparameters."""
    return isinstance(value, SCALARS)


def property_kind(annotation: Any) -> PropertyType | None:
    """The property kind an annotation declares: ``int``, ``float | None``, ``Optional[str]``..."""
    if isinstance(annotation, str):
        annotation = {"int": int, "float": float, "str": str, "bool": bool}.get(
            annotation.replace(" ", "").split("|")[0]
        )
    origin = typing.get_origin(annotation)
    if origin is typing.Union or origin is types.UnionType:
        kinds = {property_kind(arg) for arg in typing.get_args(annotation) if arg is not type(None)}
        return kinds.pop() if len(kinds) == 1 else None
    return _KIND_OF_ANNOTATION.get(annotation)


def register_artifact_type(
    python_type: type, name: str, *, base_type: ArtifactBaseType = ArtifactBaseType.UNSET
) -> None:
    """Record values of *python_type* (and its subclasses) as artifacts of type *name*.

    Example: ``tracker.register_artifact_type(LinearModel, "Model", base_type=ArtifactBaseType.MODEL)``.
    """
    _TYPE_NAMES[python_type] = (name, base_type)


def artifact_type_of(value: object) -> tuple[str, ArtifactBaseType]:
    """The artifact type name (and base type) for a value: registered, Metrics, or its class name
    (base type MODEL when it has a ``predict`` method)."""
    for cls in type(value).__mro__:
        if cls in _TYPE_NAMES:
            return _TYPE_NAMES[cls]
    if is_metrics(value):
        return METRICS_TYPE, ArtifactBaseType.METRICS
    if callable(getattr(value, "predict", None)) and not isinstance(value, type):
        return type(value).__qualname__, ArtifactBaseType.MODEL  # an estimator, a fitted model
    return type(value).__qualname__, ArtifactBaseType.UNSET


def is_metrics(value: object) -> bool:
    """A non-empty dict of str to numbers (not bools) is recorded as a Metrics artifact."""
    return (
        isinstance(value, dict)
        and bool(value)
        and all(isinstance(k, str) for k in value)
        and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value.values())
    )


def metrics_properties(value: Mapping[str, float]) -> dict[str, float]:
    """The numbers of a metrics dict, as custom properties (ints kept as ints)."""
    return {k: (v if isinstance(v, int) else float(v)) for k, v in value.items()}


def describe(value: object) -> dict[str, Any]:
    """Cheap facts about a value, as custom properties: its Python type, length, shape, dtype, columns."""
    cls = type(value)
    facts: dict[str, Any] = {"tracker_python_type": f"{cls.__module__}.{cls.__qualname__}"}
    shape = getattr(value, "shape", None)
    if isinstance(shape, tuple) and all(isinstance(n, numbers.Integral) for n in shape):
        facts["shape"] = "(" + ", ".join(str(int(n)) for n in shape) + ("," if len(shape) == 1 else "") + ")"
    dtype = getattr(value, "dtype", None)
    if dtype is not None and not callable(dtype):
        facts["dtype"] = str(dtype)
    columns = getattr(value, "columns", None)
    if columns is not None and not callable(columns):
        with contextlib.suppress(TypeError):
            facts["columns"] = ", ".join(map(str, list(columns)))[:2000]
    if "shape" not in facts:
        with contextlib.suppress(TypeError):
            facts["length"] = len(value)  # type: ignore[arg-type]
    return facts


def split_outputs(result: object, names: tuple[str, ...] | None) -> list[tuple[list[str | int], object]]:
    """The artifacts a return value makes, with their event paths.

    A tuple gives one per element (named by *names* or by index), a NamedTuple
    one per field; a dataclass one per field when *names* are given (else it is
    one value, like a model class would be); anything else one (named by the
    single name, else "output"). ``None`` gives none.
    """
    if result is None:
        return []
    fields = getattr(type(result), "_fields", None)
    if isinstance(result, tuple) and fields:
        return [([name], item) for name, item in zip(fields, result, strict=True) if item is not None]
    if names and len(names) > 1 and dataclasses.is_dataclass(result) and not isinstance(result, type):
        items = [(f.name, getattr(result, f.name)) for f in dataclasses.fields(result)]
        return [([name], item) for name, item in items if item is not None]
    if isinstance(result, tuple) and (names is None or len(names) > 1):
        paths: list[list[str | int]] = [[name] for name in names] if names else [[i] for i in range(len(result))]
        if len(paths) != len(result):
            raise ValueError(f"the step declares {len(paths)} outputs {names} but returned {len(result)} values")
        return [(path, item) for path, item in zip(paths, result, strict=True) if item is not None]
    return [([names[0] if names else "output"], result)]


def fits(value: Any, declared: PropertyType, int_bits: int) -> bool:
    """Whether *value* can be stored as a property declared *declared* on a backend with *int_bits* ints."""
    kind = kind_of(value)
    if kind is PropertyType.INT and declared is PropertyType.INT:
        return bool(-(1 << (int_bits - 1)) <= value < 1 << (int_bits - 1))
    return kind is declared or (declared is PropertyType.DOUBLE and kind is PropertyType.INT)


def as_property(value: Any, int_bits: int) -> Any:
    """A value a property can hold: scalars and JSON-like dicts as they are, lists in a struct, else repr.

    An int too wide for the backend's int_value column (32 bits on PostgreSQL and MySQL) is kept as its text.
    """
    if isinstance(value, int) and not isinstance(value, bool) and not fits(value, PropertyType.INT, int_bits):
        return str(value)
    if isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, dict) and all(isinstance(k, str) for k in value):
        return value
    if isinstance(value, (list, tuple)):
        return {"items": list(value)}
    return repr(value)[:10_000]
