"""A self-contained HTML page that draws a lineage graph: the layout is computed here, the drawing in the browser.

The page embeds the graph (as :func:`tracker.query.export.as_dict` gives it) with the coordinates of a
layered left-to-right layout, as JSON. A small script in ``html_page.html`` beside this module builds the
SVG from it when the page loads, pans and zooms with the mouse, and shows a node's properties when it
is clicked. The page loads nothing from the network: no CDN, no web fonts.
"""

from __future__ import annotations

import bisect
import functools
import html
import json
import re
from dataclasses import dataclass, field
from importlib import resources
from itertools import accumulate, pairwise
from typing import TYPE_CHECKING

from tracker.query import export

if TYPE_CHECKING:
    from tracker.query.graph import Graph

NODE_W, NODE_H = 200.0, 44.0  # a node's box, in SVG units
LAYER_GAP = 110.0  # between the boxes of two neighbouring layers: room for edge labels
LABEL_H = 12.0  # the least vertical distance between two edge labels in the same gap
ROW_GAP = 22.0  # between two boxes of a layer
LANE = 14.0  # the room a long edge takes in each layer it passes through
MARGIN = 24.0
DUMMIES_PER_NODE = 8  # route points through dummies (see layout) per node: bounds time and size on any graph
SWEEPS = 4  # barycenter sweeps to order the layers; twice as many passes place them vertically

Point = tuple[float, float]

# JSON inside <script> must never contain "</script>" or "<!--": write these as JSON escapes (same value).
_SCRIPT_SAFE = str.maketrans({"<": "\\u003c", ">": "\\u003e", "&": "\\u0026"})
_SLOT = re.compile(r"\{\{(title|data)\}\}")


@dataclass
class Layout:
    """Where to draw: each node's layer and box (top-left corner), and each link's route from source to target."""

    layer: dict[str, int] = field(default_factory=dict)
    box: dict[str, Point] = field(default_factory=dict)
    routes: list[list[Point]] = field(default_factory=list)
    back: list[bool] = field(default_factory=list)  # the link closes a cycle and is drawn right to left
    width: float = 0.0
    height: float = 0.0


def page(graph: Graph, title: str = "lineage") -> str:
    """The HTML page that draws *graph*: one file that opens in any browser, offline.

    Events whose artifact or execution is not in the graph are left out.
    Example: ``Path("lineage.html").write_text(tracker.lineage(model).graph().to_html())``.
    """
    data = export.as_dict(graph)
    keys = [n["key"] for n in data["nodes"]]
    known = set(keys)
    data["edges"] = [e for e in data["edges"] if e["source"] in known and e["target"] in known]
    drawn = layout(keys, [(e["source"], e["target"]) for e in data["edges"]])
    for node in data["nodes"]:
        node["x"], node["y"] = drawn.box[node["key"]]
        node["layer"] = drawn.layer[node["key"]]
    for edge, route, back, spot in zip(
        data["edges"], drawn.routes, drawn.back, _label_spots(drawn.routes), strict=True
    ):
        edge.update(label=edge["path"] or edge["type"].lower(), points=route, back=back, label_at=spot)
    data.update(width=drawn.width, height=drawn.height, node_width=NODE_W, node_height=NODE_H)
    embedded = json.dumps(data, default=str, separators=(",", ":")).translate(_SCRIPT_SAFE)
    slots = {"title": html.escape(title), "data": embedded}
    return _SLOT.sub(lambda m: slots[m.group(1)], _template())


@functools.cache
def _template() -> str:
    return resources.files("tracker.query").joinpath("html_page.html").read_text(encoding="utf-8")


