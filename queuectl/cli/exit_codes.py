"""The CLI's exit codes, and the one mapping from an error to its code.

The core raises typed errors and knows nothing of processes; which number a shell sees is decided
here only (`main` calls `exit_code_for`).
"""

from __future__ import annotations

from enum import IntEnum

import click

from queuectl.core.errors import InvalidInput


class ExitCode(IntEnum):
    OK = 0
    """Done."""
    FAILED = 1
    """Could not be done: no such job, a job that did not complete, the store unavailable, a bug."""
    BAD_INPUT = 2
    """Bad usage or bad input; nothing was changed."""
    INTERRUPTED = 130
    """Ctrl-C (128 + SIGINT, as shells report it)."""


def exit_code_for(error: BaseException) -> ExitCode | int:
    """The code for an error that ended a command (a click exception keeps the code it carries)."""
    if isinstance(error, (KeyboardInterrupt, click.exceptions.Abort)):
        return ExitCode.INTERRUPTED
    if isinstance(error, (InvalidInput, click.UsageError, UnicodeError)):
        return ExitCode.BAD_INPUT
    if isinstance(error, click.ClickException):
        return error.exit_code
    return ExitCode.FAILED  # a QueuectlError, a store error, a bug
