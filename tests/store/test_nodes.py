"""Artifacts, executions and contexts: writes, reads, properties, and refused input."""

from __future__ import annotations

import random
import string

import pytest
from databases import table_contents

import tracker
from tracker import (
    Artifact,
    ArtifactState,
    ArtifactType,
    Context,
    ContextType,
    Execution,
    ExecutionState,
    ExecutionType,
    PropertyType,
    ProtoValue,
)
from tracker.errors import AlreadyExistsError, InvalidArgumentError, NotFoundError, PropertyError

KINDS = {"i": PropertyType.INT, "d": PropertyType.DOUBLE, "s": PropertyType.STRING,
         "st": PropertyType.STRUCT, "p": PropertyType.PROTO, "b": PropertyType.BOOLEAN}  # fmt: skip
VALUES = {
    "i": -7,
    "d": 2.5,
    "s": "héllo ✓",
    "st": {"a": [1.0, 2.5, "x", True, None], "b": {"c": 1.0}, "empty": {}},
    "p": ProtoValue("type.googleapis.com/google.protobuf.StringValue", b"\n\x05hello"),
    "b": False,
}


@pytest.fixture
def typed(store: tracker.Store) -> tracker.Store:
    store.put_artifact_type(ArtifactType("DataSet", dict(KINDS)))
    store.put_execution_type(ExecutionType("Trainer", dict(KINDS)))
    store.put_context_type(ContextType("Run", dict(KINDS)))
    return store


def _strip(node: tracker.Artifact | tracker.Execution | tracker.Context) -> dict[str, object]:
    fields = dict(vars(node))
    for key in ("id", "type_id", "create_time_since_epoch", "last_update_time_since_epoch"):
        fields.pop(key)
    return fields


@pytest.mark.parametrize(
    ("put", "get", "node"),
    [
        ("put_artifacts", "get_artifacts_by_id",
         Artifact(type="DataSet", uri="s3://b/k", name="d1", external_id="x1", state=ArtifactState.LIVE)),
        ("put_executions", "get_executions_by_id",
         Execution(type="Trainer", name="t1", external_id="x1", last_known_state=ExecutionState.RUNNING)),
        ("put_contexts", "get_contexts_by_id", Context(type="Run", name="r1", external_id="x1")),
    ],
    ids=["artifact", "execution", "context"],
)  # fmt: skip
def test_nodes_round_trip_with_every_property_kind(typed: tracker.Store, put: str, get: str, node: object) -> None:
    """Every field, and properties and custom properties of every kind, come back as written."""
    node.properties = dict(VALUES)  # type: ignore[attr-defined]
    node.custom_properties = {f"c_{k}": v for k, v in VALUES.items()}  # type: ignore[attr-defined]
    (node_id,) = getattr(typed, put)([node])
    (found,) = getattr(typed, get)([node_id])
    assert _strip(found) == _strip(node)  # type: ignore[arg-type]
    assert found.id == node_id and found.create_time_since_epoch > 0


def test_ids_come_back_in_input_order(typed: tracker.Store) -> None:
    """A batch returns ids index-aligned with its input; reads by id keep the order asked."""
    ids = typed.put_artifacts([Artifact(type="DataSet", uri=f"u{i}") for i in range(5)])
    assert ids == sorted(ids)
    assert [a.uri for a in typed.get_artifacts_by_id(reversed(ids))] == [f"u{i}" for i in reversed(range(5))]
    assert typed.get_artifacts_by_id([ids[0], 999_999]) == typed.get_artifacts_by_id([ids[0]])


def test_an_update_replaces_the_node(typed: tracker.Store) -> None:
    """Putting a node with its id updates it: new values in, omitted properties out, create time kept."""
    (aid,) = typed.put_artifacts([Artifact(type="DataSet", uri="a", properties={"i": 1, "s": "x"})])
    (before,) = typed.get_artifacts_by_id([aid])
    typed.put_artifacts([Artifact(type="DataSet", id=aid, uri="b", properties={"i": 2}, state=ArtifactState.LIVE)])
    (after,) = typed.get_artifacts_by_id([aid])
    assert (after.uri, after.properties, after.state) == ("b", {"i": 2}, ArtifactState.LIVE)
    assert after.create_time_since_epoch == before.create_time_since_epoch
    assert after.last_update_time_since_epoch >= before.last_update_time_since_epoch


