"""``tracker.lineage(x)``: the questions every ML team asks, each one line::

lin = tracker.lineage(model)        # a value a step returned, an Artifact, an id, an Execution or a run
lin.datasets()                      # 1. which data sets did it train on?
lin.params                          # 2. with which hyperparameters?
lin.metrics                         # 3. what were its metrics?
lin.run                             # 4. which run made it?
tracker.lineage(data).models()      # 5. which models were trained on this data?
tracker.compare([run_a, run_b])     # 6. how do runs (or models) compare?
lin.packages                        # 7. which library versions made it?
"""

from __future__ import annotations

import functools
from typing import Any

from tracker.errors import InvalidArgumentError, NotFoundError
from tracker.query.graph import Graph
from tracker.store import (
    Artifact,
    ArtifactBaseType,
    Context,
    EventType,
    Execution,
    ExecutionState,
    Store,
)

RUN_TYPE = "Run"
PIPELINE_TYPE = "Pipeline"
_OUTPUTS = frozenset({EventType.OUTPUT, EventType.DECLARED_OUTPUT, EventType.INTERNAL_OUTPUT, EventType.PENDING_OUTPUT})
_INPUTS = frozenset({EventType.INPUT, EventType.DECLARED_INPUT, EventType.INTERNAL_INPUT})
#: Execution custom properties that describe where it ran.
ENVIRONMENT = {
    "tracker_python": "python",
    "tracker_platform": "platform",
    "tracker_host": "host",
    "tracker_module": "module",
    "tracker_function": "function",
    "tracker_source_sha256": "source_sha256",
    "tracker_git_commit": "git_commit",
    "tracker_git_dirty": "git_dirty",
}

Record = Artifact | Execution | Context


def _user_props(record: Record) -> dict[str, Any]:
    """Properties and custom properties, without tracker's own (``tracker_*``)."""
    out = dict(record.properties)
    out.update({k: v for k, v in record.custom_properties.items() if not k.startswith("tracker_")})
    return out


def _numbers(record: Record) -> dict[str, float]:
    return {k: v for k, v in _user_props(record).items() if isinstance(v, (int, float)) and not isinstance(v, bool)}


