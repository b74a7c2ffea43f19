"""``tracker runs | executions | artifacts | contexts | show``: what the store holds."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from tracker.cli._output import cell, common, emit, node_dict, opened, paged, table, when

if TYPE_CHECKING:
    from tracker.store import Artifact, Context, Execution, Store

RUN_FILTER = "type = 'Run'"


def combined(base: str | None, user: str | None) -> str | None:
    """Both filters, each in parentheses; either may be missing."""
    parts = [f"({p})" for p in (base, user) if p and p.strip()]
    return " AND ".join(parts) if parts else None


def _list(kind: str, text: str | None, limit: int, token: str | None, all_rows: bool, order: str, asc: bool) -> Any:
    """(items, next page token) of a listing."""
    with opened() as store:
        if all_rows:
            return getattr(store, f"get_{kind}s")(text, order_by=order, descending=not asc), None
        page = getattr(store, f"list_{kind}s")(
            text, order_by=order, descending=not asc, page_size=limit, page_token=token
        )
        return page.items, page.next_page_token


def _print_page(payload: dict[str, Any], header: list[str], rows: list[list[Any]], state_column: str) -> None:
    def text() -> None:
        table(header, rows, state_column=state_column)
        if payload["next_page_token"]:
            click.echo(click.style(f"more: --page-token {payload['next_page_token']}", dim=True))

    emit(payload, text)


@click.command()
@paged
@common
def runs(filter_text: str | None, limit: int, page_token: str | None, all_rows: bool, order: str, asc: bool) -> None:
    """List runs, newest first. FILTER narrows them (the store's filter language, see docs/queries.md),
    for example: tracker runs "custom_properties.tracker_status.string_value = 'failed'"."""
    items, token = _list("context", combined(RUN_FILTER, filter_text), limit, page_token, all_rows, order, asc)
    rows = [
        [c.id, c.name, c.custom_properties.get("tracker_status"), c.custom_properties.get("tracker_pipeline"),
         when(c.create_time_since_epoch)]
        for c in items
    ]  # fmt: skip
    payload = {"items": [node_dict(c) for c in items], "next_page_token": token}
    _print_page(payload, ["id", "name", "status", "pipeline", "created"], rows, "status")


@click.command()
@paged
@common
def executions(
    filter_text: str | None, limit: int, page_token: str | None, all_rows: bool, order: str, asc: bool
) -> None:
    """List executions (step calls), newest first, for example: tracker executions "last_known_state = FAILED"."""
    items, token = _list("execution", filter_text, limit, page_token, all_rows, order, asc)
    rows = [[e.id, e.type, e.name, e.last_known_state.name, when(e.create_time_since_epoch)] for e in items]
    payload = {"items": [node_dict(e) for e in items], "next_page_token": token}
    _print_page(payload, ["id", "type", "name", "state", "created"], rows, "state")


def where(artifact: Artifact) -> str | None:
    if artifact.uri:
        return artifact.uri
    return "(in the store)" if "tracker_value" in artifact.custom_properties else None


@click.command()
@paged
@common
def artifacts(
    filter_text: str | None, limit: int, page_token: str | None, all_rows: bool, order: str, asc: bool
) -> None:
    """List artifacts (data, models, metrics), newest first, for example: tracker artifacts "type = 'Metrics'"."""
    items, token = _list("artifact", filter_text, limit, page_token, all_rows, order, asc)
    rows = [[a.id, a.type, a.name, where(a), a.state.name, when(a.create_time_since_epoch)] for a in items]
    payload = {"items": [node_dict(a) for a in items], "next_page_token": token}
    _print_page(payload, ["id", "type", "name", "uri", "state", "created"], rows, "state")


@click.command()
@paged
@common
def contexts(
    filter_text: str | None, limit: int, page_token: str | None, all_rows: bool, order: str, asc: bool
) -> None:
    """List contexts of every type (runs, pipelines, experiments), newest first."""
    items, token = _list("context", filter_text, limit, page_token, all_rows, order, asc)
    rows = [[c.id, c.type, c.name, when(c.create_time_since_epoch)] for c in items]
    payload = {"items": [node_dict(c) for c in items], "next_page_token": token}
    _print_page(payload, ["id", "type", "name", "created"], rows, "")


# --- show ---


def find_run(store: Store, ref: str) -> Context:
    """A run by its name, or by its context id."""
    from tracker.errors import NotFoundError

    if ref.isdigit():
        found = store.get_contexts_by_id([int(ref)])
        if found:
            return found[0]
    try:
        run = store.get_context_by_type_and_name("Run", ref)
    except NotFoundError:  # no run type yet: no runs
        run = None
    if run is None:
        raise NotFoundError(f"no run named or numbered {ref!r} in {store.url}; `tracker runs` lists them")
    return run


def find(store: Store, kind: str, ref: str) -> Artifact | Execution | Context:
    """The record of *kind* (artifact, execution, context or run) named by *ref* (an id, or a run's name)."""
    from tracker.errors import InvalidArgumentError, NotFoundError

    if kind == "run":
        return find_run(store, ref)
    if not ref.isdigit():
        raise InvalidArgumentError(f"{kind} ids are numbers, not {ref!r}")
    found = getattr(store, f"get_{kind}s_by_id")([int(ref)])
    if not found:
        raise NotFoundError(f"no {kind} with id {ref} in {store.url}")
    return found[0]  # type: ignore[no-any-return]


def _props(record: Artifact | Execution | Context, everything: bool) -> dict[str, Any]:
    shown = node_dict(record)
    props = dict(shown["properties"])
    props.update({k: v for k, v in shown["custom_properties"].items() if everything or not k.startswith("tracker_")})
    return props


@click.command()
@click.argument("kind", type=click.Choice(["artifact", "execution", "context", "run"]))
@click.argument("ref")
@click.option("--all", "everything", is_flag=True, help="Also tracker's own properties (tracker_*).")
@common
def show(kind: str, ref: str, everything: bool) -> None:
    """One artifact, execution, context or run (REF: an id, or a run's name): its properties, inputs and outputs."""
    from tracker.store import Artifact, Execution

    with opened() as store:
        record = find(store, kind, ref)
        rid = int(record.id or 0)
        links: dict[str, Any] = {}
        if isinstance(record, Artifact):
            events = store.get_events_by_artifact_ids([rid])
            links["events"] = [
                {"execution_id": e.execution_id, "type": e.type.name, "path": ".".join(map(str, e.path))}
                for e in events
            ]
            links["contexts"] = [{"id": c.id, "type": c.type, "name": c.name}
                                 for c in store.get_contexts_by_artifact(rid)]  # fmt: skip
        elif isinstance(record, Execution):
            events = store.get_events_by_execution_ids([rid])
            links["events"] = [
                {"artifact_id": e.artifact_id, "type": e.type.name, "path": ".".join(map(str, e.path))} for e in events
            ]
            links["contexts"] = [{"id": c.id, "type": c.type, "name": c.name}
                                 for c in store.get_contexts_by_execution(rid)]  # fmt: skip
        else:
            links["executions"] = [{"id": e.id, "type": e.type, "state": e.last_known_state.name}
                                   for e in store.get_executions_by_context(rid)]  # fmt: skip
            links["artifacts"] = [{"id": a.id, "type": a.type} for a in store.get_artifacts_by_context(rid)]
            links["parents"] = [{"id": c.id, "type": c.type, "name": c.name}
                                for c in store.get_parent_contexts_by_context(rid)]  # fmt: skip
    payload = {"kind": kind, **node_dict(record), **links}

    def text() -> None:
        title = f"{record.type} #{rid}" + (f" {record.name}" if record.name else "")
        click.echo(click.style(title, bold=True))
        for attr in ("uri", "state", "last_known_state", "external_id"):
            value = payload.get(attr)
            if value is not None:
                click.echo(f"  {attr}: {value}")
        click.echo(f"  created: {when(record.create_time_since_epoch)}")
        props = _props(record, everything)
        if props:
            click.echo(click.style("properties", bold=True))
            for name, value in sorted(props.items()):
                click.echo(f"  {name} = {cell(value)}")
        for name, rows in links.items():
            if rows:
                click.echo(click.style(name, bold=True))
                for row in rows:
                    click.echo("  " + "  ".join(f"{k}={cell(v)}" for k, v in row.items()))

    emit(payload, text)
