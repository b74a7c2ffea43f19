"""Property values to and from the columns of MLMD's ``*Property`` tables.

A property row fills exactly one value column. Structs are stored as MLMD
stores them: ``'mlmd-struct::' + base64(serialized google.protobuf.Struct)`` in
``string_value``; protos as a serialized ``google.protobuf.Any`` in
``proto_value``. The few protobuf messages involved are encoded here by hand,
so tracker needs no protobuf runtime.
"""

from __future__ import annotations

import base64
import struct as _struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from tracker.errors import InvalidArgumentError, PropertyError
from tracker.store.entities import PropertyType, PropertyValue, ProtoValue

STRUCT_PREFIX = "mlmd-struct::"

#: The value column of a property row for each kind.
COLUMN = {
    PropertyType.INT: "int_value",
    PropertyType.DOUBLE: "double_value",
    PropertyType.STRING: "string_value",
    PropertyType.STRUCT: "string_value",
    PropertyType.PROTO: "proto_value",
    PropertyType.BOOLEAN: "bool_value",
}
VALUE_COLUMNS = ("int_value", "double_value", "string_value", "proto_value", "bool_value")


def kind_of(value: object) -> PropertyType | None:
    """The property kind a Python value is stored as, or None if it has none."""
    if isinstance(value, bool):
        return PropertyType.BOOLEAN
    if isinstance(value, int):
        return PropertyType.INT
    if isinstance(value, float):
        return PropertyType.DOUBLE
    if isinstance(value, str):
        return PropertyType.STRING
    if isinstance(value, Mapping):
        return PropertyType.STRUCT
    if isinstance(value, ProtoValue):
        return PropertyType.PROTO
    return None


@dataclass(frozen=True)
class Flavor:
    """How a backend's MLMD schema holds values.

    ``int_bits``: the width of ``int_value`` (64 on SQLite, 32 on PostgreSQL and MySQL).
    ``proto_base64``: MLMD writes ``proto_value`` as base64 text on SQLite and MySQL,
    as raw bytes on PostgreSQL.
    """

    int_bits: int
    proto_base64: bool


def encode(value: PropertyValue, kind: PropertyType, flavor: Flavor) -> Any:
    """The stored form of *value*, already checked to be of *kind*."""
    if kind is PropertyType.INT:
        limit = 1 << (flavor.int_bits - 1)
        if not -limit <= value < limit:  # type: ignore[operator]
            raise InvalidArgumentError(
                f"integer {value} does not fit the {flavor.int_bits}-bit int_value column of "
                "this database's MLMD schema; store it as a float or a string"
            )
        return value
    if kind is PropertyType.DOUBLE:
        return float(value)  # type: ignore[arg-type]
    if kind is PropertyType.STRING:
        if value.startswith(STRUCT_PREFIX):  # type: ignore[union-attr]
            raise InvalidArgumentError(
                f"a string property may not start with {STRUCT_PREFIX!r}: MLMD reads such "
                "strings as structs; pass a dict to store a struct"
            )
        return value
    if kind is PropertyType.STRUCT:
        raw = _message(_struct_fields(value))  # type: ignore[arg-type]
        return STRUCT_PREFIX + base64.b64encode(raw).decode("ascii")
    if kind is PropertyType.PROTO:
        proto: ProtoValue = value  # type: ignore[assignment]
        raw = _field_bytes(1, proto.type_url.encode()) + _field_bytes(2, proto.value)
        return base64.b64encode(raw).decode("ascii") if flavor.proto_base64 else raw
    return bool(value)


def decode_row(row: Sequence[Any], at: Mapping[str, int], names: Sequence[str], flavor: Flavor) -> PropertyValue:
    """:func:`decode` for a row as a tuple; *at* gives each column's position (ints and strings decode fast)."""
    value = row[at["int_value"]]
    if value is not None:
        return int(value)
    value = row[at["double_value"]]
    if value is not None:
        return float(value)
    value = row[at["string_value"]]
    if value is not None and not value.startswith(STRUCT_PREFIX):
        return str(value)
    return decode(dict(zip(names, row, strict=True)), flavor)


def decode(row: Mapping[str, Any], flavor: Flavor) -> PropertyValue:
    """The Python value held by a property row (whichever value column is set)."""
    if row["int_value"] is not None:
        return int(row["int_value"])
    if row["double_value"] is not None:
        return float(row["double_value"])
    try:
        if row["string_value"] is not None:
            text: str = row["string_value"]
            if text.startswith(STRUCT_PREFIX):
                return _read_struct(base64.b64decode(text[len(STRUCT_PREFIX) :], validate=True))
            return text
        if row["proto_value"] is not None:
            raw = row["proto_value"]
            raw = raw.encode() if isinstance(raw, str) else bytes(raw)
            fields = dict(_read_fields(base64.b64decode(raw, validate=True) if flavor.proto_base64 else raw))
            url, payload = fields.get(1, b""), fields.get(2, b"")
            if not (isinstance(url, bytes) and isinstance(payload, bytes)):
                raise ValueError("type_url and value must be length-delimited")
            return ProtoValue(url.decode(), payload)
    except (ValueError, IndexError, _struct.error) as exc:  # binascii.Error and UnicodeError are ValueErrors
        raise InvalidArgumentError(
            f"the stored value of property {row['name']!r} is not a valid MLMD struct or proto ({exc}); "
            "the row was damaged outside tracker"
        ) from None
    if row["bool_value"] is not None:
        return bool(row["bool_value"])
    raise InvalidArgumentError(f"property {row['name']!r} has no value in any column")


