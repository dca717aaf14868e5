"""`queuectl enqueue`: add a job (or many).

In a module of its own (one file per command, as pueue has it), apart from the listing and
inspecting commands of `jobs.py`: the command scripts run most starts with only what it needs
(issue 15: a CLI that starts like a small script).
"""

from __future__ import annotations

import os
import sys
import time
from typing import Any

import click

from queuectl.cli.context import (
    Ctx,
    clean,
    emit_json,
    hint_if_unserved,
    json_option,
    parse_duration_option,
    parse_env_pairs,
    pass_ctx,
)
from queuectl.cli.hooks import hook_options
from queuectl.cli.sources import EnqueueCommand, enqueue_words
from queuectl.core.errors import InvalidInput


@click.command(cls=EnqueueCommand)
@click.argument("source", nargs=-1)
@click.option("--command", "-C", "command", help="The shell command (instead of SOURCE).")
@click.option("--id", "job_id", help="Job id (default: generated).")
@click.option("--max-retries", type=int, help="Retries after the first run (default: config max_retries).")
@click.option("--priority", "-p", type=int, help="Higher runs first (default 0).")
@click.option("--run-at", help="Not before this time: ISO-8601 (UTC unless an offset is given) or epoch seconds.")
@click.option("--delay", "-d", help="Not before this long from now: 90, 30s, 5m, 2h, 1d.")
@click.option("--timeout", help="Kill a run after this long (seconds or 30s/5m/2h); 0 = none.")
@click.option("--queue", "-q", "queue_name", help="Queue name (default 'default').")
@click.option("--cwd", help="Working directory (default: the current one).")
@click.option("--env", "-e", "env_pairs", multiple=True, metavar="KEY=VALUE", help="Environment variable; repeatable.")
@click.option("--file", "job_file", hidden=True, help="= @FILE (another version's spelling).")
@hook_options
@click.option("--keep-children", is_flag=True, default=None,
              help="Let processes the job leaves behind (a daemon it starts) outlive a completed or failed run.")
@click.option("--after", "after", metavar="ID[,ID…]", multiple=True,
              help="Run only once these jobs completed (cancelled if one ends dead or cancelled); repeatable.")
@click.option("--unique", "unique", metavar="KEY",
              help="While a job with this key waits or runs, return that job instead of adding one.")
