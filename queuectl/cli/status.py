"""`queuectl status`: job counts, workers and slots, pause. A module of its own so that it starts with
only what it needs (see `enqueue.py`)."""

from __future__ import annotations

import click

from queuectl.cli import table as render
from queuectl.cli.context import Command, Ctx, emit_json, json_option, pass_ctx, use_colour


@click.command(cls=Command)
@json_option
@pass_ctx
def status(ctx: Ctx, as_json: bool) -> None:
    """Job counts per state, workers alive and busy, busy/total slots, paused or not.

    \b
    Example:
      queuectl status --json
    """
    status = ctx.api().status()
    if as_json:
        emit_json(status.to_json())
        return
    colour, counts, workers = use_colour(), status.counts, status.workers
    parts = [f"{render.state(s, colour)} {n}" for s, n in counts.by_state.items()]
    click.echo(f"jobs     {'  '.join(parts)}  (total {counts.total})")
    lost = f", {workers.lost} lost" if workers.lost else ""
    slots = f"slots {workers.slots_busy}/{workers.slots} busy"
    click.echo(f"workers  {workers.alive} running, {workers.busy} busy{lost}; {slots}")
    click.echo("queue    " + (render.paint("paused", "33", colour) + " (queuectl resume)" if status.paused
                              else "active"))