def test_lookups(typed: tracker.Store) -> None:
    """By type, by type and name, by uri and by external id."""
    typed.put_artifact_type(ArtifactType("Model"))
    a, b, m = typed.put_artifacts([
        Artifact(type="DataSet", uri="same", name="a", external_id="ext-a"),
        Artifact(type="DataSet", uri="same", name="b"),
        Artifact(type="Model", uri="other", name="a"),
    ])  # fmt: skip
    assert [x.id for x in typed.get_artifacts_by_type("DataSet")] == [a, b]
    assert typed.get_artifact_by_type_and_name("Model", "a").id == m  # type: ignore[union-attr]
    assert typed.get_artifact_by_type_and_name("Model", "zzz") is None
    assert [x.id for x in typed.get_artifacts_by_uri("same")] == [a, b]
    assert [x.id for x in typed.get_artifacts_by_external_ids(["ext-a", "nope"])] == [a]
    assert [x.id for x in typed.get_artifacts()] == [a, b, m]
    (e,) = typed.put_executions([Execution(type="Trainer", name="t")])
    assert typed.get_execution_by_type_and_name("Trainer", "t").id == e  # type: ignore[union-attr]
    assert [x.id for x in typed.get_executions_by_type("Trainer")] == [e]
    (c,) = typed.put_contexts([Context(type="Run", name="r", external_id="ext-r")])
    assert [x.id for x in typed.get_contexts_by_external_ids(["ext-r"])] == [c]
    assert typed.get_context_by_type_and_name("Run", "r").id == c  # type: ignore[union-attr]


def test_type_by_id_or_name(typed: tracker.Store) -> None:
    """A node names its type by type_id or by type name; type_id wins."""
    model = typed.put_artifact_type(ArtifactType("Model"))
    (aid,) = typed.put_artifacts([Artifact(type="DataSet", type_id=model)])
    assert typed.get_artifacts_by_id([aid])[0].type == "Model"


def test_context_get_or_create(typed: tracker.Store) -> None:
    """reuse_existing=True returns the existing context's id and leaves it unchanged."""
    (first,) = typed.put_contexts([Context(type="Run", name="r", properties={"s": "kept"})])
    again = typed.put_contexts([Context(type="Run", name="r", properties={"s": "ignored"})], reuse_existing=True)
    assert again == [first]
    assert typed.get_contexts_by_id([first])[0].properties == {"s": "kept"}
    with pytest.raises(AlreadyExistsError):
        typed.put_contexts([Context(type="Run", name="r")])


BAD_NODES = [
    (Artifact(type="Nope"), NotFoundError, "no artifact type 'Nope'"),
    (Artifact(), InvalidArgumentError, "names no type"),
    (Artifact(type="DataSet", properties={"zzz": 1}), PropertyError, "declares no property 'zzz'"),
    (Artifact(type="DataSet", properties={"i": "one"}), PropertyError, "'i' is declared INT"),
    (Artifact(type="DataSet", properties={"s": 3}), PropertyError, "'s' is declared STRING"),
    (Artifact(type="DataSet", custom_properties={"x": [1, 2]}), PropertyError, "type list"),
    (Artifact(type="DataSet", custom_properties={"x": {"k": object()}}), InvalidArgumentError, "struct"),
    (Artifact(type="DataSet", custom_properties={"x": {1: 2}}), InvalidArgumentError, "keys must be strings"),
    (Artifact(type="DataSet", custom_properties={"x": "mlmd-struct::abc"}), InvalidArgumentError, "mlmd-struct"),
    (Artifact(type="DataSet", name="n" * 256), InvalidArgumentError, "256 characters"),
    (Artifact(type="DataSet", external_id="e" * 300), InvalidArgumentError, "300 characters"),
    (Artifact(type="DataSet", custom_properties={"k" * 256: 1}), InvalidArgumentError, "property name"),
    (Artifact(type="DataSet", id=987654), NotFoundError, "no artifact with id 987654"),
    (Execution(type="Trainer"), InvalidArgumentError, "expected Artifact, got Execution"),
]


@pytest.mark.parametrize(("bad", "error", "message"), BAD_NODES, ids=[m for _, _, m in BAD_NODES])
def test_bad_input_raises_and_writes_nothing(typed: tracker.Store, store_url: str, bad: object,
                                             error: type[Exception], message: str) -> None:  # fmt: skip
    """A bad node in a batch raises a typed error naming the problem; the good node before it is not written."""
    before = table_contents(store_url)
    with pytest.raises(error, match=message):
        typed.put_artifacts([Artifact(type="DataSet", uri="good"), bad])  # type: ignore[list-item]
    assert table_contents(store_url) == before


def test_a_duplicate_name_raises_already_exists(typed: tracker.Store, store_url: str) -> None:
    """Names are unique within a type; the failed batch writes nothing."""
    typed.put_artifacts([Artifact(type="DataSet", name="dup")])
    before = table_contents(store_url)
    with pytest.raises(AlreadyExistsError, match="put_artifacts"):
        typed.put_artifacts([Artifact(type="DataSet", name="fresh"), Artifact(type="DataSet", name="dup")])
    assert table_contents(store_url) == before


