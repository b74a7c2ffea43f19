"""What the commands share: opening the store, options, tables, JSON and errors.

Imports stay light here: the store, SQLAlchemy and the SDK are imported by a
command when it runs, so that ``tracker --help`` starts at once.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, TypeVar

import click

if TYPE_CHECKING:
    from tracker.store import Artifact, Context, Execution, Store

F = TypeVar("F", bound=Callable[..., Any])

STATE_COLOURS = {
    "COMPLETE": "green",
    "CACHED": "green",
    "LIVE": "green",
    "complete": "green",
    "RUNNING": "yellow",
    "running": "yellow",
    "NEW": "yellow",
    "PENDING": "yellow",
    "FAILED": "red",
    "failed": "red",
    "CANCELED": "red",
    "canceled": "red",
    "ABANDONED": "red",
    "DELETED": "bright_black",
    "MARKED_FOR_DELETION": "bright_black",
}


class State:
    """The options every command takes: where the store is, and whether to print JSON."""

    def __init__(self) -> None:
        self.url: str | None = None
        self.json = False


def _remember(name: str) -> Callable[[click.Context, click.Parameter, Any], Any]:
    def callback(ctx: click.Context, _param: click.Parameter, value: Any) -> Any:
        state = ctx.ensure_object(State)
        if value not in (None, False):
            setattr(state, name, value)
        return value

    return callback


def common(fn: F) -> F:
    """Add ``--store`` and ``--json`` to a command (they work before or after the command name)."""
    fn = click.option(
        "--json",
        "as_json",
        is_flag=True,
        expose_value=False,
        callback=_remember("json"),
        help="Print JSON, for scripts.",
    )(fn)
    fn = click.option(
        "--store",
        "url",
        metavar="URL",
        expose_value=False,
        callback=_remember("url"),
        help="Store URL or SQLite path (default: $TRACKER_URL, else ./.tracker/mlmd.sqlite).",
    )(fn)
    return fn


def state() -> State:
    return click.get_current_context().ensure_object(State)


@contextmanager
def opened() -> Iterator[Store]:
    """The store the options name; TrackerErrors become one clean error line."""
    import tracker

    with errors():
        store = tracker.connect(state().url)
        try:
            yield store
        finally:
            store.close()


@contextmanager
def errors() -> Iterator[None]:
    from tracker.errors import TrackerError

    try:
        yield
    except TrackerError as exc:
        raise click.ClickException(str(exc)) from None


def emit(data: Any, text: Callable[[], None]) -> None:
    """Print *data* as JSON with ``--json``, else call *text* to print it for people."""
    if state().json:
        click.echo(json.dumps(data, indent=2, default=str, ensure_ascii=False))
    else:
        text()


def when(millis: int | None) -> str:
    if not millis:
        return "-"
    return dt.datetime.fromtimestamp(millis / 1000).strftime("%Y-%m-%d %H:%M:%S")


def cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, dict):
        return ", ".join(f"{k}={cell(v)}" for k, v in value.items())
    return str(value)


def table(header: Sequence[str], rows: Sequence[Sequence[Any]], *, state_column: str | None = None) -> None:
    """Columns fitted to the terminal; colours on a terminal only (click drops them in a pipe)."""
    if not rows:
        click.echo("(none)")
        return
    cells = [[cell(v) for v in row] for row in rows]
    width = shutil.get_terminal_size((120, 24)).columns if sys.stdout.isatty() else 10_000
    widths = [max(len(str(h)), *(len(r[i]) for r in cells)) for i, h in enumerate(header)]
    while sum(widths) + 2 * (len(widths) - 1) > width and max(widths) > 12:  # shrink the widest column
        widths[widths.index(max(widths))] -= 1
    click.echo(click.style("  ".join(str(h).ljust(w) for h, w in zip(header, widths, strict=True)).rstrip(), bold=True))
    colour_at = list(header).index(state_column) if state_column and state_column in header else -1
    for row in cells:
        parts = []
        for i, (value, w) in enumerate(zip(row, widths, strict=True)):
            shown = value if len(value) <= w else value[: max(w - 1, 0)] + "…"
            shown = shown.ljust(w)
            if i == colour_at and value in STATE_COLOURS:
                shown = click.style(shown, fg=STATE_COLOURS[value])
            parts.append(shown)
        click.echo("  ".join(parts).rstrip())


def node_dict(node: Artifact | Execution | Context) -> dict[str, Any]:
    """A record as JSON-ready data (tracker's inline values left out)."""
    from tracker.query.export import properties_of

    out: dict[str, Any] = {
        "id": node.id,
        "type": node.type,
        "name": node.name,
        "external_id": node.external_id,
        "create_time_since_epoch": node.create_time_since_epoch,
        "last_update_time_since_epoch": node.last_update_time_since_epoch,
        **properties_of(node),
    }
    for attr in ("uri", "state", "last_known_state"):
        if hasattr(node, attr):
            value = getattr(node, attr)
            out[attr] = value.name if hasattr(value, "name") else value
    return out


def paged(fn: F) -> F:
    """Options of the listing commands."""
    for decorator in reversed(
        [
            click.argument("filter_text", metavar="[FILTER]", required=False),
            click.option("--limit", type=click.IntRange(min=1), default=20, show_default=True, help="Rows per page."),
            click.option("--page-token", metavar="TOKEN", help="Continue after the page that printed this token."),
            click.option("--all", "all_rows", is_flag=True, help="Every row, however many (no pages)."),
            click.option(
                "--order",
                type=click.Choice(["create_time", "last_update_time", "id"]),
                default="create_time",
                show_default=True,
            ),
            click.option("--asc", is_flag=True, help="Oldest first (default: newest first)."),
        ]
    ):
        fn = decorator(fn)
    return fn