class Lineage:
    """What the store knows around one artifact, execution or run (a Context).

    Attributes are read from the store when first asked for, then kept: make a new
    ``tracker.lineage(x)`` to see later writes.
    """

    def __init__(self, store: Store, record: Record) -> None:
        if not isinstance(record, (Artifact, Execution, Context)) or record.id is None:
            raise InvalidArgumentError(f"lineage needs a stored Artifact, Execution or Context, not {record!r:.80}")
        self.store = store
        self.record = record

    def __repr__(self) -> str:
        return f"<Lineage of {self.kind} #{self.record.id} ({self.record.type})>"

    @property
    def kind(self) -> str:
        """``"artifact"``, ``"execution"`` or ``"context"``."""
        if isinstance(self.record, Artifact):
            return "artifact"
        return "execution" if isinstance(self.record, Execution) else "context"

    # --- walks ---

    def graph(self, direction: str = "both", *, max_hops: int | None = None, types: list[str] | None = None) -> Graph:
        """The lineage graph around the record (a run: its executions, their inputs and outputs)."""
        rid = int(self.record.id or 0)
        if isinstance(self.record, Context):
            artifacts = [int(a.id or 0) for a in self.store.get_artifacts_by_context(rid)]
            executions = [int(e.id or 0) for e in self.store.get_executions_by_context(rid)]
            if not artifacts and not executions:
                return Graph(contexts=[self.record])
            if max_hops is None and direction == "both":  # the run itself: its executions, inputs and outputs
                found = (
                    self.store.get_lineage(executions=executions, max_hops=1)
                    if executions
                    else self.store.get_lineage(artifacts=artifacts, max_hops=0)
                )
            else:
                found = self.store.get_lineage(artifacts=artifacts or None, executions=executions or None,
                                               direction=direction, max_hops=max_hops)  # fmt: skip
            focus = [f"e{i}" for i in executions] + [f"a{i}" for i in artifacts]
        elif isinstance(self.record, Artifact):
            found = self.store.get_lineage(artifacts=[rid], direction=direction, max_hops=max_hops)
            focus = [f"a{rid}"]
        else:
            found = self.store.get_lineage(executions=[rid], direction=direction, max_hops=max_hops)
            focus = [f"e{rid}"]
        graph = Graph.of(found, focus)
        return graph.only(types) if types else graph

    def upstream(self, *, max_hops: int | None = None, types: list[str] | None = None) -> Graph:
        """Everything the record came from: inputs, the executions that made them, and so on."""
        return self.graph("upstream", max_hops=max_hops, types=types)

    def downstream(self, *, max_hops: int | None = None, types: list[str] | None = None) -> Graph:
        """Everything that came from the record."""
        return self.graph("downstream", max_hops=max_hops, types=types)

    # --- the producing execution ---

    @functools.cached_property
    def producer(self) -> Execution | None:
        """The execution that output this artifact (the latest, if several did); an execution is its own."""
        if isinstance(self.record, Execution):
            return self.record
        if isinstance(self.record, Context):
            return None
        events = self.store.get_events_by_artifact_ids([int(self.record.id or 0)])
        ids = sorted({e.execution_id for e in events if e.type in _OUTPUTS})
        return self.store.get_executions_by_id(ids[-1:])[0] if ids else None

    def _events_of_producer(self, types: frozenset[EventType]) -> list[Artifact]:
        if self.producer is None:
            return []
        events = self.store.get_events_by_execution_ids([int(self.producer.id or 0)])
        return self.store.get_artifacts_by_id(sorted({e.artifact_id for e in events if e.type in types}))

    @functools.cached_property
    def inputs(self) -> list[Artifact]:
        """The artifacts the producing execution read."""
        return self._events_of_producer(_INPUTS)

    @functools.cached_property
    def outputs(self) -> list[Artifact]:
        """The artifacts the producing execution wrote (this one among them)."""
        return self._events_of_producer(_OUTPUTS)

    @property
    def siblings(self) -> list[Artifact]:
        """The other outputs of the execution that made this artifact."""
        return [a for a in self.outputs if a.id != self.record.id]

    @functools.cached_property
    def params(self) -> dict[str, Any]:
        """2. The hyperparameters: the producing execution's parameters and logged params.

        For a run, each execution's parameters as ``"<step type>.<name>"``, and the run's own.
        """
        if isinstance(self.record, Context):
            out: dict[str, Any] = {}
            for execution in self.store.get_executions_by_context(int(self.record.id or 0)):
                out.update({f"{_short(execution.type)}.{k}": v for k, v in _user_props(execution).items()})
            out.update({k: v for k, v in _user_props(self.record).items() if k not in self._run_metric_names})
            return out
        return _user_props(self.producer) if self.producer is not None else {}

    # --- runs ---

    @functools.cached_property
    def run(self) -> Context | None:
        """4. The run (a Context of type "Run") the record was made in."""
        if isinstance(self.record, Context):
            return self.record if self.record.type == RUN_TYPE else None
        if self.producer is not None:
            contexts = self.store.get_contexts_by_execution(int(self.producer.id or 0))
        else:
            contexts = self.store.get_contexts_by_artifact(int(self.record.id or 0))
        runs = [c for c in contexts if c.type == RUN_TYPE]
        return runs[-1] if runs else (contexts[-1] if contexts else None)

    @property
    def pipeline(self) -> Context | None:
        """The pipeline of the run, if it has one."""
        run = self.run
        if run is None:
            return None
        parents = self.store.get_parent_contexts_by_context(int(run.id or 0))
        found = [p for p in parents if p.type == PIPELINE_TYPE]
        return found[0] if found else None

    @functools.cached_property
    def _run_metric_names(self) -> set[str]:
        names = self.record.custom_properties.get("tracker_metric_names") if isinstance(self.record, Context) else None
        return set(str(names).split(",")) if names else set()

    # --- environment ---

    @functools.cached_property
    def environment(self) -> dict[str, Any]:
        """7. Where the producing execution (for a run: its first) ran: python, platform, host, code, git, packages."""
        execution = self.producer
        if isinstance(self.record, Context):
            executions = self.store.get_executions_by_context(int(self.record.id or 0))
            execution = executions[0] if executions else None
        if execution is None:
            return {}
        props = execution.custom_properties
        out = {name: props[key] for key, name in ENVIRONMENT.items() if key in props}
        packages = props.get("tracker_packages")
        out["packages"] = dict(packages) if isinstance(packages, dict) else {}
        return out

    @property
    def packages(self) -> dict[str, str]:
        """7. Versions of the installed distributions the producing step's module imported."""
        return dict(self.environment.get("packages") or {})

    # --- the questions about data and models ---

    def _base(self, artifact: Artifact) -> ArtifactBaseType:
        return self._base_types.get(int(artifact.type_id or 0), ArtifactBaseType.UNSET)

    @functools.cached_property
    def _base_types(self) -> dict[int, ArtifactBaseType]:
        return {int(t.id or 0): t.base_type for t in self.store.get_artifact_types()}

    def is_model(self, artifact: Artifact) -> bool:
        """A MODEL base type, or a type named like one (``Model``, ``SavedModel``...)."""
        base = self._base(artifact)
        return base == ArtifactBaseType.MODEL or (
            base == ArtifactBaseType.UNSET and "model" in (artifact.type or "").lower()
        )

    def is_dataset(self, artifact: Artifact) -> bool:
        """A DATASET base type, or a type named like one (``DataSet``, ``Dataset``...)."""
        base = self._base(artifact)
        name = (artifact.type or "").lower()
        return base == ArtifactBaseType.DATASET or (base == ArtifactBaseType.UNSET and "dataset" in name)

    def is_metrics(self, artifact: Artifact) -> bool:
        return self._base(artifact) == ArtifactBaseType.METRICS or artifact.type == "Metrics"

    def datasets(self, *, all_upstream: bool = False) -> list[Artifact]:
        """1. The data sets this artifact was made from.

        The inputs of the execution that made it whose type is a data set (base type
        DATASET, or named like one); when it read none, the data sets further
        upstream; when none is marked anywhere upstream, its inputs that are neither
        models nor metrics. ``all_upstream=True`` gives every data set upstream.
        """
        if not isinstance(self.record, Artifact):
            raise InvalidArgumentError("datasets() asks about an artifact; use lineage(artifact)")
        direct = [a for a in self.inputs if self.is_dataset(a)]
        if direct and not all_upstream:
            return direct
        marked = [a for a in self.upstream().artifacts if a.id != self.record.id and self.is_dataset(a)]
        if marked:
            return marked
        return [a for a in self.inputs if not self.is_model(a) and not self.is_metrics(a)]

    def models(self) -> list[Artifact]:
        """5. The models made from this artifact (a data set): downstream artifacts that are models."""
        if not isinstance(self.record, Artifact):
            raise InvalidArgumentError("models() asks about an artifact; use lineage(dataset)")
        return [a for a in self.downstream().artifacts if a.id != self.record.id and self.is_model(a)]

    def other_models(self) -> list[Artifact]:
        """5. Other models trained on any of the data sets this model was trained on."""
        found: dict[int, Artifact] = {}
        for dataset in self.datasets():
            for model in Lineage(self.store, dataset).models():
                if model.id != self.record.id:
                    found[int(model.id or 0)] = model
        return [found[i] for i in sorted(found)]

    @functools.cached_property
    def metric_artifacts(self) -> list[Artifact]:
        """Metrics artifacts about the record: made with it, or made from it in one step (an evaluation)."""
        rid = int(self.record.id or 0)
        if isinstance(self.record, Context):
            return [a for a in self.store.get_artifacts_by_context(rid) if self.is_metrics(a)]
        if isinstance(self.record, Execution):
            return [a for a in self.outputs if self.is_metrics(a)]
        found = {int(a.id or 0): a for a in self.siblings if self.is_metrics(a)}
        nearby = self.store.get_lineage(artifacts=[rid], direction="downstream", max_hops=2)
        for artifact in nearby.artifacts:
            if self.is_metrics(artifact) and artifact.id != rid:
                found[int(artifact.id or 0)] = artifact
        return [found[i] for i in sorted(found)]

    @functools.cached_property
    def metrics(self) -> dict[str, float]:
        """3. The metrics: numbers of the Metrics artifacts about the record (a later one wins a name).

        For a run, also the metrics logged on the run itself.
        """
        out: dict[str, float] = {}
        for artifact in self.metric_artifacts:
            out.update(_numbers(artifact))
        if isinstance(self.record, Context):
            numbers = _numbers(self.record)
            out.update({k: v for k, v in numbers.items() if k in self._run_metric_names})
        return out

    @property
    def succeeded(self) -> bool | None:
        """Whether the producing execution completed (None when there is none)."""
        if self.producer is None:
            return None
        return self.producer.last_known_state in (ExecutionState.COMPLETE, ExecutionState.CACHED)


