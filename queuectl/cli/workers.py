"""`worker`: start, run, stop and list worker processes."""

from __future__ import annotations

import sys
import time

import click

from queuectl import format as fmt
from queuectl.cli import table as render
from queuectl.cli.context import (
    Ctx,
    Group,
    check_queues,
    emit_json,
    json_option,
    parse_duration_option,
    pass_ctx,
    use_colour,
)
from queuectl.core.errors import QueuectlError


@click.group(cls=Group)
def worker() -> None:
    """Start, run, stop and list worker processes.

    \b
    Examples:
      queuectl worker start -c 8
      queuectl worker list
      queuectl worker stop --wait
    """


@worker.command("start")
@click.option("--count", "-c", type=click.IntRange(1, 1024), default=1, show_default=True,
              help="How many jobs may run at once (slots).")
@click.option("--processes", "-p", type=click.IntRange(1, 1024),
              help="Spread the slots over this many worker processes [default: one per core, at most].")
@click.option("--queue", "-q", "queues", multiple=True, help="Only claim from this queue; repeatable (default: all).")
@json_option
@pass_ctx
def worker_start(ctx: Ctx, count: int, processes: int | None, queues: tuple[str, ...], as_json: bool) -> None:
    """Start detached workers that run COUNT jobs at once; returns once they are running.
    Logs: $QUEUECTL_HOME/workers/ID.log

    The slots are spread over as few worker processes as keep up: one per core at most (each
    process supervises many jobs, with one store connection and one watchdog).
    For a worker in the foreground (scripts, containers, systemd), use `queuectl worker run`.

    \b
    Examples:
      queuectl worker start -c 4
      queuectl worker start -c 64              # 64 jobs at once, one process per core
      queuectl worker start -c 8 --processes 1
    """
    check_queues(queues)
    if processes is not None and processes > count:
        raise click.BadParameter(f"{processes} processes cannot share {count} slots", param_hint="'--processes'")
    ids = ctx.api().start_workers(count, queues=queues, processes=processes)
    emit_json({"started": ids}) if as_json else click.echo("\n".join(f"started worker {i}" for i in ids))


@worker.command("run")
@click.option("--count", "-c", type=click.IntRange(1, 1024), default=1, show_default=True,
              help="How many jobs this process runs at once (slots).")
@click.option("--queue", "-q", "queues", multiple=True, help="Only claim from this queue; repeatable.")
@click.option("--burst", is_flag=True, help="Exit once nothing is due.")
@click.option("--worker-id", hidden=True)
@click.option("--verbose/--quiet", default=True, help="Log each job to stderr.")
@pass_ctx
def worker_run(ctx: Ctx, count: int, queues: tuple[str, ...], burst: bool, worker_id: str | None,
               verbose: bool) -> None:
    """Run one worker process in the foreground (for systemd, containers, a terminal), with COUNT
    slots: that many jobs at once.

    SIGTERM or Ctrl-C: finish the running jobs, then exit. A second one: kill them and put them
    back to pending.

    \b
    Examples:
      queuectl worker run
      queuectl worker run -c 16          # 16 jobs at once
      queuectl worker run --burst        # drain what is due, then exit
    """
    import logging

    check_queues(queues)
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(message)s")
    # A line per job: skip what the format never shows (the logging HOWTO's "Optimization")
    logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False
    logging._srcfile = None  # no caller lookup (a walk up the stack per line)
    api = ctx.api(durable=False, recover=False)  # a worker rescues at each heartbeat, the first one now
    sys.exit(api.run_worker(queues=queues, burst=burst, worker_id=worker_id, slots=count))


@worker.command("stop")
@click.argument("worker_ids", nargs=-1)
@click.option("--wait", "wait_", is_flag=True, help="Block until they have stopped.")
@click.option("--timeout", "timeout_text", help="With --wait: force the stop after this long.")
@click.option("--force", is_flag=True, help="Kill running jobs now and put them back to pending.")
@json_option
@pass_ctx
def worker_stop(ctx: Ctx, worker_ids: tuple[str, ...], wait_: bool, timeout_text: str | None, force: bool,
                as_json: bool) -> None:
    """Stop workers (all by default): running jobs finish first, unless --force.

    \b
    Examples:
      queuectl worker stop --wait
      queuectl worker stop w-1a2b3c4d --force
    """
    timeout = parse_duration_option("--timeout", timeout_text)
    asked, left = ctx.api().stop_workers(worker_ids, force=force, wait=wait_ or timeout is not None, timeout=timeout)
    if as_json:
        emit_json({"stopping": asked, "still_running": left})
    elif not asked:
        click.echo("no running workers")
    else:
        verb = "stopped" if (wait_ or timeout is not None) else "stopping"
        click.echo("\n".join(f"{verb} worker {w}" for w in asked if w not in left))
    if left:
        raise QueuectlError(f"still running: {', '.join(left)}")


@worker.command("list")
@click.option("--all", "include_stopped", is_flag=True, help="Include stopped workers.")
@json_option
@pass_ctx
def worker_list(ctx: Ctx, include_stopped: bool, as_json: bool) -> None:
    """Workers with state, slots (busy/total), pid, host, their slots' jobs, heartbeat age, CPU and memory.

    JOB names the first job and how many more run; --json lists them all (job_ids). CPU and RSS
    add up the worker and its jobs' process trees.

    \b
    Example:
      queuectl worker list
    """
    api = ctx.api()
    workers = api.workers(include_stopped=include_stopped)
    stats_by_id = api.process_stats(workers)
    now = time.time()
    if as_json:
        out = []
        for w in workers:
            ps = stats_by_id.get(w.id)
            out.append({**w.to_json(), "heartbeat_age": round(now - w.heartbeat_at, 3),
                        "cpu_percent": ps.cpu_percent if ps else None, "rss_bytes": ps.rss_bytes if ps else None,
                        "job_pid": ps.job_pid if ps and w.current_job_id else None})
        emit_json(out)
        return
    if not workers:
        click.echo("no workers (queuectl worker start)")
        return
    colour = use_colour()
    rows = []
    for w in workers:
        ps = stats_by_id.get(w.id)
        rows.append([
            w.id, render.state(w.state, colour), fmt.slots(w), str(w.pid), w.host, fmt.slot_jobs(w),
            str(ps.job_pid) if ps and ps.job_pid and w.current_job_id else "-",
            fmt.worker_uptime(w, now), render.age(w.heartbeat_at, now),
            "-" if not ps or ps.cpu_percent is None else f"{ps.cpu_percent:.0f}%",
            render.size(ps.rss_bytes) if ps else "-", ",".join(w.queues) if w.queues else "all",
        ])
    headers = ["ID", "STATE", "SLOTS", "PID", "HOST", "JOB", "JOB PID", "UPTIME", "HEARTBEAT", "CPU", "RSS", "QUEUES"]
    click.echo(render.table(headers, rows))
