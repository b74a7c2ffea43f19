"""tracker.query.html_page: the layered layout, the escaping, and the page as headless Chromium draws it."""

from __future__ import annotations

import json
import random
import re
import shutil
import subprocess
import time
from html.parser import HTMLParser
from itertools import combinations, pairwise
from pathlib import Path
from typing import Any

import pytest

import tracker
from tracker import (
    Artifact,
    ArtifactState,
    ArtifactType,
    Event,
    EventType,
    Execution,
    ExecutionState,
    ExecutionType,
    PropertyType,
)
from tracker.query import html_page
from tracker.query.html_page import LAYER_GAP, NODE_H, NODE_W, ROW_GAP, Layout, layout, page

REPO = Path(__file__).resolve().parents[2]
NASTY = "</script><!-- \"q\" & 'a' <b>x</b> \u2028 模型 ✓"
WINDOW = (2000, 700)


def _embedded(text: str) -> dict[str, Any]:
    """The JSON a page embeds."""
    found = re.search(r'<script type="application/json" id="lineage-data">(.*?)</script>', text, re.S)
    assert found, "no embedded data"
    data: dict[str, Any] = json.loads(found.group(1))
    return data


def _random_links(n: int, m: int, seed: int) -> tuple[list[str], list[tuple[str, str]]]:
    """n nodes and m links drawn at random: cycles, parallel links and long spans included."""
    rnd = random.Random(seed)
    keys = [f"n{i}" for i in range(n)]
    return keys, [(rnd.choice(keys), rnd.choice(keys)) for _ in range(m)]


def _pipeline(path: Path) -> tracker.Graph:
    """A small training pipeline in a real store: a long edge, a failed retry, a checkpoint read and written
    by the same trainer (a cycle), and names and values that need escaping. Its focus is the model."""
    with tracker.connect(str(path)) as store:
        store.put_artifact_type(ArtifactType("DataSet", {"day": PropertyType.INT, "split": PropertyType.STRING}))
        for name in ("SavedModel", "Metrics", "Checkpoint"):
            store.put_artifact_type(ArtifactType(name))
        for name in ("Ingest", "Split", "Evaluator"):
            store.put_execution_type(ExecutionType(name))
        store.put_execution_type(ExecutionType("Trainer", {"learning_rate": PropertyType.DOUBLE}))
        raw, train, held_out, model, checkpoint, metrics, retried = store.put_artifacts(
            [
                Artifact(type="DataSet", uri="s3://bucket/raw.csv", name='raw "v1" </script><b>x</b>',
                         state=ArtifactState.LIVE, properties={"day": 1}),
                Artifact(type="DataSet", uri="s3://bucket/train", name="train", state=ArtifactState.LIVE,
                         properties={"day": 1, "split": "train"}),
                Artifact(type="DataSet", uri="s3://bucket/eval", name="eval", state=ArtifactState.LIVE,
                         properties={"day": 1, "split": "eval"}),
                Artifact(type="SavedModel", uri="models/1", name="modèle-ünïcødé ✓ Ω", state=ArtifactState.LIVE,
                         custom_properties={"accuracy": 0.95, "note": "données & <b>bold</b> </script>"}),
                Artifact(type="Checkpoint", uri="ckpt/1", name="checkpoint", state=ArtifactState.LIVE),
                Artifact(type="Metrics", uri="metrics/1", name="metrics", state=ArtifactState.LIVE,
                         custom_properties={"f1": 0.91}),
                Artifact(type="SavedModel", uri="models/2", name="model-2", state=ArtifactState.ABANDONED),
            ]
        )  # fmt: skip
        ingest, split, trainer, evaluator, retry = store.put_executions(
            [
                Execution(type="Ingest", name="ingest", last_known_state=ExecutionState.COMPLETE),
                Execution(type="Split", name="split", last_known_state=ExecutionState.CACHED),
                Execution(type="Trainer", name="train-1", last_known_state=ExecutionState.COMPLETE,
                          properties={"learning_rate": 0.01}),
                Execution(type="Evaluator", name="evaluate", last_known_state=ExecutionState.COMPLETE),
                Execution(type="Trainer", name="train-2", last_known_state=ExecutionState.FAILED,
                          properties={"learning_rate": 0.3}, custom_properties={"retries": 3}),
            ]
        )  # fmt: skip
        store.put_events(
            [
                Event(raw, ingest, EventType.OUTPUT, ["raw"]),
                Event(raw, split, EventType.INPUT, ["data"]),
                Event(train, split, EventType.OUTPUT, ["train"]),
                Event(held_out, split, EventType.OUTPUT, ["eval"]),
                Event(train, trainer, EventType.INPUT, ["data"]),
                Event(checkpoint, trainer, EventType.INPUT, ["resume"]),
                Event(checkpoint, trainer, EventType.OUTPUT, ["checkpoint"]),
                Event(model, trainer, EventType.OUTPUT, ["model"]),
                Event(model, evaluator, EventType.INPUT, ["model"]),
                Event(held_out, evaluator, EventType.INPUT, ["data"]),
                Event(metrics, evaluator, EventType.OUTPUT),
                Event(train, retry, EventType.INPUT, ["data"]),
                Event(retried, retry, EventType.PENDING_OUTPUT, ["model"]),
            ]
        )
        return tracker.Graph.of(store.get_lineage(artifacts=[model]), focus=[f"a{model}"])


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory: pytest.TempPathFactory) -> tracker.Graph:
    """The pipeline graph, written once for the module."""
    return _pipeline(tmp_path_factory.mktemp("pipeline") / "mlmd.sqlite")


