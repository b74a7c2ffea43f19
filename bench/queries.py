"""Query benchmark: lineage, a property filter and paging, tracker against ml-metadata, printed as ratios.

ml-metadata builds one SQLite file once per run; tracker and ml-metadata then read the same records, in
turns, in one process. What is reported is tracker's time per query divided by ml-metadata's. See
bench/README.md.

The data:
  records  10,000 ``Record`` artifacts (ids 1 to 10,000) with an INT property ``day`` (0 to 30) and a
           STRING property ``split``
  DAG      a layered graph: 400 seed ``Data`` artifacts, then 50 layers of 200 ``Step`` executions; each
           execution reads 2 artifacts of the layer before (drawn with a fixed seed) and writes 2 new ones:
           20,400 artifacts, 10,000 executions, 40,000 events; each layer's executions and outputs are in
           one ``Layer`` context. Every node has an INT property ``layer``.

Cases:
  lineage-20   upstream lineage of one artifact of the last layer, 20 hops: tracker's
               ``get_lineage(artifacts=[id], direction="upstream", max_hops=20)`` against ml-metadata's
               ``get_lineage_subgraph`` (UPSTREAM, ``max_num_hops=20``); both read every node, event
               and link in the call (tracker builds its record objects when a list is first read)
  lineage-all  the same with no limit: tracker ``max_hops=None``, ml-metadata 100 (its maximum, which is
               exactly the depth of the graph: the seeds are 100 hops up)
  filter       ``properties.day.int_value = 7`` (323 of the records): tracker's ``get_artifacts(filter)``
               against ml-metadata's ``get_artifacts(list_options=ListOptions(filter_query=...))``
  list         the first 10,000 artifacts in id order, page by page, 100 per page: tracker's
               ``list_artifacts`` page tokens against ml-metadata's ``GetArtifacts`` with
               ``max_result_size=100`` and its ``next_page_token`` (what its Python wrapper loops over)

Before timing, the script checks that every side returns the same nodes (ids, and a property of each, which
proves that they were read) and stops otherwise.

ml-metadata reads twice: a copy of the file as it wrote it (rollback journal), and the file switched to WAL,
which is the file tracker reads (tracker opens every SQLite file in WAL).

Run it with ``nox -s bench_queries`` (ml-metadata 1.17 needs Python 3.9-3.11), or
``python bench/queries.py --quick`` where both packages are installed.
"""

from __future__ import annotations

import argparse
import gc
import random
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from _common import (
    add_json_options,
    environment_line,
    filesystem,
    format_table,
    git_revision,
    journal_mode_and_rows,
    machine,
    met_cell,
    rotated,
    target_cell,
    target_met,
    time_summary,
    version,
    write_results,
)

import tracker

try:
    from ml_metadata.metadata_store import metadata_store
    from ml_metadata.proto import metadata_store_pb2 as mlmd
    from ml_metadata.proto import metadata_store_service_pb2 as mlmd_service
except ImportError as exc:  # pragma: no cover - depends on the environment
    sys.exit(
        f"bench/queries.py needs ml-metadata ({exc}); run it with `nox -s bench_queries`, "
        "which installs ml-metadata 1.17.1 on Python 3.11"
    )

TRACKER = "tracker"
MLMD = "ml-metadata"
MLMD_WAL = "ml-metadata WAL"
IMPLEMENTATIONS = (TRACKER, MLMD, MLMD_WAL)
#: ``PRAGMA journal_mode`` each implementation's file must report after a round.
JOURNAL_MODES = {TRACKER: "wal", MLMD: "delete", MLMD_WAL: "wal"}
#: The tables whose row counts are reported with the data.
COUNTED_TABLES = ("Artifact", "ArtifactProperty", "Execution", "ExecutionProperty", "Context", "Event",
                  "Attribution", "Association")  # fmt: skip
#: ml-metadata's largest ``max_num_hops`` (more is clamped to it).
MLMD_MAX_HOPS = 100
#: The day the filter case asks for.
FILTER_DAY = 7
#: Days run from 0 to DAYS - 1 over the records.
DAYS = 31


# --- the data, written once by ml-metadata ---


