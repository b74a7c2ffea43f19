"""A generated store and a corpus of filter and lineage queries, shared by the query tests.

:func:`build` fills an empty database, through tracker's public API, with a
deterministic graph of 1961 artifacts, 981 executions and 117 contexts:
four pipelines of three experiments of eight runs, each run a small layered DAG
(raw data -> Transform -> DataSet/Statistics -> Trainer -> Model -> Evaluator ->
Metrics, Model -> Pusher -> Blob) chained to the run before it, so lineage goes
up to about 55 hops deep. Properties and custom properties of every kind are
left out on purpose here and there; strings come in mixed case; names hold
quotes, percent signs, spaces and non-ASCII letters; every state and every
event type occurs.

The node times are stamped afterwards with fixed values (ties included), so
that time filters and time orderings give the same answer on every backend.

:data:`FILTERS` run unchanged in ml-metadata 1.17 (on SQLite; the few it cannot
run on PostgreSQL are marked) and avoid the differences
D1-D5 of docs/queries.md (no OR or IS NULL across optional joins, no enum names
MLMD lacks, LIKE patterns whose case does not matter, only LOWER/UPPER/LENGTH).
:data:`LINEAGE` queries start from at most 101 nodes and, when unlimited, reach
every node within 100 hops (:func:`max_depth` checks it), so MLMD can run them.
"""

from __future__ import annotations

import random
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Literal

from sqlalchemy import BigInteger, cast, create_engine, literal, update

import tracker
from tracker import (
    Artifact,
    ArtifactState,
    ArtifactType,
    Association,
    Attribution,
    Context,
    ContextType,
    Event,
    EventType,
    Execution,
    ExecutionState,
    ExecutionType,
    ParentContext,
    PropertyType,
)

SEED = 20250611
BASE_TIME = 1_700_000_000_000  # ms; node times are BASE_TIME + a function of the id
PIPELINES = 4
EXPERIMENTS = 3  # per pipeline
RUNS = 8  # per experiment

INT, DOUBLE, STRING, BOOLEAN = PropertyType.INT, PropertyType.DOUBLE, PropertyType.STRING, PropertyType.BOOLEAN

ARTIFACT_TYPES = [
    ArtifactType("DataSet", {"split": STRING, "day": INT, "rows": INT, "weight": DOUBLE, "validated": BOOLEAN}),
    ArtifactType("Model", {"version": INT, "accuracy": DOUBLE, "framework": STRING, "is_best": BOOLEAN}),
    ArtifactType("Metrics", {"score": DOUBLE, "loss": DOUBLE, "label": STRING, "passed": BOOLEAN}),
    ArtifactType("Statistics", {"count": INT, "mean": DOUBLE}),
    ArtifactType("ext:Blob-v2", {"size": INT, "kind": STRING}),
]
EXECUTION_TYPES = [
    ExecutionType("Transform", {"mode": STRING, "shards": INT, "ratio": DOUBLE}),
    ExecutionType("Trainer", {"lr": DOUBLE, "epochs": INT, "optimizer": STRING, "use_gpu": BOOLEAN}),
    ExecutionType("Evaluator", {"threshold": DOUBLE, "metric": STRING}),
    ExecutionType("Pusher", {"destination": STRING, "dry_run": BOOLEAN}),
]
CONTEXT_TYPES = [
    ContextType("Pipeline", {"owner": STRING}),
    ContextType("Experiment", {"goal": STRING, "budget": DOUBLE}),
    ContextType("Run", {"attempt": INT, "note": STRING, "ok": BOOLEAN}),
    ContextType("Tag"),
]

PIPELINE_NAMES = ["pipe-A", "pipe-b", "PIPE-c", "pipe d'or"]
OWNERS = ["alice", "Alice", "ALICE", "bob", "Bob", "carol", "dave"]
ODD_NAMES = ["it's", 'say "hi"', "50% off", "under_score", "Ünïcödé", "semi;colon", "sp ace", "MiXeD", "mixed"]
ARTIFACT_STATES = list(ArtifactState)
EXECUTION_STATES = list(ExecutionState)


@dataclass
class Corpus:
    """What :func:`build` wrote: how many nodes of each kind (ids run from 1), and every event (for depth checks)."""

    artifacts: int = 0
    executions: int = 0
    contexts: int = 0
    events: list[tuple[int, int, EventType]] = field(default_factory=list)  # (artifact, execution, type)


# --- the generated store ---


