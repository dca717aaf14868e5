"""The machine guards the shape: ruff (lint and import order) and import-linter (the layers named in
pyproject.toml) run with the suite, so the README's one test command covers them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# Both tools come with the test extra; run through this interpreter, as a console script may be
# installed where PATH does not look (a system pip puts them in /usr/local/bin).
RUFF = (sys.executable, "-m", "ruff")
LINT_IMPORTS = (sys.executable, "-c", "from importlinter.cli import lint_imports_command; lint_imports_command()")

pytestmark = pytest.mark.no_store


def _run(*argv: str) -> subprocess.CompletedProcess:
    return subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=120)


def test_ruff_finds_nothing():
    result = _run(*RUFF, "check", "--no-cache", "--output-format", "concise", "queuectl", "tests")
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_import_contracts_hold():
    result = _run(*LINT_IMPORTS, "--no-cache")
    assert result.returncode == 0, result.stdout + result.stderr