@dataclass(frozen=True)
class Shape:
    """The size of the data set."""

    records: int
    layers: int
    width: int  # executions per layer; each writes 2 artifacts, so a layer holds 2 * width artifacts


@dataclass(frozen=True)
class Data:
    """What the queries need to know about the built file."""

    last_artifact: int  # the first artifact of the last layer: the lineage cases start there
    rows: dict[str, int]
    build_seconds: float


def _open_mlmd(path: Path) -> Any:
    config = mlmd.ConnectionConfig()
    config.sqlite.filename_uri = str(path)
    config.sqlite.connection_mode = mlmd.SqliteMetadataSourceConfig.READWRITE_OPENCREATE
    return metadata_store.MetadataStore(config)


def build(path: Path, shape: Shape) -> Data:
    """Write the records and the DAG into a new file at *path* through ml-metadata, in large batches."""
    start = time.perf_counter()
    store = _open_mlmd(path)
    record_type = store.put_artifact_type(
        mlmd.ArtifactType(name="Record", properties={"day": mlmd.INT, "split": mlmd.STRING})
    )
    data_type = store.put_artifact_type(mlmd.ArtifactType(name="Data", properties={"layer": mlmd.INT}))
    step_type = store.put_execution_type(mlmd.ExecutionType(name="Step", properties={"layer": mlmd.INT}))
    layer_type = store.put_context_type(mlmd.ContextType(name="Layer"))

    records = []
    for i in range(shape.records):
        record = mlmd.Artifact(type_id=record_type, uri=f"records/{i}")
        record.properties["day"].int_value = i % DAYS
        record.properties["split"].string_value = "train" if i % 5 else "eval"
        records.append(record)
    store.put_artifacts(records)

    def data(layer: int, k: int) -> Any:
        artifact = mlmd.Artifact(type_id=data_type, uri=f"dag/{layer}/{k}", state=mlmd.Artifact.LIVE)
        artifact.properties["layer"].int_value = layer
        return artifact

    rng = random.Random(20240601)
    previous = store.put_artifacts([data(-1, k) for k in range(2 * shape.width)])
    for layer in range(shape.layers):
        executions = []
        for k in range(shape.width):
            execution = mlmd.Execution(type_id=step_type, name=f"step-{layer}-{k}",
                                       last_known_state=mlmd.Execution.COMPLETE)  # fmt: skip
            execution.properties["layer"].int_value = layer
            executions.append(execution)
        execution_ids = store.put_executions(executions)
        outputs = store.put_artifacts([data(layer, k) for k in range(2 * shape.width)])
        events = []
        for k, execution_id in enumerate(execution_ids):
            for artifact_id in rng.sample(previous, 2):
                events.append(mlmd.Event(artifact_id=artifact_id, execution_id=execution_id, type=mlmd.Event.INPUT))
            for artifact_id in outputs[2 * k : 2 * k + 2]:
                events.append(mlmd.Event(artifact_id=artifact_id, execution_id=execution_id, type=mlmd.Event.OUTPUT))
        store.put_events(events)
        [context_id] = store.put_contexts([mlmd.Context(type_id=layer_type, name=f"layer-{layer}")])
        store.put_attributions_and_associations(
            [mlmd.Attribution(artifact_id=a, context_id=context_id) for a in outputs],
            [mlmd.Association(execution_id=e, context_id=context_id) for e in execution_ids],
        )
        previous = outputs
    del store  # ml-metadata closes its connection when the store is collected
    gc.collect()
    mode, rows = journal_mode_and_rows(path, COUNTED_TABLES)
    if mode != "delete":
        sys.exit(f"ml-metadata wrote {path} with journal_mode={mode}, not delete")
    return Data(last_artifact=previous[0], rows=rows, build_seconds=time.perf_counter() - start)


# --- the two implementations, behind one interface ---


#: What the checks compare: per kind of record, sorted tuples of (id, a property or field read from it).
Normalized = dict[str, list[tuple[Any, ...]]]


class Reader(Protocol):
    """One store, open on the built file."""

    def lineage(self, artifact_id: int, hops: int | None) -> Callable[[], Any]: ...
    def lineage_ids(self, graph: Any) -> Normalized: ...
    def filter(self, query: str) -> Callable[[], Any]: ...
    def listing(self, pages: int, size: int) -> Callable[[], Any]: ...
    def artifact_ids(self, artifacts: Any) -> Normalized: ...
    def close(self) -> None: ...


