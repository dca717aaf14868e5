"""Job commands: list, stats, health, show, logs, wait, retry, cancel, delete, purge, pause, resume
(`enqueue` and `status` have modules of their own: they start lighter)."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Sequence
from typing import Any

import click

from queuectl import format as fmt
from queuectl.cli import table as render
from queuectl.cli.completion import complete_job_ids, complete_states
from queuectl.cli.context import (
    OPENED,
    Ctx,
    check_queues,
    clean,
    emit_json,
    hint_if_unserved,
    json_option,
    one_line_message,
    parse_duration_option,
    pass_ctx,
    state_option,
    use_colour,
)
from queuectl.core.errors import InvalidInput, InvalidTransition, QueuectlError, StoreUnavailable

# escape sequence or control (a command's OSC could retitle the terminal). --json keeps the exact text;
# `logs` prints the raw bytes, like cat.


def _job_rows(jobs: Sequence[Any], now: float, colour: bool) -> list[list[str]]:
    rows = []
    for j in jobs:
        waiting = j.state in ("pending", "failed") and j.run_at > now
        when = render.age(j.run_at, now) if waiting else render.age(j.created_at, now)
        rows.append([
            clean(j.id), render.state(j.state, colour), f"{j.attempts}/{j.max_retries + 1}", str(j.priority),
            clean(j.queue),
            when, fmt.took(j, now),
            fmt.exit_code(j),
            f"{clean(j.label)} · {clean(j.command)}" if j.label else clean(j.command),
        ])
    return rows


JOB_HEADERS = ["ID", "STATE", "RUNS", "PRI", "QUEUE", "CREATED/DUE", "TOOK", "EXIT", "COMMAND"]


@click.command("list")
@click.option("--state", "-s", "state_name", shell_complete=complete_states,
              help="Only jobs in this state (pending, processing, completed, failed, dead, cancelled; all = any).")
@click.option("--queue", "-q", "queue_name", help="Only jobs of this queue.")
@click.option("--limit", "-n", type=click.IntRange(1, 100_000), help="At most this many (default 50).")
@click.option("--all", "list_all", is_flag=True, help="Every matching job, streamed (no limit).")
@click.option("--label", "label", metavar="TEXT", help="Only jobs with this label.")
@json_option
@pass_ctx
def list_cmd(ctx: Ctx, state_name: str | None, queue_name: str | None, limit: int | None, list_all: bool,
             label: str | None, as_json: bool) -> None:
    """Jobs, newest first; pending and failed ones in the order they will run.

    Shows 50 by default and says so on stderr when there are more ("50 of 60").

    \b
    Examples:
      queuectl list
      queuectl list --state failed --limit 10
      queuectl list -s dead --json
      queuectl list --all --json > jobs.json
      queuectl list --label nightly
    """
    if list_all and limit is not None:
        raise InvalidInput("give --limit or --all, not both")
    state = None if state_name is not None and state_name.strip().lower() == "all" else state_option(state_name)
    api = ctx.api()
    if list_all:
        _list_all(api.iter_jobs(state=state, queue=queue_name, run_order=True, label=label), as_json, state)
        return
    limit = limit or 50
    jobs = api.list_jobs(state=state, queue=queue_name, limit=limit, run_order=True, label=label)
    if as_json:
        emit_json([j.to_json() for j in jobs])
    elif not jobs:
        click.echo("no jobs" + (f" in state {state}" if state else ""))
    else:
        click.echo(render.table(JOB_HEADERS, _job_rows(jobs, time.time(), use_colour()), shrink=8))
    if len(jobs) == limit and not as_json:
        total = api.count_jobs(state=state, queue=queue_name, label=label)
        if total > limit:
            click.echo(f"{limit:,} of {total:,} jobs shown — --limit N or --all for more", err=True)


def _list_all(jobs: Any, as_json: bool, state: Any) -> None:
    """Print every job as it streams in: a JSON array, or the table in chunks whose columns only widen."""
    import itertools

    if as_json:
        out = sys.stdout
        first = next(jobs, None)  # a store error comes before any output
        out.write("[")
        for n, job in enumerate(itertools.chain([first], jobs) if first is not None else ()):
            text = json.dumps(job.to_json(), indent=2, ensure_ascii=False).replace("\n", "\n  ")
            out.write(("\n  " if n == 0 else ",\n  ") + text)
        out.write("\n]\n" if first is not None else "]\n")
        out.flush()
        return
    colour, headers, shown = use_colour(), list(JOB_HEADERS), 0
    while chunk := list(itertools.islice(jobs, 1000)):
        rows = _job_rows(chunk, time.time(), colour)
        lines = render.table(headers, rows, shrink=8).split("\n")
        click.echo("\n".join(lines if shown == 0 else lines[1:]))
        # later chunks keep at least these widths: pad the headers (their line is not printed again)
        widths = [max(len(h), *(render._visible_len(r[i]) for r in rows)) for i, h in enumerate(headers)]
        headers = [h.ljust(w) for h, w in zip(headers, widths, strict=True)]
        shown += len(chunk)
    if shown == 0:
        click.echo("no jobs" + (f" in state {state}" if state else ""))


@click.command()
@click.option("--since", default="1h", show_default=True,
              help="Window: 30m, 1h, 1d, … (--prometheus/--serve: runs that finished this long before the start "
                   "are counted too)")
@click.option("--prometheus", is_flag=True, help="Print the Prometheus text format (the 'metrics' extra).")
@click.option("--serve", is_flag=True, help="Serve the Prometheus text format at http://HOST:PORT/metrics.")
@click.option("--host", default="127.0.0.1", show_default=True, help="With --serve: the address to listen on.")
@click.option("--port", type=click.IntRange(1, 65535), default=9464, show_default=True,
              help="With --serve: the port to listen on.")
@click.option("--allow-remote", is_flag=True, help="With --serve: allow a --host other than loopback.")
@json_option
@pass_ctx
def stats(ctx: Ctx, since: str, prometheus: bool, serve: bool, host: str, port: int, allow_remote: bool,
          as_json: bool) -> None:
    """Throughput, success rate, run times and queue wait over a recent window.

    With --prometheus, print the Prometheus text format (jobs by state and queue, oldest waiting
    job per queue, runs by outcome, run time and queue wait histograms, worker slots, lost
    workers, pause); with --serve, serve it at /metrics (loopback unless --host and --allow-remote).
    Both read the store, so one exporter covers every host of a PostgreSQL queue.

    \b
    Examples:
      queuectl stats --since 15m
      queuectl stats --prometheus
      queuectl stats --serve --port 9464
    """
    window = parse_duration_option("--since", since) or 0.0
    if window <= 0:
        raise InvalidInput("--since: must be more than 0")
    if prometheus or serve:
        _prometheus(ctx, window, serve, host, port, allow_remote, as_json)
        return
    result = ctx.api().stats(window)
    if as_json:
        emit_json(result.to_json())
        return
    click.echo(f"window        last {render.duration(window)}")
    click.echo(f"runs          {result.runs} finished: {result.succeeded} ok, {result.failed} failed"
               + (f" ({result.success_rate:.1%} ok)" if result.runs else ""))
    click.echo(f"throughput    {result.finished_per_minute:.1f} runs/min, {result.failed_per_minute:.1f} failed/min")
    click.echo("run time      p50 {}  p95 {}  max {}".format(*(render.duration(v) for v in
               (result.run_p50, result.run_p95, result.run_max))))
    click.echo("queue wait    p50 {}  p95 {}  max {}".format(*(render.duration(v) for v in
               (result.wait_p50, result.wait_p95, result.wait_max))))


def _prometheus(ctx: Ctx, window: float, serve: bool, host: str, port: int, allow_remote: bool,
                as_json: bool) -> None:
    from queuectl import prometheus, web

    if as_json:
        raise InvalidInput("--json cannot be combined with --prometheus or --serve")
    if serve:
        web.check_host(host, allow_remote)
    prometheus.require_client()
    reader = ctx.api().metrics_reader(window)
    if not serve:
        click.echo(prometheus.render(reader.read()), nl=False)
        return
    prometheus.serve(reader.read, host, port,
                     lambda url: click.echo(f"serving Prometheus metrics at {url} (Ctrl+C to stop)"))


@click.command()
@click.option("--workers", "workers_needed", type=click.IntRange(0), default=0, show_default=True,
              help="Also require at least this many live worker slots (one per worker today).")
@click.option("--queue", "-q", "queue_name", help="With --workers: count only workers that serve this queue.")
@json_option
@pass_ctx
def health(ctx: Ctx, workers_needed: int, queue_name: str | None, as_json: bool) -> None:
    """Exit 0 when the store answers (and enough live workers serve), else 1 with one line saying why.

    For container HEALTHCHECKs, systemd and Kubernetes probes. A live worker slot is a running
    worker whose heartbeat is younger than worker_timeout.

    \b
    Examples:
      queuectl health
      queuectl health --workers 2 --queue emails --json
    """
    from queuectl.core.api import describe_store_error, store_errors

    if queue_name is not None:
        check_queues([queue_name])
    try:
        result = ctx.api().health(workers_needed, queue_name)
    except (StoreUnavailable, *store_errors()) as exc:
        opened = OPENED[-1] if OPENED else None
        text = str(exc) if isinstance(exc, StoreUnavailable) else describe_store_error(exc, opened)
        problem = f"the store does not answer: {one_line_message(text)}"
        if as_json:
            emit_json({"ok": False, "problem": problem})
        raise QueuectlError(problem) from None
    if as_json:
        emit_json(result.to_json())
    elif result.ok:
        where = f" serving queue '{queue_name}'" if queue_name is not None else ""
        click.echo(f"ok: the store answers; {result.live_slots} live worker slot(s){where}")
    if not result.ok:  # (with --json too: the one line on stderr, and exit 1)
        raise QueuectlError(result.problem or "unhealthy")


def jobs_json(api: Any, jobs: Sequence[Any]) -> list[dict[str, Any]]:
    """Jobs as `show --json` gives them (without runs): every field, what each runs after, and why
    a waiting one waits (`waiting_reason`, `waiting_code`; null when it does not wait)."""
    reasons = api.waiting_reasons(jobs, api.workers())
    dependencies = api.dependencies([job.id for job in jobs])
    shown = []
    for job in jobs:
        waiting = reasons.get(job.id)
        shown.append({**job.to_json(),
                      "after": [{"id": dep, "state": state} for dep, state in dependencies.get(job.id, ())],
                      "waiting_reason": waiting.text if waiting else None,
                      "waiting_code": waiting.code if waiting else None})
    return shown


@click.command()
@click.argument("job_id", shell_complete=complete_job_ids)
@json_option
@pass_ctx
def show(ctx: Ctx, job_id: str, as_json: bool) -> None:
    """One job with all its fields and its runs (alias: inspect).

    \b
    Example:
      queuectl show build-1
    """
    detail = ctx.api().detail(job_id, output=False)
    job, runs, after, waiting = detail.job, detail.runs, detail.after, detail.waiting
    if as_json:
        emit_json({**job.to_json(), "after": [{"id": dep, "state": state} for dep, state in after],
                   "waiting_reason": waiting.text if waiting else None,
                   "waiting_code": waiting.code if waiting else None,
                   "runs": [r.to_json() for r in runs]})
        return
    now, colour = time.time(), use_colour()
    fields = [
        ("id", clean(job.id)), ("state", render.state(job.state, colour)), ("command", clean(job.command)),
        ("attempts", f"{job.attempts} of {job.max_retries + 1} (max_retries {job.max_retries})"),
        ("priority", str(job.priority)), ("queue", clean(job.queue)),
        ("timeout", "none" if not job.timeout else render.duration(job.timeout)),
        ("cwd", clean(job.cwd) if job.cwd else "-"),
        ("env", ", ".join(sorted(map(clean, job.env))) if job.env else "-"),
        ("children", "kept when the job exits (keep_children)" if job.keep_children else "killed when the job ends"),
        *fmt.job_times(job, now),
        ("worker", clean(job.worker_id or "-")), ("exit code", "-" if job.exit_code is None else str(job.exit_code)),
        ("last error", clean(job.last_error or "-")),
    ]
    fields += [(f"on {name}", clean(hook)) for name, hook in (
        ("success", job.on_success), ("failure", job.on_failure), ("dead", job.on_dead)) if hook]
    if job.parent_id:
        fields.append(("hook of", clean(job.parent_id)))
    if job.cancel_requested_at:
        fields.append(("cancel", f"requested {render.age(job.cancel_requested_at, now)}"))
    # what holds a waiting job back, right after its state; the rest only when set
    if waiting is not None:
        fields.insert(2, ("waiting", render.paint(clean(waiting.text), "33", colour)))
    if job.label:
        fields.insert(1, ("label", clean(job.label)))
    if after:
        fields.append(("after", ", ".join(f"{clean(dep)} ({state})" for dep, state in after)))
    if job.unique_key:
        fields.append(("unique", clean(job.unique_key)))
    for name, value in fields:
        click.echo(f"{name:<11} {value}")
    if runs:
        click.echo("")
        click.echo(render.table(
            ["RUN", "ATTEMPT", "WORKER", "HOST", "STARTED", "TOOK", "EXIT", "OUTPUT", "ERROR"],
            [[str(r.number), str(r.attempt), clean(r.worker_id), clean(r.host), render.age(r.started_at, now),
              render.duration(r.duration) if r.finished_at else "running",
              "-" if r.exit_code is None else str(r.exit_code), render.size(r.output_bytes), clean(r.error or "-")]
             for r in runs],
        ))


def _write_bytes(data: bytes) -> None:
    sys.stdout.buffer.write(data)
    sys.stdout.buffer.flush()


@click.command()
@click.argument("job_id", shell_complete=complete_job_ids)
@click.option("--attempt", "-a", "number", type=click.IntRange(1), help="Run number (default: the latest).")
@click.option("--follow", "-f", is_flag=True,
              help="Keep printing while the run goes on, and through its automatic retries; exit with the "
                   "last run's status.")
@click.option("--no-retries", is_flag=True, help="With -f: stop at the end of the run followed, even if it is retried.")
@click.option("--tail", "-n", "tail", type=click.IntRange(0), metavar="N", help="Only the last N lines.")
@json_option
@pass_ctx
def logs(ctx: Ctx, job_id: str, number: int | None, follow: bool, no_retries: bool, tail: int | None,
         as_json: bool) -> None:
    """Output (stdout and stderr) of a job's latest or Nth run.

    With -f, a line on stderr ends each run (`run 1: exit 4; retry 2/4 in 2 s`), the retries that
    follow are followed too (not with --no-retries or --attempt), and the exit status is the last
    run's (1 when it has no exit code: timed out, lost). With --json, -f streams NDJSON: one object
    per chunk of output, then one per run's end.

    \b
    Examples:
      queuectl logs build-1
      queuectl logs build-1 --attempt 1
      queuectl logs build-1 -f --tail 20
      queuectl logs build-1 -f --json | jq -r 'select(.output) | .output'
    """
    if no_retries and not follow:
        raise InvalidInput("--no-retries goes with -f (it says where following stops)")
    api = ctx.api()
    out = api.output(job_id, number)
    if out is None and number is not None:
        raise QueuectlError(f"job {job_id} has no run {number}")
    if follow:
        code = _follow(api, job_id, number, out, retries=not no_retries and number is None, tail=tail,
                       as_json=as_json)
        if code:
            raise click.exceptions.Exit(code)
        return
    if as_json:
        emit_json(None if out is None else {
            "job_id": out.job_id, "run": out.number, "finished": out.finished, "output_bytes": out.output_bytes,
            "truncated": out.output_bytes > len(out.output),
            "output": _last_lines(out.output, tail).decode("utf-8", "replace"),
        })
        return
    if out is None:
        click.echo(f"job {job_id} has not run yet", err=True)
        return
    _write_bytes(_last_lines(out.output, tail))


def _last_lines(data: bytes, tail: int | None) -> bytes:
    if tail is None:
        return data
    if tail == 0:
        return b""
    return b"".join(data.splitlines(keepends=True)[-tail:])


def _emit_chunk(job_id: str, number: int, data: bytes, as_json: bool) -> None:
    if not data:
        return
    if as_json:
        click.echo(json.dumps({"job_id": job_id, "run": number, "output": data.decode("utf-8", "replace")},
                              ensure_ascii=False))
    else:
        _write_bytes(data)


def _follow(api: Any, job_id: str, number: int | None, out: Any, *, retries: bool, tail: int | None,
            as_json: bool) -> int:
    """Print runs' output as it grows; after each run's end, its trailer line. Returns the exit status."""
    from queuectl.core.states import FINISHED
    from queuectl.core.waiting import run_status, trailer

    recheck = time.monotonic() + 1.0

    def pause() -> None:
        nonlocal recheck
        if time.monotonic() >= recheck:  # the run's worker killed meanwhile: the run ends as lost
            api.recover_dead_workers()
            recheck = time.monotonic() + 1.0
        time.sleep(0.2)

    after = 0  # follow a run numbered above this (the next run, after a retry)
    first = True
    while True:
        while out is None or out.number <= after:
            job = api.job(job_id)
            if job.state in FINISHED:
                if after == 0:
                    click.echo(f"job {clean(job_id)} is {job.state} and never ran", err=True)
                return 0 if job.state == "completed" else 1
            pause()
            out = api.output(job_id, number)
        printed = 0
        if first and tail is not None:
            _emit_chunk(job_id, out.number, _last_lines(out.output, tail), as_json)
            printed = out.output_bytes
        first = False
        while True:
            new = out.output_bytes - printed
            if new > 0:
                _emit_chunk(job_id, out.number, out.output[-new:] if new <= len(out.output) else out.output, as_json)
                printed = out.output_bytes
            if out.finished:
                break
            pause()
            out = api.output(job_id, out.number)
        job = api.job(job_id)
        run = next(r for r in api.runs(job_id) if r.number == out.number)
        end = trailer(job, run, time.time())
        status = run_status(run)
        if as_json:
            click.echo(json.dumps({"job_id": job_id, "run": run.number, "end": end, "exit_code": run.exit_code,
                                   "error": run.error, "state": job.state, "status": status}, ensure_ascii=False))
        else:
            click.echo(end, err=True)
        if not retries or job.state in FINISHED:
            return status
        after, out = out.number, None


@click.command()
@click.argument("job_ids", nargs=-1, shell_complete=complete_job_ids)
@click.option("--queue", "-q", "queue_name", help="With no ids: only the jobs of this queue.")
@click.option("--timeout", "timeout_text", help="Give up after this long (seconds or 30s/5m); exit 124.")
@json_option
@pass_ctx
def wait(ctx: Ctx, job_ids: tuple[str, ...], queue_name: str | None, timeout_text: str | None,
         as_json: bool) -> None:
    """Block until the jobs end; with no ids, everything waiting or running now (--queue: of one queue).

    Exit status: 0 when all completed; for one job that did not, its last exit code (1 when it has
    none); 1 when some of several did not complete; 124 when --timeout passed; 2 for an unknown id.
    On a terminal, a line on stderr names the job waited on and where it stands.

    \b
    Examples:
      id=$(queuectl enqueue 'make test') && queuectl wait "$id" && echo passed
      queuectl wait --queue nightly --timeout 2h
    """
    from queuectl.core.errors import JobNotFound
    from queuectl.core.states import FINISHED
    from queuectl.core.waiting import WAIT_TIMED_OUT, exit_status, state_phrase

    if job_ids and queue_name is not None:
        raise InvalidInput("give job ids or --queue, not both")
    timeout = parse_duration_option("--timeout", timeout_text)
    api = ctx.api()
    ids = list(dict.fromkeys(job_ids)) or api.waiting_or_running(queue_name)
    jobs = {j.id: j for j in api.jobs(ids)}
    for job_id in ids:
        if job_id not in jobs:  # an unknown id is bad input: exit 2, as pueue does
            raise InvalidInput(str(JobNotFound(job_id)))
    if not as_json:
        hint_if_unserved(ctx, {j.queue for j in jobs.values() if j.state not in FINISHED})
    deadline = None if timeout is None else time.monotonic() + timeout
    tty = sys.stderr.isatty() and not as_json
    shown = False  # a progress line is on the terminal (cleared at the end)
    recheck = time.monotonic() + 1.0
    timed_out = False
    try:
        while True:
            if time.monotonic() >= recheck:  # a worker of this host killed meanwhile: its jobs go on now
                api.recover_dead_workers()
                recheck = time.monotonic() + 1.0
            open_ids = [i for i in ids if jobs[i].state not in FINISHED]
            jobs.update((j.id, j) for j in api.jobs(open_ids))
            waiting = [i for i in open_ids if jobs[i].state not in FINISHED]
            if not waiting:
                break
            if tty:
                done = len(ids) - len(waiting)
                line = f"waiting for {clean(waiting[0])}: {state_phrase(jobs[waiting[0]], time.time())}"
                line += f" ({done} of {len(ids)} done)" if len(ids) > 1 else ""
                sys.stderr.write(f"\r\x1b[K{line}")
                sys.stderr.flush()
                shown = True
            if deadline is not None and time.monotonic() >= deadline:
                timed_out = True
                break
            time.sleep(0.1)
    finally:
        if shown:
            sys.stderr.write("\r\x1b[K")
            sys.stderr.flush()
    final = [jobs[i] for i in ids]
    if as_json:
        emit_json({j.id: j.state for j in final})
    code = exit_status(final, timed_out)
    if timed_out:
        unfinished = [j.id for j in final if j.state not in FINISHED]
        click.echo(f"queuectl: error: timed out waiting for {len(unfinished)} job(s): "
                   f"{', '.join(map(clean, unfinished[:5]))}", err=True)
        raise click.exceptions.Exit(WAIT_TIMED_OUT)
    if code:
        not_ok = [f"{clean(j.id)} {j.state}" + (f" (exit {j.exit_code})" if j.exit_code not in (None, 0) else "")
                  for j in final if j.state != "completed"]
        click.echo(f"queuectl: error: not completed: {', '.join(not_ok[:5])}", err=True)
        raise click.exceptions.Exit(code)
    if not ids and not as_json:
        click.echo("nothing to wait for" + (f" in queue {clean(queue_name)}" if queue_name else ""), err=True)


@click.command()
@click.argument("job_ids", nargs=-1, required=True, shell_complete=complete_job_ids)
@click.option("--force", is_flag=True, help="Also run completed jobs again.")
@click.option("--reset", is_flag=True, hidden=True, help="Accepted from other versions: a retry always resets.")
@json_option
@pass_ctx
def retry(ctx: Ctx, job_ids: tuple[str, ...], force: bool, reset: bool, as_json: bool) -> None:
    """Put failed, dead or cancelled jobs back to pending with attempts reset.

    \b
    Example:
      queuectl retry build-1 build-2
    """
    try:
        ids = ctx.api().retry(job_ids, force=force)
    except InvalidTransition as exc:
        if exc.forcible:
            raise InvalidTransition(f"{exc} (use --force to run a completed job again)") from None
        raise
    emit_json({"retried": ids}) if as_json else click.echo("\n".join(f"retried {i}" for i in ids))


@click.command()
@click.argument("job_ids", nargs=-1, required=True, shell_complete=complete_job_ids)
@click.option("--no-wait", is_flag=True, help="Return at once instead of waiting for running jobs to die.")
@json_option
@pass_ctx
def cancel(ctx: Ctx, job_ids: tuple[str, ...], no_wait: bool, as_json: bool) -> None:
    """Cancel jobs: waiting ones at once, running ones by killing their process group (alias: kill).

    \b
    Example:
      queuectl cancel build-1
    """
    result = ctx.api().cancel(job_ids, wait=not no_wait)
    if as_json:
        emit_json(result)
        return
    for job_id, state in result.items():
        click.echo(f"cancelled {job_id}" if state == "cancelled" else
                   f"cancelling {job_id} (its worker kills it)" if state == "processing" else f"{job_id} is {state}")


@click.command()
@click.argument("job_ids", nargs=-1, required=True, shell_complete=complete_job_ids)
@json_option
@pass_ctx
def delete(ctx: Ctx, job_ids: tuple[str, ...], as_json: bool) -> None:
    """Remove jobs (and their runs) that are not running.

    \b
    Example:
      queuectl delete build-1
    """
    ids = ctx.api().delete(job_ids)
    emit_json({"deleted": ids}) if as_json else click.echo("\n".join(f"deleted {i}" for i in ids))


@click.command()
@click.option("--state", "-s", "state_names", multiple=True, shell_complete=complete_states,
              help="completed, dead or cancelled; repeatable (default: completed and cancelled).")
@click.option("--older-than", help="Only jobs that finished longer ago than this (7d, 12h, …).")
@json_option
@pass_ctx
def purge(ctx: Ctx, state_names: tuple[str, ...], older_than: str | None, as_json: bool) -> None:
    """Remove finished jobs in bulk: completed and cancelled ones unless --state says otherwise.

    Dead jobs stay (the DLQ is there to be looked at) unless named: --state dead, or dlq purge.

    \b
    Examples:
      queuectl purge --state completed --older-than 7d
      queuectl purge                         # completed and cancelled
      queuectl purge --state dead            # the DLQ too (= queuectl dlq purge)
    """
    from queuectl.core.states import PURGEABLE, JobState

    states = [state_option(s) for s in state_names] or [JobState.COMPLETED, JobState.CANCELLED]
    for s in states:
        if s not in PURGEABLE:
            raise InvalidInput(f"--state: purge takes completed, dead or cancelled, not {s}")
    n = ctx.api().purge(states, parse_duration_option("--older-than", older_than))
    emit_json({"purged": n}) if as_json else click.echo(f"purged {n} job(s)")


@click.command()
@json_option
@pass_ctx
def pause(ctx: Ctx, as_json: bool) -> None:
    """Stop workers from claiming new jobs (running ones finish).

    \b
    Example:
      queuectl pause && queuectl status
    """
    ctx.api().set_paused(True)
    emit_json({"paused": True}) if as_json else click.echo("paused: workers claim no new jobs (queuectl resume)")


@click.command()
@json_option
@pass_ctx
def resume(ctx: Ctx, as_json: bool) -> None:
    """Let workers claim jobs again.

    \b
    Example:
      queuectl resume
    """
    ctx.api().set_paused(False)
    emit_json({"paused": False}) if as_json else click.echo("resumed")


COMMANDS = [list_cmd, stats, health, show, logs, wait, retry, cancel, delete, purge, pause, resume]
