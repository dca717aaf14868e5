"""`schedule`: recurring jobs (cron or every N), enqueued by the workers, one job per slot."""

from __future__ import annotations

import os
import shlex
import time
from typing import Any

import click

from queuectl.cli import table as render
from queuectl.cli.context import (
    Ctx,
    Group,
    clean,
    emit_json,
    json_option,
    parse_duration_option,
    parse_env_pairs,
    pass_ctx,
)
from queuectl.cli.hooks import hook_options


@click.group(cls=Group)
def schedule() -> None:
    """Recurring jobs: a cron expression (in a time zone) or a fixed interval.

    Workers enqueue each due slot as one job (exactly one across all workers and hosts);
    slots missed while no worker ran make one catch-up job, not a burst.

    \b
    Examples:
      queuectl schedule add backup --cron '0 2 * * *' --tz Europe/Berlin -- ./backup.sh
      queuectl schedule add ping --every 30s -- curl -fsS https://example.org/health
      queuectl schedule list
    """


@schedule.command("add")
@click.argument("name")
@click.argument("words", nargs=-1, required=True, metavar="[--] CMD…")
@click.option("--cron", metavar="EXPR", help="Five-field cron expression, e.g. '*/5 * * * *' or '@daily'.")
@click.option("--tz", metavar="ZONE", help="Time zone of --cron (default UTC), e.g. Europe/Berlin.")
@click.option("--every", metavar="DURATION", help="Fixed interval instead of --cron: 30s, 5m, 2h, 1d.")
@click.option("--queue", "-q", "queue_name", help="Queue of its jobs (default 'default').")
@click.option("--priority", "-p", type=int, help="Priority of its jobs (default 0).")
@click.option("--timeout", help="Kill a run after this long (seconds or 30s/5m/2h); 0 = none.")
@click.option("--max-retries", type=int, help="Retries after the first run (default: config max_retries).")
@click.option("--cwd", help="Working directory (default: the current one).")
@click.option("--env", "-e", "env_pairs", multiple=True, metavar="KEY=VALUE", help="Environment variable; repeatable.")
@hook_options
@json_option
@pass_ctx
def schedule_add(ctx: Ctx, name: str, words: tuple[str, ...], cron: str | None, tz: str | None, every: str | None,
                 queue_name: str | None, priority: int | None, timeout: str | None, max_retries: int | None,
                 cwd: str | None, env_pairs: tuple[str, ...], on_success: str | None, on_failure: str | None,
                 on_dead: str | None, as_json: bool) -> None:
    """Add a schedule NAME running CMD; the first slot is the first one after now.

    Several words after -- are one command whose argv runs exactly as given; one word is a shell
    string (run by sh -c).

    \b
    Examples:
      queuectl schedule add nightly --cron '0 2 * * *' --tz Europe/Berlin -- ./backup.sh --full
      queuectl schedule add poll --every 30s -q io --timeout 20s 'curl -fsS localhost:8080/poll'
    """
    from queuectl.core.specs import spec_from_mapping

    fields: dict[str, Any] = {"command": words[0] if len(words) == 1 else shlex.join(words)}
    for key, value in (("queue", queue_name), ("priority", priority), ("max_retries", max_retries),
                       ("on_success", on_success), ("on_failure", on_failure), ("on_dead", on_dead)):
        if value is not None:
            fields[key] = value
    if timeout is not None:
        fields["timeout"] = parse_duration_option("--timeout", timeout)
    fields["cwd"] = os.path.normpath(os.path.join(os.getcwd(), cwd)) if cwd else os.getcwd()
    if env_pairs:
        fields["env"] = dict(parse_env_pairs(env_pairs))
    now = time.time()
    added = ctx.api(recover=False).add_schedule(name, spec_from_mapping(fields, now), cron=cron, tz=tz, every=every)
    if as_json:
        emit_json(added.to_json())
    else:
        click.echo(f"schedule {added.name} added ({added.when}); first run {_when(added.next_run_at, now)}")


def _when(ts: float | None, now: float) -> str:
    from queuectl.core.records import iso

    if ts is None:
        return "-"
    return f"{iso(ts)} ({render.age(ts, now)})"


def _last(s: Any, now: float) -> str:
    if s.last_run_at is None:
        return "-"
    state = s.last_job_state or "deleted"
    return f"{render.age(s.last_run_at, now)} ({clean(s.last_job_id or '-')} {state})"


