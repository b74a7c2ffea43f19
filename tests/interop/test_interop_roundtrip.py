"""Round trips with the real ml-metadata: what either library writes, both read back as written, field by field.

One scenario writes every kind of record, through tracker or through ml-metadata
(tracker's API in front of it, see test_interop_convert.Mlmd); then a new tracker
Store and a new ml-metadata MetadataStore each read everything back.
"""

from __future__ import annotations

import base64
import dataclasses
import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pytest
from google.protobuf import json_format, struct_pb2, wrappers_pb2
from ml_metadata import errors as mlmd_errors
from test_interop_convert import Mlmd, as_read, canon, now_ms, settle, snapshot

import tracker
from tracker import (
    Artifact,
    ArtifactBaseType,
    ArtifactState,
    ArtifactType,
    Association,
    Attribution,
    Context,
    ContextType,
    Event,
    EventType,
    Execution,
    ExecutionBaseType,
    ExecutionState,
    ExecutionType,
    ParentContext,
    PropertyType,
    ProtoValue,
)

if TYPE_CHECKING:
    from conftest import Database

HELLO = ProtoValue(
    "type.googleapis.com/google.protobuf.StringValue", wrappers_pb2.StringValue(value="hello").SerializeToString()
)
STRUCT = {
    "list": [1, 2.5, "x", True, False, None, {"deep": [[], {}]}],
    "nested": {"int": 1, "null": None, "empty": "", "inner": {"neg": -3}},
    "empty_list": [],
    "empty_struct": {},
    "key with spaces": "value",
}
EVERY_KIND = {k.name.lower(): k for k in PropertyType if k is not PropertyType.UNKNOWN}
EVERY_VALUE = {"int": 42, "double": 2.5, "string": "day 1", "struct": STRUCT, "proto": HELLO, "boolean": True}
CUSTOM = {
    "int": -7,
    "int_zero": 0,
    "int_32_max": 2**31 - 1,
    "int_32_min": -(2**31),
    "float": 0.1,
    "float_whole": 3.0,
    "float_zero": 0.0,
    "float_small": -2.5e-05,
    "float_big": 12345678.901234,
    "str": 'say "hi", it\'s\nnew line\ttab',
    "str_empty": "",
    "str_long": "abc" * 5000,
    "bool_true": True,
    "bool_false": False,
    "struct": STRUCT,
    "struct_empty": {},
    "proto": HELLO,
    "proto_empty": ProtoValue("type.googleapis.com/google.protobuf.Empty"),
    "proto_every_byte": ProtoValue("type.googleapis.com/test.Opaque", bytes(range(256))),
}
#: SQLite keeps int_value in 64 bits; PostgreSQL and MySQL in 32 (see README).
CUSTOM_SQLITE = {"int_64_max": 2**63 - 1, "int_64_min": -(2**63)}
#: Doubles only tracker writes exactly: ml-metadata writes a double as a SQL literal with six decimals
#: (1/3 -> 0.333333, 1e-7 -> 0.0), which MySQL clamps to 1e65 above that. ml-metadata reads a SQLite
#: double with 15 significant digits, so none here has more (1/3 would read as 0.333333333333333).
CUSTOM_BY_TRACKER = {"float_15_digits": 0.123456789012345, "float_tiny": -2.5e-10, "float_huge": 1e300}


