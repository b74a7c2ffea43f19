"""How fast could any Python store answer the lineage benchmark? A floor for bench/queries.py's case (a).

Builds the data of bench/queries.py (the layered DAG, through ml-metadata), then times, in one process and in
rotated turns, the upstream lineage of the first artifact of the last layer, 20 hops and no limit, three ways:

  ml-metadata  ``get_lineage_subgraph``, as in bench/queries.py (no limit: 100 hops, the graph's depth)
  tracker      ``Store.get_lineage``, as in bench/queries.py
  floor        the least a Python program does to hold the same answer: Python's sqlite3 module on the same
               file, in one read transaction, with no library between: the walk one query per hop (the
               frontier's ids as one sorted JSON array), then the nodes with their properties (a property's
               one set value and a tag, not six columns), the attribution and association links, the event
               paths and the contexts. The rows are only fetched: no objects are built from them.

It prints each side's median time and the ratios floor / ml-metadata and tracker / floor. When the floor's
ratio is above issue 3's target of 0.2, no store that returns these rows through Python's sqlite3 module
meets the target on this schema. Checks first that the floor and tracker reach the same nodes and events.

    python bench/lineage_floor.py [--rounds 7] [--calls 5]     # or: nox -s bench_lineage_floor
"""

from __future__ import annotations

import argparse
import gc
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from operator import itemgetter
from pathlib import Path
from typing import Any

import queries  # bench/queries.py: the data and the two readers
from _common import format_table, rotated

SIDES = ("ml-metadata", "tracker", "floor")
#: Event types followed upstream: from an artifact to the execution that output it, from an execution to its inputs.
OUTPUT_TYPES, INPUT_TYPES = "(2, 4, 6, 7)", "(1, 3, 5)"
_EVENT = "SELECT id, artifact_id, execution_id, type, milliseconds_since_epoch FROM Event WHERE "
_IN = " IN (SELECT value FROM json_each(?))"
#: A property row holds one value: fetch it and a tag saying which column it was in.
_VALUE = (
    "p.name, p.is_custom_property, CASE WHEN p.int_value IS NOT NULL THEN 0 WHEN p.double_value IS NOT NULL THEN 1 "
    "WHEN p.string_value IS NOT NULL THEN 2 WHEN p.bool_value IS NOT NULL THEN 3 ELSE 4 END, "
    "coalesce(p.int_value, p.double_value, p.string_value, p.bool_value, p.byte_value, p.proto_value)"
)
_NODE = "a.id, a.type_id, a.name, a.external_id, a.create_time_since_epoch, a.last_update_time_since_epoch"
SQL = {
    "from artifacts": _EVENT + "artifact_id" + _IN + " AND type IN " + OUTPUT_TYPES,
    "from executions": _EVENT + "execution_id" + _IN + " AND type IN " + INPUT_TYPES,
    "artifacts": f"SELECT {_NODE}, a.uri, a.state, {_VALUE} FROM Artifact a "
    "LEFT JOIN ArtifactProperty p ON p.artifact_id = a.id WHERE a.id" + _IN,
    "executions": f"SELECT {_NODE}, a.last_known_state, {_VALUE} FROM Execution a "
    "LEFT JOIN ExecutionProperty p ON p.execution_id = a.id WHERE a.id" + _IN,
    "contexts": f"SELECT {_NODE}, {_VALUE} FROM Context a LEFT JOIN ContextProperty p ON p.context_id = a.id "
    "WHERE a.id" + _IN,
    "attributions": "SELECT artifact_id, context_id FROM Attribution WHERE artifact_id" + _IN,
    "associations": "SELECT execution_id, context_id FROM Association WHERE execution_id" + _IN,
    "paths": "SELECT event_id, is_index_step, step_index, step_key FROM EventPath WHERE event_id" + _IN
    + " ORDER BY event_id, rowid",
}  # fmt: skip


def floor(connection: sqlite3.Connection, start: int, hops: int | None) -> dict[str, list[Any]]:
    """The rows of the upstream lineage of artifact *start*, fetched and nothing more."""

    def rows(name: str, ids: Any) -> list[Any]:
        return connection.execute(SQL[name], (repr(sorted(ids)),)).fetchall() if ids else []

    connection.execute("BEGIN")
    try:
        seen_a, seen_e = {start}, set()
        frontier_a, frontier_e = [start], []
        events: dict[int, Any] = {}
        hop = 0
        while (frontier_a or frontier_e) and (hops is None or hop < hops):
            found_a = rows("from artifacts", frontier_a)
            found_e = rows("from executions", frontier_e)
            events.update((row[0], row) for row in found_a + found_e)
            new_e = set(map(itemgetter(2), found_a)) - seen_e
            new_a = set(map(itemgetter(1), found_e)) - seen_a
            seen_a |= new_a
            seen_e |= new_e
            frontier_a, frontier_e = list(new_a), list(new_e)
            hop += 1
        attributions = rows("attributions", seen_a)
        associations = rows("associations", seen_e)
        contexts = set(map(itemgetter(1), attributions)) | set(map(itemgetter(1), associations))
        return {
            "artifacts": rows("artifacts", seen_a),
            "executions": rows("executions", seen_e),
            "contexts": rows("contexts", contexts),
            "events": list(events.values()),
            "paths": rows("paths", events),
            "attributions": attributions,
            "associations": associations,
        }
    finally:
        connection.execute("COMMIT")


