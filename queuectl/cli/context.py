"""What every command shares: the store (opened lazily), --json, option parsers, the one-line error text.

No command module imports the `cli` group (that would be a cycle): commands are plain click commands that
`queuectl.cli` registers.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import click

from queuectl import safe_text
from queuectl.core.errors import InvalidInput

if TYPE_CHECKING:
    from queuectl.core.api import Api

OPENED: list[Api] = []  # the store a command opened: named in an error message, closed by `main`


class Ctx:
    """What every command shares: the core's door (`queuectl.core.api.Api`), opened lazily."""

    def __init__(self, db_url: str | None) -> None:
        self.db_url = db_url
        self._api: Api | None = None

    def api(self, durable: bool = True, recover: bool = True) -> Api:
        """The store, opened (created, migrated) on first use. `recover`: before a command reads workers or
        jobs, a worker of this host whose process is gone is recorded lost now (said on stderr)."""
        if self._api is None:
            from queuectl.core.api import Api

            self._api = Api.open(self.db_url, durable=durable, on_rescued=say_rescued)
            OPENED.append(self._api)
            if recover:
                self._api.recover_dead_workers()
        return self._api


def say_rescued(rescued_workers: Sequence[Any]) -> None:
    for rescued in rescued_workers:
        jobs = ", ".join(f"{job_id} is now {state}" for job_id, state in rescued.jobs)
        click.echo(f"queuectl: worker {rescued.worker_id} had died (its process is gone); recorded as lost"
                   + (f": {jobs}" if jobs else ""), err=True)


def emit_json(data: Any) -> None:
    import json  # here: `enqueue` and `status` without --json never need it (start-up, issue 15)

    click.echo(json.dumps(data, indent=2, ensure_ascii=False))


def json_option(f: Callable) -> Callable:
    return click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")(f)


pass_ctx = click.make_pass_decorator(Ctx)


def parse_duration_option(name: str, value: str | None) -> float | None:
    from queuectl.core.specs import parse_duration

    if value is None:
        return None
    try:
        return parse_duration(value)
    except InvalidInput as exc:
        raise InvalidInput(f"{name}: {exc}") from None


def parse_env_pairs(pairs: Sequence[str]) -> list[tuple[str, str]]:
    """`--env KEY=VALUE` options as (key, value) pairs, in order; one without `=` is bad input."""
    parsed = []
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise InvalidInput(f"--env: expected KEY=VALUE, got '{pair}'")
        parsed.append((key, value))
    return parsed


def use_colour() -> bool:
    from queuectl.cli import table

    return table.use_colour()


def state_option(value: str | None):
    from queuectl.core.states import parse_state

    if value is None:
        return None
    try:
        return parse_state(value)
    except ValueError as exc:
        raise InvalidInput(f"--state: {exc}") from None


def check_queues(queues: Sequence[str]) -> None:
    from queuectl.core.specs import QUEUE_RE

    for q in queues:
        if not QUEUE_RE.fullmatch(q):
            raise InvalidInput(f"--queue: invalid queue name '{q}'")


# Job-controlled text (command, error, id, queue, cwd, env names) in a table or `show`: one line, no
# escape sequence or control (a command's OSC could retitle the terminal). --json keeps the exact text;
# `logs` prints the raw bytes, like cat.
clean = safe_text.one_line


def hint_if_unserved(ctx: Ctx, queues: set[str]) -> None:
    """On a terminal, say why jobs will wait: no live worker serves their queue, or the queue is paused.

    One line on stderr, for a person only: never when stderr is piped (scripts), never with --json."""
    if not queues or not sys.stderr.isatty():
        return
    api = ctx.api()
    # `enqueue` opens the store without the dead-worker recovery (it reads no worker or job); this hint
    # reads workers, so a worker of this host whose process is gone must not count as serving
    api.recover_dead_workers()
    why = api.unserved(queues)
    if why is None:
        return
    import shlex

    if why.no_workers:
        hint = "no worker is running — start one with: queuectl worker start"
    elif why.queues:
        names = ", ".join(clean(q) for q in why.queues)
        hint = (f"no worker serves queue {names} — start one with: queuectl worker start "
                + " ".join(f"-q {shlex.quote(clean(q))}" for q in why.queues))
    else:
        hint = "the queue is paused: nothing starts until queuectl resume"
    click.echo(f"queuectl: {hint}", err=True)


def one_line_message(text: str) -> str:
    return " ".join(str(text).split())


HELP_TEXT = "Show this message and exit."


def _show_help(ctx: click.Context, param: click.Parameter, value: bool) -> None:
    if value and not ctx.resilient_parsing:
        click.echo(ctx.get_help(), color=ctx.color)
        ctx.exit()


class PlainHelp:
    """`--help` made without gettext: click's own help option looks its text up in the message
    catalogues at every command's start (a `locale` import and a file search per call, ~1 ms of an
    enqueue; issue 15). Same option, same text; click ships no translations."""

    _plain_help: click.Option | None = None

    def get_help_option(self, ctx: click.Context) -> click.Option | None:
        command: click.Command = self  # type: ignore[assignment]
        names = command.get_help_option_names(ctx)
        if not names or not command.add_help_option:
            return None
        if self._plain_help is None:  # made once: click orders eager callbacks by the object
            self._plain_help = click.Option(names, is_flag=True, expose_value=False, is_eager=True,
                                            help=HELP_TEXT, callback=_show_help)
        return self._plain_help


class Command(PlainHelp, click.Command):
    """A command whose `--help` costs no gettext look-up (`PlainHelp`)."""


class Group(PlainHelp, click.Group):
    """Commands listed in the order they are defined; hidden aliases resolve like the real ones."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(self.commands)