class TrackerReader:
    """tracker's query API, as a user calls it."""

    def __init__(self, path: Path) -> None:
        self.store = tracker.connect(str(path))

    def lineage(self, artifact_id: int, hops: int | None) -> Callable[[], Any]:
        return lambda: self.store.get_lineage(artifacts=[artifact_id], direction="upstream", max_hops=hops)

    def lineage_ids(self, graph: Any) -> Normalized:
        return {
            "artifacts": sorted((a.id, a.uri, a.properties["layer"]) for a in graph.artifacts),
            "executions": sorted((e.id, e.name, e.properties["layer"]) for e in graph.executions),
            "contexts": sorted((c.id, c.name) for c in graph.contexts),
            "events": sorted((e.artifact_id, e.execution_id, int(e.type)) for e in graph.events),
            "attributions": sorted((a.artifact_id, a.context_id) for a in graph.attributions),
            "associations": sorted((a.execution_id, a.context_id) for a in graph.associations),
            "types": sorted(t.name for t in (*graph.artifact_types, *graph.execution_types, *graph.context_types)),
        }

    def filter(self, query: str) -> Callable[[], Any]:
        return lambda: self.store.get_artifacts(filter=query)

    def listing(self, pages: int, size: int) -> Callable[[], Any]:
        def walk() -> list[Any]:
            found: list[Any] = []
            token = None
            for _ in range(pages):
                page = self.store.list_artifacts(page_size=size, page_token=token)
                found += page.items
                token = page.next_page_token
            return found

        return walk

    def artifact_ids(self, artifacts: Any) -> Normalized:
        return {"artifacts": [(a.id, a.uri) for a in artifacts]}  # in the order returned: pages must be in order

    def close(self) -> None:
        self.store.close()


class MlmdReader:
    """ml-metadata's Python ``MetadataStore``, as a user calls it."""

    def __init__(self, path: Path) -> None:
        self.store = _open_mlmd(path)

    def lineage(self, artifact_id: int, hops: int | None) -> Callable[[], Any]:
        options = mlmd.LineageSubgraphQueryOptions(
            max_num_hops=MLMD_MAX_HOPS if hops is None else hops,
            direction=mlmd.LineageSubgraphQueryOptions.UPSTREAM,
        )
        options.starting_artifacts.filter_query = f"id = {artifact_id}"
        return lambda: self.store.get_lineage_subgraph(options)

    def lineage_ids(self, graph: Any) -> Normalized:
        return {
            "artifacts": sorted((a.id, a.uri, a.properties["layer"].int_value) for a in graph.artifacts),
            "executions": sorted((e.id, e.name, e.properties["layer"].int_value) for e in graph.executions),
            "contexts": sorted((c.id, c.name) for c in graph.contexts),
            "events": sorted((e.artifact_id, e.execution_id, e.type) for e in graph.events),
            "attributions": sorted((a.artifact_id, a.context_id) for a in graph.attributions),
            "associations": sorted((a.execution_id, a.context_id) for a in graph.associations),
            "types": sorted(t.name for t in (*graph.artifact_types, *graph.execution_types, *graph.context_types)),
        }

    def filter(self, query: str) -> Callable[[], Any]:
        options = metadata_store.ListOptions(filter_query=query)
        return lambda: self.store.get_artifacts(list_options=options)

    def listing(self, pages: int, size: int) -> Callable[[], Any]:
        # The Python wrapper has no call for one page: its get_artifacts(list_options) runs this loop over
        # every page (of at most 100) and returns the lot. This is the same loop, one request per page.
        def walk() -> list[Any]:
            found: list[Any] = []
            request = mlmd_service.GetArtifactsRequest()
            request.options.max_result_size = size
            request.options.order_by_field.field = mlmd.ListOperationOptions.OrderByField.ID
            request.options.order_by_field.is_asc = True
            for _ in range(pages):
                response = mlmd_service.GetArtifactsResponse()
                self.store._call("GetArtifacts", request, response)
                found += response.artifacts
                request.options.next_page_token = response.next_page_token
            return found

        return walk

    def artifact_ids(self, artifacts: Any) -> Normalized:
        return {"artifacts": [(a.id, a.uri) for a in artifacts]}

    def close(self) -> None:
        del self.store
        gc.collect()  # ml-metadata closes its connection when the store is collected


