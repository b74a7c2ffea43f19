"""Differential tests of the query API: tracker and ml-metadata answer every corpus query alike.

One generated store per backend (tests/query_corpus.py) is read by both libraries.
Every filter must select the same ids; every lineage query must return the same
nodes, events, contexts, attributions and associations. Then one test per
documented difference (D1-D5 of docs/queries.md) shows it concretely, asserting
what each side returns, so a change on either side fails it.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any

import pytest
import query_corpus as qc
from databases import fresh_database
from ml_metadata import errors as mlmd_errors
from ml_metadata.metadata_store import metadata_store
from ml_metadata.proto import metadata_store_pb2 as pb
from sqlalchemy import make_url

import tracker
from tracker import Artifact, ArtifactType, Event, EventType, Execution, ExecutionType
from tracker.errors import FilterError

#: ml-metadata's own MySQL client is not exercised here (tests/store covers tracker on MySQL).
INTEROP_BACKENDS = ["sqlite", "postgresql"]
DIRECTIONS = {
    "both": pb.LineageSubgraphQueryOptions.BIDIRECTIONAL,
    "upstream": pb.LineageSubgraphQueryOptions.UPSTREAM,
    "downstream": pb.LineageSubgraphQueryOptions.DOWNSTREAM,
}


def mlmd_config(backend: str, url: str) -> pb.ConnectionConfig:
    """ml-metadata's ConnectionConfig for a database made by ``fresh_database`` (as conftest.Database does)."""
    config = pb.ConnectionConfig()
    if backend == "sqlite":
        config.sqlite.filename_uri = url
        config.sqlite.connection_mode = pb.SqliteMetadataSourceConfig.READWRITE_OPENCREATE
        return config
    parsed = make_url(url)
    config.postgresql.host = parsed.host or "127.0.0.1"
    config.postgresql.port = str(parsed.port or 5432)
    config.postgresql.user = parsed.username or "postgres"
    config.postgresql.password = parsed.password or ""
    config.postgresql.dbname = parsed.database or ""
    config.postgresql.skip_db_creation = True
    return config


@dataclass
class Built:
    """The corpus store on one backend, open in both libraries."""

    backend: str
    corpus: qc.Corpus
    tracker: tracker.Store
    mlmd: metadata_store.MetadataStore

    def mlmd_ids(self, kind: str, text: str) -> list[int]:
        """Ids ml-metadata selects; the wrapper follows next_page_token, so this is every match."""
        found = getattr(self.mlmd, f"get_{kind}")(metadata_store.ListOptions(filter_query=text))
        ids = [int(n.id) for n in found]
        assert len(ids) == len(set(ids)), "ml-metadata returned a node twice"
        return sorted(ids)

    def tracker_ids(self, kind: str, text: str) -> list[int]:
        """Ids tracker selects, in its order (by id)."""
        return [int(n.id) for n in getattr(self.tracker, f"get_{kind}")(text)]

    def mlmd_lineage(self, query: qc.LineageQuery) -> Any:
        """ml-metadata's get_lineage_subgraph for *query* (unlimited hops run as MLMD's cap, 100)."""
        kind, text = query.start_filter()
        options = pb.LineageSubgraphQueryOptions(
            max_num_hops=100 if query.max_hops is None else query.max_hops, direction=DIRECTIONS[query.direction]
        )
        getattr(options, f"starting_{kind}").filter_query = text
        if query.stop_at_artifacts is not None:
            options.ending_artifacts.filter_query = query.stop_at_artifacts
            options.ending_artifacts.include_ending_nodes = query.include_stops
        if query.stop_at_executions is not None:
            options.ending_executions.filter_query = query.stop_at_executions
            options.ending_executions.include_ending_nodes = query.include_stops
        return self.mlmd.get_lineage_subgraph(options)


@pytest.fixture(scope="module")
def stores(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[[str], Built]]:
    """The corpus store on a backend, built the first time a test asks for that backend."""
    built: dict[str, Built | BaseException] = {}
    with ExitStack() as stack:

        def get(backend: str) -> Built:
            if backend not in built:
                try:
                    url = stack.enter_context(fresh_database(backend, tmp_path_factory.mktemp(backend)))
                    corpus = qc.build(url)
                    store = stack.enter_context(tracker.connect(url))
                    mlmd = metadata_store.MetadataStore(mlmd_config(backend, url))
                    built[backend] = Built(backend, corpus, store, mlmd)
                except Exception as error:  # fail each test of this backend at once, without building again
                    built[backend] = error
            found = built[backend]
            if isinstance(found, BaseException):
                raise found
            return found

        try:
            yield get
        finally:
            built.clear()
            gc.collect()  # a MetadataStore closes its connection when it is freed, before the database is dropped


