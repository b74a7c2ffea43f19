"""A self-contained HTML page that draws a lineage graph (placeholder until the renderer lands)."""

from __future__ import annotations

import html
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tracker.query.graph import Graph


def page(graph: Graph, title: str = "lineage") -> str:
    """The HTML page of *graph*."""
    return f"<!doctype html><title>{html.escape(title)}</title><pre>{html.escape(graph.to_mermaid())}</pre>"
