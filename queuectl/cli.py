"""The queuectl command line: parse, call the core, print. Exit 0 done, 1 could not be done, 2 bad input.

A thin layer: every decision about jobs lives in `queuectl.core`. Textual is imported only by
`tui`, Rich only by `wait`'s progress bar, so headless commands start fast.
"""

from __future__ import annotations

import json
import os
import shlex
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any, NoReturn

import click

from queuectl import __version__, render, safe_text
from queuectl import format as fmt
from queuectl.core.errors import InvalidInput, QueuectlError, StoreUnavailable

ALIASES_LINE = (
    "Also accepted: worker-start, worker-stop, dlq-list, dlq-retry, config-get, config-set, "
    "config get-all, config show, inspect, kill, add, metrics, init, dashboard, worker status, dlq show, "
    "enqueue --file, -d; list --state dead is the DLQ."
)


# ── plumbing: store, errors, output ─────────────────────────────────────────────────────────


_OPENED: list = []  # the store a command opened, for naming it in an error message


class Ctx:
    """What every command shares: the store URL, opened lazily."""

    def __init__(self, db_url: str | None) -> None:
        self.db_url = db_url
        self._store = None

    def store(self, durable: bool = True, recover: bool = True):  # -> Store
        if self._store is None:
            from queuectl.core.store import open_store

            self._store = open_store(self.db_url, durable=durable)
            _OPENED.append(self._store)
            if recover:
                recover_dead_workers(self._store)
        return self._store

    def queue(self):
        from queuectl.core.queue import JobQueue

        return JobQueue(self.store())

    def config(self):
        from queuectl.core.config import ConfigStore

        return ConfigStore(self.store())

    def registry(self):
        from queuectl.core.registry import WorkerRegistry

        return WorkerRegistry(self.store())


def recover_dead_workers(store: Any) -> None:
    """Before a command reads workers or jobs: a worker of this host whose process is gone is
    declared lost and its jobs recovered now (README: "A worker that dies"); said on stderr."""
    from queuectl.core.rescue import recover_dead_local_workers

    _say_rescued(recover_dead_local_workers(store))


def _say_rescued(rescued_workers: Sequence[Any]) -> None:
    for rescued in rescued_workers:
        jobs = ", ".join(f"{job_id} is now {state}" for job_id, state in rescued.jobs)
        click.echo(f"queuectl: worker {rescued.worker_id} had died (its process is gone); recorded as lost"
                   + (f": {jobs}" if jobs else ""), err=True)


def emit_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, ensure_ascii=False))


def json_option(f: Callable) -> Callable:
    return click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")(f)


pass_ctx = click.make_pass_decorator(Ctx)


def _colour() -> bool:
    return render.use_colour()


def _parse_duration_option(name: str, value: str | None) -> float | None:
    from queuectl.core.specs import parse_duration

    if value is None:
        return None
    try:
        return parse_duration(value)
    except InvalidInput as exc:
        raise InvalidInput(f"{name}: {exc}") from None


# ── shell completion (click's): ids from the store, setting keys, states ─────────────────────