def layout(keys: list[str], links: list[tuple[str, str]]) -> Layout:
    """A layered drawing, left to right, of the directed graph of *keys* and *links* (whose ends are in *keys*).

    Cycles are broken by turning round the back edges of a depth-first search; those links are drawn
    right to left. Layers are longest paths from the sources, then each source moves right, next to its
    first consumer. A link that spans several layers passes through a dummy node in each (shared by the
    links of one source), so that it never crosses a box. Barycenter sweeps order the layers, keeping the
    order with the fewest crossings; the vertical places are the least-squares fit, in order and without
    overlaps, to the mean of each node's neighbours. Each step is linear or n log n, and the dummies are
    bounded, so a few thousand nodes take a fraction of a second.
    """
    n = len(keys)
    index = {k: i for i, k in enumerate(keys)}
    pairs = [(index[s], index[t]) for s, t in links]
    back = _back_edges(n, pairs)
    flows = {(t, s) if (s, t) in back else (s, t) for s, t in pairs if s != t}  # a DAG

    preds: list[list[int]] = [[] for _ in range(n)]
    succs: list[list[int]] = [[] for _ in range(n)]
    for s, t in sorted(flows):
        succs[s].append(t)
        preds[t].append(s)
    layer = [0] * n
    waiting = [len(p) for p in preds]
    order = [v for v in range(n) if not waiting[v]]
    for u in order:  # Kahn's topological order; the list grows as it is read
        for v in succs[u]:
            layer[v] = max(layer[v], layer[u] + 1)
            waiting[v] -= 1
            if not waiting[v]:
                order.append(v)
    for v in order:
        if not preds[v] and succs[v]:
            layer[v] = min(layer[w] for w in succs[v]) - 1

    # Vertices: the nodes, then dummies. A flow spanning several layers passes through a dummy in each; the
    # flows of one source share theirs (a bus). Past a budget of route points, the longest flows are drawn
    # straight: without it, a config read by every step of a long chain would cost quadratic time and size.
    vlayer, budget = list(layer), DUMMIES_PER_NODE * n
    bus: dict[int, list[int]] = {}
    chain: dict[tuple[int, int], list[int]] = {}
    for s, t in sorted(flows, key=lambda f: (layer[f[1]] - layer[f[0]], f)):
        length = layer[t] - layer[s] - 1
        if length > budget:
            chain[s, t] = [s, t]
            continue
        budget -= length
        lane = bus.setdefault(s, [])
        for at in range(layer[s] + 1 + len(lane), layer[t]):
            lane.append(len(vlayer))
            vlayer.append(at)
        chain[s, t] = [s, *lane[:length], t]
    up: list[list[int]] = [[] for _ in vlayer]
    down: list[list[int]] = [[] for _ in vlayer]
    steps = {(a, b) for vertices in chain.values() for a, b in pairwise(vertices)}
    for a, b in sorted(steps):
        if vlayer[b] == vlayer[a] + 1:  # a flow drawn straight across layers does not pull on the order
            down[a].append(b)
            up[b].append(a)
    rows: list[list[int]] = [[] for _ in range(max(vlayer, default=-1) + 1)]
    for v in order + list(range(n, len(vlayer))):
        rows[vlayer[v]].append(v)

    pos = [0.0] * len(vlayer)
    for row in rows:
        for i, v in enumerate(row):
            pos[v] = i
    best, fewest = [list(row) for row in rows], _crossings(rows, down, pos)
    for sweep in range(SWEEPS):  # down (by the layer on the left), up, down...; keep the order that crosses least
        if not fewest:
            break
        for row in rows[1:] if sweep % 2 == 0 else rows[-2::-1]:
            near = up if sweep % 2 == 0 else down
            row.sort(key=lambda v: sum(pos[u] for u in near[v]) / len(near[v]) if near[v] else pos[v])
            for i, v in enumerate(row):
                pos[v] = i
        found = _crossings(rows, down, pos)
        if found < fewest:
            best, fewest = [list(row) for row in rows], found
    rows = best

    half = [NODE_H / 2 + ROW_GAP / 2 if v < n else LANE / 2 for v in range(len(vlayer))]
    y = [0.0] * len(vlayer)  # centers
    for row in rows:
        for a, b in pairwise(row):
            y[b] = y[a] + half[a] + half[b]
    for sweep in range(2 * SWEEPS):
        near = up if sweep % 2 == 0 else down
        for row in rows if sweep % 2 == 0 else rows[::-1]:
            _place(row, y, near, half)
    top = min((y[v] - half[v] for v in range(len(vlayer))), default=0.0)
    cy = [round(y[v] - top + MARGIN - ROW_GAP / 2, 1) for v in range(len(vlayer))]  # centers on the page

    out = Layout()
    for k, v in index.items():
        out.layer[k] = layer[v]
        out.box[k] = (MARGIN + layer[v] * (NODE_W + LAYER_GAP), round(cy[v] - NODE_H / 2, 1))
    for s, t in pairs:
        flipped = (s, t) in back
        out.back.append(flipped)
        out.routes.append(_route(chain.get((t, s) if flipped else (s, t), [s, t]), vlayer, cy, flipped))
    if n:
        out.width = 2 * MARGIN + (max(layer) + 1) * (NODE_W + LAYER_GAP) - LAYER_GAP
        out.height = max(cy[v] + half[v] for v in range(len(vlayer))) + MARGIN - ROW_GAP / 2
    else:
        out.width = out.height = 2 * MARGIN
    return out