def _filter_params() -> list[Any]:
    return [
        pytest.param(backend, f, id=f"{backend}-{f}")
        for backend in INTEROP_BACKENDS
        for f in qc.FILTERS
        if f.mlmd_postgresql or backend != "postgresql"
    ]


@pytest.mark.parametrize(("backend", "flt"), _filter_params())
def test_filter_selects_what_mlmd_selects(stores: Callable[[str], Built], backend: str, flt: qc.Filter) -> None:
    """A corpus filter gives the same ids in tracker as in ml-metadata, on the same database."""
    built = stores(backend)
    assert built.tracker_ids(flt.kind, flt.text) == built.mlmd_ids(flt.kind, flt.text), str(flt)


@pytest.mark.parametrize("flt", [f for f in qc.FILTERS if not f.mlmd_postgresql], ids=str)
def test_filter_mlmd_fails_on_postgresql(stores: Callable[[str], Built], flt: qc.Filter) -> None:
    """ml-metadata cannot run these on PostgreSQL (a quote in a literal, an integer division); tracker can.

    On PostgreSQL tracker selects what ml-metadata selects on SQLite.
    """
    postgresql, sqlite = stores("postgresql"), stores("sqlite")
    with pytest.raises(mlmd_errors.InternalError):
        postgresql.mlmd_ids(flt.kind, flt.text)
    expected = sqlite.mlmd_ids(flt.kind, flt.text)
    assert expected
    assert postgresql.tracker_ids(flt.kind, flt.text) == expected


@pytest.mark.parametrize("backend", INTEROP_BACKENDS)
@pytest.mark.parametrize(("kind", "context_id", "text"), qc.BY_CONTEXT, ids=[f"{k}-{c}" for k, c, _ in qc.BY_CONTEXT])
def test_filter_within_a_context(
    stores: Callable[[str], Built], backend: str, kind: str, context_id: int, text: str
) -> None:
    """get_artifacts_by_context / get_executions_by_context with a filter agree with ml-metadata."""
    built = stores(backend)
    options = metadata_store.ListOptions(filter_query=text)
    expected = sorted(int(n.id) for n in getattr(built.mlmd, f"get_{kind}_by_context")(context_id, options))
    found = [int(n.id) for n in getattr(built.tracker, f"get_{kind}_by_context")(context_id, text)]
    assert found == expected


def _graph(graph: Any) -> dict[str, list[Any]]:
    """The comparable content of a LineageGraph (tracker) or LineageGraph proto (ml-metadata)."""
    return {
        "artifacts": sorted(int(a.id) for a in graph.artifacts),
        "executions": sorted(int(e.id) for e in graph.executions),
        "events": sorted((int(e.artifact_id), int(e.execution_id), int(e.type)) for e in graph.events),
        "contexts": sorted(int(c.id) for c in graph.contexts),
        "attributions": sorted((int(a.artifact_id), int(a.context_id)) for a in graph.attributions),
        "associations": sorted((int(a.execution_id), int(a.context_id)) for a in graph.associations),
        "artifact_types": sorted(t.name for t in graph.artifact_types),
        "execution_types": sorted(t.name for t in graph.execution_types),
        "context_types": sorted(t.name for t in graph.context_types),
    }


@pytest.mark.parametrize("backend", INTEROP_BACKENDS)
@pytest.mark.parametrize("query", qc.LINEAGE, ids=lambda q: q.name)
def test_lineage_matches_mlmd(stores: Callable[[str], Built], backend: str, query: qc.LineageQuery) -> None:
    """A corpus lineage query returns the same subgraph from tracker's get_lineage as from get_lineage_subgraph."""
    built = stores(backend)
    kind, text = query.start_filter()
    starts = built.mlmd_ids(kind, text)
    assert 0 < len(starts) <= 101, "ml-metadata starts from at most 101 nodes (D5): keep the corpus within it"
    if query.max_hops is None:
        as_artifacts, as_executions = (starts, []) if kind == "artifacts" else ([], starts)
        assert qc.max_depth(built.corpus, query, as_artifacts, as_executions) < 100, "deeper than MLMD's cap (D5)"
    mine = built.tracker.get_lineage(**query.kwargs())
    found = _graph(mine)
    assert found == _graph(built.mlmd_lineage(query))
    # tracker sorts what it returns: nodes by id, events by (artifact, execution, type)
    assert [a.id for a in mine.artifacts] == found["artifacts"]
    assert [(e.artifact_id, e.execution_id, int(e.type)) for e in mine.events] == found["events"]


@pytest.mark.parametrize("backend", INTEROP_BACKENDS)
def test_lineage_from_a_filter_that_matches_nothing(stores: Callable[[str], Built], backend: str) -> None:
    """A starting filter that matches nothing: ml-metadata raises NotFoundError, tracker returns an empty graph."""
    built = stores(backend)
    query = qc.LineageQuery("nothing", artifacts="name = 'no such artifact'")
    with pytest.raises(mlmd_errors.NotFoundError):
        built.mlmd_lineage(query)
    assert built.tracker.get_lineage(**query.kwargs()) == tracker.LineageGraph()