class Recorder:
    """Writes through *w* (a tracker Store, or ml-metadata behind Mlmd) and keeps what a reader must then see."""

    def __init__(self, w: Any, by_mlmd: bool) -> None:
        self.w, self.by_mlmd = w, by_mlmd
        self.ids: dict[str, int] = {}
        self.types: list[Any] = []
        self.nodes: dict[str, dict[int, Any]] = {"artifact": {}, "execution": {}, "context": {}}
        self.events: list[Event] = []
        self.links: dict[str, list[Any]] = {"attributions": [], "associations": [], "parent_contexts": []}

    def put_type(self, declared: Any) -> Any:
        kind = {ArtifactType: "artifact", ExecutionType: "execution", ContextType: "context"}[type(declared)]
        stored = dataclasses.replace(declared, id=getattr(self.w, f"put_{kind}_type")(declared))
        self.ids[f"{declared.name} {declared.version or ''}".strip()] = stored.id
        self.types.append(stored)
        return stored

    def put(self, kind: str, records: dict[str, Any]) -> None:
        """Insert (or, for records with an id, update) nodes of one kind, named by the keys."""
        node_ids = getattr(self.w, f"put_{kind}s")(list(records.values()))
        for (key, record), node_id in zip(records.items(), node_ids, strict=True):
            self.expect(kind, key, node_id, record)

    def expect(self, kind: str, key: str, node_id: int, record: Any) -> None:
        self.ids[key] = node_id
        made = dataclasses.replace(
            record,
            id=node_id,
            type=next(t.name for t in self.types if t.id == record.type_id),
            properties={k: as_read(v) for k, v in record.properties.items()},
            custom_properties={k: as_read(v) for k, v in record.custom_properties.items()},
        )
        if self.by_mlmd and kind == "artifact" and made.uri is None:
            made.uri = ""  # ml-metadata stores an unset uri as '' (tracker leaves it NULL)
        self.nodes[kind][node_id] = made

    def put_events(self, events: list[Event]) -> None:
        self.w.put_events(events)
        self.events += events

    def link(self, attributions: list[Attribution], associations: list[Association]) -> None:
        self.w.put_attributions_and_associations(attributions, associations)
        self.links["attributions"] += attributions
        self.links["associations"] += associations

    def put_parent_contexts(self, parents: list[ParentContext]) -> None:
        self.w.put_parent_contexts(parents)
        self.links["parent_contexts"] += parents

    def expected(self) -> dict[str, list[Any]]:
        """The snapshot a reader must see, with the times the store filled in set to 0 (see settle)."""
        classes = {"artifact": ArtifactType, "execution": ExecutionType, "context": ContextType}
        return {
            **{f"{kind}_types": [t for t in self.types if isinstance(t, cls)] for kind, cls in classes.items()},
            **{f"{kind}s": [found[i] for i in sorted(found)] for kind, found in self.nodes.items()},
            "events": sorted(self.events, key=lambda e: (e.execution_id, e.artifact_id, e.type)),
            **{name: sorted(found, key=dataclasses.astuple) for name, found in self.links.items()},
        }