class _Plan:
    """The whole graph as records and index-based links, written by a few batch calls."""

    def __init__(self) -> None:
        self.rng = random.Random(SEED)
        self.artifacts: list[Artifact] = []
        self.executions: list[Execution] = []
        self.contexts: list[Context] = []
        self.events: list[tuple[int, int, EventType, list[str | int]]] = []  # artifact/execution indexes
        self.event_keys: set[tuple[int, int, EventType]] = set()
        self.attributions: set[tuple[int, int]] = set()  # (artifact index, context index)
        self.associations: set[tuple[int, int]] = set()  # (execution index, context index)
        self.parents: list[tuple[int, int]] = []  # (child index, parent index)

    # random pieces
    def maybe(self, p: float) -> bool:
        return self.rng.random() < p

    def customs(self, n: int) -> dict[str, Any]:
        rng, found = self.rng, {}
        if self.maybe(0.8):
            found["owner"] = rng.choice(OWNERS)
        if self.maybe(0.7):
            found["priority"] = rng.randrange(0, 6)
        if self.maybe(0.6):
            found["score"] = round(rng.uniform(0, 1), 3)
        if self.maybe(0.5):
            found["flag"] = self.maybe(0.5)
        if self.maybe(0.3):
            found["my:key"] = rng.choice(["gold", "Gold", "silver", "bronze"])
        if self.maybe(0.2):
            found["with space"] = rng.randrange(-50, 50)
        if self.maybe(0.25):
            found["dotted.name"] = self.maybe(0.5)
        if self.maybe(0.4):  # an int on some nodes, a string on others
            found["mixed"] = rng.randrange(0, 10) if self.maybe(0.5) else rng.choice(["x", "Y", "7"])
        if n % 97 == 0:
            found["big"] = 2_000_000_000 + n
        return found

    def name(self, prefix: str, n: int) -> str | None:
        if n % 10 == 7:
            return None
        if n % 53 == 0:
            return f"{ODD_NAMES[(n // 53) % len(ODD_NAMES)]} #{n}"
        return f"{self.rng.choice([prefix, prefix.upper(), prefix.capitalize()])}-{n:05d}"

    # nodes
    def context(self, type_name: str, name: str, **properties: Any) -> int:
        n = len(self.contexts)
        props = {k: v for k, v in properties.items() if v is not None}
        external_id = f"ctx-{n:03d}" if n % 3 == 0 else None
        self.contexts.append(
            Context(
                type=type_name, name=name, properties=props, external_id=external_id, custom_properties=self.customs(n)
            )
        )
        return n

    def artifact(self, type_name: str, uri: str, properties: dict[str, Any]) -> int:
        n = len(self.artifacts)
        rng = self.rng
        props = {k: v for k, v in properties.items() if v is not None and not self.maybe(0.12)}
        state = rng.choice(ARTIFACT_STATES) if self.maybe(0.4) else ArtifactState.LIVE
        self.artifacts.append(
            Artifact(
                type=type_name,
                name=self.name(type_name.lower()[:5], n),
                uri=None if n % 41 == 0 else uri,
                state=state,
                properties=props,
                custom_properties=self.customs(n),
                external_id=f"ext-{n:05d}" if self.maybe(0.3) else None,
            )
        )
        return n

    def execution(self, type_name: str, properties: dict[str, Any], contexts: list[int]) -> int:
        n = len(self.executions)
        props = {k: v for k, v in properties.items() if v is not None and not self.maybe(0.12)}
        state = self.rng.choice(EXECUTION_STATES) if self.maybe(0.35) else ExecutionState.COMPLETE
        self.executions.append(
            Execution(
                type=type_name,
                name=self.name(type_name.lower()[:5], n),
                properties=props,
                custom_properties=self.customs(n),
                last_known_state=state,
                external_id=f"run-ext-{n:04d}" if n % 4 == 0 else None,
            )
        )
        for c in contexts:
            self.associations.add((n, c))
        return n

    def event(self, a: int, e: int, kind: EventType, path: list[str | int], contexts: list[int]) -> None:
        if kind == EventType.INPUT and self.maybe(0.1):
            kind = self.rng.choice([EventType.DECLARED_INPUT, EventType.INTERNAL_INPUT])
        elif kind == EventType.OUTPUT and self.maybe(0.1):
            kind = self.rng.choice([EventType.DECLARED_OUTPUT, EventType.INTERNAL_OUTPUT])
        if kind == EventType.OUTPUT and self.executions[e].last_known_state in (
            ExecutionState.RUNNING,
            ExecutionState.NEW,
        ):
            kind = EventType.PENDING_OUTPUT
        if (a, e, kind) in self.event_keys:  # an event is unique per artifact, execution and type
            return
        self.event_keys.add((a, e, kind))
        self.events.append((a, e, kind, path))
        for c in contexts:
            self.attributions.add((a, c))

    def step(self, type_name: str, props: dict[str, Any], inputs: list[int], outputs: list[int], ctx: list[int]) -> int:
        e = self.execution(type_name, props, ctx)
        for i, a in enumerate(inputs):
            self.event(a, e, EventType.INPUT, ["in", i], ctx)
        for i, a in enumerate(outputs):
            self.event(a, e, EventType.OUTPUT, ["out", i], ctx)
        return e

    # the graph
    def dataset(self, uri: str, split: str, day: int) -> int:
        rng = self.rng
        return self.artifact(
            "DataSet",
            uri,
            {
                "split": split,
                "day": day,
                "rows": rng.randrange(10, 100_000),
                "weight": round(rng.uniform(0, 2), 3),
                "validated": self.maybe(0.6),
            },
        )

    def run(self, p: int, x: int, r: int, run_ctx: int, exp_ctx: int, prev: dict[str, int] | None) -> dict[str, int]:
        rng, k = self.rng, x * RUNS + r
        ctx = [run_ctx]
        root = f"gs://bucket/{PIPELINE_NAMES[p].replace(' ', '_')}/k{k:02d}"
        raw = [self.dataset(f"{root}/raw/{i}", "raw", k) for i in range(2)]

        def transform(inputs: list[int], tag: str) -> tuple[int, int, int]:
            train = self.dataset(f"{root}/{tag}/train", "train", k)
            evaluation = self.dataset(f"{root}/{tag}/eval", rng.choice(["eval", "Eval", "EVAL"]), k)
            stats = self.artifact(
                "Statistics",
                f"{root}/{tag}/stats",
                {"count": rng.randrange(0, 5000), "mean": round(rng.gauss(0, 10), 3)},
            )
            props = {
                "mode": rng.choice(["batch", "Batch", "stream"]),
                "shards": rng.randrange(1, 64),
                "ratio": round(rng.random(), 3),
            }
            self.step("Transform", props, inputs, [train, evaluation, stats], ctx)
            return train, evaluation, stats

        t0 = transform([raw[0]] + ([prev["train"]] if prev else []), "t0")
        t1 = transform([raw[1]], "t1")
        t2 = transform([t0[0]], "t2")
        t3 = transform([t1[0], t1[1], t2[0]], "t3")
        models = []
        for i in range(3):
            model = self.artifact(
                "Model",
                f"{root}/model/{i}",
                {
                    "version": k * 3 + i,
                    "accuracy": round(rng.uniform(0.5, 1), 3),
                    "framework": rng.choice(["sklearn", "SKLearn", "torch", "jax"]),
                    "is_best": i == 0,
                },
            )
            inputs = [t3[0], t2[0]] + ([prev["model"]] if prev and i == 0 else [])
            props = {
                "lr": rng.choice([0.1, 0.01, 0.001, 0.5]),
                "epochs": rng.randrange(1, 100),
                "optimizer": rng.choice(["adam", "Adam", "sgd"]),
                "use_gpu": self.maybe(0.5),
            }
            e = self.step("Trainer", props, inputs, [model], ctx)
            if i == 1:  # also declared, so the pair has two events
                self.event(model, e, EventType.DECLARED_OUTPUT, ["declared"], ctx)
            models.append(model)
            self.attributions.add((model, exp_ctx))
        metrics = []
        for i in range(2):
            m = self.artifact(
                "Metrics",
                f"{root}/metrics/{i}",
                {
                    "score": round(rng.uniform(0, 1), 3),
                    "loss": round(rng.uniform(0, 5), 3),
                    "label": rng.choice(["good", "Good", "bad"]),
                    "passed": self.maybe(0.7),
                },
            )
            props = {"threshold": rng.choice([0.5, 0.75, 0.9]), "metric": rng.choice(["auc", "AUC", "f1"])}
            self.step("Evaluator", props, [models[i], t3[1]], [m], ctx)
            metrics.append(m)
        blob = self.artifact(
            "ext:Blob-v2",
            f"s3://serving/{root[5:]}/blob",
            {"size": rng.randrange(0, 10**6), "kind": rng.choice(["onnx", "ONNX", "pkl"])},
        )
        e = self.step(
            "Pusher",
            {"destination": rng.choice(["prod", "staging"]), "dry_run": self.maybe(0.3)},
            [models[0]],
            [blob],
            ctx,
        )
        self.event(metrics[0], e, EventType.DECLARED_INPUT, ["blessing"], ctx)
        if k % 5 == 2:  # an execution that reads and rewrites the same artifact: a cycle
            self.event(t3[2], e, EventType.INPUT, ["stats"], ctx)
            self.event(t3[2], e, EventType.OUTPUT, ["stats"], ctx)
        if k % 7 == 3:  # an event of UNKNOWN type, followed only in "both"
            self.event(raw[1], e, EventType.UNKNOWN, [], ctx)
        return {"train": t0[0], "model": models[0]}

    def build(self) -> None:
        rng = self.rng
        tags = [self.context("Tag", name) for name in ("golden", "Golden Set", "deprecated", "50%_done")]
        for p, pipeline_name in enumerate(PIPELINE_NAMES):
            pipe = self.context("Pipeline", pipeline_name, owner=rng.choice(OWNERS))
            prev = None
            for x in range(EXPERIMENTS):
                exp = self.context(
                    "Experiment",
                    f"exp-{p}-{x}",
                    goal=rng.choice(["speed", "Speed", "accuracy"]),
                    budget=None if x == 2 else float(100 * (x + 1) + p),
                )
                self.parents.append((exp, pipe))
                for r in range(RUNS):
                    run = self.context(
                        "Run",
                        f"run-{p}-{x}-{r}",
                        attempt=r if r != 5 else None,
                        note=rng.choice(["first try", "retry", "Final", None]),
                        ok=self.maybe(0.6),
                    )
                    self.parents.append((run, exp))
                    if r == 3 and x > 0:  # a run shared by two experiments
                        self.parents.append((run, exp - RUNS - 1))
                    prev = self.run(p, x, r, run, exp, prev)
        self.parents.append((tags[1], tags[0]))
        for _ in range(40):  # artifacts and executions in no context and without events
            self.artifact(rng.choice(ARTIFACT_TYPES).name, f"file:///tmp/orphan/{len(self.artifacts)}", {})
        for _ in range(20):
            self.execution(rng.choice(EXECUTION_TYPES).name, {}, [])
        for i in range(0, len(self.artifacts), 37):
            self.attributions.add((i, tags[i % 3]))
        for i in range(0, len(self.executions), 23):
            self.associations.add((i, tags[(i + 1) % 4]))


