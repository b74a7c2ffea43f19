"""tracker's hand-written Struct and Any encoding against protobuf's own, on many generated values."""

from __future__ import annotations

import base64
import random
from typing import Any

import pytest
from google.protobuf import any_pb2, json_format, struct_pb2

from tracker import PropertyType, ProtoValue
from tracker.store import _values as values

FLAVOR = values.Flavor(int_bits=64, proto_base64=True)
EMPTY = dict.fromkeys((*values.VALUE_COLUMNS, "byte_value"))


def _json(rng: random.Random, depth: int = 0) -> Any:
    choice = rng.randrange(7 if depth < 4 else 4)
    if choice == 0:
        return None
    if choice == 1:
        return rng.choice([True, False])
    if choice == 2:
        return rng.choice([0.0, -1.5, 1e300, 5e-324, float(rng.randrange(-(10**9), 10**9))])
    if choice == 3:
        return "".join(rng.choice('ab☃🚀\n"\\é ') for _ in range(rng.choice([0, 3, 130, 17_000])))
    if choice in (4, 5):
        return {_key(rng): _json(rng, depth + 1) for _ in range(rng.randrange(4))}
    return [_json(rng, depth + 1) for _ in range(rng.randrange(4))]


def _key(rng: random.Random) -> str:
    return "".join(rng.choice("kéy☃_") for _ in range(rng.randrange(1, 200)))


STRUCTS = [{_key(rng): _json(rng) for _ in range(rng.randrange(6))} for rng in map(random.Random, range(150))]


@pytest.mark.parametrize("struct", STRUCTS)
def test_protobuf_reads_trackers_structs_and_tracker_reads_protobufs(struct: dict[str, Any]) -> None:
    """Both parsers agree on every generated struct, in both directions."""
    expected = json_format.ParseDict(struct, struct_pb2.Struct())
    ours = values.encode(struct, PropertyType.STRUCT, FLAVOR)
    parsed = struct_pb2.Struct()
    parsed.ParseFromString(base64.b64decode(ours.removeprefix(values.STRUCT_PREFIX)))
    assert parsed == expected
    theirs = values.STRUCT_PREFIX + base64.b64encode(expected.SerializeToString()).decode()
    assert values.decode({**EMPTY, "name": "s", "string_value": theirs}, FLAVOR) == struct


@pytest.mark.parametrize("size", [0, 1, 127, 128, 16_384, 300_000])
def test_any_matches_protobuf(size: int) -> None:
    """A ProtoValue is a serialized google.protobuf.Any, payloads of every length-prefix size included."""
    proto = ProtoValue("type.googleapis.com/x.Y", bytes(range(256)) * (size // 256) + bytes(size % 256))
    expected = any_pb2.Any(type_url=proto.type_url, value=proto.value)
    stored = values.encode(proto, PropertyType.PROTO, FLAVOR)
    assert base64.b64decode(stored) == expected.SerializeToString()
    assert values.decode({**EMPTY, "name": "p", "proto_value": stored}, FLAVOR) == proto