def record_everything(w: Any, backend: str, by_mlmd: bool) -> Recorder:
    """Write through *w* every kind of type, node, value, event and link, a put_execution and updates.

    *by_mlmd*: ml-metadata writes, so leave out what it cannot write (and expect what it writes instead).
    """
    r = Recorder(w, by_mlmd)
    custom = {**CUSTOM, **(CUSTOM_SQLITE if backend == "sqlite" else {}), **({} if by_mlmd else CUSTOM_BY_TRACKER)}
    dataset = r.put_type(
        ArtifactType("Dataset", EVERY_KIND, version="v1", description="days of examples",
                     external_id="type:dataset:v1", base_type=ArtifactBaseType.DATASET)
    )  # fmt: skip
    dataset_v2 = r.put_type(ArtifactType("Dataset", {"day": PropertyType.INT}, version="v2"))
    model = r.put_type(ArtifactType("Model", {"framework": PropertyType.STRING}, base_type=ArtifactBaseType.MODEL))
    metrics = r.put_type(ArtifactType("Metrics", base_type=ArtifactBaseType.METRICS, description="scores"))
    r.put_type(ArtifactType("Statistics", base_type=ArtifactBaseType.STATISTICS, external_id="type:statistics"))
    plain = r.put_type(ArtifactType("Plain"))
    trainer = r.put_type(
        ExecutionType("Trainer", EVERY_KIND, version="1.0", description="fits a model",
                      external_id="type:trainer", base_type=ExecutionBaseType.TRAIN)
    )  # fmt: skip
    bases = [b for b in ExecutionBaseType if b not in (ExecutionBaseType.UNSET, ExecutionBaseType.TRAIN)]
    steps = [r.put_type(ExecutionType(b.name.title(), base_type=b)) for b in bases]
    steps.append(r.put_type(ExecutionType("Step")))
    pipeline = r.put_type(
        ContextType("Pipeline", EVERY_KIND, version="2", description="a pipeline", external_id="type:pipeline")
    )
    run = r.put_type(ContextType("Run", {"attempt": PropertyType.INT}))

    other_states = [
        s for s in ArtifactState if s not in (ArtifactState.UNKNOWN, ArtifactState.LIVE, ArtifactState.PENDING)
    ]
    r.put("artifact", {
        "a:day-1": Artifact(type_id=dataset.id, name="day-1", uri="gs://bucket/day 1/?x=1&y=%20",
                            state=ArtifactState.LIVE, external_id="artifact:day-1",
                            properties=EVERY_VALUE, custom_properties=custom),
        "a:day-1 v2": Artifact(type_id=dataset_v2.id, name="day-1", uri="", properties={"day": 1}),
        "a:model": Artifact(type_id=model.id, name="model", uri="models/1", state=ArtifactState.PENDING,
                            properties={"framework": "jax"}, custom_properties={"accuracy": 0.93}),
        "a:bare": Artifact(type_id=plain.id),
        **{f"a:{s.name}": Artifact(type_id=metrics.id, name=s.name, uri="metrics/", state=s) for s in other_states},
    })  # fmt: skip
    other_states = [s for s in ExecutionState if s not in (ExecutionState.UNKNOWN, ExecutionState.COMPLETE)]
    r.put("execution", {
        "e:train-1": Execution(type_id=trainer.id, name="train-1", external_id="execution:train-1",
                               last_known_state=ExecutionState.COMPLETE,
                               properties=EVERY_VALUE, custom_properties=custom),
        **{f"e:{t.name}": Execution(type_id=t.id, name=s.name, last_known_state=s)
           for t, s in zip(steps, other_states, strict=True)},
        "e:bare": Execution(type_id=steps[-1].id),
    })  # fmt: skip
    r.put("context", {
        "c:pipeline": Context(type_id=pipeline.id, name="pipeline", external_id="context:pipeline",
                              properties=EVERY_VALUE, custom_properties=custom),
        "c:run-1": Context(type_id=run.id, name="run-1", properties={"attempt": 1}),
        "c:run-2": Context(type_id=run.id, name="run-2", custom_properties={"note": "second"}),
    })  # fmt: skip

    ids = r.ids
    events = [
        Event(ids["a:day-1"], ids["e:train-1"], EventType.INPUT, ["examples", 0, "train"], 1234),
        Event(ids["a:model"], ids["e:train-1"], EventType.OUTPUT, ["model", -1]),
        Event(ids["a:model"], ids["e:train-1"], EventType.DECLARED_OUTPUT, []),
        Event(ids["a:day-1 v2"], ids["e:train-1"], EventType.DECLARED_INPUT, ["", 7]),
        Event(ids["a:bare"], ids["e:Transform"], EventType.INTERNAL_INPUT, ["key with spaces"]),
        Event(ids["a:bare"], ids["e:Transform"], EventType.INTERNAL_OUTPUT, [0, 1, 2]),
        Event(ids["a:DELETED"], ids["e:Transform"], EventType.PENDING_OUTPUT, ["out"]),
    ]
    if not by_mlmd:  # ml-metadata refuses to write an UNKNOWN event ("No event type is specified"), reads one fine
        events.append(Event(ids["a:REFERENCE"], ids["e:bare"], EventType.UNKNOWN, ["x"]))
    r.put_events(events)
    r.link(
        [Attribution(ids["a:day-1"], ids["c:pipeline"]), Attribution(ids["a:model"], ids["c:pipeline"]),
         Attribution(ids["a:model"], ids["c:run-1"])],
        [Association(ids["e:train-1"], ids["c:pipeline"]), Association(ids["e:train-1"], ids["c:run-1"]),
         Association(ids["e:Transform"], ids["c:run-2"])],
    )  # fmt: skip
    r.put_parent_contexts(
        [ParentContext(ids["c:run-1"], ids["c:pipeline"]), ParentContext(ids["c:run-2"], ids["c:pipeline"]),
         ParentContext(ids["c:run-2"], ids["c:run-1"])]
    )  # fmt: skip

    # put_execution: an execution, its artifacts (one without an event) and a new context, in one call
    train2 = Execution(type_id=trainer.id, name="train-2", last_known_state=ExecutionState.RUNNING,
                       properties={"int": 2, "struct": {"lr": [1, 0.5]}})  # fmt: skip
    run3 = Context(type_id=run.id, name="run-3", properties={"attempt": 3})
    pairs = {
        "a:day-2": (Artifact(type_id=dataset.id, name="day-2", uri="d/2", properties={"int": 2}),
                    Event(type=EventType.INPUT, path=["examples", 0])),
        "a:model-2": (Artifact(type_id=model.id, name="model-2", uri="m/2", custom_properties={"accuracy": 0.95}),
                      Event(type=EventType.OUTPUT, path=["model"])),
        "a:loose": (Artifact(type_id=plain.id, uri="no-event"), None),
    }  # fmt: skip
    execution_id, artifact_ids, (run3_id,) = w.put_execution(train2, list(pairs.values()), [run3])
    r.expect("execution", "e:train-2", execution_id, train2)
    r.expect("context", "c:run-3", run3_id, run3)
    for (key, (artifact, event)), artifact_id in zip(pairs.items(), artifact_ids, strict=True):
        r.expect("artifact", key, artifact_id, artifact)
        r.links["attributions"].append(Attribution(artifact_id, run3_id))
        if event is not None:
            r.events.append(dataclasses.replace(event, artifact_id=artifact_id, execution_id=execution_id))
    r.links["associations"].append(Association(execution_id, run3_id))

    # an update replaces a node: properties left out are gone
    model1, run2 = r.nodes["artifact"][ids["a:model"]], r.nodes["context"][ids["c:run-2"]]
    r.put(
        "artifact",
        {"a:model": dataclasses.replace(model1, state=ArtifactState.LIVE, custom_properties={"note": "again"})},
    )
    r.put("execution", {"e:train-2": dataclasses.replace(train2, id=execution_id, properties={"int": 3})})
    r.put("context", {"c:run-2": dataclasses.replace(run2, custom_properties={"retried": True})})
    return r