def build(url: str) -> Corpus:
    """Fill the empty database at *url* with the generated graph (a handful of batch calls)."""
    plan = _Plan()
    plan.build()
    with tracker.connect(url) as store:
        for t in ARTIFACT_TYPES:
            store.put_artifact_type(t)
        for t in EXECUTION_TYPES:
            store.put_execution_type(t)
        for t in CONTEXT_TYPES:
            store.put_context_type(t)
        context_ids = store.put_contexts(plan.contexts)
        store.put_parent_contexts([ParentContext(context_ids[c], context_ids[p]) for c, p in plan.parents])
        artifact_ids = store.put_artifacts(plan.artifacts)
        execution_ids = store.put_executions(plan.executions)
        for ids, count in (
            (context_ids, len(plan.contexts)),
            (artifact_ids, len(plan.artifacts)),
            (execution_ids, len(plan.executions)),
        ):
            assert ids == list(range(1, count + 1)), "the corpus's filters name ids: a fresh store numbers from 1"
        events = [
            Event(artifact_ids[a], execution_ids[e], kind, path, BASE_TIME + 10 * n)
            for n, (a, e, kind, path) in enumerate(plan.events)
        ]
        store.put_events(events)
        store.put_attributions_and_associations(
            [Attribution(artifact_ids[a], context_ids[c]) for a, c in sorted(plan.attributions)],
            [Association(execution_ids[e], context_ids[c]) for e, c in sorted(plan.associations)],
        )
        # put_execution too: a last run that reads two stored artifacts and writes a new one, in a new context
        store.put_execution(
            Execution(
                type="Trainer",
                name="late-trainer",
                properties={"lr": 0.25, "epochs": 3},
                last_known_state=ExecutionState.COMPLETE,
            ),
            [
                (1, Event(type=EventType.INPUT, path=["data"], milliseconds_since_epoch=BASE_TIME)),
                (2, Event(type=EventType.INPUT, path=["data", 1], milliseconds_since_epoch=BASE_TIME)),
                (
                    Artifact(
                        type="Model",
                        name="late-model",
                        uri="gs://bucket/late",
                        state=ArtifactState.LIVE,
                        properties={"version": 9999, "accuracy": 0.5},
                    ),
                    Event(type=EventType.OUTPUT, path=["model"], milliseconds_since_epoch=BASE_TIME),
                ),
            ],
            [Context(type="Run", name="late-run", properties={"attempt": 1, "note": "late"})],
        )
    _stamp_times(url)
    corpus = Corpus(len(plan.artifacts) + 1, len(plan.executions) + 1, len(plan.contexts) + 1)
    corpus.events = [(e.artifact_id, e.execution_id, e.type) for e in events]
    corpus.events += [
        (1, corpus.executions, EventType.INPUT),
        (2, corpus.executions, EventType.INPUT),
        (corpus.artifacts, corpus.executions, EventType.OUTPUT),
    ]
    return corpus


