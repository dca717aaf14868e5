"""Shell completion (click's): job ids from the store, setting keys, states."""

from __future__ import annotations

import click


def complete_job_ids(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[str]:
    try:
        from queuectl.core.api import Api

        api = Api.open(ctx.find_root().params.get("db_url"), migrate=False)
        try:
            return api.complete_job_ids(incomplete)
        finally:
            api.close()
    except Exception:  # completion never breaks the shell: no store, no candidates
        return []


def complete_setting_keys(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[str]:
    from queuectl.core.settings import SETTINGS

    return [k for k in SETTINGS if k.startswith(incomplete.replace("-", "_"))]


def complete_states(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[str]:
    from queuectl.core.states import ALL_STATES

    return [s.value for s in ALL_STATES if s.value.startswith(incomplete)]