# --- the tests ---


@pytest.fixture(params=["tracker", "ml-metadata"], ids=["tracker-writes", "mlmd-writes"])
def writer(request: pytest.FixtureRequest) -> str:
    """Which library writes the scenario; the other (and the writer itself) reads it."""
    return str(request.param)


def _writer(database: Database, writer: str) -> Any:
    return database.tracker() if writer == "tracker" else Mlmd(database.mlmd())


def _read_back(database: Database, expected: dict[str, list[Any]], since: int, until: int) -> None:
    """Assert that new tracker and ml-metadata stores read the same, and that it is *expected*."""
    by_tracker = snapshot(database.tracker())  # new stores: nothing cached from the writes
    by_mlmd = snapshot(Mlmd(database.mlmd()))
    for key in expected:
        assert canon(by_tracker[key]) == canon(by_mlmd[key]), f"tracker and ml-metadata read different {key}"
    by_tracker = settle(by_tracker, since, until)
    for key, want in expected.items():
        assert canon(by_tracker[key]) == canon(want), f"the {key} read back are not those written"


def test_every_record_reads_back_equal_in_both_libraries(database: Database, writer: str) -> None:
    """Every type, node, property value, event and link one library writes, both libraries read back as written."""
    since = now_ms()
    recorded = record_everything(_writer(database, writer), database.backend, by_mlmd=writer == "ml-metadata")
    _read_back(database, recorded.expected(), since, now_ms())


def test_tracker_writes_the_rows_ml_metadata_writes(new_database: Callable[[], Database]) -> None:
    """The same records written by each library leave the same rows in every table, ids included."""
    by_tracker, by_mlmd = new_database(), new_database()
    record_everything(by_tracker.tracker(), by_tracker.backend, by_mlmd=True)
    record_everything(Mlmd(by_mlmd.mlmd()), by_mlmd.backend, by_mlmd=True)
    assert _rows(by_tracker) == _rows(by_mlmd)


