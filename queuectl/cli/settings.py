"""`config`: settings, kept in the store."""

from __future__ import annotations

import click

from queuectl.cli import table as render
from queuectl.cli.completion import complete_setting_keys
from queuectl.cli.context import Ctx, Group, emit_json, json_option, pass_ctx


@click.group("config", cls=Group)
def config_group() -> None:
    """Settings, kept in the store; running workers pick up changes within a second.

    \b
    Examples:
      queuectl config list
      queuectl config set max-retries 5
    """


@config_group.command("list")
@json_option
@pass_ctx
def config_list(ctx: Ctx, as_json: bool) -> None:
    """Every setting with its value, default and meaning (alias: show, get-all).

    \b
    Example:
      queuectl config list
    """
    from queuectl.core.settings import SETTINGS

    values = ctx.api().settings().as_dict()
    if as_json:
        emit_json({k: values[k] for k in SETTINGS})
        return
    rows = [[k, _fmt(values[k]), _fmt(d.default), d.help] for k, d in SETTINGS.items()]
    click.echo(render.table(["KEY", "VALUE", "DEFAULT", "MEANING"], rows, shrink=3))


def _fmt(value: int | float) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


@config_group.command("get")
@click.argument("key", required=False, shell_complete=complete_setting_keys)
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
    value = ctx.api().settings().as_dict()[name]
    emit_json({name: value}) if as_json else click.echo(_fmt(value))


@config_group.command("set", context_settings={"ignore_unknown_options": True})
@click.argument("key", shell_complete=complete_setting_keys)
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
    name, stored = ctx.api().set_setting(key, value)
    emit_json({name: stored}) if as_json else click.echo(f"{name} = {_fmt(stored)}")


@config_group.command("reset")
@click.argument("key", shell_complete=complete_setting_keys)
@json_option
@pass_ctx
def config_reset(ctx: Ctx, key: str, as_json: bool) -> None:
    """Put a setting back to its default.

    \b
    Example:
      queuectl config reset poll_interval
    """
    from queuectl.core.settings import SETTINGS

    name = ctx.api().reset_setting(key)
    default = SETTINGS[name].default
    emit_json({name: default}) if as_json else click.echo(f"{name} = {_fmt(default)} (default)")