def _complete_job_ids(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[str]:
    try:
        from queuectl.core.store import open_store

        url = ctx.find_root().params.get("db_url")
        store = open_store(url, migrate=False)
        rows = store.execute(
            store.sql("SELECT id FROM job WHERE id >= ? AND id < ? ORDER BY id LIMIT 50"),
            (incomplete, incomplete + "\uffff"),
        ).fetchall()
        return [r[0] for r in rows]
    except Exception:
        return []


def _complete_setting_keys(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[str]:
    from queuectl.core.settings import SETTINGS

    return [k for k in SETTINGS if k.startswith(incomplete.replace("-", "_"))]


def _complete_states(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[str]:
    from queuectl.core.states import ALL_STATES

    return [s.value for s in ALL_STATES if s.value.startswith(incomplete)]


# ── the group ───────────────────────────────────────────────────────────────────────────────


class Group(click.Group):
    """Commands listed in the order they are defined; hidden aliases resolve like the real ones."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(self.commands)


@click.group(
    cls=Group,
    invoke_without_command=True,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
    epilog=ALIASES_LINE,
)
@click.option("--db", "db_url", metavar="URL", help="Store URL (default: $QUEUECTL_DB or $QUEUECTL_HOME/queue.db).")
@click.version_option(__version__, "-V", "--version", prog_name="queuectl")
@click.pass_context
def cli(ctx: click.Context, db_url: str | None) -> None:
    """A persistent background job queue for shell commands.

    \b
    Quick start:
      queuectl enqueue 'echo hello'          # prints the job id
      queuectl worker start -c 2             # two detached workers
      queuectl list                          # newest jobs first
      queuectl logs JOB_ID                   # what it printed
      queuectl tui                           # the full-screen UI
    """
    ctx.obj = Ctx(db_url)
    if ctx.invoked_subcommand is None:
        click.echo(ctx.get_help())


# ── enqueue ─────────────────────────────────────────────────────────────────────────────────


JOB_FILE_SUFFIXES = (".json", ".jsonl", ".ndjson")
JOB_FILE_MAX_BYTES = 64 * 1024 * 1024  # far above any real batch (~1M jobs of NDJSON), far below a hang


def _is_job_source(word: str) -> bool:
    """Whether one SOURCE word names jobs rather than a command: -, @FILE, JSON text, or a name
    without spaces ending in .json, .jsonl or .ndjson. Decided from the text alone: a command is
    never looked up as a path."""
    stripped = word.lstrip()
    return (word == "-" or word.startswith("@") or stripped.startswith(("{", "["))
            or (word.endswith(JOB_FILE_SUFFIXES) and not any(c.isspace() for c in word)))


def _read_capped(stream: Any, name: str) -> str:
    data = stream.read(JOB_FILE_MAX_BYTES + 1)
    if len(data) > JOB_FILE_MAX_BYTES:
        raise InvalidInput(f"{name} is larger than {JOB_FILE_MAX_BYTES // (1024 * 1024)} MiB")
    if isinstance(data, str):
        return data
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidInput(f"cannot read {name}: not valid UTF-8") from None


def _read_job_file(path_text: str) -> str:
    """A job file's text: a regular file only (a FIFO or a device would hang or never end), capped."""
    import stat

    path = os.path.expanduser(path_text)
    try:
        # O_NONBLOCK: opening a FIFO must not wait for a writer; fstat then refuses it.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        raise InvalidInput(f"no such file: {path_text}") from None
    except OSError as exc:
        raise InvalidInput(f"cannot read {path_text}: {exc.strerror or exc}") from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise InvalidInput(f"cannot read {path_text}: not a regular file")
    with open(fd, "rb") as f:
        try:
            return _read_capped(f, path_text)
        except OSError as exc:
            raise InvalidInput(f"cannot read {path_text}: {exc.strerror or exc}") from None


def _read_source(source: str) -> str | None:
    """The JSON text behind one SOURCE word, or None when it is a shell command."""
    if source == "-":
        return _read_capped(getattr(sys.stdin, "buffer", sys.stdin), "stdin")
    if source.lstrip().startswith(("{", "[")):
        return source
    if source.startswith("@"):
        return _read_job_file(source[1:])
    if _is_job_source(source):
        return _read_job_file(source)
    return None


class EnqueueCommand(click.Command):
    """`enqueue`, whose SOURCE may be a command's words: `enqueue ls -la`, `enqueue -- ls -la`.

    Options come before the command. The first word that is not an option decides: a bare program
    name (no spaces, not a job source) starts the command, and every word after it is the command's
    (`-la` too); a job source or a quoted shell string is one word, and options may still follow it
    (`enqueue jobs.ndjson --json`, as before)."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        takes_value = {name: not (p.is_flag or p.count) for p in self.get_params(ctx) if isinstance(p, click.Option)
                       for name in (*p.opts, *p.secondary_opts)}
        i = 0
        while i < len(args):
            word = args[i]
            if word == "--":
                ctx.meta["queuectl.argv"] = True
                break
            if word.startswith("-") and word != "-":
                long_form = word.startswith("--")
                attached = "=" in word if long_form else len(word) > 2
                name = word.split("=", 1)[0] if long_form else word[:2]
                i += 2 if takes_value.get(name) and not attached else 1
                continue
            if not _is_job_source(word) and not any(c.isspace() for c in word):
                ctx.meta["queuectl.argv"] = True
                args = [*args[:i], "--", *args[i:]]
            break
        return super().parse_args(ctx, args)


def _enqueue_words(words: tuple[str, ...], argv: bool) -> tuple[str | None, str | None]:
    """(command, JSON text) from SOURCE's words; exactly one is not None."""
    if argv:
        return (words[0] if len(words) == 1 else shlex.join(words)), None
    if len(words) > 1:
        raise InvalidInput(
            f"'{safe_text.one_line(words[0])[:60]}' takes no further words "
            f"(got {safe_text.one_line(shlex.join(words[1:]))[:60]}): options go before the command; "
            "to run a program with arguments: queuectl enqueue [OPTIONS] [--] PROGRAM ARGS..."
        )
    text = _read_source(words[0])
    return (words[0], None) if text is None else (None, text)


@cli.command(cls=EnqueueCommand)
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
@click.option("--keep-children", is_flag=True, default=None,
              help="Let processes the job leaves behind (a daemon it starts) outlive a completed or failed run.")
@json_option
@pass_ctx
def enqueue(ctx: Ctx, source: tuple[str, ...], command: str | None, job_id: str | None, max_retries: int | None,
            priority: int | None, run_at: str | None, delay: str | None, timeout: str | None,
            queue_name: str | None, cwd: str | None, env_pairs: tuple[str, ...], job_file: str | None,
            keep_children: bool | None,
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
        command, text = _enqueue_words(source, click.get_current_context().meta.get("queuectl.argv", False))
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
        overrides["run_at"] = clock_now + (_parse_duration_option("--delay", delay) or 0.0)
    if timeout is not None:
        overrides["timeout"] = _parse_duration_option("--timeout", timeout)
    if queue_name is not None:
        overrides["queue"] = queue_name
    if cwd is not None:
        overrides["cwd"] = cwd
    if env_pairs:
        env: dict[str, str] = {}
        for pair in env_pairs:
            key, sep, value = pair.partition("=")
            if not sep:
                raise InvalidInput(f"--env: expected KEY=VALUE, got '{pair}'")
            env[key] = value
        overrides["env"] = env
    if keep_children:
        overrides["keep_children"] = True
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
    store = ctx.store(recover=False)  # reads no worker or job: the hot path stays as it was
    from queuectl.core.wake import wake_workers

    ids = ctx.queue().enqueue(specs, ctx.config().settings(), default_cwd=base, now=clock_now)
    if any(s.run_at is None or s.run_at <= clock_now for s in specs):
        try:
            wake_workers(store)
        except Exception:
            pass  # only a hint: workers poll anyway
    if as_json:
        # the created jobs as `show --json` gives them: one object for a job given inline (a command,
        # --command, a JSON object); an array for a bulk (a file or stdin, whatever it holds, a JSON array)
        jobs = [{**job.to_json(), "runs": []} for job in ctx.queue().get_many(ids)]
        inline = text is None or (text is source[0] and text.lstrip().startswith("{"))
        emit_json(jobs[0] if inline and len(jobs) == 1 else jobs)
    else:
        click.echo("\n".join(ids))
        _hint_if_unserved(ctx, {s.queue for s in specs})


def _hint_if_unserved(ctx: Ctx, queues: set[str]) -> None:
    """On a terminal, say why jobs will wait: no live worker serves their queue, or the queue is paused.

    One line on stderr, for a person only: never when stderr is piped (scripts), never with --json."""
    if not queues or not sys.stderr.isatty():
        return
    settings = ctx.config().settings()
    serving = [w for w in ctx.registry().list(worker_timeout=settings.worker_timeout) if w.state == "running"]
    unserved = sorted(q for q in queues if not any(w.queues is None or q in w.queues for w in serving))
    if not serving:
        hint = "no worker is running — start one with: queuectl worker start"
    elif unserved:
        names = ", ".join(safe_text.one_line(q) for q in unserved)
        hint = (f"no worker serves queue {names} — start one with: queuectl worker start "
                + " ".join(f"-q {shlex.quote(safe_text.one_line(q))}" for q in unserved))
    elif ctx.config().is_paused():
        hint = "the queue is paused: nothing starts until queuectl resume"
    else:
        return
    click.echo(f"queuectl: {hint}", err=True)


# ── reading ─────────────────────────────────────────────────────────────────────────────────


# Job-controlled text (command, error, id, queue, cwd, env names) in a table or `show`: one line, no
# escape sequence or control (a command's OSC could retitle the terminal). --json keeps the exact text;
# `logs` prints the raw bytes, like cat.
clean = safe_text.one_line


def _job_rows(jobs: Sequence[Any], now: float, colour: bool) -> list[list[str]]:
    rows = []
    for j in jobs:
        waiting = j.state in ("pending", "failed") and j.run_at > now
        when = render.age(j.run_at, now) if waiting else render.age(j.created_at, now)
        rows.append([
            clean(j.id), render.state(j.state, colour), f"{j.attempts}/{j.max_retries + 1}", str(j.priority),
            clean(j.queue),
            when, fmt.took(j, now),
            "-" if j.exit_code is None else str(j.exit_code), clean(j.command),
        ])
    return rows


JOB_HEADERS = ["ID", "STATE", "RUNS", "PRI", "QUEUE", "CREATED/DUE", "TOOK", "EXIT", "COMMAND"]


def _state_option(value: str | None):
    from queuectl.core.states import parse_state

    if value is None:
        return None
    try:
        return parse_state(value)
    except ValueError as exc:
        raise InvalidInput(f"--state: {exc}") from None


@cli.command("list")
@click.option("--state", "-s", "state_name", shell_complete=_complete_states,
              help="Only jobs in this state (pending, processing, completed, failed, dead, cancelled; all = any).")
@click.option("--queue", "-q", "queue_name", help="Only jobs of this queue.")
@click.option("--limit", "-n", type=click.IntRange(1, 100_000), help="At most this many (default 50).")
@click.option("--all", "list_all", is_flag=True, help="Every matching job, streamed (no limit).")
@json_option
@pass_ctx
def list_cmd(ctx: Ctx, state_name: str | None, queue_name: str | None, limit: int | None, list_all: bool,
             as_json: bool) -> None:
    """Jobs, newest first; pending and failed ones in the order they will run.

    Shows 50 by default and says so on stderr when there are more ("50 of 60").

    \b
    Examples:
      queuectl list
      queuectl list --state failed --limit 10
      queuectl list -s dead --json
      queuectl list --all --json > jobs.json
    """
    if list_all and limit is not None:
        raise InvalidInput("give --limit or --all, not both")
    state = None if state_name is not None and state_name.strip().lower() == "all" else _state_option(state_name)
    queue = ctx.queue()
    if list_all:
        _list_all(queue.iter_jobs(state=state, queue=queue_name, run_order=True), as_json, state)
        return
    limit = limit or 50
    jobs = queue.list_jobs(state=state, queue=queue_name, limit=limit, run_order=True)
    if as_json:
        emit_json([j.to_json() for j in jobs])
    elif not jobs:
        click.echo("no jobs" + (f" in state {state}" if state else ""))
    else:
        click.echo(render.table(JOB_HEADERS, _job_rows(jobs, time.time(), _colour()), shrink=8))
    if len(jobs) == limit and not as_json:
        total = queue.count_jobs(state=state, queue=queue_name)
        if total > limit:
            click.echo(f"{limit:,} of {total:,} jobs shown — -n N or --all for more", err=True)


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
    colour, headers, shown = _colour(), list(JOB_HEADERS), 0
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


@cli.command()
@json_option
@pass_ctx
def status(ctx: Ctx, as_json: bool) -> None:
    """Job counts per state, workers alive and busy, paused or not.

    \b
    Example:
      queuectl status --json
    """
    counts = ctx.queue().counts()
    settings = ctx.config().settings()
    workers = ctx.registry().list(worker_timeout=settings.worker_timeout)
    running = [w for w in workers if w.state in ("running", "stopping")]
    busy = [w for w in running if w.current_job_id]
    lost = [w for w in workers if w.state == "lost"]
    paused = ctx.config().is_paused()
    if as_json:
        emit_json({
            "jobs": counts.by_state, "total": counts.total,
            "workers": {"running": len(running), "busy": len(busy), "lost": len(lost)},
            "paused": paused,
        })
        return
    colour = _colour()
    parts = [f"{render.state(s, colour)} {n}" for s, n in counts.by_state.items()]
    click.echo(f"jobs     {'  '.join(parts)}  (total {counts.total})")
    click.echo(f"workers  {len(running)} running, {len(busy)} busy" + (f", {len(lost)} lost" if lost else ""))
    click.echo("queue    " + (render.paint("paused", "33", colour) + " (queuectl resume)" if paused else "active"))


@cli.command()
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
    window = _parse_duration_option("--since", since) or 0.0
    if window <= 0:
        raise InvalidInput("--since: must be more than 0")
    if prometheus or serve:
        _prometheus(ctx, window, serve, host, port, allow_remote, as_json)
        return
    from queuectl.core.stats import compute_stats

    result = compute_stats(ctx.store(), time.time(), window)
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
    from queuectl.core.metrics import MetricsReader

    reader = MetricsReader(ctx.store(), window)
    if not serve:
        click.echo(prometheus.render(reader.read()), nl=False)
        return
    prometheus.serve(reader.read, host, port,
                     lambda url: click.echo(f"serving Prometheus metrics at {url} (Ctrl+C to stop)"))


@cli.command()
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
    import sqlite3

    from queuectl.core import health as core_health
    from queuectl.core.db import describe_db_error
    from queuectl.core.errors import StoreUnavailable
    from queuectl.core.orm import peewee

    if queue_name is not None:
        _check_queues([queue_name])
    try:
        store = ctx.store()
        result = core_health.check(store, workers_needed, queue_name)
    except (StoreUnavailable, peewee.DatabaseError, peewee.InterfaceError, sqlite3.Error) as exc:
        opened = _OPENED[-1] if _OPENED else None
        text = str(exc) if isinstance(exc, StoreUnavailable) else describe_db_error(exc, opened)
        problem = f"the store does not answer: {_one_line(text)}"
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


@cli.command()
@click.argument("job_id", shell_complete=_complete_job_ids)
@json_option
@pass_ctx
def show(ctx: Ctx, job_id: str, as_json: bool) -> None:
    """One job with all its fields and its runs (alias: inspect).

    \b
    Example:
      queuectl show build-1
    """
    queue = ctx.queue()
    job = queue.get(job_id)
    runs = queue.runs(job_id)
    if as_json:
        emit_json({**job.to_json(), "runs": [r.to_json() for r in runs]})
        return
    now, colour = time.time(), _colour()
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
    if job.cancel_requested_at:
        fields.append(("cancel", f"requested {render.age(job.cancel_requested_at, now)}"))
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


@cli.command()
@click.argument("job_id", shell_complete=_complete_job_ids)
@click.option("--attempt", "-a", "number", type=click.IntRange(1), help="Run number (default: the latest).")
@click.option("--follow", "-f", is_flag=True, help="Keep printing while the run goes on.")
@json_option
@pass_ctx
def logs(ctx: Ctx, job_id: str, number: int | None, follow: bool, as_json: bool) -> None:
    """Output (stdout and stderr) of a job's latest or Nth run.

    \b
    Examples:
      queuectl logs build-1
      queuectl logs build-1 --attempt 1
      queuectl logs build-1 -f
    """
    queue = ctx.queue()
    out = queue.output(job_id, number)
    if out is None and number is not None:
        raise QueuectlError(f"job {job_id} has no run {number}")
    if as_json:
        emit_json(None if out is None else {
            "job_id": out.job_id, "run": out.number, "finished": out.finished, "output_bytes": out.output_bytes,
            "truncated": out.output_bytes > len(out.output), "output": out.output.decode("utf-8", "replace"),
        })
        return
    if not follow:
        if out is None:
            click.echo(f"job {job_id} has not run yet", err=True)
            return
        _write_bytes(out.output)
        return
    _follow(queue, job_id, number, out)


def _follow(queue: Any, job_id: str, number: int | None, out: Any) -> None:
    """Print a run's output as it grows, until the run ends (waiting for a first run if needed)."""
    from queuectl.core.states import FINISHED

    while out is None:
        if queue.get(job_id).state in FINISHED:
            return
        time.sleep(0.2)
        out = queue.output(job_id, number)
    printed = 0
    recheck = time.monotonic() + 1.0
    while True:
        if time.monotonic() >= recheck:  # the run's worker killed meanwhile: the run ends as lost
            recover_dead_workers(queue.store)
            recheck = time.monotonic() + 1.0
        new = out.output_bytes - printed
        if new > 0:
            chunk = out.output[-new:] if new <= len(out.output) else out.output
            _write_bytes(chunk)
            printed = out.output_bytes
        if out.finished:
            return
        time.sleep(0.2)
        out = queue.output(job_id, out.number)


@cli.command()
@click.argument("job_ids", nargs=-1, required=True, shell_complete=_complete_job_ids)
@click.option("--timeout", "timeout_text", help="Give up after this long (seconds or 30s/5m).")
@json_option
@pass_ctx
def wait(ctx: Ctx, job_ids: tuple[str, ...], timeout_text: str | None, as_json: bool) -> None:
    """Block until the jobs end; exit 0 if all completed, 1 otherwise.

    \b
    Example:
      id=$(queuectl enqueue 'make test') && queuectl wait "$id" && echo passed
    """
    from queuectl.core.states import FINISHED

    timeout = _parse_duration_option("--timeout", timeout_text)
    queue = ctx.queue()
    ids = list(dict.fromkeys(job_ids))
    jobs = [queue.get(job_id) for job_id in ids]  # unknown ids fail at once
    if not as_json:
        _hint_if_unserved(ctx, {j.queue for j in jobs if j.state not in FINISHED})
    deadline = None if timeout is None else time.monotonic() + timeout
    progress = _progress(len(ids)) if len(ids) > 1 and sys.stderr.isatty() and not as_json else None
    states: dict[str, str] = {}
    recheck = time.monotonic() + 1.0
    try:
        while True:
            if time.monotonic() >= recheck:  # a worker of this host killed meanwhile: its jobs go on now
                recover_dead_workers(queue.store)
                recheck = time.monotonic() + 1.0
            states = {job_id: queue.get(job_id).state for job_id in ids}
            done = sum(1 for s in states.values() if s in FINISHED)
            if progress is not None:
                progress[0].update(progress[1], completed=done)
            if done == len(ids):
                break
            if deadline is not None and time.monotonic() >= deadline:
                break
            time.sleep(0.1)
    finally:
        if progress is not None:
            progress[0].stop()
    if as_json:
        emit_json(states)
    unfinished = [j for j, s in states.items() if s not in FINISHED]
    if unfinished:
        raise QueuectlError(f"timed out waiting for {len(unfinished)} job(s): {', '.join(unfinished[:5])}")
    not_ok = [f"{j} {s}" for j, s in states.items() if s != "completed"]
    if not_ok:
        raise QueuectlError(f"not completed: {', '.join(not_ok[:5])}")


def _progress(total: int):
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    progress = Progress(TextColumn("waiting"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                        console=Console(stderr=True), transient=True)
    task = progress.add_task("jobs", total=total)
    progress.start()
    return progress, task


# ── changing jobs ───────────────────────────────────────────────────────────────────────────


def _wake(ctx: Ctx) -> None:
    from queuectl.core.wake import wake_workers

    try:
        wake_workers(ctx.store())
    except Exception:
        pass


@cli.command()
@click.argument("job_ids", nargs=-1, required=True, shell_complete=_complete_job_ids)
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
    ids = ctx.queue().retry(job_ids, force=force)
    _wake(ctx)
    emit_json({"retried": ids}) if as_json else click.echo("\n".join(f"retried {i}" for i in ids))


@cli.command()
@click.argument("job_ids", nargs=-1, required=True, shell_complete=_complete_job_ids)
@click.option("--no-wait", is_flag=True, help="Return at once instead of waiting for running jobs to die.")
@json_option
@pass_ctx
def cancel(ctx: Ctx, job_ids: tuple[str, ...], no_wait: bool, as_json: bool) -> None:
    """Cancel jobs: waiting ones at once, running ones by killing their process group (alias: kill).

    \b
    Example:
      queuectl cancel build-1
    """
    queue = ctx.queue()
    result = {k: str(v) for k, v in queue.cancel(job_ids).items()}
    running = [j for j, s in result.items() if s == "processing"]
    if running and not no_wait:
        grace = ctx.config().settings().kill_grace
        deadline = time.monotonic() + grace + 3.0
        while running and time.monotonic() < deadline:
            time.sleep(0.05)
            for job_id in list(running):
                state = queue.get(job_id).state
                if state != "processing":
                    result[job_id] = state
                    running.remove(job_id)
    if as_json:
        emit_json(result)
        return
    for job_id, state in result.items():
        click.echo(f"cancelled {job_id}" if state == "cancelled" else
                   f"cancelling {job_id} (its worker kills it)" if state == "processing" else f"{job_id} is {state}")


@cli.command()
@click.argument("job_ids", nargs=-1, required=True, shell_complete=_complete_job_ids)
@json_option
@pass_ctx
def delete(ctx: Ctx, job_ids: tuple[str, ...], as_json: bool) -> None:
    """Remove jobs (and their runs) that are not running.

    \b
    Example:
      queuectl delete build-1
    """
    ids = ctx.queue().delete(job_ids)
    emit_json({"deleted": ids}) if as_json else click.echo("\n".join(f"deleted {i}" for i in ids))


@cli.command()
@click.option("--state", "-s", "state_names", multiple=True, shell_complete=_complete_states,
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

    states = [_state_option(s) for s in state_names] or [JobState.COMPLETED, JobState.CANCELLED]
    for s in states:
        if s not in PURGEABLE:
            raise InvalidInput(f"--state: purge takes completed, dead or cancelled, not {s}")
    n = ctx.queue().purge(states, _parse_duration_option("--older-than", older_than))
    emit_json({"purged": n}) if as_json else click.echo(f"purged {n} job(s)")


@cli.command()
@json_option
@pass_ctx
def pause(ctx: Ctx, as_json: bool) -> None:
    """Stop workers from claiming new jobs (running ones finish).

    \b
    Example:
      queuectl pause && queuectl status
    """
    ctx.config().set_paused(True)
    emit_json({"paused": True}) if as_json else click.echo("paused: workers claim no new jobs (queuectl resume)")


@cli.command()
@json_option
@pass_ctx
def resume(ctx: Ctx, as_json: bool) -> None:
    """Let workers claim jobs again.

    \b
    Example:
      queuectl resume
    """
    ctx.config().set_paused(False)
    _wake(ctx)
    emit_json({"paused": False}) if as_json else click.echo("resumed")


# ── dlq ─────────────────────────────────────────────────────────────────────────────────────


@cli.group(cls=Group)
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

    jobs = ctx.queue().list_jobs(state=JobState.DEAD, limit=limit)
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
@click.argument("job_ids", nargs=-1, shell_complete=_complete_job_ids)
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
    queue = ctx.queue()
    if retry_all:
        n = queue.retry_all_dead()
        _wake(ctx)
        emit_json({"retried": n}) if as_json else click.echo(f"retried {n} dead job(s)")
        return
    ids = queue.retry(job_ids, only_dead=True)
    _wake(ctx)
    emit_json({"retried": ids}) if as_json else click.echo("\n".join(f"retried {i}" for i in ids))


@dlq.command("delete")
@click.argument("job_ids", nargs=-1, required=True, shell_complete=_complete_job_ids)
@json_option
@pass_ctx
def dlq_delete(ctx: Ctx, job_ids: tuple[str, ...], as_json: bool) -> None:
    """Remove dead jobs.

    \b
    Example:
      queuectl dlq delete build-1
    """
    ids = ctx.queue().delete(job_ids, only_dead=True)
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

    n = ctx.queue().purge([JobState.DEAD])
    emit_json({"purged": n}) if as_json else click.echo(f"purged {n} dead job(s)")


# ── workers ─────────────────────────────────────────────────────────────────────────────────


@cli.group(cls=Group)
def worker() -> None:
    """Start, run, stop and list worker processes.

    \b
    Examples:
      queuectl worker start -c 2
      queuectl worker list
      queuectl worker stop --wait
    """


@worker.command("start")
@click.option("--count", "-c", type=click.IntRange(1, 256), default=1, show_default=True, help="How many workers.")
@click.option("--queue", "-q", "queues", multiple=True, help="Only claim from this queue; repeatable (default: all).")
@json_option
@pass_ctx
def worker_start(ctx: Ctx, count: int, queues: tuple[str, ...], as_json: bool) -> None:
    """Start detached workers; returns once they are running. Logs: $QUEUECTL_HOME/workers/ID.log

    For a worker in the foreground (scripts, containers, systemd), use `queuectl worker run`.

    \b
    Example:
      queuectl worker start -c 4
    """
    from queuectl.core.supervisor import start_workers

    _check_queues(queues)
    ids = start_workers(ctx.store(), count, queues=queues or None)
    emit_json({"started": ids}) if as_json else click.echo("\n".join(f"started worker {i}" for i in ids))


def _check_queues(queues: Sequence[str]) -> None:
    from queuectl.core.specs import QUEUE_RE

    for q in queues:
        if not QUEUE_RE.fullmatch(q):
            raise InvalidInput(f"--queue: invalid queue name '{q}'")


@worker.command("run")
@click.option("--queue", "-q", "queues", multiple=True, help="Only claim from this queue; repeatable.")
@click.option("--burst", is_flag=True, help="Exit once nothing is due.")
@click.option("--worker-id", hidden=True)
@click.option("--verbose/--quiet", default=True, help="Log each job to stderr.")
@pass_ctx
def worker_run(ctx: Ctx, queues: tuple[str, ...], burst: bool, worker_id: str | None, verbose: bool) -> None:
    """Run one worker in the foreground (for systemd, containers, a terminal).

    SIGTERM or Ctrl-C: finish the running job, then exit. A second one: kill the job and put it
    back to pending.

    \b
    Examples:
      queuectl worker run
      queuectl worker run --burst        # drain what is due, then exit
    """
    import logging

    from queuectl.core.worker import Worker

    _check_queues(queues)
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(message)s")
    store = ctx.store(durable=False, recover=False)  # a worker rescues at each heartbeat, the first one now
    w = Worker(store, worker_id=worker_id, queues=queues or None, burst=burst)
    w.install_signal_handlers()
    sys.exit(w.run())


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
    from queuectl.core.supervisor import stop_workers

    timeout = _parse_duration_option("--timeout", timeout_text)
    asked, left = stop_workers(ctx.store(), list(worker_ids) or None, force=force, wait=wait_ or timeout is not None,
                               timeout=timeout, on_rescued=_say_rescued)
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
    """Workers with pid, host, state, current job (and its pid), heartbeat age, CPU and memory.

    CPU and RSS add up the worker and its job's process tree.

    \b
    Example:
      queuectl worker list
    """
    from queuectl.core.process_stats import process_stats

    settings = ctx.config().settings()
    workers = ctx.registry().list(include_stopped=include_stopped, worker_timeout=settings.worker_timeout)
    stats_by_id = process_stats(workers)
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
    colour = _colour()
    rows = []
    for w in workers:
        ps = stats_by_id.get(w.id)
        rows.append([
            w.id, render.state(w.state, colour), str(w.pid), w.host, w.current_job_id or "-",
            str(ps.job_pid) if ps and ps.job_pid and w.current_job_id else "-",
            fmt.worker_uptime(w, now), render.age(w.heartbeat_at, now),
            "-" if not ps or ps.cpu_percent is None else f"{ps.cpu_percent:.0f}%",
            render.size(ps.rss_bytes) if ps else "-", ",".join(w.queues) if w.queues else "all",
        ])
    headers = ["ID", "STATE", "PID", "HOST", "JOB", "JOB PID", "UPTIME", "HEARTBEAT", "CPU", "RSS", "QUEUES"]
    click.echo(render.table(headers, rows))


# ── config ──────────────────────────────────────────────────────────────────────────────────


@cli.group(cls=Group)
def config() -> None:
    """Settings, kept in the store; running workers pick up changes within a second.

    \b
    Examples:
      queuectl config list
      queuectl config set max-retries 5
    """


@config.command("list")
@json_option
@pass_ctx
def config_list(ctx: Ctx, as_json: bool) -> None:
    """Every setting with its value, default and meaning (alias: show, get-all).

    \b
    Example:
      queuectl config list
    """
    from queuectl.core.settings import SETTINGS

    store = ctx.config()
    values = store.settings().as_dict()
    if as_json:
        emit_json({k: values[k] for k in SETTINGS})
        return
    rows = [[k, _fmt(values[k]), _fmt(d.default), d.help] for k, d in SETTINGS.items()]
    click.echo(render.table(["KEY", "VALUE", "DEFAULT", "MEANING"], rows, shrink=3))


def _fmt(value: int | float) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


@config.command("get")
@click.argument("key", required=False, shell_complete=_complete_setting_keys)
@json_option
@pass_ctx
def config_get(ctx: Ctx, key: str | None, as_json: bool) -> None:
    """One setting's value (no KEY: every setting, as config list).

    \b
    Example:
      queuectl config get max-retries
    """
    from queuectl.core.settings import normalize_key

    if key is None:
        click.get_current_context().invoke(config_list, as_json=as_json)
        return
    name = normalize_key(key)
    value = ctx.config().settings().as_dict()[name]
    emit_json({name: value}) if as_json else click.echo(_fmt(value))


@config.command("set", context_settings={"ignore_unknown_options": True})
@click.argument("key", shell_complete=_complete_setting_keys)
@click.argument("value")
@json_option
@pass_ctx
def config_set(ctx: Ctx, key: str, value: str, as_json: bool) -> None:
    """Change a setting (keys may use - or _).

    \b
    Examples:
      queuectl config set max-retries 5
      queuectl config set backoff_base 3
    """
    name, stored = ctx.config().set(key, value)
    emit_json({name: stored}) if as_json else click.echo(f"{name} = {_fmt(stored)}")


@config.command("reset")
@click.argument("key", shell_complete=_complete_setting_keys)
@json_option
@pass_ctx
def config_reset(ctx: Ctx, key: str, as_json: bool) -> None:
    """Put a setting back to its default.

    \b
    Example:
      queuectl config reset poll_interval
    """
    from queuectl.core.settings import SETTINGS

    name = ctx.config().reset(key)
    default = SETTINGS[name].default
    emit_json({name: default}) if as_json else click.echo(f"{name} = {_fmt(default)} (default)")


# ── tui ─────────────────────────────────────────────────────────────────────────────────────


@cli.command()
@click.option("--web", is_flag=True, help="Serve the UI to a browser (textual-serve, the 'web' extra) instead.")
@click.option("--host", default="127.0.0.1", show_default=True, help="With --web: the address to listen on.")
@click.option("--port", type=click.IntRange(1, 65535), default=8000, show_default=True,
              help="With --web: the port to listen on.")
@click.option("--allow-remote", is_flag=True,
              help="With --web: allow a --host other than loopback (anyone who can reach it controls the queue).")
@pass_ctx
def tui(ctx: Ctx, web: bool, host: str, port: int, allow_remote: bool) -> None:
    """The full-screen terminal UI: live jobs, DLQ, workers and settings (? lists every key).

    With --web, serve it to a browser instead: each browser session runs its own TUI process,
    ended when its browser leaves, and all when the server stops (Ctrl+C). Open the printed URL:
    its random token is required on every request (then kept in a cookie). It listens on
    127.0.0.1 unless --host and --allow-remote say otherwise.

    \b
    Examples:
      queuectl tui
      queuectl tui --web --port 8080         # then open the printed http://127.0.0.1:8080/?token=…
    """
    if web:
        from queuectl import web as web_view

        web_view.check_host(host, allow_remote)
        web_view.require_textual_serve()
        store = ctx.store()  # resolve (and create or migrate) the store now, once
        url = store.url
        store.close()
        web_view.serve(url, host, port, allow_remote)
        return
    # A full-screen UI written to a file or a pipe is escape codes nobody reads (htop refuses too);
    # a --web session runs under textual-serve's web driver, which is not a terminal either.
    if not sys.stdout.isatty() and "web_driver" not in os.environ.get("TEXTUAL_DRIVER", ""):
        raise InvalidInput(
            "tui needs a terminal: standard output is not one (for a script, try: queuectl status or list)")
    from queuectl.tui.app import make_app

    app = make_app(ctx.db_url)
    app.run()
    running = app.service.live_workers()
    if running:
        click.echo(f"{running} worker(s) still running in the background (queuectl worker stop to stop them)")


# ── aliases from other queuectl versions (hidden) ───────────────────────────────────────────


def _alias(group: click.Group, name: str, target: click.Command) -> None:
    alias = click.Command(
        name, callback=target.callback, params=target.params, help=target.help, hidden=True,
        context_settings=target.context_settings,
    )
    group.add_command(alias, name)


_alias(cli, "inspect", show)
_alias(cli, "kill", cancel)
_alias(cli, "worker-start", worker_start)
_alias(cli, "worker-stop", worker_stop)
_alias(cli, "dlq-list", dlq_list)
_alias(cli, "dlq-retry", dlq_retry)
_alias(cli, "config-get", config_get)
_alias(cli, "config-set", config_set)
_alias(config, "show", config_list)
_alias(config, "get-all", config_list)
_alias(cli, "add", enqueue)
_alias(cli, "metrics", stats)
_alias(worker, "status", worker_list)
_alias(dlq, "show", show)


@cli.command("init", hidden=True)
@pass_ctx
def init(ctx: Ctx) -> None:
    """Create the store (and the home) now and say where (other versions' first step; any command does it).

    \b
    Example:
      queuectl init
    """
    from queuectl.core.db import redact

    store = ctx.store()
    where = str(store.path) if store.path is not None else redact(store.url)
    from queuectl.core import paths

    click.echo(f"store ready at {where} (home {paths.home()})")


@cli.command("dashboard", hidden=True)
@click.option("--port", type=click.IntRange(1, 65535), default=8000, show_default=True, help="The port to listen on.")
@click.option("--host", default="127.0.0.1", show_default=True, help="The address to listen on.")
@click.option("--addr", metavar="HOST:PORT", help="Both at once, as other versions spell it.")
@click.option("--allow-remote", is_flag=True, help="Allow a --host other than loopback (see tui --help).")
@click.pass_context
def dashboard(click_ctx: click.Context, port: int, host: str, addr: str | None, allow_remote: bool) -> None:
    """= tui --web (another version's spelling), with --addr HOST:PORT accepted.

    \b
    Example:
      queuectl dashboard --addr 127.0.0.1:8080
    """
    if addr is not None:
        addr_host, sep, addr_port = addr.rpartition(":")
        if not sep or not addr_port.isdigit() or not 1 <= int(addr_port) <= 65535:
            raise InvalidInput(f"--addr: expected HOST:PORT, got '{addr}'")
        host, port = addr_host.strip("[]") or host, int(addr_port)
    click_ctx.invoke(tui, web=True, host=host, port=port, allow_remote=allow_remote)


# ── entry point ─────────────────────────────────────────────────────────────────────────────


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def main(argv: Sequence[str] | None = None) -> NoReturn:
    """Run the CLI: one-line errors on stderr, exit 0/1/2, never a traceback."""
    import sqlite3

    from queuectl.core.orm import peewee

    try:
        cli.main(args=list(argv) if argv is not None else None, prog_name="queuectl", standalone_mode=False)
        code = 0
    except click.exceptions.Exit as exc:
        code = exc.exit_code
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        code = 130
    except click.exceptions.NoArgsIsHelpError as exc:  # a bare group, e.g. `queuectl worker`
        click.echo(exc.ctx.get_help() if exc.ctx else "")
        code = 0
    except click.UsageError as exc:
        hint = f" (see '{exc.ctx.command_path} --help')" if exc.ctx else ""
        click.echo(f"queuectl: error: {_one_line(exc.format_message())}{hint}", err=True)
        code = 2
    except click.ClickException as exc:
        click.echo(f"queuectl: error: {_one_line(exc.format_message())}", err=True)
        code = exc.exit_code
    except QueuectlError as exc:
        click.echo(f"queuectl: error: {_one_line(str(exc))}", err=True)
        code = exc.exit_code
    except (peewee.DatabaseError, peewee.InterfaceError, sqlite3.Error) as exc:
        from queuectl.core.db import describe_db_error

        click.echo(f"queuectl: error: {_one_line(describe_db_error(exc, _OPENED[-1] if _OPENED else None))}", err=True)
        code = StoreUnavailable.exit_code
    except UnicodeError:
        click.echo("queuectl: error: an argument, a file or the current directory's name is not valid UTF-8",
                   err=True)
        code = InvalidInput.exit_code
    except KeyboardInterrupt:
        code = 130
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except Exception as exc:  # a bug: still one line, with the type to report it
        if os.environ.get("QUEUECTL_DEBUG"):
            raise
        click.echo(f"queuectl: internal error: {type(exc).__name__}: {_one_line(str(exc))} "
                   "(set QUEUECTL_DEBUG=1 for a traceback)", err=True)
        code = 1
    finally:
        _close_opened()
    sys.exit(code)


def _close_opened() -> None:
    """Close the stores this call opened: `main` called in-process (tests, scripts) must not leak
    a connection per call (PostgreSQL allows only so many)."""
    while _OPENED:
        try:
            _OPENED.pop().close()
        except Exception:  # closing a broken connection must not hide the command's outcome
            pass