def _stamp_times(url: str) -> None:
    """Give every node fixed times: create = BASE + 1000 * (id // 3) (ties in threes), update later or equal."""
    from tracker.store import schema
    from tracker.store._engine import resolve_url

    engine = create_engine(resolve_url(url))
    try:
        with engine.begin() as conn:
            for table, step in ((schema.artifact, 1000), (schema.execution, 1500), (schema.context, 700)):
                node_id = cast(table.c.id, BigInteger)
                create = literal(BASE_TIME, BigInteger) + step * (node_id - node_id % 3)
                conn.execute(
                    update(table).values(
                        create_time_since_epoch=create,
                        last_update_time_since_epoch=create + 250 * (node_id % 5) * (node_id % 2),
                    )
                )
    finally:
        engine.dispose()


def max_depth(corpus: Corpus, query: LineageQuery, starts_artifacts: list[int], starts_executions: list[int]) -> int:
    """How many hops a BFS from these starting nodes needs to reach all it can (stops ignored)."""
    forward: dict[tuple[str, int], set[tuple[str, int]]] = {}
    backward: dict[tuple[str, int], set[tuple[str, int]]] = {}
    unknown: dict[tuple[str, int], set[tuple[str, int]]] = {}
    for a, e, kind in corpus.events:
        art, exe = ("a", a), ("e", e)
        if kind == EventType.UNKNOWN:
            unknown.setdefault(art, set()).add(exe)
            unknown.setdefault(exe, set()).add(art)
        elif kind in (EventType.INPUT, EventType.DECLARED_INPUT, EventType.INTERNAL_INPUT):
            forward.setdefault(art, set()).add(exe)
            backward.setdefault(exe, set()).add(art)
        else:
            forward.setdefault(exe, set()).add(art)
            backward.setdefault(art, set()).add(exe)
    maps = {"downstream": [forward], "upstream": [backward], "both": [forward, backward, unknown]}[query.direction]
    seen = {("a", i): 0 for i in starts_artifacts} | {("e", i): 0 for i in starts_executions}
    queue = deque(seen)
    while queue:
        node = queue.popleft()
        for m in maps:
            for nxt in m.get(node, ()):
                if nxt not in seen:
                    seen[nxt] = seen[node] + 1
                    queue.append(nxt)
    return max(seen.values(), default=0)


# --- the filter corpus ---

Kind = Literal["artifacts", "executions", "contexts"]


@dataclass(frozen=True)
class Filter:
    """One filter query over one kind of node; ``mlmd_postgresql`` is False where ml-metadata fails on PostgreSQL."""

    kind: Kind
    text: str
    mlmd_postgresql: bool = True

    def __str__(self) -> str:
        return f"{self.kind}: {self.text}"


#: Filters ml-metadata 1.17 runs on SQLite but not on PostgreSQL: it copies string literals holding a quote
#: into the SQL unescaped (and turns " into '), and casts an integer division to FLOAT64, a type PostgreSQL lacks.
MLMD_POSTGRESQL_FAILS = {
    "id * 3 - 2 = 301 OR (id + 10) / 2 = 20",
    'name = "it\'s #0"',
    'name = \'it\\\'s #0\' OR name = "say \\"hi\\" #53"',
    "name = 'say \"hi\" #53' OR name = 'MiXeD #371' OR name = \"mixed #424\"",
    'uri = "gs://bucket/pipe_d\'or/k05/model/1"',
    'name = "pipe d\'or"',
}


def _filters(kind: Kind, *texts: str) -> list[Filter]:
    return [Filter(kind, t, t not in MLMD_POSTGRESQL_FAILS) for t in texts]