def _crossings(rows: list[list[int]], down: list[list[int]], pos: list[float]) -> int:
    """How many pairs of segments cross between neighbouring layers: inversions of their ends' positions."""
    total = 0
    for row in rows[:-1]:
        seen: list[float] = []
        for v in row:  # segments in order of their left end, then of their right end
            for end in sorted(pos[w] for w in down[v]):
                total += len(seen) - bisect.bisect_right(seen, end)
                bisect.insort(seen, end)
    return total


def _label_spots(routes: list[list[Point]]) -> list[Point]:
    """Where each edge's label goes: above the middle of its last segment, clear of the other labels there.

    The last segment is the edge's own (earlier ones may be shared with a bus). Between two layers every
    such segment has the same midpoint x, so labels collide only within a gap: sort them by height and
    push each down until it is clear of the one above.
    """
    spots: list[Point] = []
    for (x0, y0), (x1, y1) in (route[-2:] for route in routes):
        spots.append((round((x0 + x1) / 2, 1), (y0 + y1) / 2 - 3))
    gaps: dict[float, list[int]] = {}
    for i, (x, _) in enumerate(spots):
        gaps.setdefault(x, []).append(i)
    for members in gaps.values():
        members.sort(key=lambda i: spots[i][1])
        for above, below in pairwise(members):
            x, y = spots[below]
            spots[below] = (x, max(y, spots[above][1] + LABEL_H))
    return [(x, round(y, 1)) for x, y in spots]


def _back_edges(n: int, pairs: list[tuple[int, int]]) -> set[tuple[int, int]]:
    """The links that close a cycle: back edges of an iterative depth-first search (no recursion limit)."""
    succs: list[list[int]] = [[] for _ in range(n)]
    for s, t in pairs:
        succs[s].append(t)
    state = [0] * n  # 0: not seen, 1: on the stack, 2: done
    back: set[tuple[int, int]] = set()
    for root in range(n):
        if state[root]:
            continue
        state[root] = 1
        stack = [(root, iter(succs[root]))]
        while stack:
            u, todo = stack[-1]
            for v in todo:
                if state[v] == 0:
                    state[v] = 1
                    stack.append((v, iter(succs[v])))
                    break
                if state[v] == 1:
                    back.add((u, v))
            else:
                state[u] = 2
                stack.pop()
    return back


def _place(row: list[int], y: list[float], near: list[list[int]], half: list[float]) -> None:
    """Move a layer's centers as near as order and spacing allow to the mean of their neighbours' centers.

    With ``z = y - offset`` (offset: the least spacing from the first vertex) the constraint is "z never
    decreases", whose least-squares solution is pool-adjacent-violators.
    """
    offsets = list(accumulate((half[a] + half[b] for a, b in pairwise(row)), initial=0.0))
    blocks: list[tuple[float, int]] = []  # (mean, count) of pooled runs
    for v, off in zip(row, offsets, strict=True):
        ns = near[v]
        blocks.append(((sum([y[u] for u in ns]) / len(ns) if ns else y[v]) - off, 1))
        while len(blocks) > 1 and blocks[-2][0] > blocks[-1][0]:
            (m1, c1), (m2, c2) = blocks[-2], blocks.pop()
            blocks[-1] = ((m1 * c1 + m2 * c2) / (c1 + c2), c1 + c2)
    i = 0
    for mean, count in blocks:
        for _ in range(count):
            y[row[i]] = mean + offsets[i]
            i += 1


def _route(vertices: list[int], vlayer: list[int], cy: list[float], flipped: bool) -> list[Point]:
    """The polyline of a flow: out of its source's right side, straight through each dummy's lane, into the target."""

    def left(v: int) -> float:
        return MARGIN + vlayer[v] * (NODE_W + LAYER_GAP)

    start, end = vertices[0], vertices[-1]
    if start == end:  # a self-loop (never in lineage: an event joins an artifact and an execution)
        x, y = left(start) + NODE_W, cy[start]
        return [(x, y), (x + LAYER_GAP / 3, y - NODE_H), (x - NODE_W / 3, y - NODE_H / 2)]
    points = [(left(start) + NODE_W, cy[start])]
    for v in vertices[1:-1]:
        points += [(left(v), cy[v]), (left(v) + NODE_W, cy[v])]
    points.append((left(end), cy[end]))
    if flipped:  # drawn right to left, below the middle: clear of a flow the other way between the same nodes
        points = [
            (x, round(y + NODE_H / 4, 1) if i in (0, len(points) - 1) else y) for i, (x, y) in enumerate(points[::-1])
        ]
    return points
