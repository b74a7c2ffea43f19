"""Text exports of a lineage graph: Graphviz DOT, Mermaid, JSON, and networkx."""

from __future__ import annotations

import base64
import enum
import json
import re
from typing import TYPE_CHECKING, Any

from tracker.errors import ConfigurationError
from tracker.store import Artifact, Context, Execution, ProtoValue

if TYPE_CHECKING:
    from tracker.query.graph import Graph, Node


def plain(value: Any) -> Any:
    """A property value as JSON-ready data (PROTO values as their type URL and base64 bytes)."""
    if isinstance(value, ProtoValue):
        return {"type_url": value.type_url, "value_base64": base64.b64encode(value.value).decode()}
    if isinstance(value, enum.Enum):
        return value.name
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    return value


def _public(props: dict[str, Any]) -> dict[str, Any]:
    """Custom properties without tracker's own bulky ones (inline values)."""
    return {k: plain(v) for k, v in props.items() if k != "tracker_value"}


def properties_of(record: Artifact | Execution | Context) -> dict[str, dict[str, Any]]:
    """A record's properties and custom properties (inline values left out) as JSON-ready data."""
    return {
        "properties": {k: plain(v) for k, v in record.properties.items()},
        "custom_properties": _public(record.custom_properties),
    }


def node_dict(node: Node) -> dict[str, Any]:
    record = node.record
    out: dict[str, Any] = {
        "key": node.key,
        "kind": node.kind,
        "id": node.id,
        "type": node.type,
        "name": record.name,
        "label": node.label,
        "state": node.state,
        "focus": node.focus,
        "external_id": record.external_id,
        "create_time_since_epoch": record.create_time_since_epoch,
        **properties_of(record),
    }
    if node.kind == "artifact":
        out["uri"] = getattr(record, "uri", None)
    return out


def as_dict(graph: Graph) -> dict[str, Any]:
    return {
        "nodes": [node_dict(n) for n in graph.nodes],
        "edges": [{"source": e.source, "target": e.target, "type": e.type, "path": e.path} for e in graph.edges],
        "contexts": [
            {"id": c.id, "type": c.type, "name": c.name, "custom_properties": _public(c.custom_properties)}
            for c in graph.contexts
        ],
    }


def as_json(graph: Graph, indent: int | None = 2) -> str:
    return json.dumps(as_dict(graph), indent=indent, sort_keys=False, default=str)


# --- Graphviz ---


def _dot_quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def dot(graph: Graph) -> str:
    lines = [
        "digraph lineage {",
        "  rankdir=LR;",
        '  node [fontname="Helvetica", fontsize=11];',
        '  edge [fontname="Helvetica", fontsize=9, color="#6b7280"];',
    ]
    for node in graph.nodes:
        detail = node.state.lower() if node.state else ""
        label = node.label + (f"\n{detail}" if detail else "")
        if node.kind == "execution":
            style = 'shape=box, style="rounded,filled", fillcolor="#dbeafe"'
        else:
            style = 'shape=ellipse, style=filled, fillcolor="#fef3c7"'
        if node.focus:
            style += ", penwidth=3"
        lines.append(f"  {node.key} [label={_dot_quote(label)}, {style}];")
    for edge in graph.edges:
        label = edge.path or edge.type.lower()
        lines.append(f"  {edge.source} -> {edge.target} [label={_dot_quote(label)}];")
    lines.append("}")
    return "\n".join(lines) + "\n"


# --- Mermaid ---

# quotes, brackets and pipes end a label; "#...;" would read as an entity code
_MERMAID_UNSAFE = re.compile(r"[\"<>&`{}\[\]|()]|#(?=[\w]*;)")


def _mermaid_text(text: str) -> str:
    """Label text Mermaid shows as written: its syntax characters as entity codes."""
    return _MERMAID_UNSAFE.sub(lambda m: f"#{ord(m.group())};", text.replace("\n", " "))


def mermaid(graph: Graph) -> str:
    lines = ["flowchart LR"]
    for node in graph.nodes:
        label = _mermaid_text(node.label)
        shape = f'(["{label}"])' if node.kind == "execution" else f'["{label}"]'
        lines.append(f"  {node.key}{shape}")
    for edge in graph.edges:
        label = _mermaid_text(edge.path or edge.type.lower())
        lines.append(f'  {edge.source} -->|"{label}"| {edge.target}')
    executions = [n.key for n in graph.nodes if n.kind == "execution"]
    artifacts = [n.key for n in graph.nodes if n.kind == "artifact"]
    focus = [n.key for n in graph.nodes if n.focus]
    lines.append("  classDef execution fill:#dbeafe,stroke:#1d4ed8")
    lines.append("  classDef artifact fill:#fef3c7,stroke:#b45309")
    lines.append("  classDef focus stroke-width:3px")
    for name, keys in (("execution", executions), ("artifact", artifacts), ("focus", focus)):
        if keys:
            lines.append(f"  class {','.join(keys)} {name}")
    return "\n".join(lines) + "\n"


# --- networkx ---


def networkx(graph: Graph) -> Any:
    try:
        import networkx as nx  # type: ignore[import-untyped,unused-ignore]
    except ImportError:
        raise ConfigurationError("to_networkx() needs networkx: pip install networkx") from None
    out = nx.DiGraph()
    for node in graph.nodes:
        out.add_node(node.key, **node_dict(node))
    for edge in graph.edges:
        out.add_edge(edge.source, edge.target, type=edge.type, path=edge.path)
    return out