FILTERS: list[Filter] = [
    *_filters(
        "artifacts",
        # attributes
        "type = 'DataSet'",
        "type = 'ext:Blob-v2' AND id > 1000",
        "type IN ('Metrics', 'Statistics') AND id <= 400",
        "type NOT IN ('DataSet', 'Model') AND id < 50",
        "type_id = 11",
        "id = 17",
        "id IN (1, 3, 5, 7, 11, 13, 999999)",
        "id BETWEEN 100 AND 140",
        "id NOT BETWEEN 20 AND 1900",
        "id <> 1 AND id != 2 AND id < 6",
        "id * 3 - 2 = 301 OR (id + 10) / 2 = 20",
        "(type = 'Model' OR type = 'Metrics') AND (state = DELETED OR name LIKE '%#%') AND NOT id > 1500",
        "NOT (type = 'DataSet' OR type = 'Statistics') AND id BETWEEN 40 AND 60",
        'name = "it\'s #0"',
        'name = \'it\\\'s #0\' OR name = "say \\"hi\\" #53"',
        "name = 'say \"hi\" #53' OR name = 'MiXeD #371' OR name = \"mixed #424\"",
        "name IN ('Ünïcödé #212', 'sp ace #318')",
        "name >= 'z'",
        "name > 'MODEL' AND name < 'Model'",
        "name IS NULL AND id < 300",
        "NOT (name IS NULL) AND id < 30",
        "name LIKE '50% off%'",
        "name LIKE '%;%'",
        "name LIKE '% #%'",
        "name LIKE '%-0001_'",
        "name LIKE '_____-0000_' AND type = 'Statistics'",
        "name NOT LIKE '%-%'",
        "LENGTH(name) = 12",
        "LENGTH(name) > 14",
        "LOWER(name) = 'datas-00010' OR UPPER(name) = 'MODEL-00014'",
        "uri LIKE 'gs://bucket/pipe-A/k0_/t2/%'",
        "uri LIKE 's3://serving/%' AND id < 200",
        "uri NOT LIKE 'gs://%' AND uri NOT LIKE 's3://%'",
        "uri IS NULL",
        'uri = "gs://bucket/pipe_d\'or/k05/model/1"',
        "external_id = 'ext-00042' OR external_id = 'ext-00043' OR external_id = 'ext-00044'",
        "external_id IS NOT NULL AND id < 60",
        "external_id IN ('ext-00100', 'ext-00101', 'nope')",
        "state = LIVE AND id < 40",
        "state IN (PENDING, MARKED_FOR_DELETION, DELETED)",
        "state = UNKNOWN",
        "state IS NULL AND id < 500",
        "state IN (LIVE, PENDING) OR state IS NULL",
        "state NOT IN (UNKNOWN, PENDING, LIVE, MARKED_FOR_DELETION, DELETED)",
        "state > 4",
        "state <= 1 AND type = 'Metrics'",
        "state != LIVE AND type = 'Model'",
        "create_time_since_epoch BETWEEN 1700000100000 AND 1700000130000",
        "last_update_time_since_epoch > create_time_since_epoch AND id < 100",
        "last_update_time_since_epoch = create_time_since_epoch AND id > 1900",
        # properties
        "properties.day.int_value = 3",
        "properties.day.int_value IS NOT NULL AND properties.day.int_value = 23",
        "properties.day.int_value = 4 AND properties.day.int_value <> 5 AND NOT properties.day.int_value != 4",
        "properties.split.string_value = 'eval'",
        "properties.split.string_value IN ('Eval', 'EVAL') AND properties.day.int_value < 4",
        "properties.split.string_value NOT IN ('train', 'raw') AND properties.weight.double_value > 1.9",
        "properties.rows.int_value > 99000",
        "properties.rows.int_value - properties.day.int_value < 1000",
        "properties.weight.double_value < 0.02",
        "properties.validated.bool_value = true AND properties.day.int_value = 0",
        'properties.validated.bool_value = TRUE AND properties.split.string_value = "raw" AND id > 1800',
        "properties.validated.bool_value AND properties.day.int_value = 1",
        "NOT properties.validated.bool_value AND properties.day.int_value = 2",
        "properties.accuracy.double_value >= 0.99",
        "properties.is_best.bool_value AND properties.accuracy.double_value > 0.95",
        "properties.framework.string_value = 'SKLearn' AND properties.is_best.bool_value = false",
        "properties.version.int_value BETWEEN 10 AND 20",
        "properties.score.double_value > 0.9 OR properties.score.double_value < 0.05",
        "properties.label.string_value = 'good' AND properties.passed.bool_value = false",
        "properties.size.int_value > 900000",
        "properties.kind.string_value != 'pkl' AND properties.size.int_value < 100000",
        "properties.count.int_value * 2 + 1 > 9900",
        "properties.mean.double_value / 2 > 8",
        "properties.mean.double_value >= -0.5 AND properties.mean.double_value <= 0.5",
        # custom properties
        "custom_properties.owner.string_value = 'alice' AND id < 300",
        "custom_properties.owner.string_value IN ('Bob', 'ALICE') AND id < 200",
        "custom_properties.owner.string_value = 'bob' AND properties.framework.string_value = 'jax'",
        "LOWER(custom_properties.owner.string_value) = 'alice' AND id < 200",
        "UPPER(custom_properties.owner.string_value) = 'BOB' AND type = 'Metrics'",
        "LENGTH(custom_properties.owner.string_value) = 3 AND id < 100",
        "custom_properties.priority.int_value = 5 AND custom_properties.flag.bool_value = true",
        "custom_properties.priority.int_value IS NOT NULL AND id <= 20",
        "custom_properties.priority.int_value = custom_properties.mixed.int_value",
        "custom_properties.score.double_value BETWEEN 0.25 AND 0.26",
        "custom_properties.score.double_value > properties.accuracy.double_value",
        "custom_properties.`my:key`.string_value = 'Gold'",
        "custom_properties.`with space`.int_value < -45",
        "custom_properties.`dotted.name`.bool_value AND id < 500",
        "custom_properties.mixed.int_value > 7",
        "custom_properties.mixed.string_value = 'Y'",
        "custom_properties.big.int_value > 2000000000",
        # neighbours
        "contexts_r.name = 'run-0-0-0'",
        "contexts_r.type = 'Experiment' AND contexts_r.name = 'exp-1-2'",
        "contexts_a.type = 'Tag' AND contexts_b.name = 'run-2-1-3'",
        "contexts_t.name IN ('Golden', 'Golden Set')",
        "contexts_c.id = 3 AND type = 'Model'",
        "contexts_c.create_time_since_epoch < 1700000003000 AND type = 'Model'",
        "contexts_c.last_update_time_since_epoch = 1700000004700",
        "contexts_c.type = 'Run' AND events_e.type = OUTPUT AND custom_properties.flag.bool_value = FALSE "
        "AND properties.split.string_value = 'train' AND contexts_c.name LIKE '%-3-%'",
        "events_e.type = OUTPUT AND events_e.execution_id = 6",
        "events_e.execution_id = 10",
        "events_e.type = DECLARED_OUTPUT",
        "events_e.type IN (DECLARED_INPUT, INTERNAL_INPUT) AND id < 400",
        "events_e.type = INTERNAL_OUTPUT AND id BETWEEN 500 AND 1500",
        "events_e.type > 6",
        "events_e.type < 1",
        "events_i.type = INPUT AND events_o.type = OUTPUT AND events_i.execution_id = events_o.execution_id",
        "events_e.milliseconds_since_epoch BETWEEN 1700000001000 AND 1700000001100",
    ),
    *_filters(
        "executions",
        "type = 'Trainer' AND last_known_state = FAILED",
        "type IN ('Pusher', 'Evaluator') AND id > 950",
        "type_id = 16",
        "last_known_state IN (NEW, RUNNING, CACHED, CANCELED) AND id < 200",
        "last_known_state = UNKNOWN",
        "last_known_state != COMPLETE AND type = 'Pusher'",
        "NOT (last_known_state = COMPLETE) AND type = 'Trainer' AND id < 200",
        "last_known_state > 3 AND last_known_state < 6 AND id < 100",
        "id BETWEEN 5 AND 9 OR id IN (900, 901)",
        "name = 'late-trainer'",
        "name LIKE '%-00_13'",
        "name >= 'EVALU' AND name < 'EVALV'",
        "name IS NULL AND type = 'Evaluator'",
        "LENGTH(name) = 11 AND UPPER(name) LIKE 'EVALU-%'",
        "external_id = 'run-ext-0008'",
        "external_id LIKE 'run-ext-000%'",
        "create_time_since_epoch < 1700000010000",
        "last_update_time_since_epoch >= 1700001000000 AND last_update_time_since_epoch <= 1700001100000",
        "properties.lr.double_value = 0.5 AND properties.epochs.int_value > 90",
        "properties.optimizer.string_value = 'Adam' AND properties.use_gpu.bool_value",
        "properties.use_gpu.bool_value = false AND properties.lr.double_value < 0.005",
        "properties.mode.string_value = 'stream' AND properties.shards.int_value <= 2",
        "properties.ratio.double_value * 100 < 1",
        "properties.threshold.double_value = 0.9 AND properties.metric.string_value = 'AUC'",
        "properties.destination.string_value = 'staging' AND NOT properties.dry_run.bool_value",
        "custom_properties.owner.string_value = 'Alice'",
        "custom_properties.`my:key`.string_value IN ('gold', 'Gold')",
        "custom_properties.priority.int_value + properties.epochs.int_value < 6",
        "contexts_r.name = 'run-3-2-7'",
        "contexts_r.type = 'Tag'",
        "contexts_r.type = 'Run' AND contexts_r.name LIKE 'run-1-0-%' AND last_known_state = COMPLETE",
        "contexts_a.type = 'Run' AND contexts_b.type = 'Tag' AND contexts_b.name = 'deprecated'",
        "contexts_c.name = 'late-run' OR contexts_c.name = 'run-0-0-1'",
        "events_e.artifact_id = 1",
        "events_e.artifact_id IN (101, 202, 303)",
        "events_e.type > 6 AND id < 300",
        "events_e.type < 1",
        "events_e.type = DECLARED_INPUT",
        "events_e.milliseconds_since_epoch > 1700000037000 AND events_e.type = OUTPUT",
        "events_a.type = INPUT AND events_b.type = OUTPUT AND events_a.artifact_id = events_b.artifact_id",
    ),
    *_filters(
        "contexts",
        "type = 'Pipeline'",
        "type = 'Run' AND name LIKE 'run-2-%'",
        "type IN ('Tag', 'Pipeline') AND NOT name LIKE '%o%'",
        'name = "pipe d\'or"',
        'name = "50%_done"',
        "name IN ('Golden', 'golden set', 'Golden Set')",
        "name LIKE '%-%' AND type = 'Pipeline'",
        "LOWER(name) = 'golden'",
        "external_id = 'ctx-003'",
        "id > 100 AND create_time_since_epoch >= 1700000070000",
        "last_update_time_since_epoch - create_time_since_epoch = 250",
        "properties.attempt.int_value = 7",
        "properties.attempt.int_value BETWEEN 2 AND 3 AND properties.ok.bool_value = FALSE",
        "properties.note.string_value = 'Final' AND properties.ok.bool_value",
        "properties.note.string_value LIKE '%tr%'",
        "properties.budget.double_value > 200",
        "properties.goal.string_value IN ('Speed', 'speed')",
        "properties.owner.string_value IS NOT NULL",
        "custom_properties.owner.string_value = 'bob'",
        "parent_contexts_p.name = 'exp-0-1'",
        "parent_contexts_p.id = 5",
        "parent_contexts_p.type = 'Pipeline'",
        "parent_contexts_p.type = 'Experiment' AND parent_contexts_p.name LIKE 'exp-3-%'",
        "parent_contexts_a.name = 'exp-1-1' AND parent_contexts_b.name = 'exp-1-2'",
        "child_contexts_c.name = 'run-1-1-1'",
        "child_contexts_c.type = 'Experiment'",
        "child_contexts_c.type = 'Run' AND child_contexts_c.name = 'run-2-2-3'",
        "child_contexts_c.name = 'Golden Set'",
        "artifacts_a.id = 1",
        "artifacts_a.name = '50% off #106'",
        "artifacts_a.uri LIKE '%/k07/t0/%'",
        "artifacts_a.type = 'ext:Blob-v2' AND artifacts_a.state = DELETED",
        "artifacts_a.state = DELETED AND artifacts_a.type = 'Model' AND type = 'Experiment'",
        "artifacts_a.create_time_since_epoch < 1700000006000",
        "executions_e.name = 'late-trainer'",
        "executions_e.id IN (1, 2) AND type = 'Run'",
        "executions_e.last_known_state = FAILED AND executions_e.type = 'Evaluator'",
        "executions_e.last_known_state IN (CACHED, CANCELED) AND executions_e.type = 'Pusher'",
        "executions_e.create_time_since_epoch > 1700001400000",
        "artifacts_a.type = 'Model' AND executions_e.type = 'Pusher' AND executions_e.last_known_state = FAILED",
    ),
]