def _rows(database: Database) -> dict[str, list[str]]:
    """Every table's rows, sorted, with what may differ unseen by any reader normalised."""
    found = {}
    for table in database.tables():
        rows = []
        for row in database.records(table):
            for column, value in row.items():
                if column.endswith("_since_epoch") and value and value > 10**12:
                    row[column] = "(stamped by the store)"
                elif isinstance(value, str) and value.startswith("mlmd-struct::"):
                    struct = struct_pb2.Struct()  # a Struct's map order in the bytes is not stable, in either library
                    struct.ParseFromString(base64.b64decode(value.removeprefix("mlmd-struct::")))
                    row[column] = json_format.MessageToDict(struct)
            if table.lower() in ("attribution", "association"):
                del row["id"]  # put_execution of ml-metadata links the artifacts in another order
            if table.lower() == "artifact" and row["uri"] is None:
                row["uri"] = ""  # ml-metadata writes '' for an unset uri, tracker NULL; each reads both right
            rows.append(json.dumps(row, sort_keys=True, default=repr))
        found[table.lower()] = sorted(rows)
    return found


def test_every_query_returns_the_same_in_both_libraries(database: Database, writer: str) -> None:
    """Each MetadataStore read method, called with the same arguments on both libraries, returns equal records."""
    ids = record_everything(_writer(database, writer), database.backend, by_mlmd=writer == "ml-metadata").ids
    missing = 999_999
    queries: list[tuple[str, tuple[Any, ...]]] = [
        ("get_artifact_type", ("Dataset", "v1")),
        ("get_artifact_type", ("Dataset", "v2")),
        ("get_artifact_type", ("Model",)),
        ("get_artifact_type", ("Dataset",)),
        ("get_execution_type", ("Trainer", "1.0")),
        ("get_context_type", ("Run",)),
        ("get_artifact_types_by_id", ([ids["Dataset v1"], ids["Model"]],)),
        ("get_execution_types_by_id", ([ids["Trainer 1.0"], ids["Step"], missing],)),
        ("get_context_types_by_id", ([ids["Run"], ids["Pipeline 2"]],)),
        ("get_artifact_types_by_id", ([ids["Trainer 1.0"]],)),
        ("get_artifact_types_by_external_ids", (["type:dataset:v1", "type:statistics"],)),
        ("get_execution_types_by_external_ids", (["type:trainer"],)),
        ("get_context_types_by_external_ids", (["type:pipeline", "nope"],)),
        ("get_artifacts", ()),
        ("get_artifacts_by_id", ([ids["a:day-1"], ids["a:model"], missing],)),
        ("get_executions_by_id", ([ids["e:train-1"], ids["e:bare"]],)),
        ("get_contexts_by_id", ([ids["c:pipeline"], ids["c:run-3"]],)),
        ("get_artifacts_by_type", ("Dataset", "v1")),
        ("get_artifacts_by_type", ("Metrics",)),
        ("get_executions_by_type", ("Trainer", "1.0")),
        ("get_contexts_by_type", ("Run",)),
        ("get_artifact_by_type_and_name", ("Dataset", "day-1", "v2")),
        ("get_artifact_by_type_and_name", ("Model", "no such artifact")),
        ("get_execution_by_type_and_name", ("Trainer", "train-2", "1.0")),
        ("get_context_by_type_and_name", ("Pipeline", "pipeline", "2")),
        ("get_artifacts_by_uri", ("models/1",)),
        ("get_artifacts_by_uri", ("",)),
        ("get_artifacts_by_external_ids", (["artifact:day-1"],)),
        ("get_executions_by_external_ids", (["execution:train-1", "nope"],)),
        ("get_contexts_by_external_ids", (["context:pipeline"],)),
        ("get_artifacts_by_context", (ids["c:run-3"],)),
        ("get_executions_by_context", (ids["c:pipeline"],)),
        ("get_contexts_by_artifact", (ids["a:model"],)),
        ("get_contexts_by_execution", (ids["e:train-1"],)),
        ("get_parent_contexts_by_context", (ids["c:run-2"],)),
        ("get_children_contexts_by_context", (ids["c:pipeline"],)),
        ("get_events_by_execution_ids", ([ids["e:train-1"], ids["e:Transform"]],)),
        ("get_events_by_artifact_ids", ([ids["a:model"], ids["a:bare"], missing],)),
    ]
    answers = {}
    for name, store in (("tracker", database.tracker()), ("ml-metadata", Mlmd(database.mlmd()))):
        answers[name] = {f"{method}{args}": _ask(store, method, args, database.backend) for method, args in queries}
    assert answers["tracker"] == answers["ml-metadata"]