def open_reader(implementation: str, files: dict[str, Path]) -> Reader:
    if implementation == TRACKER:
        return TrackerReader(files[TRACKER])
    return MlmdReader(files[implementation])


# --- cases ---


@dataclass(frozen=True)
class Case:
    """One query, run *warmup* times untimed, then *count* times timed, on each implementation."""

    key: str
    title: str
    unit: str
    warmup: int
    count: int
    target: float
    call: Callable[[Reader], Callable[[], Any]]
    normalize: Callable[[Reader, Any], Normalized]


def cases(args: argparse.Namespace, data: Data) -> list[Case]:
    start = data.last_artifact
    pages = args.records // args.page_size
    scale = 0.25 if args.quick else 1.0

    def n(count: int) -> int:
        return max(1, round(count * scale))

    every = {
        "lineage-20": Case(
            "lineage-20", "(a) upstream lineage, 20 hops", "query", n(4), n(30), 0.2,
            lambda r: r.lineage(start, 20), lambda r, g: r.lineage_ids(g),
        ),
        "lineage-all": Case(
            "lineage-all", "(a) upstream lineage, no limit", "query", 1, n(6), 0.2,
            lambda r: r.lineage(start, None), lambda r, g: r.lineage_ids(g),
        ),
        "filter": Case(
            "filter", f"(b) filter properties.day.int_value = {FILTER_DAY}", "query", n(8), n(40), 1.0,
            lambda r: r.filter(f"properties.day.int_value = {FILTER_DAY}"), lambda r, a: r.artifact_ids(a),
        ),
        "list": Case(
            "list", f"(c) list {pages} pages of {args.page_size}", f"walk of {pages} pages", n(2), n(12), 1.0,
            lambda r: r.listing(pages, args.page_size), lambda r, a: r.artifact_ids(a),
        ),
    }  # fmt: skip
    return [every[key] for key in args.case]


# --- measuring ---


def _timed(op: Callable[[], Any], warmup: int, count: int) -> tuple[list[float], Any]:
    """Seconds taken by each of *count* calls of *op* after *warmup* untimed ones, and the last result."""
    result = None
    for _ in range(warmup):
        result = op()
    gc.collect()
    clock = time.perf_counter
    seconds = []
    for _ in range(count):
        begin = clock()
        result = op()
        seconds.append(clock() - begin)
    return seconds, result


def _difference(expected: Normalized, found: Normalized) -> str:
    for key in expected:
        if expected[key] != found.get(key):
            want, got = expected[key], found.get(key) or []
            return (
                f"{key}: {len(want)} expected, {len(got)} found; missing {sorted(set(want) - set(got))[:5]}, "
                f"unexpected {sorted(set(got) - set(want))[:5]}"
            )
    return ""


def measure(chosen: Sequence[Case], files: dict[str, Path], repeats: int) -> dict[str, list[dict[str, list[float]]]]:
    """*repeats* rounds; in each, every implementation in a rotated order opens its store and runs every case.

    The first round checks that all implementations return the same nodes, and stops the script otherwise.
    """
    results: dict[str, list[dict[str, list[float]]]] = {case.key: [] for case in chosen}
    expected: dict[str, tuple[str, Normalized]] = {}
    for r in range(repeats):
        round_seconds: dict[str, dict[str, list[float]]] = {case.key: {} for case in chosen}
        for implementation in rotated(IMPLEMENTATIONS, r):
            reader = open_reader(implementation, files)
            try:
                for case in chosen:
                    print(f"  round {r + 1}/{repeats}, {implementation}, {case.key} ...", file=sys.stderr, flush=True)
                    seconds, result = _timed(case.call(reader), case.warmup, case.count)
                    round_seconds[case.key][implementation] = seconds
                    if r == 0:
                        found = case.normalize(reader, result)
                        first, want = expected.setdefault(case.key, (implementation, found))
                        if diff := _difference(want, found):
                            sys.exit(f"{case.key}: {implementation} and {first} returned different nodes: {diff}")
            finally:
                reader.close()
        for implementation, path in files.items():
            mode, _ = journal_mode_and_rows(path, ())
            if mode != JOURNAL_MODES[implementation]:
                sys.exit(
                    f"{implementation} read {path.name} in journal_mode={mode}, not {JOURNAL_MODES[implementation]}"
                )
        for case in chosen:
            results[case.key].append(round_seconds[case.key])
    return results