#: Filters that use what only tracker accepts (D1-D4 of docs/queries.md): run on every backend, tracker only.
TRACKER_ONLY: list[Filter] = [
    *_filters(
        "artifacts",
        "(properties.day.int_value = 0 OR type = 'Metrics') AND id < 200",
        "properties.split.string_value = 'raw' OR custom_properties.flag.bool_value",
        "properties.day.int_value IS NULL AND id < 100",
        "custom_properties.owner.string_value IS NULL OR custom_properties.owner.string_value = 'Bob'",
        "NOT (custom_properties.priority.int_value > 2) OR contexts_t.name = 'golden'",
        "state = ABANDONED",
        "state IN (REFERENCE, 5)",
        "state = 0 OR state = 4",
        "events_e.type = PENDING_OUTPUT AND id < 500",
        "events_e.type = UNKNOWN",
        "name LIKE 'Datas-0%' AND id < 300",
        "custom_properties.owner.string_value LIKE 'AL%'",
        "custom_properties.owner.string_value < 'a' AND id < 100",
        "properties.split.string_value = 'EVAL' AND id < 300",
    ),
    *_filters(
        "executions",
        "last_known_state = 4 OR properties.lr.double_value = 0.5",
        "events_e.type = PENDING_OUTPUT",
        "contexts_t.type = 'Tag' OR properties.metric.string_value = 'AUC'",
        "properties.optimizer.string_value LIKE 'ad%'",
    ),
    *_filters(
        "contexts",
        "name LIKE 'PIPE%'",
        "parent_contexts_p.name = 'golden' OR type = 'Pipeline'",
        "properties.budget.double_value IS NULL AND type = 'Experiment'",
        "artifacts_a.external_id = 'ext-00200' OR executions_e.external_id = 'run-ext-0100'",
    ),
]

