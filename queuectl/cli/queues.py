"""Queue commands: queue list, queue set NAME --limit N, queue pause NAME, queue resume NAME."""

from __future__ import annotations

import click

from queuectl.cli import table as render
from queuectl.cli.context import Ctx, clean, emit_json, json_option, pass_ctx, use_colour
from queuectl.cli.hooks import hook_options


@click.group("queue")
def queue_group() -> None:
    """Queues: their jobs per state, a limit on how many run at once, a pause of their own.

    A queue is made when a job first names it (or when set or paused here); its limit and pause
    persist, and hold across every worker and host.

    \b
    Examples:
      queuectl queue list
      queuectl queue set gpu --limit 1
      queuectl queue pause media && queuectl queue resume media
    """


@queue_group.command("list")
@json_option
@pass_ctx
def queue_list(ctx: Ctx, as_json: bool) -> None:
    """Every queue: running/limit, paused, jobs per state, how long its oldest due job has waited.

    \b
    Example:
      queuectl queue list --json
    """
    infos = ctx.api().queues()
    if as_json:
        emit_json([info.to_json() for info in infos])
        return
    if not infos:
        click.echo("no queues yet (a queue is made when a job first names it)")
        return
    colour = use_colour()
    rows = [[
        clean(info.name), f"{info.running}/{info.limit}" if info.limit else str(info.running),
        render.paint("paused", "33", colour) if info.paused else "-",
        *(f"{info.counts[state]:,}" for state in ("pending", "failed", "completed", "dead", "cancelled")),
        render.duration(info.oldest_wait) if info.oldest_wait is not None else "-",
    ] for info in infos]
    click.echo(render.table(
        ["QUEUE", "RUNNING", "PAUSED", "PENDING", "FAILED", "COMPLETED", "DEAD", "CANCELLED", "OLDEST WAITING"], rows,
    ))


def _say(ctx: Ctx, row, as_json: bool, text: str) -> None:  # row: QueueRow
    if as_json:
        emit_json({"name": row.name, "limit": row.limit or None, "paused": row.paused, "running": row.running})
    else:
        click.echo(text)


@queue_group.command("set")
@click.argument("name")
@click.option("--limit", "limit", metavar="N",
              help="At most N of its jobs run at once, on all workers and hosts; 0 or none: no limit.")
@hook_options
@json_option
@pass_ctx
def queue_set(ctx: Ctx, name: str, limit: str | None, on_success: str | None, on_failure: str | None,
              on_dead: str | None, as_json: bool) -> None:
    """Set a queue's limit or hooks (made if it does not exist yet).

    A queue's hooks fire for every job of the queue, after the job's own; '' or none clears one.

    \b
    Examples:
      queuectl queue set gpu --limit 1
      queuectl queue set gpu --limit none
      queuectl queue set nightly --on-dead 'notify-send "$QUEUECTL_PARENT_ID is dead"'
    """
    from queuectl.core.errors import InvalidInput

    hooks = {k: (None if v.strip().lower() in ("", "none") else v)
             for k, v in (("on_success", on_success), ("on_failure", on_failure), ("on_dead", on_dead))
             if v is not None}
    if limit is None and not hooks:
        raise InvalidInput("nothing to set: give --limit N or a hook (--on-success, --on-failure, --on-dead CMD)")
    api = ctx.api()
    if hooks:
        api.set_queue_hooks(name, **hooks)  # checked (and refused whole) before the limit changes
    row = (api.set_queue_limit(name, limit) if limit is not None
           else api.queue_row(name) or api.set_queue_limit(name, "none"))
    set_hooks = api.queue_hooks(row.name)
    if as_json:
        emit_json({"name": row.name, "limit": row.limit or None, "paused": row.paused, "running": row.running,
                   **{k: v for k, v in set_hooks.to_json().items() if k != "queue"}})
        return
    where = f"at most {row.limit} of its jobs run at once" if row.limit else "no limit"
    said = [f"{k.replace('_', ' ')}: {clean(v)}" for k, v in set_hooks.to_json().items() if k != "queue" and v]
    click.echo(f"queue {clean(row.name)}: {where} ({row.running} running)" + (f"; {'; '.join(said)}" if said else ""))


@queue_group.command("pause")
@click.argument("name")
@json_option
@pass_ctx
def queue_pause(ctx: Ctx, name: str, as_json: bool) -> None:
    """Workers claim none of the queue's jobs until resumed (running ones finish).

    \b
    Example:
      queuectl queue pause media
    """
    row = ctx.api().pause_queue(name)
    _say(ctx, row, as_json, f"queue {clean(row.name)} paused: its jobs wait (queuectl queue resume {clean(row.name)})")


@queue_group.command("resume")
@click.argument("name")
@json_option
@pass_ctx
def queue_resume(ctx: Ctx, name: str, as_json: bool) -> None:
    """Let workers claim the queue's jobs again.

    \b
    Example:
      queuectl queue resume media
    """
    row = ctx.api().resume_queue(name)
    _say(ctx, row, as_json, f"queue {clean(row.name)} resumed")