@dataclass
class Comparison:
    """tracker against one ml-metadata variant in one case: per round the ratio of the medians; their median."""

    case: Case
    variant: str
    rounds: list[tuple[list[float], list[float]]]  # (tracker, ml-metadata) seconds per round

    @property
    def tracker_ms(self) -> float:
        return statistics.median(statistics.median(t) for t, _ in self.rounds) * 1000

    @property
    def mlmd_ms(self) -> float:
        return statistics.median(statistics.median(m) for _, m in self.rounds) * 1000

    @property
    def ratios(self) -> list[float]:
        return [statistics.median(t) / statistics.median(m) for t, m in self.rounds]

    @property
    def ratio(self) -> float:
        return statistics.median(self.ratios)

    @property
    def mean_ratio(self) -> float:
        return statistics.median(statistics.fmean(t) / statistics.fmean(m) for t, m in self.rounds)

    @property
    def met(self) -> bool | None:
        return target_met(self.ratio, self.case.target)


def compare(case: Case, rounds: list[dict[str, list[float]]]) -> list[Comparison]:
    return [Comparison(case, variant, [(r[TRACKER], r[variant]) for r in rounds]) for variant in (MLMD, MLMD_WAL)]


# --- reporting ---


def _table(comparisons: Sequence[Comparison]) -> str:
    header = ("case", "ml-metadata", "tracker ms", "ml-metadata ms", "ratio", "rounds", "target", "met?", "mean ratio")
    rows = [header]
    for c in comparisons:
        rows.append(
            (
                c.case.title,
                "as shipped" if c.variant == MLMD else "WAL",
                f"{c.tracker_ms:.3f}",
                f"{c.mlmd_ms:.3f}",
                f"{c.ratio:.2f}",
                f"{min(c.ratios):.2f}-{max(c.ratios):.2f}",
                target_cell(c.case.target),
                met_cell(c.met),
                f"{c.mean_ratio:.2f}",
            )
        )
    return format_table(rows, text_columns=2)


def environment(directory: Path) -> dict[str, Any]:
    return {
        **machine(),
        "tracker": version("mlmd-tracker"),
        "tracker_git": git_revision(),
        "ml-metadata": version("ml-metadata"),
        "SQLAlchemy": version("SQLAlchemy"),
        "protobuf": version("protobuf"),
        "sqlite (Python's sqlite3)": sqlite3.sqlite_version,
        "directory": str(directory),
        "filesystem": filesystem(directory),
    }


def _json_report(
    env: dict[str, Any],
    args: argparse.Namespace,
    data: Data,
    sizes: dict[str, dict[str, int]],
    results: dict[str, list[dict[str, list[float]]]],
    comparisons: list[Comparison],
) -> dict[str, Any]:
    return {
        "environment": env,
        "settings": {k: v for k, v in vars(args).items() if k not in ("json", "no_json", "tmpdir")},
        "data": {
            "rows": data.rows,
            "build_seconds": data.build_seconds,
            "start_artifact": data.last_artifact,
            "journal_modes": JOURNAL_MODES,
            "result_sizes": sizes,
        },
        "comparisons": [
            {
                "case": c.case.key,
                "title": c.case.title,
                "unit": c.case.unit,
                "vs": c.variant,
                "tracker_ms": c.tracker_ms,
                "mlmd_ms": c.mlmd_ms,
                "ratio": c.ratio,
                "ratios_per_round": c.ratios,
                "mean_ratio": c.mean_ratio,
                "target": c.case.target,
                "met": c.met,
            }
            for c in comparisons
        ],
        "rounds": {
            key: [{impl: time_summary(seconds, "ms") for impl, seconds in runs.items()} for runs in rounds]
            for key, rounds in results.items()
        },
    }