#: Filters on the nodes of one context (``get_artifacts_by_context`` / ``get_executions_by_context``).
BY_CONTEXT: list[tuple[Literal["artifacts", "executions"], int, str]] = [
    ("artifacts", 7, "type = 'DataSet'"),
    ("artifacts", 7, "properties.split.string_value = 'train' AND state = LIVE"),
    ("artifacts", 6, "type = 'Model' AND custom_properties.owner.string_value IN ('bob', 'Bob')"),
    ("artifacts", 1, "id < 1000"),
    ("artifacts", 117, "events_e.type = OUTPUT"),
    ("executions", 7, "type = 'Trainer'"),
    ("executions", 40, "last_known_state != COMPLETE"),
    ("executions", 2, "events_e.artifact_id > 100 AND type = 'Transform'"),
]


# --- the lineage corpus ---

Direction = Literal["upstream", "downstream", "both"]


@dataclass(frozen=True)
class LineageQuery:
    """Arguments of ``Store.get_lineage`` that ml-metadata's ``get_lineage_subgraph`` can run too.

    Starting nodes are artifacts or executions (MLMD takes one kind), as ids or a
    filter; ``max_hops=None`` is tracker's unlimited, run in MLMD with its cap of 100.
    """

    name: str
    artifacts: tuple[int, ...] | str | None = None
    executions: tuple[int, ...] | str | None = None
    direction: Direction = "both"
    max_hops: int | None = None
    stop_at_artifacts: str | None = None
    stop_at_executions: str | None = None
    include_stops: bool = True

    def kwargs(self) -> dict[str, Any]:
        """Keyword arguments for ``Store.get_lineage``."""
        found: dict[str, Any] = {
            "direction": self.direction,
            "max_hops": self.max_hops,
            "include_stops": self.include_stops,
        }
        for key in ("artifacts", "executions", "stop_at_artifacts", "stop_at_executions"):
            value = getattr(self, key)
            if value is not None:
                found[key] = list(value) if isinstance(value, tuple) else value
        return found

    def start_filter(self) -> tuple[Literal["artifacts", "executions"], str]:
        """The starting nodes as MLMD needs them: a kind and a filter query."""
        kind: Literal["artifacts", "executions"] = "artifacts" if self.artifacts is not None else "executions"
        value = self.artifacts if self.artifacts is not None else self.executions
        assert value is not None
        if isinstance(value, tuple):
            return kind, f"id IN ({', '.join(map(str, value))})"
        return kind, value