@schedule.command("list")
@json_option
@pass_ctx
def schedule_list(ctx: Ctx, as_json: bool) -> None:
    """Schedules with their next and last run.

    \b
    Example:
      queuectl schedule list
    """
    schedules = ctx.api(recover=False).schedules()
    if as_json:
        emit_json([s.to_json() for s in schedules])
        return
    if not schedules:
        click.echo("no schedules (add one: queuectl schedule add NAME --every 5m -- CMD)")
        return
    now = time.time()
    click.echo(render.table(
        ["NAME", "WHEN", "NEXT", "LAST", "QUEUE", "COMMAND"],
        [[clean(s.name), clean(s.when), "paused" if s.paused else render.age(s.next_run_at, now), _last(s, now),
          clean(s.queue), clean(s.command)] for s in schedules],
        shrink=5,
    ))


@schedule.command("show")
@click.argument("name")
@json_option
@pass_ctx
def schedule_show(ctx: Ctx, name: str, as_json: bool) -> None:
    """One schedule: when it runs, its job's fields, its next and last run.

    \b
    Example:
      queuectl schedule show nightly
    """
    s = ctx.api(recover=False).schedule(name)
    if as_json:
        emit_json(s.to_json())
        return
    now = time.time()
    rows = [
        ("name", clean(s.name)), ("when", clean(s.when)), ("state", "paused" if s.paused else "active"),
        ("next run", "-" if s.paused else _when(s.next_run_at, now)),
        ("last run", "-" if s.last_run_at is None else f"{_when(s.last_run_at, now)}"),
        ("last job", "-" if s.last_job_id is None else f"{clean(s.last_job_id)} ({s.last_job_state or 'deleted'})"),
        ("command", clean(s.command)), ("queue", clean(s.queue)), ("priority", str(s.priority)),
        ("max retries", "config max_retries" if s.max_retries is None else str(s.max_retries)),
        ("timeout", "config job_timeout" if s.timeout is None else render.duration(s.timeout)),
        ("cwd", clean(s.cwd or "-")), ("env", ", ".join(clean(k) for k in sorted(s.env)) if s.env else "-"),
    ]
    rows += [(f"on {k}", clean(v)) for k, v in (("success", s.on_success), ("failure", s.on_failure),
                                                   ("dead", s.on_dead)) if v]
    width = max(len(k) for k, _ in rows)
    click.echo("\n".join(f"{k.ljust(width)}  {v}" for k, v in rows))


@schedule.command("remove")
@click.argument("names", nargs=-1, required=True)
@json_option
@pass_ctx
def schedule_remove(ctx: Ctx, names: tuple[str, ...], as_json: bool) -> None:
    """Delete schedules (the jobs they already enqueued stay).

    \b
    Example:
      queuectl schedule remove nightly
    """
    removed = ctx.api(recover=False).remove_schedules(names)  # all or none: an unknown name changes nothing
    emit_json({"removed": removed}) if as_json else click.echo("\n".join(f"removed schedule {n}" for n in removed))


def _pause_or_resume(ctx: Ctx, name: str, paused: bool, as_json: bool) -> None:
    now = time.time()
    api = ctx.api(recover=False)
    s = api.pause_schedule(name) if paused else api.resume_schedule(name)
    if as_json:
        emit_json(s.to_json())
    elif paused:
        click.echo(f"schedule {s.name} paused (no slot is enqueued until resumed)")
    else:
        click.echo(f"schedule {s.name} resumed; next run {_when(s.next_run_at, now)}")


@schedule.command("pause")
@click.argument("name")
@json_option
@pass_ctx
def schedule_pause(ctx: Ctx, name: str, as_json: bool) -> None:
    """Stop enqueueing a schedule's slots (its jobs already enqueued still run).

    \b
    Example:
      queuectl schedule pause nightly
    """
    _pause_or_resume(ctx, name, True, as_json)


@schedule.command("resume")
@click.argument("name")
@json_option
@pass_ctx
def schedule_resume(ctx: Ctx, name: str, as_json: bool) -> None:
    """Enqueue a paused schedule's slots again, from the next one (the paused ones are skipped).

    \b
    Example:
      queuectl schedule resume nightly
    """
    _pause_or_resume(ctx, name, False, as_json)


@schedule.command("run")
@click.argument("name")
@json_option
@pass_ctx
def schedule_run(ctx: Ctx, name: str, as_json: bool) -> None:
    """Enqueue one job of a schedule now (its slots go on as before; a paused one too).

    \b
    Example:
      queuectl schedule run nightly
    """
    job_id = ctx.api(recover=False).run_schedule_now(name)
    emit_json({"schedule": name, "job_id": job_id}) if as_json else click.echo(job_id)
