"""``tracker lineage`` and the seven questions: datasets, params, metrics, run-of, models, compare, env."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from tracker.cli._output import cell, common, emit, errors, node_dict, opened, table, when
from tracker.cli.browse import find, find_run

if TYPE_CHECKING:
    from tracker.query import Graph, Lineage
    from tracker.store import Artifact, Store

FORMATS = ("text", "mermaid", "dot", "json", "html")


def _lineage(store: Store, artifact_id: int) -> Lineage:
    from tracker.query import lineage

    return lineage(artifact_id, store=store)


def _artifact_rows(found: list[Artifact]) -> None:
    from tracker.cli.browse import where

    table(["id", "type", "name", "uri", "properties", "created"],
          [[a.id, a.type, a.name, where(a), a.properties or None, when(a.create_time_since_epoch)]
           for a in found])  # fmt: skip


@click.command()
@click.argument("ref")
@click.option("--execution", "of_execution", is_flag=True, help="REF is an execution id (default: an artifact id).")
@click.option("--run", "of_run", is_flag=True, help="REF is a run (its name or id).")
@click.option("--direction", type=click.Choice(["upstream", "downstream", "both"]), default="both", show_default=True)
@click.option("--hops", type=click.IntRange(min=0), default=None, help="How far to walk (default: all the way).")
@click.option("--type", "types", multiple=True, metavar="TYPE", help="Keep only nodes of this type (repeatable).")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="text", show_default=True)
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), help="Write to this file.")
@common
def lineage(
    ref: str,
    of_execution: bool,
    of_run: bool,
    direction: str,
    hops: int | None,
    types: tuple[str, ...],
    fmt: str,
    output: Path | None,
) -> None:
    """The lineage graph of an artifact (or, with --execution or --run, of an execution or a run),
    as text, Mermaid, Graphviz DOT, JSON or a self-contained HTML page."""
    from tracker.query import Lineage

    kind = "run" if of_run else "execution" if of_execution else "artifact"
    with opened() as store:
        lin = Lineage(store, find(store, kind, ref))
        graph = lin.graph(direction, max_hops=hops, types=list(types) or None)
    if fmt == "text" and state_json():
        fmt = "json"
    if fmt == "html":
        rendered = graph.to_html(title=f"lineage of {kind} {ref}")
    elif fmt == "text":
        rendered = _text(graph)
    else:
        rendered = {"mermaid": graph.to_mermaid, "dot": graph.to_dot, "json": graph.to_json}[fmt]()
    if output is not None:
        output.write_text(rendered, encoding="utf-8")
        click.echo(f"wrote {output} ({len(graph)} nodes, {len(graph.events)} events)", err=True)
    else:
        click.echo(rendered, nl=not rendered.endswith("\n"))


def state_json() -> bool:
    from tracker.cli._output import state

    return state().json


def _text(graph: Graph) -> str:
    by_key = {n.key: n for n in graph.nodes}
    lines = []
    for node in graph.nodes:
        mark = "*" if node.focus else " "
        lines.append(f"{mark} {node.key:>6}  {node.label}  {node.state.lower()}")
    lines.append("")
    for edge in graph.edges:
        label = edge.path or edge.type.lower()
        lines.append(f"  {by_key[edge.source].label} --{label}--> {by_key[edge.target].label}")
    return "\n".join(lines) + "\n"


# --- the seven questions ---


@click.command()
@click.argument("artifact_id", type=int)
@common
def datasets(artifact_id: int) -> None:
    """Which data sets an artifact (a model) was made from (question 1)."""
    with opened() as store:
        found = _lineage(store, artifact_id).datasets()
    emit([node_dict(a) for a in found], lambda: _artifact_rows(found))


@click.command()
@click.argument("artifact_id", type=int)
@common
def params(artifact_id: int) -> None:
    """The hyperparameters of the step that made an artifact (question 2)."""
    with opened() as store:
        lin = _lineage(store, artifact_id)
        found, producer = lin.params, lin.producer
    payload = {"execution_id": producer.id if producer else None, "params": found}
    emit(payload, lambda: table(["param", "value"], sorted(found.items())))


@click.command()
@click.argument("artifact_id", type=int)
@common
def metrics(artifact_id: int) -> None:
    """The metrics of an artifact (a model), from its step and its evaluations (question 3)."""
    with opened() as store:
        lin = _lineage(store, artifact_id)
        found, sources = lin.metrics, [a.id for a in lin.metric_artifacts]
    emit({"metrics": found, "metric_artifacts": sources}, lambda: table(["metric", "value"], sorted(found.items())))


@click.command("run-of")
@click.argument("artifact_id", type=int)
@common
def run_of(artifact_id: int) -> None:
    """The run (and pipeline) that made an artifact (question 4)."""
    with opened() as store:
        lin = _lineage(store, artifact_id)
        run, pipeline = lin.run, lin.pipeline
    payload = {"run": node_dict(run) if run else None, "pipeline": node_dict(pipeline) if pipeline else None}

    def text() -> None:
        if run is None:
            click.echo("(no run: the artifact was recorded outside any run)")
            return
        status = run.custom_properties.get("tracker_status")
        click.echo(f"run #{run.id} {run.name} ({cell(status)}), started {when(run.create_time_since_epoch)}")
        if pipeline is not None:
            click.echo(f"pipeline #{pipeline.id} {pipeline.name}")

    emit(payload, text)


@click.command()
@click.argument("dataset_id", type=int)
@common
def models(dataset_id: int) -> None:
    """The models made from a data set (question 5: which other models used this data?)."""
    with opened() as store:
        found = _lineage(store, dataset_id).models()
    emit([node_dict(a) for a in found], lambda: _artifact_rows(found))


@click.command()
@click.argument("refs", nargs=-1, required=True)
@click.option("--artifacts", "of_artifacts", is_flag=True, help="REFS are artifact ids (default: runs).")
@click.option("--diff", is_flag=True, help="Only the rows that differ.")
@common
def compare(refs: tuple[str, ...], of_artifacts: bool, diff: bool) -> None:
    """Runs (names or ids) or artifacts side by side: params, metrics, environment (question 6)."""
    from tracker.query import Lineage
    from tracker.query.comparison import compare as compare_lineages

    with opened() as store:
        records = [find(store, "artifact", r) if of_artifacts else find_run(store, r) for r in refs]
        with errors():
            result = compare_lineages([Lineage(store, r) for r in records])
    if diff:
        result = result.differences()
    emit({"columns": result.columns, "rows": result.to_dicts()}, lambda: click.echo(str(result)))


@click.command()
@click.argument("artifact_id", type=int)
@common
def env(artifact_id: int) -> None:
    """Package versions, python, platform, code and git commit of the step that made an artifact (question 7)."""
    with opened() as store:
        found = _lineage(store, artifact_id).environment
    packages = found.get("packages", {})

    def text() -> None:
        table(["fact", "value"], [[k, v] for k, v in found.items() if k != "packages"])
        if packages:
            click.echo()
            table(["package", "version"], sorted(packages.items()))

    emit(found, text)