def _assert_drawable(drawn: Layout, keys: list[str], links: list[tuple[str, str]]) -> None:
    """Boxes never overlap; each route starts on its source's box and ends on its target's; between
    them it passes beside every box, never through one; cycles are the only links drawn right to left."""
    columns: dict[float, list[tuple[float, float]]] = {}
    for x, y in drawn.box.values():
        columns.setdefault(x, []).append((y, y + NODE_H))
        assert x >= 0 and x + NODE_W <= drawn.width and y >= 0 and y + NODE_H <= drawn.height
    xs = sorted(columns)
    assert all(b - a >= NODE_W for a, b in pairwise(xs)), "columns overlap"
    for boxes in columns.values():
        boxes.sort()
        assert all(b[0] - a[1] >= ROW_GAP - 0.2 for a, b in pairwise(boxes)), "boxes overlap"
    edges = {x + dx: boxes for x, boxes in columns.items() for dx in (0, NODE_W)}  # a route passes a column here

    def on_side(point: tuple[float, float], key: str, right: bool) -> bool:
        x, y = drawn.box[key]
        return point[0] == x + (NODE_W if right else 0) and y <= point[1] <= y + NODE_H

    for (s, t), route, back in zip(links, drawn.routes, drawn.back, strict=True):
        if s == t:
            assert back
            continue
        assert back == (drawn.layer[s] > drawn.layer[t]), (s, t)
        assert on_side(route[0], s, right=not back) and on_side(route[-1], t, right=back), (s, t, route)
        for x, y in route[1:-1]:
            assert x in edges, ("a route bends away from a column's side", s, t)
            assert not any(top < y < bottom for top, bottom in edges[x]), ("a route crosses a box", s, t)


# --- layout ---


def test_layers_are_longest_paths_from_the_sources() -> None:
    """A node's layer is its longest path from a source; a source sits just left of its first consumer."""
    drawn = layout(["a", "b", "c", "x", "alone"], [("a", "b"), ("b", "c"), ("a", "c"), ("x", "c")])
    assert drawn.layer == {"a": 0, "b": 1, "c": 2, "x": 1, "alone": 0}


