"""Other queuectl versions' spellings, hidden from --help: `inspect`, `kill`, `worker-start`, …, `init`,
`dashboard`.

Named as "module:attribute" so that the root group loads a spelling's module only when it is used."""

from __future__ import annotations

import click

from queuectl.cli.context import Ctx, pass_ctx
from queuectl.cli.lazy import load_command
from queuectl.core.errors import InvalidInput

ROOT_ALIASES = {  # a hidden root command → the command it runs
    "inspect": "queuectl.cli.jobs:show",
    "kill": "queuectl.cli.jobs:cancel",
    "worker-start": "queuectl.cli.workers:worker_start",
    "worker-stop": "queuectl.cli.workers:worker_stop",
    "dlq-list": "queuectl.cli.dlq:dlq_list",
    "dlq-retry": "queuectl.cli.dlq:dlq_retry",
    "config-get": "queuectl.cli.settings:config_get",
    "config-set": "queuectl.cli.settings:config_set",
    "add": "queuectl.cli.enqueue:enqueue",
    "metrics": "queuectl.cli.jobs:stats",
}
HIDDEN_COMMANDS = {"init": "queuectl.cli.aliases:init", "dashboard": "queuectl.cli.aliases:dashboard"}
GROUP_ALIASES = {  # a root group's name → its hidden subcommands, added when the group is loaded
    "config": {"show": "queuectl.cli.settings:config_list", "get-all": "queuectl.cli.settings:config_list"},
    "worker": {"status": "queuectl.cli.workers:worker_list"},
    "dlq": {"show": "queuectl.cli.jobs:show"},
}


def hidden_alias(name: str, target: click.Command) -> click.Command:
    """`name` runs `target` (same callback and options), unlisted in --help."""
    return click.Command(
        name, callback=target.callback, params=target.params, help=target.help, hidden=True,
        context_settings=target.context_settings,
    )


def add_group_aliases(name: str, group: click.Command) -> None:
    """Add a root group's hidden spellings (`config show`, `worker status`, …) after its real commands."""
    if isinstance(group, click.Group):
        for alias, spec in GROUP_ALIASES.get(name, {}).items():
            if alias not in group.commands:
                group.add_command(hidden_alias(alias, load_command(spec)), alias)



@click.command("init", hidden=True)
@pass_ctx
def init(ctx: Ctx) -> None:
    """Create the store (and the home) now and say where (other versions' first step; any command does it).

    \b
    Example:
      queuectl init
    """
    from queuectl.core import paths

    where = ctx.api().where()
    click.echo(f"store ready at {where} (home {paths.home()})")


@click.command("dashboard", hidden=True)
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
    from queuectl.cli import tui

    click_ctx.invoke(tui.tui, web=True, host=host, port=port, allow_remote=allow_remote)
