"""A lineage subgraph as nodes and edges, ready to print, filter and export."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from tracker.store import (
    Artifact,
    ArtifactBaseType,
    ArtifactType,
    Context,
    Event,
    EventType,
    Execution,
    LineageGraph,
)

#: Events whose artifact flows into the execution (drawn artifact -> execution); the rest flow out.
_INTO = frozenset({EventType.INPUT, EventType.DECLARED_INPUT, EventType.INTERNAL_INPUT})


@dataclass(frozen=True)
class Node:
    """One artifact or execution of a graph. ``key`` is ``a<id>`` or ``e<id>``, unique in the graph."""

    key: str
    kind: str  # "artifact" or "execution"
    id: int
    type: str
    label: str
    record: Artifact | Execution = field(repr=False, compare=False)
    focus: bool = False

    @property
    def state(self) -> str:
        state = getattr(self.record, "state", None) or getattr(self.record, "last_known_state", None)
        return state.name if state is not None else ""


@dataclass(frozen=True)
class Edge:
    """An event, drawn in the direction data flowed: artifact -> execution for inputs, else execution -> artifact."""

    source: str
    target: str
    type: str
    path: str


def _path(event: Event) -> str:
    return ".".join(str(step) for step in event.path)


@dataclass
class Graph:
    """Artifacts, executions and the events between them, with their contexts and types.

    ``focus`` holds the keys of the nodes the walk started from (drawn highlighted).
    """

    artifacts: list[Artifact] = field(default_factory=list)
    executions: list[Execution] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    contexts: list[Context] = field(default_factory=list)
    artifact_types: list[ArtifactType] = field(default_factory=list)
    focus: frozenset[str] = frozenset()

    @classmethod
    def of(cls, found: LineageGraph, focus: Iterable[str] = ()) -> Graph:
        """The graph of a store's lineage answer."""
        return cls(
            list(found.artifacts),
            list(found.executions),
            list(found.events),
            list(found.contexts),
            list(found.artifact_types),
            frozenset(focus),
        )

    # --- reading ---

    def __len__(self) -> int:
        return len(self.artifacts) + len(self.executions)

    @property
    def nodes(self) -> list[Node]:
        """Executions and artifacts, by kind and id."""
        out = [
            Node(f"e{e.id}", "execution", int(e.id or 0), e.type or "", _label(e), e, f"e{e.id}" in self.focus)
            for e in self.executions
        ]
        out += [
            Node(f"a{a.id}", "artifact", int(a.id or 0), a.type or "", _label(a), a, f"a{a.id}" in self.focus)
            for a in self.artifacts
        ]
        return out

    @property
    def edges(self) -> list[Edge]:
        """One edge per event, in the direction the data flowed."""
        out = []
        for event in self.events:
            a, e = f"a{event.artifact_id}", f"e{event.execution_id}"
            source, target = (a, e) if event.type in _INTO else (e, a)
            out.append(Edge(source, target, event.type.name, _path(event)))
        return out

    def base_type(self, artifact: Artifact) -> ArtifactBaseType:
        """The system base type (DATASET, MODEL, METRICS...) of an artifact's type, UNSET when none."""
        for t in self.artifact_types:
            if t.id == artifact.type_id:
                return t.base_type
        return ArtifactBaseType.UNSET

    def only(self, types: Iterable[str]) -> Graph:
        """The graph reduced to artifacts and executions whose type name is in *types*."""
        wanted = set(types)
        artifacts = [a for a in self.artifacts if a.type in wanted]
        executions = [e for e in self.executions if e.type in wanted]
        kept_a = {a.id for a in artifacts}
        kept_e = {e.id for e in executions}
        events = [ev for ev in self.events if ev.artifact_id in kept_a and ev.execution_id in kept_e]
        types_kept = [t for t in self.artifact_types if t.name in wanted]
        return Graph(artifacts, executions, events, list(self.contexts), types_kept, self.focus)

    # --- exports (see tracker.query.export and tracker.query.html_page) ---

    def to_dot(self) -> str:
        """Graphviz DOT text (``dot -Tsvg``)."""
        from tracker.query import export

        return export.dot(self)

    def to_mermaid(self) -> str:
        """A Mermaid flowchart (renders on GitHub and in MkDocs)."""
        from tracker.query import export

        return export.mermaid(self)

    def to_dict(self) -> dict[str, Any]:
        """Nodes, edges and contexts as plain JSON-ready data."""
        from tracker.query import export

        return export.as_dict(self)

    def to_json(self, indent: int | None = 2) -> str:
        """:meth:`to_dict` as JSON text."""
        from tracker.query import export

        return export.as_json(self, indent)

    def to_networkx(self) -> Any:
        """A ``networkx.DiGraph`` (needs networkx installed) with each record's fields as node attributes."""
        from tracker.query import export

        return export.networkx(self)

    def to_html(self, title: str = "lineage") -> str:
        """A self-contained HTML page that draws the graph; it needs no network to open."""
        from tracker.query import html_page

        return html_page.page(self, title)


def _label(node: Artifact | Execution) -> str:
    name = f" {node.name}" if node.name else ""
    return f"{node.type} #{node.id}{name}"
