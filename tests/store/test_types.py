"""Artifact, execution and context types: get-or-create, evolution, conflicts, lookups."""

from __future__ import annotations

import pytest
from databases import table_contents

import tracker
from tracker import (
    ArtifactBaseType,
    ArtifactType,
    ContextType,
    ExecutionBaseType,
    ExecutionType,
    PropertyType,
)
from tracker.errors import InvalidArgumentError, NotFoundError, TypeConflictError

EVERY_KIND = {
    "i": PropertyType.INT,
    "d": PropertyType.DOUBLE,
    "s": PropertyType.STRING,
    "st": PropertyType.STRUCT,
    "p": PropertyType.PROTO,
    "b": PropertyType.BOOLEAN,
}


def test_a_type_round_trips_with_every_field(store: tracker.Store) -> None:
    """Name, version, description, external id, properties of every kind and base type come back."""
    declared = ArtifactType("Model", dict(EVERY_KIND), version="v1", description="a model",
                            external_id="model-v1", base_type=ArtifactBaseType.MODEL)  # fmt: skip
    type_id = store.put_artifact_type(declared)
    found = store.get_artifact_type("Model", "v1")
    declared.id = type_id
    assert found == declared
    assert store.get_artifact_types_by_id([type_id]) == [declared]
    assert store.get_artifact_types_by_external_ids(["model-v1"]) == [declared]


def test_putting_a_type_again_returns_its_id(store: tracker.Store) -> None:
    """put_*_type is get-or-create: the same declaration gives the same id and no new row."""
    first = store.put_execution_type(ExecutionType("Trainer", {"lr": PropertyType.DOUBLE}))
    assert store.put_execution_type(ExecutionType("Trainer", {"lr": PropertyType.DOUBLE})) == first
    assert store.put_execution_type(ExecutionType("Trainer")) == first  # omitting properties keeps them
    assert store.get_execution_type("Trainer").properties == {"lr": PropertyType.DOUBLE}


def test_a_new_property_is_added(store: tracker.Store) -> None:
    """Declaring a type again with one more property adds it."""
    type_id = store.put_context_type(ContextType("Run", {"owner": PropertyType.STRING}))
    assert store.put_context_type(ContextType("Run", {"seed": PropertyType.INT})) == type_id
    assert store.get_context_type("Run").properties == {"owner": PropertyType.STRING, "seed": PropertyType.INT}


def test_changing_a_property_kind_raises_and_writes_nothing(store: tracker.Store, store_url: str) -> None:
    """TypeConflictError names the property and both kinds; the new property beside it is not added."""
    store.put_artifact_type(ArtifactType("DataSet", {"day": PropertyType.INT}))
    before = table_contents(store_url)
    with pytest.raises(TypeConflictError, match=r"'day' as INT, not STRING"):
        store.put_artifact_type(ArtifactType("DataSet", {"day": PropertyType.STRING, "new": PropertyType.INT}))
    assert table_contents(store_url) == before


def test_versions_are_separate_types(store: tracker.Store) -> None:
    """(name, version) identifies a type; an empty version is the unversioned type."""
    plain = store.put_artifact_type(ArtifactType("DataSet", {"a": PropertyType.INT}))
    v2 = store.put_artifact_type(ArtifactType("DataSet", {"a": PropertyType.STRING}, version="2"))
    assert plain != v2
    assert store.put_artifact_type(ArtifactType("DataSet", version="")) == plain
    assert store.get_artifact_type("DataSet", "2").properties == {"a": PropertyType.STRING}


def test_kinds_do_not_mix(store: tracker.Store) -> None:
    """An artifact type and an execution type may share a name and stay apart."""
    a = store.put_artifact_type(ArtifactType("Thing"))
    e = store.put_execution_type(ExecutionType("Thing"))
    assert a != e
    assert store.get_execution_types_by_id([a, e]) == [ExecutionType("Thing", id=e)]


def test_base_types(store: tracker.Store) -> None:
    """Base types are kept per kind, added later if missing, and cannot change."""
    train = store.put_execution_type(ExecutionType("Fit", base_type=ExecutionBaseType.TRAIN))
    assert store.get_execution_type("Fit").base_type is ExecutionBaseType.TRAIN
    data = store.put_artifact_type(ArtifactType("Rows"))
    assert store.put_artifact_type(ArtifactType("Rows", base_type=ArtifactBaseType.DATASET)) == data
    assert store.get_artifact_type("Rows").base_type is ArtifactBaseType.DATASET
    with pytest.raises(TypeConflictError, match=r"mlmd\.Dataset"):
        store.put_artifact_type(ArtifactType("Rows", base_type=ArtifactBaseType.MODEL))
    assert store.get_execution_types_by_id([train])[0].base_type is ExecutionBaseType.TRAIN


def test_listing_types(store: tracker.Store) -> None:
    """get_*_types lists user types by id; the seeded mlmd.* types are left out but found by name, as in MLMD."""
    ids = [store.put_context_type(ContextType(name)) for name in ("B", "A")]
    assert [t.id for t in store.get_context_types()] == ids
    assert store.get_execution_types() == []
    assert store.get_artifact_type("mlmd.Dataset") == ArtifactType("mlmd.Dataset", id=1)
    assert store.get_execution_types_by_id([5]) == [ExecutionType("mlmd.Train", id=5)]


def test_an_unknown_type_is_not_found(store: tracker.Store) -> None:
    """Looking up a missing type raises NotFoundError telling how to register it."""
    with pytest.raises(NotFoundError, match=r"no artifact type 'Nope'.*put_artifact_type"):
        store.get_artifact_type("Nope")
    assert store.get_artifact_types_by_id([12345]) == []


@pytest.mark.parametrize(
    "declared",
    [
        ArtifactType("x" * 256),
        ArtifactType("ok", version="v" * 256),
        ArtifactType("ok", {"p" * 256: PropertyType.INT}),
        ArtifactType(""),
        ArtifactType("ok", {"p": PropertyType.UNKNOWN}),
    ],
    ids=["long-name", "long-version", "long-property", "empty-name", "unknown-kind"],
)
def test_invalid_types_are_refused(store: tracker.Store, store_url: str, declared: ArtifactType) -> None:
    """Names over 255 characters (which MySQL would cut), empty names and UNKNOWN kinds raise, writing nothing."""
    before = table_contents(store_url)
    with pytest.raises(InvalidArgumentError):
        store.put_artifact_type(declared)
    assert table_contents(store_url) == before


def test_a_type_of_the_wrong_class_is_refused(store: tracker.Store) -> None:
    """put_artifact_type wants an ArtifactType, not another kind of type."""
    with pytest.raises(InvalidArgumentError, match="expected ArtifactType, got ExecutionType"):
        store.put_artifact_type(ExecutionType("Trainer"))  # type: ignore[arg-type]
