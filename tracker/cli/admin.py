"""``tracker delete``, ``tracker doctor`` and ``tracker recover``."""

from __future__ import annotations

import sys
from typing import Any

import click

from tracker.cli._output import common, emit, opened, state, table


def _impact(store: Any, kind: str, ids: list[int]) -> dict[str, Any]:
    """What deleting these records takes away: their events, links, and the neighbours that lose lineage."""
    found = getattr(store, f"get_{kind}s_by_id")(ids)
    missing = sorted(set(ids) - {int(r.id) for r in found})
    impact: dict[str, Any] = {"kind": kind, "ids": sorted(int(r.id) for r in found), "missing": missing}
    if kind == "artifact":
        events = store.get_events_by_artifact_ids(ids)
        impact["events"] = len(events)
        impact["executions_losing_an_input_or_output"] = sorted({e.execution_id for e in events})
        impact["context_links"] = sum(len(store.get_contexts_by_artifact(i)) for i in ids)
    elif kind == "execution":
        events = store.get_events_by_execution_ids(ids)
        impact["events"] = len(events)
        impact["artifacts_losing_their_producer_or_consumer"] = sorted({e.artifact_id for e in events})
        impact["context_links"] = sum(len(store.get_contexts_by_execution(i)) for i in ids)
    else:
        impact["artifact_links"] = sum(len(store.get_artifacts_by_context(i)) for i in ids)
        impact["execution_links"] = sum(len(store.get_executions_by_context(i)) for i in ids)
        impact["child_contexts"] = sorted({int(c.id) for i in ids for c in store.get_children_contexts_by_context(i)})
    return impact


def _describe(impact: dict[str, Any]) -> list[str]:
    kind = impact["kind"]
    lines = [f"{kind}s {', '.join(map(str, impact['ids'])) or '(none)'}"]
    if impact["missing"]:
        lines.append(f"not found (ignored): {', '.join(map(str, impact['missing']))}")
    for key, value in impact.items():
        if key in ("kind", "ids", "missing"):
            continue
        shown = ", ".join(map(str, value)) if isinstance(value, list) else str(value)
        lines.append(f"{key.replace('_', ' ')}: {shown or 'none'}")
    return lines


@click.command()
@click.argument("kind", type=click.Choice(["artifact", "execution", "context"]))
@click.argument("ids", type=int, nargs=-1, required=True)
@click.option(
    "--dry-run", is_flag=True, help="Say what would be deleted and what lineage would be lost; change nothing."
)
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@common
def delete(kind: str, ids: tuple[int, ...], dry_run: bool, yes: bool) -> None:
    """Delete artifacts, executions or contexts with their properties, events and links.

    Deleting cuts the lineage graph: --dry-run says which neighbours lose an edge.
    Stored values are not deleted.
    """
    wanted = list(dict.fromkeys(ids))
    with opened() as store:
        impact = _impact(store, kind, wanted)
        if dry_run:
            emit({"dry_run": True, **impact}, lambda: click.echo("would delete " + "\n".join(_describe(impact))))
            return
        if not impact["ids"]:
            raise click.ClickException(f"no {kind} with id {', '.join(map(str, wanted))}: nothing deleted")
        if not yes:
            if state().json or not sys.stdin.isatty():
                raise click.ClickException("deleting needs --yes when not asked at a terminal (or use --dry-run)")
            click.echo("will delete " + "\n".join(_describe(impact)))
            click.confirm("delete?", abort=True)
        getattr(store, f"delete_{kind}s")(impact["ids"])
    emit({"dry_run": False, **impact}, lambda: click.echo("deleted " + "\n".join(_describe(impact))))


@click.command()
@common
def doctor() -> None:
    """The store's URL, backend and versions, SQLite's journal mode, and how many records it holds."""
    import os

    with opened() as store:
        info = store.info()
    # where steps put values unless configured otherwise ($TRACKER_VALUES, else beside the default store)
    info["default_values"] = os.path.abspath(os.environ.get("TRACKER_VALUES") or os.path.join(".tracker", "values"))

    def text() -> None:
        rows: list[list[Any]] = [[k, v] for k, v in info.items() if k != "counts" and v is not None]
        rows += [[f"{name}", count] for name, count in info["counts"].items()]
        table(["fact", "value"], rows)

    emit(info, text)


@click.command()
@click.option("--stale-after", type=float, default=None, metavar="SECONDS",
              help="Abandon another host's records after this long without a heartbeat (default 600).")  # fmt: skip
@click.option("--dry-run", is_flag=True, help="Say what would be marked; change nothing.")
@common
def recover(stale_after: float | None, dry_run: bool) -> None:
    """Mark the steps and runs left RUNNING by a process that died as CANCELED, with the reason.

    A record of this host is abandoned when its process has ended (a live one never is); a record
    of another host when its heartbeat stopped for --stale-after seconds. Tracker also does this
    when a process first records into the store.
    """
    from tracker.sdk._liveness import recover as recover_store

    with opened() as store:
        found = recover_store(store, stale_after=stale_after, dry_run=dry_run)
    data = {
        "dry_run": dry_run,
        "executions": [{"id": i, "reason": reason} for i, reason in found.executions],
        "runs": [{"id": i, "reason": reason} for i, reason in found.runs],
    }

    def text() -> None:
        verb = "would mark" if dry_run else "marked"
        if not found.executions and not found.runs:
            click.echo("nothing to recover: no RUNNING record of a process that is gone")
        for kind, rows in (("execution", found.executions), ("run", found.runs)):
            for i, reason in rows:
                click.echo(f"{verb} {kind} {i} CANCELED: {reason}")

    emit(data, text)
