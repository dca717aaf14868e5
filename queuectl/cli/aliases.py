"""Other queuectl versions' spellings, hidden from --help: `inspect`, `kill`, `worker-start`, …, `init`,
`dashboard`."""

from __future__ import annotations

import click

from queuectl.cli import dlq, jobs, settings, tui, workers
from queuectl.cli.context import Ctx, pass_ctx
from queuectl.core.errors import InvalidInput


def _alias(group: click.Group, name: str, target: click.Command) -> None:
    alias = click.Command(
        name, callback=target.callback, params=target.params, help=target.help, hidden=True,
        context_settings=target.context_settings,
    )
    group.add_command(alias, name)




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
    click_ctx.invoke(tui.tui, web=True, host=host, port=port, allow_remote=allow_remote)


def register(root: click.Group) -> None:
    """Add the hidden spellings to the root group and its subgroups (after the real commands)."""
    _alias(root, "inspect", jobs.show)
    _alias(root, "kill", jobs.cancel)
    _alias(root, "worker-start", workers.worker_start)
    _alias(root, "worker-stop", workers.worker_stop)
    _alias(root, "dlq-list", dlq.dlq_list)
    _alias(root, "dlq-retry", dlq.dlq_retry)
    _alias(root, "config-get", settings.config_get)
    _alias(root, "config-set", settings.config_set)
    _alias(settings.config_group, "show", settings.config_list)
    _alias(settings.config_group, "get-all", settings.config_list)
    _alias(root, "add", jobs.enqueue)
    _alias(root, "metrics", jobs.stats)
    _alias(workers.worker, "status", workers.worker_list)
    _alias(dlq.dlq, "show", jobs.show)
    root.add_command(init)
    root.add_command(dashboard)
