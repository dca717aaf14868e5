"""Commands on jobs that have not started: hold, release, start, edit."""

from __future__ import annotations

import sys
import time
from typing import Any

import click

from queuectl.cli.completion import complete_job_ids
from queuectl.cli.context import Ctx, clean, emit_json, json_option, parse_duration_option, parse_env_pairs, pass_ctx
from queuectl.core.errors import InvalidInput


@click.command()
@click.argument("job_ids", nargs=-1, required=True, shell_complete=complete_job_ids)
@json_option
@pass_ctx
def hold(ctx: Ctx, job_ids: tuple[str, ...], as_json: bool) -> None:
    """Keep waiting jobs from running until released (enqueue --hold adds a job held).

    \b
    Example:
      queuectl hold build-7 build-8
    """
    ids = ctx.api().hold(job_ids)
    emit_json({"held": ids}) if as_json else click.echo("\n".join(f"held {clean(i)}" for i in ids))


@click.command()
@click.argument("job_ids", nargs=-1, required=True, shell_complete=complete_job_ids)
@json_option
@pass_ctx
def release(ctx: Ctx, job_ids: tuple[str, ...], as_json: bool) -> None:
    """Let held jobs run again.

    \b
    Example:
      queuectl release build-7
    """
    ids = ctx.api().release(job_ids)
    emit_json({"released": ids}) if as_json else click.echo("\n".join(f"released {clean(i)}" for i in ids))


@click.command()
@click.argument("job_ids", nargs=-1, required=True, shell_complete=complete_job_ids)
@json_option
@pass_ctx
def start(ctx: Ctx, job_ids: tuple[str, ...], as_json: bool) -> None:
    """Make waiting jobs due now: a retry's back-off, a later run_at and a hold are skipped.

    They still wait for the jobs they run after and for room in their queue.

    \b
    Example:
      queuectl start build-7
    """
    ids = ctx.api().start_now(job_ids)
    emit_json({"started": ids}) if as_json else click.echo("\n".join(f"due now: {clean(i)}" for i in ids))


@click.command()
@click.argument("job_id", shell_complete=complete_job_ids)
@click.option("--command", "-C", "command", help="The new shell command.")
@click.option("--priority", "-p", type=int, help="The new priority.")
@click.option("--queue", "-q", "queue_name", help="Move it to this queue.")
@click.option("--timeout", help="The new timeout (seconds or 30s/5m/2h); 0 = none.")
@click.option("--max-retries", type=int, help="The new number of retries after the first run.")
@click.option("--env", "-e", "env_pairs", multiple=True, metavar="KEY=VALUE",
              help="Add or change an environment variable (KEY= removes it); repeatable.")
@click.option("--run-at", help="Not before this time: ISO-8601 (UTC unless an offset is given) or epoch seconds.")
@click.option("--delay", "-d", help="Not before this long from now: 90, 30s, 5m, 2h, 1d.")
@click.option("--label", help="The new label.")
@json_option
@pass_ctx
def edit(ctx: Ctx, job_id: str, command: str | None, priority: int | None, queue_name: str | None,
         timeout: str | None, max_retries: int | None, env_pairs: tuple[str, ...], run_at: str | None,
         delay: str | None, label: str | None, as_json: bool) -> None:
    """Change a job that has not started (pending, or failed and waiting for its retry).

    With no option, on a terminal, the command opens in $EDITOR.

    \b
    Examples:
      queuectl edit build-7 --priority 10 --queue gpu
      queuectl edit build-7 --command 'make -j4 test' --timeout 10m
      queuectl edit build-7                  # the command, in $EDITOR
    """
    if run_at is not None and delay is not None:
        raise InvalidInput("give --run-at or --delay, not both")
    api = ctx.api()
    changes: dict[str, Any] = {}
    for key, value in (("command", command), ("priority", priority), ("queue", queue_name),
                       ("max_retries", max_retries), ("run_at", run_at), ("label", label)):
        if value is not None:
            changes[key] = value
    if timeout is not None:
        changes["timeout"] = parse_duration_option("--timeout", timeout)
    if delay is not None:
        changes["run_at"] = time.time() + (parse_duration_option("--delay", delay) or 0.0)
    if env_pairs:
        env = dict(api.job(job_id).env or {})
        for key, value in parse_env_pairs(env_pairs):
            if value:
                env[key] = value
            else:
                env.pop(key, None)
        changes["env"] = env
    if not changes:
        if not (sys.stdin.isatty() and sys.stdout.isatty()):
            raise InvalidInput("nothing to change: give --command, --priority, --queue, --timeout, --max-retries, "
                               "--env, --run-at, --delay or --label (or run it on a terminal to edit the command)")
        current = api.job(job_id).command
        edited = click.edit(current, extension=".sh")
        if edited is None or edited.rstrip("\n") == current:
            click.echo("unchanged", err=True)
            return
        changes["command"] = edited.rstrip("\n")
    job = api.edit(job_id, changes)
    if as_json:
        emit_json(job.to_json())
    else:
        click.echo(f"edited {clean(job.id)}: " + ", ".join(sorted(changes)))


COMMANDS = [hold, release, start, edit]