# --- the documented differences, D1 to D5 ---


@pytest.mark.parametrize("backend", INTEROP_BACKENDS)
def test_d1_property_and_neighbour_references_are_left_joins(stores: Callable[[str], Built], backend: str) -> None:
    """D1: ``OR`` across a property keeps nodes without it in tracker; ml-metadata's inner join drops them."""
    built = stores(backend)
    day0 = built.mlmd_ids("artifacts", "properties.day.int_value = 0 AND id < 200")
    metrics = built.mlmd_ids("artifacts", "type = 'Metrics' AND id < 200")
    assert day0 and metrics
    text = "(properties.day.int_value = 0 OR type = 'Metrics') AND id < 200"
    assert built.mlmd_ids("artifacts", text) == day0
    assert built.tracker_ids("artifacts", text) == sorted(day0 + metrics)

    # IS NULL: true for nodes without the property in tracker; ml-metadata only sees nodes that have it
    with_day = built.mlmd_ids("artifacts", "properties.day.int_value >= 0 AND id < 100")
    without_day = sorted(set(built.mlmd_ids("artifacts", "id < 100")) - set(with_day))
    assert without_day
    text = "properties.day.int_value IS NULL AND id < 100"
    assert built.mlmd_ids("artifacts", text) == []
    assert built.tracker_ids("artifacts", text) == without_day

    # a neighbour alias: the pipelines, which have no parent context, are kept by the OR in tracker only
    text = "parent_contexts_p.name = 'golden' OR type = 'Pipeline'"
    golden_child = built.mlmd_ids("contexts", "parent_contexts_p.name = 'golden'")
    pipelines = built.mlmd_ids("contexts", "type = 'Pipeline'")
    assert len(golden_child) == 1 and len(pipelines) == 4
    assert built.mlmd_ids("contexts", text) == golden_child
    assert built.tracker_ids("contexts", text) == sorted(golden_child + pipelines)


@pytest.mark.parametrize("backend", INTEROP_BACKENDS)
@pytest.mark.parametrize(
    ("kind", "text", "workaround"),
    [
        ("artifacts", "state = ABANDONED", "state > 4 AND state < 6"),
        ("artifacts", "state = REFERENCE", "state > 5"),
        ("artifacts", "state IN (ABANDONED, REFERENCE)", "state > 4"),
        ("artifacts", "state = 5", "state > 4 AND state < 6"),
        ("artifacts", "events_e.type = PENDING_OUTPUT", "events_e.type > 6"),
        ("artifacts", "events_e.type = UNKNOWN", "events_e.type < 1"),
        ("executions", "events_e.type = PENDING_OUTPUT", "events_e.type > 6"),
        ("executions", "last_known_state = 4", "last_known_state = FAILED"),
        ("executions", "last_known_state IN (4, 6)", "last_known_state IN (FAILED, CANCELED)"),
    ],
)
def test_d2_every_enum_name_and_integer_is_accepted(
    stores: Callable[[str], Built], backend: str, kind: str, text: str, workaround: str
) -> None:
    """D2: tracker accepts every enum name and integers; ml-metadata refuses them (its workaround agrees)."""
    built = stores(backend)
    with pytest.raises(mlmd_errors.InvalidArgumentError, match="Unsupported enum value"):
        built.mlmd_ids(kind, text)
    expected = built.mlmd_ids(kind, workaround)
    assert expected
    assert built.tracker_ids(kind, text) == expected


@pytest.mark.parametrize("backend", INTEROP_BACKENDS)
@pytest.mark.parametrize(
    ("kind", "text", "case_sensitive", "ignoring_case"),
    [
        ("contexts", "name LIKE 'PIPE%'", "name = 'PIPE-c'", "UPPER(name) LIKE 'PIPE%'"),
        ("artifacts", "custom_properties.owner.string_value LIKE 'AL%' AND id < 300",
         "custom_properties.owner.string_value = 'ALICE' AND id < 300",
         "UPPER(custom_properties.owner.string_value) LIKE 'AL%' AND id < 300"),
        ("executions", "properties.optimizer.string_value LIKE 'ad%'", "properties.optimizer.string_value = 'adam'",
         "LOWER(properties.optimizer.string_value) = 'adam'"),
    ],
)  # fmt: skip
def test_d3_like_is_case_sensitive(
    stores: Callable[[str], Built], backend: str, kind: str, text: str, case_sensitive: str, ignoring_case: str
) -> None:
    """D3: LIKE is case-sensitive in tracker on every backend; ml-metadata ignores case on SQLite, not PostgreSQL."""
    built = stores(backend)
    expected, insensitive = built.mlmd_ids(kind, case_sensitive), built.mlmd_ids(kind, ignoring_case)
    assert 0 < len(expected) < len(insensitive)
    assert built.tracker_ids(kind, text) == expected
    assert built.mlmd_ids(kind, text) == (insensitive if backend == "sqlite" else expected)


