"""The hook options that `enqueue` and `schedule add` share."""

from __future__ import annotations

from typing import Any

import click


def hook_options(f: Any) -> Any:
    """--on-success / --on-failure / --on-dead CMD."""
    for name, when in (("dead", "when it goes to the DLQ"), ("failure", "after each failed run"),
                       ("success", "when it completes")):
        f = click.option(f"--on-{name}", f"on_{name}", metavar="CMD",
                         help=f"Hook: enqueue CMD as a job of its own {when}; the parent's id, state, exit "
                              "code, attempt and queue are in its QUEUECTL_PARENT_* variables.")(f)
    return f
