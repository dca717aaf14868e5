"""Shell completion (click's): job ids from the store, setting keys, states."""

from __future__ import annotations

import click


def complete_job_ids(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[str]:
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


def complete_setting_keys(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[str]:
    from queuectl.core.settings import SETTINGS

    return [k for k in SETTINGS if k.startswith(incomplete.replace("-", "_"))]


def complete_states(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[str]:
    from queuectl.core.states import ALL_STATES

    return [s.value for s in ALL_STATES if s.value.startswith(incomplete)]
