"""One table from an error to the code a shell sees (queuectl.cli.exit_codes)."""

from __future__ import annotations

import click
import pytest

from queuectl.cli.exit_codes import ExitCode, exit_code_for
from queuectl.core.errors import InvalidJobSpec, JobNotFound, QueuectlError, StoreUnavailable

pytestmark = pytest.mark.no_store


@pytest.mark.parametrize(("error", "code"), [
    (JobNotFound("x"), ExitCode.FAILED),
    (StoreUnavailable("down"), ExitCode.FAILED),
    (QueuectlError("no"), ExitCode.FAILED),
    (InvalidJobSpec("command: required"), ExitCode.BAD_INPUT),
    (click.UsageError("no such option"), ExitCode.BAD_INPUT),
    (UnicodeDecodeError("utf-8", b"\xff", 0, 1, "bad"), ExitCode.BAD_INPUT),
    (KeyboardInterrupt(), ExitCode.INTERRUPTED),
    (RuntimeError("a bug"), ExitCode.FAILED),
])
def test_each_error_maps_to_one_code(error, code):
    assert exit_code_for(error) == code


def test_the_codes_are_the_documented_numbers():
    assert [int(c) for c in ExitCode] == [0, 1, 2, 130]
