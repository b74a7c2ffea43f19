"""Property values in MLMD's stored forms: structs and protos encoded without protobuf."""

from __future__ import annotations

import base64
import math
from typing import Any

import pytest

from tracker import PropertyType, ProtoValue
from tracker.errors import InvalidArgumentError
from tracker.store import _values as values

SQLITE = values.Flavor(int_bits=64, proto_base64=True)
POSTGRES = values.Flavor(int_bits=32, proto_base64=False)
EMPTY = dict.fromkeys((*values.VALUE_COLUMNS, "byte_value"))


def _round_trip(value: Any, flavor: values.Flavor = SQLITE) -> Any:
    kind = values.check("p", value, None)
    row = {**EMPTY, "name": "p", values.COLUMN[kind]: values.encode(value, kind, flavor)}
    return values.decode(row, flavor)


@pytest.mark.parametrize(
    "struct",
    [
        {},
        {"a": [1.0, 2.5, "x", True, None], "b": {"c": 1.0}},
        {"long": "x" * 200, "longer": ["y" * 20_000], "deep": {"k": {"k": {"k": [[], {}, [None]]}}}},
        {"ünïcode ☃": "🚀", "": "", "nan-free": -0.0, "big": 1e300, "tiny": 5e-324},
        {f"k{i}": float(i) for i in range(300)},
    ],
    ids=["empty", "mixed", "long", "unicode", "many-keys"],
)
def test_structs_round_trip(struct: dict[str, Any]) -> None:
    """Nested dicts and lists, long strings (multi-byte lengths) and odd keys come back equal."""
    assert _round_trip(struct) == struct


def test_struct_numbers_come_back_as_floats() -> None:
    """protobuf's Struct holds numbers as doubles: ints come back as floats; NaN stays NaN."""
    found = _round_trip({"i": 3, "nan": float("nan"), "t": (1, 2)})
    assert found["i"] == 3.0 and isinstance(found["i"], float)
    assert math.isnan(found["nan"]) and found["t"] == [1.0, 2.0]


def test_struct_is_stored_as_mlmd_does() -> None:
    """The stored text is "mlmd-struct::" + base64 of the serialized Struct, byte for byte as protobuf writes it."""
    stored = values.encode({"a": 1}, PropertyType.STRUCT, SQLITE)
    assert (
        stored == "mlmd-struct::" + base64.b64encode(b"\n\x0e\n\x01a\x12\t\x11\x00\x00\x00\x00\x00\x00\xf0?").decode()
    )
    # ml-metadata wrote this one (key order is not stable there; any order decodes)
    mlmd = "mlmd-struct::ChcKAWISEioQCg4KAWMSCREAAAAAAADwPwoqCgFhEiUyIwoJEQAAAAAAAPA/CgkRAAAAAAAABEAKAxoBeAoCIAEKAggA"
    assert values.decode({**EMPTY, "name": "s", "string_value": mlmd}, SQLITE) == {
        "a": [1.0, 2.5, "x", True, None], "b": {"c": 1.0}}  # fmt: skip


@pytest.mark.parametrize("flavor", [SQLITE, POSTGRES], ids=["base64", "raw"])
@pytest.mark.parametrize(
    "proto",
    [ProtoValue("type.googleapis.com/google.protobuf.StringValue", b"\n\x05hello"), ProtoValue(""),
     ProtoValue("t", bytes(range(256)) * 100)],
    ids=["string-value", "empty", "long"],
)  # fmt: skip
def test_protos_round_trip(proto: ProtoValue, flavor: values.Flavor) -> None:
    """A ProtoValue comes back equal, as base64 text (SQLite, MySQL) or raw bytes (PostgreSQL)."""
    assert _round_trip(proto, flavor) == proto


def test_proto_is_stored_as_mlmd_does() -> None:
    """On SQLite ml-metadata stores the serialized Any as base64 text; this is the one it wrote."""
    stored = "Ci90eXBlLmdvb2dsZWFwaXMuY29tL2dvb2dsZS5wcm90b2J1Zi5TdHJpbmdWYWx1ZRIHCgVoZWxsbw=="
    proto = ProtoValue("type.googleapis.com/google.protobuf.StringValue", b"\n\x05hello")
    assert values.encode(proto, PropertyType.PROTO, SQLITE) == stored
    assert values.decode({**EMPTY, "name": "p", "proto_value": stored.encode()}, SQLITE) == proto


def test_unknown_fields_are_skipped() -> None:
    """A field protobuf would skip (here a fixed32) does not stop decoding."""
    raw = b"\n\x0e\n\x01a\x12\t\x11\x00\x00\x00\x00\x00\x00\xf0?" + b"\x15\x01\x02\x03\x04"
    text = "mlmd-struct::" + base64.b64encode(raw).decode()
    assert values.decode({**EMPTY, "name": "s", "string_value": text}, SQLITE) == {"a": 1.0}


@pytest.mark.parametrize(
    "row",
    [
        {"string_value": "mlmd-struct::not base64!"},
        {"string_value": "mlmd-struct::" + base64.b64encode(b"\n\x50").decode()},
        {"proto_value": b"\x0b"},
        {"string_value": "mlmd-struct::" + base64.b64encode(b"\n\x02\x0b\x00").decode()},
    ],
    ids=["bad-base64", "truncated", "bad-wire-type", "group-wire-type"],
)
def test_damaged_values_raise_a_clear_error(row: dict[str, Any]) -> None:
    """A stored struct or proto that is not valid raises InvalidArgumentError naming the property."""
    with pytest.raises(InvalidArgumentError, match="property 'p'"):
        values.decode({**EMPTY, "name": "p", **row}, POSTGRES)


def test_a_row_without_a_value_is_reported() -> None:
    """A property row with every value column NULL is refused by name."""
    with pytest.raises(InvalidArgumentError, match="'p' has no value"):
        values.decode({**EMPTY, "name": "p"}, SQLITE)