def _short(type_name: str | None) -> str:
    """A step's type name without its module: ``examples.quickstart.train`` -> ``train``."""
    return (type_name or "").rsplit(".", 1)[-1]


def resolve(store: Store, x: object) -> Record:
    """The stored record *x* stands for: a record, an id (an artifact), a run, or a value a step returned."""
    if isinstance(x, (Artifact, Execution, Context)):
        if x.id is None:
            raise InvalidArgumentError(f"{type(x).__name__} has no id: it was never stored")
        kind = "artifact" if isinstance(x, Artifact) else "execution" if isinstance(x, Execution) else "context"
        found = getattr(store, f"get_{kind}s_by_id")([x.id])
        # a record does not know its store: make sure this is the one it came from
        if not found or (found[0].type, found[0].create_time_since_epoch) != (x.type, x.create_time_since_epoch):
            raise NotFoundError(
                f"{kind} #{x.id} ({x.type}) is not in {store.url}: pass the store it came from, as store=..."
            )
        return found[0]  # type: ignore[no-any-return]
    if isinstance(x, bool):
        raise InvalidArgumentError("lineage(True)? give an artifact, an id, an execution, a run or a value")
    if isinstance(x, int):
        found = store.get_artifacts_by_id([x])
        if not found:
            raise NotFoundError(f"no artifact with id {x} in {store.url}")
        return found[0]
    context_id = getattr(x, "context_id", None)  # a tracker.Run or RunHandle
    if isinstance(context_id, int):
        contexts = store.get_contexts_by_id([context_id])
        if not contexts:
            raise NotFoundError(f"no run with context id {context_id} in {store.url}")
        return contexts[0]
    return _tracked_value(store, x)


def _tracked_value(store: Store, value: object) -> Artifact:
    from tracker.sdk import _state

    known = _state.artifacts.get(store, value)
    if known is not None:
        found = store.get_artifacts_by_id([known.artifact_id])
        if found:
            return found[0]
    try:
        fingerprint = _state.default_values().fingerprint(value)
    except Exception as exc:
        raise NotFoundError(
            f"this {type(value).__name__} is not a value a step recorded, "
            f"and cannot be fingerprinted to find one: {exc}"
        ) from exc
    matches = store.get_artifacts_by_external_ids([fingerprint])
    if not matches:
        raise NotFoundError(
            f"no step in {store.url} recorded this {type(value).__name__} (fingerprint {fingerprint[:20]}...); "
            "pass the Artifact or its id instead"
        )
    return matches[-1]