LINEAGE: list[LineageQuery] = [
    LineageQuery("model-both-2", artifacts=(15,), max_hops=2),
    LineageQuery("model-both-unlimited", artifacts=(15,)),
    LineageQuery("model-up-unlimited", artifacts=(15,), direction="upstream"),
    LineageQuery("model-down-unlimited", artifacts=(15,), direction="downstream"),
    LineageQuery("model-down-100", artifacts=(15,), direction="downstream", max_hops=100),
    LineageQuery("model-down-17", artifacts=(15,), direction="downstream", max_hops=17),
    LineageQuery("dead-end-model-down", artifacts=(17,), direction="downstream"),
    LineageQuery("raw-down-0", artifacts=(1, 2), direction="downstream", max_hops=0),
    LineageQuery("raw-down-1", artifacts=(1, 2), direction="downstream", max_hops=1),
    LineageQuery("raw-down-5", artifacts=(1, 2), direction="downstream", max_hops=5),
    LineageQuery("raw-down-unlimited", artifacts=(1,), direction="downstream"),
    LineageQuery("raw-up-unlimited", artifacts=(1,), direction="upstream"),
    LineageQuery("raw-both-3", artifacts=(2,), max_hops=3),
    LineageQuery("late-model-up-100", artifacts="name = 'late-model'", direction="upstream", max_hops=100),
    LineageQuery("blob-up-unlimited", artifacts="type = 'ext:Blob-v2' AND id > 1800", direction="upstream"),
    LineageQuery(
        "metrics-up-4",
        artifacts="type = 'Metrics' AND properties.passed.bool_value = false AND id < 400",
        direction="upstream",
        max_hops=4,
    ),
    LineageQuery("trainer-down-1", executions=(15,), direction="downstream", max_hops=1),
    LineageQuery("trainer-up-2", executions=(15,), direction="upstream", max_hops=2),
    LineageQuery("trainer-up-unlimited", executions=(955,), direction="upstream"),
    LineageQuery("trainers-both-4", executions="type = 'Trainer' AND contexts_r.name = 'run-1-0-0'", max_hops=4),
    LineageQuery("failed-up-3", executions="last_known_state = FAILED AND id < 150", direction="upstream", max_hops=3),
    LineageQuery("pending-down-2", executions="events_e.type > 6 AND id < 400", direction="downstream", max_hops=2),
    LineageQuery(
        "stop-at-evaluator",
        artifacts=(1,),
        direction="downstream",
        max_hops=12,
        stop_at_executions="type = 'Evaluator'",
    ),
    LineageQuery(
        "stop-at-evaluator-excluded",
        artifacts=(1,),
        direction="downstream",
        max_hops=12,
        stop_at_executions="type = 'Evaluator'",
        include_stops=False,
    ),
    LineageQuery("stop-at-models", artifacts=(21,), direction="downstream", stop_at_artifacts="type = 'Model'"),
    LineageQuery(
        "stop-at-models-excluded",
        artifacts=(21,),
        direction="downstream",
        stop_at_artifacts="type = 'Model'",
        include_stops=False,
    ),
    LineageQuery(
        "up-stop-at-raw",
        artifacts="uri = 'gs://bucket/pipe-b/k03/metrics/0'",
        direction="upstream",
        stop_at_artifacts="properties.split.string_value = 'raw'",
        include_stops=False,
    ),
    LineageQuery(
        "both-stop-both-kinds",
        artifacts=(203,),
        max_hops=6,
        stop_at_artifacts="type = 'Statistics'",
        stop_at_executions="type = 'Pusher' OR last_known_state = FAILED",
    ),
    LineageQuery(
        "both-stop-both-kinds-excluded",
        artifacts=(203,),
        max_hops=6,
        stop_at_artifacts="type = 'Statistics'",
        stop_at_executions="type = 'Pusher'",
        include_stops=False,
    ),
    LineageQuery("start-is-a-stop", artifacts=(205,), max_hops=6, stop_at_artifacts="type = 'Statistics'"),
    LineageQuery(
        "start-is-a-stop-excluded",
        artifacts=(17,),
        direction="downstream",
        max_hops=3,
        stop_at_artifacts="id = 17",
        include_stops=False,
    ),
    LineageQuery("both-unlimited-from-run", executions="contexts_r.name = 'run-2-0-4' AND type = 'Transform'"),
    LineageQuery("unknown-event-both-1", artifacts=(62,), max_hops=1),
    LineageQuery("unknown-event-down-1", artifacts=(62,), direction="downstream", max_hops=1),
    LineageQuery("unknown-event-up-unlimited", executions=(40,), direction="upstream"),
    LineageQuery("orphans-0", artifacts="id > 1920 AND id < 1961", max_hops=0),
    LineageQuery("orphans-both", artifacts="id > 1920 AND id < 1961"),
    LineageQuery("lonely-executions", executions="id > 960 AND id < 981", max_hops=3),
    LineageQuery("cycle-both-2", executions="type = 'Pusher' AND id < 60", max_hops=2),
    LineageQuery("cycle-down-unlimited", executions=(30,), direction="downstream"),
    LineageQuery("many-starts-up-1", artifacts="type = 'Model' AND id < 660", direction="upstream", max_hops=1),
    LineageQuery("101-starts-down-2", artifacts=tuple(range(1, 1920, 19))[:101], direction="downstream", max_hops=2),
]
