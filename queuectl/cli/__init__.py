"""The queuectl command line: parse, call the core, print. Exit codes: `queuectl.cli.exit_codes`.

A thin layer: every decision about jobs lives in `queuectl.core`. Textual is imported only by
`tui`, and Rich by no command, so headless commands start fast. Each command group has
its module (jobs, dlq, workers, settings, tui, aliases); this one holds the root group, which names
the others and imports a command's module only when that command runs or is listed (`COMMANDS`,
`queuectl.cli.lazy`), and turns every error into one line and an exit code (`main`).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from typing import NoReturn

import click

from queuectl import __version__
from queuectl.cli import aliases
from queuectl.cli.context import OPENED, Ctx, one_line_message
from queuectl.cli.exit_codes import ExitCode, exit_code_for
from queuectl.cli.lazy import LazyGroup
from queuectl.core.errors import QueuectlError

COMMANDS = {  # name → "module:attribute", in --help's order
    "enqueue": "queuectl.cli.enqueue:enqueue",
    "list": "queuectl.cli.jobs:list_cmd",
    "status": "queuectl.cli.status:status",
    "stats": "queuectl.cli.jobs:stats",
    "health": "queuectl.cli.jobs:health",
    "show": "queuectl.cli.jobs:show",
    "logs": "queuectl.cli.jobs:logs",
    "wait": "queuectl.cli.jobs:wait",
    "retry": "queuectl.cli.jobs:retry",
    "cancel": "queuectl.cli.jobs:cancel",
    "delete": "queuectl.cli.jobs:delete",
    "purge": "queuectl.cli.jobs:purge",
    "pause": "queuectl.cli.jobs:pause",
    "resume": "queuectl.cli.jobs:resume",
    "hold": "queuectl.cli.waiting:hold",
    "release": "queuectl.cli.waiting:release",
    "start": "queuectl.cli.waiting:start",
    "edit": "queuectl.cli.waiting:edit",
    "queue": "queuectl.cli.queues:queue_group",
    "dlq": "queuectl.cli.dlq:dlq",
    "worker": "queuectl.cli.workers:worker",
    "config": "queuectl.cli.settings:config_group",
    "schedule": "queuectl.cli.schedules:schedule",
    "tui": "queuectl.cli.tui:tui",
}

ALIASES_LINE = (
    "Also accepted: worker-start, worker-stop, dlq-list, dlq-retry, config-get, config-set, "
    "config get-all, config show, inspect, kill, add, metrics, init, dashboard, worker status, dlq show, "
    "enqueue --file, -d; list --state dead is the DLQ."
)


class RootGroup(LazyGroup):
    """The real commands, then the other versions' hidden spellings (`queuectl.cli.aliases`)."""

    def prepare(self, name: str, command: click.Command) -> click.Command:
        if name in aliases.ROOT_ALIASES:
            command = aliases.hidden_alias(name, command)
        aliases.add_group_aliases(name, command)
        _accept_db_anywhere(command)
        return command


def _show_version(ctx: click.Context, param: click.Parameter, value: bool) -> None:
    """click's version option, without its gettext look-ups at every start (see `context.PlainHelp`)."""
    if value and not ctx.resilient_parsing:
        click.echo(f"queuectl, version {__version__}", color=ctx.color)
        ctx.exit()


@click.group(
    cls=RootGroup,
    lazy_commands={**COMMANDS, **aliases.ROOT_ALIASES, **aliases.HIDDEN_COMMANDS},
    invoke_without_command=True,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
    epilog=ALIASES_LINE,
)
@click.option("--db", "db_url", metavar="URL", help="Store URL (default: $QUEUECTL_DB or $QUEUECTL_HOME/queue.db).")
@click.option("-V", "--version", is_flag=True, expose_value=False, is_eager=True, callback=_show_version,
              help="Show the version and exit.")
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


def _set_db(ctx: click.Context, param: click.Parameter, value: str | None) -> None:
    if value is not None:
        ctx.ensure_object(Ctx).db_url = value