@click.option("--label", "label", metavar="TEXT", help="A label shown in lists and the TUI (list --label filters).")
@click.option("--hold", is_flag=True, default=None, help="Add the job held: it waits until queuectl release ID.")
@json_option
@pass_ctx
def enqueue(ctx: Ctx, source: tuple[str, ...], command: str | None, job_id: str | None, max_retries: int | None,
            priority: int | None, run_at: str | None, delay: str | None, timeout: str | None,
            queue_name: str | None, cwd: str | None, env_pairs: tuple[str, ...], job_file: str | None,
            keep_children: bool | None, after: tuple[str, ...], unique: str | None, label: str | None,
            hold: bool | None, on_success: str | None, on_failure: str | None, on_dead: str | None,
            as_json: bool) -> None:
    """Add a job (or many) to the queue; prints each new job's id.

    \b
    SOURCE is one of:
      'CMD'          one argument: a shell command, run by sh -c
      PROGRAM ARGS…  several words: one command, run exactly as given (quoted for sh)
      -- PROGRAM ARGS…   the same; after -- every word is the command's
      '{"command": "make test", "priority": 5}'   a JSON object (or an array of them)
      NAME.json | NAME.jsonl | NAME.ndjson | @FILE   a job file: JSON object, array or NDJSON
      -              the same, read from stdin
    Options go before the command: in 'queuectl enqueue ls -la' the -la is ls's. Only a job file
    by this rule is read (a regular file, at most 64 MiB); './build.sh' runs the script. Flags
    fill in the fields a JSON job leaves unset.

    \b
    Examples:
      queuectl enqueue 'sleep 5 && echo done'
      queuectl enqueue ./build.sh --release
      queuectl enqueue --queue io -- rsync -a src/ 'my dst/'
      queuectl enqueue '{"id":"build-1","command":"make","max_retries":2}'
      queuectl enqueue --command 'backup.sh' --delay 10m --timeout 1h
      queuectl enqueue jobs.ndjson
      seq 100 | sed 's/.*/{"command":"echo &"}/' | queuectl enqueue -
      queuectl enqueue --after build-1 --label deploy -- ./deploy.sh
      queuectl enqueue --unique nightly-report ./report.sh    # one at a time
    """
    from queuectl.core.specs import parse_jobs_text, spec_from_mapping, validate_job_id

    clock_now = time.time()
    if job_file is not None:
        if source:
            raise InvalidInput("give the jobs either as SOURCE or with --file, not both")
        source = ("@" + job_file,)
    if source and command is not None:
        raise InvalidInput("give the job either as SOURCE or with --command, not both")
    if not source and command is None:
        raise InvalidInput("nothing to enqueue: give a command, JSON, a file, - for stdin, or --command")
    if run_at is not None and delay is not None:
        raise InvalidInput("give --run-at or --delay, not both")
    text = None
    if source:
        command, text = enqueue_words(source, click.get_current_context().meta.get("queuectl.argv", False))
    overrides: dict[str, Any] = {}
    if job_id is not None:
        overrides["id"] = job_id
    if max_retries is not None:
        overrides["max_retries"] = max_retries
    if priority is not None:
        overrides["priority"] = priority
    if run_at is not None:
        overrides["run_at"] = run_at
    if delay is not None:
        overrides["run_at"] = clock_now + (parse_duration_option("--delay", delay) or 0.0)
    if timeout is not None:
        overrides["timeout"] = parse_duration_option("--timeout", timeout)
    if queue_name is not None:
        overrides["queue"] = queue_name
    if cwd is not None:
        overrides["cwd"] = cwd
    if env_pairs:
        overrides["env"] = dict(parse_env_pairs(env_pairs))
    if keep_children:
        overrides["keep_children"] = True
    if after:
        overrides["after"] = ",".join(after)
    if unique is not None:
        overrides["unique"] = unique
    if label is not None:
        overrides["label"] = label
    if hold:
        overrides["hold"] = True
    for hook, hook_command in (("on_success", on_success), ("on_failure", on_failure), ("on_dead", on_dead)):
        if hook_command is not None:
            overrides[hook] = hook_command
    if text is None:
        specs = [spec_from_mapping({**overrides, "command": command}, clock_now)]
    else:
        defaults = {k: v for k, v in overrides.items() if k != "id"}
        specs = parse_jobs_text(text, clock_now, defaults=defaults)
        if job_id is not None:
            if len(specs) > 1:
                raise InvalidInput("--id names one job, but the input has several")
            if specs[0].id is None:
                specs = [specs[0]._replace(id=validate_job_id(job_id))]
    base = os.getcwd()
    specs = [s._replace(cwd=os.path.normpath(os.path.join(base, s.cwd))) if s.cwd else s for s in specs]
    # No dead-worker recovery here: an enqueue reads no worker or job (its wake pings this host's live
    # workers' sockets; a dead one's is a datagram nobody reads), and a worker found dead later has its
    # jobs recovered all the same. The terminal hint, which reads workers, recovers first.
    api = ctx.api(recover=False)
    added = api.enqueue(specs, default_cwd=base, now=clock_now)
    ids = [a.id for a in added]
    if as_json:
        # the created jobs as `show --json` gives them: one object for a job given inline (a command,
        # --command, a JSON object); an array for a bulk (a file or stdin, whatever it holds, a JSON array)
        # "existing": the job that already held the spec's unique key, returned instead of a new one
        from queuectl.cli.jobs import jobs_json  # `show --json`'s shape; the list commands' module

        shown = jobs_json(api, api.jobs(ids))
        jobs = [{**job, "existing": a.existing, "runs": []} for job, a in zip(shown, added, strict=True)]
        inline = text is None or (text is source[0] and text.lstrip().startswith("{"))
        emit_json(jobs[0] if inline and len(jobs) == 1 else jobs)
    else:
        click.echo("\n".join(ids))
        if sys.stderr.isatty():
            for a in added:
                if a.existing:
                    click.echo(f"queuectl: job {clean(a.id)} holds that unique key (waiting or running): "
                               "nothing added", err=True)
        hint_if_unserved(ctx, {s.queue for s in specs})