def test_integer_range_follows_the_backend(typed: tracker.Store, store_url: str) -> None:
    """int_value is 64-bit on SQLite but 32-bit in MLMD's PostgreSQL and MySQL schema: too big raises there."""
    big = 2**40
    assert typed.int_bits == (64 if typed.backend == "sqlite" else 32)
    if typed.backend == "sqlite":
        (aid,) = typed.put_artifacts([Artifact(type="DataSet", properties={"i": big})])
        assert typed.get_artifacts_by_id([aid])[0].properties == {"i": big}
    else:
        with pytest.raises(InvalidArgumentError, match="32-bit"):
            typed.put_artifacts([Artifact(type="DataSet", properties={"i": big})])
    (aid,) = typed.put_artifacts([Artifact(type="DataSet", properties={"i": 2**31 - 1, "d": 3})])
    assert typed.get_artifacts_by_id([aid])[0].properties == {"i": 2**31 - 1, "d": 3.0}


def test_a_context_needs_a_name(typed: tracker.Store) -> None:
    """MLMD requires a context name; a nameless one is refused."""
    with pytest.raises(InvalidArgumentError, match="needs a name"):
        typed.put_contexts([Context(type="Run")])


def test_a_single_record_instead_of_a_list_is_refused(typed: tracker.Store) -> None:
    """Batch methods take lists; a lone record gets a hint."""
    with pytest.raises(InvalidArgumentError, match=r"takes a list.*put_artifacts\(\[record\]\)"):
        typed.put_artifacts(Artifact(type="DataSet"))  # type: ignore[arg-type]


def test_a_property_added_by_another_store_is_seen(typed: tracker.Store, store_url: str) -> None:
    """A type cached by one store and evolved by another: the new property is accepted."""
    typed.put_artifacts([Artifact(type="DataSet")])  # caches the type
    with tracker.connect(store_url) as other:
        other.put_artifact_type(ArtifactType("DataSet", {"late": PropertyType.INT}))
    (aid,) = typed.put_artifacts([Artifact(type="DataSet", properties={"late": 1})])
    assert typed.get_artifacts_by_id([aid])[0].properties == {"late": 1}


def test_backend_limits_of_mlmd_schema_raise_typed_errors(typed: tracker.Store, store_url: str) -> None:
    """Values past a limit of MLMD's schema on a backend raise InvalidArgumentError and write nothing.

    PostgreSQL indexes uri and string_value with btrees (about 2.7 kB of incompressible text at most);
    MySQL's uri is a TEXT column (64 kB). SQLite takes both.
    """
    rng = random.Random(7)
    huge = "".join(rng.choice(string.ascii_letters) for _ in range(100_000))
    before = table_contents(store_url)
    for artifact, refused_on in [(Artifact(type="DataSet", uri=huge), {"postgresql", "mysql"}),
                                 (Artifact(type="DataSet", properties={"s": huge}), {"postgresql"})]:  # fmt: skip
        if typed.backend in refused_on:
            with pytest.raises(InvalidArgumentError, match="the database refused a value"):
                typed.put_artifacts([artifact])
            assert table_contents(store_url) == before
        else:
            (aid,) = typed.put_artifacts([artifact])
            (found,) = typed.get_artifacts_by_id([aid])
            assert (found.uri, found.properties) == (artifact.uri, artifact.properties)


@pytest.mark.parametrize("kind", ["execution", "context"])
def test_listings_and_lookups_of_every_kind(typed: tracker.Store, kind: str) -> None:
    """Listing, by type, by external id and by type id work for executions and contexts as for artifacts."""
    make = {"execution": Execution, "context": Context}[kind]
    type_name = {"execution": "Trainer", "context": "Run"}[kind]
    ids = getattr(typed, f"put_{kind}s")([make(type=type_name, name=f"n{i}", external_id=f"x{i}") for i in range(3)])
    assert [n.id for n in getattr(typed, f"get_{kind}s")()] == ids
    assert [n.id for n in getattr(typed, f"get_{kind}s_by_type")(type_name)] == ids
    assert [n.id for n in getattr(typed, f"get_{kind}s_by_external_ids")(["x2", "x0"])] == [ids[0], ids[2]]
    type_ = getattr(typed, f"get_{kind}_type")(type_name)
    type_.external_id = None
    assert getattr(typed, f"get_{kind}_types_by_id")([type_.id]) == [type_]
    assert getattr(typed, f"get_{kind}_types_by_external_ids")(["none"]) == []


def test_updates_rewrite_only_what_changed_and_read_back_exactly(typed: tracker.Store, store_url: str) -> None:
    """Updating with changed, unchanged, retyped and removed properties gives exactly the new set."""
    node = Artifact(type="DataSet", properties=dict(VALUES), custom_properties={"keep": 1, "flip": True, "kind": 3})
    (aid,) = typed.put_artifacts([node])
    node.id = aid
    node.properties = {**VALUES, "i": 8, "b": True}
    node.custom_properties = {"keep": 1, "flip": False, "kind": "three", "new": {"x": [1.0]}}
    typed.put_artifacts([node])
    (found,) = typed.get_artifacts_by_id([aid])
    assert (found.properties, found.custom_properties) == (node.properties, node.custom_properties)
    assert len(table_contents(store_url)["ArtifactProperty"]) == len(VALUES) + 4