def test_the_pipeline_is_drawn_left_to_right_without_overlaps(pipeline: tracker.Graph) -> None:
    """Each event goes one layer right; the long one (eval data to the evaluator) runs between boxes."""
    keys = [n.key for n in pipeline.nodes]
    links = [(e.source, e.target) for e in pipeline.edges]
    drawn = layout(keys, links)
    _assert_drawable(drawn, keys, links)
    assert [drawn.layer[k] for k in ("e1", "a1", "e2", "a3", "e4", "a6")] == [0, 1, 2, 3, 6, 7]
    assert sum(drawn.back) == 1  # the checkpoint, read and written by the trainer, closes a cycle
    assert len(drawn.routes[links.index(("a3", "e4"))]) == 6  # through a lane in each of the layers 4 and 5


@pytest.mark.parametrize("seed", range(5))
def test_random_graphs_are_drawn_without_overlaps(seed: int) -> None:
    """Random graphs with cycles, parallel links and self-loops keep boxes apart and routes clear of them."""
    keys, links = _random_links(200, 400, seed)
    _assert_drawable(layout(keys, links), keys, links)


def _crossings(drawn: Layout) -> int:
    """How many pairs of drawn segments cross in the gaps between layers."""
    gaps: dict[float, set[tuple[float, float]]] = {}
    for route in drawn.routes:
        for (x0, y0), (x1, y1) in pairwise(route):
            if abs(abs(x1 - x0) - LAYER_GAP) < 0.01:  # a segment across a gap, not along a lane
                (x0, y0), (x1, y1) = sorted([(x0, y0), (x1, y1)])
                gaps.setdefault(x0, set()).add((y0, y1))
    return sum(
        (a[0] - b[0]) * (a[1] - b[1]) < 0 for segments in gaps.values() for a, b in combinations(sorted(segments), 2)
    )


def test_barycenter_sweeps_remove_a_crossing() -> None:
    """a -> f and b -> e cross in the first (topological) order; sweeping right to left uncrosses them."""
    assert _crossings(layout(list("abcdef"), [("a", "f"), ("b", "e"), ("c", "f")])) == 0


