"""`dlq`: the dead-letter queue's commands."""

from __future__ import annotations

import time

import click

from queuectl.cli import table as render
from queuectl.cli.completion import complete_job_ids
from queuectl.cli.context import Ctx, Group, clean, emit_json, json_option, pass_ctx
from queuectl.core.errors import InvalidInput


@click.group(cls=Group)
def dlq() -> None:
    """The dead-letter queue: jobs that used up their retries.

    \b
    Examples:
      queuectl dlq list
      queuectl dlq retry --all
    """


@dlq.command("list")
@click.option("--limit", "-n", type=click.IntRange(1, 100_000), default=50, show_default=True)
@json_option
@pass_ctx
def dlq_list(ctx: Ctx, limit: int, as_json: bool) -> None:
    """Dead jobs with their last error.

    \b
    Example:
      queuectl dlq list
    """
    from queuectl.core.states import JobState

    jobs = ctx.api().list_jobs(state=JobState.DEAD, limit=limit)
    if as_json:
        emit_json([j.to_json() for j in jobs])
        return
    if not jobs:
        click.echo("the DLQ is empty")
        return
    now = time.time()
    click.echo(render.table(
        ["ID", "RUNS", "DIED", "EXIT", "LAST ERROR", "COMMAND"],
        [[clean(j.id), str(j.attempts), render.age(j.finished_at, now),
          "-" if j.exit_code is None else str(j.exit_code), clean(j.last_error or "-"),
          clean(j.command)] for j in jobs],
        shrink=5,
    ))


@dlq.command("retry")
@click.argument("job_ids", nargs=-1, shell_complete=complete_job_ids)
@click.option("--all", "retry_all", is_flag=True, help="Retry every dead job.")
@json_option
@pass_ctx
def dlq_retry(ctx: Ctx, job_ids: tuple[str, ...], retry_all: bool, as_json: bool) -> None:
    """Put dead jobs back to pending with attempts reset.

    \b
    Examples:
      queuectl dlq retry build-1
      queuectl dlq retry --all
    """
    if retry_all == bool(job_ids):
        raise InvalidInput("give job ids or --all (not both)")
    api = ctx.api()
    if retry_all:
        n = api.retry_all_dead()
        emit_json({"retried": n}) if as_json else click.echo(f"retried {n} dead job(s)")
        return
    ids = api.retry(job_ids, only_dead=True)
    emit_json({"retried": ids}) if as_json else click.echo("\n".join(f"retried {i}" for i in ids))


@dlq.command("delete")
@click.argument("job_ids", nargs=-1, required=True, shell_complete=complete_job_ids)
@json_option
@pass_ctx
def dlq_delete(ctx: Ctx, job_ids: tuple[str, ...], as_json: bool) -> None:
    """Remove dead jobs.

    \b
    Example:
      queuectl dlq delete build-1
    """
    ids = ctx.api().delete(job_ids, only_dead=True)
    emit_json({"deleted": ids}) if as_json else click.echo("\n".join(f"deleted {i}" for i in ids))


@dlq.command("purge")
@json_option
@pass_ctx
def dlq_purge(ctx: Ctx, as_json: bool) -> None:
    """Remove every dead job.

    \b
    Example:
      queuectl dlq purge
    """
    from queuectl.core.states import JobState

    n = ctx.api().purge([JobState.DEAD])
    emit_json({"purged": n}) if as_json else click.echo(f"purged {n} dead job(s)")
