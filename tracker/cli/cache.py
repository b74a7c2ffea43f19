"""``tracker cache explain`` and ``tracker cache clear``: why a step call reused a result or ran; forgetting."""

from __future__ import annotations

import click

from tracker.cli._output import common, emit, opened


@click.group()
def cache() -> None:
    """Explain and clear the results cached steps reuse (see docs/caching.md)."""


@cache.command()
@click.argument("execution_id", type=int)
@common
def explain(execution_id: int) -> None:
    """Why execution EXECUTION_ID reused an earlier result, or why it ran: what differs from earlier calls.

    The reasons are the key's parts: the code (which function), an argument (which), the
    environment (which package), the salt; or a reusable call that failed, expired, was
    invalidated, or lost an output.
    """
    from tracker.sdk.explain import explain_execution

    with opened() as store:
        found = explain_execution(store, execution_id)
    data = {
        "execution_id": execution_id,
        "hit": found.hit,
        "reason": found.reason,
        "key": found.key,
        "compared_with": found.execution_id,
        "differences": [
            {"component": d.component, "name": d.name, "before": d.before, "after": d.after} for d in found.differences
        ],
    }
    emit(data, lambda: click.echo(str(found)))


@cache.command()
@click.argument("step")
@click.option("--dry-run", is_flag=True, help="Say how many results would be forgotten; change nothing.")
@common
def clear(step: str, dry_run: bool) -> None:
    """Forget the cached results of STEP (its step name), so its next calls run.

    The executions stay, with their lineage; they are only no longer reused.
    """
    from tracker.sdk.explain import invalidate_cache

    with opened() as store:
        count = invalidate_cache(step, store=store, dry_run=dry_run)
    verb = "would forget" if dry_run else "forgot"
    emit({"step": step, "dry_run": dry_run, "forgotten": count},
         lambda: click.echo(f"{verb} {count} cached result{'s' if count != 1 else ''} of step {step!r}"))  # fmt: skip