@pytest.mark.parametrize("seed", range(3))
def test_sweeps_never_add_crossings(seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """The order kept crosses no more than the first one did (on a lineage, an up sweep can make things worse)."""
    for graph in (_random_lineage(150, seed), tracker.Graph()):
        keys, links = [n.key for n in graph.nodes], [(e.source, e.target) for e in graph.edges]
        swept = _crossings(layout(keys, links))
        monkeypatch.setattr(html_page, "SWEEPS", 0)
        assert swept <= _crossings(layout(keys, links))
        monkeypatch.undo()
    keys, links = _random_links(150, 200, seed)
    swept = _crossings(layout(keys, links))
    monkeypatch.setattr(html_page, "SWEEPS", 0)
    assert swept < 0.8 * _crossings(layout(keys, links))


@pytest.mark.parametrize(
    "links",
    [
        [("a", "b"), ("b", "c"), ("c", "a")],
        [("a", "b"), ("b", "a")],
        [("a", "a"), ("a", "b")],
        [(f"n{i}", f"n{(i + 1) % 5000}") for i in range(5000)],  # a ring deeper than Python's recursion limit
    ],
    ids=["triangle", "two-cycle", "self-loop", "ring-5000"],
)
def test_cycles_end_and_are_drawn_backwards(links: list[tuple[str, str]]) -> None:
    """Each cycle has a link turned round (drawn right to left, dashed); the others flow left to right."""
    keys = list(dict.fromkeys(k for link in links for k in link))
    drawn = layout(keys, links)
    _assert_drawable(drawn, keys, links)
    assert 1 <= sum(drawn.back) <= 2


def test_a_two_cycle_draws_two_distinct_arrows() -> None:
    """An artifact read and written by one execution: the two arrows do not lie on top of each other."""
    forward, backward = layout(["e", "a"], [("e", "a"), ("a", "e")]).routes
    assert forward != backward[::-1]


def test_the_empty_graph() -> None:
    """No nodes: an empty layout, and a page that says so."""
    drawn = layout([], [])
    assert (drawn.layer, drawn.box, drawn.routes) == ({}, {}, [])
    assert drawn.width > 0 and drawn.height > 0
    data = _embedded(page(tracker.Graph()))
    assert (data["nodes"], data["edges"]) == ([], [])


def _chain_with_shared_config(steps: int) -> tracker.Graph:
    """Artifact 0 (a config) is read by every step of a long chain: the graph that makes layouts quadratic."""
    artifacts = [Artifact(type="Data", id=i) for i in range(steps + 1)]
    executions = [Execution(type="Step", id=i) for i in range(1, steps + 1)]
    events = [Event(0, i, EventType.INPUT, ["config"]) for i in range(1, steps + 1)]
    events += [Event(i, i, EventType.INPUT, ["data"]) for i in range(1, steps + 1)]
    events += [Event(i + 1, i, EventType.OUTPUT) for i in range(1, steps)]
    return tracker.Graph(artifacts, executions, events)


def _random_lineage(steps: int, seed: int) -> tracker.Graph:
    """Each step writes one artifact and reads two of the last 30 written."""
    rnd = random.Random(seed)
    artifacts = [
        Artifact(type="DataSet", id=i, name=f"data-{i}", uri=f"s3://bucket/{i}", state=ArtifactState.LIVE,
                 properties={"day": i}, custom_properties={"note": "some words"})
        for i in range(1, steps + 1)
    ]  # fmt: skip
    executions = [Execution(type="Step", id=i, last_known_state=ExecutionState.COMPLETE) for i in range(1, steps + 1)]
    events = [Event(i, i, EventType.OUTPUT, ["out"]) for i in range(1, steps + 1)]
    events += [Event(rnd.randrange(max(1, i - 30), i), i, EventType.INPUT, ["in"]) for i in range(2, steps + 1)] * 2
    return tracker.Graph(artifacts, executions, events, focus=frozenset({"a1000"}))


@pytest.mark.parametrize(
    "graph", [_random_lineage(1500, 1), _chain_with_shared_config(1500)], ids=["random-3000", "shared-config-3000"]
)
def test_thousands_of_nodes_take_well_under_a_second(graph: tracker.Graph) -> None:
    """3000 nodes make a page in well under a second of Python, even when one artifact feeds every step."""
    best = min(_seconds(lambda: page(graph)) for _ in range(2))
    assert best < 1.0, f"{best:.2f} s for {len(graph)} nodes"


def _seconds(fn: Any) -> float:
    """The CPU time *fn* takes: what this process spends, however busy the machine is."""
    start = time.process_time()
    fn()
    return time.process_time() - start


# --- escaping and self-containment ---


def test_everything_is_escaped() -> None:
    """Titles, names, property values and paths with </script>, <!--, quotes, & and unicode stay text."""
    graph = tracker.Graph(
        [Artifact(type=NASTY, id=1, name=NASTY, uri=NASTY, properties={"p": NASTY}, custom_properties={NASTY: NASTY})],
        [Execution(type="Step", id=1, name=NASTY)],
        [Event(1, 1, EventType.OUTPUT, [NASTY, 0])],
    )
    text = page(graph, title=NASTY)
    assert text.count("<script") == 2 and text.count("</script>") == 2, "only the page's own two scripts"
    assert f"<title>{NASTY}" not in text
    assert "<title>&lt;/script&gt;&lt;!-- &quot;q&quot; &amp; &#x27;a&#x27; &lt;b&gt;x&lt;/b&gt;" in text
    embedded = re.search(r'id="lineage-data">(.*?)</script>', text, re.S)
    assert embedded and not set(embedded.group(1)) & set("<>&\u2028"), "the JSON is safe inside <script>"
    data = _embedded(text)
    (node,) = [n for n in data["nodes"] if n["kind"] == "artifact"]
    assert (node["name"], node["uri"], node["properties"], node["custom_properties"]) == (
        NASTY, NASTY, {"p": NASTY}, {NASTY: NASTY},
    )  # fmt: skip
    assert data["edges"][0]["label"] == f"{NASTY}.0"


def test_the_page_needs_no_network(pipeline: tracker.Graph) -> None:
    """No CDN, no web fonts, no external script or style: the only URL is the SVG namespace."""
    text = page(pipeline)
    assert set(re.findall(r"\w+://[^\s\"'<>)]*", text)) <= {"http://www.w3.org/2000/svg", "s3://bucket/raw.csv",
                                                             "s3://bucket/train", "s3://bucket/eval"}  # fmt: skip
    assert not re.search(r"\bsrc=|<link|@import|@font-face|url\((?!#)", text)


def test_events_whose_ends_are_missing_are_left_out() -> None:
    """A graph whose events name absent nodes still draws: those events are left out."""
    graph = tracker.Graph([Artifact(type="D", id=1)], [], [Event(1, 9, EventType.INPUT)])
    assert _embedded(page(graph))["edges"] == []


# --- in a real browser ---


class _Drawn(HTMLParser):
    """What a dumped DOM holds: the drawn node and edge elements, their text, and the details panel's text."""

    def __init__(self) -> None:
        super().__init__()
        self.nodes: dict[str, list[str]] = {}  # data-key -> texts inside
        self.edges: dict[int, dict[str, str | None]] = {}  # data-edge -> attributes
        self.body: dict[str, str | None] = {}
        self.details: list[str] = []
        self._open: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        named = dict(attrs)
        if tag == "body":
            self.body = named
        if tag == "g" and named.get("data-key"):
            assert named["data-key"] not in self.nodes, "a node drawn twice"
            self.nodes[str(named["data-key"])] = []
        if tag == "g" and named.get("data-edge") is not None:
            self.edges[int(str(named["data-edge"]))] = named
        self._open.append((tag, named))

    def handle_endtag(self, tag: str) -> None:
        while self._open and self._open.pop()[0] != tag:
            pass

    def handle_data(self, data: str) -> None:
        for _, named in reversed(self._open):
            if named.get("data-key"):
                self.nodes[str(named["data-key"])].append(data)
                return
            if named.get("id") == "details":
                self.details.append(data)
                return


def _chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if not found:
        pytest.fail(
            "headless Chromium is needed to check that the page draws: install Debian's package with "
            "`sudo DEBIAN_FRONTEND=noninteractive apt-get install -y chromium` (.ci/run does this)",
            pytrace=False,
        )
    return found


def _png_size(path: Path) -> tuple[int, int]:
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    return int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")


def test_chromium_draws_every_node_and_edge(pipeline: tracker.Graph, tmp_path: Path) -> None:
    """Headless Chromium runs the page's script: one SVG group per node and per event, the labels as
    written, the focus node's details open (from the URL's #key). The screenshot is kept in
    test-artifacts/lineage.png."""
    chromium = _chromium()
    html_file, shot = tmp_path / "lineage.html", tmp_path / "lineage.png"
    html_file.write_text(pipeline.to_html(title='lineage of "modèle" </script>'), encoding="utf-8")
    (focus,) = pipeline.focus
    done = subprocess.run(
        [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--no-first-run",
         f"--user-data-dir={tmp_path / 'profile'}", f"--window-size={WINDOW[0]},{WINDOW[1]}",
         f"--screenshot={shot}", "--dump-dom", f"{html_file.as_uri()}#{focus}"],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    drawn = _Drawn()
    drawn.feed(done.stdout)

    nodes, edges = pipeline.nodes, pipeline.edges
    assert drawn.body.get("data-drawn") == f"{len(nodes)} nodes, {len(edges)} edges", "the script did not finish"
    assert sorted(drawn.nodes) == sorted(n.key for n in nodes)
    assert [(e["data-source"], e["data-target"]) for _, e in sorted(drawn.edges.items())] == [
        (e.source, e.target) for e in edges
    ]
    for node in nodes:
        assert node.label in "".join(drawn.nodes[node.key]), node.key  # the tooltip holds the whole label
    details = "".join(drawn.details)
    assert "modèle-ünïcødé ✓ Ω" in details and "0.95" in details and "données & <b>bold</b> </script>" in details

    assert _png_size(shot) == WINDOW and shot.stat().st_size > 20_000, "a blank screenshot"
    (REPO / "test-artifacts").mkdir(exist_ok=True)
    shutil.copyfile(shot, REPO / "test-artifacts" / "lineage.png")