def check(name: str, value: object, declared: PropertyType | None) -> PropertyType:
    """The kind to store *value* as, raising PropertyError if it cannot be stored so."""
    kind = kind_of(value)
    if kind is None:
        raise PropertyError(
            f"property {name!r} has a value of type {type(value).__name__}; a property holds "
            "an int, float, str, bool, a dict of JSON-like values, or a ProtoValue"
        )
    if declared is None or declared is kind:
        return kind
    if declared is PropertyType.DOUBLE and kind is PropertyType.INT:
        return declared  # an int is a fine value for a DOUBLE property
    raise PropertyError(
        f"property {name!r} is declared {declared.name} by its type, but the value "
        f"{value!r} is {kind.name}; pass a value of the declared kind"
    )


# --- protobuf wire format, just enough for Struct, Value, ListValue and Any ---


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        low = n & 0x7F
        n >>= 7
        if n:
            out.append(low | 0x80)
        else:
            out.append(low)
            return bytes(out)


def _field_bytes(number: int, payload: bytes) -> bytes:
    if not payload:
        return b""  # proto3 leaves default scalars out
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def _oneof_bytes(number: int, payload: bytes) -> bytes:
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def _message(parts: list[bytes]) -> bytes:
    return b"".join(parts)


def _struct_fields(mapping: Mapping[Any, Any]) -> list[bytes]:
    parts = []
    for key in sorted(mapping):
        if not isinstance(key, str):
            raise InvalidArgumentError(f"struct keys must be strings, got {key!r}; convert the keys with str()")
        entry = _oneof_bytes(1, key.encode()) + _oneof_bytes(2, _value(mapping[key]))
        parts.append(_oneof_bytes(1, entry))
    return parts


def _value(v: object) -> bytes:
    if v is None:
        return _varint(1 << 3 | 0) + b"\x00"
    if isinstance(v, bool):
        return _varint(4 << 3 | 0) + (b"\x01" if v else b"\x00")
    if isinstance(v, (int, float)):
        return _varint(2 << 3 | 1) + _struct.pack("<d", float(v))
    if isinstance(v, str):
        return _oneof_bytes(3, v.encode())
    if isinstance(v, Mapping):
        return _oneof_bytes(5, _message(_struct_fields(v)))
    if isinstance(v, (list, tuple)):
        return _oneof_bytes(6, b"".join(_oneof_bytes(1, _value(x)) for x in v))
    raise InvalidArgumentError(
        f"a struct property cannot hold {type(v).__name__} {v!r}; use None, bool, int, float, str, lists and dicts"
    )


def _read_fields(data: bytes) -> list[tuple[int, bytes | int | float]]:
    """(field number, payload) pairs of one message, in wire order."""
    out: list[tuple[int, bytes | int | float]] = []
    pos = 0
    while pos < len(data):
        key, pos = _read_varint(data, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            number_value, pos = _read_varint(data, pos)
            out.append((number, number_value))
        elif wire == 1:
            out.append((number, _struct.unpack_from("<d", data, pos)[0]))
            pos += 8
        elif wire == 2:
            size, pos = _read_varint(data, pos)
            if pos + size > len(data):
                raise ValueError("a length-delimited field runs past the end")
            out.append((number, data[pos : pos + size]))
            pos += size
        elif wire == 5:
            pos += 4  # fixed32: no field of ours uses it; skip
        else:
            raise InvalidArgumentError(f"stored protobuf value is malformed (wire type {wire})")
    return out


def _read_varint(data: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7


def _read_struct(data: bytes) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for _, entry in _read_fields(data):
        fields = dict(_read_fields(entry))  # type: ignore[arg-type]
        key = fields.get(1, b"")
        out[key.decode()] = _read_value(fields.get(2, b""))  # type: ignore[union-attr,arg-type]
    return out


def _read_value(data: bytes) -> Any:
    fields = _read_fields(data)
    if not fields:
        return None
    number, payload = fields[-1]
    if number == 2:
        return payload
    if number == 3:
        return payload.decode()  # type: ignore[union-attr]
    if number == 4:
        return bool(payload)
    if number == 5:
        return _read_struct(payload)  # type: ignore[arg-type]
    if number == 6:
        return [_read_value(item) for _, item in _read_fields(payload)]  # type: ignore[arg-type]
    return None  # null_value
