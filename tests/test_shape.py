"""The machine guards the shape: ruff (lint and import order) and import-linter (the layers named in
pyproject.toml) run with the suite, so the README's one test command covers them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent  # ruff and lint-imports are installed beside the interpreter (test extra)

pytestmark = pytest.mark.no_store


def _run(*argv: str) -> subprocess.CompletedProcess:
    return subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=120)


def test_ruff_finds_nothing():
    result = _run(str(BIN / "ruff"), "check", "--no-cache", "--output-format", "concise", "queuectl", "tests")
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_import_contracts_hold():
    result = _run(str(BIN / "lint-imports"), "--no-cache")
    assert result.returncode == 0, result.stdout + result.stderr