def check(floor_rows: dict[str, list[Any]], graph: Any) -> None:
    """Stop unless the floor reached what tracker did."""
    expected = {
        "artifacts": {a.id for a in graph.artifacts},
        "executions": {e.id for e in graph.executions},
        "contexts": {c.id for c in graph.contexts},
        "events": {(e.artifact_id, e.execution_id, int(e.type)) for e in graph.events},
    }
    found = {
        "artifacts": {row[0] for row in floor_rows["artifacts"]},
        "executions": {row[0] for row in floor_rows["executions"]},
        "contexts": {row[0] for row in floor_rows["contexts"]},
        "events": {(row[1], row[2], row[3]) for row in floor_rows["events"]},
    }
    for key, want in expected.items():
        if found[key] != want:
            sys.exit(f"the floor's {key} differ from tracker's: {len(found[key])} found, {len(want)} expected")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=7, help="rounds, each side in turns (default 7)")
    parser.add_argument("--calls", type=int, default=5, help="timed calls per side, case and round (default 5)")
    parser.add_argument("--tmpdir", type=Path, default=None, help="where the SQLite file goes")
    args = parser.parse_args(argv)
    defaults = queries.parse_args(["--no-json"])

    with tempfile.TemporaryDirectory(prefix="tracker-floor-", dir=args.tmpdir) as directory:
        path = Path(directory) / "dag.sqlite"
        print(f"building the DAG of bench/queries.py with ml-metadata in {path} ...", file=sys.stderr)
        data = queries.build(path, queries.Shape(defaults.records, defaults.layers, defaults.width))
        start = data.last_artifact
        tracker_side = queries.TrackerReader(path)  # switches the file to WAL; all three read it so
        mlmd_side = queries.MlmdReader(path)
        connection = sqlite3.connect(path, isolation_level=None)
        try:
            calls: dict[tuple[str, str], Callable[[], Any]] = {}
            for case, hops in (("20 hops", 20), ("no limit", None)):
                calls["ml-metadata", case] = mlmd_side.lineage(start, hops)
                calls["tracker", case] = tracker_side.lineage(start, hops)
                calls["floor", case] = lambda hops=hops: floor(connection, start, hops)
                check(calls["floor", case](), calls["tracker", case]())
            medians: dict[tuple[str, str], list[float]] = {key: [] for key in calls}
            for r in range(args.rounds):
                for side in rotated(SIDES, r):
                    for case in ("20 hops", "no limit"):
                        call = calls[side, case]
                        call()  # warm
                        gc.collect()
                        seconds = []
                        for _ in range(args.calls):
                            begin = time.perf_counter()
                            call()
                            seconds.append(time.perf_counter() - begin)
                        medians[side, case].append(statistics.median(seconds))
                print(f"  round {r + 1}/{args.rounds}", file=sys.stderr)
        finally:
            connection.close()
            tracker_side.close()
            mlmd_side.close()

    rows = [["case", "ml-metadata ms", "tracker ms", "floor ms", "floor / ml-metadata", "tracker / ml-metadata",
             "tracker / floor"]]  # fmt: skip
    for case in ("20 hops", "no limit"):
        ms = {side: statistics.median(medians[side, case]) * 1000 for side in SIDES}

        def ratio(a: str, b: str, case: str = case) -> str:
            per_round = [x / y for x, y in zip(medians[a, case], medians[b, case], strict=True)]
            return f"{statistics.median(per_round):.2f} ({min(per_round):.2f}-{max(per_round):.2f})"

        times = [f"{ms[side]:.1f}" for side in SIDES]
        rows.append(
            [case, *times, ratio("floor", "ml-metadata"), ratio("tracker", "ml-metadata"), ratio("tracker", "floor")]
        )
    print(f"upstream lineage of artifact {start}; medians of {args.rounds} rounds of {args.calls} calls; "
          "ratios: median of the rounds' ratios (range)")  # fmt: skip
    print(format_table(rows, text_columns=1))


if __name__ == "__main__":
    main()
