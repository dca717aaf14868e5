"""A click group that imports a command's module only when the command is run or listed (click's lazy
loading pattern): `queuectl enqueue` then pays for jobs.py, not for the scheduler, worker and DLQ commands."""

from __future__ import annotations

from collections.abc import Mapping

import click

from queuectl.cli.context import Group


def load_command(spec: str) -> click.Command:
    """The command named "module:attribute", its module imported now."""
    module, _, attr = spec.partition(":")
    # __import__, not importlib.import_module: `python -X importtime` only times the former, and it is how
    # the cost of a command's module is measured (bench/RESULTS.md)
    return getattr(__import__(module, fromlist=[attr]), attr)


class LazyGroup(Group):
    """`lazy_commands` maps a command's name to "module:attribute"; `prepare` may wrap or extend a command
    once, when it is first loaded."""

    def __init__(self, *args: object, lazy_commands: Mapping[str, str], **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.lazy_commands = dict(lazy_commands)

    def list_commands(self, ctx: click.Context) -> list[str]:
        return [*self.lazy_commands, *(name for name in self.commands if name not in self.lazy_commands)]

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in self.lazy_commands:
            self.add_command(self.prepare(cmd_name, load_command(self.lazy_commands[cmd_name])), cmd_name)
        return self.commands.get(cmd_name)

    def prepare(self, name: str, command: click.Command) -> click.Command:
        return command

    def resolve_command(self, ctx: click.Context, args: list[str]) -> tuple[str | None, click.Command | None,
                                                                             list[str]]:
        try:
            return super().resolve_command(ctx, args)
        except click.exceptions.NoSuchCommand as exc:
            # click suggests from the commands loaded so far: suggest from all of them, as before
            raise click.exceptions.NoSuchCommand(exc.command_name, possibilities=self.list_commands(ctx),
                                                 ctx=exc.ctx) from None