def result_sizes(chosen: Sequence[Case], files: dict[str, Path]) -> dict[str, dict[str, int]]:
    """How many records of each kind each case returns (read once, through ml-metadata WAL)."""
    reader = open_reader(MLMD_WAL, files)
    try:
        return {c.key: {k: len(v) for k, v in c.normalize(reader, c.call(reader)()).items()} for c in chosen}
    finally:
        reader.close()


# --- command line ---


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=10_000, help="Record artifacts, filtered and listed (10000)")
    parser.add_argument("--layers", type=int, default=50, help="layers of the DAG (default 50)")
    parser.add_argument("--width", type=int, default=200, help="executions per layer (default 200)")
    parser.add_argument("--page-size", type=int, default=100, help="artifacts per page in (c) (default 100)")
    parser.add_argument("--repeats", type=int, default=3, help="rounds of all implementations, interleaved (default 3)")
    parser.add_argument(
        "--case",
        action="append",
        choices=("lineage-20", "lineage-all", "filter", "list"),
        help="run only this case (repeatable; default: all)",
    )
    parser.add_argument("--quick", action="store_true", help="a smoke run: a quarter of the timed calls, 2 rounds")
    parser.add_argument("--tmpdir", type=Path, help="where the SQLite files go (default: the system's temp directory)")
    add_json_options(parser)
    args = parser.parse_args(argv)
    if args.quick:
        args.repeats = 2
    args.case = args.case or ["lineage-20", "lineage-all", "filter", "list"]
    if min(args.records, args.layers, args.width, args.page_size, args.repeats) < 1:
        parser.error("counts must be positive")
    if args.records % args.page_size:
        parser.error(f"--records ({args.records}) must be a multiple of --page-size ({args.page_size})")
    if "lineage-all" in args.case and 2 * args.layers > MLMD_MAX_HOPS:
        parser.error(
            f"lineage-all compares with ml-metadata's {MLMD_MAX_HOPS} hops: at most {MLMD_MAX_HOPS // 2} layers"
        )
    return args


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="tracker-bench-", dir=args.tmpdir) as tmp:
        directory = Path(tmp)
        env = environment(directory)
        shape = Shape(args.records, args.layers, args.width)
        print(f"building the data through ml-metadata in {directory} ...", file=sys.stderr, flush=True)
        shipped, wal = directory / "shipped.sqlite", directory / "wal.sqlite"
        data = build(shipped, shape)
        shutil.copyfile(shipped, wal)
        with closing(sqlite3.connect(wal)) as connection:
            connection.execute("PRAGMA journal_mode=WAL")  # persistent: stored in the file
        files = {TRACKER: wal, MLMD: shipped, MLMD_WAL: wal}
        chosen = cases(args, data)
        results = measure(chosen, files, args.repeats)
        sizes = result_sizes(chosen, files)
    comparisons = [c for case in chosen for c in compare(case, results[case.key])]

    print(environment_line(env, tracker_version=env["tracker"], versus=f"ml-metadata {env['ml-metadata']}"))
    print(
        f"data: {data.rows['Artifact']:,} artifacts, {data.rows['Execution']:,} executions, "
        f"{data.rows['Event']:,} events, {data.rows['Context']:,} contexts, written by ml-metadata in "
        f"{data.build_seconds:.1f} s; lineage starts at artifact {data.last_artifact}"
    )
    for case in chosen:
        print(f"  {case.key}: returns " + ", ".join(f"{n:,} {kind}" for kind, n in sizes[case.key].items()))
    print(
        "files: tracker and 'ml-metadata WAL' read the same file in WAL; 'as shipped' reads a copy in the rollback "
        "journal ml-metadata wrote it with"
    )
    print(f"ms: median time of one query (list: of the walk through all pages); median over {args.repeats} rounds")
    print("ratio: tracker / ml-metadata, the median of the rounds' ratios (< 1: tracker is faster); rounds: range\n")
    print(_table(comparisons))

    if not args.no_json:
        write_results(_json_report(env, args, data, sizes, results, comparisons), args.json, "queries")


if __name__ == "__main__":
    main()
