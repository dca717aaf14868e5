"""`tui`: the full-screen UI, or (--web) the same served to a browser."""

from __future__ import annotations

import os
import sys

import click

from queuectl.cli.context import OPENED, Ctx, pass_ctx
from queuectl.core.errors import InvalidInput


@click.command()
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
        api = ctx.api()  # resolve (and create or migrate) the store now, once
        url = api.url
        api.close()
        OPENED.remove(api)
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