def _accept_db_anywhere(command: click.Command) -> None:
    """`--db URL` after the subcommand too (`queuectl list --db URL`), as users of other tools type it:
    a hidden option on every command that sets the store before the command runs (the root group's
    callback, which makes the Ctx, runs before a subcommand parses its options)."""
    if isinstance(command, click.Group):
        for sub in command.commands.values():
            _accept_db_anywhere(sub)
    elif not any(p.name == "late_db_url" for p in command.params):
        command.params.append(click.Option(["--db", "late_db_url"], metavar="URL", hidden=True, expose_value=False,
                                           callback=_set_db, is_eager=True, help="Store URL (as before the command)."))


def main(argv: Sequence[str] | None = None) -> NoReturn:
    """Run the CLI: one-line errors on stderr, an `ExitCode`, never a traceback."""
    if argv is None:  # the process's own command line (`queuectl …`, `python -m queuectl …`)
        _spare_the_collector()
    code: int
    try:
        returned = cli.main(args=list(argv) if argv is not None else None, prog_name="queuectl",
                            standalone_mode=False)
        # without standalone mode click returns the code of a command's `Exit` (wait, logs -f: a job's status)
        code = returned if isinstance(returned, int) else ExitCode.OK
    except click.exceptions.Exit as exc:
        code = exc.exit_code
    except click.exceptions.Abort as exc:
        click.echo("aborted", err=True)
        code = exit_code_for(exc)
    except click.exceptions.NoArgsIsHelpError as exc:  # a bare group, e.g. `queuectl worker`
        click.echo(exc.ctx.get_help() if exc.ctx else "")
        code = ExitCode.OK
    except click.UsageError as exc:
        hint = f" (see '{exc.ctx.command_path} --help')" if exc.ctx else ""
        click.echo(f"queuectl: error: {one_line_message(exc.format_message())}{hint}", err=True)
        code = exit_code_for(exc)
    except click.ClickException as exc:
        click.echo(f"queuectl: error: {one_line_message(exc.format_message())}", err=True)
        code = exit_code_for(exc)
    except QueuectlError as exc:
        click.echo(f"queuectl: error: {one_line_message(str(exc))}", err=True)
        code = exit_code_for(exc)
    except UnicodeError as exc:
        click.echo("queuectl: error: an argument, a file or the current directory's name is not valid UTF-8",
                   err=True)
        code = exit_code_for(exc)
    except KeyboardInterrupt as exc:
        code = exit_code_for(exc)
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        code = ExitCode.OK
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (ExitCode.OK if exc.code is None else ExitCode.FAILED)
    except Exception as exc:
        code = _unexpected(exc)
    finally:
        _close_opened()
    sys.exit(int(code))


def _spare_the_collector() -> None:
    """What start-up made so far (the interpreter's, click's and this package's modules, classes and
    functions, the command tree) lives until the process ends: `gc.freeze` moves it out of the
    collector's generations, which would otherwise walk it again at every full collection and once
    more at exit (~20 M of a ~265 M-instruction enqueue; issue 15). What the command makes afterwards
    is collected as before, in a worker or the TUI too. Not for a call from Python (`main([...])`,
    as tests make): that process goes on, and its garbage so far must stay collectable."""
    import gc

    gc.freeze()


def _unexpected(exc: Exception) -> int:
    """A store that broke (locked, corrupt, gone) is said as such; anything else is a bug: still one
    line, with the type to report it."""
    from queuectl.core.api import describe_store_error, store_errors

    if isinstance(exc, store_errors()):
        text = describe_store_error(exc, OPENED[-1] if OPENED else None)
        click.echo(f"queuectl: error: {one_line_message(text)}", err=True)
        return exit_code_for(exc)
    if os.environ.get("QUEUECTL_DEBUG"):
        raise exc
    click.echo(f"queuectl: internal error: {type(exc).__name__}: {one_line_message(str(exc))} "
               "(set QUEUECTL_DEBUG=1 for a traceback)", err=True)
    return exit_code_for(exc)


def _close_opened() -> None:
    """Close the stores this call opened: `main` called in-process (tests, scripts) must not leak
    a connection per call (PostgreSQL allows only so many)."""
    while OPENED:
        try:
            OPENED.pop().close()
        except Exception:  # closing a broken connection must not hide the command's outcome
            pass