def _ask(store: Any, method: str, args: tuple[Any, ...], backend: str) -> Any:
    """A read's records in canonical form, or the name of the error it raises (NotFoundError in both libraries).

    Lists are sorted: ml-metadata returns them in no set order (on PostgreSQL, in heap order). Fields that
    ml-metadata leaves unset in some reads though the row holds them are blanked on both sides: base_type in
    its by-external-id type reads, external_id in its by-name type reads on MySQL.
    """
    try:
        found = getattr(store, method)(*args)
    except (tracker.TrackerError, mlmd_errors.StatusError) as exc:
        return f"raises {type(exc).__name__}"
    blank: dict[str, Any] = {}
    if method.endswith("_types_by_external_ids"):
        blank = {"base_type": 0}
    if method.endswith("_type") and backend == "mysql":
        blank = {"external_id": None}
    made = canon([_blanked(r, blank) for r in found] if isinstance(found, list) else _blanked(found, blank))
    return sorted(made, key=lambda r: json.dumps(r, sort_keys=True, default=repr)) if isinstance(made, list) else made


def _blanked(record: Any, blank: dict[str, Any]) -> Any:
    if record is None or not blank:
        return record
    return dataclasses.replace(record, **{k: v for k, v in blank.items() if hasattr(record, k)})


#: Text that tests quoting and encoding: non-ASCII in 2, 3 and 4 bytes of UTF-8, quotes, backslash, controls.
TEXTS = ["naïve café", "ключ", "☃ snow", "rocket 🚀", 'it\'s "quoted"', "back\\slash", "new\nline\ttab"]


def test_text_reads_back_as_written_in_both_libraries(database: Database, writer: str) -> None:
    """Non-ASCII and special characters in names, uris, values, struct and path keys read back as written."""
    texts = TEXTS

    def t(text: str) -> str:
        return text

    if database.backend == "mysql":
        # ml-metadata 1.17 talks latin1 to MySQL while the tables are utf8mb4 (the server's default), so
        # non-ASCII text crosses between the two libraries garbled, both ways: ASCII only here
        # (the limitation is in docs/store.md; tracker alone keeps any text, see tests/store).
        def t(text: str) -> str:
            return text.encode("ascii", "replace").decode()

        texts = [x for x in TEXTS if x.isascii()]
    if writer == "ml-metadata" and database.backend == "postgresql":
        # ml-metadata 1.17 cannot write a backslash to PostgreSQL: its escaped literal E'..' lands inside quotes
        texts = [t for t in TEXTS if "\\" not in t]
    r = Recorder(_writer(database, writer), by_mlmd=writer == "ml-metadata")
    since = now_ms()
    kind = r.put_type(
        ArtifactType(t("Text ☃"), {"s": PropertyType.STRING}, description=t("ключ 🚀"), external_id=t("ü"))
    )
    step = r.put_type(ExecutionType(t("Step ☃"), version=t("v ü")))
    group = r.put_type(ContextType(t("Group ☃")))
    r.put("artifact", {
        t: Artifact(type_id=kind.id, name=t, uri=t, external_id=f"{i}:{t}", properties={"s": t},
                    custom_properties={t: t, "struct": {t: [t, {t: t}]}})
        for i, t in enumerate(texts)
    })  # fmt: skip
    r.put("execution", {"e": Execution(type_id=step.id, name=t("ü"), custom_properties={t("ключ"): t("🚀")})})
    r.put("context", {"c": Context(type_id=group.id, name=t("☃ 🚀"), external_id=t("é"))})
    r.put_events([Event(r.ids[t], r.ids["e"], EventType.INPUT, [t, i]) for i, t in enumerate(texts)])
    _read_back(database, r.expected(), since, now_ms())


def test_seeded_types_are_found_by_name_as_in_ml_metadata(database: Database) -> None:
    """get_artifact_type("mlmd.Dataset") and get_execution_type("mlmd.Train") answer as ml-metadata does."""
    queries = [("get_artifact_type", ("mlmd.Dataset",)), ("get_execution_type", ("mlmd.Train",))]
    answers = {}
    for name, store in (("tracker", database.tracker()), ("ml-metadata", Mlmd(database.mlmd()))):
        answers[name] = {f"{method}{args}": _ask(store, method, args, database.backend) for method, args in queries}
    assert answers["tracker"] == answers["ml-metadata"]