@pytest.mark.parametrize("backend", INTEROP_BACKENDS)
@pytest.mark.parametrize(
    ("text", "position", "equivalent", "mlmd_fails_on"),
    [
        # equivalent: a filter tracker runs that selects what the function does where the database has it
        ("STARTS_WITH(uri, 'gs://')", 0, "uri LIKE 'gs://%'", ["sqlite"]),
        ("id > 0 AND SUBSTR(name, 1, 5) = 'model'", 11, "name LIKE 'model%'", []),
        ("ABS(properties.mean.double_value) < 1", 0,
         "properties.mean.double_value > -1 AND properties.mean.double_value < 1", []),
        ("COALESCE(name, 'x') = 'x'", 0, "name IS NULL OR name = 'x'", []),
        ("name = 'x' OR CONCAT(name, uri) = 'y'", 14, "id < 0", ["sqlite"]),
        ("REGEXP_CONTAINS(name, 'x')", 0, None, ["sqlite", "postgresql"]),
    ],
)  # fmt: skip
def test_d4_only_lower_upper_length(
    stores: Callable[[str], Built],
    backend: str,
    text: str,
    position: int,
    equivalent: str | None,
    mlmd_fails_on: list[str],
) -> None:
    """D4: tracker refuses other functions when it parses the filter; ml-metadata hands them to the database."""
    built = stores(backend)
    with pytest.raises(FilterError) as raised:
        built.tracker.get_artifacts(text)
    assert (raised.value.filter, raised.value.position) == (text, position)
    assert "LENGTH, LOWER, UPPER" in raised.value.expected
    if backend in mlmd_fails_on:  # the database lacks the function: an error when the query runs
        with pytest.raises(mlmd_errors.InternalError):
            built.mlmd_ids("artifacts", text)
    else:
        assert equivalent is not None
        assert built.mlmd_ids("artifacts", text) == built.tracker_ids("artifacts", equivalent)


@pytest.mark.parametrize("backend", INTEROP_BACKENDS)
def test_d5_no_cap_on_starting_nodes(stores: Callable[[str], Built], backend: str) -> None:
    """D5: ml-metadata silently keeps 101 starting nodes; tracker starts from every match."""
    built = stores(backend)
    text = "type = 'Model' AND id < 1000"
    models = built.mlmd_ids("artifacts", text)
    assert len(models) > 101
    options = pb.LineageSubgraphQueryOptions(max_num_hops=0)
    options.starting_artifacts.filter_query = text
    assert sorted(a.id for a in built.mlmd.get_lineage_subgraph(options).artifacts) == models[:101]
    assert [a.id for a in built.tracker.get_lineage(artifacts=text, max_hops=0).artifacts] == models
    ids = built.tracker.get_lineage(artifacts=models, max_hops=0).artifacts
    assert [a.id for a in ids] == models


@pytest.mark.parametrize("backend", INTEROP_BACKENDS)
def test_d5_no_cap_on_hops(backend: str, tmp_path_factory: pytest.TempPathFactory) -> None:
    """D5: ml-metadata walks at most 100 hops, whatever it is asked; tracker walks as far as asked, or all the way."""
    # the corpus is shallower than 100 hops: this needs a chain of 60 steps, 120 hops
    with fresh_database(backend, tmp_path_factory.mktemp("chain")) as url, tracker.connect(url) as store:
        store.put_artifact_type(ArtifactType("Data"))
        store.put_execution_type(ExecutionType("Step"))
        [previous] = store.put_artifacts([Artifact(type="Data", name="a0")])
        for i in range(1, 61):
            new = Artifact(type="Data", name=f"a{i}")
            _, (_, previous), _ = store.put_execution(
                Execution(type="Step"), [(previous, Event(type=EventType.INPUT)), (new, Event(type=EventType.OUTPUT))]
            )
        mlmd = metadata_store.MetadataStore(mlmd_config(backend, url))
        for hops in (100, 150, 1000):
            options = pb.LineageSubgraphQueryOptions(max_num_hops=hops, direction=DIRECTIONS["downstream"])
            options.starting_artifacts.filter_query = "name = 'a0'"
            graph = mlmd.get_lineage_subgraph(options)
            assert (len(graph.artifacts), len(graph.executions)) == (51, 50)
        del mlmd, graph
        gc.collect()
        for max_hops, reached in ((100, 51), (150, 61), (None, 61)):
            found = store.get_lineage(artifacts="name = 'a0'", direction="downstream", max_hops=max_hops)
            assert (len(found.artifacts), len(found.executions)) == (reached, reached - 1)
